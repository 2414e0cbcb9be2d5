/**
 * A count per name (stored messages per recipient, receipts owed per sender) and their sum, so
 * that the hot path asks a name's count only when some name has one.
 *
 * @module
 */

/**
 * @example
 * ```ts
 * import { Tally } from "./tally.ts";
 * const owed = new Tally(new Map([["alice", 2]]));
 * owed.add("bob", 1);
 * owed.add("alice", -5);
 * [owed.get("alice"), owed.total]; // [0, 1]
 * ```
 */
export class Tally {
  #counts: Map<string, number>;
  #total = 0;

  /** Starts from `counts` (taken over, not copied). */
  constructor(counts: Map<string, number> = new Map()) {
    this.#counts = counts;
    for (const n of counts.values()) this.#total += n;
  }

  /** The sum of every name's count. */
  get total(): number {
    return this.#total;
  }

  /** `name`'s count (0 when it has none). */
  get(name: string): number {
    return this.#total === 0 ? 0 : this.#counts.get(name) ?? 0;
  }

  /** Adds `delta` to `name`'s count, which never goes below 0. */
  add(name: string, delta: number): void {
    const was = this.#counts.get(name) ?? 0;
    const now = Math.max(0, was + delta);
    this.#counts.set(name, now);
    this.#total += now - was;
  }

  /** Forgets `name`'s count. */
  delete(name: string): void {
    this.#total -= this.#counts.get(name) ?? 0;
    this.#counts.delete(name);
  }
}
