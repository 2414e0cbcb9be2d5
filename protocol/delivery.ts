import { concatBytes } from "./bytes.ts";
import { type ByteOrder, encodeFrame, type Frame, HEADER_SIZE, MAX_PAYLOAD_SIZE } from "./frame.ts";
import { FrameError } from "./frame_error.ts";
import { FrameType } from "./frame_type.ts";
import { TIMED_SIZE } from "./timed.ts";
import { NAME_SIZE, writeName } from "./username.ts";

/** A message to hand to one recipient, whatever its length. */
export interface Delivery {
  /** The final frame's type: MSG (0) live, OFFLINE (2) stored, HISTORY (11) from history. */
  type: number;
  /** The messageId of every frame of the delivery. */
  id: number;
  /** The sender. */
  src: string;
  /** The recipient (a user or a `#room`). */
  dst: string;
  /** The whole message, any length (the caller enforces its limit). */
  payload: Uint8Array;
  /** The server's receive time of the message, ms since the Unix epoch; TIMED carries it. */
  sentAt?: number | undefined;
}

/** How the recipient reads long messages and times. */
export interface DeliveryOptions {
  /**
   * A seed-000 session: no TIMED, and a long payload goes as several frames of the message's
   * own type, each cut at a UTF-8 character boundary.
   */
  legacy: boolean;
  /** The session asked `timed` in its HELLO: a TIMED frame comes first (when `sentAt` is known). */
  timed: boolean;
}

/**
 * Cuts `payload` into pieces of at most `max` bytes (default 1000), never inside a well-formed
 * UTF-8 character; bytes that are not UTF-8 are cut at exactly `max`. An empty payload is one
 * empty piece. The pieces are views into `payload`.
 *
 * @example
 * ```ts
 * import { splitPayload } from "./delivery.ts";
 * splitPayload(new Uint8Array(2500)).map((p) => p.length); // [1000, 1000, 500]
 * ```
 */
export function splitPayload(payload: Uint8Array, max: number = MAX_PAYLOAD_SIZE): Uint8Array[] {
  if (!Number.isInteger(max) || max < 4) {
    throw new RangeError(`Cannot split payload: piece size ${max} is below 4`);
  }
  if (payload.length <= max) return [payload];
  const pieces: Uint8Array[] = [];
  let start = 0;
  while (payload.length - start > max) {
    const cut = cutAt(payload, start + max, start);
    pieces.push(payload.subarray(start, cut));
    start = cut;
  }
  pieces.push(payload.subarray(start));
  return pieces;
}

/** Where to cut before `end`: `end`, or earlier so that the character crossing it stays whole. */
function cutAt(bytes: Uint8Array, end: number, start: number): number {
  // A continuation byte (10xxxxxx) at `end` means a character began before it: back off to its
  // lead byte, if that lead announces a sequence that really reaches past the cut.
  if ((bytes[end]! & 0xc0) !== 0x80) return end;
  for (let lead = end - 1; lead > start && lead >= end - 3; lead--) {
    const byte = bytes[lead]!;
    if ((byte & 0xc0) === 0x80) continue;
    const size = byte >= 0xf8 ? 1 : byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return lead + size > end ? lead : end;
  }
  return end;
}

/**
 * Encodes one message for one recipient: [TIMED] [CHUNK…] final frame, concatenated, in `order`.
 * TIMED (same id, src and dst; payload `sentAt` as a u64) comes first when the recipient is
 * `timed`, not `legacy`, and `sentAt` is given. A payload over 1000 bytes goes as CHUNK frames
 * and a final frame of `m.type`, or, for a `legacy` recipient, as several frames of `m.type`.
 * A payload of at most 1000 bytes without TIMED is exactly one `encodeFrame()`.
 *
 * @example
 * ```ts
 * import { encodeDelivery } from "./delivery.ts";
 * const payload = new Uint8Array(1500);
 * const m = { type: 0, id: 7, src: "alice", dst: "bob", payload, sentAt: Date.now() };
 * encodeDelivery(m, "be", { legacy: false, timed: true }).length; // 32 + 1024 + 524
 * ```
 */
export function encodeDelivery(
  m: Delivery,
  order: ByteOrder,
  opts: DeliveryOptions,
): Uint8Array {
  const timed = opts.timed && !opts.legacy && m.sentAt !== undefined;
  if (!timed && m.payload.length <= MAX_PAYLOAD_SIZE) return encodeFrame(m as Frame, order);
  const pieces = splitPayload(m.payload);
  const size = (timed ? HEADER_SIZE + TIMED_SIZE : 0) + pieces.length * HEADER_SIZE +
    m.payload.length;
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const little = order === "le";
  // Every frame has the same names: written once, copied into the other headers.
  writeName(bytes, 8, m.src);
  writeName(bytes, 8 + NAME_SIZE, m.dst);
  let offset = 0;
  if (timed) {
    writeHeader(bytes, view, offset, HEADER_SIZE + TIMED_SIZE, FrameType.TIMED, m.id, little);
    const at = Math.max(0, Math.floor(m.sentAt!));
    const high = Math.floor(at / 0x1_0000_0000);
    const low = at >>> 0;
    view.setUint32(offset + HEADER_SIZE + (little ? 4 : 0), high, little);
    view.setUint32(offset + HEADER_SIZE + (little ? 0 : 4), low, little);
    offset += HEADER_SIZE + TIMED_SIZE;
  }
  const last = pieces.length - 1;
  for (let i = 0; i <= last; i++) {
    const piece = pieces[i]!;
    const type = i === last || opts.legacy ? m.type : FrameType.CHUNK;
    writeHeader(bytes, view, offset, HEADER_SIZE + piece.length, type, m.id, little);
    bytes.set(piece, offset + HEADER_SIZE);
    offset += HEADER_SIZE + piece.length;
  }
  return bytes;
}

/** Writes len, type and messageId at `offset`, and the names (copied from the first header). */
function writeHeader(
  bytes: Uint8Array,
  view: DataView,
  offset: number,
  size: number,
  type: number,
  id: number,
  little: boolean,
): void {
  view.setUint16(offset, size, little);
  view.setUint16(offset + 2, type, little);
  view.setUint32(offset + 4, id >>> 0, little);
  if (offset > 0) bytes.copyWithin(offset + 8, 8, HEADER_SIZE);
}

/** The default limit of `ChunkJoiner`: 16 MiB. */
export const MAX_JOINED_SIZE = 16 * 1024 * 1024;

/** Options of `ChunkJoiner`. */
export interface ChunkJoinerOptions {
  /** The most bytes of all messages being joined at once (default 16 MiB). */
  maxBytes?: number;
  /** The most messages being joined at once (default 16; a server sends one at a time). */
  maxOpen?: number;
  /** Frame types that end a long message (default MSG, OFFLINE, HISTORY). */
  finals?: readonly number[];
}

/**
 * Joins long messages for a reader: feed every frame to `push()`; a CHUNK is kept (undefined
 * comes back), the final frame with the same id, src and dst comes back with the whole payload,
 * and any other frame comes back unchanged (a joined one keeps the final frame's other fields).
 * More than `maxBytes` held throws `FrameError` "413" and forgets that message; a CHUNK that
 * would open more than `maxOpen` messages at once throws `FrameError` "400".
 *
 * @example
 * ```ts
 * import { ChunkJoiner } from "./delivery.ts";
 * const joiner = new ChunkJoiner();
 * const piece = { id: 1, src: "alice", dst: "bob", payload: new Uint8Array(1000) };
 * joiner.push({ ...piece, type: 9 }); // undefined
 * joiner.push({ ...piece, type: 0 })?.payload.length; // 2000
 * ```
 */
export class ChunkJoiner {
  #maxBytes: number;
  #maxOpen: number;
  #finals: readonly number[];
  #open = new Map<string, Uint8Array[]>();
  #held = 0;

  constructor(options: ChunkJoinerOptions = {}) {
    this.#maxBytes = options.maxBytes ?? MAX_JOINED_SIZE;
    this.#maxOpen = options.maxOpen ?? 16;
    this.#finals = options.finals ?? [FrameType.MSG, FrameType.OFFLINE, FrameType.HISTORY];
  }

  /** Bytes held in unfinished messages. */
  get held(): number {
    return this.#held;
  }

  /** The frame to act on now (`frame` itself, or a joined message), or undefined for a CHUNK. */
  push<T extends Frame>(frame: T): T | undefined {
    const chunk = frame.type === FrameType.CHUNK;
    if (!chunk && (this.#open.size === 0 || !this.#finals.includes(frame.type))) return frame;
    const key = `${frame.id}\n${frame.src}\n${frame.dst}`;
    const pieces = this.#open.get(key);
    if (!chunk && pieces === undefined) return frame;
    if (this.#held + frame.payload.length > this.#maxBytes) {
      const size = this.#forget(key, pieces) + frame.payload.length;
      throw new FrameError(
        "413",
        `Cannot join long message ${frame.id} from ${frame.src}: ${size} bytes exceed ${this.#maxBytes}`,
        { id: frame.id },
      );
    }
    if (chunk) {
      if (pieces === undefined && this.#open.size >= this.#maxOpen) {
        throw new FrameError(
          "400",
          `Cannot join long message ${frame.id} from ${frame.src}: ${this.#maxOpen} already open`,
          { id: frame.id },
        );
      }
      // Copies: readers hand us views into buffers they may reuse.
      if (pieces === undefined) this.#open.set(key, [frame.payload.slice()]);
      else if (frame.payload.length === 0) return undefined;
      else pieces.push(frame.payload.slice());
      this.#held += frame.payload.length;
      return undefined;
    }
    const size = this.#forget(key, pieces) + frame.payload.length;
    return { ...frame, payload: concatBytes([...pieces!, frame.payload], size) };
  }

  /** Drops every unfinished message (e.g. when the connection closes). */
  clear(): void {
    this.#open.clear();
    this.#held = 0;
  }

  /** Removes one message's pieces; returns their size. */
  #forget(key: string, pieces: Uint8Array[] | undefined): number {
    if (pieces === undefined) return 0;
    this.#open.delete(key);
    let size = 0;
    for (const piece of pieces) size += piece.length;
    this.#held -= size;
    return size;
  }
}
