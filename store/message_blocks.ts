/**
 * The stored messages of a `SqliteStore`, many to a row: a batch's messages are packed into a
 * block (the history's format, store/history_block.ts) and written as one row of
 * `message_blocks`, which costs far less than a row per message (node:sqlite binds each value of
 * a row, and SQLite inserts each row on its own). A delivered message is marked in
 * `messages_gone` until every message of its block is: then the block and its marks go.
 *
 * A block is rewritten once most of it is delivered, with empty payloads for the delivered
 * messages (`COMPACT_SHARE`).
 *
 * `message_blocks`: `last_seq` the seq of its last message (AUTOINCREMENT: `sqlite_sequence`
 * keeps the highest seq ever given, so a seq is never given twice), `count` its messages (seqs
 * `last_seq - count + 1` to `last_seq`), `heads` their senders, recipients, ids and payload
 * sizes (`decodeBlockHeads`: what opening the store reads, and the duplicate and quota checks
 * after a restart, without the payloads), `data` the block.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import { MessageIndex } from "./message_index.ts";
import {
  blockBytes,
  type BlockHeads,
  decodeBlockHeads,
  decodeHistoryBlock,
  HistoryBlockWriter,
} from "./history_block.ts";
import type { StoredMessage } from "./store.ts";

/** Messages a block holds at most: a delivery reads a whole block to hand over one message. */
export const MESSAGES_PER_BLOCK = 256;
/**
 * A block is rewritten without the payloads of its delivered messages once no more than a
 * quarter of it is left: a recipient long away does not keep the rest of a block in full.
 */
const COMPACT_SHARE = 4;
/** Blocks smaller than this are not rewritten. */
const COMPACT_MIN = 16;
const EMPTY = new Uint8Array(0);
/** Blocks' heads read per statement when the index or the keys are read. */
const BLOCKS_PER_SLICE = 4096;

/** The tables, created if missing. */
export const MESSAGE_TABLES = `
  CREATE TABLE IF NOT EXISTS message_blocks (
    last_seq INTEGER PRIMARY KEY AUTOINCREMENT,
    count INTEGER NOT NULL,
    heads BLOB NOT NULL,
    data BLOB NOT NULL
  );
  CREATE TABLE IF NOT EXISTS messages_gone (seq INTEGER PRIMARY KEY);
`;

/** A block read back: its seqs and its messages, in seq order. */
interface ReadBlock {
  first: number;
  last: number;
  messages: StoredMessage[];
}

/**
 * Puts, reads and deletes stored messages in blocks, inside the caller's transactions: `put()`
 * needs one open (it holds the write lock, so the seqs it gives are free), and `flush()` must
 * run before its commit. The messages are found through a `MessageIndex` in memory, read from the
 * file at the first use (the recipients of each block, not their data).
 *
 * @example
 * ```ts
 * import { DatabaseSync } from "node:sqlite";
 * import { MESSAGE_TABLES, MessageBlocks } from "./message_blocks.ts";
 * const db = new DatabaseSync(":memory:");
 * db.exec(MESSAGE_TABLES);
 * const blocks = new MessageBlocks(db);
 * db.exec("BEGIN IMMEDIATE");
 * const seq = blocks.put("bob", "alice", 7, 1700000000000, new Uint8Array([104, 105]));
 * blocks.flush();
 * db.exec("COMMIT");
 * blocks.read([seq])[0]!.id; // 7
 * ```
 */
export class MessageBlocks {
  #db: DatabaseSync;
  #st: Record<
    | "put"
    | "nextSeq"
    | "block"
    | "gone"
    | "rewrite"
    | "deleteBlock"
    | "deleteGone"
    | "allGone"
    | "heads",
    StatementSync
  >;
  /** The block being filled; made at the first `put()`. */
  #writer: HistoryBlockWriter | undefined;
  /** The seq of the next message put; 0: to be read from the file. */
  #nextSeq = 0;
  /** Why writing a block failed: the transaction can only be rolled back then. */
  #failed: unknown = undefined;
  /** The index; undefined until first needed, and after `reset()`. */
  #index: MessageIndex | undefined;
  /** Each written block's messages not deleted, by its last seq (built with the index). */
  #live = new Map<number, number>();
  /** The block read last: a delivery reads and deletes a block's messages in a row. */
  #last: ReadBlock | undefined;

  constructor(db: DatabaseSync) {
    this.#db = db;
    const prepare = (sql: string) => db.prepare(sql);
    this.#st = {
      put: prepare(
        "INSERT INTO message_blocks (last_seq, count, heads, data) VALUES (?, ?, ?, ?)",
      ),
      nextSeq: prepare(
        `SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'message_blocks'), 0)
          + 1 AS n`,
      ),
      block: prepare(
        `SELECT last_seq, count, data FROM message_blocks WHERE last_seq >= ?
          ORDER BY last_seq LIMIT 1`,
      ),
      gone: prepare("INSERT INTO messages_gone (seq) VALUES (?)"),
      rewrite: prepare("UPDATE message_blocks SET data = ? WHERE last_seq = ?"),
      deleteBlock: prepare("DELETE FROM message_blocks WHERE last_seq = ?"),
      deleteGone: prepare("DELETE FROM messages_gone WHERE seq BETWEEN ? AND ?"),
      allGone: prepare("SELECT json_group_array(seq) AS seqs FROM messages_gone"),
      heads: prepare(
        `SELECT last_seq, count, heads FROM message_blocks WHERE last_seq > ?
          ORDER BY last_seq LIMIT ${BLOCKS_PER_SLICE}`,
      ),
    };
  }

  /** The index of the messages, read from the file if it is not in memory. */
  index(): MessageIndex {
    if (this.#index !== undefined) return this.#index;
    const gone = new Set<number>(JSON.parse(String(this.#st.allGone.get()!.seqs)));
    const queues = new Map<string, number[]>();
    this.#live.clear();
    this.#eachHeads((first, last, heads) => {
      const dsts = heads.dst;
      let live = 0;
      for (let i = 0, seq = first; seq <= last; i++, seq++) {
        if (gone.has(seq)) continue;
        const queue = queues.get(dsts[i]!);
        if (queue === undefined) queues.set(dsts[i]!, [seq]);
        else queue.push(seq);
        live++;
      }
      this.#live.set(last, live);
    });
    const index = new MessageIndex();
    for (const [dst, seqs] of queues) index.addUnkeyed(dst, seqs);
    this.#index = index;
    return index;
  }

  /** The index, with the keys and sizes of every message read from the file if `dst` lacks its. */
  keyed(dst: string): MessageIndex {
    const index = this.index();
    if (index.bytes(dst) !== undefined) return index;
    // One pass over every block keys every recipient: they are mixed in the blocks.
    this.flush();
    const wanted = new Map<string, Set<number>>();
    const keys = new Map<string, { seq: number; src: string; id: number; bytes: number }[]>();
    for (const name of index.unkeyedRecipients()) {
      wanted.set(name, new Set(index.unkeyed(name)));
      keys.set(name, []);
    }
    this.#eachHeads((first, last, heads) => {
      for (let i = 0, seq = first; seq <= last; i++, seq++) {
        const dst = heads.dst[i]!;
        if (!wanted.get(dst)?.has(seq)) continue;
        keys.get(dst)!.push({
          seq,
          src: heads.src[i]!,
          id: heads.id[i]!,
          bytes: heads.bytes[i]!,
        });
      }
    });
    for (const [name, rows] of keys) index.addKeys(name, rows);
    return index;
  }

  /** Calls `visit` with every block's seqs and heads, in seq order, a slice of blocks a statement. */
  #eachHeads(visit: (first: number, last: number, heads: BlockHeads) => void): void {
    for (let after = 0;;) {
      const rows = this.#st.heads.all(after);
      for (const row of rows) {
        const last = Number(row.last_seq);
        const first = last - Number(row.count) + 1;
        visit(first, last, decodeBlockHeads(row.heads as Uint8Array, first, last - first + 1));
      }
      if (rows.length < BLOCKS_PER_SLICE) break;
      after = Number(rows[rows.length - 1]!.last_seq);
    }
  }

  /** Puts a message in the open transaction's block; returns its seq. */
  put(dst: string, src: string, id: number, sentAt: number, payload: Uint8Array): number {
    const index = this.index();
    if (this.#nextSeq === 0) this.#nextSeq = Number(this.#st.nextSeq.get()!.n);
    const writer = this.#writer ??= blockWriter();
    writer.add(src, dst, id, sentAt, payload);
    const seq = this.#nextSeq++;
    index.add(seq, dst, src, id, payload.length);
    if (writer.count >= MESSAGES_PER_BLOCK || writer.full) this.flush();
    return seq;
  }

  /**
   * Writes the block being filled. A failure is kept for `failure()`: whoever reads meanwhile
   * sees the transaction without those messages, and it is to be rolled back.
   */
  flush(): void {
    const writer = this.#writer;
    if (writer === undefined || writer.count === 0) return;
    const last = this.#nextSeq - 1;
    const block = writer.take();
    try {
      if (this.#failed === undefined) {
        this.#inTransaction();
        this.#st.put.run(last, block.count, block.heads!, blockBytes(block));
        this.#live.set(last, block.count);
      }
    } catch (error) {
      this.#failed = error;
    }
  }

  /** Why a block of the open transaction could not be written, if one could not. */
  failure(): unknown {
    return this.#failed;
  }

  /** The messages with these seqs, ascending (each one stored, not deleted). */
  read(seqs: readonly number[]): StoredMessage[] {
    if (seqs.length === 0) return [];
    this.flush();
    const out: StoredMessage[] = [];
    for (const seq of seqs) {
      const block = this.#blockOf(seq);
      if (block !== undefined) out.push(block.messages[seq - block.first]!);
    }
    return out;
  }

  /**
   * Deletes a message (no error if it is gone); returns its payload bytes (0 if gone). It takes
   * a few statements: if one fails, the error is also kept for `failure()` (the transaction is
   * to be rolled back), and memory is left as it was.
   */
  delete(seq: number): number {
    const index = this.index();
    this.flush();
    const block = this.#blockOf(seq);
    if (block === undefined) return 0;
    const m = block.messages[seq - block.first]!;
    if (!index.has(m.dst, seq)) return 0;
    const live = this.#live.get(block.last)! - 1;
    const count = block.messages.length;
    try {
      this.#inTransaction();
      if (live > 0) {
        this.#st.gone.run(seq);
        if (
          count >= COMPACT_MIN && live * COMPACT_SHARE <= count &&
          (live + 1) * COMPACT_SHARE > count
        ) {
          this.#compact(block, index, seq);
        }
      } else {
        this.#st.deleteBlock.run(block.last);
        this.#st.deleteGone.run(block.first, block.last);
      }
    } catch (error) {
      this.#failed ??= error;
      throw error;
    }
    if (live > 0) this.#live.set(block.last, live);
    else {
      this.#live.delete(block.last);
      this.#last = undefined;
    }
    index.remove(seq, m.dst, m.src, m.id, m.payload.length);
    return m.payload.length;
  }

  /** Rewrites `block` with empty payloads for `deleted` and its messages gone from `index`. */
  #compact(block: ReadBlock, index: MessageIndex, deleted: number): void {
    const writer = this.#writer ??= blockWriter();
    for (const m of block.messages) {
      const kept = m.seq !== deleted && index.has(m.dst, m.seq);
      writer.add(m.src, m.dst, m.id, m.sentAt, kept ? m.payload : EMPTY);
    }
    this.#st.rewrite.run(blockBytes(writer.take()), block.last);
  }

  /**
   * Throws unless a transaction is open: SQLite ends one by itself on some I/O errors, and a
   * write after that would be committed on its own, outside the batch that is to be rolled back.
   */
  #inTransaction(): void {
    if (!this.#db.isTransaction) {
      throw new Error(
        "Cannot write stored messages: the transaction ended (SQLite rolled it back)",
      );
    }
  }

  /**
   * The transaction committed: the next one reads the next seq again (another process may have
   * stored messages between the two; none can while a transaction holds the write lock).
   */
  committed(): void {
    this.#nextSeq = 0;
  }

  /** Forgets what the rolled-back transaction did: the index is read again when next needed. */
  reset(): void {
    this.#writer?.clear();
    this.#nextSeq = 0;
    this.#failed = undefined;
    this.#index = undefined;
    this.#live.clear();
    this.#last = undefined;
  }

  /** The block that holds `seq`, if any. */
  #blockOf(seq: number): ReadBlock | undefined {
    const cached = this.#last;
    if (cached !== undefined && seq >= cached.first && seq <= cached.last) return cached;
    const row = this.#st.block.get(seq);
    if (row === undefined) return undefined;
    const block = readBlock(row);
    if (seq < block.first) return undefined;
    this.#last = block;
    return block;
  }
}

/** A writer of message blocks: with their heads, without the history's conversation counts. */
function blockWriter(): HistoryBlockWriter {
  return new HistoryBlockWriter({ conversations: false, heads: true });
}

/** A block from its row (`last_seq`, `count`, `data`). */
function readBlock(row: Record<string, unknown>): ReadBlock {
  const last = Number(row.last_seq);
  const count = Number(row.count);
  const first = last - count + 1;
  const entries = decodeHistoryBlock(row.data as Uint8Array, first);
  if (entries.length !== count) throw new Error(`Cannot read message block ${last}: damaged`);
  const messages = entries.map((e): StoredMessage => ({
    seq: e.seq,
    src: e.src,
    dst: e.dst,
    id: e.id,
    sentAt: e.sentAt,
    payload: e.payload,
  }));
  return { first, last, messages };
}

/**
 * Moves the messages of a file from before schema 7 (a row each in `messages`) into blocks, and
 * drops that table; seqs stay as they were, and so does the highest seq given. In the caller's
 * transaction; a no-op without that table.
 */
export function migrateMessageRows(db: DatabaseSync): void {
  const table = db.prepare(
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'messages'",
  ).get();
  if (table === undefined) return;
  const given = Number(
    db.prepare(
      `SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0),
        coalesce((SELECT max(seq) FROM messages), 0)) AS n`,
    ).get()!.n,
  );
  const rows = db.prepare(
    `SELECT seq, dst, src, msg_id, sent_at, payload FROM messages WHERE seq > ?
      ORDER BY seq LIMIT 10000`,
  );
  const put = db.prepare(
    "INSERT INTO message_blocks (last_seq, count, heads, data) VALUES (?, ?, ?, ?)",
  );
  const writer = blockWriter();
  let last = 0;
  const write = () => {
    if (writer.count === 0) return;
    const block = writer.take();
    put.run(last, block.count, block.heads!, blockBytes(block));
  };
  for (let after = 0;;) {
    const slice = rows.all(after);
    for (const row of slice) {
      const seq = Number(row.seq);
      // A block's seqs follow each other: a deleted message ends one.
      if (seq !== last + 1 || writer.count >= MESSAGES_PER_BLOCK || writer.full) write();
      writer.add(
        String(row.src),
        String(row.dst),
        Number(row.msg_id),
        Number(row.sent_at),
        row.payload as Uint8Array,
      );
      last = seq;
    }
    if (slice.length < 10000) break;
    after = last;
  }
  write();
  db.exec("DROP TABLE messages");
  const raised = db.prepare(
    "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = 'message_blocks'",
  ).run(given);
  if (Number(raised.changes) === 0 && given > 0) {
    db.prepare("INSERT INTO sqlite_sequence (name, seq) VALUES ('message_blocks', ?)").run(given);
  }
}
