/**
 * A client connection of the load generator: login, framing, and one writer per socket.
 *
 * @module
 */
import {
  Code,
  decodeFrame,
  encodeFrame,
  FrameType,
  HEADER_SIZE,
  MAX_FRAME_SIZE,
  readCode,
} from "../protocol/mod.ts";
import type { Meter } from "./meter.ts";
import type { Target } from "./target.ts";
import { sleep } from "./wait.ts";

/** The messageId of the HELLO that logs in. */
const HELLO_ID = 0;
const EMPTY = new Uint8Array(0);

/**
 * One load-generator connection: a read loop over a reused buffer that hands whole frames to
 * `onFrame`, and one writer with a spare buffer, so frames put while a write is under way are
 * coalesced into the next one. Subclasses put pre-encoded frames and patch their messageId: no
 * allocation per frame.
 */
export abstract class Connection {
  /** The user this connection logs in as. */
  readonly name: string;
  /** Where answers and errors are counted. */
  protected readonly meter: Meter;
  /** The read loop has ended. */
  closed = false;
  /** Logged in: frames go to `onFrame`. */
  ready = false;
  #socket: Deno.TcpConn | undefined;
  #closing = false;
  #leaving = false;
  #in: Uint8Array;
  #inView: DataView;
  #filled = 0;
  #out: Uint8Array;
  #outView: DataView;
  #spare: Uint8Array;
  #spareView: DataView;
  #outLen = 0;
  #writing = false;
  #login: { resolve(): void; reject(error: Error): void } | undefined;
  #ended: Promise<void> = Promise.resolve();

  /** `readSize`: bytes of the read buffer (at least one maximum frame). */
  constructor(name: string, meter: Meter, readSize: number) {
    this.name = name;
    this.meter = meter;
    this.#in = new Uint8Array(readSize);
    this.#inView = new DataView(this.#in.buffer);
    this.#out = new Uint8Array(4096);
    this.#outView = new DataView(this.#out.buffer);
    this.#spare = new Uint8Array(4096);
    this.#spareView = new DataView(this.#spare.buffer);
  }

  /** Resolves when the read loop has ended. */
  get ended(): Promise<void> {
    return this.#ended;
  }

  /** Connects and logs in (HELLO, then "200"); rejects on failure or after `timeoutMs`. */
  async open(target: Target, timeoutMs: number): Promise<void> {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    try {
      const socket = await Deno.connect({
        hostname: target.hostname,
        port: target.port,
        signal: abort.signal,
      });
      clearTimeout(timer);
      socket.setNoDelay(true);
      this.#socket = socket;
      this.#closing = false;
      this.closed = false;
      this.ready = false;
      this.#filled = 0;
      const login = new Promise<void>((resolve, reject) => {
        this.#login = { resolve, reject };
      });
      const hello = encodeFrame({
        type: FrameType.HELLO,
        id: HELLO_ID,
        src: this.name,
        dst: "",
        payload: EMPTY,
      });
      this.put(hello);
      this.flush();
      this.#ended = this.#readLoop(socket);
      const limit = setTimeout(() => {
        this.#login?.reject(new Error(`login of ${this.name}: no answer`));
        this.close();
      }, Math.max(1, timeoutMs));
      try {
        await login;
      } finally {
        clearTimeout(limit);
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** Half-closes and waits (bounded) until the server closes its end: it has seen us leave. */
  async leave(timeoutMs: number): Promise<void> {
    const socket = this.#socket;
    if (socket === undefined || this.closed) return;
    this.#leaving = true;
    try {
      await socket.closeWrite();
    } catch {
      // Already closed: nothing to wait for.
    }
    await Promise.race([this.#ended, sleep(timeoutMs)]);
    this.close();
  }

  /** Closes the socket; the read loop ends. */
  close(): void {
    if (this.#closing || this.#socket === undefined) return;
    this.#closing = true;
    try {
      this.#socket.close();
    } catch {
      // Closed already.
    }
  }

  /** A whole frame arrived after login; its bytes are `bytes[off, off + len)`. */
  protected abstract onFrame(
    bytes: Uint8Array,
    off: number,
    len: number,
    type: number,
    id: number,
    now: number,
  ): void;

  /** Called after the frames of one read were handled, before the writes are flushed. */
  protected afterRead(_now: number): void {}

  /** Appends a copy of `frame` to the write buffer; returns its offset there. */
  protected put(frame: Uint8Array): number {
    const off = this.#reserve(frame.length);
    this.#out.set(frame, off);
    return off;
  }

  /** Sets the messageId of the frame at `off` in the write buffer. */
  protected setId(off: number, id: number): void {
    this.#outView.setUint32(off + 4, id);
  }

  /** Copies 8 name bytes from `bytes[from]` to the write buffer at `to`. */
  protected copyName(bytes: Uint8Array, from: number, to: number): void {
    const out = this.#out;
    for (let i = 0; i < 8; i++) out[to + i] = bytes[from + i]!;
  }

  /** Starts writing what was put, unless a write is under way (it will take it). */
  flush(): void {
    if (this.#writing || this.#outLen === 0 || this.#socket === undefined || this.#closing) return;
    this.#writing = true;
    void this.#write(this.#socket);
  }

  #reserve(n: number): number {
    const off = this.#outLen;
    if (off + n > this.#out.length) {
      const bigger = new Uint8Array(Math.max(this.#out.length * 2, off + n));
      bigger.set(this.#out.subarray(0, off));
      this.#out = bigger;
      this.#outView = new DataView(bigger.buffer);
    }
    this.#outLen = off + n;
    return off;
  }

  async #write(socket: Deno.TcpConn): Promise<void> {
    try {
      while (this.#outLen > 0 && !this.#closing) {
        const buffer = this.#out;
        const view = this.#outView;
        const n = this.#outLen;
        // Frames put while this write is under way go to the spare buffer.
        this.#out = this.#spare;
        this.#outView = this.#spareView;
        this.#spare = buffer;
        this.#spareView = view;
        this.#outLen = 0;
        let off = 0;
        while (off < n) off += await socket.write(buffer.subarray(off, n));
      }
    } catch (error) {
      if (!this.#closing) this.#lost(`write failed: ${message(error)}`);
    } finally {
      this.#writing = false;
    }
  }

  async #readLoop(socket: Deno.TcpConn): Promise<void> {
    let reason = "closed by server";
    try {
      while (true) {
        const n = await socket.read(this.#in.subarray(this.#filled));
        if (n === null) break;
        const now = performance.now();
        const bytes = this.#in;
        const view = this.#inView;
        const filled = this.#filled + n;
        let off = 0;
        while (filled - off >= 2) {
          const len = view.getUint16(off);
          if (len < HEADER_SIZE || len > MAX_FRAME_SIZE) {
            throw new Error(`server sent a frame of length ${len}`);
          }
          if (filled - off < len) break;
          const type = view.getUint16(off + 2);
          const id = view.getUint32(off + 4);
          if (this.ready) this.onFrame(bytes, off, len, type, id, now);
          else this.#loginAnswer(bytes.subarray(off, off + len));
          off += len;
        }
        if (off > 0) bytes.copyWithin(0, off, filled);
        this.#filled = filled - off;
        if (this.ready) this.afterRead(now);
        this.flush();
      }
    } catch (error) {
      reason = message(error);
    }
    if (!this.#closing && !this.#leaving) this.#lost(reason);
    this.closed = true;
    this.#login?.reject(
      new Error(reason.startsWith("login") ? reason : `login of ${this.name}: ${reason}`),
    );
    this.#login = undefined;
    this.close();
  }

  #loginAnswer(raw: Uint8Array): void {
    const frame = decodeFrame(raw);
    const code = readCode(frame.payload);
    if (frame.type !== FrameType.ACK || frame.id !== HELLO_ID) {
      throw new Error(`login of ${this.name}: got type ${frame.type} before the answer`);
    }
    if (code !== Code.DELIVERED) throw new Error(`login of ${this.name} refused: "${code}"`);
    this.ready = true;
    this.#login?.resolve();
    this.#login = undefined;
  }

  #lost(reason: string): void {
    if (this.ready) this.meter.error(reason.startsWith("login") ? reason : `connection: ${reason}`);
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
