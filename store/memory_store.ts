import type { Account, Receipt, Store, StoredMessage } from "./store.ts";

/**
 * A `Store` in memory, for tests and for running without a data directory. Batches are applied
 * at once and `rollback()` restores the state of `begin()`.
 */
export class MemoryStore implements Store {
  #users = new Map<string, number>();
  #accounts = new Map<string, Account>();
  #messages = new Map<number, StoredMessage>();
  #receipts = new Map<number, Receipt>();
  #seq = 0;
  #snapshot:
    | {
      users: Map<string, number>;
      accounts: Map<string, Account>;
      messages: Map<number, StoredMessage>;
      receipts: Map<number, Receipt>;
      seq: number;
    }
    | undefined;

  users(): string[] {
    return [...this.#users.keys()];
  }

  addUser(name: string, now: number): void {
    if (!this.#users.has(name)) this.#users.set(name, now);
  }

  account(name: string): Account | undefined {
    const account = this.#accounts.get(name);
    return account === undefined ? undefined : { ...account };
  }

  setAccount(name: string, hash: string, now: number): void {
    this.#accounts.set(name, { hash, updatedAt: now });
  }

  addAccount(name: string, hash: string, now: number): boolean {
    if (this.#accounts.has(name)) return false;
    this.#accounts.set(name, { hash, updatedAt: now });
    return true;
  }

  deleteAccount(name: string): void {
    this.#accounts.delete(name);
  }

  accounts(): string[] {
    return [...this.#accounts.keys()].sort();
  }

  storedBytes(dst: string): number {
    let bytes = 0;
    for (const m of this.#messages.values()) if (m.dst === dst) bytes += m.payload.length;
    return bytes;
  }

  counts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const m of this.#messages.values()) counts.set(m.dst, (counts.get(m.dst) ?? 0) + 1);
    return counts;
  }

  putMessage(message: Omit<StoredMessage, "seq">): number {
    const seq = ++this.#seq;
    this.#messages.set(seq, { ...message, payload: message.payload.slice(), seq });
    return seq;
  }

  messagesFor(dst: string, after: number, limit: number): StoredMessage[] {
    const found: StoredMessage[] = [];
    for (const m of this.#messages.values()) {
      if (m.dst === dst && m.seq > after) found.push(m);
    }
    return found.sort((a, b) => a.seq - b.seq).slice(0, limit);
  }

  findMessages(src: string, id: number, dst: string): StoredMessage[] {
    return [...this.#messages.values()].filter((m) =>
      m.src === src && m.id === id && m.dst === dst
    );
  }

  deleteMessage(seq: number): number {
    const bytes = this.#messages.get(seq)?.payload.length ?? 0;
    this.#messages.delete(seq);
    return bytes;
  }

  putReceipt(owner: string, from: string, id: number): number {
    const seq = ++this.#seq;
    this.#receipts.set(seq, { seq, owner, from, id });
    return seq;
  }

  receiptCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const r of this.#receipts.values()) counts.set(r.owner, (counts.get(r.owner) ?? 0) + 1);
    return counts;
  }

  receiptsFor(owner: string): Receipt[] {
    return [...this.#receipts.values()].filter((r) => r.owner === owner);
  }

  hasReceipt(owner: string, from: string, id: number): boolean {
    for (const r of this.#receipts.values()) {
      if (r.owner === owner && r.from === from && r.id === id) return true;
    }
    return false;
  }

  deleteReceipt(seq: number): void {
    this.#receipts.delete(seq);
  }

  begin(): void {
    this.#snapshot ??= {
      users: new Map(this.#users),
      accounts: new Map(this.#accounts),
      messages: new Map(this.#messages),
      receipts: new Map(this.#receipts),
      seq: this.#seq,
    };
  }

  commit(): void {
    this.#snapshot = undefined;
  }

  rollback(): void {
    if (this.#snapshot === undefined) return;
    this.#users = this.#snapshot.users;
    this.#accounts = this.#snapshot.accounts;
    this.#messages = this.#snapshot.messages;
    this.#receipts = this.#snapshot.receipts;
    this.#seq = this.#snapshot.seq;
    this.#snapshot = undefined;
  }

  close(): void {
    this.commit();
  }
}
