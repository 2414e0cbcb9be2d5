import { DatabaseSync, type StatementSync } from "node:sqlite";
import { MESSAGE_TABLES, MessageBlocks, migrateMessageRows } from "./message_blocks.ts";
import { blockEntries, BlockFiles, FILE_BLOCK_BYTES, hasFileColumn } from "./block_files.ts";
import { syncDir } from "./disk.ts";
import { SyncPace } from "./sync_pace.ts";
import { makePrivateFile } from "./private_file.ts";
import type { Account, Receipt, Store, StoredMessage } from "./store.ts";
import type { HistoryEntry, HistoryQuery, RoomMember } from "./store.ts";
import type { StoredFile } from "./store.ts";
import { BLOCK_MAX_ENTRIES, blockBytes, type BlockEntry, keptEntries } from "./history_block.ts";
import { HistoryBlockWriter } from "./history_block.ts";

/**
 * 2 added `accounts`; 3 dropped the indexes of `messages` (kept in memory: `MessageIndex`); 4
 * added the history, the rooms and the files; 5 reads a block's link by its count (below); 6 keeps
 * large blocks in files (`file_bytes`, below); 7 stores messages in blocks (`message_blocks`,
 * store/message_blocks.ts) instead of a row each (`messages`). An older file is upgraded when it
 * is opened; a newer one is refused (tinychat before 5 did not check: it would show again what
 * retention trimmed from a block since, and miss the blocks in files).
 *
 * The history: rooms' messages and file notices are rows of `history`; direct messages are
 * written in blocks (`history_blocks`, one row per flush: store/history_block.ts) whose seqs
 * come from the same sequence. `history_block_convs` links a conversation to a block, with the
 * number of its entries there still kept (`count`, lowered by `trimHistory`): the newest of them
 * (`keptEntries`). `from_seq` is the block's first seq (files trimmed before 2026-11-23: the first
 * entry kept, which those links' counts agree with). A block's links are written after it, with
 * the next blocks' (see `flushHistory`); blocks newer than every linked one are linked again from
 * their data when the file is opened (after a crash) or a batch rolled back. A block of
 * `FILE_BLOCK_BYTES` or more is written to a file of its own in the directory `PATH-history`
 * (store/block_files.ts): its row's `data` is empty and `file_bytes` its length (NULL: in the row).
 * Schema 8 has the tables of 7; its blocks hold up to 8,192 entries (`BLOCK_MAX_ENTRIES`), where a
 * reader of 7 bounds a block's seqs by 4,096 and would miss entries.
 */
const SCHEMA_VERSION = 8;
/** Links of history blocks per insert. */
const LINKS_PER_INSERT = 64;
/** The `data` of a block row whose data is in a file. */
const NO_BYTES = new Uint8Array(0);
/** Links of a conversation read per statement by `trimHistory`. */
const LINKS_PER_PAGE = 16;
/** Links waiting beyond which they are written with the block that brought them there. */
const MAX_WAITING_LINKS = 16_384;

/** Options of `SqliteStore`. */
export interface SqliteStoreOptions {
  /**
   * SQLite's `synchronous` setting. "full" (the default) syncs the write-ahead log at every
   * commit, so a commit that returned survives a crash or a power loss.
   */
  synchronous?: "full" | "normal";
  /**
   * Sync in the background (`Store.sync`): `commit()` writes the batch to the write-ahead log
   * (SQLite's `synchronous=NORMAL`) and `sync()` syncs that log's data off the JavaScript thread,
   * which is what `synchronous=FULL` does at every commit: a batch is as durable once `sync()`
   * resolved as it is under FULL once `commit()` returned, and many batches share one sync.
   * `syncOnThread()` does the same on this thread while that is quick (store/sync_pace.ts).
   * Default false.
   */
  syncInBackground?: boolean;
}

/**
 * A `Store` in one SQLite file (node:sqlite), in write-ahead-log mode with `synchronous=FULL`:
 * once `commit()` returns, the batch survives kill -9 and power loss. With `syncInBackground`,
 * that takes `commit()` and then `sync()`, which many batches share and which does not block the
 * thread (or `syncOnThread()`, which does, briefly).
 *
 * The messages of a batch are written in blocks, many to a row (store/message_blocks.ts), before
 * the next read of messages and at the latest by `commit()`; their seqs are assigned when they
 * are put. The store finds messages through a `MessageIndex` in memory (20 to 40 bytes a
 * message), read from the file at the first use of a message method. So only one `SqliteStore`
 * may change a file's messages at a time (the server); other processes may change its users and
 * accounts.
 *
 * @example
 * ```ts
 * import { SqliteStore } from "./sqlite_store.ts";
 * const store = new SqliteStore(":memory:");
 * store.begin();
 * store.addUser("bob", Date.now());
 * store.commit();
 * store.close();
 * ```
 */
export class SqliteStore implements Store {
  #db: DatabaseSync;
  #path: string;
  #background: boolean;
  /** Where large history blocks go; undefined for a database in memory. */
  #files: BlockFiles | undefined;
  /** Block files written in the open transaction: deleted if it rolls back. */
  #filesWritten: number[] = [];
  /** Blocks deleted in the open transaction: their files are deleted once it commits. */
  #filesDeleted: number[] = [];
  /** The write-ahead log, opened at the first `sync()`. */
  #wal: Deno.FsFile | undefined;
  /** Whether `syncOnThread()` syncs, after how long the last ones took. */
  #pace = new SyncPace();
  #inBatch = false;
  /** The stored messages. */
  #messages: MessageBlocks;
  #st: Record<
    | "addUser"
    | "account"
    | "setAccount"
    | "addAccount"
    | "deleteAccount"
    | "putReceipt"
    | "receiptsFor"
    | "hasReceipt"
    | "deleteReceipt",
    StatementSync
  >;

  constructor(path: string, options: SqliteStoreOptions = {}) {
    makePrivateFile(path);
    this.#db = new DatabaseSync(path);
    this.#path = path;
    const version = Number(this.#db.prepare("PRAGMA user_version").get()!.user_version);
    if (version > SCHEMA_VERSION) {
      this.#db.close();
      throw new Error(
        `Cannot open ${path}: a newer tinychat wrote it (schema ${version}; this one knows ` +
          `${SCHEMA_VERSION}), and this one would misread it`,
      );
    }
    this.#background = options.syncInBackground === true;
    const normal = options.synchronous === "normal" || this.#background;
    this.#db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = ${normal ? "NORMAL" : "FULL"};
      PRAGMA busy_timeout = 5000;
      CREATE TABLE IF NOT EXISTS users (
        name TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      ${MESSAGE_TABLES}
      CREATE TABLE IF NOT EXISTS receipts (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        owner TEXT NOT NULL,
        sender TEXT NOT NULL,
        msg_id INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS receipts_by_owner ON receipts (owner, sender, msg_id);
      CREATE TABLE IF NOT EXISTS accounts (
        name TEXT PRIMARY KEY,
        hash TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS history (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        conv TEXT NOT NULL,
        src TEXT NOT NULL,
        dst TEXT NOT NULL,
        msg_id INTEGER NOT NULL,
        sent_at INTEGER NOT NULL,
        payload BLOB NOT NULL,
        kind INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX IF NOT EXISTS history_by_conv ON history (conv, seq);
      CREATE TABLE IF NOT EXISTS rooms (
        name TEXT PRIMARY KEY,
        created_at INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS room_members (
        room TEXT NOT NULL,
        name TEXT NOT NULL,
        cursor INTEGER NOT NULL,
        joined_at INTEGER NOT NULL,
        PRIMARY KEY (room, name)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS files (
        fid INTEGER PRIMARY KEY AUTOINCREMENT,
        src TEXT NOT NULL,
        dst TEXT NOT NULL,
        msg_id INTEGER NOT NULL,
        name TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        media TEXT NOT NULL,
        sent_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS file_deliveries (
        fid INTEGER NOT NULL,
        recipient TEXT NOT NULL,
        PRIMARY KEY (fid, recipient)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS history_blocks (
        block INTEGER PRIMARY KEY,
        first_seq INTEGER NOT NULL,
        count INTEGER NOT NULL,
        last_at INTEGER NOT NULL,
        data BLOB NOT NULL,
        file_bytes INTEGER
      );
      CREATE TABLE IF NOT EXISTS history_block_convs (
        conv TEXT NOT NULL,
        block INTEGER NOT NULL,
        count INTEGER NOT NULL,
        from_seq INTEGER NOT NULL,
        PRIMARY KEY (conv, block)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS history_block_convs_by_block ON history_block_convs (block);
    `);
    if (!hasFileColumn(this.#db)) {
      this.#db.exec("ALTER TABLE history_blocks ADD COLUMN file_bytes INTEGER");
    }
    if (version < SCHEMA_VERSION) {
      this.#db.exec("BEGIN IMMEDIATE");
      try {
        migrateMessageRows(this.#db);
        this.#db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
        this.#db.exec("COMMIT");
      } catch (error) {
        this.#db.exec("ROLLBACK");
        this.#db.close();
        throw error;
      }
    }
    this.#messages = new MessageBlocks(this.#db);
    if (path !== ":memory:") {
      this.#files = new BlockFiles(`${path}-history`, !this.#background);
      this.#pruneFiles(this.#files);
    }
    const prepare = (sql: string) => this.#db.prepare(sql);
    this.#st = {
      addUser: prepare("INSERT OR IGNORE INTO users (name, created_at) VALUES (?, ?)"),
      account: prepare("SELECT hash, updated_at FROM accounts WHERE name = ?"),
      setAccount: prepare(
        "INSERT OR REPLACE INTO accounts (name, hash, updated_at) VALUES (?, ?, ?)",
      ),
      addAccount: prepare(
        "INSERT INTO accounts (name, hash, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
      ),
      deleteAccount: prepare("DELETE FROM accounts WHERE name = ?"),
      putReceipt: prepare("INSERT INTO receipts (owner, sender, msg_id) VALUES (?, ?, ?)"),
      receiptsFor: prepare(
        "SELECT seq, owner, sender, msg_id FROM receipts WHERE owner = ? ORDER BY seq",
      ),
      hasReceipt: prepare(
        "SELECT 1 FROM receipts WHERE owner = ? AND sender = ? AND msg_id = ? LIMIT 1",
      ),
      deleteReceipt: prepare("DELETE FROM receipts WHERE seq = ?"),
    };
    // Links the blocks a crash left without their links.
    this.flushHistory();
  }

  users(): string[] {
    return this.#db.prepare("SELECT name FROM users").all().map((row) => String(row.name));
  }

  addUser(name: string, now: number): void {
    this.#st.addUser.run(name, now);
  }

  account(name: string): Account | undefined {
    const row = this.#st.account.get(name);
    if (row === undefined) return undefined;
    return { hash: String(row.hash), updatedAt: Number(row.updated_at) };
  }

  setAccount(name: string, hash: string, now: number): void {
    this.#st.setAccount.run(name, hash, now);
  }

  addAccount(name: string, hash: string, now: number): boolean {
    return Number(this.#st.addAccount.run(name, hash, now).changes) === 1;
  }

  deleteAccount(name: string): void {
    this.#st.deleteAccount.run(name);
  }

  accounts(): string[] {
    return this.#db.prepare("SELECT name FROM accounts").all().map((row) => String(row.name))
      .sort();
  }

  storedBytes(dst: string): number {
    return this.#messages.keyed(dst).bytes(dst)!;
  }

  counts(): Map<string, number> {
    return this.#messages.index().counts();
  }

  putMessage(message: Omit<StoredMessage, "seq">): number {
    // A batch holds the write lock (BEGIN IMMEDIATE): no other writer can take its seqs.
    if (!this.#inBatch) return this.#alone(() => this.putMessage(message));
    const { dst, src, id, sentAt, payload } = message;
    return this.#messages.put(dst, src, id, sentAt, payload);
  }

  messagesFor(dst: string, after: number, limit: number): StoredMessage[] {
    return this.#messages.read(this.#messages.index().after(dst, after, limit));
  }

  findMessages(src: string, id: number, dst: string): StoredMessage[] {
    // Almost always none: a new message is looked up without reading the file.
    const candidates = this.#messages.keyed(dst).candidates(src, id, dst);
    if (candidates.length === 0) return [];
    return this.#messages.read(candidates).filter((m) =>
      m.src === src && m.id === id && m.dst === dst
    );
  }

  deleteMessage(seq: number): number {
    if (!this.#inBatch) return this.#alone(() => this.deleteMessage(seq));
    return this.#messages.delete(seq);
  }

  /**
   * `write` in a batch of its own: a message's put or delete takes more than one statement. The
   * queued history is written first, so that a failure rolls back nothing but `write`.
   */
  #alone<T>(write: () => T): T {
    this.flushHistory();
    this.begin();
    try {
      const result = write();
      this.commit();
      return result;
    } catch (error) {
      this.rollback();
      throw error;
    }
  }

  putReceipt(owner: string, from: string, id: number): number {
    return Number(this.#st.putReceipt.run(owner, from, id).lastInsertRowid);
  }

  receiptCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    const rows = this.#db.prepare("SELECT owner, count(*) AS n FROM receipts GROUP BY owner").all();
    for (const row of rows) counts.set(String(row.owner), Number(row.n));
    return counts;
  }

  receiptsFor(owner: string): Receipt[] {
    return this.#st.receiptsFor.all(owner).map((row) => ({
      seq: Number(row.seq),
      owner: String(row.owner),
      from: String(row.sender),
      id: Number(row.msg_id),
    }));
  }

  hasReceipt(owner: string, from: string, id: number): boolean {
    return this.#st.hasReceipt.get(owner, from, id) !== undefined;
  }

  deleteReceipt(seq: number): void {
    this.#st.deleteReceipt.run(seq);
  }

  begin(): void {
    if (this.#inBatch) return;
    this.#db.exec("BEGIN IMMEDIATE");
    this.#inBatch = true;
  }

  commit(): void {
    if (!this.#inBatch) return;
    this.#messages.flush();
    // A failed write leaves the transaction open, and so does a failed COMMIT: rollback() must
    // still see the batch.
    const failed = this.#messages.failure();
    if (failed !== undefined) {
      throw new Error("Cannot commit: storing a message of the batch failed", { cause: failed });
    }
    this.#db.exec("COMMIT");
    this.#inBatch = false;
    this.#messages.committed();
    this.#committed();
  }

  rollback(): void {
    if (!this.#inBatch) return;
    this.#dropQueuedHistory();
    this.#inBatch = false;
    // Read again from the file when next needed: the batch's messages are gone, deleted ones back.
    this.#messages.reset();
    if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
    this.#rolledBack();
  }

  /**
   * Deletes the files that a crash left without their row: those below the newest block (a
   * block above it may be a running server's, its row not committed yet; the next open deletes
   * it once a newer block is committed). One read transaction: a snapshot of the rows.
   */
  #pruneFiles(files: BlockFiles): void {
    const found = files.blocks();
    if (found.length === 0) return;
    this.#db.exec("BEGIN");
    try {
      const newest = Number(
        this.#db.prepare("SELECT coalesce(max(block), 0) AS n FROM history_blocks").get()!.n,
      );
      const inFile = this.#db.prepare(
        "SELECT 1 FROM history_blocks WHERE block = ? AND file_bytes IS NOT NULL",
      );
      for (const block of found) {
        if (block < newest && inFile.get(block) === undefined) files.remove(block);
      }
    } finally {
      this.#db.exec("COMMIT");
    }
  }

  /**
   * The open transaction committed: the files of the blocks it deleted go (one that cannot be
   * deleted now is left to the prune at the next open: the commit stands).
   */
  #committed(): void {
    this.#filesWritten.length = 0;
    for (const block of this.#filesDeleted) {
      try {
        this.#files!.remove(block);
      } catch {
        // Left for #pruneFiles.
      }
    }
    this.#filesDeleted.length = 0;
  }

  /**
   * The open transaction rolled back: the files of the blocks it wrote go, unless their rows are
   * there (SQLite can end a transaction by itself on an I/O error; what followed committed).
   */
  #rolledBack(): void {
    if (this.#filesWritten.length > 0) {
      const row = this.#db.prepare("SELECT 1 FROM history_blocks WHERE block = ?");
      for (const block of this.#filesWritten) {
        if (row.get(block) === undefined) this.#files!.remove(block);
      }
    }
    this.#filesWritten.length = 0;
    this.#filesDeleted.length = 0;
  }

  close(): void {
    this.flushHistory();
    this.commit();
    // What was committed since the last sync() becomes durable before the file is released.
    if (this.#background) {
      this.#files?.syncNow();
      this.#openWal()?.syncDataSync();
    }
    this.#wal?.close();
    this.#wal = undefined;
    this.#db.close();
  }

  /**
   * Resolves once every batch committed before the call survives power loss: with
   * `syncInBackground`, by syncing the write-ahead log's data on another thread; otherwise at
   * once (`commit()` synced it).
   */
  async sync(): Promise<void> {
    if (!this.#background) return;
    // Side by side: a row that outlives its block's file reads as a lost block (BlockFiles.read).
    await Promise.all([this.#files?.sync(), this.#openWal()?.syncData()]);
  }

  /**
   * `sync()` on this thread, when only the write-ahead log waits for a sync and the last one here
   * was quick (`SyncPace`); false, having done nothing, otherwise. Throws as `sync()` rejects.
   */
  syncOnThread(): boolean {
    if (!this.#background) return true;
    const start = performance.now();
    if ((this.#files?.waiting ?? false) || !this.#pace.onThread(start)) return false;
    this.#openWal()?.syncDataSync();
    const end = performance.now();
    this.#pace.took(end - start, end);
    return true;
  }

  /** The write-ahead log, opened once it exists (with its directory entry made durable). */
  #openWal(): Deno.FsFile | undefined {
    if (this.#wal !== undefined) return this.#wal;
    try {
      // SQLite keeps this file (same inode) while a connection is open: it is reset, not replaced.
      this.#wal = Deno.openSync(`${this.#path}-wal`, { read: true });
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
    const slash = this.#path.lastIndexOf("/");
    syncDir(slash < 0 ? "." : this.#path.slice(0, slash) || "/");
    return this.#wal;
  }

  // --- history and rooms

  /** The statements of the history and rooms, prepared at their first use. */
  #historyStatements: Record<HistoryStatement, StatementSync> | undefined;

  #hs(): Record<HistoryStatement, StatementSync> {
    if (this.#historyStatements !== undefined) return this.#historyStatements;
    const prepare = (sql: string) => this.#db.prepare(sql);
    const columns = "seq, conv, src, dst, msg_id, sent_at, payload, kind";
    this.#historyStatements = {
      append: prepare(
        `INSERT INTO history (conv, src, dst, msg_id, sent_at, payload, kind)
          VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      before: prepare(
        `SELECT ${columns} FROM (SELECT ${columns} FROM history WHERE conv = ? AND seq < ?
          ORDER BY seq DESC LIMIT ?) ORDER BY seq`,
      ),
      afterConv: prepare(
        `SELECT ${columns} FROM history WHERE conv = ? AND seq > ? AND seq <= ? AND src <> ?
          ORDER BY seq LIMIT ?`,
      ),
      afterAll: prepare(
        `SELECT ${columns} FROM history WHERE seq > ? AND seq <= ? AND src <> ?
          ORDER BY seq LIMIT ?`,
      ),
      head: prepare("SELECT coalesce(max(seq), 0) AS n FROM history WHERE conv = ?"),
      count: prepare("SELECT count(*) AS n FROM history WHERE conv = ?"),
      trim: prepare(
        `DELETE FROM history WHERE seq IN
          (SELECT seq FROM history WHERE conv = ? ORDER BY seq LIMIT ?)`,
      ),
      // Only among the oldest rows: seqs grow with time, and an index on sent_at would cost
      // every append.
      expire: prepare(
        `DELETE FROM history WHERE seq IN (SELECT seq FROM
          (SELECT seq, sent_at FROM history ORDER BY seq LIMIT ?) WHERE sent_at < ?)`,
      ),
      // The history's sequence, taken by blocks as AUTOINCREMENT takes it for rows.
      reserve: prepare(
        "UPDATE sqlite_sequence SET seq = seq + ? WHERE name = 'history' RETURNING seq",
      ),
      sequence: prepare(
        `INSERT INTO sqlite_sequence (name, seq) SELECT 'history', max(
            coalesce((SELECT max(seq) FROM history), 0),
            coalesce((SELECT block + count - 1 FROM history_blocks ORDER BY block DESC LIMIT 1), 0))
          WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'history')`,
      ),
      putBlock: prepare(
        `INSERT INTO history_blocks (block, first_seq, count, last_at, data, file_bytes)
          VALUES (?, ?, ?, ?, ?, ?)`,
      ),
      unlinked: prepare(
        `SELECT block, data, file_bytes FROM history_blocks WHERE block >
          (SELECT coalesce(max(block), 0) FROM history_block_convs) ORDER BY block`,
      ),
      blocksBefore: prepare(
        `SELECT c.block AS block, c.count AS count, b.data AS data, b.file_bytes AS file_bytes
          FROM history_block_convs c
          JOIN history_blocks b ON b.block = c.block
          WHERE c.conv = ? AND c.block < ? ORDER BY c.block DESC LIMIT ?`,
      ),
      blocksAfterConv: prepare(
        `SELECT c.block AS block, c.count AS count, b.data AS data, b.file_bytes AS file_bytes
          FROM history_block_convs c
          JOIN history_blocks b ON b.block = c.block
          WHERE c.conv = ? AND c.block > ? AND c.block <= ? AND b.block + b.count > ?
          ORDER BY c.block LIMIT ?`,
      ),
      blocksAfterAll: prepare(
        `SELECT block, data, file_bytes FROM history_blocks
          WHERE block > ? AND block <= ? AND block + count > ?
          ORDER BY block LIMIT ?`,
      ),
      linkCount: prepare("SELECT count FROM history_block_convs WHERE conv = ? AND block = ?"),
      linkedEntries: prepare(
        "SELECT coalesce(sum(count), 0) AS n FROM history_block_convs WHERE conv = ?",
      ),
      oldestLinks: prepare(
        `SELECT block, count FROM history_block_convs WHERE conv = ? AND block > ?
          ORDER BY block LIMIT ?`,
      ),
      trimLink: prepare(
        "UPDATE history_block_convs SET count = ? WHERE conv = ? AND block = ?",
      ),
      oldestRows: prepare("SELECT seq FROM history WHERE conv = ? ORDER BY seq LIMIT ?"),
      deleteRow: prepare("DELETE FROM history WHERE seq = ?"),
      unlink: prepare("DELETE FROM history_block_convs WHERE conv = ? AND block = ?"),
      linked: prepare("SELECT 1 FROM history_block_convs WHERE block = ? LIMIT 1"),
      unlinkBlock: prepare("DELETE FROM history_block_convs WHERE block = ?"),
      deleteBlock: prepare("DELETE FROM history_blocks WHERE block = ? RETURNING file_bytes"),
      oldestBlocks: prepare(
        "SELECT block, count, last_at FROM history_blocks ORDER BY block LIMIT ?",
      ),
      rooms: prepare("SELECT name, created_at FROM rooms"),
      addRoom: prepare("INSERT OR IGNORE INTO rooms (name, created_at) VALUES (?, ?)"),
      members: prepare("SELECT room, name, cursor, joined_at FROM room_members"),
      addMember: prepare(
        "INSERT OR REPLACE INTO room_members (room, name, cursor, joined_at) VALUES (?, ?, ?, ?)",
      ),
      removeMember: prepare("DELETE FROM room_members WHERE room = ? AND name = ?"),
      removeRoom: prepare("DELETE FROM rooms WHERE name = ?"),
      removeMembers: prepare("DELETE FROM room_members WHERE room = ?"),
      removeRoomHistory: prepare("DELETE FROM history WHERE conv = ?"),
      setCursor: prepare("UPDATE room_members SET cursor = ? WHERE room = ? AND name = ?"),
    };
    return this.#historyStatements;
  }

  /** Direct-message entries waiting to be written as one block (made at the first use). */
  #block: HistoryBlockWriter | undefined;
  /** Links of blocks written, waiting for `#writeLinks` (conversation, block, entries). */
  #links: { conv: string; block: number; count: number }[] = [];
  /** Whether blocks may lack their links (at open, after a rollback): `#writeLinks` links them. */
  #relink = true;
  /** Multi-row link inserts (a link already there is kept). */
  #linkInserts = new RowInserts(
    (sql) => this.#db.prepare(sql),
    "history_block_convs (conv, block, count, from_seq)",
    4,
    "OR IGNORE",
  );

  queueHistory(entry: Omit<HistoryEntry, "seq" | "kind" | "conv">): void {
    const block = this.#block ??= new HistoryBlockWriter();
    block.add(entry.src, entry.dst, entry.id, entry.sentAt, entry.payload);
    if (block.full) this.#writeHistory(MAX_WAITING_LINKS);
  }

  /**
   * Writes the queued entries as one block, and the links of every block written: in the open
   * batch, else in a transaction of their own (durable with the next sync, as any commit of a
   * store that syncs in the background). A full block is written alone, its links left for the
   * next flush (the retention sweep's, about a second later, or a read's): a conversation's links
   * of many blocks then share the index's pages, where a flush per block wrote a page per
   * conversation in it.
   */
  flushHistory(): void {
    if ((this.#block?.count ?? 0) === 0 && this.#links.length === 0 && !this.#relink) return;
    this.#writeHistory(0);
  }

  /** `#writeBlock(linksAbove)` in the open batch, else in a transaction of its own. */
  #writeHistory(linksAbove: number): void {
    const own = !this.#inBatch;
    try {
      if (own) this.#db.exec("BEGIN IMMEDIATE");
      this.#writeBlock(linksAbove);
      if (own) {
        this.#db.exec("COMMIT");
        this.#committed();
      }
    } catch (error) {
      if (own) {
        if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
        this.#rolledBack();
      }
      this.#lostLinks();
      throw error;
    }
  }

  /**
   * Writes the queued entries as one row, and the waiting links once more than `linksAbove` wait.
   * The entries' seqs are a range taken from the history's own sequence, so they never collide
   * with its rows.
   */
  #writeBlock(linksAbove: number): void {
    const writer = this.#block;
    if (writer !== undefined && writer.count > 0) {
      try {
        const block = writer.take();
        const st = this.#hs();
        let row = st.reserve.get(block.count);
        if (row === undefined) {
          st.sequence.run();
          row = st.reserve.get(block.count)!;
        }
        const first = Number(row.seq) - block.count + 1;
        if (this.#files !== undefined && block.bytes >= FILE_BLOCK_BYTES) {
          this.#filesWritten.push(first);
          this.#files.write(first, ...block.parts);
          st.putBlock.run(first, first, block.count, block.lastAt, NO_BYTES, block.bytes);
        } else {
          st.putBlock.run(first, first, block.count, block.lastAt, blockBytes(block), null);
        }
        for (const [conv, count] of block.convs) this.#links.push({ conv, block: first, count });
      } finally {
        writer.clear();
      }
    }
    if (this.#links.length > linksAbove || this.#relink) this.#writeLinks();
  }

  /** Inserts the waiting links, after those of any block that lacks them. */
  #writeLinks(): void {
    if (this.#relink) {
      // Every block newer than the newest linked one, those whose links wait included.
      this.#links.length = 0;
      for (const b of this.#hs().unlinked.all()) {
        const block = Number(b.block);
        const entries = blockEntries(b, this.#files);
        // Its file was lost (power went before its sync): nothing to link.
        if (entries.length === 0) {
          this.#deleteBlock(block);
          continue;
        }
        const convs = new Map<string, number>();
        for (const e of entries) {
          convs.set(e.conv, (convs.get(e.conv) ?? 0) + 1);
        }
        for (const [conv, count] of convs) this.#links.push({ conv, block, count });
      }
      this.#relink = false;
    }
    const links = this.#links;
    for (let at = 0; at < links.length; at += LINKS_PER_INSERT) {
      const rows = Math.min(LINKS_PER_INSERT, links.length - at);
      const values: (string | number)[] = [];
      for (let i = at; i < at + rows; i++) {
        const { conv, block, count } = links[i]!;
        values.push(conv, block, count, block);
      }
      this.#linkInserts.of(rows).run(...values);
    }
    links.length = 0;
  }

  /** Deletes block `block`'s row, and its file once that is committed. */
  #deleteBlock(block: number): void {
    const row = this.#hs().deleteBlock.get(block);
    if (row === undefined || row.file_bytes === null) return;
    if (this.#db.isTransaction) this.#filesDeleted.push(block);
    else this.#files!.remove(block);
  }

  /** Links written in a transaction rolled back, or blocks with theirs waiting: found again. */
  #lostLinks(): void {
    this.#links.length = 0;
    this.#relink = true;
  }

  #dropQueuedHistory(): void {
    this.#block?.clear();
    this.#lostLinks();
  }

  appendHistory(entry: Omit<HistoryEntry, "seq">): number {
    this.flushHistory();
    const { conv, src, dst, id, sentAt, payload, kind } = entry;
    return Number(
      this.#hs().append.run(conv, src, dst, id, sentAt, payload, kind).lastInsertRowid,
    );
  }

  historyBefore(conv: string, before: number, limit: number): HistoryEntry[] {
    this.flushHistory();
    const bound = Number.isFinite(before) ? before : Number.MAX_SAFE_INTEGER;
    const st = this.#hs();
    const rows = st.before.all(conv, bound, limit).map(toHistoryEntry);
    if (!isDirect(conv) || limit <= 0) return rows;
    // The newest `limit` of the blocks' entries, newest block first, then merged with the rows.
    const found: HistoryEntry[] = [];
    for (let below = bound; found.length < limit;) {
      const blocks = st.blocksBefore.all(conv, below, BLOCKS_PER_READ);
      for (const b of blocks) {
        const count = Number(b.count);
        const entries = keptEntries(
          blockEntries(b, this.#files, conv),
          () => count,
        );
        for (let i = entries.length - 1; i >= 0 && found.length < limit; i--) {
          const e = entries[i]!;
          if (e.seq < bound) found.push(blockEntry(e));
        }
        if (found.length >= limit) break;
      }
      if (blocks.length < BLOCKS_PER_READ) break;
      below = Number(blocks.at(-1)!.block);
    }
    if (found.length === 0) return rows;
    return rows.concat(found).sort((a, b) => a.seq - b.seq).slice(-limit);
  }

  historyAfter(query: HistoryQuery): HistoryEntry[] {
    this.flushHistory();
    const until = query.until ?? Number.MAX_SAFE_INTEGER;
    const notFrom = query.notFrom ?? "";
    const { conv, after, limit } = query;
    const st = this.#hs();
    const rows =
      (conv === undefined
        ? st.afterAll.all(after, until, notFrom, limit)
        : st.afterConv.all(conv, after, until, notFrom, limit)).map(toHistoryEntry);
    if ((conv !== undefined && !isDirect(conv)) || limit <= 0) return rows;
    const found: HistoryEntry[] = [];
    // A block starting below `after` may hold seqs above it: those whose last seq is above.
    for (let above = after - BLOCK_MAX_ENTRIES; found.length < limit;) {
      const blocks = conv === undefined
        ? st.blocksAfterAll.all(above, until, after, BLOCKS_PER_READ)
        : st.blocksAfterConv.all(conv, above, until, after, BLOCKS_PER_READ);
      for (const b of blocks) {
        const block = Number(b.block);
        // Without a conversation: what each conversation's link to the block keeps.
        const kept = conv !== undefined
          ? () => Number(b.count)
          : (c: string) => Number(st.linkCount.get(c, block)?.count ?? 0);
        const entries = blockEntries(b, this.#files, conv);
        for (const e of keptEntries(entries, kept)) {
          if (e.seq <= after || e.seq > until || e.src === notFrom) continue;
          found.push(blockEntry(e));
          if (found.length >= limit) break;
        }
        if (found.length >= limit) break;
      }
      if (blocks.length < BLOCKS_PER_READ) break;
      above = Number(blocks.at(-1)!.block);
    }
    if (found.length === 0) return rows;
    return rows.concat(found).sort((a, b) => a.seq - b.seq).slice(0, limit);
  }

  historyHead(conv: string): number {
    this.flushHistory();
    const st = this.#hs();
    const head = Number(st.head.get(conv)!.n);
    if (!isDirect(conv)) return head;
    const newest = st.blocksBefore.get(conv, Number.MAX_SAFE_INTEGER, 1);
    if (newest === undefined) return head;
    const entries = blockEntries(newest, this.#files, conv);
    return Math.max(head, entries.at(-1)?.seq ?? 0);
  }

  /**
   * For a direct conversation, oldest first: rows, and the conversation's links to blocks,
   * whole (a block no conversation links any more is deleted) or, for the last, in part (the
   * link's count goes down: it keeps the conversation's newest entries in that block).
   */
  trimHistory(conv: string, keep: number, max: number): number {
    this.flushHistory();
    const st = this.#hs();
    if (!isDirect(conv)) {
      const excess = Number(st.count.get(conv)!.n) - keep;
      if (excess <= 0) return 0;
      return Number(st.trim.run(conv, Math.min(excess, max)).changes);
    }
    const rows = Number(st.count.get(conv)!.n);
    const quota = Math.min(rows + Number(st.linkedEntries.get(conv)!.n) - keep, max);
    if (quota <= 0) return 0;
    // The oldest links, a page at a time until their entries cover the quota (not every link of
    // the conversation: it has one per block it is in), and the oldest rows. Rows and blocks
    // never interleave their seqs: each unit is ordered by its first seq.
    const units: { seq: number; n: number; row: boolean }[] = [];
    for (let covered = 0, after = 0; covered < quota;) {
      const page = st.oldestLinks.all(conv, after, LINKS_PER_PAGE);
      for (const r of page) {
        units.push({ seq: Number(r.block), n: Number(r.count), row: false });
        covered += Number(r.count);
      }
      if (page.length < LINKS_PER_PAGE) break;
      after = units[units.length - 1]!.seq;
    }
    if (rows > 0) {
      for (const r of st.oldestRows.all(conv, quota)) {
        units.push({ seq: Number(r.seq), n: 1, row: true });
      }
    }
    units.sort((a, b) => a.seq - b.seq);
    let deleted = 0;
    for (const unit of units) {
      if (deleted === quota) break;
      if (unit.row) {
        st.deleteRow.run(unit.seq);
        deleted++;
      } else if (unit.n <= quota - deleted) {
        st.unlink.run(conv, unit.seq);
        if (st.linked.get(unit.seq) === undefined) this.#deleteBlock(unit.seq);
        deleted += unit.n;
      } else {
        // The link keeps its conversation's newest entries in the block: fewer of them now. No
        // read of the block (a burst of such reads, each a buffer of its size, made V8 promote
        // what every scavenge after found).
        const drop = quota - deleted;
        st.trimLink.run(unit.n - drop, conv, unit.seq);
        deleted += drop;
      }
    }
    return deleted;
  }

  /**
   * Rows as before; blocks whole, once their newest entry is older than `before`, oldest first,
   * until `max` entries are deleted (at least one block when one is due).
   */
  expireHistory(before: number, max: number): number {
    this.flushHistory();
    const st = this.#hs();
    let deleted = Number(st.expire.run(max, before).changes);
    for (const b of st.oldestBlocks.all(BLOCKS_PER_EXPIRE)) {
      if (deleted >= max || Number(b.last_at) >= before) break;
      const block = Number(b.block);
      st.unlinkBlock.run(block);
      this.#deleteBlock(block);
      deleted += Number(b.count);
    }
    return deleted;
  }

  rooms(): { name: string; createdAt: number }[] {
    return this.#hs().rooms.all().map((row) => ({
      name: String(row.name),
      createdAt: Number(row.created_at),
    }));
  }

  addRoom(name: string, now: number): void {
    this.#hs().addRoom.run(name, now);
  }

  roomMembers(): RoomMember[] {
    return this.#hs().members.all().map((row) => ({
      room: String(row.room),
      name: String(row.name),
      cursor: Number(row.cursor),
      joinedAt: Number(row.joined_at),
    }));
  }

  addRoomMember(room: string, name: string, cursor: number, now: number): void {
    this.#hs().addMember.run(room, name, cursor, now);
  }

  removeRoomMember(room: string, name: string): void {
    this.#hs().removeMember.run(room, name);
  }

  removeRoom(name: string): void {
    const st = this.#hs();
    st.removeRoomHistory.run(name);
    st.removeMembers.run(name);
    st.removeRoom.run(name);
  }

  setRoomCursor(room: string, name: string, cursor: number): void {
    this.#hs().setCursor.run(cursor, room, name);
  }

  // --- files

  /** The statements of the files, prepared at their first use. */
  #fileStatements: Record<FileStatement, StatementSync> | undefined;

  #fs(): Record<FileStatement, StatementSync> {
    if (this.#fileStatements !== undefined) return this.#fileStatements;
    const prepare = (sql: string) => this.#db.prepare(sql);
    const columns = "fid, src, dst, msg_id, name, size, sha256, media, sent_at";
    this.#fileStatements = {
      put: prepare(
        `INSERT INTO files (src, dst, msg_id, name, size, sha256, media, sent_at)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      deliver: prepare("INSERT OR IGNORE INTO file_deliveries (fid, recipient) VALUES (?, ?)"),
      get: prepare(`SELECT ${columns} FROM files WHERE fid = ?`),
      find: prepare(
        `SELECT ${columns} FROM files WHERE src = ? AND msg_id = ? AND dst = ? ORDER BY fid LIMIT 1`,
      ),
      forRecipient: prepare(
        `SELECT ${columns} FROM files WHERE fid IN
          (SELECT fid FROM file_deliveries WHERE recipient = ?) ORDER BY fid`,
      ),
      recipients: prepare("SELECT recipient FROM file_deliveries WHERE fid = ?"),
      deleteDelivery: prepare("DELETE FROM file_deliveries WHERE fid = ? AND recipient = ?"),
      deleteDeliveries: prepare("DELETE FROM file_deliveries WHERE fid = ?"),
      delete: prepare("DELETE FROM files WHERE fid = ?"),
      pending: prepare(
        `SELECT d.recipient AS recipient, count(*) AS n, coalesce(sum(f.size), 0) AS bytes
          FROM file_deliveries d JOIN files f ON f.fid = d.fid GROUP BY d.recipient`,
      ),
    };
    return this.#fileStatements;
  }

  putFile(file: Omit<StoredFile, "fid">, recipients: readonly string[]): number {
    const st = this.#fs();
    const { src, dst, id, name, size, sha256, media, sentAt } = file;
    const fid = Number(st.put.run(src, dst, id, name, size, sha256, media, sentAt).lastInsertRowid);
    for (const recipient of recipients) st.deliver.run(fid, recipient);
    return fid;
  }

  file(fid: number): StoredFile | undefined {
    const row = this.#fs().get.get(fid);
    return row === undefined ? undefined : toStoredFile(row);
  }

  findFile(src: string, id: number, dst: string): StoredFile | undefined {
    const row = this.#fs().find.get(src, id, dst);
    return row === undefined ? undefined : toStoredFile(row);
  }

  filesFor(recipient: string): StoredFile[] {
    return this.#fs().forRecipient.all(recipient).map(toStoredFile);
  }

  fileRecipients(fid: number): string[] {
    return this.#fs().recipients.all(fid).map((row) => String(row.recipient));
  }

  deleteFileDelivery(fid: number, recipient: string): boolean {
    return Number(this.#fs().deleteDelivery.run(fid, recipient).changes) > 0;
  }

  deleteFile(fid: number): void {
    this.#fs().deleteDeliveries.run(fid);
    this.#fs().delete.run(fid);
  }

  pendingFiles(): Map<string, { count: number; bytes: number }> {
    const pending = new Map<string, { count: number; bytes: number }>();
    for (const row of this.#fs().pending.all()) {
      pending.set(String(row.recipient), { count: Number(row.n), bytes: Number(row.bytes) });
    }
    return pending;
  }
}

// --- history and rooms

/** `INSERT` statements of many rows into one table, prepared once per row count. */
class RowInserts {
  #prepare: (sql: string) => StatementSync;
  #head: string;
  #row: string;
  #statements = new Map<number, StatementSync>();

  /** Rows of `columns` values into `into` ("table (col, ...)"); `or`: a conflict clause. */
  constructor(prepare: (sql: string) => StatementSync, into: string, columns: number, or = "") {
    this.#prepare = prepare;
    this.#head = `INSERT ${or ? `${or} ` : ""}INTO ${into} VALUES `;
    this.#row = `(${new Array(columns).fill("?").join(", ")})`;
  }

  /** The statement that inserts `rows` rows. */
  of(rows: number): StatementSync {
    let statement = this.#statements.get(rows);
    if (statement === undefined) {
      statement = this.#prepare(this.#head + new Array(rows).fill(this.#row).join(", "));
      this.#statements.set(rows, statement);
    }
    return statement;
  }
}

/** Blocks read per statement (a block's data is up to about 1 MiB: `BLOCK_TARGET_BYTES`). */
const BLOCKS_PER_READ = 2;
/** Blocks looked at per `expireHistory()`. */
const BLOCKS_PER_EXPIRE = 64;

/** Whether `conv` is a direct conversation (two names), not a room. */
function isDirect(conv: string): boolean {
  return conv.includes("\n");
}

function blockEntry(e: BlockEntry): HistoryEntry {
  return { ...e, kind: 0 };
}

type HistoryStatement =
  | "append"
  | "before"
  | "afterConv"
  | "afterAll"
  | "head"
  | "count"
  | "trim"
  | "expire"
  | "reserve"
  | "sequence"
  | "putBlock"
  | "unlinked"
  | "blocksBefore"
  | "blocksAfterConv"
  | "blocksAfterAll"
  | "linkCount"
  | "trimLink"
  | "linkedEntries"
  | "oldestLinks"
  | "oldestRows"
  | "deleteRow"
  | "unlink"
  | "linked"
  | "unlinkBlock"
  | "deleteBlock"
  | "oldestBlocks"
  | "rooms"
  | "addRoom"
  | "members"
  | "addMember"
  | "removeMember"
  | "removeRoom"
  | "removeMembers"
  | "removeRoomHistory"
  | "setCursor";

function toHistoryEntry(row: Record<string, unknown>): HistoryEntry {
  return {
    seq: Number(row.seq),
    conv: String(row.conv),
    src: String(row.src),
    dst: String(row.dst),
    id: Number(row.msg_id),
    sentAt: Number(row.sent_at),
    payload: row.payload as Uint8Array,
    kind: Number(row.kind),
  };
}

// --- files

type FileStatement =
  | "put"
  | "deliver"
  | "get"
  | "find"
  | "forRecipient"
  | "recipients"
  | "deleteDelivery"
  | "deleteDeliveries"
  | "delete"
  | "pending";

function toStoredFile(row: Record<string, unknown>): StoredFile {
  return {
    fid: Number(row.fid),
    src: String(row.src),
    dst: String(row.dst),
    id: Number(row.msg_id),
    name: String(row.name),
    size: Number(row.size),
    sha256: String(row.sha256),
    media: String(row.media),
    sentAt: Number(row.sent_at),
  };
}
