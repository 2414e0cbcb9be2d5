/**
 * Small byte buffers cut from shared slabs. An `ArrayBuffer` of its own costs about 0.35 µs in
 * Deno (every backing store is allocated outside V8's heap), more than the rest of a message's
 * handling at some steps; a view into a slab costs a tenth of that.
 *
 * A slab lives while any buffer cut from it does: a buffer kept for long (a payload kept until
 * its acknowledgement, at most the ack timeout) pins at most one slab. A slab is never written
 * twice: a buffer is zero-filled when cut, and its bytes are its holder's alone.
 *
 * @module
 */

/** Bytes of one slab, by default. */
export const SLAB_BYTES = 4096;

/**
 * Cuts buffers from slabs.
 *
 * @example
 * ```ts
 * import { Slabs } from "./slabs.ts";
 * const slabs = new Slabs();
 * const read = new Uint8Array([1, 2, 3, 4]);
 * const own = slabs.copy(read.subarray(1, 3));
 * read.fill(0);
 * own; // Uint8Array [2, 3]
 * ```
 */
export class Slabs {
  #slab = new Uint8Array(0);
  #used = 0;
  #slabBytes: number;
  #maxShared: number;

  /** Slabs of `slabBytes`; a buffer longer than `maxShared` gets an `ArrayBuffer` of its own. */
  constructor(slabBytes = SLAB_BYTES, maxShared = slabBytes / 8) {
    if (!(maxShared >= 0 && maxShared <= slabBytes)) {
      throw new RangeError(`Cannot cut buffers of ${maxShared} bytes from slabs of ${slabBytes}`);
    }
    this.#slabBytes = slabBytes;
    this.#maxShared = maxShared;
  }

  /** `n` zero bytes that share no memory with any other buffer cut here. */
  alloc(n: number): Uint8Array {
    if (n > this.#maxShared) return new Uint8Array(n);
    if (this.#used + n > this.#slab.length) {
      this.#slab = new Uint8Array(this.#slabBytes);
      this.#used = 0;
    }
    const at = this.#used;
    this.#used = at + n;
    return this.#slab.subarray(at, at + n);
  }

  /** A copy of `bytes` that shares no memory with them. */
  copy(bytes: Uint8Array): Uint8Array {
    const out = this.alloc(bytes.length);
    out.set(bytes);
    return out;
  }
}
