import type { Account, Receipt, Store, StoredMessage } from "./store.ts";
import type { HistoryEntry, HistoryQuery, RoomMember } from "./store.ts";
import { conversationOf, type StoredFile } from "./store.ts";

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
    this.#historyBegin();
    this.#filesBegin();
  }

  commit(): void {
    this.#snapshot = undefined;
    this.#historySaved = undefined;
    this.#filesSaved = undefined;
  }

  rollback(): void {
    if (this.#snapshot === undefined) return;
    this.#users = this.#snapshot.users;
    this.#accounts = this.#snapshot.accounts;
    this.#messages = this.#snapshot.messages;
    this.#receipts = this.#snapshot.receipts;
    this.#seq = this.#snapshot.seq;
    this.#snapshot = undefined;
    this.#historyRollback();
    this.#filesRollback();
  }

  close(): void {
    this.commit();
  }

  // --- history and rooms

  #history: HistoryEntry[] = [];
  #historySeq = 0;
  #rooms = new Map<string, number>();
  /** By `${room}\n${name}`. */
  #members = new Map<string, RoomMember>();
  #historySaved:
    | {
      /** The history as at `begin()`: its length while the batch only appends, else a copy. */
      length: number;
      history: HistoryEntry[] | undefined;
      seq: number;
      rooms: Map<string, number>;
      members: Map<string, RoomMember>;
    }
    | undefined;

  #historyBegin(): void {
    this.#historySaved ??= {
      length: this.#history.length,
      history: undefined,
      seq: this.#historySeq,
      rooms: new Map(this.#rooms),
      members: new Map([...this.#members].map(([k, m]) => [k, { ...m }])),
    };
  }

  /** Before a batch deletes entries: keeps what `rollback()` must restore. */
  #historyDeleting(): void {
    const saved = this.#historySaved;
    if (saved !== undefined && saved.history === undefined) {
      saved.history = this.#history.slice(0, saved.length);
    }
  }

  #historyRollback(): void {
    const saved = this.#historySaved;
    if (saved === undefined) return;
    if (saved.history !== undefined) this.#history = saved.history;
    else this.#history.length = saved.length;
    this.#historySeq = saved.seq;
    this.#rooms = saved.rooms;
    this.#members = saved.members;
    this.#historySaved = undefined;
  }

  appendHistory(entry: Omit<HistoryEntry, "seq">): number {
    const seq = ++this.#historySeq;
    this.#history.push({ ...entry, payload: entry.payload.slice(), seq });
    return seq;
  }

  queueHistory(entry: Omit<HistoryEntry, "seq" | "kind" | "conv">): void {
    this.appendHistory({ ...entry, conv: conversationOf(entry.src, entry.dst), kind: 0 });
  }

  flushHistory(): void {}

  historyBefore(conv: string, before: number, limit: number): HistoryEntry[] {
    const found = this.#history.filter((e) => e.conv === conv && e.seq < before);
    return found.slice(Math.max(0, found.length - limit));
  }

  historyAfter(query: HistoryQuery): HistoryEntry[] {
    const until = query.until ?? Infinity;
    const found: HistoryEntry[] = [];
    for (const e of this.#history) {
      if (found.length >= query.limit) break;
      if (e.seq <= query.after || e.seq > until) continue;
      if (query.conv !== undefined && e.conv !== query.conv) continue;
      if (query.notFrom !== undefined && e.src === query.notFrom) continue;
      found.push(e);
    }
    return found;
  }

  historyHead(conv: string): number {
    for (let i = this.#history.length - 1; i >= 0; i--) {
      if (this.#history[i]!.conv === conv) return this.#history[i]!.seq;
    }
    return 0;
  }

  trimHistory(conv: string, keep: number, max: number): number {
    const seqs = this.#history.filter((e) => e.conv === conv).map((e) => e.seq);
    const drop = new Set(seqs.slice(0, Math.min(Math.max(0, seqs.length - keep), max)));
    if (drop.size > 0) this.#historyDeleting();
    if (drop.size > 0) this.#history = this.#history.filter((e) => !drop.has(e.seq));
    return drop.size;
  }

  expireHistory(before: number, max: number): number {
    const drop = new Set(
      this.#history.slice(0, max).filter((e) => e.sentAt < before).map((e) => e.seq),
    );
    if (drop.size > 0) this.#historyDeleting();
    if (drop.size > 0) this.#history = this.#history.filter((e) => !drop.has(e.seq));
    return drop.size;
  }

  rooms(): { name: string; createdAt: number }[] {
    return [...this.#rooms].map(([name, createdAt]) => ({ name, createdAt }));
  }

  addRoom(name: string, now: number): void {
    if (!this.#rooms.has(name)) this.#rooms.set(name, now);
  }

  roomMembers(): RoomMember[] {
    return [...this.#members.values()].map((m) => ({ ...m }));
  }

  addRoomMember(room: string, name: string, cursor: number, now: number): void {
    this.#members.set(`${room}\n${name}`, { room, name, cursor, joinedAt: now });
  }

  removeRoomMember(room: string, name: string): void {
    this.#members.delete(`${room}\n${name}`);
  }

  removeRoom(name: string): void {
    if (this.#history.some((e) => e.conv === name)) {
      this.#historyDeleting();
      this.#history = this.#history.filter((e) => e.conv !== name);
    }
    for (const [key, m] of this.#members) if (m.room === name) this.#members.delete(key);
    this.#rooms.delete(name);
  }

  setRoomCursor(room: string, name: string, cursor: number): void {
    const member = this.#members.get(`${room}\n${name}`);
    if (member !== undefined) member.cursor = cursor;
  }

  // --- files

  #files = new Map<number, StoredFile>();
  /** fid -> recipients who have not finished downloading it. */
  #deliveries = new Map<number, Set<string>>();
  #fileSeq = 0;
  #filesSaved:
    | { files: Map<number, StoredFile>; deliveries: Map<number, Set<string>>; seq: number }
    | undefined;

  #filesBegin(): void {
    this.#filesSaved ??= {
      files: new Map(this.#files),
      deliveries: new Map([...this.#deliveries].map(([fid, set]) => [fid, new Set(set)])),
      seq: this.#fileSeq,
    };
  }

  #filesRollback(): void {
    const saved = this.#filesSaved;
    if (saved === undefined) return;
    this.#files = saved.files;
    this.#deliveries = saved.deliveries;
    this.#fileSeq = saved.seq;
    this.#filesSaved = undefined;
  }

  putFile(file: Omit<StoredFile, "fid">, recipients: readonly string[]): number {
    const fid = ++this.#fileSeq;
    this.#files.set(fid, { ...file, fid });
    this.#deliveries.set(fid, new Set(recipients));
    return fid;
  }

  file(fid: number): StoredFile | undefined {
    const file = this.#files.get(fid);
    return file === undefined ? undefined : { ...file };
  }

  findFile(src: string, id: number, dst: string): StoredFile | undefined {
    for (const f of this.#files.values()) {
      if (f.src === src && f.id === id && f.dst === dst) return { ...f };
    }
    return undefined;
  }

  filesFor(recipient: string): StoredFile[] {
    const found: StoredFile[] = [];
    for (const [fid, recipients] of this.#deliveries) {
      const file = this.#files.get(fid);
      if (file !== undefined && recipients.has(recipient)) found.push({ ...file });
    }
    return found.sort((a, b) => a.fid - b.fid);
  }

  fileRecipients(fid: number): string[] {
    return [...this.#deliveries.get(fid) ?? []];
  }

  deleteFileDelivery(fid: number, recipient: string): boolean {
    return this.#deliveries.get(fid)?.delete(recipient) ?? false;
  }

  deleteFile(fid: number): void {
    this.#files.delete(fid);
    this.#deliveries.delete(fid);
  }

  pendingFiles(): Map<string, { count: number; bytes: number }> {
    const pending = new Map<string, { count: number; bytes: number }>();
    for (const [fid, recipients] of this.#deliveries) {
      const size = this.#files.get(fid)?.size ?? 0;
      for (const name of recipients) {
        const totals = pending.get(name) ?? { count: 0, bytes: 0 };
        totals.count++;
        totals.bytes += size;
        pending.set(name, totals);
      }
    }
    return pending;
  }
}
