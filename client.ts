import {
  ChunkJoiner,
  Code,
  codePayload,
  CredentialOption,
  decodeTimed,
  encodeDelivery,
  encodeFrame,
  encodeHelloOptions,
  type Frame,
  FrameDecoder,
  FrameType,
  MAX_JOINED_SIZE,
  nameProblem,
  passwordProblem,
  readCode,
  TIMED_SIZE,
} from "./protocol/mod.ts";
import {
  destinationProblem,
  type HistoryEntry,
  type HistoryOptions,
  type RoomInfo,
  type RoomNotice,
  roomOf,
  RoomRequests,
} from "./client_rooms.ts";
import {
  type DownloadOptions,
  type FileEvent,
  FileTransfers,
  type SendFileOptions,
} from "./client_files.ts";

/** What became of a sent message. */
export type Fate = "delivered" | "stored" | "unknown user" | "rejected";

/** The answer to `send()`. */
export interface SendResult {
  /** The messageId the message went out with. */
  id: number;
  /** The recipient. */
  to: string;
  /** "delivered" ("200"), "stored" ("300": delivered at the recipient's next login), "unknown user"
   * ("404"), or "rejected" (any other code, e.g. "507" quota full). */
  fate: Fate;
  /** The server's code. */
  code: string;
}

/** Something that happened in a session, in the order it happened. */
export type ClientEvent =
  | {
    kind: "message";
    /** The sender. */
    from: string;
    /** The messageId the sender gave it. */
    id: number;
    /** The payload as text (UTF-8, invalid bytes replaced). */
    text: string;
    /** The payload bytes. */
    payload: Uint8Array;
    /** Whether it was stored for us while we were away (a type-2 frame). */
    stored: boolean;
    /**
     * When the server received it (from its TIMED frame): on every message from a server that
     * sends TIMED before live and stored messages.
     */
    sentAt?: Date;
    /** When it arrived here. */
    at: Date;
    /** For a message to a room: the room (its dst), e.g. "#dev". */
    room?: string;
    /** A past message replayed when we joined its room (a HISTORY frame, not acked). */
    replay?: boolean;
  }
  | RoomNotice
  | FileEvent
  | {
    kind: "receipt";
    /** A message we were told was stored ("300") has now been delivered to `to`. */
    to: string;
    id: number;
    at: Date;
  }
  | { kind: "disconnected"; reason: string; at: Date }
  | { kind: "reconnected"; at: Date }
  | { kind: "closed"; reason: string; at: Date };

/** The answer to `who()`. */
export interface Presence {
  /** Users logged in now. */
  online: string[];
  /** Users the server knows who are not logged in. */
  away: string[];
}

/** Options of `connect`. */
export interface ConnectOptions {
  /** The username to log in with (1..8 bytes of UTF-8, no spaces or control characters). */
  user: string;
  /** Server address. Default "127.0.0.1". */
  host?: string;
  /** Server port. Default 9000. */
  port?: number;
  /** Closes the session when aborted. */
  signal?: AbortSignal;
  /** Reconnect with backoff when the connection is lost, resending unanswered messages with
   * their original ids. Default true. */
  reconnect?: boolean;
  /**
   * The first messageId to use: persist `nextId` across runs to keep ids unique. Default: a
   * random one, so that a client without saved state does not repeat the ids of an earlier run
   * (the server would answer such a repeat of an earlier message as a resend).
   */
  firstId?: number;
  /** How long to wait for the TCP connection and the login answer, in ms. Default 5000. */
  connectTimeoutMs?: number;
  /**
   * The name's password, sent as the HELLO option `password` at every login (reconnects too).
   * On a server where the name has no account yet it claims the name. Default: none.
   */
  password?: string;
  /** Connect over TLS (a server started with `serve --tls-cert … --tls-key …`). Default false. */
  tls?: boolean;
  /**
   * With `tls`: a CA certificate (PEM text) to trust besides the system's roots, e.g. the one
   * that signed a private server's certificate. Default: the system's roots only.
   */
  ca?: string;
  /**
   * Receives warnings, one line each: a password about to cross a plain (unencrypted) connection
   * to another machine. Default: written to standard error.
   */
  onWarning?: (message: string) => void;
}

/**
 * A login the server refused; `code` is "400" (invalid name), "401" (a password is needed, or
 * it is wrong) or "409" (name in use).
 */
export class LoginError extends Error {
  /** The server's code. */
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = "LoginError";
    this.code = code;
  }
}

interface Outgoing {
  frame: Frame;
  resolve(result: SendResult): void;
  reject(error: Error): void;
}

const SEEN_WINDOW = 4096;
/** Events kept for a first `events()` reader that has not come yet. */
const MAX_UNREAD = 10_000;
const MAX_BACKOFF_MS = 10_000;
/** Login refusals that pass: a reconnect tries again (with backoff) rather than giving up. */
const RETRY_LOGIN = new Set<string>([
  Code.NAME_IN_USE,
  Code.SERVER_FULL,
  Code.TOO_MANY_CONNECTIONS_FROM_IP,
  Code.TOO_MANY_LOGINS,
]);
const textDecoder = new TextDecoder();
const textEncoder = new TextEncoder();

/**
 * Connects and logs in; resolves when the server accepted the login. Rejects with `LoginError`
 * when it refused, or with the connection error.
 *
 * @example
 * ```ts
 * import { connect } from "./client.ts";
 * await using alice = await connect({ user: "alice", port: 9000 });
 * const result = await alice.send("bob", "hello");
 * console.log(result.fate); // "delivered", or "stored" while bob is away
 * for await (const event of alice.events()) {
 *   if (event.kind === "message") console.log(`${event.from}: ${event.text}`);
 * }
 * ```
 */
export async function connect(options: ConnectOptions): Promise<TinychatClient> {
  const problem = nameProblem(options.user);
  if (problem !== undefined) throw new LoginError(Code.BAD_REQUEST, `username ${problem}`);
  const warning = plainPasswordWarning(options);
  if (warning !== undefined) {
    const warn = options.onWarning ??
      ((line: string) => Deno.stderr.writeSync(textEncoder.encode(`tinychat: ${line}\n`)));
    warn(warning);
  }
  const client = new TinychatClient(options);
  await client.start();
  return client;
}

/** A logged-in session with a tinychat server. Create it with `connect()`. */
export class TinychatClient implements AsyncDisposable {
  /** The name this session is logged in as. */
  readonly user: string;
  #host: string;
  #port: number;
  #reconnect: boolean;
  #connectTimeout: number;
  #password: string | undefined;
  #tls: boolean;
  #ca: string | undefined;
  /** Why the server ended the session with TAKEOVER, if it did. */
  #takenOver: string | undefined;
  #nextId: number;
  #socket: Deno.Conn | undefined;
  #outgoing = new Map<number, Outgoing>();
  #seen = new Set<string>();
  /** The TIMED frame just received: it describes the stored message that follows it. */
  #sentAt: { src: string; id: number; at: number } | undefined;
  #presence = new Map<
    number,
    { lines: string[]; done(presence: Presence): void; fail(error: Error): void }
  >();
  /** Events that came before anyone listened: the first reader gets them. */
  #unread: ClientEvent[] | undefined = [];
  #readers = new Set<{ queue: ClientEvent[]; wake: (() => void) | undefined }>();
  #closed = false;
  #closeReason = "";
  #stop = new AbortController();
  #loop: Promise<void> | undefined;
  #online = false;
  /** The read loop of the current connection; resolves with why it ended. */
  #reading: Promise<string> | undefined;
  /** The chain of writes on the current connection: one at a time, in order. */
  #writes: Promise<void> = Promise.resolve();
  /** Long messages being received (CHUNK frames), for the current connection. */
  #joiner = new ChunkJoiner({ maxBytes: MAX_JOINED_SIZE });
  #rooms = new RoomRequests({
    user: () => this.user,
    online: () => this.#online,
    takeId: () => this.#takeId(),
    write: (frame) => this.#write(encodeFrame(frame)),
  });
  #files = new FileTransfers({
    user: () => this.user,
    isOnline: () => this.#online,
    takeId: () => this.#takeId(),
    write: (bytes) => this.#write(bytes),
    emit: (event) => this.#emit(event),
  });

  /** Use `connect()`. */
  constructor(options: ConnectOptions) {
    this.user = options.user;
    this.#host = options.host ?? "127.0.0.1";
    this.#port = options.port ?? 9000;
    this.#reconnect = options.reconnect ?? true;
    this.#connectTimeout = options.connectTimeoutMs ?? 5000;
    this.#password = options.password;
    this.#tls = options.tls ?? false;
    this.#ca = options.ca;
    this.#nextId = (options.firstId ?? randomId()) >>> 0;
    options.signal?.addEventListener("abort", () => void this.close(), { once: true });
  }

  /** The messageId the next frame will use (store it to keep ids unique across runs). */
  get nextId(): number {
    return this.#nextId;
  }

  /** Whether the session is logged in right now. */
  get online(): boolean {
    return this.#online;
  }

  /** Messages sent and not answered yet (they are resent after a reconnect). */
  get unanswered(): number {
    return this.#outgoing.size;
  }

  /** @internal Opens the first connection; used by `connect()`. */
  async start(): Promise<void> {
    await this.#login();
    this.#loop = this.#run();
  }

  /**
   * Sends `text` to `to`; resolves with its fate. Text over 1000 bytes of UTF-8 goes as CHUNK
   * frames and a final MSG in one write (up to 16 MiB, `RangeError` beyond; the server's
   * `--max-message`, 64 KiB by default, answers "413", fate "rejected"). If the connection
   * drops first, the message is resent with the same id after reconnecting, and the server
   * makes sure it is delivered once.
   */
  send(to: string, text: string | Uint8Array): Promise<SendResult> {
    if (this.#closed) {
      return Promise.reject(new Error(`Cannot send: session closed (${this.#closeReason})`));
    }
    const problem = destinationProblem(to);
    if (problem !== undefined) {
      return Promise.reject(new RangeError(`Cannot send to "${to}": name ${problem}`));
    }
    const payload = typeof text === "string" ? textEncoder.encode(text) : text;
    if (payload.length > MAX_JOINED_SIZE) {
      return Promise.reject(
        new RangeError(`Cannot send: ${payload.length} bytes exceed ${MAX_JOINED_SIZE} (16 MiB)`),
      );
    }
    const frame: Frame = {
      type: FrameType.MSG,
      id: this.#takeId(),
      src: this.user,
      dst: to,
      payload,
    };
    return new Promise((resolve, reject) => {
      this.#outgoing.set(frame.id, { frame, resolve, reject });
      if (this.#online) this.#write(encodeMessage(frame));
    });
  }

  /**
   * The session's events (messages, late receipts, connection changes), until it closes. Each
   * reader gets every event from the moment it starts reading; the first reader also gets those
   * that came before.
   */
  async *events(): AsyncGenerator<ClientEvent, void, undefined> {
    const reader = { queue: this.#unread ?? [], wake: undefined as (() => void) | undefined };
    this.#unread = undefined;
    this.#readers.add(reader);
    try {
      while (true) {
        const event = reader.queue.shift();
        if (event !== undefined) {
          yield event;
          if (event.kind === "closed") return;
          continue;
        }
        await new Promise<void>((resolve) => reader.wake = resolve);
      }
    } finally {
      this.#readers.delete(reader);
    }
  }

  /**
   * Asks the server who is online and who else is known. Rejects when the session is offline or
   * no answer comes within `timeoutMs` (default 5000).
   */
  who(timeoutMs = 5000): Promise<Presence> {
    if (!this.#online) return Promise.reject(new Error("Cannot ask who is online: not connected"));
    const id = this.#takeId();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#presence.delete(id);
        reject(new Error("No answer to the presence query"));
      }, timeoutMs);
      this.#presence.set(id, {
        lines: [],
        done: (presence) => {
          clearTimeout(timer);
          resolve(presence);
        },
        fail: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.#write(
        encodeFrame({
          type: FrameType.WHO,
          id,
          src: this.user,
          dst: "",
          payload: new Uint8Array(),
        }),
      );
    });
  }

  /** Joins `room` (created if new); its last messages follow as `replay` message events. */
  join(room: string): Promise<void> {
    return this.#rooms.join(room);
  }

  /** Leaves `room`; rejects with `RoomError` ("403" for #all, "404" when not a member). */
  leave(room: string): Promise<void> {
    return this.#rooms.leave(room);
  }

  /** The server's rooms, with their member counts and whether we are a member. */
  rooms(): Promise<RoomInfo[]> {
    return this.#rooms.rooms();
  }

  /** The members of `room`, online and away. */
  members(room: string): Promise<Presence> {
    return this.#rooms.members(room);
  }

  /** The server's history with a user or of a room, oldest first. */
  history(peerOrRoom: string, options: HistoryOptions = {}): Promise<HistoryEntry[]> {
    return this.#rooms.history(peerOrRoom, options);
  }

  /**
   * Sends the file at `path` to a user or a room through the server (which keeps it for an
   * offline recipient); resolves with its fate: "stored" ("300") for a user until they download
   * it (then a `receipt` event), "delivered" ("200") for a room, or a refusal ("404", "413" too
   * large, "507" over the recipient's quota, …). Resumes by itself after a reconnect.
   *
   * @example
   * ```ts
   * const result = await client.sendFile("bob", "photo.png", {
   *   onProgress: (done, size) => console.log(`${Math.floor((100 * done) / size)}%`),
   * });
   * ```
   */
  sendFile(to: string, path: string, options: SendFileOptions = {}): Promise<SendResult> {
    return this.#files.sendFile(to, path, options);
  }

  /**
   * Downloads a file of a `file` event into `saveDir` (created if needed) under its sanitised
   * name, never overwriting (`name (1).ext`); resolves with the saved path. Partial bytes wait
   * in `options.partialDir`, and a later call resumes from them.
   */
  download(event: FileEvent, saveDir: string, options: DownloadOptions = {}): Promise<string> {
    return this.#files.download(event, saveDir, options);
  }

  /**
   * Calls `listener` with each `file` event (also in `events()`); the first listener also gets
   * those that came before it. Returns the function that stops it.
   */
  onFile(listener: (event: FileEvent) => void): () => void {
    return this.#files.onFile(listener);
  }

  /** Waits until every sent message has its answer, or `timeoutMs` passes; returns how many are
   * still unanswered. */
  async settle(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (this.#outgoing.size > 0 && Date.now() < deadline && !this.#closed) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return this.#outgoing.size;
  }

  /** Logs out and closes the connection; unanswered sends are rejected. */
  async close(reason = "closed"): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    this.#online = false;
    this.#stop.abort();
    try {
      this.#socket?.close();
    } catch {
      // Already closed.
    }
    for (const o of this.#outgoing.values()) {
      o.reject(new Error(`Session closed before an answer (${reason})`));
    }
    this.#outgoing.clear();
    this.#rooms.close(reason);
    this.#files.close(reason);
    await this.#loop;
    this.#emit({ kind: "closed", reason, at: new Date() });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #takeId(): number {
    const id = this.#nextId;
    this.#nextId = (this.#nextId + 1) >>> 0;
    return id;
  }

  /** Connects, says HELLO and waits for the answer; leaves the socket in `#socket`. */
  async #login(): Promise<void> {
    const signal = AbortSignal.any([this.#stop.signal, AbortSignal.timeout(this.#connectTimeout)]);
    const socket = await dial(this.#host, this.#port, this.#tls, this.#ca, signal);
    const helloId = this.#takeId();
    const decoder = new FrameDecoder({ order: "be" });
    this.#joiner.clear();
    this.#socket = socket;
    try {
      await writeAll(
        socket,
        encodeFrame({
          type: FrameType.HELLO,
          id: helloId,
          src: this.user,
          dst: "",
          payload: helloOptions(this.#password),
        }),
      );
      const buffer = new Uint8Array(4096);
      const abort = () => socket.close();
      signal.addEventListener("abort", abort, { once: true });
      try {
        for (let first = true;; first = false) {
          const n = await socket.read(buffer);
          if (n === null) throw new Error(this.#closedDuringLogin());
          if (first && !this.#tls && isTlsRecord(buffer, n)) {
            throw new Error(
              `Cannot log in to ${this.#host}:${this.#port}: the server answered in TLS: ` +
                "it is a TLS port, try --tls",
            );
          }
          const frames: Frame[] = [];
          decoder.push(buffer.subarray(0, n), (f) => frames.push(f));
          // A refusal at accept ("503", "421") comes before the server read our HELLO: id 0.
          const answer = frames.findIndex((f) =>
            f.type === FrameType.ACK && f.src === "" &&
            (f.id === helloId || (f.id === 0 && readCode(f.payload) !== Code.DELIVERED))
          );
          if (answer < 0) continue;
          const code = readCode(frames[answer]!.payload);
          if (code !== Code.DELIVERED) {
            throw new LoginError(code, loginProblem(code, this.user, this.#password !== undefined));
          }
          this.#online = true;
          for (const f of frames.slice(answer + 1)) this.#handle(f);
          this.#readFrom(socket, decoder, buffer);
          for (const o of this.#outgoing.values()) this.#write(encodeMessage(o.frame));
          this.#files.online();
          return;
        }
      } finally {
        signal.removeEventListener("abort", abort);
      }
    } catch (error) {
      this.#online = false;
      try {
        socket.close();
      } catch {
        // Already closed.
      }
      if (signal.aborted && !(error instanceof LoginError)) {
        throw new Error(`Cannot log in to ${this.#host}:${this.#port}: no answer in time`, {
          cause: error,
        });
      }
      throw error;
    }
  }

  /** Why a login failed when the server closed the connection before answering. */
  #closedDuringLogin(): string {
    const where = `Cannot log in to ${this.#host}:${this.#port}`;
    return this.#tls
      ? `${where}: the server closed the connection during login`
      : `${where}: the server closed the connection during login: is it a TLS port? try --tls`;
  }

  #readFrom(socket: Deno.Conn, decoder: FrameDecoder, buffer: Uint8Array): void {
    this.#reading = (async () => {
      try {
        while (true) {
          const n = await socket.read(buffer);
          if (n === null) return "the server closed the connection";
          decoder.push(buffer.subarray(0, n), (frame) => this.#handle(frame));
        }
      } catch (error) {
        return error instanceof Error ? error.message : String(error);
      }
    })();
  }

  /** Keeps the session up: waits for the connection to end, then reconnects with backoff. */
  async #run(): Promise<void> {
    while (!this.#closed) {
      const reason = await this.#reading!;
      this.#online = false;
      try {
        this.#socket?.close();
      } catch {
        // Already closed.
      }
      if (this.#closed) return;
      if (this.#takenOver !== undefined) {
        // Reconnecting would take the name back from the login that replaced us, and so on.
        void this.close(`${this.#takenOver} (TAKEOVER)`);
        return;
      }
      if (!this.#reconnect) {
        void this.close(reason);
        return;
      }
      this.#emit({ kind: "disconnected", reason, at: new Date() });
      for (let attempt = 0; !this.#closed; attempt++) {
        const delay = Math.min(MAX_BACKOFF_MS, 250 * 2 ** attempt) * (0.5 + Math.random() / 2);
        await sleep(delay, this.#stop.signal);
        if (this.#closed) return;
        try {
          await this.#login();
          this.#emit({ kind: "reconnected", at: new Date() });
          break;
        } catch (error) {
          if (error instanceof LoginError && !RETRY_LOGIN.has(error.code)) {
            void this.close(error.message);
            return;
          }
        }
      }
    }
  }

  #handle(received: Frame): void {
    let joined: Frame | undefined;
    try {
      joined = this.#joiner.push(received);
    } catch {
      // Over 16 MiB: the server would never send it; that message is dropped.
      return;
    }
    if (joined === undefined) return;
    const frame = joined;
    switch (frame.type) {
      case FrameType.MSG:
      case FrameType.OFFLINE:
        return this.#incoming(frame);
      case FrameType.ACK:
        return this.#answer(frame);
      case FrameType.WHO:
        return this.#presenceAnswer(frame);
      case FrameType.ROOM: {
        const notice = this.#rooms.room(frame);
        if (notice !== undefined) this.#emit(notice);
        return;
      }
      case FrameType.HISTORY: {
        const timed = this.#sentAt;
        this.#sentAt = undefined;
        const replay = this.#rooms.historyFrame(
          frame,
          timed !== undefined && timed.src === frame.src && timed.id === frame.id
            ? timed.at
            : undefined,
        );
        if (replay !== undefined) this.#emit(replay);
        return;
      }
      case FrameType.TIMED:
        if (frame.payload.length === TIMED_SIZE) {
          this.#sentAt = { src: frame.src, id: frame.id, at: decodeTimed(frame.payload) };
        }
        return;
      case FrameType.TAKEOVER:
        this.#takenOver = textDecoder.decode(frame.payload) || "replaced by a new login";
        return;
      case FrameType.PING:
        this.#write(encodeFrame({ ...frame, type: FrameType.PONG, src: this.user, dst: "" }));
        return;
      case FrameType.FILE:
      case FrameType.DATA:
        return this.#files.handle(frame, this.#sentAt);
    }
  }

  #incoming(frame: Frame): void {
    const timed = this.#sentAt;
    this.#sentAt = undefined;
    const room = roomOf(frame);
    this.#write(encodeFrame({
      type: FrameType.ACK,
      id: frame.id,
      src: this.user,
      dst: room ?? frame.src,
      payload: codePayload(Code.DELIVERED),
    }));
    // The server delivers once; this guards the one case it cannot see (a crash between a
    // recipient's ack and its commit).
    const key = `${frame.src}\n${frame.dst}\n${frame.id}\n${frame.payload.length}\n${
      seenText(frame.payload)
    }`;
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    if (this.#seen.size > SEEN_WINDOW) this.#seen.delete(this.#seen.values().next().value!);
    this.#emit({
      kind: "message",
      from: frame.src,
      id: frame.id,
      text: textDecoder.decode(frame.payload),
      payload: frame.payload,
      stored: frame.type === FrameType.OFFLINE,
      at: new Date(),
      ...(room === undefined ? {} : { room }),
      ...(timed !== undefined && timed.src === frame.src && timed.id === frame.id
        ? { sentAt: new Date(timed.at) }
        : {}),
    });
  }

  #presenceAnswer(frame: Frame): void {
    const query = this.#presence.get(frame.id);
    if (query === undefined) return;
    if (frame.payload.length > 0) {
      query.lines.push(...textDecoder.decode(frame.payload).split("\n"));
      return;
    }
    this.#presence.delete(frame.id);
    query.done({
      online: query.lines.filter((l) => l.startsWith("+")).map((l) => l.slice(1)),
      away: query.lines.filter((l) => l.startsWith("-")).map((l) => l.slice(1)),
    });
  }

  #answer(frame: Frame): void {
    if (this.#rooms.answer(frame)) return;
    if (this.#files.answer(frame)) return;
    const code = readCode(frame.payload);
    const o = this.#outgoing.get(frame.id);
    if (o !== undefined && (frame.src === o.frame.dst || frame.src === "")) {
      this.#outgoing.delete(frame.id);
      o.resolve({ id: frame.id, to: o.frame.dst, fate: fateOf(code), code });
      return;
    }
    if (code === Code.DELIVERED && frame.src !== "") {
      this.#emit({ kind: "receipt", to: frame.src, id: frame.id, at: new Date() });
      return;
    }
    const query = this.#presence.get(frame.id);
    if (query !== undefined && frame.src === "") {
      this.#presence.delete(frame.id);
      query.fail(new Error(`The server does not answer presence queries (${code})`));
      return;
    }
    if (frame.src === "" && code !== Code.DELIVERED) {
      // The server refused something and closes the connection; the read loop sees the close.
      this.#closeReason = `server answered ${code}`;
    }
  }

  #write(bytes: Uint8Array): void {
    const socket = this.#socket;
    if (socket === undefined || !this.#online) return;
    this.#writes = this.#writes.then(() => writeAll(socket, bytes)).catch(() => {});
  }

  #emit(event: ClientEvent): void {
    if (this.#unread !== undefined) {
      this.#unread.push(event);
      // A client that never reads events (a send-only bot) keeps only the latest.
      if (this.#unread.length > MAX_UNREAD) this.#unread.shift();
    }
    for (const reader of this.#readers) {
      reader.queue.push(event);
      const wake = reader.wake;
      reader.wake = undefined;
      wake?.();
    }
  }
}

/** A random messageId in the lower half of the range, so that ids do not wrap soon. */
export function randomId(): number {
  return crypto.getRandomValues(new Uint32Array(1))[0]! >>> 1;
}

/** What `#seen` keeps of a payload: a long one as a hash, so the window stays small. */
function seenText(payload: Uint8Array): string {
  if (payload.length <= 1000) return textDecoder.decode(payload);
  let hash = 0x811c9dc5;
  for (let i = 0; i < payload.length; i++) hash = Math.imul(hash ^ payload[i]!, 0x01000193);
  return `#${hash >>> 0}`;
}

/**
 * A message of any length as the frames that carry it, for one write: CHUNKs, then the MSG, so
 * that the frames of one message never interleave with those of another.
 */
function encodeMessage(frame: Frame): Uint8Array {
  return encodeDelivery(frame, "be", { legacy: false, timed: false });
}

/** The HELLO payload: ask for TIMED frames, and the password if there is one. */
function helloOptions(password: string | undefined): Uint8Array {
  const options: [string, string][] = [["timed", ""]];
  if (password !== undefined) options.push([CredentialOption.PASSWORD, password]);
  return encodeHelloOptions(options);
}

/** Options of `changePassword`. */
export interface ChangePasswordOptions {
  /** The name whose password changes. */
  user: string;
  /** Its password now. */
  password: string;
  /** The password from now on (1..256 bytes of UTF-8, no line break). */
  newPassword: string;
  /** Server address. Default "127.0.0.1". */
  host?: string;
  /** Server port. Default 9000. */
  port?: number;
  /** How long to wait for the connection and the answer, in ms. Default 10000. */
  timeoutMs?: number;
  /** Connect over TLS. Default false. */
  tls?: boolean;
  /** With `tls`: a CA certificate (PEM text) to trust besides the system's roots. */
  ca?: string;
  /** Receives the warning before passwords cross a plain connection to another machine. */
  onWarning?: (message: string) => void;
}

/**
 * Changes `user`'s password on the server: a HELLO with the options `password` and
 * `new-password`. Resolves once the server stored the new one durably ("200"); rejects with
 * `LoginError` ("401": wrong password or no account) otherwise. No session is opened: sessions
 * already logged in stay, and the new password counts from the next login.
 *
 * @example
 * ```ts
 * import { changePassword } from "./client.ts";
 * await changePassword({ user: "alice", password: "old one", newPassword: "new one" });
 * ```
 */
export async function changePassword(options: ChangePasswordOptions): Promise<void> {
  const { user, password, newPassword } = options;
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? 9000;
  const problem = nameProblem(user);
  if (problem !== undefined) throw new LoginError(Code.BAD_REQUEST, `username ${problem}`);
  const newProblem = passwordProblem(newPassword);
  if (newProblem !== undefined) throw new RangeError(`The new password ${newProblem}`);
  const warning = plainPasswordWarning(options);
  if (warning !== undefined) {
    const warn = options.onWarning ??
      ((line: string) => Deno.stderr.writeSync(textEncoder.encode(`tinychat: ${line}\n`)));
    warn(warning);
  }
  const signal = AbortSignal.timeout(options.timeoutMs ?? 10_000);
  const socket = await dial(host, port, options.tls ?? false, options.ca, signal);
  const abort = () => socket.close();
  signal.addEventListener("abort", abort, { once: true });
  try {
    const payload = encodeHelloOptions([
      [CredentialOption.PASSWORD, password],
      [CredentialOption.NEW_PASSWORD, newPassword],
    ]);
    await writeAll(
      socket,
      encodeFrame({ type: FrameType.HELLO, id: 0, src: user, dst: "", payload }),
    );
    const decoder = new FrameDecoder({ order: "be" });
    const buffer = new Uint8Array(4096);
    while (true) {
      const n = await socket.read(buffer).catch((error) => {
        if (!signal.aborted) throw error;
        return null;
      });
      if (n === null) {
        throw new Error(
          signal.aborted
            ? `Cannot change the password: no answer from ${host}:${port} in time`
            : "Cannot change the password: the server closed the connection",
        );
      }
      // The frames before a malformed one are looked at first: the answer may be among them.
      const frames: Frame[] = [];
      let malformed: unknown;
      try {
        decoder.push(buffer.subarray(0, n), (f) => frames.push(f));
      } catch (error) {
        malformed = error;
      }
      for (const f of frames) {
        if (f.type !== FrameType.ACK || f.id !== 0 || f.src !== "") continue;
        const code = readCode(f.payload);
        if (code === Code.DELIVERED) return;
        throw new LoginError(
          code,
          code === Code.UNAUTHORIZED
            ? `wrong password for "${user}", or it has no account (401)`
            : `the server refused the password change (${code})`,
        );
      }
      if (malformed !== undefined) throw malformed;
    }
  } finally {
    signal.removeEventListener("abort", abort);
    try {
      socket.close();
    } catch {
      // Already closed.
    }
  }
}

function fateOf(code: string): Fate {
  if (code === Code.DELIVERED) return "delivered";
  if (code === Code.STORED) return "stored";
  if (code === Code.UNKNOWN_USER) return "unknown user";
  return "rejected";
}

function loginProblem(code: string, user: string, withPassword: boolean): string {
  switch (code) {
    case Code.BAD_REQUEST:
      return withPassword
        ? `the server refused the name "${user}" or the password (400)`
        : `the server refused the name "${user}" (400: invalid name)`;
    case Code.UNAUTHORIZED:
      return withPassword
        ? `wrong password for "${user}", or no such account (401)`
        : `"${user}" needs a password (401)`;
    case Code.NAME_IN_USE:
      return `"${user}" is logged in elsewhere (409: name in use)`;
    case Code.SERVER_FULL:
      return withPassword
        ? "the server is busy (503: too many connections or password checks): try again later"
        : "the server has too many connections (503): try again later";
    case Code.TOO_MANY_CONNECTIONS_FROM_IP:
      return "too many connections from this address (421): close some, or try again later";
    case Code.TOO_MANY_LOGINS:
      return withPassword
        ? "too many logins or password attempts (423: from this address, or for this name): try again in a minute"
        : "too many logins from this address (423): try again in a minute";
    default:
      return `the server refused the login (${code})`;
  }
}

/**
 * Opens a plain or a TLS connection to `host`:`port`. A TLS failure says what it most likely
 * means (a plain port, an untrusted certificate).
 */
async function dial(
  host: string,
  port: number,
  tls: boolean,
  ca: string | undefined,
  signal: AbortSignal,
): Promise<Deno.Conn> {
  if (!tls) {
    const socket = await Deno.connect({ hostname: host, port, signal });
    socket.setNoDelay(true);
    return socket;
  }
  const where = `Cannot log in to ${host}:${port} over TLS`;
  // Deno.connectTls takes no signal: give up on it when aborted, and close it if it comes later.
  const connecting = Deno.connectTls({
    hostname: host,
    port,
    ...(ca === undefined ? {} : { caCerts: [ca] }),
  });
  const aborted = new Promise<never>((_, reject) => {
    const fail = () => reject(new Error(`${where}: no answer in time`));
    if (signal.aborted) fail();
    signal.addEventListener("abort", fail, { once: true });
  });
  let socket: Deno.TlsConn;
  try {
    socket = await Promise.race([connecting, aborted]);
  } catch (error) {
    connecting.then((late) => late.close(), () => {});
    throw error;
  }
  const abort = () => socket.close();
  signal.addEventListener("abort", abort, { once: true });
  try {
    await socket.handshake();
    return socket;
  } catch (error) {
    try {
      socket.close();
    } catch {
      // Already closed.
    }
    if (signal.aborted) throw error;
    throw new Error(`${where}: ${tlsProblem(error instanceof Error ? error.message : "")}`, {
      cause: error,
    });
  } finally {
    signal.removeEventListener("abort", abort);
  }
}

/** A TLS handshake error in words a user can act on. */
function tlsProblem(message: string): string {
  if (/end of file|eof|reset|closed/i.test(message)) {
    return `the server closed the connection during the TLS handshake (${message}): ` +
      "is it a plain port? try without --tls";
  }
  if (/certificate/i.test(message)) {
    return `the server's certificate is not trusted (${message}): ` +
      "pass the CA that signed it with --ca FILE";
  }
  return `the TLS handshake failed (${message})`;
}

/** Whether a chunk starts with a TLS record (handshake 0x16 or alert 0x15, version 3.x). */
function isTlsRecord(bytes: Uint8Array, n: number): boolean {
  return n >= 2 && (bytes[0] === 0x16 || bytes[0] === 0x15) && bytes[1] === 0x03;
}

/**
 * The warning due before `options` would send a password over a plain (unencrypted) connection
 * to another machine, or undefined when there is none to give.
 */
export function plainPasswordWarning(
  options: Pick<ConnectOptions, "user" | "host" | "password" | "tls">,
): string | undefined {
  const host = options.host ?? "127.0.0.1";
  if (options.password === undefined || options.tls === true || isLoopback(host)) return undefined;
  return `warning: the password for "${options.user}" crosses a plain connection to ${host}, ` +
    "readable on the way: use --tls";
}

/** Whether `host` names this machine (a password sent there does not cross a network). */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "");
  return h === "localhost" || h.endsWith(".localhost") || /^127\./.test(h) || h === "::1" ||
    h === "0:0:0:0:0:0:0:1" || /^::ffff:127\./.test(h);
}

async function writeAll(socket: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await socket.write(bytes.subarray(offset));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
