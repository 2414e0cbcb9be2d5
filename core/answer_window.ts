/** What the server answered about one message, kept to answer a resend the same way. */
export interface Answer {
  /** The message's recipient ("" once forgotten: it matches no resend). */
  dst: string;
  /** A hash of its payload, or `ANY_PAYLOAD`. */
  hash: number;
  /** The code given ("200", "300", …; "" while its answer is on its way). */
  code: string;
}

/**
 * An `Answer.hash` that matches any payload (a receipt's message is no longer stored): outside the
 * 32-bit signed range of `hashBytes`, so no payload's hash is it.
 */
export const ANY_PAYLOAD = 2 ** 32;

/** Table slots a generation starts with; it doubles while it is more than half full. */
const FIRST_SLOTS = 16;

/**
 * One generation of remembered answers: an open-addressing table (linear probing, no deletes) in
 * typed arrays and two arrays of strings, so that remembering an answer allocates nothing once
 * the table has grown to the sender's pace. Emptied by moving its stamp on.
 */
class Generation {
  ids = new Uint32Array(FIRST_SLOTS);
  /** A slot is in use when its stamp is the generation's. */
  stamps = new Uint32Array(FIRST_SLOTS);
  hashes = new Float64Array(FIRST_SLOTS);
  dsts: string[] = new Array<string>(FIRST_SLOTS).fill("");
  codes: string[] = new Array<string>(FIRST_SLOTS).fill("");
  stamp = 1;
  count = 0;

  /** The slot of `id`, or -1. */
  find(id: number): number {
    const mask = this.ids.length - 1;
    for (let slot = this.#first(id);; slot = (slot + 1) & mask) {
      if (this.stamps[slot] !== this.stamp) return -1;
      if (this.ids[slot] === id) return slot;
    }
  }

  put(id: number, dst: string, hash: number, code: string): void {
    if (2 * (this.count + 1) > this.ids.length) this.#grow();
    const mask = this.ids.length - 1;
    let slot = this.#first(id);
    while (this.stamps[slot] === this.stamp && this.ids[slot] !== id) slot = (slot + 1) & mask;
    if (this.stamps[slot] !== this.stamp) {
      this.stamps[slot] = this.stamp;
      this.ids[slot] = id;
      this.count++;
    }
    this.hashes[slot] = hash;
    this.dsts[slot] = dst;
    this.codes[slot] = code;
  }

  clear(): void {
    this.count = 0;
    if (++this.stamp > 0xffffffff) {
      this.stamp = 1;
      this.stamps.fill(0);
    }
  }

  /**
   * The id's low bits, its higher ones folded in: sequential ids, what clients send, take
   * neighbouring slots (a message and its ack touch the same few cache lines, where a hash that
   * spread them made a cache miss of every lookup in a table of 10 senders' windows, 1.3 MB), and
   * ids a power of 2 apart still spread over the table.
   */
  #first(id: number): number {
    return (id ^ (id >>> 11) ^ (id >>> 22)) & (this.ids.length - 1);
  }

  #grow(): void {
    const { ids, stamps, hashes, dsts, codes, stamp } = this;
    const slots = 2 * this.ids.length;
    this.ids = new Uint32Array(slots);
    this.stamps = new Uint32Array(slots);
    this.hashes = new Float64Array(slots);
    this.dsts = new Array<string>(slots).fill("");
    this.codes = new Array<string>(slots).fill("");
    this.stamp = 1;
    this.count = 0;
    for (let slot = 0; slot < ids.length; slot++) {
      if (stamps[slot] === stamp) this.put(ids[slot]!, dsts[slot]!, hashes[slot]!, codes[slot]!);
    }
  }
}

/**
 * The answers recently given to one sender, by messageId: at least the last `size`, at most twice
 * that. Two generations, so that forgetting the old half costs nothing per message; each is a
 * table of numbers and interned strings, so that remembering costs no object (a window of
 * objects kept every answer alive for tens of milliseconds: old enough to be promoted, a third
 * of the young-generation garbage collector's work at full load).
 */
export class AnswerWindow {
  #size: number;
  #current = new Generation();
  #previous = new Generation();
  /** The generation `#locate` found an id in. */
  #found = this.#current;

  constructor(size: number) {
    this.#size = size;
  }

  /** The answer given about `id`, if still remembered (a copy: change it with `update`). */
  get(id: number): Answer | undefined {
    const slot = this.#locate(id);
    if (slot < 0) return undefined;
    const table = this.#found;
    return { dst: table.dsts[slot]!, hash: table.hashes[slot]!, code: table.codes[slot]! };
  }

  /** Remembers the answer about `id` (replacing any remembered before). */
  set(id: number, dst: string, hash: number, code: string): void {
    const current = this.#current;
    current.put(id, dst, hash, code);
    if (current.count >= this.#size) {
      this.#previous.clear();
      this.#current = this.#previous;
      this.#previous = current;
    }
  }

  /** Changes the code of the answer remembered about `id`, if it is about a message to `dst`. */
  update(id: number, dst: string, code: string): void {
    const slot = this.#locate(id);
    if (slot >= 0 && this.#found.dsts[slot] === dst) this.#found.codes[slot] = code;
  }

  /** Forgets the answer about `id`, if it is about a message to `dst`: a resend is new. */
  forget(id: number, dst: string): void {
    const slot = this.#locate(id);
    if (slot >= 0 && this.#found.dsts[slot] === dst) this.#found.dsts[slot] = "";
  }

  /** The slot of `id` in `#found` (the newer generation that has it), or -1. */
  #locate(id: number): number {
    this.#found = this.#current;
    const slot = this.#current.find(id);
    if (slot >= 0) return slot;
    this.#found = this.#previous;
    return this.#previous.find(id);
  }
}
