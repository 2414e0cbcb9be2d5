/**
 * Own copies of small payloads, cut from shared slabs: a message kept until its acknowledgement
 * must not pin the read buffer it came in, and a copy of its own per message (an ArrayBuffer
 * each, with the garbage it makes) costs more than the rest of its handling.
 *
 * A slab lives while any copy cut from it does: a copy kept for long (a recipient that does not
 * acknowledge, at most the ack timeout) pins at most `SLAB_BYTES`.
 *
 * @module
 */

/** Bytes of one slab. */
export const SLAB_BYTES = 4096;
/** Payloads longer than this get an ArrayBuffer of their own. */
const MAX_SHARED = 512;

/**
 * Copies payloads into slabs.
 *
 * @example
 * ```ts
 * import { PayloadCopies } from "./payload_copies.ts";
 * const copies = new PayloadCopies();
 * const read = new Uint8Array([1, 2, 3, 4]);
 * const own = copies.copy(read.subarray(1, 3));
 * read.fill(0);
 * own; // Uint8Array [2, 3]
 * ```
 */
export class PayloadCopies {
  #slab = new Uint8Array(0);
  #used = 0;

  /** A copy of `bytes` that shares no memory with them. */
  copy(bytes: Uint8Array): Uint8Array {
    const n = bytes.length;
    if (n > MAX_SHARED) return bytes.slice();
    if (this.#used + n > this.#slab.length) {
      this.#slab = new Uint8Array(SLAB_BYTES);
      this.#used = 0;
    }
    const at = this.#used;
    this.#slab.set(bytes, at);
    this.#used = at + n;
    return this.#slab.subarray(at, at + n);
  }
}
