/**
 * The loads `tinychat bench` can put on a server, and their labels.
 *
 * @module
 */

/** Offline workload: the users who log in once and leave, to whom the senders write. */
export const OFFLINE_RECEIVERS = 10;

/** Offline workload: the most messages sent to the user who logs in again and drains. */
export const DRAIN_CAP = 10_000;

/** Startup workload: the messages stored in the data directory the server starts on. */
export const STARTUP_MESSAGES = 100_000;

/** Startup workload: the starts timed, of which the median counts. */
export const STARTUP_RUNS = 5;

/** One load to put on the server. */
export type Workload =
  | {
    /** Sender/receiver pairs; every receiver acknowledges every message with "200". */
    kind: "live";
    pairs: number;
    window: number;
  }
  | {
    /** Senders to users who logged in once and left, then one login that drains. */
    kind: "offline";
    senders: number;
    window: number;
    receivers: number;
    /** The most messages sent to the user who drains. */
    drainCap: number;
  }
  | {
    /** Logged-in connections that send nothing. */
    kind: "idle";
    connections: number;
  }
  | {
    /** `tinychat serve` started `runs` times on a data directory of `messages` stored ones. */
    kind: "startup";
    messages: number;
    runs: number;
  };

/** How one workload is run. */
export interface WorkloadRunOptions {
  /** Measured seconds (after a 1-second warm-up); not used by "idle". */
  seconds: number;
  /** Starts the names of the workload's users: two letters no other workload on the server uses. */
  prefix: string;
}

/**
 * The name of `workload` in tables and progress lines: "10x16", "offline 10x16", "idle 2000".
 *
 * @example
 * ```ts
 * import { workloadLabel } from "./workload.ts";
 * workloadLabel({ kind: "live", pairs: 10, window: 16 }); // "10x16"
 * ```
 */
export function workloadLabel(workload: Workload): string {
  switch (workload.kind) {
    case "live":
      return `${workload.pairs}x${workload.window}`;
    case "offline":
      return `offline ${workload.senders}x${workload.window}`;
    case "idle":
      return `idle ${workload.connections}`;
    case "startup":
      return `startup ${workload.messages}`;
  }
}
