// deno-lint-ignore-file no-console -- the CLI is where output belongs
/**
 * `tinychat bench`: its flags, its help text, and its table. The load generator is in `bench/`.
 *
 * @module
 */
import {
  type BenchResult,
  DRAIN_CAP,
  namePrefix,
  OFFLINE_RECEIVERS,
  runWorkload,
  STARTUP_MESSAGES,
  STARTUP_RUNS,
  type Workload,
  workloadLabel,
} from "../bench/mod.ts";
import { parseFlags, parseInteger } from "./flags.ts";
import { UsageError } from "./usage_error.ts";

export type { BenchResult, Workload } from "../bench/mod.ts";

/** Help text of `tinychat bench`. */
export const BENCH_HELP = `tinychat bench: measure a tinychat server under load.

Starts a fresh server for each workload (serve --port 0 --data TEMPDIR, as a child process), or
loads a running one given --port. Prints one table row per workload. Figures are indicative: the
load generator shares the machine with the server.

Examples:
  tinychat bench
  tinychat bench --workload 10x16,100x1 --seconds 10
  tinychat bench --pairs 50 --window 4
  tinychat bench --port 9000 --server-pid 1234 --workload idle --connections 10000
  tinychat bench --json > bench.json

USAGE:
  tinychat bench [OPTIONS]

WORKLOADS:
  PxW       P sender/receiver pairs, W unacknowledged messages per sender, e.g. 10x16
  live      --pairs x --window
  offline   --pairs senders x --window to 10 users who logged in once and left (a message counts
            when its "300" arrives); then one of them logs in and drains its stored messages
            (at most 10,000), acking each
  idle      --connections logged-in idle connections: server memory per connection (the server
            and the bench each need more open files than that: ulimit -n)
  startup   'tinychat serve' started 5 times on a data directory of 100,000 stored messages: the
            time from spawn to its listening line (always servers of its own; not with --port)

OPTIONS:
  --host HOST         address of the server to load (with --port)   (default 127.0.0.1)
  --port PORT         load the server at this port instead of starting one
  --server-pid PID    with --port: the server's pid, for its CPU and memory figures
  --workload LIST     workloads, repeatable or comma-separated (default 10x16,10x1,100x1,
                      offline,idle,startup; with --port: without startup; with --pairs or
                      --window: live)
  --pairs P           pairs of 'live', senders of 'offline'          (default 10)
  --window W          unacknowledged messages per sender             (default 16)
  --seconds T         measured seconds per workload, after 1 s of warm-up  (default 5)
  --connections N     connections of 'idle'                          (default 10000)
  --json              print the results as JSON instead of a table
  -h, --help          show this help

msgs/s: messages answered "200" (offline: "300") at their sender within the measured seconds,
100-byte payloads. p50/p99: the sender's round trip to that answer. Exits 1 if any workload saw
an error.`;

/** What `tinychat bench` was asked to do. */
export interface BenchOptions {
  /** Print the help instead. */
  help: boolean;
  /** Address of a running server; used with `port`. Default 127.0.0.1. */
  hostname: string;
  /** Port of a running server; `undefined`: start a fresh server for each workload. */
  port: number | undefined;
  /** Pid of the running server, for CPU and memory figures (Linux /proc). */
  serverPid: number | undefined;
  /** Workloads, run one after the other. */
  workloads: Workload[];
  /** Measured seconds per workload (after a 1-second warm-up). Default 5. */
  seconds: number;
  /** JSON on stdout instead of a table. */
  json: boolean;
}

const DEFAULT_WORKLOADS = "10x16,10x1,100x1,offline,idle,startup";
/** What `DEFAULT_WORKLOADS` can run on a server the bench did not start. */
const DEFAULT_WORKLOADS_ON_PORT = "10x16,10x1,100x1,offline,idle";

/**
 * Parses the arguments of `tinychat bench`; throws `UsageError`.
 *
 * @example
 * ```ts
 * import { parseBenchArgs } from "./bench.ts";
 * parseBenchArgs(["--workload", "10x1,offline", "--seconds", "2"]).workloads.length; // 2
 * ```
 */
export function parseBenchArgs(args: string[]): BenchOptions {
  const { values, positionals } = parseFlags("bench", args, {
    host: { type: "string" },
    port: { type: "string" },
    "server-pid": { type: "string" },
    workload: { type: "string", multiple: true },
    pairs: { type: "string" },
    window: { type: "string" },
    seconds: { type: "string", default: "5" },
    connections: { type: "string", default: "10000" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  });
  if (positionals.length > 0) {
    throw new UsageError(`bench: unexpected argument "${positionals[0]}"`);
  }
  if (values.host !== undefined && values.port === undefined) {
    throw new UsageError("--host: needs --port (without them, the bench starts its own server)");
  }
  if (values["server-pid"] !== undefined && values.port === undefined) {
    throw new UsageError("--server-pid: needs --port (a started server's pid is known)");
  }
  const pairs = values.pairs === undefined
    ? undefined
    : parseInteger("pairs", values.pairs, 1, 9999);
  const window = values.window === undefined
    ? undefined
    : parseInteger("window", values.window, 1, 4096);
  const connections = parseInteger("connections", values.connections, 1, 60_000);
  const secondsText = values.seconds;
  const seconds = Number(secondsText);
  if (!/^\d+(\.\d+)?$/.test(secondsText) || seconds <= 0 || seconds > 3600) {
    throw new UsageError(
      `--seconds: "${secondsText}" is not a number of seconds above 0 and up to 3600`,
    );
  }
  const defaults = values.port === undefined ? DEFAULT_WORKLOADS : DEFAULT_WORKLOADS_ON_PORT;
  const list = values.workload ?? [pairs === undefined && window === undefined ? defaults : "live"];
  const workloads: Workload[] = [];
  for (const item of list.flatMap((text) => text.split(","))) {
    workloads.push(parseWorkload(item.trim(), pairs, window, connections));
  }
  if (values.port !== undefined && workloads.some((w) => w.kind === "startup")) {
    throw new UsageError("--workload startup: starts servers of its own; not with --port");
  }
  return {
    help: values.help,
    hostname: values.host ?? "127.0.0.1",
    port: values.port === undefined ? undefined : parseInteger("port", values.port, 1, 65535),
    serverPid: values["server-pid"] === undefined
      ? undefined
      : parseInteger("server-pid", values["server-pid"], 1, 2 ** 31 - 1),
    workloads,
    seconds,
    json: values.json,
  };
}

function parseWorkload(
  text: string,
  pairs: number | undefined,
  window: number | undefined,
  connections: number,
): Workload {
  const grid = /^(\d+)x(\d+)$/.exec(text);
  if (grid !== null) {
    return {
      kind: "live",
      pairs: parseInteger("workload", grid[1]!, 1, 9999),
      window: parseInteger("workload", grid[2]!, 1, 4096),
    };
  }
  switch (text) {
    case "live":
      return { kind: "live", pairs: pairs ?? 10, window: window ?? 16 };
    case "offline":
      return {
        kind: "offline",
        senders: pairs ?? 10,
        window: window ?? 16,
        receivers: OFFLINE_RECEIVERS,
        drainCap: DRAIN_CAP,
      };
    case "idle":
      return { kind: "idle", connections };
    case "startup":
      return { kind: "startup", messages: STARTUP_MESSAGES, runs: STARTUP_RUNS };
    default:
      throw new UsageError(
        `--workload: "${text}" is not PxW (e.g. 10x16), live, offline, idle or startup`,
      );
  }
}

/**
 * Runs the workloads and prints their figures (a table, or JSON); resolves with the exit code:
 * 0, or 1 when any workload saw an error. Progress goes to stderr.
 */
export async function runBench(options: BenchOptions): Promise<number> {
  const results: BenchResult[] = [];
  const prefixes = new Set<string>();
  for (const workload of options.workloads) {
    console.error(`bench: ${workloadLabel(workload)} ...`);
    const result = await runWorkload(workload, { ...options, prefix: namePrefix(prefixes) });
    console.error(`bench: ${renderBenchTable([result]).at(-1)!.trim()}`);
    results.push(result);
  }
  if (options.json) {
    console.log(JSON.stringify({ seconds: options.seconds, results }, null, 2));
  } else {
    for (const line of renderBenchTable(results)) console.log(line);
  }
  return results.some((r) => r.errors > 0) ? 1 : 0;
}

/**
 * The table of `results`, one line per workload after a header.
 *
 * @example
 * ```ts
 * import { renderBenchTable } from "./bench.ts";
 * renderBenchTable([{ workload: "10x1", rate: 51234, p50Ms: 0.18, p99Ms: 0.4, errors: 0, errorKinds: {} }]);
 * ```
 */
export function renderBenchTable(results: BenchResult[]): string[] {
  const rows = [["workload", "msgs/s", "p50_ms", "p99_ms", "errors", "cpu srv/gen", "notes"]];
  for (const r of results) {
    const cpu = r.serverCpu === undefined && r.benchCpu === undefined
      ? "-"
      : `${percent(r.serverCpu)}/${percent(r.benchCpu)}`;
    rows.push([
      r.workload,
      r.rate === undefined ? "-" : group(r.rate),
      r.p50Ms === undefined ? "-" : r.p50Ms.toFixed(3),
      r.p99Ms === undefined ? "-" : r.p99Ms.toFixed(3),
      String(r.errors),
      cpu,
      notes(r),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) =>
    row.map((cell, i) =>
      i === 0 || i === row.length - 1 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)
    )
      .join("  ").trimEnd()
  );
}

function notes(r: BenchResult): string {
  const parts: string[] = [];
  if (r.drain !== undefined) {
    const d = r.drain;
    const of = d.drained === d.expected ? "" : ` of ${group(d.expected)}`;
    parts.push(
      `drain ${group(d.drained)}${of} msgs in ${d.seconds.toFixed(3)} s` +
        (d.extra > 0 ? ` (+${group(d.extra)} unconfirmed)` : "") +
        `, ${group(d.receipts)} late receipts`,
    );
  }
  if (r.idle !== undefined) {
    const i = r.idle;
    parts.push(
      `${group(i.connections)} conns: server RSS ${group(i.rssBeforeKiB)} -> ` +
        `${group(i.rssAfterKiB)} KiB = ${i.kibPerConnection.toFixed(2)} KiB/conn`,
    );
  }
  if (r.startup !== undefined) {
    const s = r.startup;
    parts.push(
      `ready in ${s.medianMs.toFixed(1)} ms (median of ${s.runs}; ${s.minMs.toFixed(1)}..` +
        `${s.maxMs.toFixed(1)}) on ${group(s.messages)} stored messages`,
    );
  }
  const kinds = Object.entries(r.errorKinds);
  if (kinds.length > 0) parts.push(kinds.map(([kind, n]) => `${kind} x${n}`).join(", "));
  if (r.serverWarnings) parts.push(`server logged ${r.serverWarnings} warn/error lines`);
  if (r.note !== undefined) parts.push(r.note);
  return parts.join("; ");
}

function group(n: number): string {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

function percent(n: number | undefined): string {
  return n === undefined ? "-" : `${Math.round(n)}%`;
}
