import {
  type ByteOrder,
  checkSize,
  decodeFrame,
  detectByteOrder,
  type Frame,
  HEADER_SIZE,
  ReceivedFrame,
} from "./frame.ts";
import { NameCache } from "./username.ts";

/** Options of `FrameDecoder`. */
export interface FrameDecoderOptions {
  /** The peer's byte order; when absent, it is detected from the first frame. */
  order?: ByteOrder;
  /**
   * Yield frames that lie whole in a chunk as `ReceivedFrame`s in it, without copying. The caller
   * then hands each chunk over: it must not write to it again. Default false: every frame is a
   * copy.
   */
  views?: boolean;
}

/**
 * An incremental, push-based frame decoder for one connection. `push(chunk, onFrame)` hands over
 * the whole frames the chunk completes and keeps any partial frame; it never holds more than one
 * maximum frame of its own. Each frame owns a copy of its bytes, so chunks may be reused by the
 * caller, unless the decoder was made with `views: true`.
 *
 * @example
 * ```ts
 * import { FrameDecoder } from "./decoder.ts";
 * import { encodeFrame } from "./frame.ts";
 * const decoder = new FrameDecoder();
 * const bytes = encodeFrame({ type: 3, id: 0, src: "alice", dst: "", payload: new Uint8Array() });
 * const frames: unknown[] = [];
 * decoder.push(bytes.subarray(0, 5), (f) => frames.push(f)); // frames: []
 * decoder.push(bytes.subarray(5), (f) => frames.push(f)); // frames: [{ type: 3, ... }]
 * ```
 */
export class FrameDecoder {
  #order: ByteOrder | undefined;
  // A frame that arrived split: its first 4 bytes, then a buffer of its size, which becomes the
  // frame's own once full. None between frames, so that an idle connection costs nothing here.
  #pending: Uint8Array | undefined;
  #filled = 0;
  #views: boolean;
  /** Made at the second frame: a connection that goes idle after its login never needs it. */
  #names: NameCache | undefined;
  #decoded = 0;

  constructor(options: FrameDecoderOptions = {}) {
    this.#order = options.order;
    this.#views = options.views ?? false;
  }

  /** The peer's byte order, once known. */
  get order(): ByteOrder | undefined {
    return this.#order;
  }

  /** Bytes of an incomplete frame held back. */
  get buffered(): number {
    return this.#filled;
  }

  /**
   * Feeds bytes; calls `onFrame` with each frame they complete, in order, each with its own copy
   * of its bytes (with `views`, a `ReceivedFrame` in the chunk). The frames before a malformed
   * one are handed over first; then it throws `FrameError`, and the decoder is unusable
   * afterwards. (A callback, not a generator: a generator's objects were a fifth of what the
   * server allocated per message.)
   */
  push(chunk: Uint8Array, onFrame: (frame: DecodedFrame) => void): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#filled > 0 || chunk.length - offset < HEADER_SIZE) {
        // Gather a partial frame, never more than the frame needs: its length first.
        const want = this.#filled < 4 ? 4 : this.#pending!.length;
        const take = Math.min(want - this.#filled, chunk.length - offset);
        this.#pending ??= new Uint8Array(4);
        this.#pending.set(chunk.subarray(offset, offset + take), this.#filled);
        this.#filled += take;
        offset += take;
        if (this.#filled < 4) break;
        if (this.#pending.length === 4) {
          const whole = new Uint8Array(this.#need());
          whole.set(this.#pending);
          this.#pending = whole;
        }
        if (this.#filled < this.#pending.length) continue;
        const raw = this.#pending;
        this.#pending = undefined;
        this.#filled = 0;
        onFrame(this.#views ? this.#received(raw, 0, raw.length) : this.#decode(raw));
        continue;
      }
      const size = this.#sizeAt(chunk, offset);
      if (chunk.length - offset < size) {
        this.#pending = new Uint8Array(size);
        this.#pending.set(chunk.subarray(offset), 0);
        this.#filled = chunk.length - offset;
        break;
      }
      offset += size;
      if (this.#views) onFrame(this.#received(chunk, offset - size, size));
      else onFrame(this.#decode(chunk.slice(offset - size, offset)));
    }
  }

  #need(): number {
    return this.#sizeAt(this.#pending!, 0);
  }

  #sizeAt(bytes: Uint8Array, offset: number): number {
    if (this.#order === undefined) {
      this.#order = detectByteOrder(bytes.subarray(offset, offset + 4));
    }
    const size = this.#order === "be"
      ? (bytes[offset]! << 8) | bytes[offset + 1]!
      : (bytes[offset + 1]! << 8) | bytes[offset]!;
    checkSize(size);
    return size;
  }

  /** The frame that is all of `raw`, its own copy, as a plain object. */
  #decode(raw: Uint8Array): DecodedFrame {
    const frame = decodeFrame(raw, this.#order, this.#nameCache());
    return { ...frame, bytes: raw, at: 0, size: raw.length };
  }

  /** The frame at `bytes[at, at + size)`, without a copy or a view. */
  #received(bytes: Uint8Array, at: number, size: number): DecodedFrame {
    return new ReceivedFrame(bytes, at, size, this.#order!, this.#nameCache());
  }

  /** None for the first frame: a connection that goes idle after its login never needs one. */
  #nameCache(): NameCache | undefined {
    return this.#decoded++ === 0 ? undefined : (this.#names ??= new NameCache());
  }
}

/**
 * A decoded frame and where the exact bytes it came in lie, for forwarding unchanged:
 * `bytes[at, at + size)`, in the sender's byte order.
 */
export interface DecodedFrame extends Frame {
  /** The buffer the frame lies in, never written again; where it starts, and its length. */
  readonly bytes: Uint8Array;
  readonly at: number;
  readonly size: number;
}
