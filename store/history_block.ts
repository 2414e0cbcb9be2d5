/**
 * Blocks of direct-message history: many entries in one blob, written as one row (a row per
 * entry would cost as much as the message's delivery).
 *
 * A block is a name table and then records, big-endian:
 * `u8 version (1), u16 names, names × (u8 length, UTF-8 bytes)`, then per entry
 * `f64 sentAt, u32 id, u16 src (name index), u16 dst (name index), u32 length, payload`.
 * The entries of a block have consecutive seqs from the block's first seq; their conversation
 * is derived from src and dst (`conversationOf`).
 *
 * A writer with `heads` also gives the block's heads: the same name table, then per entry
 * `u16 src, u16 dst, u32 id, u32 length` (the block without its times and payloads).
 *
 * @module
 */

import { concatBytes } from "../protocol/bytes.ts";
import { conversationOf, type HistoryEntry } from "./store.ts";

/**
 * Entries a block holds at most (the store reads blocks by seq range, so this is a bound: a file
 * whose blocks may hold more needs a schema of its own). Each block's write stalls the event loop
 * and delays the messages in flight then: at 1,024 a block, 1% of them at 10 pairs × 1, which set
 * the p99; at 8,192, about 0.1%, for 0.6 ms (0.4 ms at 4,096). Each block also costs a row, links,
 * a file and its sync, and its deletion: 8,192 instead of 4,096 made the live relay 3.9% faster
 * (docs/PERFORMANCE.md), where 16,384 in 2 MiB gained nothing more. With 100-byte messages the
 * block reaches `BLOCK_TARGET_BYTES` at about the same count.
 */
export const BLOCK_MAX_ENTRIES = 8192;
/** Record bytes after which a block is written (one long message may go beyond). */
export const BLOCK_TARGET_BYTES = 1024 * 1024;

const VERSION = 1;
/** Names whose bytes a writer keeps between blocks, at most. */
const MAX_ENCODED_NAMES = 4096;
/** sentAt, id, src, dst, length. */
const RECORD_HEADER = 20;
/** src, dst, id, length. */
const HEAD_BYTES = 12;
/** Entries whose heads a writer has room for at first. */
const FIRST_HEADS = 256;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One entry read from a block: a history entry without its kind (a block holds text messages),
 * its payload a view into the block's data. */
export type BlockEntry = Omit<HistoryEntry, "kind">;

/** A block ready to be stored, from `HistoryBlockWriter.take()`. */
export interface FinishedBlock {
  /**
   * The block's bytes, in two parts: its name table, then its records. The records are a view
   * into the writer's buffer, valid until its next `add()`: stored at once, a large block is not
   * copied first (`blockBytes` joins the parts).
   */
  parts: [Uint8Array, Uint8Array];
  /** The length of the block's bytes. */
  bytes: number;
  /** Entries. */
  count: number;
  /** The latest sentAt of its entries (ms). */
  lastAt: number;
  /** Conversation -> its entries in the block (empty from a writer without `conversations`). */
  convs: Map<string, number>;
  /** The block's heads, from a writer with `heads` (a buffer of their own). */
  heads: Uint8Array | undefined;
}

/** The entries of a block's heads, by field, in seq order (`decodeBlockHeads`). */
export interface BlockHeads {
  src: string[];
  dst: string[];
  id: number[];
  /** Payload lengths. */
  bytes: number[];
}

/** Options of `HistoryBlockWriter`. */
export interface HistoryBlockWriterOptions {
  /** Count each block's entries per conversation (`FinishedBlock.convs`); default true. */
  conversations?: boolean;
  /** Give each block's heads (`FinishedBlock.heads`); default false. */
  heads?: boolean;
}

/**
 * Packs history entries into a block in memory. Each `add()` copies the payload, so the caller
 * may reuse its buffer.
 *
 * @example
 * ```ts
 * import { blockBytes, decodeHistoryBlock, HistoryBlockWriter } from "./history_block.ts";
 * const w = new HistoryBlockWriter();
 * w.add("alice", "bob", 7, 1700000000000, new TextEncoder().encode("hi"));
 * const block = w.take();
 * decodeHistoryBlock(blockBytes(block), 100)[0]!.seq; // 100
 * ```
 */
export class HistoryBlockWriter {
  #conversations: boolean;
  /** The entries' heads, when the writer gives them. */
  #heads: DataView | undefined;
  #buf = new Uint8Array(BLOCK_TARGET_BYTES + 4096);
  #view = new DataView(this.#buf.buffer);
  #used = 0;
  #names = new Map<string, number>();
  /** Entries per (src, dst) name-index pair: conversations are made at `take()`. */
  #pairs = new Map<number, number>();
  #count = 0;
  #lastAt = 0;
  /** Names' UTF-8 bytes, kept from block to block (the same people write most of them). */
  #encoded = new Map<string, Uint8Array>();
  /**
   * The (src, dst) pair added last, its name indexes, and its entries not yet in `#pairs`: a
   * sender's messages to one recipient come in a row, so most adds look nothing up.
   */
  #lastSrc = "";
  #lastDst = "";
  #lastSrcIndex = 0;
  #lastDstIndex = 0;
  #lastCount = 0;

  constructor(options: HistoryBlockWriterOptions = {}) {
    this.#conversations = options.conversations !== false;
    if (options.heads === true) {
      // Grown as entries come: a writer of small blocks (stored messages) never needs the room
      // of `BLOCK_MAX_ENTRIES`.
      this.#heads = new DataView(new ArrayBuffer(FIRST_HEADS * HEAD_BYTES));
    }
  }

  /** Entries waiting. */
  get count(): number {
    return this.#count;
  }

  /** Whether the block should be written now (entries or bytes at their target). */
  get full(): boolean {
    return this.#count >= BLOCK_MAX_ENTRIES || this.#used >= BLOCK_TARGET_BYTES;
  }

  /** Appends one entry; throws `RangeError` beyond `BLOCK_MAX_ENTRIES` (take the block first). */
  add(src: string, dst: string, id: number, sentAt: number, payload: Uint8Array): void {
    if (this.#count >= BLOCK_MAX_ENTRIES) {
      throw new RangeError(`Cannot add to a history block: it holds ${BLOCK_MAX_ENTRIES} entries`);
    }
    const need = RECORD_HEADER + payload.length;
    if (this.#used + need > this.#buf.length) this.#grow(this.#used + need);
    if (this.#lastCount === 0 || src !== this.#lastSrc || dst !== this.#lastDst) {
      if (this.#conversations) this.#settlePair();
      this.#lastSrcIndex = this.#name(src);
      this.#lastDstIndex = this.#name(dst);
      this.#lastSrc = src;
      this.#lastDst = dst;
    }
    const at = this.#used;
    const view = this.#view;
    view.setFloat64(at, sentAt, false);
    view.setUint32(at + 8, id >>> 0, false);
    view.setUint16(at + 12, this.#lastSrcIndex, false);
    view.setUint16(at + 14, this.#lastDstIndex, false);
    view.setUint32(at + 16, payload.length, false);
    this.#buf.set(payload, at + RECORD_HEADER);
    let heads = this.#heads;
    if (heads !== undefined) {
      const h = this.#count * HEAD_BYTES;
      if (h === heads.byteLength) heads = this.#heads = growHeads(heads);
      heads.setUint16(h, this.#lastSrcIndex, false);
      heads.setUint16(h + 2, this.#lastDstIndex, false);
      heads.setUint32(h + 4, id >>> 0, false);
      heads.setUint32(h + 8, payload.length, false);
    }
    this.#used = at + need;
    this.#lastCount++;
    this.#count++;
    if (sentAt > this.#lastAt) this.#lastAt = sentAt;
  }

  /** The block of the entries added since the last take, and a fresh start. */
  take(): FinishedBlock {
    if (this.#conversations) this.#settlePair();
    const list = [...this.#names.keys()];
    const convs = new Map<string, number>();
    for (const [pair, n] of this.#pairs) {
      const conv = conversationOf(list[Math.floor(pair / 65536)]!, list[pair % 65536]!);
      convs.set(conv, (convs.get(conv) ?? 0) + n);
    }
    if (this.#encoded.size > MAX_ENCODED_NAMES) this.#encoded.clear();
    const names = list.map((n) => this.#bytesOf(n));
    let headerBytes = 3;
    for (const n of names) {
      if (n.length > 255) {
        throw new RangeError(`Cannot write a history block: a name of ${n.length} bytes`);
      }
      headerBytes += 1 + n.length;
    }
    const head = new Uint8Array(headerBytes);
    head[0] = VERSION;
    head[1] = names.length >>> 8;
    head[2] = names.length;
    let at = 3;
    for (const n of names) {
      head[at] = n.length;
      head.set(n, at + 1);
      at += 1 + n.length;
    }
    let heads: Uint8Array | undefined;
    if (this.#heads !== undefined) {
      const entries = new Uint8Array(this.#heads.buffer, 0, this.#count * HEAD_BYTES);
      heads = concatBytes([head, entries], head.length + entries.length);
    }
    const block: FinishedBlock = {
      parts: [head, this.#buf.subarray(0, this.#used)],
      bytes: headerBytes + this.#used,
      count: this.#count,
      lastAt: this.#lastAt,
      convs,
      heads,
    };
    this.clear();
    return block;
  }

  /** Drops the entries added since the last take. */
  clear(): void {
    this.#used = 0;
    this.#count = 0;
    this.#lastAt = 0;
    this.#names.clear();
    this.#pairs.clear();
    this.#lastCount = 0;
    // A long message made the buffer grow: do not keep megabytes for good.
    if (this.#buf.length > 4 * BLOCK_TARGET_BYTES) {
      this.#buf = new Uint8Array(BLOCK_TARGET_BYTES + 4096);
      this.#view = new DataView(this.#buf.buffer);
    }
  }

  /** Moves the last pair's entries into `#pairs`. */
  #settlePair(): void {
    if (this.#lastCount === 0) return;
    const pair = this.#lastSrcIndex * 65536 + this.#lastDstIndex;
    this.#pairs.set(pair, (this.#pairs.get(pair) ?? 0) + this.#lastCount);
    this.#lastCount = 0;
  }

  #bytesOf(name: string): Uint8Array {
    let bytes = this.#encoded.get(name);
    if (bytes === undefined) {
      bytes = encoder.encode(name);
      this.#encoded.set(name, bytes);
    }
    return bytes;
  }

  #name(name: string): number {
    let index = this.#names.get(name);
    if (index === undefined) {
      index = this.#names.size;
      this.#names.set(name, index);
    }
    return index;
  }

  #grow(size: number): void {
    const buf = new Uint8Array(Math.max(size, this.#buf.length * 2));
    buf.set(this.#buf.subarray(0, this.#used));
    this.#buf = buf;
    this.#view = new DataView(buf.buffer);
  }
}

/** `heads` in a buffer of twice its size. */
function growHeads(heads: DataView): DataView {
  const bytes = new Uint8Array(2 * heads.byteLength);
  bytes.set(new Uint8Array(heads.buffer, 0, heads.byteLength));
  return new DataView(bytes.buffer);
}

/** The bytes of `block` in one buffer of their own. */
export function blockBytes(block: FinishedBlock): Uint8Array {
  return concatBytes(block.parts, block.bytes);
}

/**
 * The entries of a block whose first seq is `firstSeq`, in seq order, only those of `conv` if
 * given (the others cost no object); throws `RangeError` if the data is not a block.
 */
export function decodeHistoryBlock(
  data: Uint8Array,
  firstSeq: number,
  conv?: string,
): BlockEntry[] {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const { names, end } = readNames(data, view, firstSeq);
  let at = end;
  const entries: BlockEntry[] = [];
  // Conversations by (src, dst) indexes: one string per pair, not per entry.
  const convs = new Map<number, string>();
  for (let seq = firstSeq; at < data.length; seq++) {
    if (at + RECORD_HEADER > data.length) {
      throw new RangeError(`Cannot decode history block ${firstSeq}: truncated record`);
    }
    const sentAt = view.getFloat64(at, false);
    const id = view.getUint32(at + 8, false);
    const srcIndex = view.getUint16(at + 12, false);
    const dstIndex = view.getUint16(at + 14, false);
    const length = view.getUint32(at + 16, false);
    const start = at + RECORD_HEADER;
    const src = names[srcIndex];
    const dst = names[dstIndex];
    if (src === undefined || dst === undefined || start + length > data.length) {
      throw new RangeError(`Cannot decode history block ${firstSeq}: bad record`);
    }
    at = start + length;
    const pair = srcIndex * 65536 + dstIndex;
    let its = convs.get(pair);
    if (its === undefined) {
      its = conversationOf(src, dst);
      convs.set(pair, its);
    }
    if (conv !== undefined && its !== conv) continue;
    entries.push({
      seq,
      conv: its,
      src,
      dst,
      id,
      sentAt,
      payload: data.subarray(start, start + length),
    });
  }
  return entries;
}

/**
 * The heads of the `count` entries of a block (`FinishedBlock.heads`) whose first seq is
 * `firstSeq`; throws `RangeError` if `heads` is not that.
 */
export function decodeBlockHeads(heads: Uint8Array, firstSeq: number, count: number): BlockHeads {
  const view = new DataView(heads.buffer, heads.byteOffset, heads.byteLength);
  const { names, end } = readNames(heads, view, firstSeq);
  if (heads.length !== end + count * HEAD_BYTES) {
    throw new RangeError(`Cannot decode the heads of block ${firstSeq}: not ${count} entries`);
  }
  const out: BlockHeads = { src: [], dst: [], id: [], bytes: [] };
  for (let at = end; at < heads.length; at += HEAD_BYTES) {
    const src = names[view.getUint16(at, false)];
    const dst = names[view.getUint16(at + 2, false)];
    if (src === undefined || dst === undefined) {
      throw new RangeError(`Cannot decode the heads of block ${firstSeq}: bad name`);
    }
    out.src.push(src);
    out.dst.push(dst);
    out.id.push(view.getUint32(at + 4, false));
    out.bytes.push(view.getUint32(at + 8, false));
  }
  return out;
}

/** The name table at the start of a block or of its heads, and where it ends. */
function readNames(
  data: Uint8Array,
  view: DataView,
  firstSeq: number,
): { names: string[]; end: number } {
  if (data.length < 3 || data[0] !== VERSION) {
    throw new RangeError(`Cannot decode history block ${firstSeq}: unknown version`);
  }
  const nameCount = view.getUint16(1, false);
  const names: string[] = [];
  let at = 3;
  for (let i = 0; i < nameCount; i++) {
    const length = data[at]!;
    if (at + 1 + length > data.length) {
      throw new RangeError(`Cannot decode history block ${firstSeq}: truncated name table`);
    }
    names.push(decoder.decode(data.subarray(at + 1, at + 1 + length)));
    at += 1 + length;
  }
  return { names, end: at };
}

/**
 * The entries of a block that its conversations' links keep: of each conversation, the newest
 * `kept(conv)` of its entries in the block (retention trims a conversation's oldest first, and
 * lowers its link's count; a conversation with no link, `kept` undefined, keeps none). `entries`
 * are a block's, or one conversation's of it, in seq order (`decodeHistoryBlock`).
 */
export function keptEntries(
  entries: BlockEntry[],
  kept: (conv: string) => number | undefined,
): BlockEntry[] {
  // Per conversation, how many of its entries are to come, and how many of the last it keeps
  // (`kept` asked once per conversation: it may be a query).
  const left = new Map<string, number>();
  for (const e of entries) left.set(e.conv, (left.get(e.conv) ?? 0) + 1);
  const keeps = new Map<string, number>();
  for (const conv of left.keys()) keeps.set(conv, kept(conv) ?? 0);
  const out: BlockEntry[] = [];
  for (const e of entries) {
    const n = left.get(e.conv)!;
    left.set(e.conv, n - 1);
    // `n` of its conversation's entries are this one and those after it.
    if (n <= keeps.get(e.conv)!) out.push(e);
  }
  return out;
}
