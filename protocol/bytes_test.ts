import assert from "node:assert/strict";
import { concatBytes } from "./bytes.ts";

Deno.test("concatBytes() joins in order into a new buffer, with or without the total", () => {
  const a = new Uint8Array([1, 2]);
  const b = new Uint8Array([3]);
  assert.deepEqual(concatBytes([a, b]), new Uint8Array([1, 2, 3]));
  assert.deepEqual(concatBytes([a, b], 3), new Uint8Array([1, 2, 3]));
  const one = concatBytes([a]);
  assert.deepEqual(one, a);
  assert.notEqual(one.buffer, a.buffer);
  assert.deepEqual(concatBytes([]), new Uint8Array());
});
