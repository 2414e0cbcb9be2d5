import assert from "node:assert/strict";
import { Meter } from "./meter.ts";

Deno.test("Meter.complete() counts only answers within the measured time", () => {
  const meter = new Meter();
  meter.complete(500, 499); // before the measured time is known
  meter.from = 1000;
  meter.to = 2000;
  meter.complete(999, 998);
  meter.complete(1000, 999.9);
  meter.complete(2000, 1999.8);
  meter.complete(2001, 2000);
  assert.equal(meter.done, 2);
  assert.equal(meter.latency.count, 2);
  assert.equal(meter.latency.quantile(0.5), 0.1);
  assert.equal(meter.latency.quantile(1), 0.2);
});

Deno.test("Meter.error() adds up errors by kind", () => {
  const meter = new Meter();
  meter.error("code 404");
  meter.error("code 404", 2);
  meter.error("login failed", 5);
  assert.deepEqual([...meter.errors], [["code 404", 3], ["login failed", 5]]);
});
