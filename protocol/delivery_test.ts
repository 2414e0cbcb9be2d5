import assert from "node:assert/strict";
import { FrameDecoder } from "./decoder.ts";
import { ChunkJoiner, encodeDelivery, splitPayload } from "./delivery.ts";
import { encodeFrame, type Frame } from "./frame.ts";
import { FrameError } from "./frame_error.ts";
import { FrameType } from "./frame_type.ts";
import { decodeTimed, encodeTimed } from "./timed.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function frames(bytes: Uint8Array, order: "be" | "le" = "be"): Frame[] {
  const out: Frame[] = [];
  new FrameDecoder({ order }).push(bytes, (f) => out.push(f));
  return out;
}

function bytesOf(size: number): Uint8Array {
  const payload = new Uint8Array(size);
  for (let i = 0; i < size; i++) payload[i] = 0x61 + (i % 26);
  return payload;
}

Deno.test("splitPayload() keeps a payload of at most 1000 bytes whole", () => {
  const payload = bytesOf(1000);
  const pieces = splitPayload(payload);
  assert.equal(pieces.length, 1);
  assert.equal(pieces[0], payload);
  assert.deepEqual(splitPayload(new Uint8Array(0)).map((p) => p.length), [0]);
});

Deno.test("splitPayload() cuts ASCII at exactly 1000 bytes", () => {
  assert.deepEqual(splitPayload(bytesOf(2500)).map((p) => p.length), [1000, 1000, 500]);
  assert.deepEqual(splitPayload(bytesOf(2000)).map((p) => p.length), [1000, 1000]);
});

Deno.test("splitPayload() never cuts inside a UTF-8 character", () => {
  // 1 + 3-byte characters: byte 1000 falls inside a character.
  const text = "a" + "€".repeat(700) + "😀".repeat(300);
  const payload = encoder.encode(text);
  const pieces = splitPayload(payload);
  const strict = new TextDecoder("utf-8", { fatal: true });
  for (const piece of pieces.slice(0, -1)) {
    assert.ok(piece.length <= 1000 && piece.length > 996);
    strict.decode(piece); // throws if a character was cut
  }
  assert.equal(pieces.map((p) => strict.decode(p)).join(""), text);
});

Deno.test("splitPayload() cuts bytes that are not UTF-8 at the maximum", () => {
  const payload = new Uint8Array(2100).fill(0x80);
  assert.deepEqual(splitPayload(payload).map((p) => p.length), [1000, 1000, 100]);
  assert.deepEqual(splitPayload(bytesOf(25), 10).map((p) => p.length), [10, 10, 5]);
  assert.throws(() => splitPayload(payload, 3), RangeError);
});

Deno.test("encodeDelivery() of a short message without TIMED is one encodeFrame()", () => {
  const m = { type: 0, id: 5, src: "alice", dst: "bob", payload: encoder.encode("hi") };
  assert.deepEqual(encodeDelivery(m, "be", { legacy: false, timed: false }), encodeFrame(m));
  assert.deepEqual(
    encodeDelivery({ ...m, sentAt: 1 }, "le", { legacy: false, timed: false }),
    encodeFrame(m, "le"),
  );
  assert.deepEqual(encodeDelivery(m, "be", { legacy: false, timed: true }), encodeFrame(m));
});

Deno.test("encodeDelivery() puts TIMED with the same id, src and dst first", () => {
  const at = Date.UTC(2026, 10, 22, 19, 0, 0);
  const m = { type: 2, id: 9, src: "alice", dst: "bob", payload: encoder.encode("hi"), sentAt: at };
  for (const order of ["be", "le"] as const) {
    const out = frames(encodeDelivery(m, order, { legacy: false, timed: true }), order);
    assert.equal(out.length, 2);
    assert.deepEqual(
      out.map((f) => [f.type, f.id, f.src, f.dst]),
      [[7, 9, "alice", "bob"], [2, 9, "alice", "bob"]],
    );
    assert.equal(decodeTimed(out[0]!.payload, order), at);
    assert.equal(decoder.decode(out[1]!.payload), "hi");
  }
});

Deno.test("encodeDelivery() sends a 2500-byte message as TIMED, two CHUNKs and the final frame", () => {
  const payload = bytesOf(2500);
  const m = { type: 0, id: 3, src: "alice", dst: "#dev", payload, sentAt: 1234 };
  const bytes = encodeDelivery(m, "be", { legacy: false, timed: true });
  assert.equal(bytes.length, 32 + 3 * 24 + 2500);
  const out = frames(bytes);
  assert.deepEqual(out.map((f) => f.type), [7, 9, 9, 0]);
  assert.deepEqual(out.map((f) => f.payload.length), [8, 1000, 1000, 500]);
  assert.ok(out.every((f) => f.id === 3 && f.src === "alice" && f.dst === "#dev"));
  const joiner = new ChunkJoiner();
  const joined = out.map((f) => joiner.push(f)).filter((f) => f !== undefined);
  assert.deepEqual(joined.map((f) => f.type), [7, 0]);
  assert.deepEqual(joined[1]!.payload, payload);
});

Deno.test("encodeDelivery() to a legacy recipient sends frames of the message's type, no TIMED", () => {
  const text = "ü".repeat(1200); // 2400 bytes
  const m = { type: 2, id: 4, src: "alice", dst: "bob", payload: encoder.encode(text), sentAt: 1 };
  const out = frames(encodeDelivery(m, "le", { legacy: true, timed: true }), "le");
  assert.deepEqual(out.map((f) => f.type), [2, 2, 2]);
  assert.deepEqual(out.map((f) => f.payload.length), [1000, 1000, 400]);
  assert.equal(out.map((f) => decoder.decode(f.payload)).join(""), text);
});

Deno.test("ChunkJoiner.push() passes other frames through unchanged", () => {
  const joiner = new ChunkJoiner();
  const ack = {
    type: FrameType.ACK,
    id: 1,
    src: "bob",
    dst: "alice",
    payload: encoder.encode("200"),
  };
  assert.equal(joiner.push(ack), ack);
  joiner.push({ ...ack, type: FrameType.CHUNK, payload: bytesOf(10) });
  // An ACK with the key of an open message is not its final frame.
  assert.equal(joiner.push(ack), ack);
  assert.equal(joiner.held, 10);
  const msg = { ...ack, type: FrameType.MSG, id: 2, payload: encoder.encode("x") };
  assert.equal(joiner.push(msg), msg);
});

Deno.test("ChunkJoiner.push() joins interleaved messages by id, src and dst", () => {
  const joiner = new ChunkJoiner();
  const a = {
    type: FrameType.CHUNK,
    id: 1,
    src: "alice",
    dst: "bob",
    payload: encoder.encode("a1"),
  };
  const b = { ...a, src: "carol", payload: encoder.encode("b1") };
  assert.equal(joiner.push(a), undefined);
  assert.equal(joiner.push(b), undefined);
  const endB = joiner.push({ ...b, type: FrameType.OFFLINE, payload: encoder.encode("b2") });
  const endA = joiner.push({ ...a, type: FrameType.MSG, payload: encoder.encode("a2") });
  assert.equal(decoder.decode(endA!.payload), "a1a2");
  assert.equal(endA!.type, FrameType.MSG);
  assert.equal(decoder.decode(endB!.payload), "b1b2");
  assert.equal(endB!.type, FrameType.OFFLINE);
  assert.equal(joiner.held, 0);
});

Deno.test("ChunkJoiner.push() copies pieces, so readers may reuse their buffers", () => {
  const joiner = new ChunkJoiner();
  const buffer = encoder.encode("abc");
  joiner.push({ type: FrameType.CHUNK, id: 1, src: "a", dst: "b", payload: buffer });
  buffer.fill(0x7a);
  const out = joiner.push({ type: FrameType.MSG, id: 1, src: "a", dst: "b", payload: buffer });
  assert.equal(decoder.decode(out!.payload), "abczzz");
});

Deno.test("ChunkJoiner.push() throws FrameError 413 beyond maxBytes and forgets the message", () => {
  const joiner = new ChunkJoiner({ maxBytes: 2500 });
  const chunk = { type: FrameType.CHUNK, id: 8, src: "a", dst: "b", payload: bytesOf(1000) };
  joiner.push(chunk);
  joiner.push(chunk);
  assert.throws(
    () => joiner.push(chunk),
    (e) => e instanceof FrameError && e.code === "413" && /3000 bytes exceed 2500/.test(e.message),
  );
  assert.equal(joiner.held, 0);
  joiner.push(chunk);
  joiner.clear();
  assert.equal(joiner.held, 0);
});

Deno.test("encodeDelivery() writes the bytes encodeFrame() would, frame by frame", () => {
  const payload = encoder.encode("ö".repeat(1300)); // 2600 bytes
  const sentAt = 2 ** 40 + 12345;
  for (const order of ["be", "le"] as const) {
    for (const legacy of [false, true]) {
      const m = { type: 2, id: 0xfffffffe, src: "änne", dst: "bob", payload, sentAt };
      const base = { id: m.id, src: m.src, dst: m.dst };
      const pieces = splitPayload(payload);
      const expected = [
        ...(legacy ? [] : [{ ...base, type: 7, payload: encodeTimed(sentAt, order) }]),
        ...pieces.map((piece, i) => ({
          ...base,
          type: legacy || i === pieces.length - 1 ? 2 : 9,
          payload: piece,
        })),
      ].map((f) => [...encodeFrame(f, order)]).flat();
      assert.deepEqual([...encodeDelivery(m, order, { legacy, timed: true })], expected);
    }
  }
});

Deno.test("ChunkJoiner.push() throws FrameError 400 beyond maxOpen messages at once", () => {
  const joiner = new ChunkJoiner({ maxOpen: 2 });
  const chunk = (id: number) => ({ type: 9, id, src: "a", dst: "b", payload: bytesOf(1) });
  joiner.push(chunk(1));
  joiner.push(chunk(2));
  joiner.push(chunk(2));
  assert.throws(() => joiner.push(chunk(3)), (e) => e instanceof FrameError && e.code === "400");
  joiner.push({ ...chunk(1), type: 0 });
  assert.equal(joiner.push(chunk(3)), undefined);
  // Empty pieces keep nothing.
  for (let i = 0; i < 5; i++) joiner.push({ ...chunk(3), payload: new Uint8Array(0) });
  assert.equal(joiner.held, 3);
});
