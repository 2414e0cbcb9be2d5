import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { Account, Receipt, Store, StoredMessage } from "./store.ts";

/** 2 added `accounts`; a version-1 file gains the table when it is opened. */
const SCHEMA_VERSION = 2;

/** Options of `SqliteStore`. */
export interface SqliteStoreOptions {
  /**
   * SQLite's `synchronous` setting. "full" (the default) syncs the write-ahead log at every
   * commit, so a commit that returned survives a crash or a power loss.
   */
  synchronous?: "full" | "normal";
}

/**
 * A `Store` in one SQLite file (node:sqlite), in write-ahead-log mode with `synchronous=FULL`:
 * once `commit()` returns, the batch survives kill -9 and power loss.
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
  #inBatch = false;
  #st: Record<
    | "addUser"
    | "account"
    | "setAccount"
    | "deleteAccount"
    | "putMessage"
    | "messagesFor"
    | "findMessages"
    | "deleteMessage"
    | "storedBytes"
    | "putReceipt"
    | "receiptsFor"
    | "hasReceipt"
    | "deleteReceipt",
    StatementSync
  >;

  constructor(path: string, options: SqliteStoreOptions = {}) {
    this.#db = new DatabaseSync(path);
    this.#db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = ${options.synchronous === "normal" ? "NORMAL" : "FULL"};
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
      CREATE INDEX IF NOT EXISTS messages_by_dst ON messages (dst, seq);
      CREATE INDEX IF NOT EXISTS messages_by_src ON messages (src, msg_id);
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
      PRAGMA user_version = ${SCHEMA_VERSION};
    `);
    const prepare = (sql: string) => this.#db.prepare(sql);
    this.#st = {
      addUser: prepare("INSERT OR IGNORE INTO users (name, created_at) VALUES (?, ?)"),
      account: prepare("SELECT hash, updated_at FROM accounts WHERE name = ?"),
      setAccount: prepare(
        "INSERT OR REPLACE INTO accounts (name, hash, updated_at) VALUES (?, ?, ?)",
      ),
      deleteAccount: prepare("DELETE FROM accounts WHERE name = ?"),
      putMessage: prepare(
        "INSERT INTO messages (dst, src, msg_id, sent_at, payload) VALUES (?, ?, ?, ?, ?)",
      ),
      messagesFor: prepare(
        "SELECT seq, src, dst, msg_id, sent_at, payload FROM messages WHERE dst = ? AND seq > ? ORDER BY seq LIMIT ?",
      ),
      findMessages: prepare(
        "SELECT seq, src, dst, msg_id, sent_at, payload FROM messages WHERE src = ? AND msg_id = ? AND dst = ?",
      ),
      storedBytes: prepare(
        "SELECT coalesce(sum(length(payload)), 0) AS n FROM messages WHERE dst = ?",
      ),
      deleteMessage: prepare("DELETE FROM messages WHERE seq = ? RETURNING length(payload) AS n"),
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

  deleteAccount(name: string): void {
    this.#st.deleteAccount.run(name);
  }

  accounts(): string[] {
    return this.#db.prepare("SELECT name FROM accounts").all().map((row) => String(row.name))
      .sort();
  }

  storedBytes(dst: string): number {
    return Number(this.#st.storedBytes.get(dst)?.n ?? 0);
  }

  counts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (
      const row of this.#db.prepare("SELECT dst, count(*) AS n FROM messages GROUP BY dst").all()
    ) {
      counts.set(String(row.dst), Number(row.n));
    }
    return counts;
  }

  putMessage(message: Omit<StoredMessage, "seq">): number {
    const result = this.#st.putMessage.run(
      message.dst,
      message.src,
      message.id,
      message.sentAt,
      message.payload,
    );
    return Number(result.lastInsertRowid);
  }

  messagesFor(dst: string, after: number, limit: number): StoredMessage[] {
    return this.#st.messagesFor.all(dst, after, limit).map(toMessage);
  }

  findMessages(src: string, id: number, dst: string): StoredMessage[] {
    return this.#st.findMessages.all(src, id, dst).map(toMessage);
  }

  deleteMessage(seq: number): number {
    const row = this.#st.deleteMessage.get(seq);
    return row === undefined ? 0 : Number(row.n);
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
    // If COMMIT fails the transaction is still open: rollback() must still see the batch.
    this.#db.exec("COMMIT");
    this.#inBatch = false;
  }

  rollback(): void {
    if (!this.#inBatch) return;
    this.#inBatch = false;
    if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
  }

  close(): void {
    this.commit();
    this.#db.close();
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
