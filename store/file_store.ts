import { concatBytes } from "../protocol/bytes.ts";
import { removeIfPresent, syncDir } from "./disk.ts";
import { createHash, type Hash } from "node:crypto";

/**
 * Where the server keeps the bytes of files (the records are in the `Store`): partial uploads,
 * named by a key the core chooses (sender, recipient, hash and size: a resumed upload finds its
 * bytes), and finished files, named by their fid. Every method is synchronous: the core calls it
 * while handling an event.
 */
export interface FileStore {
  /** Bytes held of the partial upload `key` (0 when there is none). */
  partialSize(key: string): number;
  /**
   * Appends `bytes` to the partial upload `key`, which must hold exactly `offset` bytes (one that
   * holds more is cut to `offset` first); throws `RangeError` if it holds fewer.
   */
  append(key: string, offset: number, bytes: Uint8Array): void;
  /** The SHA-256 (64 lowercase hex digits) of the bytes of partial upload `key`. */
  partialSha256(key: string): string;
  /** Releases what is held open for partial upload `key`; its bytes stay for a resume. */
  suspend(key: string): void;
  /** Makes partial upload `key` durable (synced) and turns it into the finished file `fid`. */
  finish(key: string, fid: number): void;
  /** Deletes partial upload `key` (no error if it is gone). */
  discard(key: string): void;
  /** The size of the finished file `fid`, or undefined if it does not exist. */
  size(fid: number): number | undefined;
  /** Up to `length` bytes of finished file `fid` from `offset` (fewer at its end). */
  read(fid: number, offset: number, length: number): Uint8Array;
  /** Deletes the finished file `fid` (no error if it is gone). */
  delete(fid: number): void;
  /** The fids of every finished file. */
  fids(): number[];
  /** Every partial upload: its key, bytes, and when it was last written (ms since the epoch). */
  partials(): PartialUpload[];
  /** Releases every open file. */
  close(): void;
}

/** A partial upload, as `FileStore.partials()` lists it. */
export interface PartialUpload {
  key: string;
  size: number;
  /** When its last bytes were written, ms since the Unix epoch. */
  modifiedAt: number;
}

/** Finished files kept open for reading, at most. */
const OPEN_READERS = 16;
const REHASH_CHUNK = 1024 * 1024;

interface OpenPartial {
  file: Deno.FsFile;
  size: number;
  /** The running SHA-256; undefined until `partialSha256` read the bytes written before. */
  hash: Hash | undefined;
}

/**
 * A `FileStore` in a directory: finished files as `DIR/<fid>`, partial uploads as
 * `DIR/partial/<key as hex>`. A finished file is synced, renamed into place, and its directory
 * synced, before `finish()` returns: once its record is committed, it survives kill -9 and power
 * loss. The running SHA-256 of a partial upload is kept in memory; a resumed upload's is read
 * from the file once, when `partialSha256()` is asked (a resume that only appends reads nothing).
 *
 * @example
 * ```ts
 * import { DiskFileStore } from "./file_store.ts";
 * const dir = Deno.makeTempDirSync();
 * const files = new DiskFileStore(dir);
 * files.append("k", 0, new TextEncoder().encode("hello"));
 * files.finish("k", 1);
 * files.read(1, 0, 5); // the bytes of "hello"
 * ```
 */
export class DiskFileStore implements FileStore {
  #dir: string;
  #partials = new Map<string, OpenPartial>();
  #readers = new Map<number, Deno.FsFile>();

  constructor(dir: string) {
    this.#dir = dir;
    Deno.mkdirSync(`${dir}/partial`, { recursive: true, mode: 0o700 });
  }

  partialSize(key: string): number {
    const open = this.#partials.get(key);
    if (open !== undefined) return open.size;
    try {
      return Deno.statSync(this.#partialPath(key)).size;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return 0;
      throw error;
    }
  }

  append(key: string, offset: number, bytes: Uint8Array): void {
    const open = this.#open(key, offset);
    if (open.size !== offset) {
      throw new RangeError(`Cannot append to upload at ${offset}: it holds ${open.size} bytes`);
    }
    let written = 0;
    while (written < bytes.length) written += open.file.writeSync(bytes.subarray(written));
    open.hash?.update(bytes);
    open.size += bytes.length;
  }

  partialSha256(key: string): string {
    const open = this.#open(key);
    if (open.hash === undefined) {
      // Read back once, at the check: a resume that only appends never pays for it.
      const hash = createHash("sha256");
      const buffer = new Uint8Array(REHASH_CHUNK);
      open.file.seekSync(0, Deno.SeekMode.Start);
      for (let done = 0; done < open.size;) {
        const n = open.file.readSync(buffer.subarray(0, Math.min(REHASH_CHUNK, open.size - done)));
        if (n === null || n === 0) break;
        hash.update(buffer.subarray(0, n));
        done += n;
      }
      open.file.seekSync(open.size, Deno.SeekMode.Start);
      open.hash = hash;
    }
    return open.hash.copy().digest("hex");
  }

  suspend(key: string): void {
    const open = this.#partials.get(key);
    if (open === undefined) return;
    this.#partials.delete(key);
    open.file.close();
  }

  finish(key: string, fid: number): void {
    const open = this.#open(key);
    open.file.syncSync();
    this.suspend(key);
    Deno.renameSync(this.#partialPath(key), this.#filePath(fid));
    syncDir(this.#dir);
    syncDir(`${this.#dir}/partial`);
  }

  discard(key: string): void {
    this.suspend(key);
    removeIfPresent(this.#partialPath(key));
  }

  size(fid: number): number | undefined {
    try {
      return Deno.statSync(this.#filePath(fid)).size;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  }

  read(fid: number, offset: number, length: number): Uint8Array {
    let file = this.#readers.get(fid);
    if (file === undefined) {
      file = Deno.openSync(this.#filePath(fid), { read: true });
      if (this.#readers.size >= OPEN_READERS) {
        const [oldest, reader] = this.#readers.entries().next().value!;
        reader.close();
        this.#readers.delete(oldest);
      }
      this.#readers.set(fid, file);
    }
    file.seekSync(offset, Deno.SeekMode.Start);
    const buffer = new Uint8Array(length);
    let filled = 0;
    while (filled < length) {
      const n = file.readSync(buffer.subarray(filled));
      if (n === null || n === 0) break;
      filled += n;
    }
    return filled === length ? buffer : buffer.subarray(0, filled);
  }

  delete(fid: number): void {
    this.#readers.get(fid)?.close();
    this.#readers.delete(fid);
    removeIfPresent(this.#filePath(fid));
  }

  fids(): number[] {
    const fids: number[] = [];
    for (const entry of Deno.readDirSync(this.#dir)) {
      if (entry.isFile && /^[0-9]{1,15}$/.test(entry.name)) fids.push(Number(entry.name));
    }
    return fids.sort((a, b) => a - b);
  }

  partials(): PartialUpload[] {
    const found: PartialUpload[] = [];
    for (const entry of Deno.readDirSync(`${this.#dir}/partial`)) {
      const key = fromHex(entry.name);
      if (!entry.isFile || key === undefined) continue;
      try {
        const info = Deno.statSync(`${this.#dir}/partial/${entry.name}`);
        found.push({ key, size: info.size, modifiedAt: info.mtime?.getTime() ?? 0 });
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
    return found;
  }

  close(): void {
    for (const open of this.#partials.values()) open.file.close();
    this.#partials.clear();
    for (const file of this.#readers.values()) file.close();
    this.#readers.clear();
  }

  /**
   * The partial upload `key`, opened (and its bytes hashed) if it is not; cut to `cut` bytes
   * first when it holds more.
   */
  #open(key: string, cut?: number): OpenPartial {
    let open = this.#partials.get(key);
    if (open !== undefined && (cut === undefined || open.size <= cut)) return open;
    if (open !== undefined) this.suspend(key);
    const path = this.#partialPath(key);
    const file = Deno.openSync(path, { read: true, write: true, create: true, mode: 0o600 });
    let size = file.statSync().size;
    if (cut !== undefined && size > cut) {
      file.truncateSync(cut);
      size = cut;
    }
    file.seekSync(size, Deno.SeekMode.Start);
    // Hashed from the start only when empty; else lazily by `partialSha256`.
    open = { file, size, hash: size === 0 ? createHash("sha256") : undefined };
    this.#partials.set(key, open);
    return open;
  }

  #partialPath(key: string): string {
    return `${this.#dir}/partial/${toHex(key)}`;
  }

  #filePath(fid: number): string {
    if (!Number.isSafeInteger(fid) || fid < 0) throw new RangeError(`Invalid fid ${fid}`);
    return `${this.#dir}/${fid}`;
  }
}

/**
 * A `FileStore` in memory, for tests and for a server without a data directory.
 *
 * @example
 * ```ts
 * import { MemoryFileStore } from "./file_store.ts";
 * const files = new MemoryFileStore();
 * files.append("k", 0, new Uint8Array([1, 2, 3]));
 * files.finish("k", 7);
 * files.size(7); // 3
 * ```
 */
export class MemoryFileStore implements FileStore {
  #partials = new Map<string, { pieces: Uint8Array[]; size: number; modifiedAt: number }>();
  #files = new Map<number, Uint8Array>();

  partialSize(key: string): number {
    return this.#partials.get(key)?.size ?? 0;
  }

  append(key: string, offset: number, bytes: Uint8Array): void {
    let partial = this.#partials.get(key);
    if (partial === undefined) {
      this.#partials.set(key, partial = { pieces: [], size: 0, modifiedAt: 0 });
    }
    partial.modifiedAt = Date.now();
    if (partial.size > offset) {
      partial.pieces = [concatBytes(partial.pieces).slice(0, offset)];
      partial.size = offset;
    }
    if (partial.size !== offset) {
      throw new RangeError(`Cannot append to upload at ${offset}: it holds ${partial.size} bytes`);
    }
    partial.pieces.push(bytes.slice());
    partial.size += bytes.length;
  }

  partialSha256(key: string): string {
    const hash = createHash("sha256");
    for (const piece of this.#partials.get(key)?.pieces ?? []) hash.update(piece);
    return hash.digest("hex");
  }

  suspend(_key: string): void {}

  finish(key: string, fid: number): void {
    this.#files.set(fid, concatBytes(this.#partials.get(key)?.pieces ?? []));
    this.#partials.delete(key);
  }

  discard(key: string): void {
    this.#partials.delete(key);
  }

  size(fid: number): number | undefined {
    return this.#files.get(fid)?.length;
  }

  read(fid: number, offset: number, length: number): Uint8Array {
    const bytes = this.#files.get(fid);
    if (bytes === undefined) throw new Error(`Cannot read file ${fid}: it does not exist`);
    return bytes.slice(offset, offset + length);
  }

  delete(fid: number): void {
    this.#files.delete(fid);
  }

  fids(): number[] {
    return [...this.#files.keys()].sort((a, b) => a - b);
  }

  partials(): PartialUpload[] {
    return [...this.#partials].map(([key, p]) => ({ key, size: p.size, modifiedAt: p.modifiedAt }));
  }

  close(): void {}
}

const encoder = new TextEncoder();

/** A key as a file name: its UTF-8 bytes in hex (no separators, no dots, no control characters). */
function toHex(key: string): string {
  let hex = "";
  for (const byte of encoder.encode(key)) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** The key a file name made by `toHex` stands for; undefined for any other name. */
function fromHex(name: string): string | undefined {
  if (!/^(?:[0-9a-f]{2})+$/.test(name)) return undefined;
  const bytes = new Uint8Array(name.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(name.slice(2 * i, 2 * i + 2), 16);
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}
