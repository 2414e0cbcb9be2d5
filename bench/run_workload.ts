import { runIdle } from "./idle.ts";
import { runLive } from "./live.ts";
import { runOffline } from "./offline.ts";
import type { BenchResult } from "./result.ts";
import { ServerProcess } from "./server_process.ts";
import { runStartup } from "./startup.ts";
import type { Target } from "./target.ts";
import type { Workload, WorkloadRunOptions } from "./workload.ts";

/** Where and how long to run a workload. */
export interface RunWorkloadOptions {
  /** Address of a running server; used with `port`. */
  hostname: string;
  /** Port of a running server; `undefined`: start a fresh server for the workload. */
  port: number | undefined;
  /** Pid of the running server, for CPU and memory figures (Linux /proc). */
  serverPid: number | undefined;
  /** Measured seconds (after a 1-second warm-up). */
  seconds: number;
  /** Starts the names of the workload's users: two letters no other workload on the server uses. */
  prefix: string;
}

/**
 * Runs one workload, on the server at `options.port`, or on a fresh server (`tinychat serve
 * --port 0` with a temporary data directory, as a child process) that is stopped and removed
 * afterwards; its early exit counts as an error and its warn/error log lines are reported. The
 * "startup" workload always starts servers of its own, on a data directory it fills.
 *
 * @example
 * ```ts ignore
 * import { runWorkload } from "./run_workload.ts";
 * const result = await runWorkload({ kind: "live", pairs: 10, window: 16 }, {
 *   hostname: "127.0.0.1",
 *   port: undefined,
 *   serverPid: undefined,
 *   seconds: 5,
 *   prefix: "ab",
 * });
 * result.rate; // messages answered "200" per second
 * ```
 */
export async function runWorkload(
  workload: Workload,
  options: RunWorkloadOptions,
): Promise<BenchResult> {
  if (workload.kind === "startup") return await runStartup(workload);
  const run = { seconds: options.seconds, prefix: options.prefix };
  if (options.port !== undefined) {
    const target = { hostname: options.hostname, port: options.port, pid: options.serverPid };
    return await runOn(target, workload, run);
  }
  const server = await ServerProcess.start();
  let result: BenchResult;
  try {
    result = await runOn(server, workload, run);
  } finally {
    await server.stop();
  }
  const report = await server.report();
  if (report.exitedEarly !== undefined) {
    result.errorKinds[`server exited (${report.exitedEarly})`] = 1;
    result.errors++;
  }
  if (report.warnings > 0) {
    result.serverWarnings = report.warnings;
    result.serverWarningSample = report.sample;
  }
  await server.remove();
  return result;
}

function runOn(
  target: Target,
  workload: Exclude<Workload, { kind: "startup" }>,
  options: WorkloadRunOptions,
): Promise<BenchResult> {
  switch (workload.kind) {
    case "live":
      return runLive(target, workload, options);
    case "offline":
      return runOffline(target, workload, options);
    case "idle":
      return runIdle(target, workload, options);
  }
}
