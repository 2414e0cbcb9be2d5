/**
 * A raw protocol client for black-box tests: a real TCP connection to the server speaking frames
 * through the project's codec (protocol/mod.ts) in a chosen byte order. Every frame received is
 * kept in `received`; `next()` awaits (and consumes) the first frame matching a predicate.
 *
 * @module
 */
import {
  type ByteOrder,
  encodeFrame,
  type Frame,
  FrameDecoder,
  FrameType,
  readCode,
} from "../protocol/mod.ts";

/** Options of `connect`. */
export interface ConnectOptions {
  /** Byte order of every frame sent and expected. Default "be". */
  order?: ByteOrder;
  /** Answer each type 0 (and, unless `legacy`, type 2) frame with ACK "200". Default false. */
  autoAck?: boolean;
  /**
   * Behave as the seed-000 client: acks carry "200", a NUL and leftover bytes of the acknowledged
   * frame (same length), and type 2 frames are never acknowledged. Default false.
   */
  legacy?: boolean;
  /** The name used as `src` before `hello()` names the client (legacy clients). Default "". */
  name?: string;
}

/** Default wait of `next()` and friends, in ms. */
export const WAIT_MS = 5000;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const EMPTY = new Uint8Array(0);

/** The text of a payload (for assertions). */
export function text(frame: Frame): string {
  return decoder.decode(frame.payload);
}

/** A frame in one line, for error messages. */
export function describe(frame: Frame): string {
  const payload = frame.type === FrameType.ACK
    ? readCode(frame.payload)
    : decoder.decode(frame.payload.subarray(0, 40));
  return `{type ${frame.type}, id ${frame.id}, ${frame.src || "''"} -> ${frame.dst || "''"}, ` +
    `${JSON.stringify(payload)}}`;
}

/** Whether `frame` is an ACK about message `id` carrying `code` (and from `src`, if given). */
export function isAck(id: number, code?: string, src?: string): (frame: Frame) => boolean {
  return (f) =>
    f.type === FrameType.ACK && f.id === id &&
    (code === undefined || readCode(f.payload) === code) &&
    (src === undefined || f.src === src);
}

interface Waiter {
  predicate: (frame: Frame) => boolean;
  resolve: (frame: Frame) => void;
  reject: (error: Error) => void;
  what: string;
}

/** Connects to the server on 127.0.0.1:`port`. */
export async function connect(port: number, options: ConnectOptions = {}): Promise<TestClient> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  return new TestClient(conn, options);
}

/** Connects over TLS to the server on 127.0.0.1:`port`, trusting the CA certificate `ca` (PEM). */
export async function connectTls(
  port: number,
  ca: string,
  options: ConnectOptions = {},
): Promise<TestClient> {
  const conn = await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [ca] });
  return new TestClient(conn, options);
}

/** One test connection. `await using` closes it and waits for its reader to stop. */
export class TestClient implements AsyncDisposable {
  /** The name used as `src` (set by `hello()`). */
  name: string;
  /** The byte order of this connection. */
  readonly order: ByteOrder;
  /** Every frame received, in arrival order. */
  readonly received: Frame[] = [];
  #conn: Deno.TcpConn | Deno.TlsConn;
  #autoAck: boolean;
  #legacy: boolean;
  #inbox: Frame[] = [];
  #waiters = new Set<Waiter>();
  #ended = false;
  #endReason = "";
  #endedSignal = Promise.withResolvers<void>();
  #reader: Promise<void>;
  #writing: Promise<unknown> = Promise.resolve();
  #closed = false;
  #pingId = 0xfff00000;

  constructor(conn: Deno.TcpConn | Deno.TlsConn, options: ConnectOptions) {
    this.#conn = conn;
    this.order = options.order ?? "be";
    this.#autoAck = options.autoAck ?? false;
    this.#legacy = options.legacy ?? false;
    this.name = options.name ?? "";
    this.#reader = this.#read();
  }

  /** Whether the connection has ended (closed by the server, by us, or failed). */
  get ended(): boolean {
    return this.#ended;
  }

  /** Why it ended: "eof", an error message, or "" while open. */
  get endReason(): string {
    return this.#endReason;
  }

  /** Sends HELLO as `name` and resolves with the server's answer (an ACK with the same id). */
  async hello(name: string, id = 0, timeoutMs = WAIT_MS): Promise<Frame> {
    this.name = name;
    await this.send({ type: FrameType.HELLO, id, src: name, dst: "", payload: EMPTY });
    return await this.next(isAck(id), timeoutMs, `the answer to HELLO ${name}`);
  }

  /** Logs in as `name`; throws unless the answer is "200". */
  async login(name: string, timeoutMs = WAIT_MS): Promise<void> {
    const answer = await this.hello(name, 0, timeoutMs);
    const code = readCode(answer.payload);
    if (code !== "200") throw new Error(`login as ${name} answered ${code}, not 200`);
  }

  /** Sends a MSG (type 0) from this client's name to `dst`. */
  msg(dst: string, id: number, payload: string | Uint8Array): Promise<void> {
    return this.send({
      type: FrameType.MSG,
      id,
      src: this.name,
      dst,
      payload: typeof payload === "string" ? encoder.encode(payload) : payload,
    });
  }

  /** Acknowledges `frame` (type 0 or 2) with ACK `code` (a room message: to the room). */
  ack(frame: Frame, code = "200"): Promise<void> {
    return this.send({
      type: FrameType.ACK,
      id: frame.id,
      src: this.name,
      dst: frame.dst.startsWith("#") ? frame.dst : frame.src,
      payload: encoder.encode(code),
    });
  }

  /** Sends MSG `id` to `dst` and resolves with the code of the answer about it (from `dst`). */
  async request(dst: string, id: number, payload: string, timeoutMs = WAIT_MS): Promise<string> {
    await this.msg(dst, id, payload);
    const answer = await this.next(isAck(id, undefined, dst), timeoutMs, `the answer to ${id}`);
    return readCode(answer.payload);
  }

  /** Encodes `frame` in this client's byte order and sends it. */
  send(frame: Frame): Promise<void> {
    return this.write(encodeFrame(frame, this.order));
  }

  /** Writes `bytes` whole, after every earlier write. */
  write(bytes: Uint8Array): Promise<void> {
    const done = this.#writing.then(async () => {
      let offset = 0;
      while (offset < bytes.length) offset += await this.#conn.write(bytes.subarray(offset));
    });
    this.#writing = done.catch(() => {});
    return done;
  }

  /** Half-closes: no more bytes from us; the server sees end of input. */
  async closeWrite(): Promise<void> {
    await this.#writing;
    await this.#conn.closeWrite();
  }

  /**
   * Resolves with (and consumes) the first frame, received or to come, that matches `predicate`.
   * Rejects after `timeoutMs`, or as soon as the connection ends without such a frame.
   */
  next(
    predicate: (frame: Frame) => boolean,
    timeoutMs = WAIT_MS,
    what = "a frame",
  ): Promise<Frame> {
    const index = this.#inbox.findIndex(predicate);
    if (index >= 0) return Promise.resolve(this.#inbox.splice(index, 1)[0]!);
    if (this.#ended) return Promise.reject(this.#failure(what, `the connection ended`));
    const { promise, resolve, reject } = Promise.withResolvers<Frame>();
    const signal = AbortSignal.timeout(timeoutMs);
    const waiter: Waiter = { predicate, what, resolve, reject };
    const onAbort = () => {
      this.#waiters.delete(waiter);
      reject(this.#failure(what, `no such frame within ${timeoutMs} ms`));
    };
    waiter.resolve = (frame) => {
      signal.removeEventListener("abort", onAbort);
      resolve(frame);
    };
    waiter.reject = (error) => {
      signal.removeEventListener("abort", onAbort);
      reject(error);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    this.#waiters.add(waiter);
    return promise;
  }

  /** Resolves with `count` frames matching `predicate`, in arrival order. */
  async nextMany(
    count: number,
    predicate: (frame: Frame) => boolean,
    timeoutMs = WAIT_MS,
    what = "frames",
  ): Promise<Frame[]> {
    const deadline = Date.now() + timeoutMs;
    const frames: Frame[] = [];
    while (frames.length < count) {
      const left = Math.max(1, deadline - Date.now());
      frames.push(
        await this.next(predicate, left, `${what} (${frames.length} of ${count} so far)`),
      );
    }
    return frames;
  }

  /** Removes and returns every frame received so far and not consumed that matches `predicate`. */
  take(predicate: (frame: Frame) => boolean = () => true): Frame[] {
    const taken = this.#inbox.filter(predicate);
    this.#inbox = this.#inbox.filter((f) => !predicate(f));
    return taken;
  }

  /**
   * A round trip (PING, PONG): every frame the server queued for us before it saw the PING has
   * arrived when this resolves.
   */
  async sync(timeoutMs = WAIT_MS): Promise<void> {
    const id = this.#pingId++;
    await this.send({ type: FrameType.PING, id, src: this.name, dst: "", payload: EMPTY });
    await this.next((f) => f.type === FrameType.PONG && f.id === id, timeoutMs, `PONG ${id}`);
  }

  /** Resolves when the connection has ended (the server closed it); rejects after `timeoutMs`. */
  async waitClosed(timeoutMs = WAIT_MS): Promise<void> {
    const signal = AbortSignal.timeout(timeoutMs);
    const timedOut = new Promise<boolean>((resolve) => {
      signal.addEventListener("abort", () => resolve(false), { once: true });
    });
    const ended = await Promise.race([this.#endedSignal.promise.then(() => true), timedOut]);
    if (!ended) {
      throw this.#failure("the server to close the connection", `still open after ${timeoutMs} ms`);
    }
  }

  /** Closes the connection (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.#reader;
    await this.#writing;
  }

  async #read(): Promise<void> {
    const frames = new FrameDecoder({ order: this.order });
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (true) {
        const n = await this.#conn.read(buffer);
        if (n === null) {
          this.#endReason = frames.buffered > 0 ? `eof inside a frame` : "eof";
          break;
        }
        frames.push(buffer.subarray(0, n), (frame) => this.#receive(frame));
      }
    } catch (error) {
      this.#endReason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    }
    this.#ended = true;
    this.#endedSignal.resolve();
    for (const waiter of this.#waiters) {
      waiter.reject(this.#failure(waiter.what, `the connection ended (${this.#endReason})`));
    }
    this.#waiters.clear();
  }

  #receive(frame: Frame): void {
    this.received.push(frame);
    if (this.#autoAck) this.#autoAnswer(frame);
    for (const waiter of this.#waiters) {
      if (!waiter.predicate(frame)) continue;
      this.#waiters.delete(waiter);
      waiter.resolve(frame);
      return;
    }
    this.#inbox.push(frame);
  }

  #autoAnswer(frame: Frame): void {
    if (frame.type === FrameType.OFFLINE && !this.#legacy) void this.ack(frame).catch(() => {});
    if (frame.type !== FrameType.MSG) return;
    if (!this.#legacy) return void this.ack(frame).catch(() => {});
    // The seed-000 client reuses the message's buffer: "200", NUL, then whatever was there.
    const payload = new Uint8Array(Math.max(4, frame.payload.length));
    payload.set(frame.payload);
    payload.set(encoder.encode("200\0"));
    void this.send({ type: FrameType.ACK, id: frame.id, src: this.name, dst: frame.src, payload })
      .catch(() => {});
  }

  #failure(what: string, why: string): Error {
    const recent = this.received.slice(-8).map(describe).join("\n  ");
    return new Error(
      `${this.name || "client"} (${this.order}): waiting for ${what}: ${why}; ` +
        `last frames received:\n  ${recent || "(none)"}`,
    );
  }
}

/**
 * Connects and logs in as `name`. While an earlier connection of the same name is still being
 * closed on the server side, the answer is "409": it retries then, for up to `timeoutMs`.
 */
export async function login(
  port: number,
  name: string,
  options: ConnectOptions = {},
  timeoutMs = WAIT_MS,
): Promise<TestClient> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    const client = await connect(port, options);
    const code = readCode((await client.hello(name, 0, timeoutMs)).payload);
    if (code === "200") return client;
    await client[Symbol.asyncDispose]();
    if (code !== "409" || Date.now() > deadline) {
      throw new Error(`login as ${name} answered ${code}, not 200`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

let pairIds = 1_000_000;

/**
 * Logs in two fresh clients `a` and `b` (auto-acking) and checks that messages go each way with
 * "200" and arrive once: proof that the server still serves a normal pair. Message ids are new at
 * every call (a resend of an old id would be answered from the server's idempotency window).
 */
export async function assertPairChats(port: number, a: string, b: string): Promise<void> {
  await using ca = await login(port, a, { autoAck: true });
  await using cb = await login(port, b, { autoAck: true });
  const ids = [pairIds++, pairIds++, pairIds++];
  for (const id of ids) {
    const ab = await ca.request(b, id, `ping ${id} from ${a}`);
    const ba = await cb.request(a, id, `pong ${id} from ${b}`);
    if (ab !== "200" || ba !== "200") {
      throw new Error(`pair ${a}/${b}: answers ${ab} and ${ba}, expected 200 and 200`);
    }
  }
  const got = cb.received.filter((f) => f.type === FrameType.MSG && f.src === a).map(text);
  const want = ids.map((id) => `ping ${id} from ${a}`);
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    throw new Error(`pair ${a}/${b}: ${b} received ${JSON.stringify(got)}`);
  }
}
