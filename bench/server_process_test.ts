import assert from "node:assert/strict";
import { parseListening } from "./server_process.ts";

Deno.test("parseListening() reads host and port of the listening line", () => {
  assert.deepEqual(parseListening("listening 127.0.0.1:40123\n"), ["127.0.0.1", 40123]);
});

Deno.test("parseListening() finds the line among others and unbrackets an IPv6 host", () => {
  const stdout = "tinychat 0.1.0\nlistening [::1]:9000\nsomething else\n";
  assert.deepEqual(parseListening(stdout), ["::1", 9000]);
});

Deno.test("parseListening() returns undefined until the listening line arrives", () => {
  assert.equal(parseListening(""), undefined);
  assert.equal(parseListening("starting\n"), undefined);
  assert.equal(parseListening("listening on 9000\n"), undefined);
});
