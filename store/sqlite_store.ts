import { DatabaseSync, type StatementSync } from "node:sqlite";
import { MessageIndex } from "./message_index.ts";
import { makePrivateFile } from "./private_file.ts";
import type { Account, Receipt, Store, StoredMessage } from "./store.ts";

/**
 * 2 added `accounts`; 3 dropped the indexes of `messages` (kept in memory: `MessageIndex`); 4
 * added the history, the rooms and the files. An older file is upgraded when it is opened.
 */
const SCHEMA_VERSION = 4;
/** Rows a batch's messages are inserted with per statement (SQLite allows 32766 parameters). */
const ROWS_PER_INSERT = 64;
/** The columns a batch inserts; SQLite numbers the rows (cheaper than given seqs) as predicted. */
const MESSAGE_COLUMNS = "(dst, src, msg_id, sent_at, payload)";
/** Room for the payloads of one insert of 1000-byte payloads (larger ones get their own copy). */
const ARENA_BYTES = ROWS_PER_INSERT * 1000;
/** Messages read per statement when the index is built. */
const INDEX_SLICE = 50_000;

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
   * Default false.
   */
  syncInBackground?: boolean;
}

/**
 * A `Store` in one SQLite file (node:sqlite), in write-ahead-log mode with `synchronous=FULL`:
 * once `commit()` returns, the batch survives kill -9 and power loss. With `syncInBackground`,
 * that takes `commit()` and then `sync()`, which many batches share and which does not block the
 * thread.
 *
 * The messages of a batch are inserted many rows a statement, before the next read of messages
 * and at the latest by `commit()`; their seqs are assigned when they are put. The messages table
 * has no index besides its seqs, which makes an insert about half as costly: the store finds
 * messages through a `MessageIndex` in memory (20 to 40 bytes a message), read from the file at
 * the first use of a message method (about 50 ms for 100,000 messages). So only one
 * `SqliteStore` may change a file's messages at a time (the server); other processes may change
 * its users and accounts.
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
  /** The write-ahead log, opened at the first `sync()`. */
  #wal: Deno.FsFile | undefined;
  #inBatch = false;
  /**
   * The batch's messages not inserted yet, as the parameters of `MESSAGE_COLUMNS`, row by row;
   * inserted by one statement once there are `ROWS_PER_INSERT`.
   */
  #rows: (string | number | Uint8Array)[] = [];
  /** Copies of the payloads in `#rows` (cheaper than a buffer each), reused after the insert. */
  #arena = new Uint8Array(ARENA_BYTES);
  #arenaUsed = 0;
  /**
   * The seq of the next message put in a batch; 0: to be read from the file. Kept from batch to
   * batch: no other process stores messages (the insert checks it).
   */
  #nextSeq = 0;
  /** Why inserting the batch's messages failed: it can only be rolled back then. */
  #failed: unknown = undefined;
  /** Multi-row message inserts, by row count. */
  #inserts = new Map<number, StatementSync>();
  /** The messages' index; undefined until the first message method, and after a rollback. */
  #index: MessageIndex | undefined;
  #st: Record<
    | "addUser"
    | "account"
    | "setAccount"
    | "addAccount"
    | "deleteAccount"
    | "putMessage"
    | "nextSeq"
    | "queues"
    | "messagesBySeq"
    | "keysBySeq"
    | "deleteMessage"
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
      CREATE TABLE IF NOT EXISTS messages (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        dst TEXT NOT NULL,
        src TEXT NOT NULL,
        msg_id INTEGER NOT NULL,
        sent_at INTEGER NOT NULL,
        payload BLOB NOT NULL
      );
      DROP INDEX IF EXISTS messages_by_dst;
      DROP INDEX IF EXISTS messages_by_src;
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
      PRAGMA user_version = ${SCHEMA_VERSION};
    `);
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
      putMessage: prepare(
        "INSERT INTO messages (dst, src, msg_id, sent_at, payload) VALUES (?, ?, ?, ?, ?)",
      ),
      // What AUTOINCREMENT would pick: above every seq ever used, deleted ones included.
      nextSeq: prepare(
        `SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0),
          coalesce((SELECT max(seq) FROM messages), 0)) + 1 AS n`,
      ),
      // A pass over the table in seq order, in slices, each as two JSON arrays (few values to
      // make, no sorting).
      queues: prepare(
        `SELECT json_group_array(dst) AS dsts, json_group_array(seq) AS seqs
          FROM (SELECT dst, seq FROM messages WHERE seq > ? ORDER BY seq LIMIT ${INDEX_SLICE})`,
      ),
      // The seqs are a JSON array: one statement for any number of them.
      messagesBySeq: prepare(
        `SELECT seq, src, dst, msg_id, sent_at, payload FROM messages
          WHERE seq IN (SELECT value FROM json_each(?)) ORDER BY seq`,
      ),
      keysBySeq: prepare(
        `SELECT seq, src, msg_id, length(payload) AS n FROM messages
          WHERE seq IN (SELECT value FROM json_each(?))`,
      ),
      deleteMessage: prepare(
        "DELETE FROM messages WHERE seq = ? RETURNING dst, src, msg_id, length(payload) AS n",
      ),
      putReceipt: prepare("INSERT INTO receipts (owner, sender, msg_id) VALUES (?, ?, ?)"),
      receiptsFor: prepare(
        "SELECT seq, owner, sender, msg_id FROM receipts WHERE owner = ? ORDER BY seq",
      ),
      hasReceipt: prepare(
        "SELECT 1 FROM receipts WHERE owner = ? AND sender = ? AND msg_id = ? LIMIT 1",
      ),
      deleteReceipt: prepare("DELETE FROM receipts WHERE seq = ?"),
    };
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
    return this.#keyed(dst).bytes(dst)!;
  }

  counts(): Map<string, number> {
    return this.#messages().counts();
  }

  putMessage(message: Omit<StoredMessage, "seq">): number {
    const index = this.#messages();
    const { dst, src, id, sentAt, payload } = message;
    let seq: number;
    if (!this.#inBatch) {
      seq = Number(this.#st.putMessage.run(dst, src, id, sentAt, payload).lastInsertRowid);
      this.#nextSeq = 0;
    } else {
      // The batch holds the write lock (BEGIN IMMEDIATE): no other writer can take these seqs.
      if (this.#nextSeq === 0) this.#nextSeq = Number(this.#st.nextSeq.get()!.n);
      seq = this.#nextSeq++;
      // The payload may be a view into a buffer its owner reuses before the insert.
      const end = this.#arenaUsed + payload.length;
      let copy: Uint8Array;
      if (end <= ARENA_BYTES) {
        this.#arena.set(payload, this.#arenaUsed);
        copy = this.#arena.subarray(this.#arenaUsed, end);
        this.#arenaUsed = end;
      } else copy = payload.slice();
      this.#rows.push(dst, src, id, sentAt, copy);
      if (this.#rows.length === ROWS_PER_INSERT * 5) this.#flush();
    }
    index.add(seq, dst, src, id, payload.length);
    return seq;
  }

  messagesFor(dst: string, after: number, limit: number): StoredMessage[] {
    return this.#read(this.#messages().after(dst, after, limit));
  }

  findMessages(src: string, id: number, dst: string): StoredMessage[] {
    // Almost always none: a new message is looked up without reading the file.
    const candidates = this.#keyed(dst).candidates(src, id, dst);
    if (candidates.length === 0) return [];
    return this.#read(candidates).filter((m) => m.src === src && m.id === id && m.dst === dst);
  }

  deleteMessage(seq: number): number {
    const index = this.#messages();
    this.#flush();
    const row = this.#st.deleteMessage.get(seq);
    if (row === undefined) return 0;
    const bytes = Number(row.n);
    index.remove(seq, String(row.dst), String(row.src), Number(row.msg_id), bytes);
    return bytes;
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
    this.#flush();
    // A failed insert leaves the transaction open, and so does a failed COMMIT: rollback() must
    // still see the batch.
    if (this.#failed !== undefined) {
      throw new Error("Cannot commit: storing a message of the batch failed", {
        cause: this.#failed,
      });
    }
    this.#db.exec("COMMIT");
    this.#inBatch = false;
  }

  rollback(): void {
    if (!this.#inBatch) return;
    this.#inBatch = false;
    this.#rows.length = 0;
    this.#arenaUsed = 0;
    this.#nextSeq = 0;
    this.#failed = undefined;
    // Read again from the file when next needed: the batch's messages are gone, deleted ones back.
    this.#index = undefined;
    if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
  }

  close(): void {
    this.commit();
    // What was committed since the last sync() becomes durable before the file is released.
    if (this.#background) this.#openWal()?.syncDataSync();
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
    await this.#openWal()?.syncData();
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
    const dir = Deno.openSync(slash < 0 ? "." : this.#path.slice(0, slash) || "/", { read: true });
    try {
      dir.syncSync();
    } finally {
      dir.close();
    }
    return this.#wal;
  }

  /** The index of the messages, read from the file if it is not in memory. */
  #messages(): MessageIndex {
    if (this.#index !== undefined) return this.#index;
    const queues = new Map<string, number[]>();
    for (let after = 0;;) {
      const row = this.#st.queues.get(after)!;
      const dsts: string[] = JSON.parse(String(row.dsts));
      const seqs: number[] = JSON.parse(String(row.seqs));
      for (let i = 0; i < dsts.length; i++) {
        const queue = queues.get(dsts[i]!);
        if (queue === undefined) queues.set(dsts[i]!, [seqs[i]!]);
        else queue.push(seqs[i]!);
      }
      if (seqs.length < INDEX_SLICE) break;
      after = seqs[seqs.length - 1]!;
    }
    const index = new MessageIndex();
    for (const [dst, seqs] of queues) index.addUnkeyed(dst, seqs);
    this.#index = index;
    return index;
  }

  /** The index, with the keys and sizes of `dst`'s messages read from the file if need be. */
  #keyed(dst: string): MessageIndex {
    const index = this.#messages();
    const unkeyed = index.unkeyed(dst);
    if (unkeyed.length === 0) return index;
    const rows = this.#st.keysBySeq.all(JSON.stringify(unkeyed)).map((row) => ({
      seq: Number(row.seq),
      src: String(row.src),
      id: Number(row.msg_id),
      bytes: Number(row.n),
    }));
    index.addKeys(dst, rows);
    return index;
  }

  /** The messages with these seqs (the batch's pending ones inserted first), in seq order. */
  #read(seqs: number[]): StoredMessage[] {
    if (seqs.length === 0) return [];
    this.#flush();
    return this.#st.messagesBySeq.all(JSON.stringify(seqs)).map(toMessage);
  }

  /**
   * Inserts the batch's pending messages. A failure is kept for `commit()` to throw: whoever
   * reads meanwhile sees the batch without them, and the batch is rolled back.
   */
  #flush(): void {
    const rows = this.#rows;
    if (rows.length === 0) return;
    try {
      if (this.#failed === undefined) {
        const last = Number(this.#insert(rows.length / 5).run(...rows).lastInsertRowid);
        // AUTOINCREMENT numbers them as putMessage() did, having the write lock; check it anyway.
        if (last !== this.#nextSeq - 1) {
          throw new Error(
            `Cannot store messages: seq ${last} where ${this.#nextSeq - 1} was given`,
          );
        }
      }
    } catch (error) {
      this.#failed = error;
    }
    rows.length = 0;
    this.#arenaUsed = 0;
  }

  #insert(rows: number): StatementSync {
    let statement = this.#inserts.get(rows);
    if (statement === undefined) {
      const values = Array.from({ length: rows }, () => "(?, ?, ?, ?, ?)").join(", ");
      statement = this.#db.prepare(`INSERT INTO messages ${MESSAGE_COLUMNS} VALUES ${values}`);
      this.#inserts.set(rows, statement);
    }
    return statement;
  }
}

function toMessage(row: Record<string, unknown>): StoredMessage {
  return {
    seq: Number(row.seq),
    src: String(row.src),
    dst: String(row.dst),
    id: Number(row.msg_id),
    sentAt: Number(row.sent_at),
    payload: row.payload as Uint8Array,
  };
}
