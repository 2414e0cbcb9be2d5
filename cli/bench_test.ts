import assert from "node:assert/strict";
import { parseBenchArgs, renderBenchTable } from "./bench.ts";
import { UsageError } from "./usage_error.ts";

Deno.test("parseBenchArgs() reads a comma list of workloads and the seconds", () => {
  const options = parseBenchArgs(["--workload", "10x1,offline", "--seconds", "2"]);
  assert.equal(options.workloads.length, 2);
  assert.equal(options.seconds, 2);
  assert.equal(options.port, undefined);
});

Deno.test("parseBenchArgs() defaults to the six workloads of the performance issue", () => {
  assert.deepEqual(parseBenchArgs([]).workloads.map((w) => w.kind), [
    "live",
    "live",
    "live",
    "offline",
    "idle",
    "startup",
  ]);
  assert.deepEqual(parseBenchArgs(["--workload", "startup"]).workloads, [
    { kind: "startup", messages: 100_000, runs: 5 },
  ]);
});

Deno.test("parseBenchArgs() leaves startup out with --port, and refuses it asked for", () => {
  const kinds = parseBenchArgs(["--port", "9000"]).workloads.map((w) => w.kind);
  assert.deepEqual(kinds, ["live", "live", "live", "offline", "idle"]);
  assert.throws(() => parseBenchArgs(["--port", "9000", "--workload", "startup"]), UsageError);
});

Deno.test("parseBenchArgs() rejects a malformed workload and an unknown flag with a UsageError", () => {
  assert.throws(() => parseBenchArgs(["--workload", "10y16"]), UsageError);
  assert.throws(() => parseBenchArgs(["--speed", "max"]), UsageError);
});

Deno.test("renderBenchTable() right-aligns figures under a header row", () => {
  const lines = renderBenchTable([
    { workload: "10x1", rate: 25674.2, p50Ms: 0.3412, p99Ms: 0.9861, errors: 0, errorKinds: {} },
    { workload: "offline 10x16", rate: 28961, errors: 2, errorKinds: { "code 507": 2 } },
  ]);
  assert.equal(lines.length, 3);
  assert.match(lines[0]!, /^workload\s+msgs\/s\s+p50_ms\s+p99_ms\s+errors/);
  assert.match(lines[1]!, /^10x1\s+25,674\s+0\.341\s+0\.986\s+0/);
  assert.match(lines[2]!, /^offline 10x16\s+28,961\s+-\s+-\s+2/);
  assert.equal(lines[1]!.indexOf("25,674") + 6, lines[2]!.indexOf("28,961") + 6);
});

Deno.test("parseBenchArgs() sizes 'live' and 'offline' from --pairs and --window", () => {
  const options = parseBenchArgs(["--pairs", "50", "--window", "4", "--workload", "live,offline"]);
  assert.deepEqual(options.workloads, [
    { kind: "live", pairs: 50, window: 4 },
    { kind: "offline", senders: 50, window: 4, receivers: 10, drainCap: 10_000 },
  ]);
});

Deno.test("renderBenchTable() notes the drain, idle memory, error kinds and server warnings", () => {
  const lines = renderBenchTable([
    {
      workload: "offline 10x16",
      rate: 16162,
      errors: 0,
      errorKinds: {},
      serverCpu: 60,
      benchCpu: 19,
      drain: { expected: 4774, drained: 4774, seconds: 0.088, extra: 0, receipts: 4774 },
    },
    {
      workload: "idle 500",
      errors: 1,
      errorKinds: { "login failed": 1 },
      idle: { connections: 500, rssBeforeKiB: 45556, rssAfterKiB: 61536, kibPerConnection: 31.96 },
      serverWarnings: 2,
    },
  ]);
  assert.ok(lines[1]!.endsWith("60%/19%  drain 4,774 msgs in 0.088 s, 4,774 late receipts"));
  assert.ok(lines[2]!.endsWith(
    "-  500 conns: server RSS 45,556 -> 61,536 KiB = 31.96 KiB/conn; login failed x1; " +
      "server logged 2 warn/error lines",
  ));
});

Deno.test("renderBenchTable() notes the startup time, its median, fastest and slowest", () => {
  const lines = renderBenchTable([{
    workload: "startup 100000",
    errors: 0,
    errorKinds: {},
    startup: { messages: 100_000, runs: 5, medianMs: 92.04, minMs: 87.1, maxMs: 116 },
  }]);
  assert.ok(lines[1]!.endsWith(
    "ready in 92.0 ms (median of 5; 87.1..116.0) on 100,000 stored messages",
  ));
});
