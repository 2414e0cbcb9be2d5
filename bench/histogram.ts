/**
 * A latency histogram with percentiles, cheap enough to record every message of a run.
 *
 * @module
 */

/** Buckets: exact microseconds below 256 µs, then 128 per power of two (error under 1%). */
const EXACT = 256;
const PER_OCTAVE = 128;
const OCTAVES = 24;

/**
 * Round-trip times in ms, kept as microsecond buckets: quantiles within 1% of the true value,
 * and never above the largest sample.
 *
 * @example
 * ```ts
 * import { Histogram } from "./histogram.ts";
 * const latency = new Histogram();
 * for (const ms of [0.1, 0.2, 0.3, 5]) latency.add(ms);
 * latency.quantile(0.5); // 0.2
 * latency.quantile(0.99); // 5
 * ```
 */
export class Histogram {
  #counts = new Float64Array(EXACT + OCTAVES * PER_OCTAVE);
  /** Samples added. */
  count = 0;
  #max = 0;

  /** Adds one sample of `ms` milliseconds (negative counts as 0). */
  add(ms: number): void {
    const us = ms <= 0 ? 0 : Math.min(Math.round(ms * 1000), 0x7fffffff);
    const i = bucket(us);
    this.#counts[i] = this.#counts[i]! + 1;
    this.count++;
    if (us > this.#max) this.#max = us;
  }

  /** The `q` quantile (0 to 1), in ms; 0 when empty. */
  quantile(q: number): number {
    const target = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < this.#counts.length; i++) {
      seen += this.#counts[i]!;
      if (seen >= target) return Math.min(bucketValue(i), this.#max) / 1000;
    }
    return this.#max / 1000;
  }
}

function bucket(us: number): number {
  if (us < EXACT) return us;
  const bits = 31 - Math.clz32(us);
  return EXACT + (bits - 8) * PER_OCTAVE + ((us >>> (bits - 7)) - PER_OCTAVE);
}

/** The middle of bucket `i`, in µs. */
function bucketValue(i: number): number {
  if (i < EXACT) return i;
  const shift = ((i - EXACT) >> 7) + 1;
  const top = ((i - EXACT) & (PER_OCTAVE - 1)) + PER_OCTAVE;
  return top * 2 ** shift + 2 ** (shift - 1);
}
