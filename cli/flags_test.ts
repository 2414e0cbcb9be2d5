import assert from "node:assert/strict";
import { parseSize } from "./flags.ts";
import { UsageError } from "./usage_error.ts";

Deno.test("parseSize() reads bytes and binary units", () => {
  assert.equal(parseSize("s", "4096"), 4096);
  assert.equal(parseSize("s", "500k"), 500 * 1024);
  assert.equal(parseSize("s", "64MiB"), 64 * 1024 * 1024);
  assert.equal(parseSize("s", "64M"), 64 * 1024 * 1024);
  assert.equal(parseSize("s", "1.5GB"), 1.5 * 1024 ** 3);
  assert.equal(parseSize("s", "10b"), 10);
});

Deno.test("parseSize() rejects what is not a size with a one-line UsageError", () => {
  for (const text of ["", "k", "12 parsecs", "-1", "0", "1e6"]) {
    assert.throws(() => parseSize("max-queue-bytes", text), UsageError, text);
  }
  assert.throws(() => parseSize("max-queue-bytes", "x"), /--max-queue-bytes: "x" is not a size/);
});
