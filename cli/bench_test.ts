import assert from "node:assert/strict";
import { parseBenchArgs, renderBenchTable } from "./bench.ts";
import { UsageError } from "./usage_error.ts";

Deno.test("parseBenchArgs() reads a comma list of workloads and the seconds", () => {
  const options = parseBenchArgs(["--workload", "10x1,offline", "--seconds", "2"]);
  assert.equal(options.workloads.length, 2);
  assert.equal(options.seconds, 2);
  assert.equal(options.port, undefined);
});

Deno.test("parseBenchArgs() defaults to the five workloads of the performance issue", () => {
  assert.equal(parseBenchArgs([]).workloads.length, 5);
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
