import assert from "node:assert/strict";
import { Code, decodeFrame, encodeFrame, FrameType, readCode } from "../protocol/mod.ts";
import { MemoryStore } from "../store/memory_store.ts";
import type { Store } from "../store/store.ts";
import { ServerCore } from "./server_core.ts";

/** A store that cannot start a batch while `locked` (another process holds the database). */
function lockableStore(): { store: Store; lock: { locked: boolean } } {
  const inner = new MemoryStore();
  const lock = { locked: false };
  const store = new Proxy(inner, {
    get(target, property) {
      if (property === "begin" && lock.locked) {
        return () => {
          throw new Error("database is locked");
        };
      }
      const value = Reflect.get(target, property, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  }) as Store;
  return { store, lock };
}

Deno.test("ServerCore answers 500 instead of throwing when the store cannot start a batch at login", () => {
  const { store, lock } = lockableStore();
  const sent: { conn: number; bytes: Uint8Array }[] = [];
  const closed: number[] = [];
  const core = new ServerCore({
    store,
    outbox: {
      send: (conn, bytes) => sent.push({ conn, bytes }),
      close: (conn) => closed.push(conn),
    },
  });
  lock.locked = true;
  core.open(1, 0);
  const hello = encodeFrame({
    type: FrameType.HELLO,
    id: 4,
    src: "alice",
    dst: "",
    payload: new Uint8Array(),
  });
  core.frame(1, decodeFrame(hello), "be", 0);
  core.commit(0);
  const answers = sent.filter((s) => s.conn === 1).map((s) => decodeFrame(s.bytes));
  assert.deepEqual(answers.map((f) => [f.type, f.id, readCode(f.payload)]), [[
    FrameType.ACK,
    4,
    Code.SERVER_ERROR,
  ]]);
  assert.deepEqual(closed, [1]);
  // Once the lock is gone, the same name logs in: nothing of the failed attempt stayed behind.
  lock.locked = false;
  core.open(2, 1);
  core.frame(2, decodeFrame(hello), "be", 1);
  core.commit(1);
  const second = sent.filter((s) => s.conn === 2).map((s) => decodeFrame(s.bytes));
  assert.deepEqual(second.map((f) => readCode(f.payload)), [Code.DELIVERED]);
  assert.deepEqual(core.online(), ["alice"]);
});
