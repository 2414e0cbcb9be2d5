/** A recipient's stored messages: their seqs in order, and their payload bytes. */
class Queue {
  /** Ascending; a deleted seq stays in place, negated, until the array is compacted. */
  seqs: number[] = [];
  /** No live seq before this position. */
  head = 0;
  live = 0;
  /** The payload bytes of its messages, but for the unkeyed ones. */
  bytes = 0;
  /** Its messages up to this seq were added without their keys and sizes (0: none). */
  unkeyedUpTo = 0;

  /** The position of `seq`, or of the first seq above it. */
  position(seq: number): number {
    const seqs = this.seqs;
    let low = this.head;
    let high = seqs.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (Math.abs(seqs[mid]!) < seq) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  delete(seq: number): boolean {
    const seqs = this.seqs;
    const at = this.position(seq);
    if (seqs[at] !== seq) return false;
    seqs[at] = -seq;
    this.live--;
    while (this.head < seqs.length && seqs[this.head]! < 0) this.head++;
    // Compact once the dead outnumber the live: deletions cost O(1) amortized.
    if (seqs.length - this.head > 2 * this.live + 32 || this.head > 1024) {
      this.seqs = seqs.slice(this.head).filter((s) => s > 0);
      this.head = 0;
    }
    return true;
  }
}

/** The start of a `KeyTable`; it grows and shrinks by halves. */
const MIN_SLOTS = 1024;
const NONE: readonly number[] = [];

/**
 * (fingerprint -> seq) pairs in an open-addressing table with linear probing: 12 bytes a slot,
 * at most 3/4 of them used.
 */
class KeyTable {
  #fps = new Int32Array(MIN_SLOTS);
  #seqs = new Float64Array(MIN_SLOTS);
  #size = 0;

  add(fp: number, seq: number): void {
    if ((this.#size + 1) * 4 > this.#fps.length * 3) this.#resize(this.#fps.length * 2);
    this.#insert(fp, seq);
    this.#size++;
  }

  /** The seqs held under `fp`; almost always none, and then no array of its own. */
  find(fp: number): readonly number[] {
    const fps = this.#fps;
    const mask = fps.length - 1;
    let found: number[] | undefined;
    for (let i = fp & mask; fps[i] !== 0; i = (i + 1) & mask) {
      if (fps[i] === fp) (found ??= []).push(this.#seqs[i]!);
    }
    return found ?? NONE;
  }

  delete(fp: number, seq: number): void {
    const fps = this.#fps;
    const seqs = this.#seqs;
    const mask = fps.length - 1;
    let i = fp & mask;
    while (fps[i] !== fp || seqs[i] !== seq) {
      if (fps[i] === 0) return;
      i = (i + 1) & mask;
    }
    // Backward-shift deletion: later entries of the run move up, so lookups stop at a free slot.
    let hole = i;
    for (let j = (i + 1) & mask; fps[j] !== 0; j = (j + 1) & mask) {
      const home = fps[j]! & mask;
      // Entry j may fill the hole when its home slot is not in (hole, j], cyclically.
      if (hole <= j ? home <= hole || home > j : home <= hole && home > j) {
        fps[hole] = fps[j]!;
        seqs[hole] = seqs[j]!;
        hole = j;
      }
    }
    fps[hole] = 0;
    this.#size--;
    if (fps.length > MIN_SLOTS && this.#size * 8 < fps.length) this.#resize(fps.length / 2);
  }

  #insert(fp: number, seq: number): void {
    const fps = this.#fps;
    const mask = fps.length - 1;
    let i = fp & mask;
    while (fps[i] !== 0) i = (i + 1) & mask;
    fps[i] = fp;
    this.#seqs[i] = seq;
  }

  #resize(slots: number): void {
    const fps = this.#fps;
    const seqs = this.#seqs;
    this.#fps = new Int32Array(slots);
    this.#seqs = new Float64Array(slots);
    for (let i = 0; i < fps.length; i++) if (fps[i] !== 0) this.#insert(fps[i]!, seqs[i]!);
  }
}

/**
 * What a store without secondary indexes needs in memory to find its stored messages: each
 * recipient's seqs in order with their count and payload bytes, and the seqs of each
 * (sender, messageId, recipient) key as a 32-bit fingerprint, so that a duplicate check finds
 * nothing without reading the store (a match is only a candidate: the caller reads the message
 * and compares). Messages read back with their seqs only (`addUnkeyed`: a store reads its
 * recipients' seqs when it opens) get their keys and sizes per recipient when first needed
 * (`unkeyed`, `addKeys`). About 20 to 40 bytes per stored message.
 *
 * @example
 * ```ts
 * import { MessageIndex } from "./message_index.ts";
 * const index = new MessageIndex();
 * index.add(1, "bob", "alice", 7, 100);
 * index.after("bob", 0, 10); // [1]
 * index.candidates("alice", 7, "bob"); // [1]
 * index.remove(1, "bob", "alice", 7, 100);
 * index.count("bob"); // 0
 * ```
 */
export class MessageIndex {
  #queues = new Map<string, Queue>();
  #keys = new KeyTable();

  /** Adds a message whose key is known; its seq is above those of `dst`'s messages. */
  add(seq: number, dst: string, src: string, id: number, bytes: number): void {
    const queue = this.#queue(dst);
    const last = queue.seqs[queue.seqs.length - 1];
    if (last !== undefined && seq <= Math.abs(last)) {
      throw new RangeError(`Cannot index seq ${seq} of ${dst}: not above those it has`);
    }
    queue.seqs.push(seq);
    queue.live++;
    queue.bytes += bytes;
    this.#keys.add(fingerprint(src, id, dst), seq);
  }

  /** Adds messages of `dst` by their seqs alone (ascending, above those it has). */
  addUnkeyed(dst: string, seqs: readonly number[]): void {
    if (seqs.length === 0) return;
    const queue = this.#queue(dst);
    const last = queue.seqs[queue.seqs.length - 1];
    if (last !== undefined && seqs[0]! <= Math.abs(last)) {
      throw new RangeError(`Cannot index seq ${seqs[0]} of ${dst}: not above those it has`);
    }
    if (queue.seqs.length === 0) queue.seqs = seqs.slice();
    else for (const seq of seqs) queue.seqs.push(seq);
    queue.live += seqs.length;
    queue.unkeyedUpTo = seqs[seqs.length - 1]!;
  }

  /**
   * The seqs of `dst`'s messages added without their keys: `addKeys()` them before
   * `candidates()` or `bytes()`.
   */
  unkeyed(dst: string): number[] {
    const queue = this.#queues.get(dst);
    if (queue === undefined || queue.unkeyedUpTo === 0) return [];
    const found: number[] = [];
    const seqs = queue.seqs;
    for (let i = queue.head; i < seqs.length && Math.abs(seqs[i]!) <= queue.unkeyedUpTo; i++) {
      if (seqs[i]! > 0) found.push(seqs[i]!);
    }
    return found;
  }

  /** The keys and payload sizes, read from the store, of the messages `unkeyed(dst)` returned. */
  addKeys(
    dst: string,
    rows: readonly { seq: number; src: string; id: number; bytes: number }[],
  ): void {
    const queue = this.#queues.get(dst);
    if (queue === undefined || queue.unkeyedUpTo === 0) return;
    for (const row of rows) {
      this.#keys.add(fingerprint(row.src, row.id, dst), row.seq);
      queue.bytes += row.bytes;
    }
    queue.unkeyedUpTo = 0;
  }

  /** Removes a message (no-op if it is not held); its key is given as stored. */
  remove(seq: number, dst: string, src: string, id: number, bytes: number): void {
    const queue = this.#queues.get(dst);
    if (queue === undefined || !queue.delete(seq)) return;
    // An unkeyed message was not counted in `bytes` and has no key yet.
    if (seq > queue.unkeyedUpTo) {
      queue.bytes -= bytes;
      this.#keys.delete(fingerprint(src, id, dst), seq);
    }
    if (queue.live === 0) this.#queues.delete(dst);
  }

  /** Whether `dst` has the message `seq`. */
  has(dst: string, seq: number): boolean {
    const queue = this.#queues.get(dst);
    if (queue === undefined) return false;
    return queue.seqs[queue.position(seq)] === seq;
  }

  /** The recipients with messages added without their keys (`unkeyed`). */
  unkeyedRecipients(): string[] {
    const found: string[] = [];
    for (const [dst, queue] of this.#queues) if (queue.unkeyedUpTo !== 0) found.push(dst);
    return found;
  }

  /** Up to `limit` seqs of `dst` above `after`, ascending. */
  after(dst: string, after: number, limit: number): number[] {
    const queue = this.#queues.get(dst);
    if (queue === undefined) return [];
    const found: number[] = [];
    const seqs = queue.seqs;
    for (let i = queue.position(after + 1); i < seqs.length && found.length < limit; i++) {
      if (seqs[i]! > 0) found.push(seqs[i]!);
    }
    return found;
  }

  /** The seqs that may hold (src, id, dst): never missing one, rarely one too many. */
  candidates(src: string, id: number, dst: string): readonly number[] {
    if (!this.#queues.has(dst)) return NONE;
    return this.#keys.find(fingerprint(src, id, dst));
  }

  /** How many messages `dst` has. */
  count(dst: string): number {
    return this.#queues.get(dst)?.live ?? 0;
  }

  /** The payload bytes of `dst`'s messages; undefined while some are unkeyed. */
  bytes(dst: string): number | undefined {
    const queue = this.#queues.get(dst);
    if (queue === undefined) return 0;
    return queue.unkeyedUpTo === 0 ? queue.bytes : undefined;
  }

  /** How many messages each recipient has, for recipients with any. */
  counts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const [dst, queue] of this.#queues) counts.set(dst, queue.live);
    return counts;
  }

  #queue(dst: string): Queue {
    let queue = this.#queues.get(dst);
    if (queue === undefined) {
      queue = new Queue();
      this.#queues.set(dst, queue);
    }
    return queue;
  }
}

/**
 * A 32-bit hash of the key (FNV-1a over the names' UTF-16 units, mixed with the id), never 0.
 * Signed, as `KeyTable` holds it: always a small integer to V8, never a heap number made for a call
 * (offline duel against the unsigned one: 1.021, with `find` making no array when it finds none).
 */
function fingerprint(src: string, id: number, dst: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < src.length; i++) h = Math.imul(h ^ src.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ 0xff, 0x01000193);
  for (let i = 0; i < dst.length; i++) h = Math.imul(h ^ dst.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ id, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h ^= h >>> 16;
  return h || 1;
}
