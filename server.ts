import { type ConnId, type CoreLogger, type LogLevel, ServerCore } from "./core/server_core.ts";
import { FrameDecoder, FrameError } from "./protocol/mod.ts";
import { SqliteStore } from "./store/sqlite_store.ts";
import { MemoryStore } from "./store/memory_store.ts";
import type { Store } from "./store/store.ts";

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
  /** Bytes queued for one connection beyond which it is closed as a slow reader. Default 8 MiB. */
  maxBuffered?: number;
  /** Where log lines go; default: none. */
  log?: (line: string) => void;
  /** Format of log lines. Default "text". */
  logFormat?: "text" | "json";
  /** The least severe level logged. Default "info". */
  logLevel?: LogLevel;
  /** Aborting stops the server (as `close()` does). */
  signal?: AbortSignal;
}

/** A running server. */
export interface TinychatServer extends AsyncDisposable {
  /** The address it listens on (the real port when 0 was asked for). */
  readonly addr: Deno.NetAddr;
  /** Resolves when the server has stopped. */
  readonly finished: Promise<void>;
  /** Stops accepting, hands every connection its last frames, commits the store and closes it. */
  close(): Promise<void>;
}

const LEVELS: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const MIN_READ = 512;
const ACCEPT_RETRY_MS = 100;
/** How long a closing connection may take to write what was queued for it. */
const CLOSE_FLUSH_MS = 1000;
const MAX_READ = 64 * 1024;

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
    await Deno.mkdir(options.dataDir, { recursive: true });
    store = new SqliteStore(`${options.dataDir}/tinychat.db`);
  } else {
    store = new MemoryStore();
  }
  const listener = Deno.listen({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 9000,
  });
  const server = new Server(listener, store, options);
  return server;
}

class Server implements TinychatServer {
  readonly addr: Deno.NetAddr;
  readonly finished: Promise<void>;
  #listener: Deno.TcpListener;
  #store: Store;
  #core: ServerCore;
  #conns = new Map<ConnId, Connection>();
  #nextId = 1;
  #maxBuffered: number;
  #turnScheduled = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closing: Promise<void> | undefined;
  #log: CoreLogger;

  constructor(listener: Deno.TcpListener, store: Store, options: ServeOptions) {
    this.#listener = listener;
    this.addr = listener.addr;
    this.#store = store;
    this.#maxBuffered = options.maxBuffered ?? 8 * 1024 * 1024;
    const emit = options.log ?? (() => {});
    // One logger for every line, so that --log-format and --log-level apply to all of them.
    const log = makeLogger(emit, options.logFormat ?? "text", options.logLevel ?? "info");
    this.#log = log;
    this.#core = new ServerCore({
      store,
      log,
      ackTimeoutMs: options.ackTimeoutMs ?? 3000,
      maxQueue: options.maxQueue ?? 100_000,
      outbox: {
        send: (conn, bytes) => this.#conns.get(conn)?.send(bytes),
        close: (conn) => this.#conns.get(conn)?.closeAfterFlush(),
      },
    });
    options.signal?.addEventListener("abort", () => void this.close(), { once: true });
    this.finished = this.#accept();
  }

  async #accept(): Promise<void> {
    while (this.#closing === undefined) {
      let socket: Deno.TcpConn;
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

  #open(socket: Deno.TcpConn): void {
    if (this.#closing !== undefined) {
      socket.close();
      return;
    }
    const id = this.#nextId++;
    try {
      socket.setNoDelay(true);
    } catch {
      // The peer may already be gone; the read loop will see it.
    }
    const peer = `${socket.remoteAddr.hostname}:${socket.remoteAddr.port}`;
    const conn = new Connection(id, socket, this.#maxBuffered, {
      writable: () => this.#event(() => this.#core.writable(id, Date.now())),
      // Not from inside the core's send: the core learns of it once its current event is done.
      slow: () =>
        queueMicrotask(() => {
          this.#core.closed(id, Date.now(), "slow reader: send queue full");
          this.#afterEvents();
        }),
    });
    this.#conns.set(id, conn);
    this.#core.open(id, Date.now(), peer);
    void this.#read(conn);
  }

  async #read(conn: Connection): Promise<void> {
    // Frames are views into the chunk they came in: a chunk is never written again once read,
    // and the next read gets a fresh one sized by the last (small while the peer is idle).
    const decoder = new FrameDecoder({ views: true });
    let size = MIN_READ;
    let reason = "closed by peer";
    try {
      while (true) {
        const buffer = new Uint8Array(size);
        const n = await conn.socket.read(buffer);
        if (n === null) {
          // A truncated frame is malformed input too: say so in the one log line it gets.
          if (decoder.buffered > 0) {
            reason = `closed by peer in the middle of a frame (${decoder.buffered} bytes of it)`;
          }
          break;
        }
        const now = Date.now();
        try {
          for (const frame of decoder.push(buffer.subarray(0, n))) {
            this.#core.frame(conn.id, frame, decoder.order ?? "be", now);
          }
        } catch (error) {
          if (!(error instanceof FrameError)) throw error;
          this.#core.malformed(conn.id, error.code, error.message, now, error.id);
          reason = "";
          break;
        }
        this.#afterEvents();
        size = Math.min(MAX_READ, Math.max(MIN_READ, n === size ? size * 2 : n * 2));
      }
    } catch (error) {
      reason = error instanceof Error ? error.message : String(error);
    }
    if (reason !== "") this.#core.closed(conn.id, Date.now(), reason);
    this.#afterEvents();
    await conn.closeAfterFlush();
    this.#conns.delete(conn.id);
  }

  #event(fn: () => void): void {
    fn();
    this.#afterEvents();
  }

  /**
   * After the core handled events: when store writes or answers wait for a commit, end the turn
   * once everything ready now has been read (one commit for all of it); keep the timer armed.
   */
  #afterEvents(): void {
    if (this.#core.needsCommit && !this.#turnScheduled) {
      this.#turnScheduled = true;
      setImmediate(() => this.#endTurn());
    }
    this.#armTimer();
  }

  #endTurn(): void {
    this.#turnScheduled = false;
    this.#core.commit(Date.now());
    this.#armTimer();
  }

  /** Arms the one timer for the core's earliest deadline. Deadlines only ever come later than
   * those already set (now + a constant), so an armed timer is never too late. */
  #armTimer(): void {
    if (this.#timer !== undefined) return;
    const next = this.#core.nextDeadline();
    if (next === undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#core.tick(Date.now());
      this.#endTurn();
    }, Math.max(0, next - Date.now()));
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#listener.close();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const now = Date.now();
    for (const id of this.#conns.keys()) this.#core.closed(id, now, "server shutting down");
    this.#core.commit(now);
    await Promise.all([...this.#conns.values()].map((c) => c.closeAfterFlush()));
    this.#store.close();
    this.#log("info", "stopped", {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

interface ConnectionEvents {
  /** Everything queued was written. */
  writable(): void;
  /** The send queue overflowed; the connection is being closed. */
  slow(): void;
}

/** One socket's writer: a queue drained by one pending write, coalescing small frames. */
class Connection {
  readonly id: ConnId;
  readonly socket: Deno.TcpConn;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #writing: Promise<void> | undefined;
  #closed = false;
  #closeRequested = false;
  #maxBuffered: number;
  #events: ConnectionEvents;

  constructor(id: ConnId, socket: Deno.TcpConn, maxBuffered: number, events: ConnectionEvents) {
    this.id = id;
    this.socket = socket;
    this.#maxBuffered = maxBuffered;
    this.#events = events;
  }

  send(bytes: Uint8Array): void {
    if (this.#closed || this.#closeRequested) return;
    this.#queue.push(bytes);
    this.#queued += bytes.length;
    if (this.#queued > this.#maxBuffered) {
      this.#queue = [];
      this.#queued = 0;
      this.#events.slow();
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
      while (this.#queue.length > 0 && !this.#closed) {
        const chunk = this.#queue.length === 1
          ? this.#queue[0]!
          : concat(this.#queue, this.#queued);
        this.#queue = [];
        this.#queued = 0;
        let offset = 0;
        while (offset < chunk.length) offset += await this.socket.write(chunk.subarray(offset));
        if (this.#queue.length === 0) this.#events.writable();
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

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
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
