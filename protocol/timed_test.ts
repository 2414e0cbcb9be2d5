import assert from "node:assert/strict";
import { FrameError } from "./frame_error.ts";
import { decodeTimed, encodeTimed } from "./timed.ts";

Deno.test("encodeTimed() writes ms since the epoch as a big-endian u64", () => {
  assert.deepEqual([...encodeTimed(0x0102030405)], [0, 0, 0, 1, 2, 3, 4, 5]);
  assert.deepEqual([...encodeTimed(0x0102030405, "le")], [5, 4, 3, 2, 1, 0, 0, 0]);
});

Deno.test("decodeTimed() reads what encodeTimed() wrote in either byte order", () => {
  const at = Date.UTC(2026, 10, 22, 16, 52, 3, 456);
  assert.equal(decodeTimed(encodeTimed(at)), at);
  assert.equal(decodeTimed(encodeTimed(at, "le"), "le"), at);
});

Deno.test("decodeTimed() rejects a payload that is not 8 bytes with 400", () => {
  assert.throws(
    () => decodeTimed(new Uint8Array(7)),
    (e) => e instanceof FrameError && e.code === "400",
  );
});
