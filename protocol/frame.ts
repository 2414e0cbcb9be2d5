import { FrameError } from "./frame_error.ts";
import { isKnownType } from "./frame_type.ts";
import { NAME_SIZE, type NameCache, readName, writeName } from "./username.ts";

/** Bytes of the frame header: len, type, messageId, src, dst. */
export const HEADER_SIZE = 24;
/** The largest frame, header included. */
export const MAX_FRAME_SIZE = 1024;
/** The largest payload. */
export const MAX_PAYLOAD_SIZE = MAX_FRAME_SIZE - HEADER_SIZE;

/**
 * The byte order of a peer's header fields. Protocol v1 is big-endian ("be"); the original
 * seed-000 client writes its fields in host order, little-endian ("le") on the machines it ran on.
 */
export type ByteOrder = "be" | "le";

/** One protocol frame, decoded. */
export interface Frame {
  /** The frame type (see `FrameType`). */
  type: number;
  /** The messageId, 0..4294967295. */
  id: number;
  /** The sender's username ("" for an all-NUL field). */
  src: string;
  /** The recipient's username ("" for an all-NUL field). */
  dst: string;
  /** 0..1000 bytes. */
  payload: Uint8Array;
}

/**
 * Encodes `frame` in `order` (big-endian by default).
 *
 * @example
 * ```ts
 * import { encodeFrame } from "./frame.ts";
 * const bytes = encodeFrame({ type: 0, id: 1, src: "alice", dst: "bob", payload: new Uint8Array(2) });
 * bytes.length; // 26
 * ```
 */
export function encodeFrame(frame: Frame, order: ByteOrder = "be"): Uint8Array {
  return writeFrame(new Uint8Array(frameSize(frame)), frame, order);
}

/** The encoded size of `frame`; throws `RangeError` for a payload over `MAX_PAYLOAD_SIZE`. */
export function frameSize(frame: Frame): number {
  if (frame.payload.length > MAX_PAYLOAD_SIZE) {
    throw new RangeError(
      `Cannot encode frame: payload of ${frame.payload.length} bytes exceeds ${MAX_PAYLOAD_SIZE}`,
    );
  }
  return HEADER_SIZE + frame.payload.length;
}

/**
 * Encodes `frame` in `order` into `target`, which is exactly `frameSize(frame)` long, and returns
 * it: `encodeFrame` into a buffer of the caller's (a view into a slab, say).
 */
export function writeFrame(target: Uint8Array, frame: Frame, order: ByteOrder = "be"): Uint8Array {
  const size = frameSize(frame);
  if (target.length !== size) {
    throw new RangeError(`Cannot encode frame: ${size} bytes into ${target.length}`);
  }
  writeHeader(target, size, frame.type, frame.id >>> 0, order);
  writeName(target, 8, frame.src);
  writeName(target, 8 + NAME_SIZE, frame.dst);
  target.set(frame.payload, HEADER_SIZE);
  return target;
}

/** Writes len, type and messageId at the start of `bytes` in `order`. */
function writeHeader(bytes: Uint8Array, size: number, type: number, id: number, order: ByteOrder) {
  if (order === "le") {
    bytes[0] = size;
    bytes[1] = size >>> 8;
    bytes[2] = type;
    bytes[3] = type >>> 8;
    bytes[4] = id;
    bytes[5] = id >>> 8;
    bytes[6] = id >>> 16;
    bytes[7] = id >>> 24;
  } else {
    bytes[0] = size >>> 8;
    bytes[1] = size;
    bytes[2] = type >>> 8;
    bytes[3] = type;
    bytes[4] = id >>> 24;
    bytes[5] = id >>> 16;
    bytes[6] = id >>> 8;
    bytes[7] = id;
  }
}

/**
 * Decodes one whole frame from `bytes` (exactly one frame long) in `order`. The payload is a view
 * into `bytes`. Throws `FrameError` for a malformed frame. `names` caches the names of one peer.
 */
export function decodeFrame(
  bytes: Uint8Array,
  order: ByteOrder = "be",
  names?: NameCache,
): Frame {
  const frame = { type: 0, id: 0, src: "", dst: "", payload: bytes };
  readHeader(frame, bytes, 0, bytes.length, order, names);
  frame.payload = bytes.subarray(HEADER_SIZE);
  return frame;
}

/**
 * A frame that lies in a buffer it was read into, `bytes[at, at + size)`, decoded without a copy
 * or a view: its payload becomes a view into `bytes` when first asked for. A view costs as much as
 * the rest of the decoding, and forwarding or acknowledging a frame rarely needs one.
 *
 * @example
 * ```ts
 * import { encodeFrame, ReceivedFrame } from "./frame.ts";
 * const bytes = encodeFrame({ type: 1, id: 7, src: "bob", dst: "alice", payload: new Uint8Array(3) });
 * const frame = new ReceivedFrame(bytes, 0, bytes.length, "be");
 * frame.id; // 7
 * frame.payload.length; // 3
 * ```
 */
export class ReceivedFrame implements Frame {
  type = 0;
  id = 0;
  src = "";
  dst = "";
  /** The buffer the frame lies in, never written again. */
  readonly bytes: Uint8Array;
  /** Where the frame starts in `bytes`, and its length with the header. */
  readonly at: number;
  readonly size: number;
  #payload: Uint8Array | undefined;

  /** Decodes the frame at `bytes[at, at + size)`; throws `FrameError` as `decodeFrame` does. */
  constructor(bytes: Uint8Array, at: number, size: number, order: ByteOrder, names?: NameCache) {
    this.bytes = bytes;
    this.at = at;
    this.size = size;
    readHeader(this, bytes, at, size, order, names);
  }

  /** The payload: a view into `bytes`. */
  get payload(): Uint8Array {
    return this.#payload ??= this.bytes.subarray(this.at + HEADER_SIZE, this.at + this.size);
  }
}

/**
 * Reads the header of the frame at `bytes[at, at + size)` into `frame`; throws `FrameError` for a
 * malformed one.
 */
function readHeader(
  frame: { type: number; id: number; src: string; dst: string },
  bytes: Uint8Array,
  at: number,
  size: number,
  order: ByteOrder,
  names: NameCache | undefined,
): void {
  if (size < HEADER_SIZE) {
    throw new FrameError("400", `Cannot decode frame: ${size} bytes is shorter than a header`);
  }
  // Read the header fields by hand: a DataView per frame costs more than the decoding itself.
  const little = order === "le";
  const b = bytes;
  const length = little ? b[at]! | (b[at + 1]! << 8) : (b[at]! << 8) | b[at + 1]!;
  checkSize(length);
  if (length !== size) {
    throw new FrameError("400", `Cannot decode frame: length ${length} but ${size} bytes`);
  }
  const type = little ? b[at + 2]! | (b[at + 3]! << 8) : (b[at + 2]! << 8) | b[at + 3]!;
  const id = little
    ? (b[at + 4]! | (b[at + 5]! << 8) | (b[at + 6]! << 16) | (b[at + 7]! << 24)) >>> 0
    : ((b[at + 4]! << 24) | (b[at + 5]! << 16) | (b[at + 6]! << 8) | b[at + 7]!) >>> 0;
  if (!isKnownType(type)) {
    throw new FrameError("400", `Cannot decode frame: unknown type ${type}`, { id });
  }
  frame.type = type;
  frame.id = id;
  try {
    const src = at + 8, dst = at + 8 + NAME_SIZE;
    frame.src = names === undefined ? readName(b, src) : names.read(b, src);
    frame.dst = names === undefined ? readName(b, dst) : names.read(b, dst);
  } catch (error) {
    // The header is whole: the answer can name the frame (a HELLO's answer carries its id).
    if (!(error instanceof FrameError)) throw error;
    throw new FrameError(error.code, error.message, { cause: error, id });
  }
}

/** Throws `FrameError` unless `size` is a valid frame length. */
export function checkSize(size: number): void {
  if (size > MAX_FRAME_SIZE) {
    throw new FrameError("413", `Cannot decode frame: length ${size} exceeds ${MAX_FRAME_SIZE}`);
  }
  if (size < HEADER_SIZE) {
    throw new FrameError("400", `Cannot decode frame: length ${size} is below ${HEADER_SIZE}`);
  }
}

/**
 * Tells a peer's byte order from the first four bytes of its first frame (len and type). A
 * reading is plausible when its length is 24..1024 and its type is defined or reserved (0..15).
 * When only one reading is plausible, it wins. When both are (a type-0 frame whose two length
 * bytes are both 1..3: lengths 257–259, 513–515 and 769–771), little-endian wins: that is the one
 * ambiguity. Only a first frame without HELLO can be ambiguous, and that is what the seed-000
 * client (little-endian) sends; our clients open with HELLO, which never is.
 * When neither is, the frame is malformed.
 */
export function detectByteOrder(head: Uint8Array): ByteOrder {
  if (head.length < 4) throw new RangeError("Cannot detect byte order: need 4 bytes");
  const b0 = head[0]!, b1 = head[1]!, b2 = head[2]!, b3 = head[3]!;
  const be = plausible((b0 << 8) | b1, (b2 << 8) | b3);
  const le = plausible((b1 << 8) | b0, (b3 << 8) | b2);
  if (le) return "le";
  if (be) return "be";
  checkSize((b0 << 8) | b1);
  throw new FrameError("400", `Cannot decode frame: unknown type ${(b2 << 8) | b3}`);
}

function plausible(size: number, type: number): boolean {
  return size >= HEADER_SIZE && size <= MAX_FRAME_SIZE && isKnownType(type);
}
