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
  /** Drops the open batch; a no-op without one. */
  rollback(): void;
  /** Commits and releases the store. */
  close(): void;
}
