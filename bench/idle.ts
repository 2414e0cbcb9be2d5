import { Meter } from "./meter.ts";
import { closeAll, openAll } from "./open_all.ts";
import { vmRssKiB } from "./proc.ts";
import { Receiver } from "./receiver.ts";
import { type BenchResult, emptyResult, finishResult } from "./result.ts";
import type { Target } from "./target.ts";
import { sleep } from "./wait.ts";
import { type Workload, workloadLabel, type WorkloadRunOptions } from "./workload.ts";

/** How long the connections stay open before the server's memory is read again. */
const IDLE_HOLD_MS = 1000;
/** Idle connections read little: a small buffer keeps the load generator's memory down. */
const IDLE_READ_SIZE = 1024;

/**
 * The "idle" workload: `connections` users log in and send nothing. Measures the server's RSS
 * before and after (when `target.pid` is known and /proc readable), per connection.
 */
export async function runIdle(
  target: Target,
  workload: Extract<Workload, { kind: "idle" }>,
  options: WorkloadRunOptions,
): Promise<BenchResult> {
  const meter = new Meter();
  const connections = Array.from(
    { length: workload.connections },
    (_, i) => new Receiver(`${options.prefix}i${i}`, meter, { readSize: IDLE_READ_SIZE }),
  );
  const result = emptyResult(workloadLabel(workload));
  try {
    const before = await vmRssKiB(target.pid);
    if (!await openAll(connections, target, { meter, result })) return finishResult(result, meter);
    await sleep(IDLE_HOLD_MS);
    const after = await vmRssKiB(target.pid);
    const open = connections.filter((c) => !c.closed).length;
    if (before !== undefined && after !== undefined) {
      result.idle = {
        connections: open,
        rssBeforeKiB: before,
        rssAfterKiB: after,
        kibPerConnection: (after - before) / Math.max(1, open),
      };
    } else {
      result.note = "server memory unknown (no pid or no /proc)";
    }
  } finally {
    await closeAll(connections);
  }
  return finishResult(result, meter);
}
