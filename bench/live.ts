import { Code } from "../protocol/mod.ts";
import { measure } from "./measure.ts";
import { Meter } from "./meter.ts";
import { closeAll, openAll } from "./open_all.ts";
import { Receiver } from "./receiver.ts";
import { type BenchResult, emptyResult, finishResult } from "./result.ts";
import { Sender } from "./sender.ts";
import type { Target } from "./target.ts";
import { type Workload, workloadLabel, type WorkloadRunOptions } from "./workload.ts";

/**
 * The "live" workload: `pairs` senders, each keeping `window` messages in flight to its own
 * receiver, which acknowledges each with "200". Counts the "200"s back at the senders.
 */
export async function runLive(
  target: Target,
  workload: Extract<Workload, { kind: "live" }>,
  options: WorkloadRunOptions,
): Promise<BenchResult> {
  const { seconds, prefix } = options;
  const meter = new Meter();
  const control = { sending: false };
  const receivers: Receiver[] = [];
  const senders: Sender[] = [];
  for (let i = 0; i < workload.pairs; i++) {
    receivers.push(new Receiver(`${prefix}r${i}`, meter));
    senders.push(
      new Sender(`${prefix}s${i}`, meter, {
        targets: [`${prefix}r${i}`],
        window: workload.window,
        expect: Code.DELIVERED,
        control,
      }),
    );
  }
  const result = emptyResult(workloadLabel(workload));
  try {
    // Receivers first: a message to a name that never logged in is answered "404".
    if (!await openAll(receivers, target, { meter, result })) return finishResult(result, meter);
    if (!await openAll(senders, target, { meter, result })) return finishResult(result, meter);
    await measure(target, senders, { control, meter, seconds, result });
  } finally {
    await closeAll([...senders, ...receivers]);
  }
  return finishResult(result, meter);
}
