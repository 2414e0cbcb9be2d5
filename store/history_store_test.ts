import assert from "node:assert/strict";
import { MemoryStore } from "./memory_store.ts";
import { SqliteStore } from "./sqlite_store.ts";
import { conversationOf, type HistoryEntry, type Store } from "./store.ts";

const text = (s: string) => new TextEncoder().encode(s);
const body = (e: HistoryEntry) => new TextDecoder().decode(e.payload);

function entry(src: string, dst: string, id: number, sentAt = id): Omit<HistoryEntry, "seq"> {
  return {
    conv: conversationOf(src, dst),
    src,
    dst,
    id,
    sentAt,
    payload: text(`${src}>${dst}#${id}`),
    kind: 0,
  };
}

/** `entry()` without its kind, for `queueHistory()`. */
function queued(src: string, dst: string, id: number): Omit<HistoryEntry, "seq" | "kind"> {
  const { kind: _, ...rest } = entry(src, dst, id);
  return rest;
}

/** Each store under test, made fresh; the SQLite one in a temp dir, with a reopen. */
const stores: [string, () => { store: Store; reopen(): Store } & Disposable][] = [
  ["MemoryStore", () => {
    const store = new MemoryStore();
    return { store, reopen: () => store, [Symbol.dispose]: () => {} };
  }],
  ["SqliteStore", () => {
    const dir = Deno.makeTempDirSync({ prefix: "tinychat-history-test-" });
    const path = `${dir}/tinychat.db`;
    let store = new SqliteStore(path);
    return {
      get store() {
        return store;
      },
      reopen() {
        store.close();
        store = new SqliteStore(path);
        return store;
      },
      [Symbol.dispose]() {
        store.close();
        Deno.removeSync(dir, { recursive: true });
      },
    };
  }],
];

Deno.test("conversationOf() is the room, or the two names sorted", () => {
  assert.equal(conversationOf("bob", "alice"), "alice\nbob");
  assert.equal(conversationOf("alice", "bob"), "alice\nbob");
  assert.equal(conversationOf("alice", "#dev"), "#dev");
});

for (const [name, make] of stores) {
  Deno.test(`${name}.appendHistory() numbers entries; historyBefore() gives the newest page below a seq, oldest first`, () => {
    using f = make();
    const s = f.store;
    s.begin();
    const seqs = [1, 2, 3, 4, 5].map((i) =>
      s.appendHistory(entry(i % 2 ? "alice" : "bob", i % 2 ? "bob" : "alice", i))
    );
    s.appendHistory(entry("carol", "#dev", 9));
    s.commit();
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
    const page = s.historyBefore("alice\nbob", Infinity, 2);
    assert.deepEqual(page.map(body), ["bob>alice#4", "alice>bob#5"]);
    const older = s.historyBefore("alice\nbob", page[0]!.seq, 10);
    assert.deepEqual(older.map(body), ["alice>bob#1", "bob>alice#2", "alice>bob#3"]);
    assert.deepEqual(
      s.historyBefore("#dev", Infinity, 10).map((e) => [e.src, e.dst, e.id, e.sentAt, e.kind]),
      [
        ["carol", "#dev", 9, 9, 0],
      ],
    );
    assert.equal(s.historyHead("#dev"), s.historyBefore("#dev", Infinity, 1)[0]!.seq);
    assert.equal(s.historyHead("#none"), 0);
    // Kept across a reopen.
    assert.equal(f.reopen().historyBefore("alice\nbob", Infinity, 100).length, 5);
  });

  Deno.test(`${name}.historyAfter() filters by conversation, bounds and sender`, () => {
    using f = make();
    const s = f.store;
    const a = s.appendHistory(entry("alice", "#dev", 1));
    const b = s.appendHistory(entry("bob", "#dev", 2));
    s.appendHistory(entry("bob", "alice", 3));
    const c = s.appendHistory(entry("carol", "#dev", 4));
    const ids = (q: Parameters<Store["historyAfter"]>[0]) => s.historyAfter(q).map((e) => e.id);
    assert.deepEqual(ids({ conv: "#dev", after: 0, limit: 10 }), [1, 2, 4]);
    assert.deepEqual(ids({ conv: "#dev", after: a, limit: 10, notFrom: "bob" }), [4]);
    assert.deepEqual(ids({ conv: "#dev", after: 0, until: b, limit: 10 }), [1, 2]);
    assert.deepEqual(ids({ after: 0, limit: 3 }), [1, 2, 3]);
    assert.deepEqual(ids({ after: c, limit: 3 }), []);
  });

  Deno.test(`${name}.trimHistory() keeps the newest of one conversation, in bounded steps`, () => {
    using f = make();
    const s = f.store;
    for (let i = 1; i <= 10; i++) s.appendHistory(entry("alice", "bob", i));
    s.appendHistory(entry("alice", "#dev", 99));
    assert.equal(s.trimHistory("alice\nbob", 4, 3), 3);
    assert.equal(s.trimHistory("alice\nbob", 4, 100), 3);
    assert.equal(s.trimHistory("alice\nbob", 4, 100), 0);
    assert.deepEqual(s.historyBefore("alice\nbob", Infinity, 100).map((e) => e.id), [7, 8, 9, 10]);
    assert.equal(s.historyBefore("#dev", Infinity, 100).length, 1);
  });

  Deno.test(`${name}.expireHistory() deletes entries older than a time among the oldest`, () => {
    using f = make();
    const s = f.store;
    for (let i = 1; i <= 6; i++) s.appendHistory(entry("alice", "bob", i, i * 1000));
    assert.equal(s.expireHistory(3500, 2), 2);
    assert.equal(s.expireHistory(3500, 100), 1);
    assert.equal(s.expireHistory(3500, 100), 0);
    assert.deepEqual(s.historyBefore("alice\nbob", Infinity, 100).map((e) => e.id), [4, 5, 6]);
  });

  Deno.test(`${name} keeps rooms, members and cursors; rollback() drops a batch's`, () => {
    using f = make();
    let s = f.store;
    s.addRoom("#dev", 5);
    s.addRoom("#dev", 6);
    s.addRoomMember("#dev", "alice", 0, 7);
    s.addRoomMember("#dev", "bob", 3, 8);
    s.setRoomCursor("#dev", "bob", 9);
    s.removeRoomMember("#dev", "alice");
    s.begin();
    s.addRoom("#tmp", 1);
    s.addRoomMember("#tmp", "bob", 0, 1);
    s.appendHistory(entry("bob", "#tmp", 1));
    s.rollback();
    s = f.reopen();
    assert.deepEqual(s.rooms(), [{ name: "#dev", createdAt: 5 }]);
    assert.deepEqual(s.roomMembers(), [{ room: "#dev", name: "bob", cursor: 9, joinedAt: 8 }]);
    assert.equal(s.historyHead("#tmp"), 0);
  });
}

Deno.test("MemoryStore.rollback() restores history a batch trimmed, and drops what it appended", () => {
  const s = new MemoryStore();
  for (let i = 1; i <= 4; i++) s.appendHistory(entry("alice", "bob", i));
  s.begin();
  s.appendHistory(entry("alice", "bob", 5));
  s.trimHistory("alice\nbob", 1, 100);
  s.rollback();
  assert.deepEqual(s.historyBefore("alice\nbob", Infinity, 100).map((e) => e.id), [1, 2, 3, 4]);
  s.begin();
  s.appendHistory(entry("alice", "bob", 6));
  s.rollback();
  assert.deepEqual(s.historyBefore("alice\nbob", Infinity, 100).map((e) => e.id), [1, 2, 3, 4]);
  assert.equal(s.appendHistory(entry("alice", "bob", 7)), 5);
});

for (const [name, make] of stores) {
  Deno.test(`${name}.queueHistory() entries are read back, in order, and kept by a commit`, () => {
    using f = make();
    const s = f.store;
    s.begin();
    for (let i = 1; i <= 300; i++) s.queueHistory(queued("alice", "bob", i));
    s.appendHistory(entry("alice", "#dev", 1000));
    s.queueHistory(queued("bob", "alice", 301));
    assert.equal(s.historyBefore("alice\nbob", Infinity, 1000).length, 301);
    s.commit();
    const kept = f.reopen().historyBefore("alice\nbob", Infinity, 1000);
    assert.deepEqual(kept.map((e) => e.id), Array.from({ length: 301 }, (_, i) => i + 1));
    assert.deepEqual(kept.map((e) => e.kind), kept.map(() => 0));
    assert.equal(body(kept[299]!), "alice>bob#300");
  });
}

Deno.test("SqliteStore.close() writes queued history made outside a batch", () => {
  const [, make] = stores[1]!;
  using f = make();
  f.store.queueHistory(queued("alice", "bob", 1));
  assert.equal(f.reopen().historyHead("alice\nbob"), 1);
});
