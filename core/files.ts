/**
 * File transfers through the server (docs/PROTOCOL.md section 15): offers, uploads with flow
 * control and resume, the SHA-256 check, the notices to recipients, downloads in windows, and the
 * end of a delivery. Pure: the bytes go through an injected `FileStore`, the records through the
 * `Store` in the core's batch.
 *
 * @module
 */
import {
  Code,
  decodeHelloOptions,
  encodeDelivery,
  encodeFrame,
  encodeHelloOptions,
  type Frame,
  FrameType,
  isRoom,
  MAX_PAYLOAD_SIZE,
  nameProblem,
  roomProblem,
} from "../protocol/mod.ts";
import type { SessionView } from "./session_view.ts";
import type { CoreLogger } from "./server_core.ts";
import { conversationOf, type Store, type StoredFile } from "../store/store.ts";
import type { FileStore } from "../store/file_store.ts";

/** The default largest file: 100 MiB. */
export const DEFAULT_MAX_FILE = 100 * 1024 * 1024;
/** The default pending-file bytes per recipient: 1 GiB. */
export const DEFAULT_FILE_QUOTA = 1024 * 1024 * 1024;
/** The server reports upload progress each time the offset crosses a multiple of this. */
export const PROGRESS_EVERY = 64 * 1024;
/** Bytes a sender (upload) or the server (download) may have in flight beyond the last report. */
export const FILE_WINDOW = 256 * 1024;
/** Uploads, and downloads, at once on one connection. */
export const MAX_TRANSFERS = 8;
const MAX_NAME_BYTES = 255;
const MAX_MEDIA_BYTES = 127;
const DEFAULT_MEDIA = "application/octet-stream";
/** Interrupted uploads one sender may leave (besides the one it offers); beyond: "507". */
const MAX_PARTIALS = 100;
/** Finished files remembered for resent offers (in memory). */
const MAX_FINISHED = 4096;
/** The default of `partialTtlMs`: a day. */
export const DEFAULT_PARTIAL_TTL_MS = 24 * 3600_000;
/** How often the interrupted uploads are looked at for expiry. */
const PARTIAL_SWEEP_MS = 3600_000;
/** Bytes read from a finished file at once for a download. */
const READ_PIECE = 64 * 1024;

/** What file transfers need to know of a session. */
export type FileSession = SessionView;

/** The narrow part of the core that file transfers act through. */
export interface FilesHost {
  store: Store;
  /** Where the bytes go; undefined: file transfers are off (FILE and DATA get "501"). */
  files: FileStore | undefined;
  /** Queues bytes for a connection. */
  send(conn: number, bytes: Uint8Array): void;
  /** The session logged in as `name`, if any. */
  session(name: string): FileSession | undefined;
  /** Whether `name` is a user who may receive (has logged in, or has an account). */
  knownUser(name: string): boolean;
  /** The members of `room`, or undefined when there is no such room. */
  roomMembers(room: string): Iterable<string> | undefined;
  /** Runs `fn` inside the turn's batch of store writes. */
  write<T>(fn: () => T): T;
  /** Runs `ok` once the turn's batch is durable, `fail` if it is not. */
  defer(ok: () => void, fail: () => void): void;
  /** Sends ACK `code` (src `src`, dst the session's name, messageId `id`). */
  answer(s: FileSession, src: string, id: number, code: string): void;
  /** Answers `code` and closes the session. */
  reject(s: FileSession, code: string, id: number, reason: string, now: number): void;
  /**
   * `from` finished downloading `owner`'s file sent as message `id`: owe `owner` the late "200"
   * (the receipt machinery of stored messages), in the turn's batch.
   */
  owe(owner: string, from: string, id: number, now: number): void;
  log: CoreLogger;
}

/** Options of `FileTransfers`. */
export interface FileTransfersOptions {
  /** The largest file accepted, in bytes; a larger offer gets "413". Default 100 MiB. */
  maxFile?: number;
  /** Bytes of files waiting for one recipient; an offer beyond gets "507". Default 1 GiB. */
  fileQuota?: number;
  /**
   * How long the bytes of an interrupted upload are kept for a resume, in ms after they were
   * last written. Default 24 hours.
   */
  partialTtlMs?: number;
}

/** A file on its way in: what it will be stored as, and how far its bytes have come. */
interface Upload
  extends Pick<StoredFile, "src" | "dst" | "id" | "name" | "size" | "sha256" | "media"> {
  conn: number;
  /** `${dst}\n${id}`: the key of its DATA frames on the connection. */
  route: string;
  /** The partial upload's key in the `FileStore`. */
  key: string;
  offset: number;
}

interface Download {
  file: StoredFile;
  /** Bytes sent from the start of the file. */
  sent: number;
  /** What the client last reported holding (`op=got`), or where it started. */
  acked: number;
}

/** One connection's transfers, made at its first file frame. */
interface Transfers {
  uploads: Map<string, Upload>;
  downloads: Map<number, Download>;
  /** The fids noticed to it: a file is noticed once per session. */
  noticed: Set<number>;
}

const encoder = new TextEncoder();
/** The `FileStore` of a core without one: never called (every file frame gets "501"). */
const NO_FILES: FileStore = new Proxy({} as FileStore, {
  get() {
    throw new Error("Cannot use files: the server has no file store");
  },
});
const EMPTY_PENDING = { count: 0, bytes: 0 };
const SHA256 = /^[0-9a-f]{64}$/;
const DECIMAL = /^(0|[1-9][0-9]{0,15})$/;

/**
 * The file transfers of a server. The core hands it FILE and DATA frames, logins (at the end of
 * their drain) and closed connections; it answers through the `FilesHost`.
 */
export class FileTransfers {
  #host: FilesHost;
  #files: FileStore;
  #enabled: boolean;
  #maxFile: number;
  #quota: number;
  #partialTtl: number;
  /** When `sweep` next looks at the partial uploads. */
  #nextPartialSweep = -Infinity;
  #conns = new Map<number, Transfers>();
  /** Uploads by their partial's key: a new offer of the same bytes takes over the old upload. */
  #byKey = new Map<string, Upload>();
  /**
   * Files gone once every recipient finished, by `src\ndst\nid`: their `sha256\nsize`, so that
   * an offer resent by a sender that missed its answer gets it again, not a second upload.
   */
  #finished = new Map<string, string>();
  /** Files waiting per recipient (read once from the store). */
  #pending: Map<string, { count: number; bytes: number }>;

  constructor(host: FilesHost, options: FileTransfersOptions = {}) {
    this.#host = host;
    this.#files = host.files ?? NO_FILES;
    this.#enabled = host.files !== undefined;
    this.#maxFile = options.maxFile ?? DEFAULT_MAX_FILE;
    this.#quota = options.fileQuota ?? DEFAULT_FILE_QUOTA;
    this.#partialTtl = options.partialTtlMs ?? DEFAULT_PARTIAL_TTL_MS;
    this.#pending = host.store.pendingFiles();
    if (this.#enabled) this.#prune();
  }

  /** Files waiting for `name` to download them, and their bytes. */
  pending(name: string): { count: number; bytes: number } {
    return { ...(this.#pending.get(name) ?? EMPTY_PENDING) };
  }

  /** A FILE frame from `s`. */
  file(s: FileSession, frame: Frame, now: number): void {
    if (!this.#enabled) return this.#host.answer(s, "", frame.id, Code.NOT_IMPLEMENTED);
    if (frame.src !== s.name) {
      return this.#host.reject(
        s,
        Code.FORBIDDEN,
        frame.id,
        `src ${frame.src} is not ${s.name}`,
        now,
      );
    }
    if (s.legacy) return this.#host.answer(s, "", frame.id, Code.NOT_IMPLEMENTED);
    const options = decodeHelloOptions(frame.payload);
    switch (options.get("op")) {
      case "offer":
        return this.#offer(s, frame, options, now);
      case "get":
        return this.#get(s, frame, options);
      case "got":
        return this.#got(s, frame, options);
      case "done":
        return this.#done(s, frame, now);
      default:
        this.#host.answer(s, frame.dst, frame.id, Code.BAD_REQUEST);
        this.#host.log("info", "file-bad-op", { user: s.name, op: options.get("op") ?? "" });
    }
  }

  /** A DATA frame from `s`: the next bytes of one of its uploads. */
  data(s: FileSession, frame: Frame, now: number): void {
    if (!this.#enabled) return this.#host.answer(s, "", frame.id, Code.NOT_IMPLEMENTED);
    const up = this.#conns.get(s.conn)?.uploads.get(`${frame.dst}\n${frame.id}`);
    if (up === undefined || frame.src !== s.name) {
      return this.#host.reject(
        s,
        Code.BAD_REQUEST,
        frame.id,
        "DATA without an accepted upload",
        now,
      );
    }
    const n = frame.payload.length;
    if (n === 0) return;
    if (up.offset + n > up.size) {
      this.#forget(up);
      this.#files.suspend(up.key);
      return this.#host.reject(s, Code.BAD_REQUEST, frame.id, "DATA beyond the file's size", now);
    }
    try {
      this.#files.append(up.key, up.offset, frame.payload);
    } catch (error) {
      this.#forget(up);
      this.#files.suspend(up.key);
      this.#host.answer(s, up.dst, up.id, Code.SERVER_ERROR);
      this.#host.log("error", "file-write-failed", {
        user: s.name,
        id: up.id,
        error: String(error),
      });
      return;
    }
    const before = up.offset;
    up.offset += n;
    if (up.offset === up.size) return this.#complete(s, up, now);
    if (Math.floor(up.offset / PROGRESS_EVERY) > Math.floor(before / PROGRESS_EVERY)) {
      this.#reply(s, up.dst, up.id, [["op", "progress"], ["offset", String(up.offset)]]);
    }
  }

  /** `s` finished its login drain: notice it of every file waiting for it. */
  loggedIn(s: FileSession): void {
    if (!this.#enabled || s.legacy || s.closed || (this.#pending.get(s.name)?.count ?? 0) === 0) {
      return;
    }
    for (const file of this.#host.store.filesFor(s.name)) this.#notice(s, file);
  }

  /**
   * Periodic work (the core's sweep): about once an hour, deletes the bytes of interrupted
   * uploads not written for `partialTtlMs` and not under way.
   */
  sweep(now: number): void {
    if (!this.#enabled || now < this.#nextPartialSweep) return;
    this.#nextPartialSweep = now + PARTIAL_SWEEP_MS;
    try {
      for (const p of this.#files.partials()) {
        if (this.#byKey.has(p.key) || now - p.modifiedAt < this.#partialTtl) continue;
        this.#files.discard(p.key);
        this.#host.log("info", "file-partial-expired", { bytes: p.size });
      }
    } catch (error) {
      this.#host.log("error", "file-sweep-failed", { error: String(error) });
    }
  }

  /** Connection `conn` is gone: its uploads pause (their bytes stay), its downloads stop. */
  closed(conn: number): void {
    const t = this.#conns.get(conn);
    if (t === undefined) return;
    this.#conns.delete(conn);
    for (const up of t.uploads.values()) {
      if (this.#byKey.get(up.key) === up) {
        this.#byKey.delete(up.key);
        this.#files.suspend(up.key);
      }
    }
  }

  /**
   * Deletes the files on disk that no record points at: a crash after a file was synced but
   * before its record was committed, or after the last delivery ended but before its bytes went.
   */
  #prune(): void {
    try {
      for (const fid of this.#files.fids()) {
        if (this.#host.store.file(fid) !== undefined) continue;
        this.#files.delete(fid);
        this.#host.log("info", "file-pruned", { fid });
      }
    } catch (error) {
      this.#host.log("error", "file-prune-failed", { error: String(error) });
    }
  }

  #offer(s: FileSession, frame: Frame, options: Map<string, string>, now: number): void {
    const dst = frame.dst;
    const id = frame.id;
    const refuse = (code: string, why: string) => {
      this.#host.answer(s, dst, id, code);
      this.#host.log("info", "file-refused", { user: s.name, dst, id, code, why });
    };
    const name = options.get("name") ?? "";
    const nameBytes = encoder.encode(name).length;
    if (nameBytes === 0 || nameBytes > MAX_NAME_BYTES || name.includes("\0")) {
      return refuse(Code.BAD_REQUEST, "bad name");
    }
    const sizeText = options.get("size") ?? "";
    const size = DECIMAL.test(sizeText) ? Number(sizeText) : NaN;
    if (!Number.isSafeInteger(size)) return refuse(Code.BAD_REQUEST, "bad size");
    const sha256 = (options.get("sha256") ?? "").toLowerCase();
    if (!SHA256.test(sha256)) return refuse(Code.BAD_REQUEST, "bad sha256");
    const media = options.get("type") || DEFAULT_MEDIA;
    if (encoder.encode(media).length > MAX_MEDIA_BYTES || hasControl(media)) {
      return refuse(Code.BAD_REQUEST, "bad type");
    }
    if (isRoom(dst)) {
      if (roomProblem(dst) !== undefined) return refuse(Code.BAD_REQUEST, "bad room");
      const members = this.#host.roomMembers(dst);
      if (members === undefined) return refuse(Code.UNKNOWN_USER, "no such room");
      if (!new Set(members).has(s.name)) return refuse(Code.FORBIDDEN, "not a member");
    } else {
      if (nameProblem(dst) !== undefined) return refuse(Code.BAD_REQUEST, "bad recipient");
      if (!this.#host.knownUser(dst)) return refuse(Code.UNKNOWN_USER, "unknown recipient");
    }
    if (size > this.#maxFile) return refuse(Code.TOO_LARGE, `${size} bytes over --max-file`);
    const done = this.#host.store.findFile(s.name, id, dst);
    if (done !== undefined && done.sha256 === sha256 && done.size === size) {
      // A resend of an offer already completed: the answer it got then, once its record is
      // durable (it may have been made in this very turn).
      const waiting = !isRoom(dst) && this.#host.store.fileRecipients(done.fid).includes(dst);
      const code = waiting ? Code.STORED : Code.DELIVERED;
      return this.#host.defer(() => this.#host.answer(s, dst, id, code), () => {});
    }
    if (
      done === undefined && this.#finished.get(`${s.name}\n${dst}\n${id}`) === `${sha256}\n${size}`
    ) {
      return this.#host.answer(s, dst, id, Code.DELIVERED);
    }
    if (!isRoom(dst) && (this.#pending.get(dst)?.bytes ?? 0) + size > this.#quota) {
      return refuse(Code.QUOTA_FULL, "recipient's file quota full");
    }
    const route = `${dst}\n${id}`;
    let t = this.#conns.get(s.conn);
    if (t === undefined) {
      t = { uploads: new Map(), downloads: new Map(), noticed: new Set() };
      this.#conns.set(s.conn, t);
    }
    const old = t.uploads.get(route);
    if (old !== undefined) {
      this.#forget(old);
      // Another file's bytes: nothing takes that partial over, its open handle must go.
      if (old.key !== `${s.name}\n${dst}\n${sha256}\n${size}`) this.#files.suspend(old.key);
    }
    if (t.uploads.size >= MAX_TRANSFERS) return refuse(Code.RATE_LIMITED, "too many uploads");
    const key = `${s.name}\n${dst}\n${sha256}\n${size}`;
    const other = this.#byKey.get(key);
    if (other !== undefined) this.#forget(other);
    let offset: number;
    try {
      offset = this.#files.partialSize(key);
      if (offset > size) {
        this.#files.discard(key);
        offset = 0;
      }
      // Interrupted uploads take disk until they expire: a sender's are bounded by the quota,
      // and in number (each is a file, and every offer looks at them all).
      const held = this.#partialBytesOf(s.name, key);
      if (held.count >= MAX_PARTIALS || held.bytes + size > this.#quota) {
        return refuse(Code.QUOTA_FULL, "sender's interrupted uploads over the quota");
      }
    } catch (error) {
      this.#host.log("error", "file-read-failed", { user: s.name, id, error: String(error) });
      return refuse(Code.SERVER_ERROR, "partial upload unreadable");
    }
    const up: Upload = {
      conn: s.conn,
      route,
      key,
      src: s.name,
      dst,
      id,
      name,
      size,
      sha256,
      media,
      offset,
    };
    t.uploads.set(route, up);
    this.#byKey.set(key, up);
    this.#reply(s, dst, id, [["op", "accept"], ["offset", String(offset)]]);
    this.#host.log("info", "file-offer", { user: s.name, dst, id, size, offset });
    if (offset === size) this.#complete(s, up, now);
  }

  /** All bytes of `up` are in: check, record, answer, notice. */
  #complete(s: FileSession, up: Upload, now: number): void {
    const host = this.#host;
    this.#forget(up);
    let actual: string;
    try {
      actual = this.#files.partialSha256(up.key);
    } catch (error) {
      host.answer(s, up.dst, up.id, Code.SERVER_ERROR);
      host.log("error", "file-read-failed", { user: s.name, id: up.id, error: String(error) });
      return;
    }
    if (actual !== up.sha256) {
      this.#files.discard(up.key);
      host.answer(s, up.dst, up.id, Code.BAD_REQUEST);
      host.log("warn", "file-hash-mismatch", { user: s.name, dst: up.dst, id: up.id });
      return;
    }
    const room = isRoom(up.dst);
    const recipients: string[] = [];
    if (room) {
      for (const member of host.roomMembers(up.dst) ?? []) {
        if (member === up.src) continue;
        if ((this.#pending.get(member)?.bytes ?? 0) + up.size > this.#quota) {
          host.log("warn", "file-quota-full", { src: up.src, dst: member, room: up.dst });
          continue;
        }
        recipients.push(member);
      }
    } else recipients.push(up.dst);
    if (recipients.length === 0) {
      this.#files.discard(up.key);
      host.answer(s, up.dst, up.id, Code.DELIVERED);
      return;
    }
    const record = {
      src: up.src,
      dst: up.dst,
      id: up.id,
      name: up.name,
      size: up.size,
      sha256: up.sha256,
      media: up.media,
      sentAt: now,
    };
    let fid: number;
    try {
      fid = host.write(() => host.store.putFile(record, recipients));
    } catch (error) {
      host.answer(s, up.dst, up.id, Code.SERVER_ERROR);
      host.log("error", "store-failed", { src: up.src, id: up.id, error: String(error) });
      return;
    }
    try {
      this.#files.finish(up.key, fid);
    } catch (error) {
      host.write(() => host.store.deleteFile(fid));
      host.answer(s, up.dst, up.id, Code.SERVER_ERROR);
      host.log("error", "file-sync-failed", { src: up.src, id: up.id, error: String(error) });
      return;
    }
    this.#count(recipients, 1, up.size);
    const file: StoredFile = { ...record, fid };
    try {
      // A file notice in the conversation's history (kind 1), which text replays skip.
      const conv = conversationOf(up.src, up.dst);
      const entry = { conv, src: up.src, dst: up.dst, id: up.id, sentAt: now, kind: 1 };
      host.write(() => host.store.appendHistory({ ...entry, payload: noticePayload(file) }));
    } catch (error) {
      host.log("error", "history-failed", { src: up.src, id: up.id, error: String(error) });
    }
    host.defer(() => {
      const sender = host.session(up.src);
      if (sender !== undefined) {
        host.answer(sender, up.dst, up.id, room ? Code.DELIVERED : Code.STORED);
      }
      host.log("info", "file-stored", { src: up.src, dst: up.dst, id: up.id, fid, size: up.size });
      for (const name of recipients) {
        const to = host.session(name);
        // One still draining is noticed at the end of its drain (`loggedIn`).
        if (to !== undefined && !to.draining) this.#notice(to, file);
      }
    }, () => {
      // The bytes stay: a batch that committed but did not sync may still hold the record; a
      // file without one is deleted at the next start, or replaced by the next file of this fid.
      this.#count(recipients, -1, up.size);
      const sender = host.session(up.src);
      if (sender !== undefined) host.answer(sender, up.dst, up.id, Code.SERVER_ERROR);
    });
  }

  #get(s: FileSession, frame: Frame, options: Map<string, string>): void {
    const fid = frame.id;
    const file = this.#deliveryOf(s, fid);
    if (file === undefined) return this.#host.answer(s, frame.dst, fid, Code.UNKNOWN_USER);
    const offsetText = options.get("offset") ?? "0";
    const offset = DECIMAL.test(offsetText) ? Number(offsetText) : NaN;
    if (!(offset >= 0 && offset <= file.size)) {
      return this.#host.answer(s, frame.dst, fid, Code.BAD_REQUEST);
    }
    const t = this.#transfers(s.conn);
    if (!t.downloads.has(fid) && t.downloads.size >= MAX_TRANSFERS) {
      return this.#host.answer(s, frame.dst, fid, Code.RATE_LIMITED);
    }
    const d: Download = { file, sent: offset, acked: offset };
    t.downloads.set(fid, d);
    this.#host.log("info", "file-get", { user: s.name, fid, offset });
    this.#pump(s, d);
  }

  #got(s: FileSession, frame: Frame, options: Map<string, string>): void {
    const d = this.#conns.get(s.conn)?.downloads.get(frame.id);
    const offsetText = options.get("offset") ?? "";
    const offset = DECIMAL.test(offsetText) ? Number(offsetText) : NaN;
    if (d === undefined || !(offset >= 0)) return;
    if (offset > d.acked) d.acked = Math.min(offset, d.sent);
    this.#pump(s, d);
  }

  #done(s: FileSession, frame: Frame, now: number): void {
    const host = this.#host;
    const fid = frame.id;
    const t = this.#conns.get(s.conn);
    t?.downloads.delete(fid);
    t?.noticed.delete(fid);
    const file = host.store.file(fid);
    if (file === undefined) return;
    let left: number;
    try {
      const deleted = host.write(() => host.store.deleteFileDelivery(fid, s.name));
      if (!deleted) return;
      left = host.store.fileRecipients(fid).length;
      if (left === 0) host.write(() => host.store.deleteFile(fid));
    } catch (error) {
      host.log("error", "store-failed", { user: s.name, fid, error: String(error) });
      return;
    }
    this.#count([s.name], -1, file.size);
    host.log("info", "file-delivered", { src: file.src, dst: s.name, fid });
    if (!isRoom(file.dst)) host.owe(file.src, s.name, file.id, now);
    // The bytes go once the records that point at them are gone for good.
    if (left === 0) {
      host.defer(() => {
        this.#files.delete(fid);
        if (this.#finished.size >= MAX_FINISHED) {
          this.#finished.delete(this.#finished.keys().next().value!);
        }
        this.#finished.set(`${file.src}\n${file.dst}\n${file.id}`, `${file.sha256}\n${file.size}`);
      }, () => {});
    }
  }

  /** Sends `d`'s next bytes, up to the window beyond what the client reported. */
  #pump(s: FileSession, d: Download): void {
    const host = this.#host;
    const { fid, size } = d.file;
    const until = Math.min(size, d.acked + FILE_WINDOW);
    while (d.sent < until && !s.closed) {
      let bytes: Uint8Array;
      try {
        bytes = this.#files.read(fid, d.sent, Math.min(READ_PIECE, until - d.sent));
      } catch (error) {
        this.#conns.get(s.conn)?.downloads.delete(fid);
        host.answer(s, d.file.src, fid, Code.SERVER_ERROR);
        host.log("error", "file-read-failed", { user: s.name, fid, error: String(error) });
        return;
      }
      if (bytes.length === 0) break;
      for (let at = 0; at < bytes.length; at += MAX_PAYLOAD_SIZE) {
        const payload = bytes.subarray(at, Math.min(bytes.length, at + MAX_PAYLOAD_SIZE));
        host.send(
          s.conn,
          encodeFrame(
            { type: FrameType.DATA, id: fid, src: d.file.src, dst: s.name, payload },
            s.order,
          ),
        );
      }
      d.sent += bytes.length;
    }
  }

  /** The file `fid` if it waits for `s`. */
  #deliveryOf(s: FileSession, fid: number): StoredFile | undefined {
    if ((this.#pending.get(s.name)?.count ?? 0) === 0) return undefined;
    const file = this.#host.store.file(fid);
    if (file === undefined) return undefined;
    return this.#host.store.fileRecipients(fid).includes(s.name) ? file : undefined;
  }

  /** Hands `s` the notice of `file`, once per session. */
  #notice(s: FileSession, file: StoredFile): void {
    if (s.legacy || s.closed) return;
    const t = this.#transfers(s.conn);
    if (t.noticed.has(file.fid)) return;
    t.noticed.add(file.fid);
    const m = {
      type: FrameType.FILE,
      id: file.fid,
      src: file.src,
      dst: file.dst,
      payload: noticePayload(file),
      sentAt: file.sentAt,
    };
    this.#host.send(s.conn, encodeDelivery(m, s.order, { legacy: false, timed: s.timed }));
  }

  /** FILE from `dst` to `s` about `id`, with `options`. */
  #reply(s: FileSession, dst: string, id: number, options: [string, string][]): void {
    const payload = encodeHelloOptions(options);
    this.#host.send(
      s.conn,
      encodeFrame({ type: FrameType.FILE, id, src: dst, dst: s.name, payload }, s.order),
    );
  }

  #transfers(conn: number): Transfers {
    let t = this.#conns.get(conn);
    if (t === undefined) {
      t = { uploads: new Map(), downloads: new Map(), noticed: new Set() };
      this.#conns.set(conn, t);
    }
    return t;
  }

  /** How many partial uploads of `src` other than `except` there are, and their bytes. */
  #partialBytesOf(src: string, except: string): { count: number; bytes: number } {
    const prefix = `${src}\n`;
    let bytes = 0;
    let count = 0;
    for (const p of this.#files.partials()) {
      if (p.key.startsWith(prefix) && p.key !== except) {
        bytes += p.size;
        count++;
      }
    }
    return { count, bytes };
  }

  /** Drops `up` from the maps (its bytes stay in the `FileStore`). */
  #forget(up: Upload): void {
    const t = this.#conns.get(up.conn);
    if (t?.uploads.get(up.route) === up) t.uploads.delete(up.route);
    if (this.#byKey.get(up.key) === up) this.#byKey.delete(up.key);
  }

  #count(names: readonly string[], count: number, bytes: number): void {
    for (const name of names) {
      const p = this.#pending.get(name) ?? { count: 0, bytes: 0 };
      p.count = Math.max(0, p.count + count);
      p.bytes = Math.max(0, p.bytes + count * bytes);
      if (p.count === 0) this.#pending.delete(name);
      else this.#pending.set(name, p);
    }
  }
}

/** Whether `text` has a C0 control character or DEL. */
function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** The options of a file's notice (FILE `op=file`), also its history entry's payload. */
function noticePayload(file: StoredFile): Uint8Array {
  return encodeHelloOptions([
    ["op", "file"],
    ["name", file.name],
    ["size", String(file.size)],
    ["sha256", file.sha256],
    ["type", file.media],
  ]);
}
