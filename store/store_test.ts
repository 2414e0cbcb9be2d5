import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { MemoryStore } from "./memory_store.ts";
import { SqliteStore } from "./sqlite_store.ts";
import type { Store, StoredMessage } from "./store.ts";

const text = (s: string) => new TextEncoder().encode(s);

/** A store under test and how to release it. */
interface StoreFixture {
  store: Store;
  [Symbol.dispose](): void;
}

function message(
  src: string,
  dst: string,
  id: number,
  payload = `${src}->${dst}#${id}`,
): Omit<StoredMessage, "seq"> {
  return { src, dst, id, sentAt: 1_700_000_000_000 + id, payload: text(payload) };
}

function brief(m: StoredMessage): string {
  return `${m.src}->${m.dst}#${m.id}:${new TextDecoder().decode(m.payload)}`;
}

/** A SQLite file in a fresh temp directory, removed with its WAL files on dispose. */
function sqliteFile(): { path: string } & Disposable {
  const dir = Deno.makeTempDirSync({ prefix: "tinychat-store-test-" });
  return {
    path: `${dir}/tinychat.db`,
    [Symbol.dispose]: () => Deno.removeSync(dir, { recursive: true }),
  };
}

function memoryFixture(): StoreFixture {
  const store = new MemoryStore();
  return { store, [Symbol.dispose]: () => store.close() };
}

function sqliteFixture(): StoreFixture {
  const file = sqliteFile();
  const store = new SqliteStore(file.path);
  return {
    store,
    [Symbol.dispose]: () => {
      try {
        store.close();
      } finally {
        file[Symbol.dispose]();
      }
    },
  };
}

/** The behaviour every `Store` must have, run against the store `open` makes. */
function storeContract(name: string, open: () => StoreFixture): void {
  const test = (behaviour: string, fn: (store: Store) => void) =>
    Deno.test(`${name}.${behaviour}`, () => {
      using fixture = open();
      fn(fixture.store);
    });

  test("users() is empty for a new store", (store) => {
    assert.deepEqual(store.users(), []);
    assert.deepEqual([...store.counts()], []);
    assert.deepEqual([...store.receiptCounts()], []);
  });

  test("addUser() records each name once", (store) => {
    store.addUser("alice", 1);
    store.addUser("ёжик", 2);
    store.addUser("alice", 3);
    store.addUser("😀😀", 4);
    assert.deepEqual(store.users().sort(), ["alice", "ёжик", "😀😀"].sort());
  });

  test("accounts() is empty for a new store and account() finds nothing", (store) => {
    assert.deepEqual(store.accounts(), []);
    assert.equal(store.account("alice"), undefined);
  });

  test("setAccount() creates and replaces a name's hash; accounts() lists the names", (store) => {
    store.setAccount("bob", "scrypt$a", 10);
    store.setAccount("alice", "scrypt$b", 11);
    store.setAccount("ёжик", "scrypt$c", 12);
    assert.deepEqual(store.account("bob"), { hash: "scrypt$a", updatedAt: 10 });
    store.setAccount("bob", "scrypt$d", 13);
    assert.deepEqual(store.account("bob"), { hash: "scrypt$d", updatedAt: 13 });
    assert.deepEqual(store.accounts(), ["alice", "bob", "ёжик"]);
    // An account is not a login: the known users are kept apart.
    assert.deepEqual(store.users(), []);
  });

  test("addAccount() creates an account but never replaces one", (store) => {
    assert.equal(store.addAccount("alice", "h1", 1), true);
    assert.equal(store.addAccount("alice", "h2", 2), false);
    assert.deepEqual(store.account("alice"), { hash: "h1", updatedAt: 1 });
    assert.deepEqual(store.accounts(), ["alice"]);
  });

  test("deleteAccount() removes one account and ignores a missing name", (store) => {
    store.setAccount("alice", "h1", 1);
    store.setAccount("bob", "h2", 2);
    store.deleteAccount("alice");
    store.deleteAccount("alice");
    store.deleteAccount("nobody");
    assert.equal(store.account("alice"), undefined);
    assert.deepEqual(store.accounts(), ["bob"]);
  });

  test("rollback() drops account writes of the batch", (store) => {
    store.begin();
    store.setAccount("alice", "h1", 1);
    store.setAccount("carol", "h3", 1);
    store.commit();
    store.begin();
    store.setAccount("alice", "changed", 2);
    store.setAccount("bob", "h2", 2);
    store.deleteAccount("carol");
    assert.equal(store.account("alice")?.hash, "changed");
    store.rollback();
    assert.deepEqual(store.account("alice"), { hash: "h1", updatedAt: 1 });
    assert.deepEqual(store.accounts(), ["alice", "carol"]);
  });

  test("putMessage() returns increasing seqs and keeps every field", (store) => {
    const payload = new Uint8Array(1000).map((_, i) => (i * 7) % 256);
    const a = store.putMessage({ src: "ёжик", dst: "bob", id: 0xffffffff, sentAt: 42, payload });
    const b = store.putMessage({ src: "alice", dst: "bob", id: 0, sentAt: 43, payload: text("") });
    assert.ok(b > a, `${b} > ${a}`);
    const [first, second] = store.messagesFor("bob", 0, 10);
    assert.deepEqual(
      { ...first!, payload: [...first!.payload] },
      { seq: a, src: "ёжик", dst: "bob", id: 0xffffffff, sentAt: 42, payload: [...payload] },
    );
    assert.deepEqual(
      { ...second!, payload: [...second!.payload] },
      { seq: b, src: "alice", dst: "bob", id: 0, sentAt: 43, payload: [] },
    );
  });

  test("putMessage() copies the payload", (store) => {
    const payload = text("original");
    store.putMessage({ ...message("alice", "bob", 1), payload });
    payload.fill(0x21);
    assert.deepEqual(store.messagesFor("bob", 0, 1).map(brief), ["alice->bob#1:original"]);
  });

  test("messagesFor() pages with after and limit, oldest first, one recipient only", (store) => {
    const seqs: number[] = [];
    for (let i = 0; i < 5; i++) {
      seqs.push(store.putMessage(message("alice", "bob", i)));
      store.putMessage(message("alice", "carol", i));
    }
    const page1 = store.messagesFor("bob", 0, 2);
    assert.deepEqual(page1.map((m) => m.id), [0, 1]);
    const page2 = store.messagesFor("bob", page1.at(-1)!.seq, 2);
    assert.deepEqual(page2.map((m) => m.id), [2, 3]);
    const page3 = store.messagesFor("bob", page2.at(-1)!.seq, 2);
    assert.deepEqual(page3.map((m) => m.id), [4]);
    assert.deepEqual(store.messagesFor("bob", page3.at(-1)!.seq, 2), []);
    assert.deepEqual(store.messagesFor("bob", 0, 100).map((m) => m.seq), seqs);
    assert.ok(store.messagesFor("bob", 0, 100).every((m) => m.dst === "bob"));
    assert.deepEqual(store.messagesFor("dave", 0, 100), []);
    assert.deepEqual(store.messagesFor("bob", seqs[2]!, 100).map((m) => m.id), [3, 4]);
  });

  test("counts() counts stored messages per recipient", (store) => {
    store.putMessage(message("alice", "bob", 1));
    store.putMessage(message("carol", "bob", 1));
    const seq = store.putMessage(message("alice", "carol", 2));
    assert.deepEqual(new Map([...store.counts()].sort()), new Map([["bob", 2], ["carol", 1]]));
    store.deleteMessage(seq);
    assert.equal(store.counts().get("bob"), 2);
    assert.equal(store.counts().get("carol") ?? 0, 0);
  });

  test("storedBytes() sums a recipient's stored payload bytes; deleteMessage() returns them", (store) => {
    const a = store.putMessage(message("alice", "bob", 1, "x".repeat(10)));
    store.putMessage(message("carol", "bob", 2, "ё")); // 2 bytes of UTF-8
    store.putMessage(message("alice", "carol", 3, ""));
    assert.equal(store.storedBytes("bob"), 12);
    assert.equal(store.storedBytes("carol"), 0);
    assert.equal(store.storedBytes("dave"), 0);
    assert.equal(store.deleteMessage(a), 10);
    assert.equal(store.deleteMessage(a), 0, "a message already gone frees nothing");
    assert.equal(store.storedBytes("bob"), 2);
  });

  test("findMessages() matches src, id and dst exactly, every copy", (store) => {
    store.putMessage(message("alice", "bob", 7, "first"));
    store.putMessage(message("alice", "bob", 8));
    store.putMessage(message("alice", "carol", 7));
    store.putMessage(message("carol", "bob", 7));
    store.putMessage(message("alice", "bob", 7, "second"));
    assert.deepEqual(store.findMessages("alice", 7, "bob").map(brief).sort(), [
      "alice->bob#7:first",
      "alice->bob#7:second",
    ]);
    assert.deepEqual(store.findMessages("alice", 9, "bob"), []);
    assert.deepEqual(store.findMessages("bob", 7, "alice"), []);
  });

  test("deleteMessage() removes one message and ignores a missing seq", (store) => {
    const a = store.putMessage(message("alice", "bob", 1));
    const b = store.putMessage(message("alice", "bob", 2));
    store.deleteMessage(a);
    store.deleteMessage(a);
    store.deleteMessage(999_999);
    assert.deepEqual(store.messagesFor("bob", 0, 10).map((m) => m.seq), [b]);
    assert.deepEqual(store.findMessages("alice", 1, "bob"), []);
  });

  test("putReceipt() keeps receipts per owner, oldest first", (store) => {
    const r1 = store.putReceipt("alice", "bob", 1);
    store.putReceipt("carol", "bob", 1);
    const r2 = store.putReceipt("alice", "dave", 0xffffffff);
    assert.ok(r2 > r1);
    assert.deepEqual(store.receiptsFor("alice"), [
      { seq: r1, owner: "alice", from: "bob", id: 1 },
      { seq: r2, owner: "alice", from: "dave", id: 0xffffffff },
    ]);
    assert.deepEqual(store.receiptsFor("bob"), []);
    assert.deepEqual(
      new Map([...store.receiptCounts()].sort()),
      new Map([["alice", 2], ["carol", 1]]),
    );
  });

  test("hasReceipt() matches owner, from and id exactly", (store) => {
    store.putReceipt("alice", "bob", 1);
    assert.equal(store.hasReceipt("alice", "bob", 1), true);
    assert.equal(store.hasReceipt("alice", "bob", 2), false);
    assert.equal(store.hasReceipt("bob", "alice", 1), false);
    assert.equal(store.hasReceipt("alice", "carol", 1), false);
  });

  test("deleteReceipt() removes one receipt and ignores a missing seq", (store) => {
    const r1 = store.putReceipt("alice", "bob", 1);
    const r2 = store.putReceipt("alice", "bob", 2);
    store.deleteReceipt(r1);
    store.deleteReceipt(r1);
    store.deleteReceipt(999_999);
    assert.deepEqual(store.receiptsFor("alice").map((r) => r.seq), [r2]);
    assert.equal(store.hasReceipt("alice", "bob", 1), false);
    assert.equal(store.receiptCounts().get("alice"), 1);
    store.deleteReceipt(r2);
    assert.equal(store.receiptCounts().get("alice") ?? 0, 0);
  });

  test("begin() batches writes that reads see before commit() and keep after", (store) => {
    store.begin();
    store.addUser("alice", 1);
    const seq = store.putMessage(message("alice", "bob", 1));
    store.putReceipt("alice", "bob", 0);
    assert.deepEqual(store.users(), ["alice"]);
    assert.deepEqual(store.messagesFor("bob", 0, 10).map((m) => m.seq), [seq]);
    assert.equal(store.hasReceipt("alice", "bob", 0), true);
    store.commit();
    store.rollback(); // no batch open: nothing to drop
    assert.deepEqual(store.users(), ["alice"]);
    assert.deepEqual(store.messagesFor("bob", 0, 10).map((m) => m.seq), [seq]);
    assert.equal(store.receiptCounts().get("alice"), 1);
  });

  test("rollback() drops every write of the batch and keeps what was committed", (store) => {
    store.begin();
    store.addUser("alice", 1);
    const kept = store.putMessage(message("alice", "bob", 1));
    const keptReceipt = store.putReceipt("alice", "bob", 0);
    store.commit();
    store.begin();
    store.addUser("bob", 2);
    store.putMessage(message("alice", "bob", 2));
    store.deleteMessage(kept);
    store.putReceipt("alice", "bob", 5);
    store.deleteReceipt(keptReceipt);
    store.rollback();
    assert.deepEqual(store.users(), ["alice"]);
    assert.deepEqual(store.messagesFor("bob", 0, 10).map((m) => m.seq), [kept]);
    assert.deepEqual(store.counts().get("bob"), 1);
    assert.deepEqual(store.receiptsFor("alice").map((r) => r.seq), [keptReceipt]);
    assert.equal(store.hasReceipt("alice", "bob", 5), false);
    // Seqs keep increasing past what is stored.
    assert.ok(store.putMessage(message("alice", "bob", 3)) > kept);
  });

  test("a batch of many messages reads back, in order, before and after commit()", (store) => {
    store.begin();
    const seqs = new Map<string, number[]>([["bob", []], ["carol", []]]);
    for (let i = 0; i < 150; i++) {
      const dst = i % 3 === 0 ? "carol" : "bob";
      seqs.get(dst)!.push(store.putMessage(message(`s${i % 7}`, dst, i)));
      // Reads in the middle of the batch see every message put before them.
      if (i === 70) assert.equal(store.messagesFor("bob", 0, 1000).length, 47);
    }
    const check = () => {
      assert.deepEqual(store.messagesFor("bob", 0, 1000).map((m) => m.seq), seqs.get("bob"));
      assert.deepEqual(store.messagesFor("carol", 0, 1000).map((m) => m.seq), seqs.get("carol"));
      assert.deepEqual(new Map([...store.counts()].sort()), new Map([["bob", 100], ["carol", 50]]));
      assert.deepEqual(store.findMessages("s3", 129, "carol").map(brief), [
        "s3->carol#129:s3->carol#129",
      ]);
      assert.deepEqual(store.findMessages("s3", 129, "bob"), []);
      const carolBytes = store.messagesFor("carol", 0, 1000).reduce(
        (n, m) => n + m.payload.length,
        0,
      );
      assert.equal(store.storedBytes("carol"), carolBytes);
      assert.equal(carolBytes, 612);
    };
    check();
    store.commit();
    check();
  });

  test("a batch keeps each payload as it was put, empty and large ones too", (store) => {
    store.begin();
    const payloads = [text(""), new Uint8Array(1000).fill(7), text("ё"), new Uint8Array(5000)];
    for (let i = 0; i < 70; i++) {
      const payload = payloads[i % 4]!;
      store.putMessage({ ...message("alice", "bob", i), payload });
    }
    // Changing the caller's bytes after the put changes nothing stored.
    payloads[1]!.fill(9);
    store.commit();
    const stored = store.messagesFor("bob", 0, 100);
    assert.equal(stored.length, 70);
    for (const m of stored) {
      const expected = [text(""), new Uint8Array(1000).fill(7), text("ё"), new Uint8Array(5000)];
      assert.deepEqual([...m.payload], [...expected[m.id % 4]!], `payload of ${m.id}`);
    }
  });

  test("deleteMessage() and findMessages() in one batch with the puts", (store) => {
    store.begin();
    const a = store.putMessage(message("alice", "bob", 1));
    store.putMessage(message("alice", "bob", 2));
    assert.equal(store.deleteMessage(a), "alice->bob#1".length);
    assert.deepEqual(store.findMessages("alice", 1, "bob"), []);
    assert.deepEqual(store.findMessages("alice", 2, "bob").map((m) => m.id), [2]);
    assert.equal(store.counts().get("bob"), 1);
    store.commit();
    assert.deepEqual(store.messagesFor("bob", 0, 10).map((m) => m.id), [2]);
  });

  test("begin() twice opens one batch that one rollback() drops", (store) => {
    store.begin();
    store.putMessage(message("alice", "bob", 1));
    store.begin();
    store.putMessage(message("alice", "bob", 2));
    store.rollback();
    assert.deepEqual(store.messagesFor("bob", 0, 10), []);
  });

  test("commit() and rollback() without a batch do nothing", (store) => {
    store.commit();
    store.rollback();
    store.addUser("alice", 1);
    store.commit();
    assert.deepEqual(store.users(), ["alice"]);
  });
}

storeContract("MemoryStore", memoryFixture);
storeContract("SqliteStore", sqliteFixture);

Deno.test("SqliteStore keeps committed users, messages and receipts across a reopen", () => {
  using file = sqliteFile();
  const payload = new Uint8Array(1000).map((_, i) => i % 256);
  let seqs: number[];
  {
    const store = new SqliteStore(file.path);
    store.begin();
    store.addUser("alice", 10);
    store.addUser("ёжик", 11);
    seqs = [
      store.putMessage({ src: "alice", dst: "ёжик", id: 1, sentAt: 12, payload }),
      store.putMessage(message("alice", "ёжик", 2)),
    ];
    store.putReceipt("alice", "ёжик", 0);
    store.commit();
    store.close();
  }
  const store = new SqliteStore(file.path);
  try {
    assert.deepEqual(store.users().sort(), ["alice", "ёжик"].sort());
    const got = store.messagesFor("ёжик", 0, 10);
    assert.deepEqual(got.map((m) => m.seq), seqs);
    assert.deepEqual([...got[0]!.payload], [...payload]);
    assert.equal(got[0]!.sentAt, 12);
    assert.deepEqual(store.receiptsFor("alice").map((r) => [r.from, r.id]), [["ёжик", 0]]);
    assert.equal(store.counts().get("ёжик"), 2);
    assert.equal(store.receiptCounts().get("alice"), 1);
  } finally {
    store.close();
  }
});

Deno.test("SqliteStore loses a rolled-back batch across a reopen", () => {
  using file = sqliteFile();
  {
    const store = new SqliteStore(file.path);
    store.begin();
    store.addUser("alice", 1);
    store.putMessage(message("alice", "bob", 1));
    store.commit();
    store.begin();
    store.addUser("bob", 2);
    store.putMessage(message("alice", "bob", 2));
    store.putReceipt("alice", "bob", 1);
    store.rollback();
    store.close();
  }
  const store = new SqliteStore(file.path);
  try {
    assert.deepEqual(store.users(), ["alice"]);
    assert.deepEqual(store.messagesFor("bob", 0, 10).map((m) => m.id), [1]);
    assert.deepEqual(store.receiptsFor("alice"), []);
  } finally {
    store.close();
  }
});

Deno.test("SqliteStore.commit() is what makes a batch visible to another connection", () => {
  using file = sqliteFile();
  const store = new SqliteStore(file.path);
  const reader = new DatabaseSync(file.path);
  try {
    const count = () =>
      Number(reader.prepare("SELECT coalesce(sum(count), 0) AS n FROM message_blocks").get()!.n);
    store.begin();
    store.putMessage(message("alice", "bob", 1));
    assert.equal(store.messagesFor("bob", 0, 10).length, 1);
    // Not committed: another connection (as after a crash) does not see it.
    assert.equal(count(), 0);
    store.commit();
    assert.equal(count(), 1);
  } finally {
    reader.close();
    store.close();
  }
});

Deno.test("SqliteStore.close() commits an open batch", () => {
  using file = sqliteFile();
  {
    const store = new SqliteStore(file.path);
    store.begin();
    store.putMessage(message("alice", "bob", 1));
    store.close();
  }
  const store = new SqliteStore(file.path);
  try {
    assert.deepEqual(store.messagesFor("bob", 0, 10).map((m) => m.id), [1]);
  } finally {
    store.close();
  }
});

Deno.test("SqliteStore upgrades a file with a row per message: each message stays, under its seq, and no seq is given again", () => {
  using file = sqliteFile();
  {
    // Schemas 1 to 6 kept a row per message; version 2 also had two indexes on them.
    const db = new DatabaseSync(file.path);
    db.exec(`
      PRAGMA journal_mode = WAL;
      CREATE TABLE messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, dst TEXT NOT NULL, src TEXT NOT NULL,
        msg_id INTEGER NOT NULL, sent_at INTEGER NOT NULL, payload BLOB NOT NULL
      );
      CREATE INDEX messages_by_dst ON messages (dst, seq);
      CREATE INDEX messages_by_src ON messages (src, msg_id);
      PRAGMA user_version = 6;
    `);
    const put = db.prepare(
      "INSERT INTO messages (seq, dst, src, msg_id, sent_at, payload) VALUES (?, ?, 'alice', ?, ?, ?)",
    );
    // Seqs 1-3, 5, 6 and 300 messages from 10 on: holes where messages were delivered.
    const seqs = [1, 2, 3, 5, 6, ...Array.from({ length: 300 }, (_, i) => 10 + i)];
    for (const seq of seqs) {
      const dst = seq % 3 === 0 ? "carol" : "bob";
      put.run(seq, dst, seq, 1_700_000_000_000 + seq, text(`m${seq}`));
    }
    // The newest message, 400, was delivered: its seq is taken all the same.
    put.run(400, "bob", 400, 0, text("gone"));
    db.exec("DELETE FROM messages WHERE seq = 400");
    db.close();
  }
  const expected = (dst: string) =>
    [1, 2, 3, 5, 6, ...Array.from({ length: 300 }, (_, i) => 10 + i)]
      .filter((seq) => (seq % 3 === 0 ? "carol" : "bob") === dst);
  {
    const store = new SqliteStore(file.path);
    try {
      const bob = store.messagesFor("bob", 0, 1000);
      assert.deepEqual(bob.map((m) => m.seq), expected("bob"));
      assert.deepEqual(bob.map((m) => m.id), expected("bob"));
      assert.equal(new TextDecoder().decode(bob.at(-1)!.payload), "m308");
      assert.equal(bob[0]!.sentAt, 1_700_000_000_001);
      assert.deepEqual(
        new Map([...store.counts()].sort()),
        new Map([["bob", expected("bob").length], ["carol", expected("carol").length]]),
      );
      assert.equal(
        store.storedBytes("carol"),
        expected("carol").reduce((n, seq) => n + `m${seq}`.length, 0),
      );
      assert.deepEqual(store.findMessages("alice", 5, "bob").map(brief), ["alice->bob#5:m5"]);
      assert.deepEqual(store.findMessages("alice", 5, "carol"), []);
      store.begin();
      assert.equal(store.deleteMessage(5), 2);
      const seq = store.putMessage(message("alice", "bob", 0, "new"));
      store.commit();
      assert.equal(seq, 401);
    } finally {
      store.close();
    }
  }
  const store = new SqliteStore(file.path);
  try {
    assert.deepEqual(
      store.messagesFor("bob", 0, 1000).map((m) => m.seq),
      [...expected("bob").filter((seq) => seq !== 5), 401],
    );
    assert.equal(store.messagesFor("carol", 0, 1000).length, expected("carol").length);
  } finally {
    store.close();
  }
  const reader = new DatabaseSync(file.path);
  try {
    const tables = reader.prepare(
      "SELECT name FROM sqlite_master WHERE name LIKE 'messages%' ORDER BY name",
    ).all().map((row) => row.name);
    assert.deepEqual(tables, ["messages_gone"]);
  } finally {
    reader.close();
  }
});

Deno.test("SqliteStore.commit() throws when a message of the batch could not be inserted; rollback() drops the batch", () => {
  using file = sqliteFile();
  const store = new SqliteStore(file.path);
  try {
    const kept = store.putMessage(message("alice", "bob", 1));
    // Writing a block to mallory fails, as a full disk would make it: when the block goes in.
    const other = new DatabaseSync(file.path);
    other.exec(`CREATE TRIGGER refuse BEFORE INSERT ON message_blocks
      WHEN instr(NEW.heads, CAST('mallory' AS BLOB)) > 0 BEGIN SELECT RAISE(ABORT, 'refused'); END`);
    other.close();
    store.begin();
    store.putMessage(message("alice", "bob", 2));
    store.putMessage(message("alice", "mallory", 3));
    assert.throws(() => store.commit(), /Cannot commit: storing a message of the batch failed/);
    store.rollback();
    assert.deepEqual(store.messagesFor("bob", 0, 10).map((m) => m.seq), [kept]);
    assert.deepEqual([...store.counts()], [["bob", 1]]);
    assert.deepEqual(store.findMessages("alice", 2, "bob"), []);
    store.begin();
    const next = store.putMessage(message("alice", "bob", 4));
    store.commit();
    assert.ok(next > kept);
    assert.deepEqual(store.messagesFor("bob", 0, 10).map((m) => m.id), [1, 4]);
  } finally {
    store.close();
  }
});

Deno.test("SqliteStore with syncInBackground: sync() resolves after commits, and what it covered is kept", async () => {
  using file = sqliteFile();
  {
    const store = new SqliteStore(file.path, { syncInBackground: true });
    await store.sync(); // nothing written yet: no log to sync
    store.begin();
    store.addUser("alice", 1);
    store.putMessage(message("alice", "bob", 1));
    store.commit();
    const synced = store.sync();
    // The thread is free meanwhile: the next batch goes on while the sync runs.
    store.begin();
    store.putMessage(message("alice", "bob", 2));
    store.commit();
    await synced;
    await store.sync();
    store.close();
  }
  const store = new SqliteStore(file.path);
  try {
    assert.deepEqual(store.users(), ["alice"]);
    assert.deepEqual(store.messagesFor("bob", 0, 10).map((m) => m.id), [1, 2]);
    await store.sync(); // synchronous=FULL: commit() synced already
  } finally {
    store.close();
  }
});

Deno.test("SqliteStore gives seqs after those of a block another writer stored between its batches", () => {
  using file = sqliteFile();
  const store = new SqliteStore(file.path);
  try {
    store.begin();
    store.putMessage(message("alice", "bob", 1));
    store.commit();
    // Not what tinychat does (one process stores messages), but its seqs do not clash.
    const other = new SqliteStore(file.path);
    other.begin();
    other.putMessage(message("carol", "bob", 9));
    other.putMessage(message("carol", "bob", 10));
    other.commit();
    other.close();
    store.begin();
    store.putMessage(message("alice", "bob", 3));
    store.commit();
  } finally {
    store.close();
  }
  const reopened = new SqliteStore(file.path);
  try {
    const bob = reopened.messagesFor("bob", 0, 10);
    assert.deepEqual(bob.map((m) => m.id), [1, 9, 10, 3]);
    assert.deepEqual(bob.map((m) => m.seq), [1, 2, 3, 4]);
  } finally {
    reopened.close();
  }
});

Deno.test("SqliteStore.putMessage() in a batch never reuses a seq of a message deleted before", () => {
  using file = sqliteFile();
  let last: number;
  {
    const store = new SqliteStore(file.path);
    store.begin();
    store.putMessage(message("alice", "bob", 1));
    last = store.putMessage(message("alice", "bob", 2));
    store.deleteMessage(last);
    store.commit();
    store.close();
  }
  const store = new SqliteStore(file.path);
  try {
    store.begin();
    assert.ok(store.putMessage(message("alice", "bob", 3)) > last);
    store.commit();
  } finally {
    store.close();
  }
});

Deno.test("SqliteStore.putMessage() never reuses a seq after a reopen, even of a deleted one", () => {
  using file = sqliteFile();
  let last: number;
  {
    const store = new SqliteStore(file.path);
    store.putMessage(message("alice", "bob", 1));
    last = store.putMessage(message("alice", "bob", 2));
    store.deleteMessage(last);
    store.close();
  }
  const store = new SqliteStore(file.path);
  try {
    assert.ok(store.putMessage(message("alice", "bob", 3)) > last);
    assert.deepEqual(store.messagesFor("bob", 0, 10).map((m) => m.id), [1, 3]);
  } finally {
    store.close();
  }
});

Deno.test("SqliteStore keeps committed accounts across a reopen", () => {
  using file = sqliteFile();
  {
    const store = new SqliteStore(file.path);
    store.begin();
    store.setAccount("alice", "scrypt$N=16384,r=8,p=1$c2FsdA==$aGFzaA==", 5);
    store.commit();
    store.close();
  }
  const store = new SqliteStore(file.path);
  try {
    assert.deepEqual(store.account("alice"), {
      hash: "scrypt$N=16384,r=8,p=1$c2FsdA==$aGFzaA==",
      updatedAt: 5,
    });
  } finally {
    store.close();
  }
});

Deno.test("SqliteStore upgrades a version-1 file: its data stays, accounts work", () => {
  using file = sqliteFile();
  {
    // The schema of version 1, as an existing data directory has it.
    const db = new DatabaseSync(file.path);
    db.exec(`
      PRAGMA journal_mode = WAL;
      CREATE TABLE users (name TEXT PRIMARY KEY, created_at INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, dst TEXT NOT NULL, src TEXT NOT NULL,
        msg_id INTEGER NOT NULL, sent_at INTEGER NOT NULL, payload BLOB NOT NULL
      );
      CREATE TABLE receipts (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, owner TEXT NOT NULL, sender TEXT NOT NULL,
        msg_id INTEGER NOT NULL
      );
      INSERT INTO users VALUES ('alice', 1), ('bob', 2);
      INSERT INTO messages (dst, src, msg_id, sent_at, payload) VALUES ('bob', 'alice', 7, 3, x'6869');
      PRAGMA user_version = 1;
    `);
    db.close();
  }
  const store = new SqliteStore(file.path);
  try {
    assert.deepEqual(store.users().sort(), ["alice", "bob"]);
    assert.deepEqual(store.messagesFor("bob", 0, 10).map(brief), ["alice->bob#7:hi"]);
    assert.deepEqual(store.accounts(), []);
    store.setAccount("bob", "h", 4);
    assert.equal(store.account("bob")?.hash, "h");
  } finally {
    store.close();
  }
  const reader = new DatabaseSync(file.path);
  try {
    assert.equal(Number(reader.prepare("PRAGMA user_version").get()!.user_version), 8);
    assert.equal(
      reader.prepare("SELECT 1 FROM sqlite_master WHERE name = 'messages'").get(),
      undefined,
    );
  } finally {
    reader.close();
  }
});

Deno.test("SqliteStore refuses a file a newer tinychat wrote, and leaves it as it was", () => {
  using file = sqliteFile();
  {
    const db = new DatabaseSync(file.path);
    db.exec("CREATE TABLE users (name TEXT PRIMARY KEY); PRAGMA user_version = 99;");
    db.close();
  }
  assert.throws(() => new SqliteStore(file.path), /a newer tinychat wrote it \(schema 99/);
  const reader = new DatabaseSync(file.path);
  try {
    assert.equal(Number(reader.prepare("PRAGMA user_version").get()!.user_version), 99);
    const tables = reader.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all();
    assert.deepEqual(tables.map((t) => t.name), ["users"]);
  } finally {
    reader.close();
  }
});
