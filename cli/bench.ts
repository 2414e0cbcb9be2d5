// deno-lint-ignore-file no-console -- the CLI is where output belongs
import {
  Code,
  codePayload,
  decodeFrame,
  encodeFrame,
  FrameType,
  HEADER_SIZE,
  MAX_FRAME_SIZE,
  readCode,
} from "../protocol/mod.ts";
import process from "node:process";
import { parseFlags, parseInteger } from "./flags.ts";
import { UsageError } from "./usage_error.ts";

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
  idle      --connections logged-in idle connections: server memory per connection

OPTIONS:
  --host HOST         address of the server to load (with --port)   (default 127.0.0.1)
  --port PORT         load the server at this port instead of starting one
  --server-pid PID    with --port: the server's pid, for its CPU and memory figures
  --workload LIST     workloads, repeatable or comma-separated
                      (default 10x16,10x1,100x1,offline,idle; with --pairs or --window: live)
  --pairs P           pairs of 'live', senders of 'offline'          (default 10)
  --window W          unacknowledged messages per sender             (default 16)
  --seconds T         measured seconds per workload, after 1 s of warm-up  (default 5)
  --connections N     connections of 'idle'                          (default 2000)
  --json              print the results as JSON instead of a table
  -h, --help          show this help

msgs/s: messages answered "200" (offline: "300") at their sender within the measured seconds,
100-byte payloads. p50/p99: the sender's round trip to that answer. Exits 1 if any workload saw
an error.`;

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
  };

/** What `tinychat bench` was asked to do. */
export interface BenchOptions {
  /** Print the help instead. */
  help: boolean;
  /** Address of a running server; used with `port`. */
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

/** The figures of one workload. */
export interface BenchResult {
  /** "10x16", "offline 10x16", "idle 2000". */
  workload: string;
  /** Messages answered per second within the measured time. */
  rate?: number;
  /** Messages answered within the measured time. */
  messages?: number;
  /** Measured seconds. */
  seconds?: number;
  /** Round trip to the answer, median, in ms. */
  p50Ms?: number;
  /** Round trip to the answer, 99th percentile, in ms. */
  p99Ms?: number;
  /** Errors seen by the load generator (the sum of `errorKinds`). */
  errors: number;
  /** Errors by kind, e.g. `{ "code 300": 2, "closed by server": 1 }`. */
  errorKinds: Record<string, number>;
  /** Server CPU over the measured time, percent of one core (when its pid is known). */
  serverCpu?: number;
  /** The load generator's own CPU over the measured time, percent of one core. */
  benchCpu?: number;
  /** Offline workload: the login drain. */
  drain?: {
    /** Messages to the draining user answered "300" (at most the cap). */
    expected: number;
    /** Of those, handed over as type 2 (and acknowledged). */
    drained: number;
    /** From its HELLO to the last expected message, in seconds. */
    seconds: number;
    /** Type-2 frames for messages whose "300" had not arrived yet. */
    extra: number;
    /** Late "200" receipts seen by the senders. */
    receipts: number;
  };
  /** Idle workload: server memory. */
  idle?: {
    connections: number;
    rssBeforeKiB: number;
    rssAfterKiB: number;
    kibPerConnection: number;
  };
  /** Lines the server logged at warn or error level (for a server started by the bench). */
  serverWarnings?: number;
  /** The first of those lines. */
  serverWarningSample?: string[];
  /** Anything else worth knowing (e.g. why a workload stopped early). */
  note?: string;
}

const DEFAULT_WORKLOADS = "10x16,10x1,100x1,offline,idle";

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
    connections: { type: "string", default: "2000" },
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
  const list = values.workload ??
    [pairs === undefined && window === undefined ? DEFAULT_WORKLOADS : "live"];
  const workloads: Workload[] = [];
  for (const item of list.flatMap((text) => text.split(","))) {
    workloads.push(parseWorkload(item.trim(), pairs, window, connections));
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
    default:
      throw new UsageError(
        `--workload: "${text}" is not PxW (e.g. 10x16), live, offline or idle`,
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
    let prefix = randomPrefix();
    while (prefixes.has(prefix)) prefix = randomPrefix();
    prefixes.add(prefix);
    console.error(`bench: ${workloadLabel(workload)} ...`);
    const result = await runWorkload(workload, options, prefix);
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

function workloadLabel(w: Workload): string {
  switch (w.kind) {
    case "live":
      return `${w.pairs}x${w.window}`;
    case "offline":
      return `offline ${w.senders}x${w.window}`;
    case "idle":
      return `idle ${w.connections}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Running a workload against a server.

const PAYLOAD_SIZE = 100;
const WARMUP_MS = 1000;
/** After the measured time: how long answers still in flight are awaited. */
const SETTLE_MS = 2000;
const CONNECT_MS = 30_000;
const CONNECT_CONCURRENCY = 128;
/** Offline receivers: how long the server has to notice that they left. */
const LEAVE_MS = 3000;
const DRAIN_LIMIT_MS = 30_000;
const IDLE_HOLD_MS = 1000;
const SERVER_START_MS = 30_000;
const SERVER_STOP_MS = 10_000;
const OFFLINE_RECEIVERS = 10;
const DRAIN_CAP = 10_000;
const HELLO_ID = 0;
const SENT = 1;
const STORED = 2;
const DRAINED = 3;

interface Target {
  hostname: string;
  port: number;
  pid: number | undefined;
}

async function runWorkload(
  workload: Workload,
  options: BenchOptions,
  prefix: string,
): Promise<BenchResult> {
  if (options.port !== undefined) {
    const target = { hostname: options.hostname, port: options.port, pid: options.serverPid };
    return await runOn(target, workload, options.seconds, prefix);
  }
  const server = await BenchServer.start();
  let result: BenchResult;
  try {
    result = await runOn(server, workload, options.seconds, prefix);
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
  workload: Workload,
  seconds: number,
  prefix: string,
): Promise<BenchResult> {
  switch (workload.kind) {
    case "live":
      return runLive(target, workload, seconds, prefix);
    case "offline":
      return runOffline(target, workload, seconds, prefix);
    case "idle":
      return runIdle(target, workload, prefix);
  }
}

async function runLive(
  target: Target,
  w: Extract<Workload, { kind: "live" }>,
  seconds: number,
  prefix: string,
): Promise<BenchResult> {
  const meter = new Meter();
  const control = { sending: false };
  const receivers: Link[] = [];
  const senders: Sender[] = [];
  for (let i = 0; i < w.pairs; i++) {
    receivers.push(new Receiver(`${prefix}r${i}`, meter));
    senders.push(
      new Sender(`${prefix}s${i}`, meter, {
        targets: [`${prefix}r${i}`],
        window: w.window,
        expect: Code.DELIVERED,
        control,
      }),
    );
  }
  const result = emptyResult(workloadLabel(w));
  try {
    // Receivers first: a message to a name that never logged in is answered "404".
    if (!await openAll(receivers, target, meter, result)) return finish(result, meter);
    if (!await openAll(senders, target, meter, result)) return finish(result, meter);
    await measure(target, senders, control, meter, seconds, result);
  } finally {
    await closeAll([...senders, ...receivers]);
  }
  return finish(result, meter);
}

async function runOffline(
  target: Target,
  w: Extract<Workload, { kind: "offline" }>,
  seconds: number,
  prefix: string,
): Promise<BenchResult> {
  const meter = new Meter();
  const control = { sending: false };
  const state = new OfflineState(prefix, w.drainCap);
  const names = Array.from({ length: w.receivers }, (_, i) => `${prefix}or${i}`);
  const receivers = names.map((name) => new Receiver(name, meter));
  const senders = Array.from(
    { length: w.senders },
    (_, i) =>
      new Sender(`${prefix}os${i}`, meter, {
        targets: names,
        window: w.window,
        expect: Code.STORED,
        control,
        offline: state,
        index: i,
      }),
  );
  const result = emptyResult(workloadLabel(w));
  let drainer: Receiver | undefined;
  try {
    // The receivers become known users, then leave; the server closes its end once it saw them go.
    if (!await openAll(receivers, target, meter, result)) return finish(result, meter);
    await Promise.all(receivers.map((r) => r.leave(LEAVE_MS)));
    if (!await openAll(senders, target, meter, result)) return finish(result, meter);
    await measure(target, senders, control, meter, seconds, result);
    if (w.drainCap > 0 && state.stored0 > 0) {
      state.expected = state.stored0;
      drainer = new Receiver(names[0]!, meter, state);
      const hello = performance.now();
      if (await openAll([drainer], target, meter, result)) {
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
  return finish(result, meter);
}

async function runIdle(
  target: Target,
  w: Extract<Workload, { kind: "idle" }>,
  prefix: string,
): Promise<BenchResult> {
  const meter = new Meter();
  const links = Array.from(
    { length: w.connections },
    (_, i) => new Receiver(`${prefix}i${i}`, meter, undefined, 1024),
  );
  const result = emptyResult(workloadLabel(w));
  try {
    const before = await vmRssKiB(target.pid);
    if (!await openAll(links, target, meter, result)) return finish(result, meter);
    await sleep(IDLE_HOLD_MS);
    const after = await vmRssKiB(target.pid);
    const open = links.filter((l) => !l.closed).length;
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
    await closeAll(links);
  }
  return finish(result, meter);
}

/** Warm-up, measured seconds, then waits (bounded) for the answers still in flight. */
async function measure(
  target: Target,
  senders: Sender[],
  control: { sending: boolean },
  meter: Meter,
  seconds: number,
  result: BenchResult,
): Promise<void> {
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

function emptyResult(workload: string): BenchResult {
  return { workload, errors: 0, errorKinds: {} };
}

function finish(result: BenchResult, meter: Meter): BenchResult {
  if (meter.to !== Infinity) {
    const span = (meter.to - meter.from) / 1000;
    result.seconds = round(span, 3);
    result.messages = meter.done;
    result.rate = Math.round(meter.done / span);
    if (meter.latency.count > 0) {
      result.p50Ms = round(meter.latency.quantile(0.5), 3);
      result.p99Ms = round(meter.latency.quantile(0.99), 3);
    }
  }
  if (result.serverCpu !== undefined) result.serverCpu = Math.round(result.serverCpu);
  if (result.benchCpu !== undefined) result.benchCpu = Math.round(result.benchCpu);
  for (const [kind, n] of meter.errors) {
    result.errorKinds[kind] = (result.errorKinds[kind] ?? 0) + n;
    result.errors += n;
  }
  return result;
}

/** Opens and logs in `links`, a bounded number at a time; false (and a note) if any failed. */
async function openAll(
  links: Link[],
  target: Target,
  meter: Meter,
  result: BenchResult,
): Promise<boolean> {
  let next = 0;
  let failed = 0;
  let first = "";
  const deadline = performance.now() + CONNECT_MS;
  const worker = async () => {
    while (next < links.length) {
      const link = links[next++]!;
      try {
        await link.open(target, Math.max(1, deadline - performance.now()));
      } catch (error) {
        failed++;
        if (first === "") first = error instanceof Error ? error.message : String(error);
      }
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(CONNECT_CONCURRENCY, links.length) }, worker),
  );
  if (failed === 0) return true;
  meter.error("login failed", failed);
  result.note = `${
    links.length - failed
  }/${links.length} connections logged in; first error: ${first}`;
  return false;
}

async function closeAll(links: Link[]): Promise<void> {
  for (const link of links) link.close();
  await Promise.race([Promise.all(links.map((l) => l.ended)), sleep(5000)]);
}

// ---------------------------------------------------------------------------------------------
// Connections. The hot path reads headers through a DataView over a reused buffer and writes
// pre-encoded frames with the messageId patched in: no allocation per frame.

class Meter {
  /** The measured time, in performance.now() ms; answers outside it are not counted. */
  from = Infinity;
  to = Infinity;
  done = 0;
  readonly latency = new Histogram();
  readonly errors = new Map<string, number>();

  complete(now: number, sentAt: number): void {
    if (now < this.from || now > this.to) return;
    this.done++;
    this.latency.add(now - sentAt);
  }

  error(kind: string, n = 1): void {
    this.errors.set(kind, (this.errors.get(kind) ?? 0) + n);
  }
}

/** Messages to offline receiver 0, tracked so that its drain can be checked. */
class OfflineState {
  readonly prefix: string;
  readonly cap: number;
  issued0 = 0;
  stored0 = 0;
  expected = 0;
  drained = 0;
  drainedAt = 0;
  extra = 0;
  receipts = 0;
  /** (sender index * 2^32 + messageId) -> 1 sent, 2 stored, 3 drained. */
  readonly fate = new Map<number, number>();

  constructor(prefix: string, cap: number) {
    this.prefix = prefix;
    this.cap = cap;
  }
}

const EMPTY = new Uint8Array(0);

/** One client connection: a read loop over a reused buffer and one writer with a spare buffer. */
abstract class Link {
  readonly name: string;
  protected readonly meter: Meter;
  closed = false;
  ready = false;
  #socket: Deno.TcpConn | undefined;
  #closing = false;
  #leaving = false;
  #in: Uint8Array;
  #inView: DataView;
  #filled = 0;
  #out: Uint8Array;
  #outView: DataView;
  #spare: Uint8Array;
  #spareView: DataView;
  #outLen = 0;
  #writing = false;
  #login: { resolve(): void; reject(error: Error): void } | undefined;
  #ended: Promise<void> = Promise.resolve();

  constructor(name: string, meter: Meter, readSize: number) {
    this.name = name;
    this.meter = meter;
    this.#in = new Uint8Array(readSize);
    this.#inView = new DataView(this.#in.buffer);
    this.#out = new Uint8Array(4096);
    this.#outView = new DataView(this.#out.buffer);
    this.#spare = new Uint8Array(4096);
    this.#spareView = new DataView(this.#spare.buffer);
  }

  /** Resolves when the read loop has ended. */
  get ended(): Promise<void> {
    return this.#ended;
  }

  /** Connects and logs in (HELLO, then "200"); rejects on failure or after `timeoutMs`. */
  async open(target: Target, timeoutMs: number): Promise<void> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    try {
      const socket = await Deno.connect({
        hostname: target.hostname,
        port: target.port,
        signal: abort.signal,
      });
      clearTimeout(timer);
      socket.setNoDelay(true);
      this.#socket = socket;
      this.#closing = false;
      this.closed = false;
      this.ready = false;
      this.#filled = 0;
      const login = new Promise<void>((resolve, reject) => {
        this.#login = { resolve, reject };
      });
      const hello = encodeFrame({
        type: FrameType.HELLO,
        id: HELLO_ID,
        src: this.name,
        dst: "",
        payload: EMPTY,
      });
      this.put(hello);
      this.flush();
      this.#ended = this.#readLoop(socket);
      const limit = setTimeout(() => {
        this.#login?.reject(new Error(`login of ${this.name}: no answer`));
        this.close();
      }, Math.max(1, timeoutMs));
      try {
        await login;
      } finally {
        clearTimeout(limit);
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Half-closes and waits (bounded) until the server closes its end: it has seen us leave. */
  async leave(timeoutMs: number): Promise<void> {
    const socket = this.#socket;
    if (socket === undefined || this.closed) return;
    this.#leaving = true;
    try {
      await socket.closeWrite();
    } catch {
      // Already closed: nothing to wait for.
    }
    await Promise.race([this.#ended, sleep(timeoutMs)]);
    this.close();
  }

  /** Closes the socket; the read loop ends. */
  close(): void {
    if (this.#closing || this.#socket === undefined) return;
    this.#closing = true;
    try {
      this.#socket.close();
    } catch {
      // Closed already.
    }
  }

  /** A whole frame arrived after login; its bytes are `bytes[off, off + len)`. */
  protected abstract onFrame(
    bytes: Uint8Array,
    off: number,
    len: number,
    type: number,
    id: number,
    now: number,
  ): void;

  /** Called after the frames of one read were handled, before the writes are flushed. */
  protected afterRead(_now: number): void {}

  /** Appends a copy of `frame` to the write buffer; returns its offset there. */
  protected put(frame: Uint8Array): number {
    const off = this.#reserve(frame.length);
    this.#out.set(frame, off);
    return off;
  }

  /** Sets the messageId of the frame at `off` in the write buffer. */
  protected setId(off: number, id: number): void {
    this.#outView.setUint32(off + 4, id);
  }

  /** Copies 8 name bytes from `bytes[from]` to the write buffer at `to`. */
  protected copyName(bytes: Uint8Array, from: number, to: number): void {
    const out = this.#out;
    for (let i = 0; i < 8; i++) out[to + i] = bytes[from + i]!;
  }

  /** Starts writing what was put, unless a write is under way (it will take it). */
  flush(): void {
    if (this.#writing || this.#outLen === 0 || this.#socket === undefined || this.#closing) return;
    this.#writing = true;
    void this.#write(this.#socket);
  }

  #reserve(n: number): number {
    const off = this.#outLen;
    if (off + n > this.#out.length) {
      const bigger = new Uint8Array(Math.max(this.#out.length * 2, off + n));
      bigger.set(this.#out.subarray(0, off));
      this.#out = bigger;
      this.#outView = new DataView(bigger.buffer);
    }
    this.#outLen = off + n;
    return off;
  }

  async #write(socket: Deno.TcpConn): Promise<void> {
    try {
      while (this.#outLen > 0 && !this.#closing) {
        const buffer = this.#out;
        const view = this.#outView;
        const n = this.#outLen;
        // Frames put while this write is under way go to the spare buffer.
        this.#out = this.#spare;
        this.#outView = this.#spareView;
        this.#spare = buffer;
        this.#spareView = view;
        this.#outLen = 0;
        let off = 0;
        while (off < n) off += await socket.write(buffer.subarray(off, n));
      }
    } catch (error) {
      if (!this.#closing) this.#lost(`write failed: ${message(error)}`);
    } finally {
      this.#writing = false;
    }
  }

  async #readLoop(socket: Deno.TcpConn): Promise<void> {
    let reason = "closed by server";
    try {
      while (true) {
        const n = await socket.read(this.#in.subarray(this.#filled));
        if (n === null) break;
        const now = performance.now();
        const bytes = this.#in;
        const view = this.#inView;
        const filled = this.#filled + n;
        let off = 0;
        while (filled - off >= 2) {
          const len = view.getUint16(off);
          if (len < HEADER_SIZE || len > MAX_FRAME_SIZE) {
            throw new Error(`server sent a frame of length ${len}`);
          }
          if (filled - off < len) break;
          const type = view.getUint16(off + 2);
          const id = view.getUint32(off + 4);
          if (this.ready) this.onFrame(bytes, off, len, type, id, now);
          else this.#loginAnswer(bytes.subarray(off, off + len));
          off += len;
        }
        if (off > 0) bytes.copyWithin(0, off, filled);
        this.#filled = filled - off;
        if (this.ready) this.afterRead(now);
        this.flush();
      }
    } catch (error) {
      reason = message(error);
    }
    if (!this.#closing && !this.#leaving) this.#lost(reason);
    this.closed = true;
    this.#login?.reject(
      new Error(reason.startsWith("login") ? reason : `login of ${this.name}: ${reason}`),
    );
    this.#login = undefined;
    this.close();
  }

  #loginAnswer(raw: Uint8Array): void {
    const frame = decodeFrame(raw);
    const code = readCode(frame.payload);
    if (frame.type !== FrameType.ACK || frame.id !== HELLO_ID) {
      throw new Error(`login of ${this.name}: got type ${frame.type} before the answer`);
    }
    if (code !== Code.DELIVERED) throw new Error(`login of ${this.name} refused: "${code}"`);
    this.ready = true;
    this.#login?.resolve();
    this.#login = undefined;
  }

  #lost(reason: string): void {
    if (this.ready) this.meter.error(reason.startsWith("login") ? reason : `connection: ${reason}`);
  }
}

interface SenderOptions {
  /** Recipients, used round robin (offline: receiver 0 only up to the state's cap). */
  targets: string[];
  window: number;
  /** The answer that completes a message: "200" live, "300" offline. */
  expect: string;
  control: { sending: boolean };
  offline?: OfflineState;
  /** This sender's index (offline: its name is PREFIX + "os" + index). */
  index?: number;
}

/** Keeps `window` messages in flight and times each one's answer. */
class Sender extends Link {
  inflight = 0;
  #templates: Uint8Array[];
  #window: number;
  #expect0: number;
  #expect1: number;
  #expect2: number;
  #control: { sending: boolean };
  #offline: OfflineState | undefined;
  #index: number;
  #mask: number;
  #slotId: Uint32Array;
  #slotAt: Float64Array;
  #slotTarget: Int32Array;
  #nextId = 1;
  #turn: number;

  constructor(name: string, meter: Meter, options: SenderOptions) {
    super(name, meter, 64 * 1024);
    const payload = new Uint8Array(PAYLOAD_SIZE);
    for (let i = 0; i < payload.length; i++) payload[i] = 0x61 + i % 26;
    this.#templates = options.targets.map((dst) =>
      encodeFrame({ type: FrameType.MSG, id: 0, src: name, dst, payload })
    );
    this.#window = options.window;
    this.#expect0 = options.expect.charCodeAt(0);
    this.#expect1 = options.expect.charCodeAt(1);
    this.#expect2 = options.expect.charCodeAt(2);
    this.#control = options.control;
    this.#offline = options.offline;
    this.#index = options.index ?? 0;
    this.#turn = this.#index;
    let size = 64;
    while (size < options.window * 8) size *= 2;
    this.#mask = size - 1;
    this.#slotId = new Uint32Array(size);
    this.#slotAt = new Float64Array(size);
    this.#slotTarget = new Int32Array(size).fill(-1);
  }

  /** Fills the window (when sending is on) and writes. */
  kick(now: number): void {
    this.#fill(now);
    this.flush();
  }

  protected override afterRead(now: number): void {
    this.#fill(now);
  }

  #fill(now: number): void {
    const targets = this.#templates.length;
    while (this.#control.sending && this.inflight < this.#window) {
      let id = this.#nextId++;
      let tries = 0;
      while (this.#slotTarget[id & this.#mask] !== -1) {
        if (++tries > this.#mask) return;
        id = this.#nextId++;
      }
      let target = this.#turn % targets;
      const offline = this.#offline;
      if (offline !== undefined && target === 0 && offline.issued0 >= offline.cap) {
        if (targets === 1) return;
        target = 1;
        this.#turn++;
      }
      this.#turn++;
      if (offline !== undefined && target === 0) {
        offline.issued0++;
        offline.fate.set(this.#index * 2 ** 32 + id, SENT);
      }
      const slot = id & this.#mask;
      this.#slotId[slot] = id;
      this.#slotAt[slot] = now;
      this.#slotTarget[slot] = target;
      this.inflight++;
      this.setId(this.put(this.#templates[target]!), id);
    }
  }

  protected onFrame(
    bytes: Uint8Array,
    off: number,
    len: number,
    type: number,
    id: number,
    now: number,
  ): void {
    if (type !== FrameType.ACK) return this.meter.error(`unexpected type ${type} at sender`);
    const slot = id & this.#mask;
    const target = this.#slotTarget[slot]!;
    if (target === -1 || this.#slotId[slot] !== id) return this.#stray(bytes, off, len, id);
    this.#slotTarget[slot] = -1;
    this.inflight--;
    const c = off + HEADER_SIZE;
    if (
      len >= HEADER_SIZE + 3 && bytes[c] === this.#expect0 && bytes[c + 1] === this.#expect1 &&
      bytes[c + 2] === this.#expect2 && (len === HEADER_SIZE + 3 || bytes[c + 3] === 0)
    ) {
      this.meter.complete(now, this.#slotAt[slot]!);
      const offline = this.#offline;
      if (offline !== undefined && target === 0) {
        offline.stored0++;
        offline.fate.set(this.#index * 2 ** 32 + id, STORED);
      }
      return;
    }
    this.meter.error(`code ${readCode(bytes.subarray(c, off + len))}`);
  }

  /** An answer for no message in flight: a late receipt after a drain, or an error. */
  #stray(bytes: Uint8Array, off: number, len: number, id: number): void {
    const offline = this.#offline;
    const code = readCode(bytes.subarray(off + HEADER_SIZE, off + len));
    if (
      offline !== undefined && code === Code.DELIVERED &&
      offline.fate.get(this.#index * 2 ** 32 + id) === DRAINED
    ) {
      offline.receipts++;
      return;
    }
    this.meter.error(`answer ${code} for no message in flight`);
  }
}

/**
 * Acknowledges every message with "200". With an `OfflineState`, it is the user who drains:
 * it checks every stored message (type 2) against what was answered "300".
 */
class Receiver extends Link {
  #ack: Uint8Array;
  #offline: OfflineState | undefined;
  #payload: Uint8Array;

  constructor(name: string, meter: Meter, offline?: OfflineState, readSize = 64 * 1024) {
    super(name, meter, readSize);
    this.#ack = encodeFrame({
      type: FrameType.ACK,
      id: 0,
      src: name,
      dst: "",
      payload: codePayload(Code.DELIVERED),
    });
    this.#offline = offline;
    this.#payload = new Uint8Array(PAYLOAD_SIZE);
    for (let i = 0; i < PAYLOAD_SIZE; i++) this.#payload[i] = 0x61 + i % 26;
  }

  protected onFrame(
    bytes: Uint8Array,
    off: number,
    len: number,
    type: number,
    id: number,
    now: number,
  ): void {
    if (type === FrameType.MSG) {
      if (len !== HEADER_SIZE + PAYLOAD_SIZE) this.meter.error("message of a wrong length");
    } else if (type === FrameType.OFFLINE) {
      if (this.#offline === undefined) this.meter.error("unexpected stored message");
      else this.#drained(bytes, off, len, id, now);
    } else {
      return this.meter.error(`unexpected type ${type} at receiver`);
    }
    const at = this.put(this.#ack);
    this.setId(at, id);
    this.copyName(bytes, off + 8, at + 16);
  }

  #drained(bytes: Uint8Array, off: number, len: number, id: number, now: number): void {
    const state = this.#offline!;
    let intact = len === HEADER_SIZE + PAYLOAD_SIZE;
    for (let i = 0; intact && i < PAYLOAD_SIZE; i++) {
      intact = bytes[off + HEADER_SIZE + i] === this.#payload[i];
    }
    if (!intact) this.meter.error("stored message altered");
    // The sender's index from its name: PREFIX "os" DIGITS.
    let index = 0;
    let digits = 0;
    for (let i = off + 8 + state.prefix.length + 2; i < off + 16 && bytes[i] !== 0; i++) {
      index = index * 10 + bytes[i]! - 0x30;
      digits++;
    }
    const key = index * 2 ** 32 + id;
    const fate = digits > 0 ? state.fate.get(key) : undefined;
    if (fate === STORED) {
      state.drained++;
      if (state.drained === state.expected) state.drainedAt = now;
    } else if (fate === SENT) {
      state.extra++;
    } else {
      this.meter.error(
        fate === DRAINED ? "stored message handed over twice" : "unknown stored message",
      );
      return;
    }
    state.fate.set(key, DRAINED);
  }
}

class Histogram {
  // Log-linear buckets over microseconds: exact below 256 µs, then 128 per power of two (<1%).
  #counts = new Float64Array(256 + 24 * 128);
  count = 0;
  #max = 0;

  add(ms: number): void {
    const us = ms <= 0 ? 0 : Math.min(Math.round(ms * 1000), 0x7fffffff);
    const i = bucket(us);
    this.#counts[i] = this.#counts[i]! + 1;
    this.count++;
    if (us > this.#max) this.#max = us;
  }

  /** The `q` quantile, in ms. */
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
  if (us < 256) return us;
  const bits = 31 - Math.clz32(us);
  return 256 + (bits - 8) * 128 + ((us >>> (bits - 7)) - 128);
}

function bucketValue(i: number): number {
  if (i < 256) return i;
  const shift = ((i - 256) >> 7) + 1;
  const top = ((i - 256) & 127) + 128;
  return top * 2 ** shift + 2 ** (shift - 1);
}

// ---------------------------------------------------------------------------------------------
// The server under test, as a child process.

/** A tinychat server started for one workload, on port 0 with a temporary data directory. */
class BenchServer implements Target {
  readonly hostname: string;
  readonly port: number;
  readonly pid: number;
  #child: Deno.ChildProcess;
  #dir: string;
  #log: string;
  #logDone: Promise<void>;
  #exit: Deno.CommandStatus | undefined;
  #stopping = false;

  private constructor(
    child: Deno.ChildProcess,
    dir: string,
    log: string,
    logDone: Promise<void>,
    address: [string, number],
  ) {
    this.#child = child;
    this.pid = child.pid;
    this.#dir = dir;
    this.#log = log;
    this.#logDone = logDone;
    [this.hostname, this.port] = address;
    void child.status.then((status) => this.#exit = status);
  }

  /** Starts `tinychat serve --port 0 --data TEMPDIR` and waits for its `listening` line. */
  static async start(): Promise<BenchServer> {
    const dir = await Deno.makeTempDir({ prefix: "tinychat-bench-" });
    const serveArgs = ["serve", "--port", "0", "--data", dir];
    // From source, deno runs mod.ts; a compiled tinychat runs itself.
    const fromSource = /^deno(\.exe)?$/i.test(Deno.execPath().split(/[\\/]/).pop() ?? "");
    const args = fromSource
      ? ["run", "--allow-all", new URL("../mod.ts", import.meta.url).href, ...serveArgs]
      : serveArgs;
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(Deno.execPath(), {
        args,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (error) {
      await Deno.remove(dir, { recursive: true });
      throw new Error(
        `Cannot start a server (${message(error)}): allow running subprocesses ` +
          `(--allow-run), or start 'tinychat serve' yourself and pass --port`,
        { cause: error },
      );
    }
    const log = `${dir}/server.log`;
    const file = await Deno.open(log, { write: true, create: true, truncate: true });
    const logDone = child.stderr.pipeTo(file.writable).catch(() => {});
    const address = await readListening(child, SERVER_START_MS);
    if (address === undefined) {
      try {
        child.kill("SIGKILL");
      } catch {
        // It exited by itself.
      }
      await child.status;
      await logDone;
      const tail = (await Deno.readTextFile(log)).slice(-600);
      await Deno.remove(dir, { recursive: true });
      throw new Error(`The server did not print "listening HOST:PORT"; its log ends: ${tail}`);
    }
    return new BenchServer(child, dir, log, logDone, address);
  }

  /** SIGTERM, then SIGKILL if it has not exited within 10 s. */
  async stop(): Promise<void> {
    const exitedEarly = this.#exit !== undefined;
    this.#stopping = !exitedEarly;
    if (!exitedEarly) {
      try {
        this.#child.kill("SIGTERM");
      } catch {
        // Exited meanwhile.
      }
      const done = await Promise.race([this.#child.status, sleep(SERVER_STOP_MS)]);
      if (done === undefined) this.#child.kill("SIGKILL");
    }
    this.#exit = await this.#child.status;
    await this.#logDone;
  }

  /** What the server's log says: its warn and error lines; whether it exited by itself. */
  async report(): Promise<{ exitedEarly?: string; warnings: number; sample: string[] }> {
    let warnings = 0;
    const sample: string[] = [];
    const file = await Deno.open(this.#log);
    let rest = "";
    const scan = (line: string) => {
      const warning = line.startsWith("{")
        ? /"level":"(warn|error)"/.test(line)
        : /^\S+ (warn|error) /.test(line);
      if (!warning) return;
      warnings++;
      if (sample.length < 5) sample.push(line.slice(0, 300));
    };
    for await (const chunk of file.readable.pipeThrough(new TextDecoderStream())) {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop()!;
      for (const line of lines) scan(line);
    }
    if (rest !== "") scan(rest);
    const exit = this.#exit;
    const report: { exitedEarly?: string; warnings: number; sample: string[] } = {
      warnings,
      sample,
    };
    if (!this.#stopping && exit !== undefined) {
      report.exitedEarly = exit.signal === null ? `code ${exit.code}` : `signal ${exit.signal}`;
    } else if (exit !== undefined && exit.code !== 0 && exit.signal !== "SIGKILL") {
      report.exitedEarly = `code ${exit.code} after SIGTERM`;
    }
    return report;
  }

  /** Deletes the data directory. */
  async remove(): Promise<void> {
    await Deno.remove(this.#dir, { recursive: true });
  }
}

/** Reads the child's stdout up to `listening HOST:PORT`; then keeps draining it. */
async function readListening(
  child: Deno.ChildProcess,
  timeoutMs: number,
): Promise<[string, number] | undefined> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs);
  });
  try {
    while (true) {
      const chunk = await Promise.race([reader.read(), timeout]);
      if (chunk === undefined || chunk.done) return undefined;
      text += chunk.value;
      const match = /^listening (.+):(\d+)$/m.exec(text);
      if (match !== null) {
        void (async () => {
          try {
            while (!(await reader.read()).done);
          } catch {
            // The process is gone.
          }
        })();
        return [match[1]!.replace(/^\[(.*)\]$/, "$1"), Number(match[2])];
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

/** VmRSS of `pid` in KiB (Linux). */
async function vmRssKiB(pid: number | undefined): Promise<number | undefined> {
  const status = await procFile(pid, "status");
  const match = status === undefined ? null : /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return match === null ? undefined : Number(match[1]);
}

/** User + system CPU seconds of process `pid` (Linux; assumes 100 ticks/s). */
async function cpuSeconds(pid: number | undefined): Promise<number | undefined> {
  const stat = await procFile(pid, "stat");
  if (stat === undefined) return undefined;
  // After "(command) ": state is field 3, utime field 14, stime field 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? ticks / 100 : undefined;
}

/**
 * A file of /proc/PID. Deno reads /proc only with --allow-all; with --allow-run, `cat` reads it.
 */
async function procFile(pid: number | undefined, name: string): Promise<string | undefined> {
  if (pid === undefined) return undefined;
  const path = `/proc/${pid}/${name}`;
  try {
    return await Deno.readTextFile(path);
  } catch {
    // Not allowed, or not Linux: try the subprocess below.
  }
  try {
    const out = await new Deno.Command("cat", { args: [path], stdout: "piped", stderr: "null" })
      .output();
    return out.success ? new TextDecoder().decode(out.stdout) : undefined;
  } catch {
    return undefined;
  }
}

function selfCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

function randomPrefix(): string {
  const letters = "abcdefghijklmnopqrstuvwxyz";
  const pick = () => letters[Math.floor(Math.random() * letters.length)]!;
  return pick() + pick();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `done` every 10 ms, at most `timeoutMs`. */
async function waitFor(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!done() && performance.now() < deadline) await sleep(10);
}

function round(n: number, digits: number): number {
  const scale = 10 ** digits;
  return Math.round(n * scale) / scale;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
