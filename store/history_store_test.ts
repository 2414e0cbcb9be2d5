import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { MemoryStore } from "./memory_store.ts";
import { BLOCK_MAX_ENTRIES } from "./history_block.ts";
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
function queued(src: string, dst: string, id: number): Omit<HistoryEntry, "seq" | "kind" | "conv"> {
  const { kind: _, conv: _conv, ...rest } = entry(src, dst, id);
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

for (const [name, make] of stores) {
  Deno.test(`${name}.removeRoom() deletes the room, its members and its history, nothing else`, () => {
    using f = make();
    const s = f.store;
    s.begin();
    for (const room of ["#dev", "#ops"]) {
      s.addRoom(room, 1);
      s.addRoomMember(room, "alice", 0, 1);
      s.appendHistory(entry("alice", room, 1));
    }
    s.commit();
    s.begin();
    s.removeRoom("#dev");
    s.commit();
    const after = f.reopen();
    assert.deepEqual(after.rooms().map((r) => r.name), ["#ops"]);
    assert.deepEqual(after.roomMembers().map((m) => m.room), ["#ops"]);
    assert.deepEqual(after.historyBefore("#dev", Infinity, 10), []);
    assert.equal(after.historyBefore("#ops", Infinity, 10).length, 1);
  });
}

Deno.test("SqliteStore.close() writes queued history made outside a batch", () => {
  const [, make] = stores[1]!;
  using f = make();
  f.store.queueHistory(queued("alice", "bob", 1));
  assert.equal(f.reopen().historyHead("alice\nbob"), 1);
});

/** Queues `n` entries alternating between `a` and `b` from id `from`, then flushes them as one block. */
function queueBlock(s: Store, a: string, b: string, from: number, n: number): void {
  for (let i = from; i < from + n; i++) s.queueHistory(queued(i % 2 ? a : b, i % 2 ? b : a, i));
  s.flushHistory();
}

for (const [name, make] of stores) {
  Deno.test(`${name}.historyBefore() merges queued direct entries with rows of the same conversation, page by page`, () => {
    using f = make();
    const s = f.store;
    s.begin();
    queueBlock(s, "alice", "bob", 1, 3);
    s.queueHistory(queued("carol", "bob", 100));
    s.appendHistory({ ...entry("alice", "bob", 4), kind: 1 });
    queueBlock(s, "alice", "bob", 5, 3);
    s.appendHistory(entry("alice", "bob", 8));
    s.queueHistory(queued("bob", "alice", 9));
    s.commit();
    for (const reopen of [false, true]) {
      const store = reopen ? f.reopen() : s;
      const all = store.historyBefore("alice\nbob", Infinity, 100);
      assert.deepEqual(all.map((e) => e.id), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
      assert.deepEqual(all.map((e) => e.kind), [0, 0, 0, 1, 0, 0, 0, 0, 0]);
      assert.equal(body(all[4]!), "alice>bob#5");
      assert.deepEqual(all.map((e) => e.sentAt), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
      const newest = store.historyBefore("alice\nbob", Infinity, 4);
      assert.deepEqual(newest.map((e) => e.id), [6, 7, 8, 9]);
      const older = store.historyBefore("alice\nbob", newest[0]!.seq, 4);
      assert.deepEqual(older.map((e) => e.id), [2, 3, 4, 5]);
      assert.deepEqual(store.historyBefore("bob\ncarol", Infinity, 10).map((e) => e.id), [100]);
      assert.equal(store.historyHead("alice\nbob"), all.at(-1)!.seq);
      assert.equal(
        store.historyHead("bob\ncarol"),
        store.historyBefore("bob\ncarol", Infinity, 1)[0]!.seq,
      );
    }
  });

  Deno.test(`${name} gives queued direct entries seqs no room row has, in order, across a reopen`, () => {
    using f = make();
    let s = f.store;
    s.begin();
    for (let i = 1; i <= 5; i++) {
      s.queueHistory(queued("alice", "bob", i));
      s.appendHistory(entry("carol", "#dev", 100 + i));
      s.queueHistory(queued("bob", "dave", 200 + i));
    }
    s.commit();
    s = f.reopen();
    s.queueHistory(queued("alice", "bob", 6));
    const room = s.appendHistory(entry("carol", "#dev", 106));
    const all = s.historyAfter({ after: 0, limit: 100 });
    assert.deepEqual(
      all.map((e) => e.id),
      [1, 101, 201, 2, 102, 202, 3, 103, 203, 4, 104, 204, 5, 105, 205, 6, 106],
    );
    const seqs = all.map((e) => e.seq);
    assert.deepEqual(seqs, [...new Set(seqs)].sort((a, b) => a - b));
    assert.equal(room, seqs.at(-1));
    assert.deepEqual(
      s.historyAfter({ conv: "alice\nbob", after: seqs[3]!, limit: 2 }).map((e) => e.id),
      [3, 4],
    );
    assert.deepEqual(
      s.historyAfter({ conv: "alice\nbob", after: 0, limit: 10, notFrom: "alice" }).map((e) =>
        e.id
      ),
      [],
    );
  });

  Deno.test(`${name}.trimHistory() of a direct conversation drops its oldest blocks, not the others' entries`, () => {
    using f = make();
    const s = f.store;
    // Blocks of 5 entries of alice/bob, each shared with an entry of carol/dave.
    for (let k = 0; k < 4; k++) {
      s.queueHistory(queued("carol", "dave", 100 + k));
      queueBlock(s, "alice", "bob", 1 + 5 * k, 5);
    }
    assert.equal(s.trimHistory("alice\nbob", 10, 5), 5);
    assert.equal(s.trimHistory("alice\nbob", 10, 100), 5);
    assert.equal(s.trimHistory("alice\nbob", 10, 100), 0);
    const kept = f.reopen().historyBefore("alice\nbob", Infinity, 100);
    assert.deepEqual(kept.map((e) => e.id), [11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    assert.deepEqual(f.store.historyBefore("carol\ndave", Infinity, 100).map((e) => e.id), [
      100,
      101,
      102,
      103,
    ]);
    // The trimmed entries are gone from every query.
    const ids = f.store.historyAfter({ after: 0, limit: 100 }).map((e) => e.id);
    assert.equal(ids.filter((id) => id < 11).length, 0);
    assert.equal(ids.length, 14);
  });

  Deno.test(`${name}.trimHistory() keeps exactly the newest entries of a conversation, within a block too`, () => {
    using f = make();
    const s = f.store;
    for (let i = 1; i <= 10; i++) {
      s.queueHistory(queued("alice", "bob", i));
      s.queueHistory(queued("carol", "dave", 100 + i));
    }
    s.appendHistory({ ...entry("alice", "bob", 11), kind: 1 });
    s.flushHistory();
    assert.equal(s.trimHistory("alice\nbob", 8, 2), 2);
    assert.equal(s.trimHistory("alice\nbob", 8, 100), 1);
    assert.equal(s.trimHistory("alice\nbob", 8, 100), 0);
    const r = f.reopen();
    assert.deepEqual(r.historyBefore("alice\nbob", Infinity, 100).map((e) => e.id), [
      4,
      5,
      6,
      7,
      8,
      9,
      10,
      11,
    ]);
    assert.deepEqual(r.historyBefore("alice\nbob", Infinity, 2).map((e) => e.id), [10, 11]);
    assert.equal(r.historyBefore("carol\ndave", Infinity, 100).length, 10);
    const all = r.historyAfter({ after: 0, limit: 100 }).map((e) => e.id);
    assert.deepEqual(all.filter((id) => id < 100), [4, 5, 6, 7, 8, 9, 10, 11]);
    assert.equal(all.length, 18);
    assert.deepEqual(
      r.historyAfter({ conv: "alice\nbob", after: 0, limit: 2 }).map((e) => e.id),
      [4, 5],
    );
    assert.equal(r.trimHistory("alice\nbob", 1, 100), 7);
    assert.deepEqual(r.historyBefore("alice\nbob", Infinity, 100).map((e) => e.id), [11]);
  });

  Deno.test(`${name}.trimHistory() across many blocks and rows deletes exactly the oldest`, () => {
    using f = make();
    const s = f.store;
    // 40 blocks of 2 entries, a row (a notice) after every 10th: 84 entries, ids in seq order.
    let id = 1;
    for (let k = 0; k < 40; k++) {
      queueBlock(s, "alice", "bob", id, 2);
      id += 2;
      if (k % 10 === 9) s.appendHistory({ ...entry("alice", "bob", id++), kind: 1 });
    }
    assert.equal(s.trimHistory("alice\nbob", 7, 1000), 77);
    const kept = f.reopen().historyBefore("alice\nbob", Infinity, 100).map((e) => e.id);
    assert.deepEqual(kept, [78, 79, 80, 81, 82, 83, 84]);
    assert.equal(f.store.trimHistory("alice\nbob", 7, 1000), 0);
  });

  Deno.test(`${name}.expireHistory() deletes blocks whose entries are all older, and rows`, () => {
    using f = make();
    const s = f.store;
    for (let k = 0; k < 3; k++) {
      for (let i = 1; i <= 4; i++) {
        const id = 4 * k + i;
        s.queueHistory({ ...queued("alice", "bob", id), sentAt: 1000 * k + i });
      }
      s.flushHistory();
    }
    s.appendHistory(entry("alice", "bob", 50, 1500));
    // Block 0 (1..4) is older than 1005; block 1 (1001..1004) is not: kept whole.
    const deleted = s.expireHistory(1003, 100);
    assert.ok(deleted >= 4, `deleted ${deleted}`);
    const ids = f.reopen().historyBefore("alice\nbob", Infinity, 100).map((e) => e.id);
    // Whole blocks in SQLite (5 and 6 stay with 7 and 8), single entries in memory.
    assert.deepEqual(ids.filter((id) => id >= 7), [7, 8, 9, 10, 11, 12, 50]);
    assert.equal(ids.filter((id) => id <= 4).length, 0);
    assert.ok(f.store.expireHistory(10_000, 100) > 0);
    assert.deepEqual(f.store.historyBefore("alice\nbob", Infinity, 100), []);
    assert.equal(f.store.historyHead("alice\nbob"), 0);
  });
}

Deno.test("SqliteStore writes a flush of queued entries as one block row, whatever their number", () => {
  const dir = Deno.makeTempDirSync({ prefix: "tinychat-history-test-" });
  const path = `${dir}/tinychat.db`;
  try {
    const s = new SqliteStore(path);
    s.begin();
    const n = BLOCK_MAX_ENTRIES + 476;
    for (let i = 1; i <= n; i++) s.queueHistory(queued(`u${i % 7}`, `v${i % 3}`, i));
    s.commit();
    // One full block went on its own; the rest goes at close().
    s.close();
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      const blocks = db.prepare("SELECT block, count FROM history_blocks ORDER BY block").all();
      assert.deepEqual(blocks.map((b) => Number(b.count)), [BLOCK_MAX_ENTRIES, 476]);
      assert.equal(Number(blocks[1]!.block), Number(blocks[0]!.block) + BLOCK_MAX_ENTRIES);
      const links = db.prepare("SELECT count(*) AS n, sum(count) AS m FROM history_block_convs")
        .get()!;
      assert.deepEqual([Number(links.n), Number(links.m)], [42, n]);
      assert.equal(Number(db.prepare("SELECT count(*) AS n FROM history").get()!.n), 0);
    } finally {
      db.close();
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("SqliteStore.trimHistory() deletes a block once no conversation links it", () => {
  const dir = Deno.makeTempDirSync({ prefix: "tinychat-history-test-" });
  const path = `${dir}/tinychat.db`;
  try {
    const s = new SqliteStore(path);
    queueBlock(s, "alice", "bob", 1, 4);
    s.queueHistory(queued("carol", "dave", 10));
    queueBlock(s, "alice", "bob", 5, 4);
    queueBlock(s, "alice", "bob", 9, 4);
    assert.equal(s.trimHistory("alice\nbob", 4, 100), 8);
    assert.equal(s.trimHistory("carol\ndave", 0, 100), 1);
    s.close();
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      const counts = db.prepare("SELECT count FROM history_blocks ORDER BY block").all();
      assert.deepEqual(counts.map((b) => Number(b.count)), [4]);
      assert.equal(Number(db.prepare("SELECT count(*) AS n FROM history_block_convs").get()!.n), 1);
    } finally {
      db.close();
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

/** A SqliteStore in a temp dir, and a second one on the same file as after a crash of the first. */
function crashable(): { path: string; store: SqliteStore; afterCrash(): SqliteStore } & Disposable {
  const dir = Deno.makeTempDirSync({ prefix: "tinychat-history-test-" });
  const path = `${dir}/tinychat.db`;
  const opened = [new SqliteStore(path)];
  return {
    path,
    store: opened[0]!,
    // The first is left as a kill -9 leaves it: what it committed is in the file, nothing else.
    afterCrash() {
      opened.push(new SqliteStore(path));
      return opened.at(-1)!;
    },
    [Symbol.dispose]() {
      for (const s of opened.reverse()) s.close();
      Deno.removeSync(dir, { recursive: true });
    },
  };
}

/** The ids of `conv`'s history in `s`, oldest first. */
function ids(s: SqliteStore, conv: string): number[] {
  return s.historyBefore(conv, Infinity, 100_000).map((e) => e.id);
}

Deno.test("SqliteStore: a full block's links wait for the next flush; reads see it before", () => {
  using f = crashable();
  const s = f.store;
  const n = BLOCK_MAX_ENTRIES + 6;
  for (let i = 1; i <= n; i++) s.queueHistory(queued("alice", i % 2 ? "bob" : "carol", i));
  const db = new DatabaseSync(f.path, { readOnly: true });
  try {
    const count = (table: string) =>
      Number(db.prepare(`SELECT count(*) AS n FROM ${table}`).get()!.n);
    assert.equal(count("history_blocks"), 1);
    assert.equal(count("history_block_convs"), 0);
    assert.equal(ids(s, "alice\nbob").length, n / 2);
    // The read flushed: both blocks, each linked to both conversations.
    assert.equal(count("history_blocks"), 2);
    assert.equal(count("history_block_convs"), 4);
  } finally {
    db.close();
  }
});

Deno.test("SqliteStore after a crash links the blocks whose links were waiting", () => {
  using f = crashable();
  const full = 2 * BLOCK_MAX_ENTRIES;
  for (let i = 1; i <= full + 52; i++) {
    f.store.queueHistory(queued("alice", i % 3 ? "bob" : "carol", i));
  }
  // Two full blocks are committed, their links waiting; the last 52 entries were in memory only.
  const after = f.afterCrash();
  const bob = Array.from({ length: full }, (_, i) => i + 1).filter((i) => i % 3 !== 0);
  assert.deepEqual(ids(after, "alice\nbob"), bob);
  assert.equal(ids(after, "alice\ncarol").length, full / 3 | 0);
  assert.equal(after.trimHistory("alice\nbob", 10, full), bob.length - 10);
  assert.deepEqual(ids(after, "alice\nbob"), bob.slice(-10));
});

Deno.test("SqliteStore.rollback() of a batch that linked blocks links them again", () => {
  using f = crashable();
  const s = f.store;
  const b = BLOCK_MAX_ENTRIES;
  for (let i = 1; i <= b; i++) s.queueHistory(queued("alice", "bob", i));
  s.begin();
  // Links the committed block inside the batch, and writes a block of the batch's own.
  for (let i = b + 1; i <= b + 6; i++) s.queueHistory(queued("alice", "bob", i));
  s.flushHistory();
  s.rollback();
  const kept = Array.from({ length: b }, (_, i) => i + 1);
  assert.deepEqual(ids(s, "alice\nbob"), kept);
  s.queueHistory(queued("alice", "bob", b + 100));
  assert.deepEqual(ids(s, "alice\nbob"), [...kept, b + 100]);
  assert.deepEqual(ids(f.afterCrash(), "alice\nbob"), [...kept, b + 100]);
});

Deno.test("SqliteStore opens a schema-7 file: its blocks of 4,096 read back, and it becomes 8", () => {
  using f = crashable();
  const s = f.store;
  // A full block of schema 7 (4,096 entries), then a small one.
  for (let i = 1; i <= 4096; i++) s.queueHistory(queued("alice", "bob", i));
  s.flushHistory();
  for (let i = 4097; i <= 4196; i++) s.queueHistory(queued("alice", "bob", i));
  s.flushHistory();
  const seqs = s.historyBefore("alice\nbob", Infinity, 100_000).map((e) => e.seq);
  const db = new DatabaseSync(f.path);
  db.exec("PRAGMA user_version = 7");
  db.close();
  const reopened = f.afterCrash();
  const all = Array.from({ length: 4196 }, (_, i) => i + 1);
  assert.deepEqual(ids(reopened, "alice\nbob"), all);
  // From near the end of the first block: what a catch-up after seq `seqs[4000]` reads.
  const after = reopened.historyAfter({ conv: "alice\nbob", after: seqs[4000]!, limit: 3 });
  assert.deepEqual(after.map((e) => e.id), [4002, 4003, 4004]);
  const reader = new DatabaseSync(f.path, { readOnly: true });
  try {
    assert.equal(Number(reader.prepare("PRAGMA user_version").get()!.user_version), 8);
  } finally {
    reader.close();
  }
});

Deno.test("SqliteStore.historyAfter() from deep inside a full block reads the rest of it", () => {
  using f = crashable();
  const s = f.store;
  const n = BLOCK_MAX_ENTRIES;
  for (let i = 1; i <= n; i++) s.queueHistory(queued("alice", i % 2 ? "bob" : "carol", i));
  const seqs = new Map(s.historyBefore("alice\ncarol", Infinity, n).map((e) => [e.id, e.seq]));
  // More than 4,096 entries past the block's first seq: a bound of 4,096 would skip the block.
  const from = seqs.get(n - 100)!;
  const conv = s.historyAfter({ conv: "alice\ncarol", after: from, limit: 3 });
  assert.deepEqual(conv.map((e) => e.id), [n - 98, n - 96, n - 94]);
  const all = s.historyAfter({ after: from, limit: 3 });
  assert.deepEqual(all.map((e) => e.id), [n - 99, n - 98, n - 97]);
});
