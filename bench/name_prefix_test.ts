import assert from "node:assert/strict";
import { namePrefix } from "./name_prefix.ts";

Deno.test("namePrefix() returns two lowercase letters and never one already taken", () => {
  const taken = new Set<string>();
  for (let i = 0; i < 26 * 26; i++) {
    const prefix = namePrefix(taken);
    assert.match(prefix, /^[a-z]{2}$/);
    assert.equal(taken.size, i + 1, `${prefix} was handed out twice`);
  }
});

Deno.test("namePrefix() throws a RangeError when all 676 prefixes are taken", () => {
  const taken = new Set<string>();
  for (let i = 0; i < 26 * 26; i++) namePrefix(taken);
  assert.throws(() => namePrefix(taken), RangeError);
});

Deno.test("namePrefix() leaves room for the longest user name within 8 bytes", () => {
  // Idle names: PREFIX "i" INDEX, with up to 60,000 connections.
  const longest = `${namePrefix(new Set())}i59999`;
  assert.ok(new TextEncoder().encode(longest).length <= 8);
});
