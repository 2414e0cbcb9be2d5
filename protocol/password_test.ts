import assert from "node:assert/strict";
import { MAX_PASSWORD_BYTES, passwordProblem } from "./password.ts";

Deno.test("passwordProblem() accepts 1..256 bytes of UTF-8 with spaces and symbols", () => {
  for (const ok of ["x", "correct horse battery", "pässwörd ёжик 😀", "a".repeat(256), " =$ "]) {
    assert.equal(passwordProblem(ok), undefined, ok);
  }
});

Deno.test("passwordProblem() refuses empty, too long, and line breaks or NUL", () => {
  assert.equal(passwordProblem(""), "is empty");
  assert.match(passwordProblem("a".repeat(MAX_PASSWORD_BYTES + 1))!, /257 bytes/);
  assert.match(passwordProblem("ё".repeat(129))!, /258 bytes/);
  for (const bad of ["a\nb", "a\rb", "a\0b"]) assert.match(passwordProblem(bad)!, /line break/);
});
