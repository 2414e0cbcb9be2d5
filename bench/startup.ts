import { SqliteStore } from "../store/sqlite_store.ts";
import { type BenchResult, emptyResult, round } from "./result.ts";
import { seedStore } from "./seed.ts";
import { ServerProcess } from "./server_process.ts";
import { type Workload, workloadLabel } from "./workload.ts";

/**
 * The "startup" workload: fills a temporary data directory with `messages` stored messages (one
 * transaction), then starts `tinychat serve` on it `runs` times, one after the other, timing each
 * from spawn to its `listening` line. It always starts servers of its own.
 */
export async function runStartup(
  workload: Extract<Workload, { kind: "startup" }>,
): Promise<BenchResult> {
  const result = emptyResult(workloadLabel(workload));
  const dir = await Deno.makeTempDir({ prefix: "tinychat-bench-startup-" });
  try {
    const store = new SqliteStore(`${dir}/tinychat.db`);
    try {
      seedStore(store, { messages: workload.messages });
    } finally {
      store.close();
    }
    const times: number[] = [];
    for (let run = 0; run < workload.runs; run++) {
      const server = await ServerProcess.start({ dataDir: dir });
      times.push(server.startupMs);
      await server.stop();
      const report = await server.report();
      await server.remove();
      if (report.exitedEarly !== undefined) {
        const kind = `server exited (${report.exitedEarly})`;
        result.errorKinds[kind] = (result.errorKinds[kind] ?? 0) + 1;
        result.errors++;
      }
      if (report.warnings > 0) {
        result.serverWarnings = (result.serverWarnings ?? 0) + report.warnings;
        result.serverWarningSample ??= report.sample;
      }
    }
    result.startup = { messages: workload.messages, runs: times.length, ...startupFigures(times) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  return result;
}

/**
 * The median, the fastest and the slowest of some start times (ms), to 0.1 ms.
 *
 * @example
 * ```ts
 * import { startupFigures } from "./startup.ts";
 * startupFigures([120, 90, 100]); // { medianMs: 100, minMs: 90, maxMs: 120 }
 * ```
 */
export function startupFigures(
  times: number[],
): { medianMs: number; minMs: number; maxMs: number } {
  if (times.length === 0) throw new RangeError("Cannot summarise start times: there are none");
  const sorted = [...times].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  const median = sorted.length % 2 === 1
    ? sorted[middle]!
    : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return {
    medianMs: round(median, 1),
    minMs: round(sorted[0]!, 1),
    maxMs: round(sorted.at(-1)!, 1),
  };
}
