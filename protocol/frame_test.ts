import assert from "node:assert/strict";
import { FrameError } from "./frame_error.ts";
import {
  decodeFrame,
  detectByteOrder,
  encodeFrame,
  type Frame,
  HEADER_SIZE,
  writeFrame,
} from "./frame.ts";

/** Bytes from hex written by hand: whitespace and "|" separate fields. */
function hex(text: string): Uint8Array {
  const digits = text.replace(/[\s|]/g, "");
  const bytes = new Uint8Array(digits.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

const text = (s: string) => new TextEncoder().encode(s);

function assertFrame(actual: Frame, expected: Frame): void {
  assert.deepEqual(
    { ...actual, payload: [...actual.payload] },
    { ...expected, payload: [...expected.payload] },
  );
}

function assertFrameError(fn: () => unknown, code: "400" | "413", message?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof FrameError, `expected FrameError, got ${error}`);
    assert.equal(error.code, code);
    if (message !== undefined) assert.match(error.message, message);
    return true;
  });
}

// MSG alice -> bob, id 1, "hi".
const msg: Frame = { type: 0, id: 1, src: "alice", dst: "bob", payload: text("hi") };
const msgBe = hex(`
  001a | 0000 | 00000001
  616c696365000000
  626f620000000000
  6869`);
const msgLe = hex(`
  1a00 | 0000 | 01000000
  616c696365000000
  626f620000000000
  6869`);

// ACK bob -> alice about id 0x01020304, "200".
const ack: Frame = { type: 1, id: 0x01020304, src: "bob", dst: "alice", payload: text("200") };
const ackBe = hex(`
  001b | 0001 | 01020304
  626f620000000000
  616c696365000000
  323030`);
const ackLe = hex(`
  1b00 | 0100 | 04030201
  626f620000000000
  616c696365000000
  323030`);

// HELLO from "ёжик" (8 bytes of UTF-8), id 0xfffffffe, empty payload.
const hello: Frame = { type: 3, id: 0xfffffffe, src: "ёжик", dst: "", payload: new Uint8Array() };
const helloBe = hex(`
  0018 | 0003 | fffffffe
  d191d0b6d0b8d0ba
  0000000000000000`);
const helloLe = hex(`
  1800 | 0300 | feffffff
  d191d0b6d0b8d0ba
  0000000000000000`);

const golden: [string, Frame, Uint8Array, Uint8Array][] = [
  ["MSG", msg, msgBe, msgLe],
  ["ACK", ack, ackBe, ackLe],
  ["HELLO", hello, helloBe, helloLe],
];

for (const [name, frame, be, le] of golden) {
  Deno.test(`encodeFrame() writes a ${name} frame big-endian byte for byte`, () => {
    assert.deepEqual(encodeFrame(frame), be);
    assert.deepEqual(encodeFrame(frame, "be"), be);
  });

  Deno.test(`encodeFrame() writes a ${name} frame little-endian byte for byte`, () => {
    assert.deepEqual(encodeFrame(frame, "le"), le);
  });

  Deno.test(`decodeFrame() reads a big-endian ${name} frame`, () => {
    assertFrame(decodeFrame(be), frame);
    assertFrame(decodeFrame(be, "be"), frame);
  });

  Deno.test(`decodeFrame() reads a little-endian ${name} frame`, () => {
    assertFrame(decodeFrame(le, "le"), frame);
  });
}

Deno.test("decodeFrame() reads a frame inside a larger buffer at an offset", () => {
  const buffer = new Uint8Array(100);
  buffer.set(ackBe, 37);
  assertFrame(decodeFrame(buffer.subarray(37, 37 + ackBe.length)), ack);
});

Deno.test("decodeFrame() takes a name up to its first NUL", () => {
  const bytes = msgBe.slice();
  bytes.set(hex("626f6200ffff2020"), 16); // "bob", NUL, then junk that is ignored
  assert.equal(decodeFrame(bytes).dst, "bob");
});

Deno.test("encodeFrame() and decodeFrame() round-trip the largest frame and id", () => {
  const payload = new Uint8Array(1000).map((_, i) => i % 251);
  const frame: Frame = { type: 15, id: 0xffffffff, src: "abcdefgh", dst: "😀😀", payload };
  for (const order of ["be", "le"] as const) {
    const bytes = encodeFrame(frame, order);
    assert.equal(bytes.length, 1024);
    assertFrame(decodeFrame(bytes, order), frame);
  }
});

Deno.test("encodeFrame() rejects a payload over 1000 bytes with RangeError", () => {
  assert.throws(
    () => encodeFrame({ ...msg, payload: new Uint8Array(1001) }),
    RangeError,
  );
});

Deno.test("encodeFrame() rejects a name over 8 bytes with RangeError", () => {
  assert.throws(() => encodeFrame({ ...msg, src: "ёжики" }), RangeError);
});

Deno.test("decodeFrame() rejects length 1025 with code 413", () => {
  const bytes = new Uint8Array(1025);
  bytes.set(hex("0401 0000"));
  assertFrameError(() => decodeFrame(bytes), "413", /1025/);
});

Deno.test("decodeFrame() rejects length 23 with code 400", () => {
  const bytes = msgBe.slice(0, 24);
  bytes.set(hex("0017"));
  assertFrameError(() => decodeFrame(bytes), "400", /23/);
});

Deno.test("decodeFrame() rejects fewer than 24 bytes with code 400", () => {
  assertFrameError(() => decodeFrame(msgBe.subarray(0, 23)), "400");
});

Deno.test("decodeFrame() rejects a length field that disagrees with the bytes with code 400", () => {
  assertFrameError(() => decodeFrame(msgBe.subarray(0, 25)), "400", /26/);
});

Deno.test("decodeFrame() rejects unknown type 16 with code 400", () => {
  const bytes = msgBe.slice();
  bytes.set(hex("0010"), 2);
  assertFrameError(() => decodeFrame(bytes), "400", /type 16/);
});

Deno.test("decodeFrame() accepts reserved type 15", () => {
  const bytes = msgBe.slice();
  bytes.set(hex("000f"), 2);
  assert.equal(decodeFrame(bytes).type, 15);
});

Deno.test("decodeFrame() rejects a name that is not UTF-8 with code 400", () => {
  const bytes = msgBe.slice();
  bytes.set(hex("c328"), 8); // a lead byte followed by a non-continuation byte
  assertFrameError(() => decodeFrame(bytes), "400", /UTF-8/);
});

Deno.test("decodeFrame() rejects a control character in a name with code 400", () => {
  const bytes = msgBe.slice();
  bytes.set(hex("61 01 62"), 8);
  assertFrameError(() => decodeFrame(bytes), "400");
  bytes.set(hex("61 7f 62"), 8); // DEL
  assertFrameError(() => decodeFrame(bytes), "400");
});

Deno.test("decodeFrame() rejects a space in a name with code 400", () => {
  const bytes = msgBe.slice();
  bytes.set(hex("61 20 62"), 16);
  assertFrameError(() => decodeFrame(bytes), "400");
  bytes.set(hex("61 c2a0 62"), 16); // NO-BREAK SPACE
  assertFrameError(() => decodeFrame(bytes), "400");
});

Deno.test("detectByteOrder() picks big-endian when only that reading is plausible", () => {
  assert.equal(detectByteOrder(msgBe), "be");
  assert.equal(detectByteOrder(ackBe), "be");
  assert.equal(detectByteOrder(helloBe), "be");
  assert.equal(detectByteOrder(hex("0400 000f")), "be"); // 1024, type 15
});

Deno.test("detectByteOrder() picks little-endian when only that reading is plausible", () => {
  assert.equal(detectByteOrder(msgLe), "le");
  assert.equal(detectByteOrder(ackLe), "le");
  assert.equal(detectByteOrder(helloLe), "le");
  assert.equal(detectByteOrder(hex("0004 0f00")), "le"); // 1024, type 15
});

Deno.test("detectByteOrder() picks little-endian (the seed client's) when both readings are plausible", () => {
  // Type 0, bytes 01 02: 258 big-endian, 513 little-endian.
  assert.equal(detectByteOrder(hex("0102 0000")), "le");
  assert.equal(detectByteOrder(hex("0301 0000")), "le"); // 769 / 259
  assert.equal(detectByteOrder(hex("0303 0000")), "le"); // 771 / 771
});

Deno.test("detectByteOrder() is not ambiguous when a length byte is 4: 01 04 is 260, not 1025", () => {
  assert.equal(detectByteOrder(hex("0104 0000")), "be");
  assert.equal(detectByteOrder(hex("0401 0000")), "le");
});

Deno.test("detectByteOrder() throws FrameError when neither reading is plausible", () => {
  assertFrameError(() => detectByteOrder(hex("0005 0000")), "400"); // 5 / 1280
  assertFrameError(() => detectByteOrder(hex("ffff 0000")), "413"); // 65535 / 65535
  assertFrameError(() => detectByteOrder(hex("0020 0020")), "400", /type/); // type 32 / 8192
  assertFrameError(() => detectByteOrder(hex("0401 0001")), "413"); // 1025 / type 256
});

Deno.test("detectByteOrder() needs four bytes", () => {
  assert.throws(() => detectByteOrder(hex("001a00")), RangeError);
});

Deno.test("writeFrame() writes into a view what encodeFrame() returns, in both byte orders", () => {
  const frame = { type: 1, id: 0x01020304, src: "alice", dst: "bob", payload: new Uint8Array([9]) };
  for (const order of ["be", "le"] as const) {
    const slab = new Uint8Array(100).fill(0xee);
    const view = slab.subarray(10, 10 + HEADER_SIZE + 1);
    assert.equal(writeFrame(view, frame, order), view);
    assert.deepEqual(view, encodeFrame(frame, order));
    assert.equal(slab[9], 0xee);
    assert.equal(slab[10 + HEADER_SIZE + 1], 0xee);
  }
  assert.throws(() => writeFrame(new Uint8Array(HEADER_SIZE), frame), RangeError);
});
