import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { historyLines } from "../cli/log.ts";
import { blockEntries, BlockFiles, FILE_BLOCK_BYTES } from "./block_files.ts";
import { blockBytes, HistoryBlockWriter } from "./history_block.ts";
import { SqliteStore } from "./sqlite_store.ts";

/** A payload that makes `count` entries fill more than a file block. */
const big = new Uint8Array(256).fill(0x62);
const perFile = Math.ceil(FILE_BLOCK_BYTES / big.length);

function temp(): { dir: string; path: string } & Disposable {
  const dir = Deno.makeTempDirSync({ prefix: "tinychat-blocks-test-" });
  return {
    dir,
    path: `${dir}/tinychat.db`,
    [Symbol.dispose]: () => Deno.removeSync(dir, { recursive: true }),
  };
}

/** Queues `count` entries alice -> `dst` from id `first` and writes them as one block. */
function block(s: SqliteStore, dst: string, first: number, count: number): void {
  for (let id = first; id < first + count; id++) {
    s.queueHistory({ src: "alice", dst, id, sentAt: id, payload: big });
  }
  s.flushHistory();
}

function files(path: string): string[] {
  try {
    return [...Deno.readDirSync(`${path}-history`)].map((e) => e.name).sort();
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
}

function rows(path: string): { block: number; inRow: number; fileBytes: number | null }[] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return db.prepare(
      "SELECT block, length(data) AS n, file_bytes FROM history_blocks ORDER BY block",
    ).all().map((r) => ({
      block: Number(r.block),
      inRow: Number(r.n),
      fileBytes: r.file_bytes === null ? null : Number(r.file_bytes),
    }));
  } finally {
    db.close();
  }
}

const ids = (s: SqliteStore, dst: string) =>
  s.historyBefore(`alice\n${dst}`, Infinity, 100_000).map((e) => e.id);
const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

Deno.test("BlockFiles writes, reads and removes a block's file; a short or missing one reads as lost", () => {
  using t = temp();
  const files = new BlockFiles(`${t.dir}/h`, true);
  const data = new Uint8Array([1, 2, 3, 4]);
  files.write(7, data);
  assert.deepEqual(files.read(7, 4), data);
  assert.equal(files.read(7, 5), undefined);
  assert.equal(Deno.statSync(`${t.dir}/h`).mode! & 0o777, 0o700);
  assert.equal(Deno.statSync(`${t.dir}/h/7.block`).mode! & 0o777, 0o600);
  files.remove(7);
  assert.equal(files.read(7, 4), undefined);
  files.remove(7);
});

Deno.test("BlockFiles writes a block given in parts as one file, over what a lost write left", () => {
  using t = temp();
  const files = new BlockFiles(`${t.dir}/h`, false);
  files.write(9, new Uint8Array(10).fill(7));
  files.write(9, new Uint8Array([1, 2]), new Uint8Array(0), new Uint8Array([3]));
  files.syncNow();
  assert.deepEqual(files.read(9, 3), new Uint8Array([1, 2, 3]));
  assert.equal(files.read(9, 10), undefined);
});

Deno.test("HistoryBlockWriter.take(): a block stored from its parts reads back whole", () => {
  using t = temp();
  const files = new BlockFiles(`${t.dir}/h`, true);
  const w = new HistoryBlockWriter();
  for (let id = 1; id <= perFile; id++) w.add("alice", "bob", id, id, big);
  const b = w.take();
  files.write(1, ...b.parts);
  assert.deepEqual(files.read(1, b.bytes), blockBytes(b));
  // The writer goes on in the same buffer: the file keeps the block as it was taken.
  w.add("carol", "dave", 1, 1, new Uint8Array(300).fill(1));
  const entries = blockEntries({ block: 1, data: null, file_bytes: b.bytes }, files);
  assert.equal(entries.length, perFile);
  assert.ok(entries.every((e) => e.src === "alice" && e.payload.every((x) => x === 0x62)));
});

Deno.test("BlockFiles.blocks() lists the blocks that have a file, and nothing else", () => {
  using t = temp();
  const files = new BlockFiles(`${t.dir}/h`, true);
  assert.deepEqual(files.blocks(), []);
  for (const b of [1, 5, 9]) files.write(b, new Uint8Array([b]));
  Deno.writeTextFileSync(`${t.dir}/h/notes.txt`, "mine");
  assert.deepEqual(files.blocks().sort((a, b) => a - b), [1, 5, 9]);
});

Deno.test("SqliteStore keeps a large block in a file and a small one in its row; both read back", () => {
  using t = temp();
  const s = new SqliteStore(t.path);
  block(s, "bob", 1, perFile);
  block(s, "bob", 1000, 3);
  assert.deepEqual(ids(s, "bob"), [...range(1, perFile), 1000, 1001, 1002]);
  s.close();
  const [large, small] = rows(t.path);
  assert.equal(large!.inRow, 0);
  assert.ok(large!.fileBytes! >= FILE_BLOCK_BYTES);
  assert.deepEqual(small!.fileBytes, null);
  assert.ok(small!.inRow > 0);
  assert.deepEqual(files(t.path), [`${large!.block}.block`]);
  assert.equal(Deno.statSync(`${t.path}-history/${large!.block}.block`).size, large!.fileBytes);
  const again = new SqliteStore(t.path);
  try {
    assert.deepEqual(ids(again, "bob"), [...range(1, perFile), 1000, 1001, 1002]);
    const db = new DatabaseSync(t.path, { readOnly: true });
    try {
      const lines = [...historyLines(db, { user: "bob", since: undefined })];
      assert.equal(lines.length, perFile + 3);
    } finally {
      db.close();
    }
  } finally {
    again.close();
  }
});

Deno.test("SqliteStore deletes a block's file once the trim that deleted its row commits", () => {
  using t = temp();
  const s = new SqliteStore(t.path);
  try {
    block(s, "bob", 1, perFile);
    block(s, "bob", 1000, perFile);
    const [first, second] = rows(t.path);
    s.begin();
    assert.equal(s.trimHistory("alice\nbob", perFile, 100_000), perFile);
    // Not committed yet: a rollback would need it.
    assert.deepEqual(files(t.path), [`${first!.block}.block`, `${second!.block}.block`]);
    s.rollback();
    assert.deepEqual(ids(s, "bob"), [...range(1, perFile), ...range(1000, perFile)]);
    s.begin();
    assert.equal(s.trimHistory("alice\nbob", perFile, 100_000), perFile);
    s.commit();
    assert.deepEqual(files(t.path), [`${second!.block}.block`]);
    assert.deepEqual(ids(s, "bob"), range(1000, perFile));
    // Outside a batch each statement commits at once.
    assert.equal(s.expireHistory(Number.MAX_SAFE_INTEGER, 100_000), perFile);
    assert.deepEqual(files(t.path), []);
  } finally {
    s.close();
  }
});

Deno.test("SqliteStore.rollback() deletes the files of the blocks its batch wrote", () => {
  using t = temp();
  const s = new SqliteStore(t.path);
  try {
    s.begin();
    block(s, "bob", 1, perFile);
    assert.equal(files(t.path).length, 1);
    s.rollback();
    assert.deepEqual(files(t.path), []);
    assert.deepEqual(ids(s, "bob"), []);
    block(s, "bob", 5000, perFile);
    assert.deepEqual(ids(s, "bob"), range(5000, perFile));
  } finally {
    s.close();
  }
});

Deno.test("SqliteStore at open deletes block files without a row below the newest block", () => {
  using t = temp();
  const s = new SqliteStore(t.path);
  block(s, "bob", 1, perFile);
  block(s, "bob", 1000, perFile);
  s.close();
  const [first, second] = rows(t.path);
  // A crash between file and row; and a block a running server has not committed yet.
  Deno.writeFileSync(`${t.path}-history/${first!.block + 1}.block`, new Uint8Array(10));
  Deno.writeFileSync(`${t.path}-history/${second!.block + perFile}.block`, new Uint8Array(10));
  const again = new SqliteStore(t.path);
  try {
    assert.deepEqual(files(t.path), [
      `${first!.block}.block`,
      `${second!.block}.block`,
      `${second!.block + perFile}.block`,
    ]);
    assert.deepEqual(ids(again, "bob"), [...range(1, perFile), ...range(1000, perFile)]);
    // The next block takes that number, and its file replaces what was there.
    block(again, "bob", 5000, perFile);
    assert.deepEqual(rows(t.path).at(-1)!.block, second!.block + perFile);
    assert.deepEqual(ids(again, "bob").slice(-perFile), range(5000, perFile));
  } finally {
    again.close();
  }
});

for (
  const [how, lose] of [
    ["short", (path: string) => Deno.truncateSync(path, 100)],
    [
      "full of zeros",
      (path: string) => Deno.writeFileSync(path, new Uint8Array(Deno.statSync(path).size)),
    ],
  ] as const
) {
  Deno.test(`SqliteStore reads a block whose file a power cut left ${how} as gone`, () => {
    using t = temp();
    const s = new SqliteStore(t.path);
    block(s, "bob", 1, perFile);
    block(s, "carol", 1000, perFile);
    block(s, "bob", 2000, perFile);
    s.close();
    const [, lost] = rows(t.path);
    lose(`${t.path}-history/${lost!.block}.block`);
    const again = new SqliteStore(t.path);
    try {
      assert.deepEqual(ids(again, "carol"), []);
      assert.deepEqual(ids(again, "bob"), [...range(1, perFile), ...range(2000, perFile)]);
      const db = new DatabaseSync(t.path, { readOnly: true });
      try {
        const lines = [...historyLines(db, { user: undefined, since: undefined })];
        assert.equal(lines.length, 2 * perFile);
      } finally {
        db.close();
      }
    } finally {
      again.close();
    }
  });
}

Deno.test("SqliteStore syncing in the background holds block files open only until sync()", async () => {
  using t = temp();
  const s = new SqliteStore(t.path, { syncInBackground: true });
  // The test runner may not read /proc/self: ls may, the process being its parent.
  const open = async () => {
    const ls = await new Deno.Command("ls", { args: ["-l", `/proc/${Deno.pid}/fd`] }).output();
    return new TextDecoder().decode(ls.stdout).split("\n")
      .filter((l) => l.includes(`${t.path}-history/`)).length;
  };
  try {
    block(s, "bob", 1, perFile);
    block(s, "bob", 1000, perFile);
    assert.equal(await open(), 2);
    await s.sync();
    assert.equal(await open(), 0);
    assert.deepEqual(ids(s, "bob"), [...range(1, perFile), ...range(1000, perFile)]);
  } finally {
    s.close();
  }
});

Deno.test("SqliteStore.syncOnThread() syncs the log alone; it leaves block files waiting to sync()", async () => {
  using t = temp();
  const s = new SqliteStore(t.path, { syncInBackground: true });
  try {
    s.begin();
    s.putMessage({ src: "alice", dst: "bob", id: 1, sentAt: 1, payload: big });
    s.commit();
    assert.equal(s.syncOnThread(), true);
    block(s, "bob", 1, perFile);
    assert.equal(s.syncOnThread(), false);
    await s.sync();
    assert.equal(s.syncOnThread(), true);
  } finally {
    s.close();
  }
  const again = new SqliteStore(t.path);
  try {
    assert.deepEqual(again.messagesFor("bob", 0, 10).map((m) => m.id), [1]);
    assert.deepEqual(ids(again, "bob"), range(1, perFile));
  } finally {
    again.close();
  }
});

Deno.test("SqliteStore upgrades a schema-5 file: its blocks stay in their rows and read back", () => {
  using t = temp();
  {
    const s = new SqliteStore(t.path);
    s.close();
    // A schema-5 file: the same tables without file_bytes, a block in its row.
    const db = new DatabaseSync(t.path);
    const w = new HistoryBlockWriter();
    for (let id = 1; id <= 3; id++) w.add("alice", "bob", id, id, big);
    const b = w.take();
    db.exec(`
      DROP TABLE history_blocks;
      CREATE TABLE history_blocks (
        block INTEGER PRIMARY KEY, first_seq INTEGER NOT NULL, count INTEGER NOT NULL,
        last_at INTEGER NOT NULL, data BLOB NOT NULL
      );
      INSERT INTO sqlite_sequence (name, seq) VALUES ('history', 3);
      INSERT INTO history_block_convs VALUES ('alice\nbob', 1, 3, 1);
      PRAGMA user_version = 5;
    `);
    db.prepare("INSERT INTO history_blocks VALUES (1, 1, 3, ?, ?)").run(b.lastAt, blockBytes(b));
    db.close();
  }
  const s = new SqliteStore(t.path);
  try {
    assert.deepEqual(ids(s, "bob"), [1, 2, 3]);
    block(s, "bob", 4, perFile);
    assert.deepEqual(ids(s, "bob"), [1, 2, 3, ...range(4, perFile)]);
  } finally {
    s.close();
  }
  assert.deepEqual(rows(t.path).map((r) => r.fileBytes === null), [true, false]);
  const db = new DatabaseSync(t.path, { readOnly: true });
  try {
    assert.equal(Number(db.prepare("PRAGMA user_version").get()!.user_version), 8);
  } finally {
    db.close();
  }
});
