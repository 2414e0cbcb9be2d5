/** Names a summary line lists; the others are counted in its `more` field. */
const MAX_NAMES = 8;

/** The fields of a summary line: `messages=5 users=2 dst=bob:3,carol:2`. */
export interface SummaryFields {
  [field: string]: number | string;
  /** How many events the turn had. */
  messages: number;
  /** How many distinct names they concern. */
  users: number;
  /** `name:count` of the first names, comma-separated. */
  dst: string;
}

/**
 * Counts one kind of per-message event (stored, delivered from the store) by recipient during a
 * turn, so that the turn logs one line instead of one per message.
 *
 * @example
 * ```ts
 * import { TurnSummary } from "./turn_summary.ts";
 * const stored = new TurnSummary();
 * stored.add("bob");
 * stored.add("bob");
 * stored.add("carol");
 * stored.take(); // { messages: 3, users: 2, dst: "bob:2,carol:1" }
 * stored.take(); // undefined
 * ```
 */
export class TurnSummary {
  #counts = new Map<string, number>();
  #total = 0;

  /** Counts one event concerning `name`. */
  add(name: string): void {
    this.#counts.set(name, (this.#counts.get(name) ?? 0) + 1);
    this.#total++;
  }

  /** The summary of the events since the last `take()`, or undefined if there were none. */
  take(): SummaryFields | undefined {
    if (this.#total === 0) return undefined;
    const names: string[] = [];
    for (const [name, count] of this.#counts) {
      if (names.length === MAX_NAMES) break;
      names.push(`${name}:${count}`);
    }
    const fields: SummaryFields = {
      messages: this.#total,
      users: this.#counts.size,
      dst: names.join(","),
    };
    if (this.#counts.size > MAX_NAMES) fields.more = this.#counts.size - MAX_NAMES;
    this.#counts.clear();
    this.#total = 0;
    return fields;
  }
}
