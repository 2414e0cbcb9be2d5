import assert from "node:assert/strict";
import { Histogram } from "./histogram.ts";

Deno.test("Histogram.quantile() is exact below 256 µs: p50 and p99 of 1..100 µs", () => {
  const latency = new Histogram();
  for (let us = 100; us >= 1; us--) latency.add(us / 1000);
  assert.equal(latency.count, 100);
  assert.equal(latency.quantile(0.5), 0.05);
  assert.equal(latency.quantile(0.99), 0.099);
  assert.equal(latency.quantile(1), 0.1);
  assert.equal(latency.quantile(0), 0.001);
});

Deno.test("Histogram.quantile() stays within 1% of samples from 0.3 ms to 2 s", () => {
  for (const ms of [0.3, 0.5123, 1, 7.472, 35.712, 99.9, 1234.5, 2000]) {
    const latency = new Histogram();
    latency.add(ms);
    latency.add(ms * 3); // a larger maximum, so that the bucket's own value shows
    const p50 = latency.quantile(0.5);
    assert.ok(Math.abs(p50 - ms) / ms < 0.01, `${ms} ms read back as ${p50} ms`);
  }
});

Deno.test("Histogram.quantile() never exceeds the largest sample", () => {
  const latency = new Histogram();
  for (let i = 0; i < 99; i++) latency.add(0.2);
  latency.add(5.001);
  assert.equal(latency.quantile(0.99), 0.2);
  assert.equal(latency.quantile(1), 5.001);
});

Deno.test("Histogram.add() counts zero and negative round trips as 0 ms", () => {
  const latency = new Histogram();
  latency.add(0);
  latency.add(-3);
  assert.equal(latency.count, 2);
  assert.equal(latency.quantile(1), 0);
});

Deno.test("Histogram.quantile() of no samples is 0", () => {
  assert.equal(new Histogram().quantile(0.5), 0);
});
