import assert from "node:assert/strict";
import { Code, codePayload, isCodePayload, readCode } from "./code.ts";

const ascii = (s: string) => new TextEncoder().encode(s);

Deno.test('readCode() reads up to the first NUL: "200\\0garbage" is "200"', () => {
  assert.equal(readCode(ascii("200\0garbage")), "200");
  assert.equal(readCode(Uint8Array.of(0x33, 0x30, 0x30, 0, 0xff, 0xfe)), "300");
});

Deno.test("readCode() reads the whole payload when there is no NUL", () => {
  assert.equal(readCode(ascii("404")), "404");
  assert.equal(readCode(new Uint8Array()), "");
  assert.equal(readCode(Uint8Array.of(0)), "");
});

Deno.test("readCode() reads at most 16 bytes", () => {
  assert.equal(readCode(ascii("x".repeat(1000))), "x".repeat(16));
});

Deno.test("isCodePayload() is true only for exactly the code's bytes", () => {
  assert.equal(isCodePayload(ascii("200"), "200"), true);
  assert.equal(isCodePayload(ascii("300"), "200"), false);
  assert.equal(isCodePayload(ascii("200\0"), "200"), false);
  assert.equal(isCodePayload(ascii("20"), "200"), false);
  assert.equal(isCodePayload(new Uint8Array(), ""), true);
  // A payload inside a frame's bytes, by its range.
  assert.equal(isCodePayload(ascii("xx200y"), "200", 2, 5), true);
  assert.equal(isCodePayload(ascii("xx200y"), "200", 2, 6), false);
});

Deno.test("codePayload() gives the ASCII bytes of a code", () => {
  for (const code of Object.values(Code)) {
    assert.deepEqual(codePayload(code), ascii(code));
    assert.equal(readCode(codePayload(code)), code);
  }
});

Deno.test("Code holds the wire codes of protocol v1", () => {
  assert.deepEqual(Object.values(Code).sort(), [
    "200",
    "300",
    "400",
    "401",
    "403",
    "404",
    "408",
    "409",
    "413",
    "421",
    "423",
    "429",
    "440",
    "500",
    "501",
    "503",
    "507",
  ]);
});
