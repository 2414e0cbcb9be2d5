import assert from "node:assert/strict";
import { startupFigures } from "./startup.ts";

Deno.test("startupFigures() gives the median, the fastest and the slowest start", () => {
  assert.deepEqual(startupFigures([120.04, 90, 100, 95.26, 300]), {
    medianMs: 100,
    minMs: 90,
    maxMs: 300,
  });
});

Deno.test("startupFigures() takes the mean of the middle two of an even count", () => {
  assert.deepEqual(startupFigures([100, 80, 90, 70]), { medianMs: 85, minMs: 70, maxMs: 100 });
});

Deno.test("startupFigures() rejects an empty list with RangeError", () => {
  assert.throws(() => startupFigures([]), RangeError);
});
