/**
 * Test scaffolding shared by the core's unit tests: a `ServerCore` driven frame by frame with a
 * recording outbox, frame constructors to compare against, and a store whose commits can fail.
 * Not a test file itself (the leading underscore keeps `deno test` from running it).
 *
 * @module
 */
import {
  type ByteOrder,
  decodeTimed,
  encodeFrame,
  encodeHelloOptions,
  type Frame,
  FrameDecoder,
  FrameType,
  readCode,
  ReceivedFrame,
} from "../protocol/mod.ts";
import { MemoryFileStore } from "../store/file_store.ts";
import { MemoryStore } from "../store/memory_store.ts";
import type { Store } from "../store/store.ts";
import { type ConnId, type CoreOutbox, ServerCore, type ServerCoreOptions } from "./server_core.ts";

const utf8 = new TextEncoder();

// Plain checks: this module is not a `_test.ts` file, so it stays clear of node: imports.
function expect<T>(got: T | undefined, want: T, what: string): void {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new Error(`${what}: expected ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  }
}

/** `s` as UTF-8 bytes. */
export const text = (s: string): Uint8Array => utf8.encode(s);

/** An empty payload. */
export const EMPTY: Uint8Array = new Uint8Array(0);

/** A frame as the tests compare them: the payload as text (TIMED: the time as digits). */
export interface Seen {
  type: number;
  id: number;
  src: string;
  dst: string;
  payload: string;
}

export const seen = (type: number, id: number, src: string, dst: string, payload = ""): Seen => ({
  type,
  id,
  src,
  dst,
  payload,
});
export const ACK = (id: number, src: string, dst: string, code: string): Seen =>
  seen(FrameType.ACK, id, src, dst, code);
export const MSG = (id: number, src: string, dst: string, payload: string): Seen =>
  seen(FrameType.MSG, id, src, dst, payload);
export const OFFLINE = (id: number, src: string, dst: string, payload: string): Seen =>
  seen(FrameType.OFFLINE, id, src, dst, payload);
export const ROOM = (id: number, src: string, dst: string, payload: string): Seen =>
  seen(FrameType.ROOM, id, src, dst, payload);

/** The outbox of a test: records what the core sends and which connections it closes. */
export class RecordingOutbox implements CoreOutbox {
  sent: { conn: ConnId; bytes: Uint8Array }[] = [];
  closed: ConnId[] = [];

  send(conn: ConnId, bytes: Uint8Array, start = 0, end = bytes.length): void {
    this.sent.push({ conn, bytes: bytes.subarray(start, end) });
  }

  close(conn: ConnId): void {
    this.closed.push(conn);
  }
}

/** A memory store whose `commit()` throws while `failing` is set: the disk is full. */
export class FailingStore extends MemoryStore {
  failing = false;
  commits = 0;

  override commit(): void {
    if (this.failing) throw new Error("disk I/O error");
    this.commits++;
    super.commit();
  }
}

/** How `Harness.login()` says HELLO. */
export interface LoginOptions {
  /** The byte order of the connection; default: the connection's so far, else "be". */
  order?: ByteOrder;
  /** Whether the HELLO asks for TIMED frames; default false. */
  timed?: boolean;
}

/** `frame` as the tests compare them; a TIMED frame's time is decoded in `order`. */
export function toSeen(f: Frame, order: ByteOrder = "be"): Seen {
  const payload = f.type === FrameType.TIMED
    ? String(decodeTimed(f.payload, order))
    : new TextDecoder().decode(f.payload);
  return seen(f.type, f.id, f.src, f.dst, payload);
}

/**
 * A `ServerCore` with a recording outbox, fed encoded frames. Connections speak big-endian unless
 * a frame says otherwise; `frames(conn)` decodes and removes what was sent to `conn` so far.
 */
export class CoreHarness {
  readonly store: Store;
  readonly outbox = new RecordingOutbox();
  readonly core: ServerCore;
  readonly logs: string[] = [];
  #orders = new Map<ConnId, ByteOrder>();
  #taken = new Map<ConnId, number>();

  constructor(options: Partial<Omit<ServerCoreOptions, "outbox">> = {}) {
    this.store = options.store ?? new MemoryStore();
    this.core = new ServerCore({
      ...options,
      store: this.store,
      outbox: this.outbox,
      log: (level, event) => this.logs.push(`${level} ${event}`),
    });
  }

  /** The raw sends so far, every connection's. */
  get sent(): { conn: ConnId; bytes: Uint8Array }[] {
    return this.outbox.sent;
  }

  /** The byte order `conn` has spoken so far ("be" until a frame says otherwise). */
  orderOf(conn: ConnId): ByteOrder {
    return this.#orders.get(conn) ?? "be";
  }

  open(conn: ConnId, now = 0, ip = "127.0.0.1"): void {
    this.core.open(conn, now, `${ip}:${40000 + conn}`);
  }

  /** Hands the core `frame` from `conn`, with its bytes as they would come in `order`. */
  frame(conn: ConnId, frame: Frame, now = 0, order: ByteOrder = this.orderOf(conn)): Uint8Array {
    this.#orders.set(conn, order);
    const raw = encodeFrame(frame, order);
    this.core.frame(conn, new ReceivedFrame(raw, 0, raw.length, order), order, now);
    return raw;
  }

  /** The frames sent to `conn` since the last `frames` or `take`, decoded in `conn`'s order. */
  frames(conn: ConnId): Frame[] {
    const order = this.orderOf(conn);
    const start = this.#taken.get(conn) ?? 0;
    const mine = this.outbox.sent.filter((s) => s.conn === conn);
    this.#taken.set(conn, mine.length);
    return mine.slice(start).flatMap(({ bytes }) => {
      const frames: Frame[] = [];
      new FrameDecoder({ order }).push(bytes, (f) => frames.push(f));
      return frames;
    });
  }

  /** The raw byte arrays sent to `conn` so far. */
  bytesTo(conn: ConnId): Uint8Array[] {
    return this.outbox.sent.filter((s) => s.conn === conn).map((s) => s.bytes);
  }

  isClosed(conn: ConnId): boolean {
    return this.outbox.closed.includes(conn);
  }
}

/** A `CoreHarness` whose `take(conn)` gives `Seen` frames, with the common requests. */
export class Harness extends CoreHarness {
  hello(conn: ConnId, name: string, now = 0, id = 0, options: LoginOptions = {}): void {
    const payload = options.timed === true ? text("timed") : EMPTY;
    this.frame(
      conn,
      { type: FrameType.HELLO, id, src: name, dst: "", payload },
      now,
      options.order,
    );
  }

  /** Opens `conn`, logs `name` in and ends the turn; asserts the "200" and returns the rest. */
  login(conn: ConnId, name: string, now = 0, options: LoginOptions = {}): Seen[] {
    this.open(conn, now);
    this.hello(conn, name, now, 0, options);
    this.core.commit(now);
    const got = this.take(conn);
    expect(got[0], ACK(0, "", name, "200"), `login of ${name}`);
    return got.slice(1);
  }

  /** Closes `conn` and ends the turn. */
  logout(conn: ConnId, now = 0): void {
    this.core.closed(conn, now);
    this.core.commit(now);
  }

  msg(conn: ConnId, src: string, dst: string, id: number, payload: string, now = 0): Uint8Array {
    return this.frame(conn, { type: FrameType.MSG, id, src, dst, payload: text(payload) }, now);
  }

  ack(conn: ConnId, src: string, dst: string, id: number, code = "200", now = 0): Uint8Array {
    return this.frame(conn, { type: FrameType.ACK, id, src, dst, payload: text(code) }, now);
  }

  /** Sends a ROOM request (`word`: join, leave, list, …) and ends the turn. */
  room(conn: ConnId, src: string, dst: string, word: string, id = 1, now = 0): void {
    this.frame(conn, { type: FrameType.ROOM, id, src, dst, payload: text(word) }, now);
    this.core.commit(now);
  }

  /** Sends a HISTORY request with `options` as its payload and ends the turn. */
  history(conn: ConnId, src: string, dst: string, options: string, id = 7, now = 0): void {
    this.frame(conn, { type: FrameType.HISTORY, id, src, dst, payload: text(options) }, now);
    this.core.commit(now);
  }

  /** The frames sent to `conn` since the last `take`, as `Seen`. */
  take(conn: ConnId): Seen[] {
    const order = this.orderOf(conn);
    return this.frames(conn).map((f) => toSeen(f, order));
  }

  stored(dst: string): string[] {
    return this.store.messagesFor(dst, 0, 1000).map((m) =>
      `${m.src}#${m.id}:${new TextDecoder().decode(m.payload)}`
    );
  }

  /** Logs `name` in on `conn` and out again, so that it is a known user. */
  known(conn: ConnId, name: string, now = 0): void {
    this.login(conn, name, now);
    this.logout(conn, now);
  }
}

/**
 * A `ServerCore` with a memory store, a file store and a recording outbox, for file transfers:
 * every connection big-endian, numbered in login order, each frame a turn of its own at `now`.
 */
export class FileHarness<F extends MemoryFileStore = MemoryFileStore> {
  store: Store;
  files: F;
  core: ServerCore;
  now = 1_000;
  closed: ConnId[] = [];
  #inbox = new Map<ConnId, FrameDecoder>();
  #frames = new Map<ConnId, Frame[]>();
  #conn = 0;

  constructor(
    extra: Partial<ServerCoreOptions> = {},
    store: Store = new MemoryStore(),
    files: F = new MemoryFileStore() as F,
  ) {
    this.store = store;
    this.files = files;
    this.core = this.#make(extra);
  }

  #make(extra: Partial<ServerCoreOptions>): ServerCore {
    return new ServerCore({
      store: this.store,
      files: this.files,
      outbox: {
        send: (conn, bytes) => {
          let decoder = this.#inbox.get(conn);
          if (decoder === undefined) this.#inbox.set(conn, decoder = new FrameDecoder());
          const list = this.#frames.get(conn) ?? [];
          decoder.push(bytes, (f) => list.push({ ...f, payload: f.payload.slice() }));
          this.#frames.set(conn, list);
        },
        close: (conn) => this.closed.push(conn),
      },
      ...extra,
    });
  }

  /** A new core on the same stores (a restart). */
  restart(extra: Partial<ServerCoreOptions> = {}): void {
    this.core = this.#make(extra);
  }

  login(name: string, hello = ""): ConnId {
    const conn = ++this.#conn;
    this.core.open(conn, this.now, "127.0.0.1:1");
    this.frame(conn, FrameType.HELLO, 0, name, "", text(hello));
    // The login's "200"; what its drain handed over stays to be taken.
    const frames = this.take(conn);
    const answer = frames[0] && { type: frames[0].type, code: readCode(frames[0].payload) };
    expect(answer, { type: FrameType.ACK, code: "200" }, `login of ${name}`);
    this.#frames.set(conn, frames.slice(1));
    return conn;
  }

  frame(conn: ConnId, type: number, id: number, src: string, dst: string, payload: Uint8Array) {
    this.core.frame(conn, { type, id, src, dst, payload }, "be", this.now);
    this.core.commit(this.now);
  }

  /** Sends a FILE frame with `opts` as its options. */
  file(conn: ConnId, id: number, src: string, dst: string, opts: [string, string][]) {
    this.frame(conn, FrameType.FILE, id, src, dst, encodeHelloOptions(opts));
  }

  /** Sends `bytes` from `from` as DATA frames of 1000 bytes. */
  data(conn: ConnId, id: number, src: string, dst: string, bytes: Uint8Array, from = 0) {
    for (let at = from; at < bytes.length; at += 1000) {
      const piece = bytes.subarray(at, Math.min(bytes.length, at + 1000));
      this.core.frame(conn, { type: FrameType.DATA, id, src, dst, payload: piece }, "be", this.now);
    }
    this.core.commit(this.now);
  }

  take(conn: ConnId): Frame[] {
    const list = this.#frames.get(conn) ?? [];
    this.#frames.set(conn, []);
    return list;
  }
}
