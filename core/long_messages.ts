import { Code, concatBytes, type Frame } from "../protocol/mod.ts";
import { FREE_BULK_BYTES } from "./limits.ts";

/** The default of `--max-message`: the largest message a client may send, in bytes. */
export const DEFAULT_MAX_MESSAGE = 64 * 1024;
/** The highest `--max-message` allowed: 16 MiB. */
export const MAX_MAX_MESSAGE = 16 * 1024 * 1024;

/** What `LongMessages` needs of the server core, for the sessions of type `S`. */
export interface LongMessageHost<S> {
  /** Sends ACK `code` about message `id` on `session`, with `src` as the ACK's src. */
  answer(session: S, src: string, id: number, code: string): void;
  /** Answers `code` about frame `id` on `session` and closes it. */
  reject(session: S, code: string, id: number, reason: string, now: number): void;
  /**
   * Takes a token of the connection's frame rate for `frame`; false when it was over it (the
   * connection is closed then). A long message costs one token for its first CHUNK (its final
   * frame costs another, and a message of the message rate); CHUNKs under 512 bytes, and those
   * after a "413", cost one each.
   */
  paced(session: S, frame: Frame, now: number): boolean;
  /** Logs an event of the long-message path. */
  log(event: string, fields: Record<string, string | number>): void;
}

/** One connection's long message being received. */
interface Assembly {
  id: number;
  src: string;
  dst: string;
  /** Own copies: the frames are views into read buffers. */
  pieces: Uint8Array[];
  size: number;
  /** Over the limit and answered "413": the rest of it is dropped up to its final frame. */
  dropping: boolean;
}

/**
 * Joins the CHUNK frames a client sends before the final MSG of a long message: at most one
 * message in progress per connection; over `maxMessage` bytes the sender gets "413" once and
 * the rest of that message is dropped; a frame of another message in between is "400" and the
 * connection is closed. The core calls `chunk()` for CHUNK frames and, while `size` > 0,
 * `final()` for each MSG; it calls `forget()` when a connection goes away.
 *
 * @example
 * ```ts
 * import { LongMessages } from "./long_messages.ts";
 * const long = new LongMessages<string>(65536, {
 *   answer: () => {},
 *   reject: () => {},
 *   paced: () => true,
 *   log: () => {},
 * });
 * const piece = { id: 1, src: "alice", dst: "bob", payload: new Uint8Array(1000) };
 * long.chunk("conn 1", { ...piece, type: 9 }, 0);
 * long.final("conn 1", { ...piece, type: 0 }, 0)?.payload.length; // 2000
 * ```
 */
export class LongMessages<S> {
  #maxMessage: number;
  #host: LongMessageHost<S>;
  #open = new Map<S, Assembly>();

  constructor(maxMessage: number, host: LongMessageHost<S>) {
    if (!Number.isInteger(maxMessage) || maxMessage <= 0 || maxMessage > MAX_MAX_MESSAGE) {
      throw new RangeError(
        `Cannot limit messages to ${maxMessage} bytes: must be 1..${MAX_MAX_MESSAGE}`,
      );
    }
    this.#maxMessage = maxMessage;
    this.#host = host;
  }

  /** The largest message accepted, in bytes. */
  get maxMessage(): number {
    return this.#maxMessage;
  }

  /** Connections with a long message in progress. */
  get size(): number {
    return this.#open.size;
  }

  /** A CHUNK arrived on `session`. */
  chunk(session: S, frame: Frame, now: number): void {
    let a = this.#open.get(session);
    // Full CHUNKs are bounded by maxMessage; the first, small ones and dropped ones take a token.
    if (
      (a === undefined || a.dropping || frame.payload.length < FREE_BULK_BYTES) &&
      !this.#host.paced(session, frame, now)
    ) return;
    if (a === undefined) {
      a = { id: frame.id, src: frame.src, dst: frame.dst, pieces: [], size: 0, dropping: false };
      this.#open.set(session, a);
    } else if (!sameMessage(a, frame)) {
      return this.#interleaved(session, a, frame, now);
    }
    if (a.dropping) return;
    a.size += frame.payload.length;
    if (a.size > this.#maxMessage) return this.#tooLong(session, a);
    if (frame.payload.length > 0) a.pieces.push(frame.payload.slice());
  }

  /**
   * A MSG arrived on `session`: the frame to handle now (the whole message when it ends one,
   * else `frame` itself), or undefined when there is none (dropped, or the connection refused).
   */
  final<F extends Frame>(session: S, frame: F, now: number): F | Frame | undefined {
    const a = this.#open.get(session);
    if (a === undefined) return frame;
    if (!sameMessage(a, frame)) {
      this.#interleaved(session, a, frame, now);
      return undefined;
    }
    this.#open.delete(session);
    if (a.dropping) return undefined;
    const size = a.size + frame.payload.length;
    if (size > this.#maxMessage) {
      this.#tooLong(session, a);
      return undefined;
    }
    // Not where the frame lies as received: those bytes are only the last piece.
    const { type, id, src, dst } = frame;
    return { type, id, src, dst, payload: concatBytes([...a.pieces, frame.payload], size) };
  }

  /** `session` is gone: drops its message in progress. */
  forget(session: S): void {
    this.#open.delete(session);
  }

  #tooLong(session: S, a: Assembly): void {
    a.dropping = true;
    a.pieces = [];
    this.#host.answer(session, a.dst, a.id, Code.TOO_LARGE);
    this.#host.log("message-too-long", { src: a.src, dst: a.dst, id: a.id, max: this.#maxMessage });
  }

  #interleaved(session: S, a: Assembly, frame: Frame, now: number): void {
    this.#open.delete(session);
    this.#host.reject(
      session,
      Code.BAD_REQUEST,
      frame.id,
      `frame of message ${frame.id} inside long message ${a.id}`,
      now,
    );
  }
}

function sameMessage(a: Assembly, frame: Frame): boolean {
  return a.id === frame.id && a.src === frame.src && a.dst === frame.dst;
}
