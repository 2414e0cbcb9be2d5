import {
  type CommitTicket,
  type ConnId,
  type CoreLogger,
  type LogLevel,
  ServerCore,
} from "./core/server_core.ts";
import {
  Code,
  codePayload,
  encodeFrame,
  FrameDecoder,
  FrameError,
  FrameType,
  Slabs,
} from "./protocol/mod.ts";
import { ConnectionLimiter, DEFAULT_LIMITS, type Limits, resolveLimits } from "./core/limits.ts";
import { LastKeyMap } from "./core/last_key_map.ts";
import { SqliteStore } from "./store/sqlite_store.ts";
import { MemoryStore } from "./store/memory_store.ts";
import { DiskFileStore, type FileStore, MemoryFileStore } from "./store/file_store.ts";
import type { Store } from "./store/store.ts";
import type { AuthMode } from "./core/login_gate.ts";
import { PasswordAuthenticator } from "./auth/authenticator.ts";
import { EpollConn, EpollListener, listenEpoll, type Sink } from "./net/epoll.ts";

/** Options of `serve`. */
export interface ServeOptions {
  /** Address to listen on. Default "127.0.0.1". */
  hostname?: string;
  /** TCP port; 0 picks a free one. Default 9000. */
  port?: number;
  /** Directory of the SQLite store (created if missing); absent: an in-memory store. */
  dataDir?: string;
  /** How long a recipient has to acknowledge a live message, in ms. Default 3000. */
  ackTimeoutMs?: number;
  /** Stored messages per recipient. Default 100000. */
  maxQueue?: number;
  /** Messages a room join replays. Default 20. */
  roomReplay?: number;
  /** Days the history is kept; 0: no age limit. Default 90. */
  historyDays?: number;
  /** History entries kept per conversation; 0: no limit. Default 10000. */
  historyCount?: number;
  /** Whether direct messages go into the history too. Default true. */
  directHistory?: boolean;
  /**
   * The longest message a client may send, in bytes (1 to 16 MiB); beyond it the sender gets
   * "413". Default 65536.
   */
  maxMessage?: number;
  /**
   * Bytes queued for one connection beyond which it is closed as a slow reader. Default 8 MiB,
   * or twice `maxMessage` and 1 MiB more when that is larger (one long message must fit).
   */
  maxBuffered?: number;
  /** Where log lines go; default: none. */
  log?: (line: string) => void;
  /** Format of log lines. Default "text". */
  logFormat?: "text" | "json";
  /** The least severe level logged. Default "info". */
  logLevel?: LogLevel;
  /** Aborting stops the server (as `close()` does). */
  signal?: AbortSignal;
  /**
   * How plain TCP is served: "epoll" (net/epoll.ts: Linux, an IP address to listen on, FFI
   * allowed), "deno" (`Deno.listen`), or "auto", epoll where it can serve. TLS is always served by
   * Deno. Default "auto".
   */
  io?: "auto" | "epoll" | "deno";
  /** Serve TLS with this certificate chain and private key (PEM text). Default: plain TCP. */
  tls?: { cert: string; key: string };
  /** Abuse limits (core/limits.ts); each one not given has its default (`DEFAULT_LIMITS`). */
  limits?: Partial<Limits>;
  /** Who may log in as whom: "open", "required" or "invite" (core/login_gate.ts). Default "open". */
  auth?: AuthMode;
  /** The largest file accepted, in bytes; beyond it an offer gets "413". Default 100 MiB. */
  maxFile?: number;
  /** Bytes of files waiting for one recipient; beyond it an offer gets "507". Default 1 GiB. */
  fileQuota?: number;
}

/** A running server. */
export interface TinychatServer extends AsyncDisposable {
  /** The address it listens on (the real port when 0 was asked for). */
  readonly addr: Deno.NetAddr;
  /** What serves its sockets: net/epoll.ts, or Deno's own (TLS, other systems, `io: "deno"`). */
  readonly io: "epoll" | "deno";
  /** Resolves when the server has stopped. */
  readonly finished: Promise<void>;
  /** Stops accepting, hands every connection its last frames, commits the store and closes it. */
  close(): Promise<void>;
}

const LEVELS: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const MIN_READ = 512;
/**
 * The buffer of a connection's first two reads: its login, and the wait after it, which is all
 * a connection that logs in and stays idle ever holds. A frame of 100 bytes of payload fits; once
 * the connection talks, reads are at least `MIN_READ` (smaller ones cost a busy peer throughput).
 */
const LOGIN_READ = 128;
const ACCEPT_RETRY_MS = 100;
/** How long a closing connection may take to write what was queued for it. */
const CLOSE_FLUSH_MS = 1000;
const MAX_READ = 64 * 1024;
/** How long a committed batch that no answer waits for may go without a sync (ms). */
const LAZY_SYNC_MS = 50;

/**
 * Starts a tinychat server: a TCP listener wired to a `ServerCore`, a store and a clock.
 *
 * @example
 * ```ts
 * import { serve } from "./server.ts";
 * await using server = await serve({ port: 0 });
 * console.log(`listening ${server.addr.hostname}:${server.addr.port}`);
 * ```
 */
export async function serve(options: ServeOptions = {}): Promise<TinychatServer> {
  let store: Store;
  if (options.dataDir !== undefined) {
    // Only the operator reads it: every stored message and the password hashes are there.
    await Deno.mkdir(options.dataDir, { recursive: true, mode: 0o700 });
    // Commits write the log; answers wait for its sync, on this thread while syncs are quick
    // (#releaseSynced), else off it (#sync).
    store = new SqliteStore(`${options.dataDir}/tinychat.db`, { syncInBackground: true });
  } else {
    store = new MemoryStore();
  }
  // Uploaded files live next to the database (DATA/files), in memory without one.
  const files: FileStore = options.dataDir === undefined
    ? new MemoryFileStore()
    : new DiskFileStore(`${options.dataDir}/files`);
  const address = { hostname: options.hostname ?? "127.0.0.1", port: options.port ?? 9000 };
  let listener: Listener;
  try {
    listener = options.tls === undefined
      ? listenPlain(address, options.io ?? "auto")
      : Deno.listenTls({ ...address, cert: options.tls.cert, key: options.tls.key });
  } catch (error) {
    store.close();
    files.close();
    throw error;
  }
  const server = new Server(listener, store, options, files);
  return server;
}

/** A plain or a TLS connection. */
type Socket = Deno.TcpConn | Deno.TlsConn | EpollConn;
type Listener = Deno.TcpListener | Deno.TlsListener | EpollListener;

/** Plain TCP: through epoll where it can serve (net/epoll.ts), unless `io` says otherwise. */
function listenPlain(
  address: { hostname: string; port: number },
  io: "auto" | "epoll" | "deno",
): Deno.TcpListener | EpollListener {
  const epoll = io === "deno" ? undefined : listenEpoll(address);
  if (epoll !== undefined) return epoll;
  if (io === "epoll") {
    throw new Deno.errors.NotSupported(
      `epoll cannot serve ${address.hostname} here: it needs Linux, an IP address and --allow-ffi`,
    );
  }
  return Deno.listen(address);
}

class Server implements TinychatServer {
  readonly addr: Deno.NetAddr;
  readonly io: "epoll" | "deno";
  readonly finished: Promise<void>;
  #listener: Listener;
  /** The listener when it is epoll's, whose rounds the server follows. */
  #epoll: EpollListener | undefined;
  #tls: boolean;
  #connections: ConnectionLimiter;
  /** The one server-wide interval of the login and idle timeouts (no timer per connection). */
  #sweeper: ReturnType<typeof setInterval>;
  #refused = { at: 0, count: 0 };
  #store: Store;
  #files: FileStore;
  #core: ServerCore;
  /** By id; a turn's frames to one peer go out in a row (`LastKeyMap`). */
  #conns = new LastKeyMap<ConnId, Connection | PolledConnection>();
  /** Polled connections with frames queued: written at the end of the round (`#flush`). */
  #unwritten: PolledConnection[] = [];
  #flushScheduled = false;
  #nextId = 1;
  #maxBuffered: number;
  #turnScheduled = false;
  /** A poller round's end is running: a turn scheduled now needs an event-loop turn of its own. */
  #roundEnding = false;
  /** The group commit running with a store that syncs in the background (`#sync`). */
  #syncing: Promise<void> | undefined;
  /** The sync of batches that no answer waits for (`#releaseUnawaited`). */
  #lazySync: ReturnType<typeof setTimeout> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closing: Promise<void> | undefined;
  #log: CoreLogger;
  /** What connections tell the server: one object for all of them, none per connection. */
  #connectionEvents: ConnectionEvents = {
    writable: (id) => {
      // Every socket that took all it was given says so; the core listens while a drain waits.
      if (this.#core.awaitsWritable) this.#event(() => this.#core.writable(id, Date.now()));
    },
    // Not from inside the core's send: the core learns of it once its current event is done.
    slow: (id) =>
      queueMicrotask(() => {
        this.#core.closed(id, Date.now(), "slow reader: send queue full");
        this.#afterEvents();
      }),
  };
  /** What polled connections tell the server besides: one object for all of them. */
  #polledEvents: PolledEvents = {
    ...this.#connectionEvents,
    data: (conn, chunk, now) => this.#data(conn, chunk, now),
    end: (conn, error) => this.#end(conn, error),
    queued: (conn) => this.#queued(conn),
  };

  constructor(
    listener: Listener,
    store: Store,
    options: ServeOptions,
    files: FileStore,
  ) {
    this.#listener = listener;
    this.#epoll = listener instanceof EpollListener ? listener : undefined;
    this.#tls = options.tls !== undefined;
    const given = options.limits ?? {};
    const maxConnections = given.maxConnections ?? defaultMaxConnections();
    const limits = resolveLimits({ ...given, maxConnections });
    this.#connections = new ConnectionLimiter(limits.maxConnections, limits.maxConnectionsPerIp);
    this.addr = listener.addr;
    this.io = this.#epoll !== undefined ? "epoll" : "deno";
    if (this.#epoll !== undefined) {
      this.#epoll.onRoundEnd(() => this.#roundEnd());
      // A sync in flight resolves on the event loop, and a turn left to end ends there: no wait
      // may hold them up.
      this.#epoll.mayBlock = () => this.#syncing === undefined && !this.#turnScheduled;
    }
    this.#store = store;
    this.#files = files;
    this.#maxBuffered = options.maxBuffered ??
      Math.max(8 * 1024 * 1024, 2 * (options.maxMessage ?? 0) + 1024 * 1024);
    const emit = options.log ?? (() => {});
    // One logger for every line, so that --log-format and --log-level apply to all of them.
    const log = makeLogger(emit, options.logFormat ?? "text", options.logLevel ?? "info");
    this.#log = log;
    this.#core = new ServerCore({
      store,
      log,
      logDebug: (options.logLevel ?? "info") === "debug",
      ackTimeoutMs: options.ackTimeoutMs ?? 3000,
      maxQueue: options.maxQueue ?? 100_000,
      files,
      ...(options.maxFile === undefined ? {} : { maxFile: options.maxFile }),
      ...(options.fileQuota === undefined ? {} : { fileQuota: options.fileQuota }),
      ...(options.roomReplay === undefined ? {} : { roomReplay: options.roomReplay }),
      ...(options.historyDays === undefined ? {} : { historyDays: options.historyDays }),
      ...(options.historyCount === undefined ? {} : { historyCount: options.historyCount }),
      ...(options.directHistory === undefined ? {} : { directHistory: options.directHistory }),
      ...(options.maxMessage === undefined ? {} : { maxMessage: options.maxMessage }),
      limits,
      auth: options.auth ?? "open",
      // Password checks run off the loop; each answer comes back as an event of its own.
      authenticator: new PasswordAuthenticator((conn, result) =>
        this.#event(() => this.#core.authenticated(conn, result, Date.now()))
      ),
      outbox: {
        send: (conn, bytes, start, end) => this.#conns.get(conn)?.send(bytes, start, end),
        close: (conn) => this.#conns.get(conn)?.closeAfterFlush(),
      },
    });
    const shortest = Math.min(limits.loginTimeoutMs, limits.idleTimeoutMs, limits.pingTimeoutMs);
    this.#sweeper = setInterval(
      () => this.#event(() => this.#core.sweep(Date.now())),
      Math.min(1000, Math.max(50, shortest / 4)),
    );
    options.signal?.addEventListener("abort", () => void this.close(), { once: true });
    this.finished = this.#accept();
  }

  async #accept(): Promise<void> {
    while (this.#closing === undefined) {
      let socket: Socket;
      try {
        socket = await this.#listener.accept();
      } catch (error) {
        if (this.#closing !== undefined || error instanceof Deno.errors.BadResource) break;
        // Out of file descriptors, or a connection reset before it was accepted: say so, let
        // the others go on, and try again shortly instead of spinning or dying.
        this.#log("error", "accept-failed", { error: String(error) });
        await new Promise((resolve) => setTimeout(resolve, ACCEPT_RETRY_MS));
        continue;
      }
      this.#open(socket);
    }
    await this.#closing;
  }

  #open(socket: Socket): void {
    if (this.#closing !== undefined) {
      socket.close();
      return;
    }
    const ip = socket.remoteAddr.hostname;
    const refusal = this.#connections.open(ip);
    if (refusal !== undefined) return this.#refuse(socket, refusal);
    const id = this.#nextId++;
    try {
      if ("setNoDelay" in socket) socket.setNoDelay(true);
    } catch {
      // The peer may already be gone; the read loop will see it.
    }
    const peer = `${socket.remoteAddr.hostname}:${socket.remoteAddr.port}`;
    if (socket instanceof EpollConn) {
      const polled = new PolledConnection(id, socket, this.#maxBuffered, this.#polledEvents);
      this.#conns.set(id, polled);
      this.#core.open(id, Date.now(), peer);
      socket.attach(polled);
      return;
    }
    const conn = new Connection(id, socket, this.#maxBuffered, this.#connectionEvents);
    this.#conns.set(id, conn);
    this.#core.open(id, Date.now(), peer);
    // Each ends by uncounting the connection (`#connections.close`): no closure per connection.
    void (this.#tls ? this.#secure(conn) : this.#read(conn));
  }

  /** Over a connection limit: "503" or "421" (big-endian, id 0), then closed; logged once a second. */
  #refuse(socket: Socket, code: "503" | "421"): void {
    const frame = encodeFrame({
      type: FrameType.ACK,
      id: 0,
      src: "",
      dst: "",
      payload: codePayload(code === "503" ? Code.SERVER_FULL : Code.TOO_MANY_CONNECTIONS_FROM_IP),
    });
    // A TLS write waits for the handshake: whatever is still open after a second is closed.
    const close = () => {
      try {
        socket.close();
      } catch {
        // Already closed.
      }
    };
    const timer = setTimeout(close, 1000);
    socket.write(frame).catch(() => {}).finally(() => {
      clearTimeout(timer);
      close();
    });
    const now = Date.now();
    this.#refused.count++;
    if (now - this.#refused.at < 1000) return;
    this.#log("warn", "connection-refused", {
      code,
      peer: `${socket.remoteAddr.hostname}:${socket.remoteAddr.port}`,
      open: this.#connections.total,
      refused: this.#refused.count,
      why: code === "503" ? "too many connections" : "too many connections from this address",
    });
    this.#refused = { at: now, count: 0 };
  }

  /** A TLS connection: the handshake first, so that a failure gets a clear log line. */
  async #secure(conn: Connection): Promise<void> {
    try {
      await (conn.socket as Deno.TlsConn).handshake();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // A plain client's first bytes are a frame, not a TLS record.
      const plain = /corrupt message|InvalidContentType|InvalidMessage/i.test(message);
      const hint = plain ? " (a plain client on the TLS port? it must use --tls)" : "";
      return this.#finish(conn, `TLS handshake failed: ${message}${hint}`);
    }
    await this.#read(conn);
  }

  async #read(conn: Connection): Promise<void> {
    // Frames are views into the chunk they came in: a chunk is never written again once read,
    // and the next read gets a fresh one sized by the last (small while the peer is idle).
    const decoder = new FrameDecoder({ views: true });
    let size = LOGIN_READ;
    let reads = 0;
    let reason: string;
    try {
      while (true) {
        const buffer = new Uint8Array(size);
        const n = await conn.socket.read(buffer);
        if (n === null) {
          reason = closedByPeer(decoder);
          break;
        }
        const now = Date.now();
        if (decoder.order === undefined && isTlsHandshake(buffer, n)) {
          reason = TLS_ON_PLAIN_PORT;
          break;
        }
        if (!this.#frames(conn, decoder, buffer.subarray(0, n), now)) {
          reason = "";
          break;
        }
        this.#afterEvents();
        const least = ++reads < 2 ? LOGIN_READ : MIN_READ;
        size = Math.min(MAX_READ, Math.max(least, n === size ? size * 2 : n * 2));
      }
    } catch (error) {
      reason = error instanceof Error ? error.message : String(error);
    }
    await this.#finish(conn, reason);
  }

  /**
   * The end of a connection: the core learns why (`reason`; "" when it closed it itself), what
   * was queued is written, and the connection is uncounted.
   */
  async #finish(conn: Connection | PolledConnection, reason: string): Promise<void> {
    if (reason !== "") this.#core.closed(conn.id, Date.now(), reason);
    this.#afterEvents();
    await conn.closeAfterFlush();
    this.#conns.delete(conn.id);
    this.#connections.close(conn.socket.remoteAddr.hostname);
  }

  /** What a polled connection read: as `#read` does with a chunk, in the poller's round. */
  #data(conn: PolledConnection, chunk: Uint8Array, now: number): void {
    if (conn.finishing) return;
    let reason: string | undefined;
    try {
      if (conn.decoder.order === undefined && isTlsHandshake(chunk, chunk.length)) {
        reason = TLS_ON_PLAIN_PORT;
      } else if (!this.#frames(conn, conn.decoder, chunk, now)) {
        reason = "";
      } else {
        this.#afterEvents();
      }
    } catch (error) {
      // As in `#read`: a failure while handling one connection's frames ends that connection, not
      // the poller's round and with it every other connection.
      reason = error instanceof Error ? error.message : String(error);
    }
    if (reason === undefined) return;
    conn.finishing = true;
    void this.#finish(conn, reason);
  }

  /** A polled connection's stream ended: `null` at the peer's end, else why. */
  #end(conn: PolledConnection, error: Error | null): void {
    if (conn.finishing) return;
    conn.finishing = true;
    void this.#finish(conn, error === null ? closedByPeer(conn.decoder) : error.message);
  }

  /** `conn` has frames to write: at the end of the round, or in a moment outside one. */
  #queued(conn: PolledConnection): void {
    this.#unwritten.push(conn);
    if (this.#flushScheduled || this.#inRound) return;
    this.#flushScheduled = true;
    queueMicrotask(() => this.#flush());
  }

  /** Writes what polled connections have queued, one system call each where the socket takes it. */
  #flush(): void {
    this.#flushScheduled = false;
    // A write may let the core queue more (a drain goes on): those join the list as it is walked.
    for (let i = 0; i < this.#unwritten.length; i++) this.#unwritten[i]!.flush();
    this.#unwritten.length = 0;
  }

  /** Whether a poller round hands out readiness now: its end (`#roundEnd`) is still to come. */
  get #inRound(): boolean {
    return this.#epoll?.inRound === true;
  }

  /**
   * The end of a poller round: the turn ends (one commit for the round), then the writes. A turn
   * that will commit and sync first takes in what came while the round ran: the answers of the
   * last batch prompt the senders' next messages within microseconds, and each of them would
   * otherwise wait for a commit and a sync of its own (at 10 senders × 16 in flight to offline
   * users, batches of 16 and 144 by turns instead of 160).
   */
  #roundEnd(): void {
    if (this.#turnScheduled && this.#syncing === undefined && this.#store.sync !== undefined) {
      this.#epoll?.gather();
    }
    this.#roundEnding = true;
    try {
      if (this.#turnScheduled) this.#endTurn();
      this.#flush();
    } finally {
      this.#roundEnding = false;
    }
  }

  /**
   * Hands the core the frames `chunk` completes; false when one was malformed (answered, and the
   * connection is closing). Out of `#read`, so that the loop, which waits on an idle connection's
   * read for minutes, does not keep the last frame, and with it the previous read buffer.
   */
  #frames(
    conn: Connection | PolledConnection,
    decoder: FrameDecoder,
    chunk: Uint8Array,
    now: number,
  ): boolean {
    try {
      decoder.push(chunk, (frame) => this.#core.frame(conn.id, frame, decoder.order ?? "be", now));
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      this.#core.malformed(conn.id, error.code, error.message, now, error.id);
      return false;
    }
    return true;
  }

  /**
   * Runs an event that does not come from a connection's read loop (a password check's answer, a
   * timer, a drained socket). The server never stops for a failure in one: it is logged, and
   * the turn goes on for everyone else.
   */
  #event(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.#log("error", "event-failed", { error: String(error) });
    }
    this.#afterEvents();
  }

  /**
   * After the core handled events: when store writes or answers wait for a commit, end the turn
   * once everything ready now has been read (one commit for all of it); keep the timer armed.
   */
  #afterEvents(): void {
    // While a sync runs, what the turns write joins the batch committed when it is done.
    if (this.#core.needsCommit && !this.#turnScheduled && this.#syncing === undefined) {
      this.#turnScheduled = true;
      // In a poller round, the round's end ends the turn (#roundEnd), unless this is that end:
      // answers released by a batch synced there may write again.
      if (!this.#inRound || this.#roundEnding) {
        setImmediate(() => {
          if (this.#turnScheduled) this.#endTurn();
        });
      }
    }
    this.#armTimer();
  }

  #endTurn(): void {
    this.#turnScheduled = false;
    if (this.#store.sync !== undefined) {
      if (this.#syncing === undefined) {
        const ticket = this.#takeCommit();
        if (
          ticket !== undefined && !this.#releaseUnawaited(ticket) && !this.#releaseSynced(ticket)
        ) {
          this.#syncing = this.#sync(ticket);
        }
      }
    } else {
      try {
        this.#core.commit(Date.now());
      } catch (error) {
        this.#log("error", "commit-failed", { error: String(error) });
      }
    }
    this.#armTimer();
  }

  /**
   * Group commit with a store that syncs off this thread: commits what was written since the
   * last commit, and while its sync runs the event loop goes on, its turns writing the next
   * batch; once the sync is done, sends what waited for it ("300" only once a message is on
   * disk), and commits the next batch. One sync at a time, back to back while answers wait.
   */
  async #sync(first: CommitTicket | undefined): Promise<void> {
    try {
      for (let ticket = first;;) {
        let durable = true;
        try {
          await this.#store.sync!();
        } catch (error) {
          durable = false;
          this.#log("error", "store-sync-failed", { error: String(error) });
        }
        const synced = ticket;
        if (synced !== undefined) this.#event(() => this.#core.release(synced, durable));
        ticket = this.#takeCommit();
        if (ticket === undefined || this.#releaseUnawaited(ticket)) break;
      }
    } finally {
      this.#syncing = undefined;
    }
    this.#armTimer();
  }

  /**
   * Syncs the batch of `ticket` on this thread when the store finds that quick
   * (`Store.syncOnThread`), then sends what waited for it: no hop to another thread and back.
   * False when the sync is left to `#sync`.
   */
  #releaseSynced(ticket: CommitTicket): boolean {
    let durable = true;
    try {
      if (this.#store.syncOnThread?.() !== true) return false;
    } catch (error) {
      durable = false;
      this.#log("error", "store-sync-failed", { error: String(error) });
    }
    this.#event(() => this.#core.release(ticket, durable));
    return true;
  }

  /**
   * A committed batch that no answer waits for (history, deletions of delivered messages) does
   * not wait for a sync of its own: it is released at once and synced within `LAZY_SYNC_MS`.
   * A kill loses none of it (the commit is in the log); a power cut, at most that window.
   * False when answers wait for this batch: it needs `#sync`.
   */
  #releaseUnawaited(ticket: CommitTicket): boolean {
    if (ticket.actions.length > 0) return false;
    this.#event(() => this.#core.release(ticket, true));
    this.#lazySync ??= setTimeout(() => {
      this.#lazySync = undefined;
      this.#syncing ??= this.#sync(undefined);
    }, LAZY_SYNC_MS);
    return true;
  }

  #takeCommit(): CommitTicket | undefined {
    try {
      return this.#core.takeCommit(Date.now());
    } catch (error) {
      this.#log("error", "commit-failed", { error: String(error) });
      return undefined;
    }
  }

  /** Arms the one timer for the core's earliest deadline. Deadlines only ever come later than
   * those already set (now + a constant), so an armed timer is never too late. */
  #armTimer(): void {
    if (this.#timer !== undefined) return;
    const next = this.#core.nextDeadline();
    if (next === undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#event(() => this.#core.tick(Date.now()));
      this.#endTurn();
    }, Math.max(0, next - Date.now()));
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#listener.close();
    clearInterval(this.#sweeper);
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#lazySync !== undefined) clearTimeout(this.#lazySync);
    const now = Date.now();
    for (const id of this.#conns.keys()) this.#core.closed(id, now, "server shutting down");
    // Every session is closed: what waits for these commits sends nothing. close() syncs.
    this.#core.commit(now);
    await this.#syncing;
    await Promise.all([...this.#conns.values()].map((c) => c.closeAfterFlush()));
    this.#store.close();
    this.#files.close();
    this.#log("info", "stopped", {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

interface ConnectionEvents {
  /** Everything queued for `conn` was written. */
  writable(conn: ConnId): void;
  /** The send queue of `conn` overflowed; the connection is being closed. */
  slow(conn: ConnId): void;
}

/** Where the chunks of several frames joined for one write are cut from. */
const sendChunks = new Slabs(64 * 1024);

/** Whether `bytes` is a view into a buffer that holds more than it: a slab, shared with others. */
function isShared(bytes: Uint8Array): boolean {
  return bytes.byteLength !== bytes.buffer.byteLength;
}

/** Bytes queued for a socket: `bytes[start, end)`. */
interface Piece {
  bytes: Uint8Array;
  start: number;
  end: number;
}

/**
 * The frames queued for one socket, and their bytes, up to a limit: pieces of buffers, so that
 * frames forwarded as received need no view of their own. A piece that continues the last one in
 * the same buffer (a sender's frames to one recipient, read together) extends it: most turns
 * queue one piece, held without an array; the array is made for a second one and kept while in use.
 */
class SendQueue {
  #last: Piece | undefined;
  #earlier: Piece[] | undefined;
  #bytes = 0;
  #max: number;

  constructor(max: number) {
    this.#max = max;
  }

  get empty(): boolean {
    return this.#last === undefined;
  }

  /**
   * Queues `bytes[start, end)`; with `copy`, bytes in a shared buffer (a read slab, or a slab the
   * core or a join cut them from) get a copy of their own, so that a peer that reads slowly pins
   * only what waits for it, not buffers shared with others. False, and emptied, past the limit:
   * the reader is too slow.
   */
  push(bytes: Uint8Array, start: number, end: number, copy: boolean): boolean {
    if (copy && isShared(bytes)) {
      bytes = bytes.slice(start, end);
      start = 0;
      end = bytes.length;
    }
    const last = this.#last;
    if (last !== undefined && last.bytes === bytes && last.end === start) last.end = end;
    else {
      if (last !== undefined) (this.#earlier ??= []).push(last);
      this.#last = { bytes, start, end };
    }
    this.#bytes += end - start;
    if (this.#bytes <= this.#max) return true;
    this.clear();
    return false;
  }

  /**
   * Everything queued, as one chunk; the queue is empty after. With `own`, for a write that may
   * wait for the peer, the chunk has a buffer of its own, never a view into a shared one.
   */
  take(own = false): Uint8Array {
    const last = this.#last!;
    const earlier = this.#earlier;
    let chunk: Uint8Array;
    if (earlier === undefined || earlier.length === 0) {
      const { bytes, start, end } = last;
      if (own && isShared(bytes)) chunk = bytes.slice(start, end);
      else chunk = start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end);
    } else {
      chunk = own ? new Uint8Array(this.#bytes) : sendChunks.alloc(this.#bytes);
      earlier.push(last);
      let offset = 0;
      for (const { bytes, start, end } of earlier) {
        chunk.set(start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end), offset);
        offset += end - start;
      }
    }
    this.clear();
    return chunk;
  }

  clear(): void {
    this.#last = undefined;
    this.#bytes = 0;
    // The array is kept for the next turn, emptied; one that grew past 16 pieces is let go.
    const earlier = this.#earlier;
    if (earlier !== undefined) {
      if (earlier.length > 16) this.#earlier = undefined;
      else earlier.length = 0;
    }
  }
}

/** One socket's writer: a queue drained by one pending write, coalescing small frames. */
class Connection {
  readonly id: ConnId;
  readonly socket: Socket;
  #queue: SendQueue;
  #writing: Promise<void> | undefined;
  /** A socket write has not completed yet. */
  #inFlight = false;
  #closed = false;
  #closeRequested = false;
  #events: ConnectionEvents;

  constructor(id: ConnId, socket: Socket, maxBuffered: number, events: ConnectionEvents) {
    this.id = id;
    this.socket = socket;
    this.#queue = new SendQueue(maxBuffered);
    this.#events = events;
  }

  /** Queues `bytes[start, end)`. */
  send(bytes: Uint8Array, start = 0, end = bytes.length): void {
    if (this.#closed || this.#closeRequested) return;
    if (!this.#queue.push(bytes, start, end, this.#inFlight)) {
      this.#events.slow(this.id);
      this.#close();
      return;
    }
    this.#writing ??= this.#drain();
  }

  /** Closes once what was queued is written, or after `CLOSE_FLUSH_MS` if the peer does not read. */
  closeAfterFlush(): Promise<void> {
    this.#closeRequested = true;
    const writing = this.#writing;
    if (writing === undefined) {
      this.#close();
      return Promise.resolve();
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.#close();
        resolve();
      }, CLOSE_FLUSH_MS);
    });
    return Promise.race([writing, deadline]).finally(() => clearTimeout(timer));
  }

  async #drain(): Promise<void> {
    // Let the rest of this turn queue its frames, so they go out in one write.
    await Promise.resolve();
    try {
      while (!this.#queue.empty && !this.#closed) {
        // Its own bytes: a peer that stops reading holds this write, and must not pin a slab.
        const chunk = this.#queue.take(true);
        let offset = 0;
        this.#inFlight = true;
        while (offset < chunk.length) {
          offset += await this.socket.write(offset === 0 ? chunk : chunk.subarray(offset));
        }
        this.#inFlight = false;
        if (this.#queue.empty) this.#events.writable(this.id);
      }
    } catch {
      this.#close();
    }
    this.#writing = undefined;
    if (this.#closeRequested) this.#close();
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.socket.close();
    } catch {
      // Already closed by the peer or by a failed write.
    }
  }
}

/** What a polled connection tells the server, besides what every connection does. */
interface PolledEvents extends ConnectionEvents {
  /** Bytes that arrived on `conn` (its own to keep: never written again), read at `now`. */
  data(conn: PolledConnection, chunk: Uint8Array, now: number): void;
  /** The stream of `conn` ended: `null` at the peer's end, else why. */
  end(conn: PolledConnection, error: Error | null): void;
  /** Frames were queued for `conn`: it wants `flush()` at the end of this round. */
  queued(conn: PolledConnection): void;
}

/**
 * A connection served in push mode (net/epoll.ts): what arrives is handed over in the poller's
 * round, and what a round queues goes out at its end in one system call, without a promise.
 */
class PolledConnection implements Sink {
  readonly id: ConnId;
  readonly socket: EpollConn;
  readonly decoder = new FrameDecoder({ views: true });
  /** The server is done with it (`Server.#finish`): what still arrives is dropped. */
  finishing = false;
  #queue: SendQueue;
  /** In the server's list of connections to write, or being written now. */
  #listed = false;
  /** The socket took less than it was given: the rest waits for `writable()`. */
  #blocked = false;
  #closed = false;
  #closing: Promise<void> | undefined;
  #flushed: (() => void) | undefined;
  #events: PolledEvents;

  constructor(id: ConnId, socket: EpollConn, maxBuffered: number, events: PolledEvents) {
    this.id = id;
    this.socket = socket;
    this.#queue = new SendQueue(maxBuffered);
    this.#events = events;
  }

  data(chunk: Uint8Array, now: number): void {
    this.#events.data(this, chunk, now);
  }

  end(error: Error | null): void {
    this.#events.end(this, error);
  }

  writable(): void {
    this.#blocked = false;
    this.flush();
  }

  /** Queues `bytes[start, end)`. */
  send(bytes: Uint8Array, start = 0, end = bytes.length): void {
    if (this.#closed || this.#closing !== undefined) return;
    if (!this.#queue.push(bytes, start, end, this.#blocked)) {
      this.#events.slow(this.id);
      this.#close();
      return;
    }
    if (this.#listed || this.#blocked) return;
    this.#listed = true;
    this.#events.queued(this);
  }

  /** Writes what is queued, all of it in one system call when the socket takes it. */
  flush(): void {
    this.#listed = true;
    while (!this.#queue.empty && !this.#blocked && !this.#closed) {
      const chunk = this.#queue.take();
      let sent: number;
      try {
        sent = this.socket.trySend(chunk);
      } catch {
        this.#close();
        break;
      }
      if (sent < chunk.length) {
        // The rest waits: its own bytes, not a view into a shared slab.
        this.#queue.push(chunk, sent, chunk.length, true);
        this.#blocked = true;
        break;
      }
      // Everything went: the core may go on with a drain that waited for this.
      this.#events.writable(this.id);
    }
    this.#listed = false;
    if (this.#closing !== undefined && this.#queue.empty) this.#close();
  }

  /** Closes once what was queued is written, or after `CLOSE_FLUSH_MS` if the peer does not read. */
  closeAfterFlush(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#closing !== undefined) return this.#closing;
    if (this.#queue.empty) {
      this.#close();
      return Promise.resolve();
    }
    this.#closing = new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.#close(), CLOSE_FLUSH_MS);
      this.#flushed = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    return this.#closing;
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.clear();
    try {
      this.socket.close();
    } catch {
      // Already closed.
    }
    this.#flushed?.();
    this.#flushed = undefined;
  }
}

/** File descriptors kept for the store, the listener and the standard streams. */
const FD_RESERVE = 100;

/**
 * `DEFAULT_LIMITS.maxConnections`, lowered below this process's open-files limit when it can be
 * read: past that limit a connection would fail at accept instead of getting "503".
 */
function defaultMaxConnections(): number {
  const path = "/proc/self/limits";
  try {
    if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") {
      return DEFAULT_LIMITS.maxConnections;
    }
    const line = Deno.readTextFileSync(path).split("\n").find((l) =>
      l.startsWith("Max open files")
    );
    const soft = Number(line?.split(/\s+/)[3]);
    if (soft > FD_RESERVE) return Math.min(DEFAULT_LIMITS.maxConnections, soft - FD_RESERVE);
  } catch {
    // Not Linux: the default as it is.
  }
  return DEFAULT_LIMITS.maxConnections;
}

/** Why a connection whose first bytes were a TLS ClientHello was closed. */
const TLS_ON_PLAIN_PORT =
  "TLS handshake on a plain port (the client uses TLS; this server does not)";

/**
 * Why a connection the peer ended was closed: a truncated frame is malformed input too, said in
 * the one log line it gets.
 */
function closedByPeer(decoder: FrameDecoder): string {
  return decoder.buffered > 0
    ? `closed by peer in the middle of a frame (${decoder.buffered} bytes of it)`
    : "closed by peer";
}

/**
 * Whether a connection's first bytes are a TLS ClientHello: a handshake record (0x16) of TLS 1.x
 * (0x03, 0x01..0x04) whose first message is a ClientHello (0x01 at byte 5). A seed-000 client's
 * first frame can start 0x16 0x03 too (790 bytes, little-endian), but is of type 0: 0x00 at byte 2.
 */
function isTlsHandshake(bytes: Uint8Array, n: number): boolean {
  return n >= 6 && bytes[0] === 0x16 && bytes[1] === 0x03 && bytes[2]! >= 0x01 &&
    bytes[2]! <= 0x04 && bytes[5] === 0x01;
}

function makeLogger(
  emit: (line: string) => void,
  format: "text" | "json",
  min: LogLevel,
): CoreLogger {
  const threshold = LEVELS[min];
  return (level, event, fields) => {
    if (LEVELS[level] >= threshold) emit(formatLine(format, level, event, fields));
  };
}

/** One log line: `TIME LEVEL EVENT key=value …`, or one JSON object. */
export function formatLine(
  format: "text" | "json",
  level: LogLevel,
  event: string,
  fields: Record<string, string | number | boolean>,
): string {
  const time = new Date().toISOString();
  if (format === "json") return JSON.stringify({ time, level, event, ...fields });
  let line = `${time} ${level} ${event}`;
  for (const [key, value] of Object.entries(fields)) {
    const text = String(value);
    line += ` ${key}=${/^[^\s"=]+$/.test(text) ? text : JSON.stringify(text)}`;
  }
  return line;
}
