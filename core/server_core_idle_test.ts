import assert from "node:assert/strict";
import { type Frame, FrameType, readCode } from "../protocol/mod.ts";
import { MemoryStore } from "../store/memory_store.ts";
import { Harness } from "./_harness.ts";
import type { ConnId } from "./server_core.ts";

const text = (s: string) => new TextEncoder().encode(s);

/** A store that counts the reads of stored messages. */
class CountingStore extends MemoryStore {
  reads = 0;

  override messagesFor(dst: string, after: number, limit: number) {
    this.reads++;
    return super.messagesFor(dst, after, limit);
  }
}

/** The shared harness over a `CountingStore`; each frame ends its turn. */
function makeCore() {
  const store = new CountingStore();
  const h = new Harness({ store, ackTimeoutMs: 1000 });
  const frame = (conn: ConnId, f: Frame, now: number) => {
    h.frame(conn, f, now);
    h.core.commit(now);
  };
  const hello = (conn: ConnId, name: string, now: number) => {
    h.open(conn, now);
    h.hello(conn, name, now);
    h.core.commit(now);
  };
  return { core: h.core, store, frame, hello, take: (conn: ConnId) => h.frames(conn) };
}

Deno.test("ServerCore asks the store for no stored messages at a login when none are stored", () => {
  const c = makeCore();
  c.hello(1, "alice", 0);
  c.hello(2, "bob", 0);
  assert.equal(c.store.reads, 0);
  assert.deepEqual(c.take(1).map((f) => readCode(f.payload)), ["200"]);
});

Deno.test("ServerCore still hands over what was stored for a name, after idle logins of others", () => {
  const c = makeCore();
  c.hello(1, "alice", 0);
  c.hello(2, "bob", 0);
  c.core.closed(2, 1);
  c.frame(1, { type: FrameType.MSG, id: 7, src: "alice", dst: "bob", payload: text("hi") }, 2);
  c.hello(3, "carol", 3);
  c.hello(4, "bob", 4);
  const offline = c.take(4).filter((f) => f.type === FrameType.OFFLINE);
  assert.deepEqual(offline.map((f) => [f.src, f.id]), [["alice", 7]]);
  assert.equal(c.store.reads, 1, "only bob's login read stored messages");
});

Deno.test("ServerCore.sweep() leaves idle sessions alone and has no deadline for them", () => {
  const c = makeCore();
  for (let conn = 1; conn <= 50; conn++) c.hello(conn, `u${conn}`, 0);
  for (let now = 1000; now <= 10_000; now += 1000) c.core.sweep(now);
  assert.equal(c.core.connections, 50);
  assert.equal(c.core.nextDeadline(), undefined);
  for (let conn = 1; conn <= 50; conn++) c.take(conn);
  c.core.sweep(5 * 60_000);
  assert.deepEqual(c.take(7).map((f) => f.type), [FrameType.PING], "idle for 5 min: PINGed");
});
