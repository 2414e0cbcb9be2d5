import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { MESSAGES_PER_BLOCK } from "./message_blocks.ts";
import { SqliteStore } from "./sqlite_store.ts";
import type { StoredMessage } from "./store.ts";

const text = (s: string) => new TextEncoder().encode(s);
const read = (m: StoredMessage) => new TextDecoder().decode(m.payload);

function temp(): { path: string } & Disposable {
  const dir = Deno.makeTempDirSync({ prefix: "tinychat-blocks-test-" });
  return {
    path: `${dir}/tinychat.db`,
    [Symbol.dispose]: () => Deno.removeSync(dir, { recursive: true }),
  };
}

/** Stores `count` messages in one batch, to bob and carol in turn; returns their seqs. */
function putBatch(store: SqliteStore, count: number, from = 0): number[] {
  store.begin();
  const seqs: number[] = [];
  for (let i = from; i < from + count; i++) {
    const dst = i % 2 === 0 ? "bob" : "carol";
    seqs.push(store.putMessage({ src: "alice", dst, id: i, sentAt: i, payload: text(`m${i}`) }));
  }
  store.commit();
  return seqs;
}

/** The rows of the two message tables, as another connection sees them. */
function tables(path: string): { blocks: number[][]; gone: number[] } {
  const db = new DatabaseSync(path);
  try {
    return {
      blocks: db.prepare("SELECT last_seq, count FROM message_blocks ORDER BY last_seq").all()
        .map((row) => [Number(row.last_seq), Number(row.count)]),
      gone: db.prepare("SELECT seq FROM messages_gone ORDER BY seq").all().map((row) =>
        Number(row.seq)
      ),
    };
  } finally {
    db.close();
  }
}

Deno.test("a batch's messages go in blocks of consecutive seqs, and read back whole", () => {
  using file = temp();
  const store = new SqliteStore(file.path);
  try {
    const seqs = putBatch(store, MESSAGES_PER_BLOCK + 10);
    assert.deepEqual(seqs, Array.from({ length: MESSAGES_PER_BLOCK + 10 }, (_, i) => i + 1));
    assert.deepEqual(tables(file.path).blocks, [
      [MESSAGES_PER_BLOCK, MESSAGES_PER_BLOCK],
      [MESSAGES_PER_BLOCK + 10, 10],
    ]);
    const bob = store.messagesFor("bob", 0, 1000);
    assert.equal(bob.length, (MESSAGES_PER_BLOCK + 10) / 2);
    assert.deepEqual(bob.slice(0, 2).map(read), ["m0", "m2"]);
    assert.deepEqual(bob.at(-1), {
      seq: MESSAGES_PER_BLOCK + 9,
      src: "alice",
      dst: "bob",
      id: MESSAGES_PER_BLOCK + 8,
      sentAt: MESSAGES_PER_BLOCK + 8,
      payload: text(`m${MESSAGES_PER_BLOCK + 8}`),
    });
  } finally {
    store.close();
  }
});

Deno.test("a delivered message is marked gone; its block goes with its marks once all of it is", () => {
  using file = temp();
  const store = new SqliteStore(file.path);
  try {
    const [a, b, c] = putBatch(store, 3);
    store.begin();
    assert.equal(store.deleteMessage(a!), 2);
    assert.equal(store.deleteMessage(a!), 0);
    store.commit();
    assert.deepEqual(tables(file.path), { blocks: [[3, 3]], gone: [a] });
    store.begin();
    store.deleteMessage(c!);
    store.deleteMessage(b!);
    store.commit();
    assert.deepEqual(tables(file.path), { blocks: [], gone: [] });
    assert.deepEqual([...store.counts()], []);
    assert.equal(store.deleteMessage(b!), 0);
  } finally {
    store.close();
  }
});

Deno.test("after a reopen, a block's delivered messages stay delivered and the others are there", () => {
  using file = temp();
  {
    const store = new SqliteStore(file.path);
    const seqs = putBatch(store, 6);
    store.begin();
    store.deleteMessage(seqs[0]!);
    store.deleteMessage(seqs[3]!);
    store.commit();
    store.close();
  }
  const store = new SqliteStore(file.path);
  try {
    assert.deepEqual(store.messagesFor("bob", 0, 10).map(read), ["m2", "m4"]);
    assert.deepEqual(store.messagesFor("carol", 0, 10).map(read), ["m1", "m5"]);
    assert.equal(store.storedBytes("bob"), 4);
    assert.deepEqual(store.findMessages("alice", 0, "bob"), []);
    assert.deepEqual(store.findMessages("alice", 5, "carol").map(read), ["m5"]);
    store.begin();
    for (const seq of [2, 3, 5, 6]) store.deleteMessage(seq);
    store.commit();
    assert.deepEqual(tables(file.path), { blocks: [], gone: [] });
  } finally {
    store.close();
  }
});

Deno.test("a rolled-back batch takes its blocks and its deliveries with it", () => {
  using file = temp();
  const store = new SqliteStore(file.path);
  try {
    const kept = putBatch(store, 2);
    store.begin();
    store.deleteMessage(kept[0]!);
    const seqs: number[] = [];
    for (let i = 0; i < MESSAGES_PER_BLOCK + 1; i++) {
      seqs.push(
        store.putMessage({ src: "dave", dst: "bob", id: i, sentAt: 0, payload: text("x") }),
      );
    }
    // The first block of the batch is written already, and read.
    assert.equal(store.messagesFor("bob", 0, 1000).length, MESSAGES_PER_BLOCK + 1);
    store.rollback();
    assert.deepEqual(store.messagesFor("bob", 0, 10).map(read), ["m0"]);
    assert.equal(store.deleteMessage(seqs[0]!), 0);
    assert.deepEqual(store.findMessages("dave", 0, "bob"), []);
    assert.deepEqual(tables(file.path), { blocks: [[2, 2]], gone: [] });
    // The seqs of the rolled-back batch are given again: nothing was stored under them.
    assert.deepEqual(putBatch(store, 1, 10), [3]);
  } finally {
    store.close();
  }
});

Deno.test("a message larger than a block's target bytes gets a block of its own", () => {
  using file = temp();
  const store = new SqliteStore(file.path);
  try {
    const big = new Uint8Array(1024 * 1024).fill(7);
    store.begin();
    const first = store.putMessage({ src: "a", dst: "bob", id: 1, sentAt: 0, payload: big });
    const second = store.putMessage({ src: "a", dst: "bob", id: 2, sentAt: 0, payload: text("s") });
    store.commit();
    assert.deepEqual(tables(file.path).blocks, [[first, 1], [second, 1]]);
    const [m] = store.messagesFor("bob", 0, 1);
    assert.equal(m!.payload.length, big.length);
    assert.equal(store.storedBytes("bob"), big.length + 1);
  } finally {
    store.close();
  }
});

Deno.test("a block mostly delivered is rewritten without the delivered payloads; the rest stays whole", () => {
  using file = temp();
  const dataBytes = () => {
    const db = new DatabaseSync(file.path);
    try {
      return Number(db.prepare("SELECT sum(length(data)) AS n FROM message_blocks").get()!.n);
    } finally {
      db.close();
    }
  };
  const long = (i: number) => `${i}`.padEnd(500, ".");
  {
    const store = new SqliteStore(file.path);
    store.begin();
    for (let i = 0; i < 32; i++) {
      store.putMessage({ src: "alice", dst: "bob", id: i, sentAt: i, payload: text(long(i)) });
    }
    store.commit();
    const full = dataBytes();
    assert.ok(full > 32 * 500);
    store.begin();
    // 23 of 32 delivered: 9 left, more than a quarter.
    for (let seq = 1; seq <= 23; seq++) store.deleteMessage(seq);
    store.commit();
    assert.equal(dataBytes(), full);
    store.begin();
    store.deleteMessage(24);
    store.commit();
    // 8 left: the block keeps their payloads alone.
    assert.ok(dataBytes() < full / 3, `${dataBytes()} of ${full} bytes`);
    store.close();
  }
  const store = new SqliteStore(file.path);
  try {
    const left = store.messagesFor("bob", 0, 100);
    assert.deepEqual(left.map((m) => m.id), [24, 25, 26, 27, 28, 29, 30, 31]);
    assert.deepEqual(left.map(read), left.map((m) => long(m.id)));
    assert.equal(store.storedBytes("bob"), 8 * 500);
  } finally {
    store.close();
  }
});

/**
 * Makes SQLite fail the statements `when` names from now on, as a failing disk would: with
 * `ABORT` the statement fails, with `ROLLBACK` SQLite also ends the transaction by itself.
 */
function refuse(
  path: string,
  name: string,
  when: string,
  raise: "ABORT" | "ROLLBACK" = "ABORT",
  message = "refused",
): void {
  const db = new DatabaseSync(path);
  try {
    db.exec(`CREATE TRIGGER ${name} ${when} BEGIN SELECT RAISE(${raise}, '${message}'); END`);
  } finally {
    db.close();
  }
}

Deno.test("a delivery whose statements fail half way fails its batch, and the message stays stored", () => {
  using file = temp();
  const store = new SqliteStore(file.path);
  try {
    putBatch(store, 16);
    putBatch(store, 2, 100);
    store.begin();
    for (let seq = 1; seq <= 11; seq++) store.deleteMessage(seq);
    store.commit();
    // The 12th delivery leaves 4 of 16: the block's rewrite fails after the mark went in.
    refuse(file.path, "no_rewrite", "BEFORE UPDATE ON message_blocks");
    store.begin();
    assert.throws(() => store.deleteMessage(12), /refused/);
    assert.throws(() => store.commit(), /Cannot commit/);
    store.rollback();
    assert.deepEqual(store.messagesFor("carol", 0, 10).map((m) => m.seq), [12, 14, 16, 18]);
    assert.deepEqual(store.messagesFor("bob", 0, 10).map((m) => m.seq), [13, 15, 17]);
    // The last message of a block: the block goes, then its marks fail to.
    refuse(file.path, "no_unmark", "BEFORE DELETE ON messages_gone");
    store.begin();
    store.deleteMessage(17);
    assert.throws(() => store.deleteMessage(18), /refused/);
    assert.throws(() => store.commit(), /Cannot commit/);
    store.rollback();
    assert.deepEqual(store.messagesFor("carol", 0, 10).map((m) => m.seq), [12, 14, 16, 18]);
    assert.deepEqual([...store.counts()].sort(), [["bob", 3], ["carol", 4]]);
  } finally {
    store.close();
  }
  const reopened = new SqliteStore(file.path);
  try {
    assert.deepEqual(reopened.messagesFor("bob", 0, 10).map((m) => m.seq), [13, 15, 17]);
    assert.deepEqual(reopened.messagesFor("carol", 0, 10).map((m) => m.seq), [12, 14, 16, 18]);
  } finally {
    reopened.close();
  }
});

Deno.test("after SQLite ended the batch by itself, no block of it is written on its own", () => {
  using file = temp();
  const store = new SqliteStore(file.path);
  try {
    putBatch(store, 1);
    // As SQLite does on some I/O errors: the whole transaction is rolled back mid-batch.
    refuse(file.path, "fail", "BEFORE INSERT ON receipts", "ROLLBACK", "disk gone");
    store.begin();
    for (let i = 0; i < MESSAGES_PER_BLOCK + 5; i++) {
      store.putMessage({ src: "dave", dst: "bob", id: i, sentAt: 0, payload: text("x") });
    }
    assert.throws(() => store.putReceipt("dave", "bob", 1), /disk gone/);
    store.putMessage({ src: "dave", dst: "bob", id: 999, sentAt: 0, payload: text("y") });
    assert.throws(() => store.deleteMessage(1), /transaction ended/);
    assert.throws(() => store.commit());
    store.rollback();
    assert.deepEqual(tables(file.path), { blocks: [[1, 1]], gone: [] });
    assert.deepEqual(store.messagesFor("bob", 0, 10).map(read), ["m0"]);
  } finally {
    store.close();
  }
});
