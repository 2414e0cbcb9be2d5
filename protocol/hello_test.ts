import assert from "node:assert/strict";
import { decodeHelloOptions, encodeHelloOptions } from "./hello.ts";

Deno.test("decodeHelloOptions() reads bare keys and key=value lines", () => {
  const options = decodeHelloOptions(new TextEncoder().encode("timed\nclient=tinychat 0.1\n\n"));
  assert.deepEqual([...options], [["timed", ""], ["client", "tinychat 0.1"]]);
});

Deno.test("decodeHelloOptions() reads an empty payload as no options", () => {
  assert.equal(decodeHelloOptions(new Uint8Array()).size, 0);
});

Deno.test("encodeHelloOptions() round-trips through decodeHelloOptions()", () => {
  const options: [string, string][] = [["timed", ""], ["a", "b=c"]];
  assert.deepEqual([...decodeHelloOptions(encodeHelloOptions(options))], options);
});
