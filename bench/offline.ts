import { Code } from "../protocol/mod.ts";
import { measure, SETTLE_MS } from "./measure.ts";
import { Meter } from "./meter.ts";
import { OfflineState } from "./offline_state.ts";
import { closeAll, openAll } from "./open_all.ts";
import { Receiver } from "./receiver.ts";
import { type BenchResult, emptyResult, finishResult, round } from "./result.ts";
import { Sender } from "./sender.ts";
import type { Target } from "./target.ts";
import { waitFor } from "./wait.ts";
import { type Workload, workloadLabel, type WorkloadRunOptions } from "./workload.ts";

/** How long the server has to notice that the receivers left. */
const LEAVE_MS = 3000;
/** How long the drain may take. */
const DRAIN_LIMIT_MS = 30_000;

/**
 * The "offline" workload: `receivers` users log in once and leave; `senders` keep `window`
 * messages in flight to them, round robin, each counted when its "300" (stored) arrives. Then
 * receiver 0 logs in again and drains the messages stored for it (at most `drainCap`), each
 * checked against what was answered "300" and acknowledged, which owes its sender a late "200".
 */
export async function runOffline(
  target: Target,
  workload: Extract<Workload, { kind: "offline" }>,
  options: WorkloadRunOptions,
): Promise<BenchResult> {
  const { seconds, prefix } = options;
  const meter = new Meter();
  const control = { sending: false };
  const state = new OfflineState(prefix, workload.drainCap);
  const names = Array.from({ length: workload.receivers }, (_, i) => `${prefix}or${i}`);
  const receivers = names.map((name) => new Receiver(name, meter));
  const senders = Array.from(
    { length: workload.senders },
    (_, i) =>
      new Sender(`${prefix}os${i}`, meter, {
        targets: names,
        window: workload.window,
        expect: Code.STORED,
        control,
        offline: state,
        index: i,
      }),
  );
  const result = emptyResult(workloadLabel(workload));
  let drainer: Receiver | undefined;
  try {
    // The receivers become known users, then leave; the server closes its end once it saw them go.
    if (!await openAll(receivers, target, { meter, result })) return finishResult(result, meter);
    await Promise.all(receivers.map((r) => r.leave(LEAVE_MS)));
    if (!await openAll(senders, target, { meter, result })) return finishResult(result, meter);
    await measure(target, senders, { control, meter, seconds, result });
    if (workload.drainCap > 0 && state.stored0 > 0) {
      state.expected = state.stored0;
      drainer = new Receiver(names[0]!, meter, { offline: state });
      const hello = performance.now();
      if (await openAll([drainer], target, { meter, result })) {
        await waitFor(() => state.drained >= state.expected || drainer!.closed, DRAIN_LIMIT_MS);
      }
      const end = state.drained >= state.expected ? state.drainedAt : performance.now();
      if (state.drained < state.expected) {
        meter.error("not drained", state.expected - state.drained);
      }
      // Each acknowledged stored message owes its (online) sender a late "200" at once.
      await waitFor(() => state.receipts >= state.drained + state.extra, SETTLE_MS);
      const missing = state.drained + state.extra - state.receipts;
      if (missing > 0) meter.error("late receipts missing after 2 s", missing);
      result.drain = {
        expected: state.expected,
        drained: state.drained,
        seconds: round((end - hello) / 1000, 3),
        extra: state.extra,
        receipts: state.receipts,
      };
    }
  } finally {
    await closeAll([...senders, ...receivers, ...(drainer === undefined ? [] : [drainer])]);
  }
  return finishResult(result, meter);
}
