/**
 * The load generator of `tinychat bench`: workloads run against a tinychat server (started as a
 * child process, or already running), with their figures.
 *
 * @module
 */
export { namePrefix } from "./name_prefix.ts";
export { type BenchResult } from "./result.ts";
export { runWorkload, type RunWorkloadOptions } from "./run_workload.ts";
export {
  DRAIN_CAP,
  OFFLINE_RECEIVERS,
  STARTUP_MESSAGES,
  STARTUP_RUNS,
  type Workload,
  workloadLabel,
} from "./workload.ts";
