import { Histogram } from "./histogram.ts";

/**
 * What the connections of one workload observed: answers within the measured time, their round
 * trips, and errors by kind.
 *
 * @example
 * ```ts
 * import { Meter } from "./meter.ts";
 * const meter = new Meter();
 * meter.from = 1000;
 * meter.to = 2000;
 * meter.complete(1500, 1499.5); // counted: answered 0.5 ms after it was sent
 * meter.complete(2500, 2400); // not counted: after the measured time
 * meter.error("code 404");
 * ```
 */
export class Meter {
  /** Start of the measured time, in performance.now() ms; answers outside it are not counted. */
  from = Infinity;
  /** End of the measured time, in performance.now() ms; Infinity until it ended. */
  to = Infinity;
  /** Answers counted. */
  done = 0;
  /** Round trips of the answers counted, in ms. */
  readonly latency: Histogram = new Histogram();
  /** Errors by kind. */
  readonly errors: Map<string, number> = new Map();

  /** An answer arrived at `now` for a message sent at `sentAt` (both performance.now() ms). */
  complete(now: number, sentAt: number): void {
    if (now < this.from || now > this.to) return;
    this.done++;
    this.latency.add(now - sentAt);
  }

  /** Counts `n` errors of `kind`. */
  error(kind: string, n = 1): void {
    this.errors.set(kind, (this.errors.get(kind) ?? 0) + n);
  }
}
