/**
 * `parts` joined into one new buffer (never one of `parts`); `total` is their summed length
 * when the caller already knows it.
 *
 * @example
 * ```ts
 * import { concatBytes } from "./bytes.ts";
 * concatBytes([new Uint8Array([1]), new Uint8Array([2, 3])]); // Uint8Array [1, 2, 3]
 * ```
 */
export function concatBytes(parts: readonly Uint8Array[], total?: number): Uint8Array {
  let size = total ?? 0;
  if (total === undefined) { for (const part of parts) size += part.length; }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * A 32-bit hash of `bytes`, as a signed integer: MurmurHash3's block mixing four bytes a step,
 * FNV-1a's step for the last one to three, and a short final mix. It tells payloads apart in
 * memory (a resend from a different message under the same id); not for anything stored, and not
 * against an adversary. Signed, it is always a small integer to V8: kept in a field of a message
 * awaiting its ack, an unsigned hash of 2^31 or more was a heap number allocated per message.
 *
 * @example
 * ```ts
 * import { hashBytes } from "./bytes.ts";
 * hashBytes(new Uint8Array([1, 2])) === hashBytes(new Uint8Array([1, 2])); // true
 * ```
 */
export function hashBytes(bytes: Uint8Array): number {
  const n = bytes.length;
  let h = 0x811c9dc5 ^ n;
  let i = 0;
  for (const end = n - 3; i < end; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, 0x1b873593);
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  for (; i < n; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h | 0;
}

/** Whether `a` and `b` hold the same bytes. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
