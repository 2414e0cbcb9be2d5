import { cpuSeconds, selfCpuSeconds } from "./proc.ts";
import type { Meter } from "./meter.ts";
import type { BenchResult } from "./result.ts";
import type { Sender } from "./sender.ts";
import type { Target } from "./target.ts";
import { sleep, waitFor } from "./wait.ts";

/** Sending before the measured time starts. */
const WARMUP_MS = 1000;
/** After the measured time: how long answers still in flight are awaited. */
export const SETTLE_MS = 2000;

/** What `measure` drives and where it records. */
export interface MeasureOptions {
  /** Shared with `senders`: turned on for the warm-up and the measured time, then off. */
  control: { sending: boolean };
  /** Gets the measured time (`from`, `to`) and counts unanswered messages. */
  meter: Meter;
  /** Measured seconds, after the warm-up. */
  seconds: number;
  /** Gets the CPU figures of the server (when `target.pid` is known) and of this process. */
  result: BenchResult;
}

/**
 * The measured part of a workload whose connections are open: sending on, 1 s of warm-up, the
 * measured seconds, sending off; then waits at most 2 s for the answers still in flight, and
 * counts those missing as errors.
 */
export async function measure(
  target: Target,
  senders: Sender[],
  options: MeasureOptions,
): Promise<void> {
  const { control, meter, seconds, result } = options;
  control.sending = true;
  for (const s of senders) s.kick(performance.now());
  await sleep(WARMUP_MS);
  const server0 = await cpuSeconds(target.pid);
  const self0 = selfCpuSeconds();
  meter.from = performance.now();
  await sleep(seconds * 1000);
  meter.to = performance.now();
  const self1 = selfCpuSeconds();
  control.sending = false;
  const server1 = await cpuSeconds(target.pid);
  const span = (meter.to - meter.from) / 1000;
  if (server0 !== undefined && server1 !== undefined) {
    result.serverCpu = (server1 - server0) / span * 100;
  }
  result.benchCpu = (self1 - self0) / span * 100;
  await waitFor(() => senders.every((s) => s.inflight === 0 || s.closed), SETTLE_MS);
  const unanswered = senders.reduce((n, s) => n + (s.closed ? 0 : s.inflight), 0);
  if (unanswered > 0) meter.error("unanswered after 2 s", unanswered);
}
