import assert from "node:assert/strict";
import { benchPayload, PAYLOAD_SIZE } from "./payload.ts";

Deno.test("benchPayload() is PAYLOAD_SIZE bytes of the alphabet, repeated", () => {
  const payload = benchPayload();
  assert.equal(payload.length, PAYLOAD_SIZE);
  const text = new TextDecoder().decode(payload);
  assert.ok(text.startsWith("abcdefghijklmnopqrstuvwxyzabc"));
  assert.equal(text[PAYLOAD_SIZE - 1], "abcdefghijklmnopqrstuvwxyz"[(PAYLOAD_SIZE - 1) % 26]);
});
