import assert from "node:assert/strict";
import { MemoryStore } from "../store/memory_store.ts";
import { SqliteStore } from "../store/sqlite_store.ts";
import { seedStore } from "./seed.ts";

Deno.test("seedStore() spreads the messages over the users, each sender counting ids from 1", () => {
  const store = new MemoryStore();
  const result = seedStore(store, { messages: 1003, users: 4, now: 5 });
  assert.deepEqual(result.recipients, ["sdr0", "sdr1", "sdr2", "sdr3"]);
  assert.deepEqual(result.senders, ["sds0", "sds1", "sds2", "sds3"]);
  assert.deepEqual(
    [...store.counts()].sort(),
    [["sdr0", 251], ["sdr1", 251], ["sdr2", 251], ["sdr3", 250]],
  );
  assert.deepEqual(store.users().sort(), [...result.recipients, ...result.senders].sort());
  const first = store.messagesFor("sdr1", 0, 2);
  assert.deepEqual(first.map((m) => [m.src, m.id, m.sentAt, m.payload.length]), [
    ["sds1", 1, 5, 100],
    ["sds1", 2, 5, 100],
  ]);
});

Deno.test("seedStore() writes a SQLite store that a reopened store reads back", () => {
  const dir = Deno.makeTempDirSync({ prefix: "tinychat-seed-" });
  try {
    const path = `${dir}/tinychat.db`;
    const store = new SqliteStore(path);
    seedStore(store, { messages: 500, users: 2, prefix: "x" });
    store.close();
    const reopened = new SqliteStore(path);
    assert.deepEqual([...reopened.counts()].sort(), [["xr0", 250], ["xr1", 250]]);
    reopened.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("seedStore() rejects a count of users out of range with RangeError", () => {
  assert.throws(() => seedStore(new MemoryStore(), { users: 0 }), RangeError);
  assert.throws(() => seedStore(new MemoryStore(), { messages: -1 }), RangeError);
  assert.throws(() => seedStore(new MemoryStore(), { prefix: "abcde" }), RangeError);
});
