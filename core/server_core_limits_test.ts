import assert from "node:assert/strict";
import { type Frame, FrameDecoder, FrameType, readCode } from "../protocol/mod.ts";
import { MemoryStore } from "../store/memory_store.ts";
import type { Limits } from "./limits.ts";
import { type ConnId, ServerCore } from "./server_core.ts";
import { CoreHarness, EMPTY, text } from "./_harness.ts";

/** A core with a recording outbox, its clock driven by the test; every frame ends the turn. */
class Core extends CoreHarness {
  constructor(limits: Partial<Limits>) {
    super({ limits });
  }

  get closed(): Set<ConnId> {
    return new Set(this.outbox.closed);
  }

  override frame(conn: ConnId, frame: Frame, now: number): Uint8Array {
    const raw = super.frame(conn, frame, now);
    this.core.commit(now);
    return raw;
  }

  login(conn: ConnId, name: string, now: number, ip?: string): void {
    this.open(conn, now, ip);
    this.frame(conn, { type: FrameType.HELLO, id: 0, src: name, dst: "", payload: EMPTY }, now);
  }

  msg(conn: ConnId, src: string, dst: string, id: number, payload: string, now: number): void {
    this.frame(conn, { type: FrameType.MSG, id, src, dst, payload: text(payload) }, now);
  }

  /** The frames sent to `conn` since the last call. */
  take(conn: ConnId): Frame[] {
    return this.frames(conn);
  }

  /** The codes of the ACKs sent to `conn` since the last `take`. */
  codes(conn: ConnId): string[] {
    return this.take(conn).filter((f) => f.type === FrameType.ACK).map((f) => readCode(f.payload));
  }
}

Deno.test("ServerCore: logins beyond loginsPerMinute from one address get 423 and are closed", () => {
  const c = new Core({ loginsPerMinute: 2 });
  c.login(1, "a", 0);
  c.login(2, "b", 0);
  c.login(3, "c", 0);
  assert.deepEqual(c.codes(1), ["200"]);
  assert.deepEqual(c.codes(2), ["200"]);
  assert.deepEqual(c.codes(3), ["423"]);
  assert.ok(c.closed.has(3));
  c.login(4, "d", 0, "10.0.0.9");
  assert.deepEqual(c.codes(4), ["200"], "another address has its own allowance");
  c.login(5, "e", 30_000);
  assert.deepEqual(c.codes(5), ["200"], "one login every 30 s comes back");
});

Deno.test("ServerCore: a seed-000 first frame counts as a login for loginsPerMinute", () => {
  const c = new Core({ loginsPerMinute: 1 });
  c.login(1, "bob", 0);
  c.open(2, 0);
  c.msg(2, "old", "bob", 0, "hi", 0);
  assert.deepEqual(c.codes(2), ["423"]);
  assert.ok(c.closed.has(2));
  assert.ok(!c.take(1).some((f) => f.type === FrameType.MSG), "bob got nothing");
});

Deno.test("ServerCore: a PING before login does not count as a login", () => {
  const c = new Core({ loginsPerMinute: 1 });
  c.open(1, 0);
  c.frame(1, { type: FrameType.PING, id: 3, src: "", dst: "", payload: EMPTY }, 0);
  c.frame(1, { type: FrameType.HELLO, id: 4, src: "a", dst: "", payload: EMPTY }, 0);
  assert.deepEqual(c.take(1).map((f) => f.type), [FrameType.PONG, FrameType.ACK]);
});

Deno.test("ServerCore: a burst up to msgBurst passes; beyond it each message gets 429, none lost silently", () => {
  const c = new Core({ msgRate: 5, msgBurst: 20 });
  c.login(1, "bob", 0);
  c.login(2, "alice", 0);
  c.take(1);
  c.take(2);
  for (let id = 1; id <= 25; id++) c.msg(2, "alice", "bob", id, `line ${id}`, 10);
  const toBob = c.take(1).filter((f) => f.type === FrameType.MSG).map((f) => f.id);
  assert.deepEqual(toBob, Array.from({ length: 20 }, (_, i) => i + 1), "the pasted 20 lines");
  const answers = c.take(2);
  assert.deepEqual(answers.map((f) => [f.id, readCode(f.payload), f.src]), [
    [21, "429", "bob"],
    [22, "429", "bob"],
    [23, "429", "bob"],
    [24, "429", "bob"],
    [25, "429", "bob"],
  ]);
  assert.equal(c.closed.has(2), false, "the sender stays connected");
  assert.deepEqual(c.store.messagesFor("bob", 0, 100), [], "nothing refused was stored");
  assert.equal(c.logs.filter((l) => l === "warn rate-limited").length, 1, "one log line");
  c.msg(2, "alice", "bob", 26, "later", 10 + 200);
  assert.equal(c.take(1).filter((f) => f.type === FrameType.MSG).length, 1, "refilled at 5/s");
});

Deno.test("ServerCore: each user has their own message rate", () => {
  const c = new Core({ msgRate: 1, msgBurst: 1 });
  c.login(1, "bob", 0);
  c.login(2, "alice", 0);
  c.login(3, "carol", 0);
  c.msg(2, "alice", "bob", 1, "a", 0);
  c.msg(2, "alice", "bob", 2, "a", 0);
  c.msg(3, "carol", "bob", 1, "c", 0);
  assert.deepEqual(c.codes(2), ["200", "429"]);
  assert.deepEqual(c.codes(3), ["200"]);
  assert.equal(c.take(1).filter((f) => f.type === FrameType.MSG).length, 2);
});

Deno.test("ServerCore.sweep() closes a connection that sent no frame within loginTimeoutMs with 408", () => {
  const c = new Core({ loginTimeoutMs: 1000 });
  c.open(1, 0);
  c.open(2, 0);
  c.frame(2, { type: FrameType.HELLO, id: 0, src: "bob", dst: "", payload: EMPTY }, 10);
  c.take(2);
  c.core.sweep(999);
  assert.equal(c.closed.size, 0);
  c.core.sweep(1000);
  assert.deepEqual(c.take(1).map((f) => [f.type, f.id, readCode(f.payload)]), [
    [FrameType.ACK, 0, "408"],
  ]);
  assert.ok(c.closed.has(1));
  assert.equal(c.closed.has(2), false, "a logged-in session is not affected");
});

Deno.test("ServerCore.sweep() PINGs an idle HELLO session and closes it with 440 when nothing comes back", () => {
  const c = new Core({ idleTimeoutMs: 500, pingTimeoutMs: 200 });
  c.login(1, "bob", 0);
  c.take(1);
  c.core.sweep(499);
  assert.deepEqual(c.take(1), []);
  c.core.sweep(500);
  const [ping] = c.take(1);
  assert.equal(ping?.type, FrameType.PING);
  assert.equal(ping?.src, "");
  assert.equal(ping?.dst, "bob");
  c.core.sweep(600);
  assert.deepEqual(c.take(1), [], "one PING per idle period");
  c.core.sweep(700);
  assert.deepEqual(c.codes(1), ["440"]);
  assert.ok(c.closed.has(1));
  assert.deepEqual(c.core.online(), []);
});

Deno.test("ServerCore.sweep(): a PONG (or any frame) keeps an idle session open", () => {
  const c = new Core({ idleTimeoutMs: 500, pingTimeoutMs: 200 });
  c.login(1, "bob", 0);
  c.take(1);
  c.core.sweep(500);
  const [ping] = c.take(1);
  c.frame(1, { ...ping!, type: FrameType.PONG, src: "bob", dst: "" }, 550);
  c.core.sweep(800);
  assert.equal(c.closed.has(1), false);
  assert.deepEqual(c.take(1), []);
  c.core.sweep(1050);
  assert.equal(c.take(1)[0]?.type, FrameType.PING, "idle again: PINGed again");
});

Deno.test("ServerCore.sweep() never sends type 4 to a seed-000 session, however idle", () => {
  const c = new Core({ idleTimeoutMs: 500, pingTimeoutMs: 200, loginTimeoutMs: 1000 });
  c.login(1, "bob", 0);
  c.open(2, 0);
  c.msg(2, "old", "bob", 0, "hi", 0);
  for (let t = 0; t <= 100_000; t += 100) c.core.sweep(t);
  assert.ok(c.take(2).every((f) => f.type <= FrameType.OFFLINE), "only types 0..2");
  assert.equal(c.closed.has(2), false);
});

Deno.test("ServerCore: a message beyond maxQueueBytes for its recipient gets 507, nothing stored", () => {
  const c = new Core({ maxQueueBytes: 10 });
  c.login(1, "bob", 0);
  c.core.closed(1, 0);
  c.login(2, "alice", 0);
  c.take(2);
  c.msg(2, "alice", "bob", 1, "12345678", 0);
  c.msg(2, "alice", "bob", 2, "12345", 0);
  c.msg(2, "alice", "bob", 3, "12", 0);
  assert.deepEqual(c.codes(2), ["300", "507", "300"]);
  assert.equal(c.store.messagesFor("bob", 0, 10).length, 2);
  // bob picks them up and acknowledges them: the room is free again.
  c.login(3, "bob", 1);
  for (const f of c.take(3).filter((f) => f.type === FrameType.OFFLINE)) {
    c.frame(3, { type: FrameType.ACK, id: f.id, src: "bob", dst: f.src, payload: text("200") }, 1);
  }
  c.core.closed(3, 2);
  c.msg(2, "alice", "bob", 4, "1234567890", 2);
  assert.deepEqual(c.codes(2).filter((code) => code !== "200"), ["300"]);
});

Deno.test("ServerCore counts the bytes already stored when it starts", () => {
  const store = new MemoryStore();
  store.begin();
  store.addUser("bob", 0);
  store.addUser("alice", 0);
  store.putMessage({ src: "alice", dst: "bob", id: 1, sentAt: 0, payload: text("123456") });
  store.commit();
  const sent: string[] = [];
  const core = new ServerCore({
    store,
    limits: { maxQueueBytes: 10 },
    outbox: {
      send: (_conn, bytes) => {
        new FrameDecoder().push(bytes, (f) => sent.push(readCode(f.payload)));
      },
      close: () => {},
    },
  });
  core.open(1, 0, "127.0.0.1:1");
  core.frame(1, { type: 3, id: 0, src: "alice", dst: "", payload: EMPTY }, "be", 0);
  core.commit(0);
  core.frame(1, { type: 0, id: 2, src: "alice", dst: "bob", payload: text("12345") }, "be", 0);
  core.commit(0);
  assert.deepEqual(sent, ["200", "507"]);
});

Deno.test("ServerCore: the message rate is per user: a reconnect does not start a new burst", () => {
  const c = new Core({ msgRate: 1, msgBurst: 3 });
  c.login(1, "bob", 0);
  c.login(2, "alice", 0);
  for (let id = 1; id <= 3; id++) c.msg(2, "alice", "bob", id, "x", 0);
  c.core.closed(2, 0);
  c.login(3, "alice", 0);
  c.take(3);
  c.msg(3, "alice", "bob", 4, "flood on", 0);
  assert.deepEqual(c.codes(3), ["429"], "the new connection shares the spent bucket");
  c.core.closed(3, 0);
  // The sweep forgets only a bucket that is full again.
  c.core.sweep(1000);
  c.login(4, "alice", 1000);
  c.take(4);
  c.msg(4, "alice", "bob", 5, "one more", 1000);
  c.msg(4, "alice", "bob", 6, "too many", 1000);
  assert.deepEqual(c.codes(4).filter((code) => code !== "200"), ["429"], "1 per second");
  c.core.sweep(10_000);
  c.msg(4, "alice", "bob", 7, "a", 10_000);
  c.msg(4, "alice", "bob", 8, "b", 10_000);
  c.msg(4, "alice", "bob", 9, "c", 10_000);
  assert.deepEqual(c.codes(4).filter((code) => code === "429"), [], "refilled to the burst");
});

Deno.test("ServerCore: frames of any type beyond frameRate on one connection: 429 and closed", () => {
  const c = new Core({ frameRate: 5, msgBurst: 2 });
  c.login(1, "bob", 0);
  c.take(1);
  // The bucket holds max(5, 2 x 2) = 5 frames: PINGs, WHOs and reserved types all count.
  const ping = (id: number) => ({ type: FrameType.PING, id, src: "", dst: "", payload: EMPTY });
  c.frame(1, ping(1), 0);
  c.frame(1, ping(2), 0);
  c.frame(1, { type: FrameType.WHO, id: 3, src: "bob", dst: "", payload: EMPTY }, 0);
  c.frame(1, { type: 12, id: 4, src: "bob", dst: "", payload: EMPTY }, 0);
  c.frame(1, { type: FrameType.ACK, id: 5, src: "bob", dst: "x", payload: text("200") }, 0);
  assert.equal(c.closed.has(1), false);
  c.take(1);
  c.frame(1, ping(6), 0);
  assert.deepEqual(c.take(1).map((f) => [f.type, f.id, f.src, readCode(f.payload)]), [
    [FrameType.ACK, 6, "", "429"],
  ]);
  assert.ok(c.closed.has(1));
  assert.deepEqual(c.core.online(), []);
});

Deno.test("ServerCore: the frame bucket holds at least twice the message burst", () => {
  const c = new Core({ frameRate: 1, msgRate: 1, msgBurst: 20 });
  c.login(1, "bob", 0);
  c.login(2, "alice", 0);
  for (let id = 1; id <= 20; id++) c.msg(2, "alice", "bob", id, "pasted line", 0);
  assert.equal(c.closed.has(2), false, "a pasted block that passes --msg-burst");
  assert.equal(c.take(1).filter((f) => f.type === FrameType.MSG).length, 20);
});
