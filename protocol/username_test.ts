import assert from "node:assert/strict";
import { FrameError } from "./frame_error.ts";
import {
  isRoom,
  isValidName,
  NameCache,
  nameProblem,
  readName,
  roomProblem,
  writeName,
} from "./username.ts";

const utf8 = (s: string) => new TextEncoder().encode(s);

Deno.test("nameProblem() accepts ASCII names of 1 to 8 bytes", () => {
  for (const name of ["a", "bob", "alice", "abcdefgh", "A-b_c.9", "x@y"]) {
    assert.equal(nameProblem(name), undefined, name);
    assert.ok(isValidName(name));
  }
});

Deno.test("nameProblem() rejects an empty name", () => {
  assert.equal(nameProblem(""), "is empty");
  assert.equal(isValidName(""), false);
});

Deno.test("nameProblem() rejects 9 bytes", () => {
  assert.match(nameProblem("abcdefghi")!, /9 bytes/);
  assert.match(nameProblem("ёжик1")!, /9 bytes/);
});

Deno.test("nameProblem() counts UTF-8 bytes, not characters: 8 bytes of Cyrillic pass", () => {
  assert.equal(utf8("ёжик").length, 8);
  assert.equal(nameProblem("ёжик"), undefined);
  assert.match(nameProblem("ёжики")!, /10 bytes/);
});

Deno.test("nameProblem() accepts emoji up to 8 bytes", () => {
  assert.equal(nameProblem("😀"), undefined);
  assert.equal(nameProblem("😀😀"), undefined);
  assert.match(nameProblem("😀😀a")!, /9 bytes/);
});

Deno.test("nameProblem() rejects whitespace", () => {
  for (const name of [" ", "a b", "a\tb", "a\n", "\u00a0x", "a\u2003b", "a\u2028", "\u3000"]) {
    assert.notEqual(nameProblem(name), undefined, JSON.stringify(name));
  }
});

Deno.test("nameProblem() rejects control characters and NUL", () => {
  for (const name of ["a\0b", "\x01", "a\x1b", "\x7f", "a\x85"]) {
    assert.notEqual(nameProblem(name), undefined, JSON.stringify(name));
  }
});

Deno.test("nameProblem() rejects a lone surrogate, which has no UTF-8 form", () => {
  assert.notEqual(nameProblem("a\ud800"), undefined);
  assert.notEqual(nameProblem("\udc00"), undefined);
});

Deno.test("writeName() pads with NUL and readName() reads it back", () => {
  const buffer = new Uint8Array(20).fill(0xaa);
  for (const name of ["", "bob", "abcdefgh", "ёжик", "ab€", "😀😀", "x"]) {
    writeName(buffer, 4, name);
    const bytes = utf8(name);
    assert.deepEqual([...buffer.subarray(4, 12)], [
      ...bytes,
      ...new Array(8 - bytes.length).fill(0),
    ]);
    assert.equal(buffer[3], 0xaa);
    assert.equal(buffer[12], 0xaa);
    assert.equal(readName(buffer, 4), name);
  }
});

Deno.test("writeName() throws RangeError for a name over 8 bytes", () => {
  assert.throws(() => writeName(new Uint8Array(8), 0, "ёжики"), RangeError);
});

Deno.test("readName() throws FrameError 400 for bytes that are not a name", () => {
  for (const bytes of [[0xff], [0xc3, 0x28], [0x61, 0x20], [0x01], [0xc2, 0xa0]]) {
    const field = new Uint8Array(8);
    field.set(bytes);
    assert.throws(
      () => readName(field, 0),
      (e: unknown) => e instanceof FrameError && e.code === "400",
    );
  }
});

Deno.test("nameProblem() accepts exactly the printable ASCII characters other than space", () => {
  for (let code = 0; code < 0x80; code++) {
    const name = `a${String.fromCharCode(code)}`;
    const plain = code > 0x20 && code < 0x7f;
    assert.equal(nameProblem(name) === undefined, plain, `0x${code.toString(16)}`);
  }
  assert.notEqual(nameProblem("abcdefghi"), undefined);
});

Deno.test("NameCache.read() gives what readName() gives, for fields differing in any byte", () => {
  const cache = new NameCache();
  const fields = ["alice", "alicf", "blice", "abcdefgh", "abcdefgi", "bob", "alice", "abcdefgh"];
  const source = new Uint8Array(8 + 8 * fields.length);
  fields.forEach((name, i) => writeName(source, 8 + 8 * i, name));
  for (let round = 0; round < 3; round++) {
    fields.forEach((name, i) => assert.equal(cache.read(source, 8 + 8 * i), name));
  }
});

Deno.test("NameCache.read() throws FrameError 400 for a bad field and keeps no answer for it", () => {
  const cache = new NameCache();
  const field = new Uint8Array(8);
  field.set([0x61, 0x20]);
  for (let i = 0; i < 2; i++) {
    assert.throws(
      () => cache.read(field, 0),
      (e: unknown) => e instanceof FrameError && e.code === "400",
    );
  }
});

Deno.test("nameProblem() rejects a leading # (a room's name)", () => {
  assert.match(nameProblem("#all")!, /room/);
  assert.match(nameProblem("#")!, /room/);
  assert.equal(nameProblem("a#b"), undefined);
});

Deno.test("roomProblem() accepts # and 1 to 7 more bytes", () => {
  for (const name of ["#a", "#all", "#dev", "#abcdefg", "#дев"]) {
    assert.equal(roomProblem(name), undefined, name);
    assert.ok(isRoom(name));
  }
});

Deno.test("roomProblem() rejects names without #, a bare #, 9 bytes and whitespace", () => {
  assert.match(roomProblem("dev")!, /does not start/);
  assert.match(roomProblem("")!, /does not start/);
  assert.match(roomProblem("#")!, /only/);
  assert.match(roomProblem("#abcdefgh")!, /9 bytes/);
  assert.match(roomProblem("#a b")!, /whitespace/);
  assert.equal(isRoom("alice"), false);
  assert.equal(isRoom(""), false);
});
