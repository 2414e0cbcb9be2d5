/**
 * The client side of file transfers (FILE and DATA frames, docs/PROTOCOL.md section 15):
 * uploads with the server's flow control and resume, the `file` notices, and downloads that
 * keep their partial bytes outside the save folder, resume from them, check the SHA-256 and
 * save under a safe, unused name. `TinychatClient` owns one `FileTransfers` and feeds it the
 * frames it receives.
 *
 * Memory: hashing streams (node:crypto), an upload holds one 64 KB block at a time and a
 * download at most the 256 KiB window, whatever the file's size.
 *
 * @module
 */
import { createHash, type Hash } from "node:crypto";
import { basename, join } from "node:path";
import type { SendResult } from "./client.ts";
import {
  Code,
  concatBytes,
  decodeHelloOptions,
  encodeFrame,
  encodeHelloOptions,
  type Frame,
  FrameType,
  isRoom,
  MAX_PAYLOAD_SIZE,
  nameProblem,
  readCode,
  roomProblem,
} from "./protocol/mod.ts";
import { mediaType } from "./files/media_type.ts";
import { reservePath } from "./files/safe_name.ts";
import { defaultPartialDir } from "./files/save_dir.ts";

/** A file someone sent us (or a room we are in): download it with `download()`. */
export interface FileEvent {
  kind: "file";
  /** The sender. */
  from: string;
  /** Us, or the room it was sent to. */
  to: string;
  /** The server's number for the file. */
  fid: number;
  /** The name the sender gave it: NOT safe as a path (`download()` sanitises it). */
  name: string;
  /** Its size in bytes. */
  size: number;
  /** Its SHA-256, 64 lower-case hex digits. */
  sha256: string;
  /** Its media type, e.g. "image/png" (`mediaKind()` names it). */
  type: string;
  /** When the upload completed on the server (from its TIMED frame). */
  sentAt?: Date;
  /** When the notice arrived here. */
  at: Date;
}

/** Options of `sendFile()`. */
export interface SendFileOptions {
  /** Called as bytes are confirmed by the server: (bytes the server holds, size). */
  onProgress?: (done: number, size: number) => void;
  /** Stops the upload (the server keeps what it has, for a later resume); rejects. */
  signal?: AbortSignal;
  /** The name the recipient sees (it sanitises it). Default: the file's own name. */
  name?: string;
  /** The media type. Default: from the extension (`mediaType()`). */
  type?: string;
}

/** Options of `download()`. */
export interface DownloadOptions {
  /** Called as bytes arrive: (bytes held, size); first with what a partial held. */
  onProgress?: (done: number, size: number) => void;
  /** Stops the download (the partial bytes stay, for a resume); rejects. */
  signal?: AbortSignal;
  /**
   * Where partial downloads wait (never inside the save folder). Default: the platform's state
   * directory (`defaultPartialDir()`); `tinychat connect` passes its own state directory.
   */
  partialDir?: string;
}

/** What `FileTransfers` needs from the session that owns it. */
export interface FileHost {
  /** The session's name. */
  user(): string;
  /** Whether the session is logged in now (writes while offline are dropped). */
  isOnline(): boolean;
  /** A fresh messageId. */
  takeId(): number;
  /** Queues bytes (whole frames) on the connection. */
  write(bytes: Uint8Array): void;
  /** Hands a `file` event to the session's readers. */
  emit(event: FileEvent): void;
}

/** Bytes the sender may send beyond the last offset the server reported. */
export const FILE_WINDOW = 256 * 1024;
/** A downloader reports its offset (`op=got`) at least this often. */
export const GOT_EVERY = 64 * 1024;
/** Bytes read from disk at once while uploading: a multiple of the DATA payload size. */
const READ_BLOCK = 64 * MAX_PAYLOAD_SIZE;
/** File notices kept for a first `onFile()` listener that has not come yet. */
const MAX_UNCLAIMED = 1000;
const SHA256_HEX = /^[0-9a-f]{64}$/;

interface Upload {
  id: number;
  to: string;
  size: number;
  offer: Uint8Array;
  file: Deno.FsFile;
  /** Next byte to send. */
  sent: number;
  /** The last offset the server reported. */
  acked: number;
  /** Counts `accept`s: a block read before the latest one is stale. */
  generation: number;
  accepted: boolean;
  /** The pump running now, if one is. */
  pumping: Promise<void> | undefined;
  onProgress: ((done: number, size: number) => void) | undefined;
  resolve(result: SendResult): void;
  reject(error: Error): void;
}

interface Download {
  event: FileEvent;
  partPath: string;
  file: Deno.FsFile;
  hash: Hash;
  /** Bytes taken in (written or queued). */
  received: number;
  /** Bytes queued, not yet written. */
  pending: Uint8Array[];
  pendingBytes: number;
  /** The offset of the last `op=got` (or `op=get`). */
  reported: number;
  /** The chain of disk writes, one at a time. */
  writing: Promise<void>;
  saveDir: string;
  onProgress: ((done: number, size: number) => void) | undefined;
  failed: boolean;
  resolve(path: string): void;
  reject(error: Error): void;
}

/** Uploads, downloads and file notices of one session. */
export class FileTransfers {
  #host: FileHost;
  #uploads = new Map<number, Upload>();
  #downloads = new Map<string, Download>();
  /** `op=done`s that could not be sent while offline: sent at the next login. */
  #owedDone = new Map<string, Frame>();
  #listeners = new Set<(event: FileEvent) => void>();
  #unclaimed: FileEvent[] | undefined = [];
  #closed: string | undefined;

  constructor(host: FileHost) {
    this.#host = host;
  }

  /** Uploads the file at `path` to `to` (a user or a room). See `TinychatClient.sendFile`. */
  async sendFile(to: string, path: string, options: SendFileOptions = {}): Promise<SendResult> {
    if (this.#closed !== undefined) {
      throw new Error(`Cannot send a file: session closed (${this.#closed})`);
    }
    const problem = isRoom(to) ? roomProblem(to) : nameProblem(to);
    if (problem !== undefined) throw new RangeError(`Cannot send to "${to}": name ${problem}`);
    options.signal?.throwIfAborted();
    const info = await Deno.stat(path);
    if (!info.isFile) throw new TypeError(`Cannot send ${path}: not a file`);
    const sha256 = await hashFile(path, info.size, options.signal);
    const file = await Deno.open(path, { read: true });
    const offer = encodeHelloOptions([
      ["op", "offer"],
      // The receiver sanitises the name; a line break or NUL would break the offer itself.
      ["name", truncateBytes((options.name ?? basename(path)).replace(/[\r\n\0]/g, "_"), 255)],
      ["size", String(info.size)],
      ["sha256", sha256],
      ["type", (options.type ?? mediaType(path)).replace(/[\r\n]/g, "").slice(0, 127)],
    ]);
    const id = this.#host.takeId();
    const done = Promise.withResolvers<SendResult>();
    const upload: Upload = {
      id,
      to,
      size: info.size,
      offer,
      file,
      sent: 0,
      acked: 0,
      generation: 0,
      accepted: false,
      pumping: undefined,
      onProgress: options.onProgress,
      resolve: done.resolve,
      reject: done.reject,
    };
    const abort = () => {
      if (this.#uploads.get(id) !== upload) return;
      this.#uploads.delete(id);
      upload.reject(abortError(options.signal, `Upload of ${path} stopped`));
    };
    options.signal?.addEventListener("abort", abort, { once: true });
    this.#uploads.set(id, upload);
    if (options.signal?.aborted) abort();
    else this.#sendOffer(upload);
    try {
      return await done.promise;
    } finally {
      options.signal?.removeEventListener("abort", abort);
      this.#uploads.delete(id);
      // A pump may still be reading: let it see the upload is gone before closing the file.
      await upload.pumping;
      file.close();
    }
  }

  /** Downloads a file we were sent. See `TinychatClient.download`. */
  async download(
    event: FileEvent,
    saveDir: string,
    options: DownloadOptions = {},
  ): Promise<string> {
    if (this.#closed !== undefined) {
      throw new Error(`Cannot download: session closed (${this.#closed})`);
    }
    const key = keyOf(event.from, event.fid);
    if (this.#downloads.has(key)) {
      throw new Error(`Cannot download ${event.name}: already downloading it`);
    }
    const sha256 = event.sha256.toLowerCase();
    if (!SHA256_HEX.test(sha256) || !Number.isSafeInteger(event.size) || event.size < 0) {
      throw new RangeError(`Cannot download ${event.name}: bad size or sha256 in its notice`);
    }
    options.signal?.throwIfAborted();
    const partialDir = options.partialDir ?? defaultPartialDir();
    await Deno.mkdir(partialDir, { recursive: true });
    // Named by content and file: the notice of this file at a later login resumes from it.
    const partPath = join(partialDir, `${sha256}-${event.size}-${event.fid}.part`);
    const file = await Deno.open(partPath, { read: true, write: true, create: true });
    const done = Promise.withResolvers<string>();
    let download: Download;
    try {
      let held = (await file.stat()).size;
      if (held > event.size) {
        await file.truncate(0);
        held = 0;
      }
      const hash = createHash("sha256");
      await hashPrefix(file, held, hash);
      await file.seek(held, Deno.SeekMode.Start);
      download = {
        event,
        partPath,
        file,
        hash,
        received: held,
        pending: [],
        pendingBytes: 0,
        reported: held,
        writing: Promise.resolve(),
        saveDir,
        onProgress: options.onProgress,
        failed: false,
        resolve: done.resolve,
        reject: done.reject,
      };
    } catch (error) {
      file.close();
      throw error;
    }
    if (this.#downloads.has(key)) {
      file.close();
      throw new Error(`Cannot download ${event.name}: already downloading it`);
    }
    const abort = () => this.#fail(download, abortError(options.signal, "Download stopped"));
    options.signal?.addEventListener("abort", abort, { once: true });
    this.#downloads.set(key, download);
    if (options.signal?.aborted) abort();
    download.onProgress?.(download.received, event.size);
    if (download.received === event.size) void this.#finish(download);
    else this.#requestFrom(download);
    try {
      return await done.promise;
    } finally {
      options.signal?.removeEventListener("abort", abort);
      if (this.#downloads.get(key) === download) this.#downloads.delete(key);
      await download.writing;
      try {
        file.close();
      } catch {
        // Closed by #finish.
      }
    }
  }

  /**
   * Calls `listener` with every file notice from now on; the first listener also gets those
   * that came before any listened. Returns a function that stops the listening.
   */
  onFile(listener: (event: FileEvent) => void): () => void {
    this.#listeners.add(listener);
    const backlog = this.#unclaimed ?? [];
    this.#unclaimed = undefined;
    for (const event of backlog) callSafely(() => listener(event));
    return () => this.#listeners.delete(listener);
  }

  /**
   * Handles a FILE or DATA frame. `timed` is the last TIMED frame the session got (it precedes
   * a file notice).
   */
  handle(frame: Frame, timed?: { src: string; id: number; at: number }): void {
    if (frame.type === FrameType.DATA) return this.#data(frame);
    const options = decodeHelloOptions(frame.payload);
    const op = options.get("op");
    if (op === "accept" || op === "progress") {
      const upload = this.#uploads.get(frame.id);
      if (upload === undefined || frame.src !== upload.to) return;
      const offset = Number(options.get("offset"));
      if (!Number.isSafeInteger(offset) || offset < 0 || offset > upload.size) return;
      if (op === "accept") {
        upload.accepted = true;
        upload.generation++;
        upload.sent = offset;
        upload.acked = offset;
      } else if (offset > upload.acked) {
        upload.acked = offset;
      }
      callSafely(() => upload.onProgress?.(upload.acked, upload.size));
      void this.#pump(upload);
      return;
    }
    if (op === "file") {
      const event: FileEvent = {
        kind: "file",
        from: frame.src,
        to: frame.dst,
        fid: frame.id,
        name: options.get("name") ?? "",
        size: Number(options.get("size") ?? NaN),
        sha256: (options.get("sha256") ?? "").toLowerCase(),
        type: options.get("type") || "application/octet-stream",
        at: new Date(),
        ...(timed !== undefined && timed.src === frame.src && timed.id === frame.id
          ? { sentAt: new Date(timed.at) }
          : {}),
      };
      this.#host.emit(event);
      if (this.#unclaimed !== undefined) {
        this.#unclaimed.push(event);
        if (this.#unclaimed.length > MAX_UNCLAIMED) this.#unclaimed.shift();
      }
      for (const listener of this.#listeners) callSafely(() => listener(event));
    }
  }

  /**
   * Takes an ACK that answers an upload (its outcome) or a download (an error); returns false
   * for any other ACK.
   */
  answer(frame: Frame): boolean {
    const code = readCode(frame.payload);
    const upload = this.#uploads.get(frame.id);
    if (upload !== undefined && (frame.src === upload.to || frame.src === "")) {
      this.#uploads.delete(frame.id);
      upload.resolve({ id: upload.id, to: upload.to, fate: fateOf(code), code });
      return true;
    }
    const download = this.#downloads.get(keyOf(frame.src, frame.id));
    if (download !== undefined && code !== Code.DELIVERED) {
      this.#fail(
        download,
        new Error(`Cannot download ${download.event.name}: the server answered ${code}`),
      );
      return true;
    }
    return false;
  }

  /** After each login: offers the unfinished uploads again, resumes the downloads. */
  online(): void {
    for (const upload of this.#uploads.values()) this.#sendOffer(upload);
    for (const download of this.#downloads.values()) {
      if (download.received < download.event.size) this.#requestFrom(download);
    }
    for (const [key, frame] of this.#owedDone) {
      this.#owedDone.delete(key);
      this.#host.write(encodeFrame(frame));
    }
  }

  /** Rejects every transfer: the session is closing. */
  close(reason: string): void {
    this.#closed = reason;
    for (const upload of this.#uploads.values()) {
      upload.reject(new Error(`Session closed before the upload finished (${reason})`));
    }
    this.#uploads.clear();
    for (const download of [...this.#downloads.values()]) {
      this.#fail(download, new Error(`Session closed before the download finished (${reason})`));
    }
  }

  #sendOffer(upload: Upload): void {
    upload.accepted = false;
    if (!this.#host.isOnline()) return;
    this.#host.write(encodeFrame({
      type: FrameType.FILE,
      id: upload.id,
      src: this.#host.user(),
      dst: upload.to,
      payload: upload.offer,
    }));
  }

  /** Sends DATA while the window allows; one pump per upload at a time. */
  async #pump(upload: Upload): Promise<void> {
    if (upload.pumping !== undefined) return;
    const done = Promise.withResolvers<void>();
    upload.pumping = done.promise;
    try {
      while (
        this.#uploads.get(upload.id) === upload && upload.accepted && this.#host.isOnline() &&
        upload.sent < upload.size && upload.sent - upload.acked < FILE_WINDOW
      ) {
        const start = upload.sent;
        const generation = upload.generation;
        const n = Math.min(READ_BLOCK, upload.size - start, FILE_WINDOW - (start - upload.acked));
        const block = new Uint8Array(n);
        await upload.file.seek(start, Deno.SeekMode.Start);
        for (let at = 0; at < n;) {
          const read = await upload.file.read(block.subarray(at));
          if (read === null) throw new Error("the file became shorter while sending it");
          at += read;
        }
        if (upload.generation !== generation || upload.sent !== start) continue;
        if (this.#uploads.get(upload.id) !== upload || !this.#host.isOnline()) break;
        this.#host.write(dataFrames(upload.id, this.#host.user(), upload.to, block));
        upload.sent = start + n;
      }
    } catch (error) {
      if (this.#uploads.get(upload.id) === upload) {
        this.#uploads.delete(upload.id);
        upload.reject(new Error(`Cannot send the file: ${(error as Error).message}`));
      }
    } finally {
      upload.pumping = undefined;
      done.resolve();
    }
  }

  #data(frame: Frame): void {
    const download = this.#downloads.get(keyOf(frame.src, frame.id));
    if (download === undefined || download.failed) return;
    const size = download.event.size;
    if (download.received + frame.payload.length > size) {
      this.#fail(download, new Error(`Cannot download ${download.event.name}: too many bytes`));
      return;
    }
    download.hash.update(frame.payload);
    download.pending.push(frame.payload);
    download.pendingBytes += frame.payload.length;
    download.received += frame.payload.length;
    const complete = download.received === size;
    if (!complete && download.received - download.reported < GOT_EVERY) return;
    const block = concatBytes(download.pending, download.pendingBytes);
    download.pending = [];
    download.pendingBytes = 0;
    const offset = download.received;
    download.writing = download.writing.then(async () => {
      if (download.failed) return;
      await writeAll(download.file, block);
      download.onProgress?.(offset, size);
      if (!complete) this.#sendOp(download, [["op", "got"], ["offset", String(offset)]]);
    }).catch((error) => this.#fail(download, error));
    if (!complete) download.reported = offset;
    else void this.#finish(download);
  }

  /** All bytes are in: checks, saves and reports the download. */
  async #finish(download: Download): Promise<void> {
    const { event } = download;
    try {
      await download.writing;
      if (download.failed) return;
      await download.file.sync();
      download.file.close();
      const digest = download.hash.digest("hex");
      if (digest !== event.sha256) {
        await Deno.remove(download.partPath).catch(() => {});
        throw new Error(
          `Cannot save ${event.name}: its SHA-256 is ${digest}, the sender's was ${event.sha256}`,
        );
      }
      const path = await reservePath(download.saveDir, event.name);
      await moveFile(download.partPath, path);
      download.failed = true; // Finished: later frames about it are ignored.
      const frame = this.#opFrame(download, [["op", "done"]]);
      if (this.#host.isOnline()) this.#host.write(encodeFrame(frame));
      else this.#owedDone.set(keyOf(event.from, event.fid), frame);
      download.resolve(path);
    } catch (error) {
      this.#fail(download, error instanceof Error ? error : new Error(String(error)));
    }
  }

  #requestFrom(download: Download): void {
    // Bytes queued but unwritten are still ours: ask for what follows them.
    download.reported = download.received;
    this.#sendOp(download, [["op", "get"], ["offset", String(download.received)]]);
  }

  #sendOp(download: Download, options: [string, string][]): void {
    if (!this.#host.isOnline()) return;
    this.#host.write(encodeFrame(this.#opFrame(download, options)));
  }

  #opFrame(download: Download, options: [string, string][]): Frame {
    return {
      type: FrameType.FILE,
      id: download.event.fid,
      src: this.#host.user(),
      dst: download.event.from,
      payload: encodeHelloOptions(options),
    };
  }

  #fail(download: Download, error: Error): void {
    const key = keyOf(download.event.from, download.event.fid);
    if (this.#downloads.get(key) === download) this.#downloads.delete(key);
    if (download.failed) return;
    download.failed = true;
    download.reject(error);
  }
}

/** The DATA frames that carry `block`, concatenated. */
function dataFrames(id: number, src: string, dst: string, block: Uint8Array): Uint8Array {
  const frames: Uint8Array[] = [];
  let total = 0;
  for (let at = 0; at < block.length; at += MAX_PAYLOAD_SIZE) {
    const bytes = encodeFrame({
      type: FrameType.DATA,
      id,
      src,
      dst,
      payload: block.subarray(at, at + MAX_PAYLOAD_SIZE),
    });
    frames.push(bytes);
    total += bytes.length;
  }
  return concatBytes(frames, total);
}

/** The SHA-256 of the file at `path` as hex, read in a stream. */
async function hashFile(path: string, size: number, signal?: AbortSignal): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  await hashPrefix(file, size, hash, signal);
  return hash.digest("hex");
}

/** Feeds the first `length` bytes of `file` (from its start) to `hash`. */
async function hashPrefix(
  file: Deno.FsFile,
  length: number,
  hash: Hash,
  signal?: AbortSignal,
): Promise<void> {
  await file.seek(0, Deno.SeekMode.Start);
  const buffer = new Uint8Array(1024 * 1024);
  for (let left = length; left > 0;) {
    signal?.throwIfAborted();
    const n = await file.read(buffer.subarray(0, Math.min(buffer.length, left)));
    if (n === null) throw new Error("the file became shorter while reading it");
    hash.update(buffer.subarray(0, n));
    left -= n;
  }
}

/** Renames `from` to `to` (over our own empty reservation); copies across file systems. */
async function moveFile(from: string, to: string): Promise<void> {
  try {
    await Deno.rename(from, to);
  } catch {
    await Deno.copyFile(from, to);
    await Deno.remove(from);
  }
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
}

/** Runs a caller's callback: its exceptions must not end the session's read loop. */
function callSafely(fn: () => void): void {
  try {
    fn();
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}

function keyOf(from: string, fid: number): string {
  return `${from}\n${fid}`;
}

function fateOf(code: string): SendResult["fate"] {
  if (code === Code.DELIVERED) return "delivered";
  if (code === Code.STORED) return "stored";
  if (code === Code.UNKNOWN_USER) return "unknown user";
  return "rejected";
}

function abortError(signal: AbortSignal | undefined, message: string): Error {
  const reason = signal?.reason;
  return reason instanceof Error ? reason : new Error(message);
}

/** Cuts `text` to at most `max` bytes of UTF-8 at a character boundary. */
function truncateBytes(text: string, max: number): string {
  const encoder = new TextEncoder();
  if (encoder.encode(text).length <= max) return text;
  let out = "";
  let bytes = 0;
  for (const char of text) {
    const size = encoder.encode(char).length;
    if (bytes + size > max) break;
    out += char;
    bytes += size;
  }
  return out;
}
