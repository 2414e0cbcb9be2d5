/** A message kept for a recipient who has not acknowledged it yet. */
export interface StoredMessage {
  /** Storage order, assigned by the store; increases with every message stored. */
  seq: number;
  /** The sender. */
  src: string;
  /** The recipient. */
  dst: string;
  /** The sender's messageId. */
  id: number;
  /** When the server received the message, in ms since the Unix epoch. */
  sentAt: number;
  /** The message payload. */
  payload: Uint8Array;
}

/** A delivery receipt owed to a sender who was offline when the recipient acknowledged. */
export interface Receipt {
  /** Storage order, assigned by the store. */
  seq: number;
  /** The sender of the message, who is owed the receipt. */
  owner: string;
  /** The recipient who acknowledged it. */
  from: string;
  /** The messageId of the acknowledged message. */
  id: number;
}

/** A name's account: the password that opens it. */
export interface Account {
  /** The password hash, with its algorithm and parameters (see auth/password.ts). */
  hash: string;
  /** When the password was set, in ms since the Unix epoch. */
  updatedAt: number;
}

/**
 * Where the server keeps what must survive a restart: the known users, the accounts (password
 * hashes), the stored messages and the owed receipts. Writes are grouped: `begin()` opens a
 * batch (if none is open) and `commit()` makes every write since durable at once; reads see
 * uncommitted writes.
 */
export interface Store {
  /** Every user who ever logged in. */
  users(): string[];
  /** Records that `name` logged in. */
  addUser(name: string, now: number): void;
  /** The account of `name`, if it has a password. */
  account(name: string): Account | undefined;
  /** Sets (creates or replaces) the password hash of `name`. */
  setAccount(name: string, hash: string, now: number): void;
  /**
   * Creates the account of `name` unless it has one (an insert, never a replace): false, and
   * nothing written, when it has one, even one created by another process since it was read.
   */
  addAccount(name: string, hash: string, now: number): boolean;
  /** Deletes the account of `name` (no error if it has none); the user stays known. */
  deleteAccount(name: string): void;
  /** The names that have an account, sorted. */
  accounts(): string[];
  /** How many messages each recipient has stored (recipients with none may be absent). */
  counts(): Map<string, number>;
  /** How many payload bytes `dst` has stored. */
  storedBytes(dst: string): number;
  /** Stores a message; returns its seq. */
  putMessage(message: Omit<StoredMessage, "seq">): number;
  /** Up to `limit` messages for `dst` with seq above `after`, oldest first. */
  messagesFor(dst: string, after: number, limit: number): StoredMessage[];
  /** A stored message from `src` to `dst` with messageId `id`, if any. */
  findMessages(src: string, id: number, dst: string): StoredMessage[];
  /** Deletes a stored message (no error if it is gone); returns its payload bytes (0 if gone). */
  deleteMessage(seq: number): number;
  /** Records a receipt owed to `owner`; returns its seq. */
  putReceipt(owner: string, from: string, id: number): number;
  /** How many receipts each owner is owed (owners owed none may be absent). */
  receiptCounts(): Map<string, number>;
  /** Every receipt owed to `owner`, oldest first. */
  receiptsFor(owner: string): Receipt[];
  /** Whether a receipt for (`owner`, `from`, `id`) is owed. */
  hasReceipt(owner: string, from: string, id: number): boolean;
  /** Deletes a receipt (no error if it is gone). */
  deleteReceipt(seq: number): void;
  /** Opens a batch of writes unless one is open. */
  begin(): void;
  /** Makes the open batch durable (but see `sync`); a no-op without one. */
  commit(): void;
  /**
   * Present on a store that syncs in the background: there `commit()` only ends the batch (its
   * writes survive a crash of the process, not a power loss), and `sync()` resolves once every
   * batch committed before the call is durable, without blocking the thread meanwhile.
   */
  sync?(): Promise<void>;
  /**
   * Present with `sync`: makes every batch committed so far durable now, on this thread, when
   * that is quick, and returns true; returns false, having done nothing, when it is better left to
   * `sync()` (a sync on the thread was slow lately, or more than the log waits for one).
   */
  syncOnThread?(): boolean;
  /** Drops the open batch; a no-op without one. */
  rollback(): void;
  /** Commits and releases the store. */
  close(): void;
  // --- history and rooms
  /** Appends a message to the history; returns its seq (above every seq before). */
  appendHistory(entry: Omit<HistoryEntry, "seq">): number;
  /**
   * Appends a direct text message to the history without giving its seq, more cheaply: it waits
   * in memory with others, written by `flushHistory()`, by any read of the history, by `close()`,
   * or once many wait. Its conversation is `conversationOf(src, dst)`.
   */
  queueHistory(entry: Omit<HistoryEntry, "seq" | "kind" | "conv">): void;
  /** Writes the queued history entries: in the open batch, else in a transaction of their own. */
  flushHistory(): void;
  /** Up to `limit` entries of `conv` with seq below `before`, the newest ones, oldest first. */
  historyBefore(conv: string, before: number, limit: number): HistoryEntry[];
  /** Up to `limit` entries matching `query` (every conversation without `conv`), oldest first. */
  historyAfter(query: HistoryQuery): HistoryEntry[];
  /** The highest seq of `conv` (0 when it has none). */
  historyHead(conv: string): number;
  /** Deletes the oldest entries of `conv` beyond its newest `keep`, at most `max`; returns how many. */
  trimHistory(conv: string, keep: number, max: number): number;
  /**
   * Deletes entries received before `before` (ms) among the oldest `max` of the whole history;
   * returns how many.
   */
  expireHistory(before: number, max: number): number;
  /** Every room, with when it was made (ms). */
  rooms(): { name: string; createdAt: number }[];
  /** Records a room (no error if it exists). */
  addRoom(name: string, now: number): void;
  /** Every membership of every room. */
  roomMembers(): RoomMember[];
  /** Makes `name` a member of `room` with `cursor` (replacing a membership it has). */
  addRoomMember(room: string, name: string, cursor: number, now: number): void;
  /** Ends the membership of `name` in `room` (no error if it has none). */
  removeRoomMember(room: string, name: string): void;
  /** Deletes the room `name` with its members and its history (no error if there is none). */
  removeRoom(name: string): void;
  /** Sets the cursor of `name` in `room` (the highest seq it acknowledged). */
  setRoomCursor(room: string, name: string, cursor: number): void;
  // --- files
  /** Records a file whose bytes are on disk, to be delivered to `recipients`; returns its fid. */
  putFile(file: Omit<StoredFile, "fid">, recipients: readonly string[]): number;
  /** The file `fid`, if recorded. */
  file(fid: number): StoredFile | undefined;
  /** The file `src` offered to `dst` as message `id`, if recorded. */
  findFile(src: string, id: number, dst: string): StoredFile | undefined;
  /** The files `recipient` has not finished downloading, oldest first. */
  filesFor(recipient: string): StoredFile[];
  /** Who has not finished downloading `fid`. */
  fileRecipients(fid: number): string[];
  /** Ends the delivery of `fid` to `recipient`; whether it existed. */
  deleteFileDelivery(fid: number, recipient: string): boolean;
  /** Deletes the record of `fid` and its deliveries (no error if it is gone). */
  deleteFile(fid: number): void;
  /** Per recipient: how many files wait for it, and their bytes (recipients with none absent). */
  pendingFiles(): Map<string, { count: number; bytes: number }>;
}

// --- history and rooms

/**
 * One message of the history. `conv` is the conversation: a room's name for a room, else the
 * two user names sorted and joined by "\n" (`conversationOf`).
 */
export interface HistoryEntry {
  /** History order, assigned by the store. */
  seq: number;
  conv: string;
  /** The sender. */
  src: string;
  /** The recipient: a user or a `#room`. */
  dst: string;
  /** The sender's messageId. */
  id: number;
  /** When the server received it, in ms since the Unix epoch. */
  sentAt: number;
  payload: Uint8Array;
  /** 0 a text message, 1 a file notice (payload: the FILE `op=file` options). */
  kind: number;
}

/** Which history entries `Store.historyAfter` returns. */
export interface HistoryQuery {
  /** Only this conversation; default every one. */
  conv?: string;
  /** Only seqs above this. */
  after: number;
  /** Only seqs up to this; default no bound. */
  until?: number;
  /** Not those sent by this user. */
  notFrom?: string;
  /** At most this many. */
  limit: number;
}

/** A user's membership of a room. */
export interface RoomMember {
  room: string;
  name: string;
  /** The highest seq of the room it acknowledged (or the room's newest when it joined). */
  cursor: number;
  /** When it joined, ms since the Unix epoch. */
  joinedAt: number;
}

/** The conversation of a message from `src` to `dst`: the room, or the two names sorted. */
export function conversationOf(src: string, dst: string): string {
  if (dst.charCodeAt(0) === 0x23) return dst;
  return src < dst ? `${src}\n${dst}` : `${dst}\n${src}`;
}

// --- files

/** A file uploaded to the server, recorded once its bytes are durable (see `FileStore`). */
export interface StoredFile {
  /** The server's number for the file, assigned by the store. */
  fid: number;
  /** The sender. */
  src: string;
  /** The recipient: a user or a `#room`. */
  dst: string;
  /** The sender's messageId of the offer. */
  id: number;
  /** The name the sender gave (not sanitised). */
  name: string;
  /** Bytes. */
  size: number;
  /** SHA-256 of the bytes, 64 lowercase hex digits. */
  sha256: string;
  /** The media type. */
  media: string;
  /** When the upload completed, ms since the Unix epoch. */
  sentAt: number;
}
