/**
 * Large history blocks, each in a file of its own in a directory beside the database: written
 * once, read whole, deleted whole. In SQLite such a block went through the write-ahead log and
 * then again into the database at the checkpoint, whose syncs stalled the event loop; a file is
 * written once, and its sync, like the log's, is shared by every block written since the last one.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { removeIfPresent, syncDir } from "./disk.ts";
import { type BlockEntry, decodeHistoryBlock } from "./history_block.ts";

/** Blocks of at least this many bytes go to a file (smaller ones, a quiet chat's, stay rows). */
export const FILE_BLOCK_BYTES = 64 * 1024;

const NAME = /^(\d+)\.block$/;

/**
 * The block files of one database. A file is as durable as the row that points to it: at once
 * (`syncAtWrite`), else after the next `sync()`.
 *
 * @example
 * ```ts
 * import { BlockFiles } from "./block_files.ts";
 * const files = new BlockFiles(await Deno.makeTempDir(), true);
 * files.write(100, new Uint8Array([1, 2, 3]));
 * files.read(100, 3); // Uint8Array [1, 2, 3]
 * files.remove(100);
 * ```
 */
export class BlockFiles {
  readonly dir: string;
  #syncAtWrite: boolean;
  /** Written since the last `sync()`, open until it synced them. */
  #unsynced: Deno.FsFile[] = [];
  #made = false;

  constructor(dir: string, syncAtWrite: boolean) {
    this.dir = dir;
    this.#syncAtWrite = syncAtWrite;
  }

  /** Writes block `block`'s file, `parts` one after another (replacing one a rolled-back or lost
   * write left). */
  write(block: number, ...parts: Uint8Array[]): void {
    if (!this.#made) {
      Deno.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      this.#made = true;
    }
    const file = Deno.openSync(this.#path(block), {
      write: true,
      create: true,
      truncate: true,
      mode: 0o600,
    });
    try {
      for (const data of parts) {
        for (let at = 0; at < data.length;) at += file.writeSync(data.subarray(at));
      }
      if (this.#syncAtWrite) {
        file.syncDataSync();
        syncDir(this.dir);
      }
    } catch (error) {
      file.close();
      throw error;
    }
    if (this.#syncAtWrite) file.close();
    else this.#unsynced.push(file);
  }

  /**
   * Block `block`'s data, or undefined if its file is missing or not `bytes` long: a power loss
   * took it before it was synced (the row that points to it can be synced sooner, by a checkpoint).
   */
  read(block: number, bytes: number): Uint8Array | undefined {
    let data: Uint8Array;
    try {
      data = Deno.readFileSync(this.#path(block));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
    return data.length === bytes ? data : undefined;
  }

  /** Deletes block `block`'s file, if there is one. */
  remove(block: number): void {
    removeIfPresent(this.#path(block));
  }

  /** The blocks that have a file now. */
  blocks(): number[] {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(this.dir)];
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      throw error;
    }
    const blocks: number[] = [];
    for (const entry of entries) {
      const block = NAME.exec(entry.name)?.[1];
      if (entry.isFile && block !== undefined) blocks.push(Number(block));
    }
    return blocks;
  }

  /** Whether files written since the last sync wait for one. */
  get waiting(): boolean {
    return this.#unsynced.length > 0;
  }

  /** Makes the files written before the call, and their names, survive power loss. */
  async sync(): Promise<void> {
    const files = this.#unsynced;
    if (files.length === 0) return;
    this.#unsynced = [];
    try {
      await Promise.all(files.map((file) => file.syncData()));
      const dir = await Deno.open(this.dir, { read: true });
      try {
        await dir.sync();
      } finally {
        dir.close();
      }
    } finally {
      for (const file of files) file.close();
    }
  }

  /** `sync()` on this thread, for the store's close. */
  syncNow(): void {
    const files = this.#unsynced;
    if (files.length === 0) return;
    this.#unsynced = [];
    try {
      for (const file of files) file.syncDataSync();
      syncDir(this.dir);
    } finally {
      for (const file of files) file.close();
    }
  }

  #path(block: number): string {
    return `${this.dir}/${block}.block`;
  }
}

/**
 * The entries of a `history_blocks` row (block, data, file_bytes), those of `conv` or all; its
 * data is its own or its file's. None when the file is lost (see `BlockFiles.read`) or does not
 * decode: a power cut can leave a file of the right length that never got its data.
 */
export function blockEntries(
  row: Record<string, unknown>,
  files: BlockFiles | undefined,
  conv?: string,
): BlockEntry[] {
  const block = Number(row.block);
  if (row.file_bytes === null) return decodeHistoryBlock(row.data as Uint8Array, block, conv);
  const data = files?.read(block, Number(row.file_bytes));
  if (data === undefined) return [];
  try {
    return decodeHistoryBlock(data, block, conv);
  } catch (error) {
    if (error instanceof RangeError) return [];
    throw error;
  }
}

/** Whether `db`'s `history_blocks` has `file_bytes` (schema 6; an older file may be read as is). */
export function hasFileColumn(db: DatabaseSync): boolean {
  return db.prepare(
    "SELECT 1 FROM pragma_table_info('history_blocks') WHERE name = 'file_bytes'",
  ).get() !== undefined;
}
