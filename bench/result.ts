import type { Meter } from "./meter.ts";

/** The figures of one workload. */
export interface BenchResult {
  /** "10x16", "offline 10x16", "idle 2000". */
  workload: string;
  /** Messages answered per second within the measured time. */
  rate?: number;
  /** Messages answered within the measured time. */
  messages?: number;
  /** Measured seconds. */
  seconds?: number;
  /** Round trip to the answer, median, in ms. */
  p50Ms?: number;
  /** Round trip to the answer, 99th percentile, in ms. */
  p99Ms?: number;
  /** Errors seen by the load generator (the sum of `errorKinds`). */
  errors: number;
  /** Errors by kind, e.g. `{ "code 300": 2, "closed by server": 1 }`. */
  errorKinds: Record<string, number>;
  /** Server CPU over the measured time, percent of one core (when its pid is known). */
  serverCpu?: number;
  /** The load generator's own CPU over the measured time, percent of one core. */
  benchCpu?: number;
  /** Offline workload: the login drain. */
  drain?: {
    /** Messages to the draining user answered "300" (at most the cap). */
    expected: number;
    /** Of those, handed over as type 2 (and acknowledged). */
    drained: number;
    /** From its HELLO to the last expected message, in seconds. */
    seconds: number;
    /** Type-2 frames for messages whose "300" had not arrived yet. */
    extra: number;
    /** Late "200" receipts seen by the senders. */
    receipts: number;
  };
  /** Idle workload: server memory. */
  idle?: {
    connections: number;
    rssBeforeKiB: number;
    rssAfterKiB: number;
    kibPerConnection: number;
  };
  /** Startup workload: from spawning `tinychat serve` to its `listening` line. */
  startup?: {
    /** Messages stored in the data directory. */
    messages: number;
    /** Starts timed. */
    runs: number;
    /** The median, the fastest and the slowest, in ms. */
    medianMs: number;
    minMs: number;
    maxMs: number;
  };
  /** Lines the server logged at warn or error level (for a server started by the bench). */
  serverWarnings?: number;
  /** The first of those lines. */
  serverWarningSample?: string[];
  /** Anything else worth knowing (e.g. why a workload stopped early). */
  note?: string;
}

/** A result with no figures and no errors yet. */
export function emptyResult(workload: string): BenchResult {
  return { workload, errors: 0, errorKinds: {} };
}

/**
 * Completes `result` from `meter`: rate, messages and percentiles (when the measured time ended),
 * CPU figures rounded to whole percents, and the meter's errors added to the result's.
 *
 * @example
 * ```ts
 * import { emptyResult, finishResult } from "./result.ts";
 * import { Meter } from "./meter.ts";
 * const meter = new Meter();
 * meter.error("code 404", 2);
 * finishResult(emptyResult("10x1"), meter).errors; // 2
 * ```
 */
export function finishResult(result: BenchResult, meter: Meter): BenchResult {
  if (meter.to !== Infinity) {
    const span = (meter.to - meter.from) / 1000;
    result.seconds = round(span, 3);
    result.messages = meter.done;
    result.rate = Math.round(meter.done / span);
    if (meter.latency.count > 0) {
      result.p50Ms = round(meter.latency.quantile(0.5), 3);
      result.p99Ms = round(meter.latency.quantile(0.99), 3);
    }
  }
  if (result.serverCpu !== undefined) result.serverCpu = Math.round(result.serverCpu);
  if (result.benchCpu !== undefined) result.benchCpu = Math.round(result.benchCpu);
  for (const [kind, n] of meter.errors) {
    result.errorKinds[kind] = (result.errorKinds[kind] ?? 0) + n;
    result.errors += n;
  }
  return result;
}

/** `n` rounded to `digits` decimal places. */
export function round(n: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(n * scale) / scale;
}
