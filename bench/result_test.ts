import assert from "node:assert/strict";
import { Meter } from "./meter.ts";
import { emptyResult, finishResult, round } from "./result.ts";

Deno.test("finishResult() computes rate, messages and percentiles over the measured time", () => {
  const meter = new Meter();
  meter.from = 1000;
  meter.to = 3000;
  for (let i = 0; i < 100; i++) meter.complete(1001 + i, 1001 + i - (i + 1) / 1000);
  const result = finishResult({ ...emptyResult("10x1"), serverCpu: 52.4, benchCpu: 39.6 }, meter);
  assert.deepEqual(result, {
    workload: "10x1",
    errors: 0,
    errorKinds: {},
    seconds: 2,
    messages: 100,
    rate: 50,
    p50Ms: 0.05,
    p99Ms: 0.099,
    serverCpu: 52,
    benchCpu: 40,
  });
});

Deno.test("finishResult() leaves out figures when the measured time never ended", () => {
  const result = finishResult(emptyResult("offline 10x16"), new Meter());
  assert.deepEqual(result, { workload: "offline 10x16", errors: 0, errorKinds: {} });
});

Deno.test("finishResult() adds the meter's errors to those already in the result", () => {
  const meter = new Meter();
  meter.error("code 507", 2);
  meter.error("login failed");
  const result = finishResult(
    { ...emptyResult("idle 500"), errors: 1, errorKinds: { "code 507": 1 } },
    meter,
  );
  assert.equal(result.errors, 4);
  assert.deepEqual(result.errorKinds, { "code 507": 3, "login failed": 1 });
  assert.equal(result.p50Ms, undefined);
});

Deno.test("round() rounds to the given decimal places", () => {
  assert.equal(round(0.08849, 3), 0.088);
  assert.equal(round(2.0005, 3), 2.001);
  assert.equal(round(7, 3), 7);
});
