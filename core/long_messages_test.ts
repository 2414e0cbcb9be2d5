import assert from "node:assert/strict";
import {
  decodeTimed,
  encodeDelivery,
  encodeFrame,
  type Frame,
  FrameDecoder,
  FrameType,
  splitPayload,
} from "../protocol/mod.ts";
import { LongMessages } from "./long_messages.ts";
import type { ConnId } from "./server_core.ts";
import { CoreHarness } from "./_harness.ts";

const utf8 = new TextEncoder();
const text = new TextDecoder();

/** A payload of `size` bytes of letters, so that pieces are easy to tell apart. */
function letters(size: number, from = 0): Uint8Array {
  const payload = new Uint8Array(size);
  for (let i = 0; i < size; i++) payload[i] = 0x61 + ((i + from) % 26);
  return payload;
}

/** The core harness with whole messages, `Frame`s from `take` and logins that say HELLO options. */
class Harness extends CoreHarness {
  /** Sends the frames of a whole message from `conn`, as a client would. */
  message(conn: ConnId, src: string, dst: string, id: number, payload: Uint8Array, now = 0) {
    const bytes = encodeDelivery({ type: FrameType.MSG, id, src, dst, payload }, "be", {
      legacy: false,
      timed: false,
    });
    new FrameDecoder({ order: "be" }).push(bytes, (f) => this.frame(conn, f, now));
  }

  /** Logs `name` in on `conn`; returns what came after the "200". */
  login(conn: ConnId, name: string, hello = "", now = 0): Frame[] {
    this.open(conn, now);
    this.frame(conn, { type: 3, id: 0, src: name, dst: "", payload: utf8.encode(hello) }, now);
    this.core.commit(now);
    const [answer, ...rest] = this.take(conn);
    assert.equal(answer?.type, FrameType.ACK);
    assert.equal(text.decode(answer.payload), "200");
    return rest;
  }

  ack(conn: ConnId, src: string, dst: string, id: number, now = 0): void {
    this.frame(conn, { type: 1, id, src, dst, payload: utf8.encode("200") }, now);
  }

  take(conn: ConnId): Frame[] {
    return this.frames(conn);
  }

  get closed(): ConnId[] {
    return this.outbox.closed;
  }

  /** How many `send` calls went to `conn` so far. */
  sends(conn: ConnId): number {
    return this.sent.filter((s) => s.conn === conn).length;
  }
}

const types = (frames: Frame[]) => frames.map((f) => f.type);
const codes = (frames: Frame[]) =>
  frames.filter((f) => f.type === FrameType.ACK).map((f) => text.decode(f.payload));

Deno.test("LongMessages.final() joins CHUNK payloads before the final frame's", () => {
  const long = new LongMessages<string>(5000, {
    answer: () => assert.fail("no answer"),
    reject: () => assert.fail("no reject"),
    paced: () => true,
    log: () => {},
  });
  const base = { id: 1, src: "alice", dst: "bob" };
  const buffer = letters(1000);
  long.chunk("c1", { ...base, type: 9, payload: buffer }, 0);
  buffer.fill(0); // the pieces are copies
  long.chunk("c1", { ...base, type: 9, payload: letters(1000, 1000) }, 0);
  assert.equal(long.size, 1);
  const whole = long.final("c1", { ...base, type: 0, payload: letters(10, 2000) }, 0);
  assert.deepEqual(whole?.payload, letters(2010));
  assert.equal(long.size, 0);
  const short = { ...base, type: 0, payload: letters(5) };
  assert.equal(long.final("c1", short, 0), short);
  long.chunk("c2", { ...base, type: 9, payload: letters(5) }, 0);
  long.forget("c2");
  assert.equal(long.size, 0);
  const host = { answer() {}, reject() {}, paced: () => true, log() {} };
  assert.throws(() => new LongMessages(0, host), RangeError);
  assert.throws(() => new LongMessages(16 * 1024 * 1024 + 1, host), RangeError);
});

Deno.test("ServerCore joins a 3000-byte message and delivers it live as CHUNKs and MSG, acked once", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.login(2, "bob");
  const payload = letters(3000);
  h.message(1, "alice", "bob", 7, payload);
  const got = h.take(2);
  assert.deepEqual(types(got), [9, 9, 0]);
  assert.ok(got.every((f) => f.id === 7 && f.src === "alice" && f.dst === "bob"));
  assert.deepEqual(got.map((f) => f.payload.length), [1000, 1000, 1000]);
  assert.equal(h.take(1).length, 0);
  h.ack(2, "bob", "alice", 7);
  const answers = h.take(1);
  assert.deepEqual(codes(answers), ["200"]);
  assert.equal(answers[0]!.src, "bob");
});

Deno.test("ServerCore sends a live message to a timed session behind TIMED with its receive time", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.login(2, "bob", "timed");
  h.login(3, "carol");
  const at = Date.UTC(2026, 10, 22, 19, 30);
  h.message(1, "alice", "bob", 1, utf8.encode("hi"), at);
  const got = h.take(2);
  assert.deepEqual(types(got), [FrameType.TIMED, FrameType.MSG]);
  assert.equal(decodeTimed(got[0]!.payload), at);
  assert.deepEqual([got[0]!.id, got[0]!.src, got[0]!.dst], [1, "alice", "bob"]);
  // Without `timed`: the frame as received, no TIMED.
  h.message(1, "alice", "carol", 2, utf8.encode("hi"), at);
  assert.deepEqual(types(h.take(3)), [FrameType.MSG]);
  h.message(1, "alice", "bob", 3, letters(1500), at + 5);
  const long = h.take(2);
  assert.deepEqual(types(long), [FrameType.TIMED, FrameType.CHUNK, FrameType.MSG]);
  assert.equal(decodeTimed(long[0]!.payload), at + 5);
});

Deno.test("ServerCore stores a long message as one row and hands it over at login in pieces", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.login(2, "bob");
  h.core.closed(2, 0);
  const payload = letters(2500);
  h.message(1, "alice", "bob", 4, payload, 100);
  h.core.commit(100);
  assert.deepEqual(codes(h.take(1)), ["300"]);
  const rows = h.store.messagesFor("bob", 0, 10);
  assert.equal(rows.length, 1);
  assert.deepEqual(rows[0]!.payload, payload);
  const got = h.login(4, "bob", "timed", 200);
  assert.deepEqual(types(got), [FrameType.TIMED, 9, 9, FrameType.OFFLINE]);
  assert.equal(decodeTimed(got[0]!.payload), 100);
  assert.equal(h.sends(4), 2, "the login's 200, then the whole message in one send");
  h.ack(4, "bob", "alice", 4, 300);
  h.core.commit(300);
  assert.equal(h.store.messagesFor("bob", 0, 10).length, 0);
  assert.deepEqual(codes(h.take(1)), ["200"]);
});

Deno.test("ServerCore answers 413 once over maxMessage, drops the rest and keeps the connection", () => {
  const h = new Harness({ maxMessage: 2000 });
  h.login(1, "alice");
  h.login(2, "bob");
  h.message(1, "alice", "bob", 5, letters(3500));
  const answers = h.take(1);
  assert.deepEqual(codes(answers), ["413"]);
  assert.deepEqual([answers[0]!.src, answers[0]!.dst, answers[0]!.id], ["bob", "alice", 5]);
  assert.equal(h.take(2).length, 0);
  assert.deepEqual(h.closed, []);
  // Exactly at the limit, and a short one after it: delivered.
  h.message(1, "alice", "bob", 6, letters(2000));
  h.message(1, "alice", "bob", 7, utf8.encode("still here"));
  const got = h.take(2);
  assert.deepEqual(types(got), [9, 0, 0]);
  assert.equal(text.decode(got[2]!.payload), "still here");
  // Over the limit in the final frame only.
  h.message(1, "alice", "bob", 8, letters(2001));
  assert.deepEqual(codes(h.take(1)), ["413"]);
  assert.equal(h.take(2).length, 0);
});

Deno.test("ServerCore answers 400 and closes a connection that interleaves two long messages", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.login(2, "bob");
  h.frame(1, { type: 9, id: 1, src: "alice", dst: "bob", payload: letters(1000) });
  h.frame(1, { type: 0, id: 2, src: "alice", dst: "bob", payload: letters(10) });
  assert.deepEqual(codes(h.take(1)), ["400"]);
  assert.deepEqual(h.closed, [1]);
  assert.equal(h.take(2).length, 0);
  // A CHUNK of another message is refused too.
  h.login(3, "carol");
  h.frame(3, { type: 9, id: 1, src: "carol", dst: "bob", payload: letters(1000) });
  h.frame(3, { type: 9, id: 2, src: "carol", dst: "bob", payload: letters(1000) });
  assert.deepEqual(codes(h.take(3)), ["400"]);
  assert.deepEqual(h.closed, [1, 3]);
});

Deno.test("ServerCore sends a long message to a legacy session as several MSG frames; the first ACK counts", () => {
  const h = new Harness();
  h.login(1, "alice");
  // bob is a seed-000 client: bound by its first frame, little-endian.
  h.core.open(2, 0, "127.0.0.1:40002");
  h.frame(2, { type: 0, id: 0, src: "bob", dst: "alice", payload: utf8.encode("hi") }, 0, "le");
  h.core.commit(0);
  h.take(1);
  const words = "abc" + "grüße ".repeat(350); // byte 1000 is inside a "ß"
  h.message(1, "alice", "bob", 9, utf8.encode(words));
  const got = h.take(2);
  assert.deepEqual(types(got), [0, 0, 0]);
  assert.ok(got.every((f) => f.id === 9 && f.src === "alice" && f.payload.length <= 1000));
  const strict = new TextDecoder("utf-8", { fatal: true });
  assert.equal(got.map((f) => strict.decode(f.payload)).join(""), words);
  for (let i = 0; i < 3; i++) h.ack(2, "bob", "alice", 9);
  assert.deepEqual(codes(h.take(1)), ["200"]);
});

Deno.test("ServerCore keeps a short message to a non-timed session one raw frame", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.login(2, "bob");
  const frame = { type: 0, id: 3, src: "alice", dst: "bob", payload: letters(1000) };
  h.frame(1, frame);
  const last = h.sent.at(-1)!;
  assert.equal(last.conn, 2);
  assert.deepEqual(last.bytes, encodeFrame(frame));
  assert.equal(splitPayload(frame.payload).length, 1);
});

Deno.test("ServerCore forgets a long message in progress when its connection closes", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.login(2, "bob");
  h.frame(1, { type: 9, id: 1, src: "alice", dst: "bob", payload: letters(1000) });
  h.core.closed(1, 0);
  h.login(3, "alice");
  h.frame(3, { type: 0, id: 2, src: "alice", dst: "bob", payload: utf8.encode("new") });
  const got = h.take(2);
  assert.deepEqual(types(got), [0]);
  assert.equal(text.decode(got[0]!.payload), "new");
});

Deno.test("ServerCore counts a long message as two frames of the frame rate, and each CHUNK after a 413", () => {
  // A bucket of 4 frames, no refill at a fixed time.
  const h = new Harness({ maxMessage: 5000, limits: { frameRate: 4, msgBurst: 2, msgRate: 1 } });
  h.login(1, "alice");
  h.login(2, "bob");
  h.message(1, "alice", "bob", 1, letters(4500)); // 5 frames, 2 tokens
  h.message(1, "alice", "bob", 2, letters(4500));
  assert.deepEqual(types(h.take(2)), [9, 9, 9, 9, 0, 9, 9, 9, 9, 0]);
  assert.deepEqual(h.closed, []);
  // Over the limit: "413", then every dropped CHUNK costs a token: the bucket runs dry.
  h.login(3, "carol");
  h.message(3, "carol", "bob", 1, letters(12000));
  assert.deepEqual(codes(h.take(3)), ["413", "429"]);
  assert.deepEqual(h.closed, [3]);
});

Deno.test("ServerCore hands stored long messages over a few MiB per drain step", () => {
  const h = new Harness({ maxMessage: 2 * 1024 * 1024 });
  h.login(1, "alice");
  h.login(2, "bob");
  h.core.closed(2, 0);
  const size = 1536 * 1024;
  for (let id = 1; id <= 5; id++) h.message(1, "alice", "bob", id, letters(size, id));
  h.core.commit(0);
  assert.deepEqual(codes(h.take(1)), ["300", "300", "300", "300", "300"]);
  const finals = (frames: Frame[]) => frames.filter((f) => f.type === FrameType.OFFLINE);
  // 4.5 MiB is over the step's 4 MiB: the rest waits until the socket has written it.
  const first = finals(h.login(3, "bob"));
  assert.deepEqual(first.map((f) => f.id), [1, 2, 3]);
  h.core.writable(3, 0);
  assert.deepEqual(finals(h.take(3)).map((f) => f.id), [4, 5]);
});

Deno.test("ServerCore counts small CHUNKs against the frame rate: empty ones cannot flood", () => {
  const h = new Harness({ limits: { frameRate: 4, msgBurst: 2, msgRate: 1 } });
  h.login(1, "alice");
  h.login(2, "bob");
  for (let i = 0; i < 10; i++) {
    h.frame(1, { type: 9, id: 1, src: "alice", dst: "bob", payload: new Uint8Array(0) });
  }
  assert.deepEqual(codes(h.take(1)), ["429"]);
  assert.deepEqual(h.closed, [1]);
});
