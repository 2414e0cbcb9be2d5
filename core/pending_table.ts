/**
 * The live messages awaiting their acknowledgements, by (sender number, messageId), in the order
 * they were added: the oldest deadline first, since every deadline is its add time plus the same
 * timeout.
 *
 * A `Map` keyed by `uid * 2^32 + id` cost each message a boxed number and three lookups of about
 * 50 ns each; this table is an open-addressing hash (linear probing, deletes shifting the entries
 * behind back) in typed arrays, and a list threaded through the entries themselves.
 *
 * @module
 */

/** What the table holds: its key, and the links it keeps in order. */
export interface PendingEntry<T> {
  /** The sender's number (not 0) and the messageId, each below 2^32. */
  readonly uid: number;
  readonly id: number;
  /** Neighbours in the table's order; undefined outside the table. */
  prev: T | undefined;
  next: T | undefined;
}

const FIRST_SLOTS = 16;

/**
 * @example
 * ```ts
 * import { PendingTable } from "./pending_table.ts";
 * type E = { uid: number; id: number; prev: E | undefined; next: E | undefined };
 * const table = new PendingTable<E>();
 * const e: E = { uid: 1, id: 7, prev: undefined, next: undefined };
 * table.add(e);
 * table.get(1, 7) === e; // true
 * table.delete(e);
 * table.size; // 0
 * ```
 */
export class PendingTable<T extends PendingEntry<T>> {
  #uids = new Uint32Array(FIRST_SLOTS);
  #ids = new Uint32Array(FIRST_SLOTS);
  #entries: (T | undefined)[] = new Array<T | undefined>(FIRST_SLOTS).fill(undefined);
  #size = 0;
  #first: T | undefined;
  #last: T | undefined;
  /** The oldest entry not passed yet (`pass`); those after it were added after it. */
  #fresh: T | undefined;

  /** Entries held. */
  get size(): number {
    return this.#size;
  }

  /** The entry added longest ago. */
  get first(): T | undefined {
    return this.#first;
  }

  /**
   * The oldest entry that `pass` has not moved past: the entries are passed in their order, so a
   * caller can do something once to each, as each grows old enough, without a walk.
   */
  get fresh(): T | undefined {
    return this.#fresh;
  }

  /** Moves past `fresh`: the next one added after it is fresh now. */
  pass(): void {
    this.#fresh = this.#fresh?.next;
  }

  /** The entry of (`uid`, `id`), if held. */
  get(uid: number, id: number): T | undefined {
    const ids = this.#ids;
    const mask = ids.length - 1;
    for (let slot = slotOf(uid, id, mask);; slot = (slot + 1) & mask) {
      const entry = this.#entries[slot];
      if (entry === undefined || (ids[slot] === id && this.#uids[slot] === uid)) return entry;
    }
  }

  /** Adds `entry`, last in order. Its key is one not held (`get` finds the older entry first). */
  add(entry: T): void {
    if (2 * (this.#size + 1) > this.#ids.length) this.#resize(2 * this.#ids.length);
    this.#place(entry);
    this.#size++;
    this.#fresh ??= entry;
    entry.prev = this.#last;
    entry.next = undefined;
    if (this.#last === undefined) this.#first = entry;
    else this.#last.next = entry;
    this.#last = entry;
  }

  /** Removes `entry`; nothing if it is not held. */
  delete(entry: T): void {
    const ids = this.#ids;
    const entries = this.#entries;
    const mask = ids.length - 1;
    let hole = slotOf(entry.uid, entry.id, mask);
    while (entries[hole] !== entry) {
      if (entries[hole] === undefined) return;
      hole = (hole + 1) & mask;
    }
    // Entries after the hole that probed past it move back into it, so that no probe stops short.
    for (let slot = (hole + 1) & mask;; slot = (slot + 1) & mask) {
      const moved = entries[slot];
      if (moved === undefined) break;
      const home = slotOf(this.#uids[slot]!, ids[slot]!, mask);
      if (((slot - home) & mask) >= ((slot - hole) & mask)) {
        entries[hole] = moved;
        ids[hole] = ids[slot]!;
        this.#uids[hole] = this.#uids[slot]!;
        hole = slot;
      }
    }
    entries[hole] = undefined;
    this.#size--;
    if (entry === this.#fresh) this.#fresh = entry.next;
    if (entry.prev === undefined) this.#first = entry.next;
    else entry.prev.next = entry.next;
    if (entry.next === undefined) this.#last = entry.prev;
    else entry.next.prev = entry.prev;
    entry.prev = undefined;
    entry.next = undefined;
    // A burst grew the table: do not keep its slots for good.
    if (ids.length > 1024 && 8 * this.#size < ids.length) this.#resize(ids.length / 2);
  }

  /** The entries in order, as an array: the caller may delete while it goes through them. */
  toArray(): T[] {
    const out: T[] = [];
    for (let e = this.#first; e !== undefined; e = e.next) out.push(e);
    return out;
  }

  #place(entry: T): void {
    const mask = this.#ids.length - 1;
    let slot = slotOf(entry.uid, entry.id, mask);
    while (this.#entries[slot] !== undefined) slot = (slot + 1) & mask;
    this.#entries[slot] = entry;
    this.#ids[slot] = entry.id;
    this.#uids[slot] = entry.uid;
  }

  #resize(slots: number): void {
    const old = this.#entries;
    this.#uids = new Uint32Array(slots);
    this.#ids = new Uint32Array(slots);
    this.#entries = new Array<T | undefined>(slots).fill(undefined);
    for (const entry of old) if (entry !== undefined) this.#place(entry);
  }
}

/**
 * The home slot of (`uid`, `id`): each sender's ids from a point of its own, sequential ids
 * (what clients send) on neighbouring slots, their higher bits folded in so that ids a power of 2
 * apart still spread.
 */
function slotOf(uid: number, id: number, mask: number): number {
  return ((id ^ (id >>> 11) ^ (id >>> 22)) + (Math.imul(uid, 0x9e3779b1) >>> 12)) & mask;
}
