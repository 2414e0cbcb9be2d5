import assert from "node:assert/strict";
import { type DecodedFrame, FrameDecoder } from "./decoder.ts";
import { FrameError } from "./frame_error.ts";
import { type ByteOrder, encodeFrame, type Frame } from "./frame.ts";

const text = (s: string) => new TextEncoder().encode(s);

function frame(id: number, payload = `message ${id}`, type = 0): Frame {
  return { type, id, src: "alice", dst: "bob", payload: text(payload) };
}

/** The frame's bytes as received. */
function rawOf(f: DecodedFrame): Uint8Array {
  return f.bytes.subarray(f.at, f.at + f.size);
}

function summary(f: Frame): [number, number, string, string, string] {
  return [f.type, f.id, f.src, f.dst, new TextDecoder().decode(f.payload)];
}

/** The frames `decoder` hands over for `chunk`, in order. */
function framesOf(decoder: FrameDecoder, chunk: Uint8Array): DecodedFrame[] {
  const frames: DecodedFrame[] = [];
  decoder.push(chunk, (f) => frames.push(f));
  return frames;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Pushes `chunks` in turn; returns the frames and the error that ended them, if any. */
function feed(
  decoder: FrameDecoder,
  chunks: Uint8Array[],
): { frames: DecodedFrame[]; error: unknown } {
  const frames: DecodedFrame[] = [];
  try {
    for (const chunk of chunks) decoder.push(chunk, (f) => frames.push(f));
  } catch (error) {
    return { frames, error };
  }
  return { frames, error: undefined };
}

function bytewise(bytes: Uint8Array): Uint8Array[] {
  return [...bytes].map((b) => Uint8Array.of(b));
}

function assertFrameError(error: unknown, code: "400" | "413"): void {
  assert.ok(error instanceof FrameError, `expected FrameError, got ${error}`);
  assert.equal(error.code, code);
}

for (const order of ["be", "le"] as const satisfies ByteOrder[]) {
  Deno.test(`FrameDecoder.push() hands over frames fed one byte at a time (${order})`, () => {
    const frames = [frame(0, ""), frame(1), frame(2, "x".repeat(1000))];
    const bytes = concat(...frames.map((f) => encodeFrame(f, order)));
    const decoder = new FrameDecoder();
    const got: DecodedFrame[] = [];
    for (const [i, chunk] of bytewise(bytes).entries()) {
      const out = framesOf(decoder, chunk);
      got.push(...out);
      // A frame comes out exactly at its last byte, never earlier.
      const ends = [24, 24 + 33, bytes.length];
      assert.equal(out.length, ends.includes(i + 1) ? 1 : 0, `after byte ${i + 1}`);
    }
    assert.deepEqual(got.map(summary), frames.map(summary));
    assert.equal(decoder.order, order);
    assert.equal(decoder.buffered, 0);
  });
}

Deno.test("FrameDecoder.push() hands over a frame split across three chunks", () => {
  const bytes = encodeFrame(frame(7, "split me"));
  const decoder = new FrameDecoder();
  assert.deepEqual(framesOf(decoder, bytes.subarray(0, 3)), []);
  assert.equal(decoder.buffered, 3);
  assert.deepEqual(framesOf(decoder, bytes.subarray(3, 20)), []);
  assert.equal(decoder.buffered, 20);
  const out = framesOf(decoder, bytes.subarray(20));
  assert.deepEqual(out.map(summary), [summary(frame(7, "split me"))]);
  assert.deepEqual(rawOf(out[0]!), bytes);
  assert.equal(decoder.buffered, 0);
});

Deno.test("FrameDecoder.push() hands over many frames from one chunk in order", () => {
  const frames = Array.from({ length: 40 }, (_, i) => frame(i, "p".repeat(i * 7)));
  const bytes = concat(...frames.map((f) => encodeFrame(f)));
  const out = framesOf(new FrameDecoder(), bytes);
  assert.deepEqual(out.map(summary), frames.map(summary));
});

Deno.test("FrameDecoder.push() keeps a partial frame at the end of a chunk for the next", () => {
  const a = encodeFrame(frame(1));
  const b = encodeFrame(frame(2));
  const c = encodeFrame(frame(3));
  const bytes = concat(a, b, c);
  const decoder = new FrameDecoder();
  const cut = a.length + 10; // inside b's header
  const first = framesOf(decoder, bytes.subarray(0, cut));
  assert.deepEqual(first.map((f) => f.id), [1]);
  const rest = framesOf(decoder, bytes.subarray(cut));
  assert.deepEqual(rest.map((f) => f.id), [2, 3]);
});

Deno.test("FrameDecoder.push() gives each frame its own raw bytes, safe from chunk reuse", () => {
  const bytes = concat(encodeFrame(frame(1)), encodeFrame(frame(2)));
  const chunk = bytes.slice();
  const out = framesOf(new FrameDecoder(), chunk);
  chunk.fill(0xee);
  assert.deepEqual(out.map(summary), [summary(frame(1)), summary(frame(2))]);
  assert.deepEqual(rawOf(out[1]!), encodeFrame(frame(2)));
});

Deno.test("FrameDecoder.push() keeps raw bytes in the sender's byte order", () => {
  const le = encodeFrame(frame(5), "le");
  const [out] = framesOf(new FrameDecoder(), le);
  assert.deepEqual(rawOf(out!), le);
  assert.deepEqual(summary(out!), summary(frame(5)));
});

Deno.test("FrameDecoder.push() hands over the frames before garbage, then throws FrameError", () => {
  const good = concat(encodeFrame(frame(1)), encodeFrame(frame(2)));
  const garbage = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4);
  const bytes = concat(good, garbage);
  for (const chunks of [[bytes], bytewise(bytes)]) {
    const { frames, error } = feed(new FrameDecoder(), chunks);
    assert.deepEqual(frames.map((f) => f.id), [1, 2]);
    assertFrameError(error, "413");
  }
});

Deno.test("FrameDecoder.push() rejects length 1025 with code 413 before waiting for it", () => {
  const head = Uint8Array.of(0x04, 0x01, 0x00, 0x01); // 1025, type 1, big-endian
  const { frames, error } = feed(new FrameDecoder(), [head]);
  assert.deepEqual(frames, []);
  assertFrameError(error, "413");
  // Once the order is known, any type: a type-0 header of 1025 on a big-endian peer.
  const decoder = new FrameDecoder({ order: "be" });
  const after = feed(decoder, [encodeFrame(frame(1)), Uint8Array.of(0x04, 0x01, 0, 0)]);
  assert.deepEqual(after.frames.map((f) => f.id), [1]);
  assertFrameError(after.error, "413");
});

Deno.test("FrameDecoder.push() rejects length 23 with code 400", () => {
  const bytes = encodeFrame(frame(1));
  bytes.set([0x00, 0x17]);
  const { error } = feed(new FrameDecoder({ order: "be" }), [bytes]);
  assertFrameError(error, "400");
  const second = feed(new FrameDecoder(), [encodeFrame(frame(1)), bytes]);
  assert.deepEqual(second.frames.map((f) => f.id), [1]);
  assertFrameError(second.error, "400");
});

Deno.test("FrameDecoder.push() rejects unknown type 16 with code 400", () => {
  const bytes = encodeFrame(frame(1));
  bytes.set([0x00, 0x10], 2);
  assertFrameError(feed(new FrameDecoder(), [bytes]).error, "400");
  const later = feed(new FrameDecoder(), bytewise(concat(encodeFrame(frame(0)), bytes)));
  assert.deepEqual(later.frames.map((f) => f.id), [0]);
  assertFrameError(later.error, "400");
});

Deno.test("FrameDecoder.push() rejects a bad name with code 400", () => {
  const cases: [string, number[]][] = [
    ["not UTF-8", [0xff, 0xfe]],
    ["control character", [0x61, 0x09, 0x62]],
    ["space", [0x61, 0x20, 0x62]],
  ];
  for (const [what, name] of cases) {
    const bytes = encodeFrame(frame(1));
    bytes.fill(0, 8, 16);
    bytes.set(name, 8);
    const { frames, error } = feed(new FrameDecoder(), [encodeFrame(frame(0)), bytes]);
    assert.deepEqual(frames.map((f) => f.id), [0], what);
    assertFrameError(error, "400");
  }
});

Deno.test("FrameDecoder.order is detected from the first frame and then kept", () => {
  const decoder = new FrameDecoder();
  assert.equal(decoder.order, undefined);
  framesOf(decoder, encodeFrame(frame(1), "le"));
  assert.equal(decoder.order, "le");
  // A later frame is read little-endian even when a big-endian reading would also be plausible.
  const out = framesOf(decoder, encodeFrame(frame(2, "x".repeat(258 - 24)), "le"));
  assert.deepEqual(out.map(summary), [summary(frame(2, "x".repeat(258 - 24)))]);
});

Deno.test("FrameDecoder.order picks little-endian for the ambiguous type-0 length bytes 01 02", () => {
  // 513 bytes little-endian: the same first bytes as a 258-byte big-endian frame.
  const bytes = encodeFrame(frame(1, "y".repeat(513 - 24)), "le");
  assert.deepEqual([...bytes.subarray(0, 4)], [0x01, 0x02, 0x00, 0x00]);
  const decoder = new FrameDecoder();
  const out = framesOf(decoder, bytes);
  assert.equal(decoder.order, "le");
  assert.deepEqual(out.map((f) => f.payload.length), [489]);
});

Deno.test("FrameDecoder honours an order given in its options", () => {
  const decoder = new FrameDecoder({ order: "le" });
  assert.equal(decoder.order, "le");
  const bytes = encodeFrame(frame(3, "z".repeat(258 - 24)), "le");
  assert.deepEqual(framesOf(decoder, bytes).map((f) => f.id), [3]);
});

Deno.test("FrameDecoder.push() buffers at most one frame", () => {
  const decoder = new FrameDecoder();
  const big = encodeFrame(frame(1, "x".repeat(1000)));
  framesOf(decoder, big.subarray(0, 1023));
  assert.equal(decoder.buffered, 1023);
  const out = framesOf(decoder, concat(big.subarray(1023), big.subarray(0, 5)));
  assert.equal(out.length, 1);
  assert.equal(decoder.buffered, 5);
});

Deno.test("FrameDecoder.push() reads names alike before and after its name cache is made", () => {
  const decoder = new FrameDecoder();
  const names = [["alice", "bob"], ["bob", "alice"], ["alice", "bob"], ["zoë", ""], ["x", "y"]];
  const frames = names.map(([src, dst], id) => encodeFrame({ ...frame(id), src: src!, dst: dst! }));
  const got = [...framesOf(decoder, concat(...frames)), ...framesOf(decoder, frames[0]!)];
  assert.deepEqual(got.map((f) => [f.src, f.dst]), [...names, ["alice", "bob"]]);
  assert.throws(
    () => framesOf(decoder, encodeFrame({ ...frame(9), src: "a b" })),
    (e: unknown) => e instanceof FrameError && e.code === "400",
  );
});

Deno.test("FrameDecoder.push() gives a split frame a buffer of exactly its size, and keeps none", () => {
  const decoder = new FrameDecoder({ views: true });
  const bytes = encodeFrame(frame(1, "x".repeat(100)));
  for (const cut of [1, 3, 4, 5, 30, bytes.length - 1]) {
    const got = [
      ...framesOf(decoder, bytes.subarray(0, cut)),
      ...framesOf(decoder, bytes.subarray(cut)),
    ];
    assert.equal(got.length, 1, `cut at ${cut}`);
    assert.deepEqual(rawOf(got[0]!), bytes);
    assert.equal(rawOf(got[0]!).buffer.byteLength, bytes.length, `cut at ${cut}: its own buffer`);
    assert.equal(decoder.buffered, 0);
  }
});
