/**
 * Plain TCP on Linux without Deno's socket operations: libc's epoll, accept4, read and send,
 * called through Deno's FFI. One wait reports every socket that is ready; a read or a write is one
 * direct system call, made at once, instead of an asynchronous operation with a promise of its
 * own each. Sockets are non-blocking and edge-triggered; nothing is allocated per idle connection
 * but its object. TLS and other systems stay on `Deno.listen` (`listenEpoll` returns undefined).
 *
 * `EpollListener` and `EpollConn` have the shape of `Deno.TcpListener` and `Deno.TcpConn` that
 * the server uses (accept, read, write, close, remoteAddr), with the same errors: a read pending
 * when its connection is closed is `Interrupted`, anything after close is `BadResource`.
 *
 * Fairness: a read is answered at once while its connection has had less than `ROUND_BYTES` in
 * this round; beyond that it waits for the next round. So one peer that sends without a pause
 * gets its share per round like everyone else, timers run between rounds, and what a peer sent
 * before it closed (a file upload's window, say) is read to its end in a round or two.
 *
 * Push mode (`EpollConn.attach`), the server's: a connection hands what it reads to a `Sink` as
 * it comes, from the round itself, and `trySend` writes at once; no promise per read or write.
 * Reads land in a slab shared by all connections (a chunk is a view into it, never written
 * again), so a busy round makes no garbage per read. While rounds find work, and the owner
 * allows it (`EpollListener.mayBlock`), the next wait blocks this thread for up to `BLOCK_MS`
 * instead of parking off it: no thread hop per round. Other JavaScript work (timers, other I/O)
 * gets its turn at least every `YIELD_MS`, and after every round that resolved a promise or
 * while the owner does not allow blocking.
 *
 * @module
 */

// Sizes are u32: no read or write here comes near 4 GiB, and a 32-bit argument reaches the
// 64-bit size_t register zero-extended.
const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  accept4: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" },
  epoll_create1: { parameters: ["i32"], result: "i32" },
  epoll_ctl: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  epoll_wait: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32" },
  epoll_park: {
    name: "epoll_wait",
    parameters: ["i32", "buffer", "i32", "i32"],
    result: "i32",
    nonblocking: true,
  },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  write: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  send: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  strerror: { parameters: ["i32"], result: "pointer" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const NONBLOCK_CLOEXEC = 0o4000 | 0o2000000;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;
const IPPROTO_TCP = 6;
const TCP_NODELAY = 1;
const EPOLL_CTL_ADD = 1;
const EPOLLIN = 0x1;
const EPOLLOUT = 0x4;
const EPOLLERR = 0x8;
const EPOLLHUP = 0x10;
const EPOLLRDHUP = 0x2000;
const EPOLLET = 0x80000000;
const MSG_NOSIGNAL = 0x4000;
const EINTR = 4;
const EAGAIN = 11;
const ECONNABORTED = 103;
const EVENT_SIZE = 12;
const MAX_EVENTS = 256;
const BACKLOG = 1024;
const ROUND_BYTES = 256 * 1024;
/** Bytes of a read slab, and the least room left in it for a read of its own. */
const SLAB_BYTES = 64 * 1024;
const SLAB_MIN = 8 * 1024;
/** The longest a wait blocks this thread right after a round with work (ms). */
const BLOCK_MS = 1;
/** The longest the loop runs rounds without letting the rest of the event loop go on (ms). */
const YIELD_MS = 1;

let loaded: { libc: Libc; errno: Deno.UnsafePointerView } | null | undefined;

/** libc, when this is Linux and FFI is allowed; null otherwise (asked once). */
function libc(): { libc: Libc; errno: Deno.UnsafePointerView } | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  if (Deno.build.os !== "linux") return loaded;
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return loaded;
  try {
    const symbols = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
    loaded = {
      libc: symbols,
      errno: new Deno.UnsafePointerView(symbols.__errno_location()!),
    };
  } catch {
    // Not glibc (or no libc.so.6): Deno's own sockets serve.
  }
  return loaded;
}

/** Whether `listenEpoll` can serve here: Linux, glibc, and FFI allowed. */
export function epollAvailable(): boolean {
  return libc() !== null;
}

/** A system call's failure as Deno words and classes it: "Connection reset by peer (os error 104)". */
function osError(code: number): Error {
  const text = Deno.UnsafePointerView.getCString(libc()!.libc.strerror(code)!);
  const message = `${text} (os error ${code})`;
  switch (code) {
    case 32:
      return new Deno.errors.BrokenPipe(message);
    case 104:
      return new Deno.errors.ConnectionReset(message);
    case ECONNABORTED:
      return new Deno.errors.ConnectionAborted(message);
    case 110:
      return new Deno.errors.TimedOut(message);
    default:
      return new Error(message);
  }
}

function errno(): number {
  return libc()!.errno.getInt32(0);
}

/** What a socket, its listener or the wake-up event does with the readiness epoll reports. */
interface Ready {
  ready(events: number): void;
}

/** Where a connection in push mode (`EpollConn.attach`) hands what happens to it. */
export interface Sink {
  /**
   * Bytes that arrived: a view that is never written again, the sink's to keep; and when the
   * round that read them began (`Date.now()`, read once a round, not once a read).
   */
  data(chunk: Uint8Array, now: number): void;
  /**
   * The stream ended: `null` at the peer's end, else why (a failed read, or `Interrupted` once
   * the connection was closed here). Called once; nothing follows it.
   */
  end(error: Error | null): void;
  /** The socket takes writes again after `trySend` wrote less than it was given. */
  writable(): void;
}

/** One epoll instance and the loop that waits on it, shared by a listener and its connections. */
class Poller {
  #c: Libc;
  #ep: number;
  /** An eventfd in the set: written to end a wait that was parked off this thread. */
  #wake: number;
  #handlers = new Map<number, Ready>();
  /** Connections with data left unread and a read waiting: served at the next round. */
  #backlog: EpollConn[] = [];
  #events = new Uint8Array(EVENT_SIZE * MAX_EVENTS);
  #eventView = new DataView(this.#events.buffer);
  /** The buffer of a parked wait: another thread writes it, so it is never the one above. */
  #parkedEvents = new Uint8Array(EVENT_SIZE * MAX_EVENTS);
  #parkedView = new DataView(this.#parkedEvents.buffer);
  #parked = false;
  #round = 0;
  /** When the current round began (`Date.now()`, read once a round). */
  #now = 0;
  /** A read or an accept resolved a promise in this round: its continuations run before the next. */
  #promised = false;
  #inRound = false;
  /** Where reads in push mode land; `#slabUsed` bytes of it are handed out. */
  #slab = new Uint8Array(SLAB_BYTES);
  #slabUsed = 0;
  /** Runs at the end of every round (`EpollListener.onRoundEnd`). */
  roundEnd: (() => void) | undefined;
  /** Whether the loop may hold this thread (`EpollListener.mayBlock`). */
  mayBlock: () => boolean = () => true;
  /** 1 as a little-endian u64, written to the eventfd to wake the wait; reads empty it into
   * `#counter`. */
  #one = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);
  #counter = new Uint8Array(8);
  readonly finished: Promise<void>;

  constructor(c: Libc) {
    this.#c = c;
    this.#ep = c.epoll_create1(0o2000000);
    if (this.#ep < 0) throw osError(errno());
    this.#wake = c.eventfd(0, NONBLOCK_CLOEXEC);
    if (this.#wake < 0) {
      const error = osError(errno());
      c.close(this.#ep);
      throw error;
    }
    this.#add(this.#wake, EPOLLIN);
    this.finished = this.#run();
  }

  /** Watches `fd` (edge-triggered, reading and writing) for `handler`. */
  watch(fd: number, handler: Ready): void {
    this.#add(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET);
    this.#handlers.set(fd, handler);
  }

  /** Stops watching `fd` before it is closed; the loop ends with the last one. */
  forget(fd: number): void {
    this.#handlers.delete(fd);
    if (this.#handlers.size === 0) this.#wakeUp();
  }

  /** The number of the current round: a connection counts what it read in it. */
  get round(): number {
    return this.#round;
  }

  /**
   * Hands out, within the current round, what became ready since its wait (a wait that does not
   * block); the number of readiness events. For `roundEnd`, before it acts on what the round read.
   */
  gather(): number {
    const count = this.#c.epoll_wait(this.#ep, this.#events, MAX_EVENTS, 0);
    if (count > 0) this.#dispatch(this.#eventView, count);
    return count;
  }

  /** Whether readiness is being handed out now (the round's `roundEnd` has not run yet). */
  get inRound(): boolean {
    return this.#inRound;
  }

  /** When the current round began: `Date.now()` once a round, not once a read. */
  get now(): number {
    return this.#now;
  }

  /** A promise was resolved: the loop lets its continuations run before the next round. */
  promised(): void {
    this.#promised = true;
  }

  /** Free room in the read slab for a read of at most `limit` bytes (push mode). */
  slabRoom(limit: number): Uint8Array {
    if (this.#slab.length - this.#slabUsed < SLAB_MIN) {
      this.#slab = new Uint8Array(SLAB_BYTES);
      this.#slabUsed = 0;
    }
    const at = this.#slabUsed;
    return this.#slab.subarray(at, at + Math.min(limit, this.#slab.length - at));
  }

  /** The first `n` bytes of the last `slabRoom` were read into: they are the reader's now. */
  slabTake(n: number): void {
    this.#slabUsed += n;
  }

  /** `conn` has data left and a read waiting for it. */
  defer(conn: EpollConn): void {
    this.#backlog.push(conn);
    this.#wakeUp();
  }

  #add(fd: number, events: number): void {
    const event = new Uint8Array(EVENT_SIZE);
    const view = new DataView(event.buffer);
    view.setUint32(0, events >>> 0, true);
    view.setUint32(4, fd, true);
    if (this.#c.epoll_ctl(this.#ep, EPOLL_CTL_ADD, fd, event) < 0) throw osError(errno());
  }

  #wakeUp(): void {
    if (this.#parked) this.#c.write(this.#wake, this.#one, 8);
  }

  async #run(): Promise<void> {
    // The first watch comes right after the constructor.
    await Promise.resolve();
    let busy = false;
    let yielded = Date.now();
    while (this.#handlers.size > 0) {
      this.#round++;
      let count = this.#c.epoll_wait(this.#ep, this.#events, MAX_EVENTS, 0);
      // Right after a round with work the next is likely near: wait for it on this thread.
      if (count === 0 && busy && this.#backlog.length === 0 && this.mayBlock()) {
        count = this.#c.epoll_wait(this.#ep, this.#events, MAX_EVENTS, BLOCK_MS);
      }
      this.#now = Date.now();
      this.#inRound = true;
      if (count > 0) {
        this.#dispatch(this.#eventView, count);
      } else if (this.#backlog.length === 0) {
        // Nothing ready: wait off this thread, so that timers and other I/O go on meanwhile.
        this.#inRound = false;
        this.#parked = true;
        count = await this.#c.epoll_park(this.#ep, this.#parkedEvents, MAX_EVENTS, -1);
        this.#parked = false;
        this.#inRound = true;
        this.#now = yielded = Date.now();
        if (count > 0) this.#dispatch(this.#parkedView, count);
      }
      busy = count > 0;
      const backlog = this.#backlog;
      this.#backlog = [];
      for (const conn of backlog) conn.ready(EPOLLIN);
      this.roundEnd?.();
      this.#inRound = false;
      // What the round's reads resolved runs before the next round, and the rest of the event
      // loop (timers, other I/O) at least every YIELD_MS (or at once if the clock went back), or
      // after every round while the owner waits for it.
      const since = this.#now - yielded;
      if (this.#promised || !this.mayBlock() || since >= YIELD_MS || since < 0) {
        this.#promised = false;
        await new Promise<void>((resolve) => setImmediate(resolve));
        yielded = Date.now();
      }
    }
    this.#c.close(this.#wake);
    this.#c.close(this.#ep);
  }

  #dispatch(view: DataView, count: number): void {
    for (let i = 0; i < count; i++) {
      const fd = view.getUint32(i * EVENT_SIZE + 4, true);
      if (fd === this.#wake) {
        this.#c.read(this.#wake, this.#counter, 8);
        continue;
      }
      this.#handlers.get(fd)?.ready(view.getUint32(i * EVENT_SIZE, true));
    }
  }
}

interface Pending<T> {
  resolve(value: T): void;
  reject(error: Error): void;
}

/** A TCP connection served by a `Poller`. */
export class EpollConn implements Ready {
  readonly remoteAddr: Deno.NetAddr;
  readonly localAddr: Deno.NetAddr;
  #c: Libc;
  #fd: number;
  #poller: Poller;
  /** Unread data may be there: set by readiness, cleared by a read that came up short. */
  #readable = false;
  #closed = false;
  /** The peer ended its side or the socket failed: reads go on until they say so. */
  #ended = false;
  /** The round of the last read, and the bytes read in it (the module doc: fairness). */
  #round = 0;
  #taken = 0;
  #reader: (Pending<number | null> & { buffer: Uint8Array }) | undefined;
  #writer: (Pending<number> & { bytes: Uint8Array }) | undefined;
  /** Push mode (`attach`): where reads go until the stream ends (`#pushing`), and writability. */
  #sink: Sink | undefined;
  #pushing = false;
  /** `trySend` came up short: the sink hears when the socket takes more. */
  #wantsWrite = false;

  constructor(
    c: Libc,
    fd: number,
    poller: Poller,
    localAddr: Deno.NetAddr,
    remoteAddr: Deno.NetAddr,
  ) {
    this.#c = c;
    this.#fd = fd;
    this.#poller = poller;
    this.localAddr = localAddr;
    this.remoteAddr = remoteAddr;
  }

  /**
   * Push mode: from now on what arrives goes to `sink` as it comes, in the poller's round, and
   * `read` is not used. What is already waiting is read in the next round.
   */
  attach(sink: Sink): void {
    if (this.#closed) throw new Deno.errors.BadResource("Bad resource ID");
    if (this.#reader !== undefined) throw new Deno.errors.Busy("read pending");
    this.#sink = sink;
    this.#pushing = true;
    if (this.#readable) this.#poller.defer(this);
  }

  /**
   * Push mode: writes what the socket takes now, at once. When that is less than `bytes`, the
   * sink's `writable()` follows once it takes more. Throws as `write` rejects.
   */
  trySend(bytes: Uint8Array): number {
    if (this.#closed) throw new Deno.errors.BadResource("Bad resource ID");
    const sent = this.#send(bytes);
    if (sent === -EAGAIN) {
      this.#wantsWrite = true;
      return 0;
    }
    if (sent < 0) throw osError(-sent);
    if (sent < bytes.length) this.#wantsWrite = true;
    return sent;
  }

  /** Reads into `buffer`: the count, or null at the end of the stream. */
  read(buffer: Uint8Array): Promise<number | null> {
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("Bad resource ID"));
    if (this.#reader !== undefined || this.#sink !== undefined) {
      return Promise.reject(new Deno.errors.Busy("read pending"));
    }
    return new Promise((resolve, reject) => {
      this.#reader = { buffer, resolve, reject };
      if (!this.#readable) return;
      if (this.#share() <= 0) {
        this.#poller.defer(this);
      } else {
        this.#read(this.#reader);
      }
    });
  }

  /** Writes what the socket takes now (maybe less than all), or waits until it takes some. */
  write(bytes: Uint8Array): Promise<number> {
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("Bad resource ID"));
    if (this.#writer !== undefined) return Promise.reject(new Deno.errors.Busy("write pending"));
    const sent = this.#send(bytes);
    if (sent >= 0) return Promise.resolve(sent);
    if (sent !== -EAGAIN) return Promise.reject(osError(-sent));
    return new Promise((resolve, reject) => {
      this.#writer = { bytes, resolve, reject };
    });
  }

  setNoDelay(noDelay = true): void {
    if (this.#closed) throw new Deno.errors.BadResource("Bad resource ID");
    setFlag(this.#c, this.#fd, IPPROTO_TCP, TCP_NODELAY, noDelay);
  }

  close(): void {
    if (this.#closed) throw new Deno.errors.BadResource("Bad resource ID");
    this.#closed = true;
    this.#poller.forget(this.#fd);
    this.#c.close(this.#fd);
    const reader = this.#reader;
    const writer = this.#writer;
    const sink = this.#pushing ? this.#sink : undefined;
    this.#reader = undefined;
    this.#writer = undefined;
    this.#sink = undefined;
    this.#pushing = false;
    this.#poller.promised();
    reader?.reject(new Deno.errors.Interrupted("operation canceled"));
    writer?.reject(new Deno.errors.Interrupted("operation canceled"));
    // As a pending read learns of it: after what closed it is done.
    if (sink !== undefined) {
      queueMicrotask(() => sink.end(new Deno.errors.Interrupted("operation canceled")));
    }
  }

  ready(events: number): void {
    if (this.#closed) return;
    if ((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) !== 0) this.#ended = true;
    if (this.#sink !== undefined) return this.#push(events, this.#sink);
    if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) !== 0) {
      this.#readable = true;
      if (this.#reader !== undefined) this.#read(this.#reader);
    }
    if ((events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) !== 0 && this.#writer !== undefined) {
      const writer = this.#writer;
      const sent = this.#send(writer.bytes);
      if (sent === -EAGAIN) return;
      this.#writer = undefined;
      this.#poller.promised();
      if (sent >= 0) writer.resolve(sent);
      else writer.reject(osError(-sent));
    }
  }

  /** Push mode: reads what is there (up to the round's share), then tells of writability. */
  #push(events: number, sink: Sink): void {
    if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) !== 0 && this.#pushing) {
      this.#readable = true;
      while (this.#readable && this.#pushing) {
        const share = this.#share();
        if (share <= 0) {
          this.#poller.defer(this);
          break;
        }
        const room = this.#poller.slabRoom(share);
        const n = this.#readInto(room);
        if (n === -EAGAIN) {
          this.#readable = false;
          break;
        }
        if (n < 0) return this.#end(osError(-n), sink);
        if (n === 0) return this.#end(null, sink);
        this.#poller.slabTake(n);
        this.#took(n);
        // As in #read: a short read took all there was, unless the stream ended with it.
        if (n < room.length && !this.#ended) this.#readable = false;
        sink.data(room.subarray(0, n), this.#poller.now);
      }
    }
    if ((events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) !== 0 && this.#wantsWrite && !this.#closed) {
      this.#wantsWrite = false;
      sink.writable();
    }
  }

  /** Push mode: the stream ended; the sink learns of it once. */
  #end(error: Error | null, sink: Sink): void {
    this.#pushing = false;
    this.#readable = false;
    sink.end(error);
  }

  #read(reader: Pending<number | null> & { buffer: Uint8Array }): void {
    const n = this.#readInto(reader.buffer);
    if (n === -EAGAIN) {
      this.#readable = false;
      return;
    }
    this.#reader = undefined;
    if (n < 0) {
      reader.reject(osError(-n));
      return;
    }
    this.#took(n);
    // A short read took all there was: more data will be reported as it comes (edge-triggered).
    // Not the end of the stream or an error, though: they were reported once, maybe with data.
    if (n > 0 && n < reader.buffer.length && !this.#ended) this.#readable = false;
    this.#poller.promised();
    reader.resolve(n === 0 ? null : n);
  }

  /** What this connection may still read in the current round (the module doc: fairness). */
  #share(): number {
    this.#sameRound();
    return ROUND_BYTES - this.#taken;
  }

  /** Counts `n` bytes read against the current round's share. */
  #took(n: number): void {
    this.#sameRound();
    this.#taken += n;
  }

  /** What was read in an earlier round no longer counts. */
  #sameRound(): void {
    if (this.#round === this.#poller.round) return;
    this.#round = this.#poller.round;
    this.#taken = 0;
  }

  /** The count read into `buffer` (0 at the end of the stream), or minus the error number. */
  #readInto(buffer: Uint8Array): number {
    let n: number;
    do n = this.#c.read(this.#fd, buffer, buffer.length); while (n < 0 && errno() === EINTR);
    return n < 0 ? -errno() : n;
  }

  /** The count sent, or minus the error number. */
  #send(bytes: Uint8Array): number {
    let n: number;
    do n = this.#c.send(this.#fd, bytes, bytes.length, MSG_NOSIGNAL); while (
      n < 0 && errno() === EINTR
    );
    return n < 0 ? -errno() : n;
  }
}

/** A listening TCP socket served by a `Poller`, its connections served by the same one. */
export class EpollListener implements Ready {
  readonly addr: Deno.NetAddr;
  #c: Libc;
  #fd: number;
  #poller: Poller;
  #closed = false;
  #acceptor: Pending<EpollConn> | undefined;
  #address = new Uint8Array(128);
  #length = new Uint32Array(1);
  #lengthBytes = new Uint8Array(this.#length.buffer);

  constructor(c: Libc, fd: number, addr: Deno.NetAddr) {
    this.#c = c;
    this.#fd = fd;
    this.addr = addr;
    this.#poller = new Poller(c);
    this.#poller.watch(fd, this);
  }

  /**
   * Runs `fn` at the end of every round, once what was ready has been handed out: where a server
   * in push mode ends its turn and writes what the round queued.
   */
  onRoundEnd(fn: () => void): void {
    this.#poller.roundEnd = fn;
  }

  /**
   * In `onRoundEnd`'s function: hands out what became ready while the round ran, as part of it
   * (what a round's end commits can then include frames that came meanwhile). The number of
   * readiness events.
   */
  gather(): number {
    return this.#poller.gather();
  }

  /**
   * Whether the loop may hold this thread: block a wait (for at most `BLOCK_MS`) right after a
   * round with work, and run rounds back to back (for at most `YIELD_MS`). No, while a promise
   * the owner waits for must resolve as soon as it can: then every round yields.
   */
  set mayBlock(fn: () => boolean) {
    this.#poller.mayBlock = fn;
  }

  /** Whether readiness is being handed out now: `onRoundEnd` is still to come. */
  get inRound(): boolean {
    return this.#poller.inRound;
  }

  /**
   * The next connection. A failure (out of file descriptors) rejects; the connection stays in the
   * queue, and the next call tries it again.
   */
  accept(): Promise<EpollConn> {
    if (this.#closed) {
      return Promise.reject(new Deno.errors.BadResource("Listener has been closed"));
    }
    if (this.#acceptor !== undefined) return Promise.reject(new Deno.errors.Busy("accept pending"));
    return new Promise((resolve, reject) => {
      this.#acceptor = { resolve, reject };
      this.#accept();
    });
  }

  close(): void {
    if (this.#closed) throw new Deno.errors.BadResource("Listener has been closed");
    this.#closed = true;
    this.#poller.forget(this.#fd);
    this.#c.close(this.#fd);
    const acceptor = this.#acceptor;
    this.#acceptor = undefined;
    acceptor?.reject(new Deno.errors.BadResource("Listener has been closed"));
  }

  ready(): void {
    if (this.#acceptor !== undefined) this.#accept();
  }

  #accept(): void {
    const acceptor = this.#acceptor!;
    let fd: number;
    while (true) {
      this.#length[0] = this.#address.length;
      fd = this.#c.accept4(this.#fd, this.#address, this.#lengthBytes, NONBLOCK_CLOEXEC);
      if (fd >= 0) break;
      const code = errno();
      // Nothing queued: wait for the next. Interrupted, or a connection that went away before it
      // was taken: the next in the queue (no new readiness would come for it).
      if (code === EAGAIN) return;
      if (code === EINTR || code === ECONNABORTED) continue;
      this.#acceptor = undefined;
      acceptor.reject(osError(code));
      return;
    }
    this.#acceptor = undefined;
    const remote = socketAddress(this.#address);
    this.#length[0] = this.#address.length;
    // The address the peer reached: the listener's own, unless it listens on 0.0.0.0 or ::.
    const local = this.#c.getsockname(fd, this.#address, this.#lengthBytes) < 0
      ? this.addr
      : socketAddress(this.#address);
    const conn = new EpollConn(this.#c, fd, this.#poller, local, remote);
    try {
      this.#poller.watch(fd, conn);
    } catch (error) {
      this.#c.close(fd);
      acceptor.reject(error as Error);
      return;
    }
    this.#poller.promised();
    acceptor.resolve(conn);
  }
}

/**
 * Listens on `hostname` (an IPv4 or IPv6 literal) and `port` through epoll; undefined where that
 * cannot serve (not Linux, FFI not allowed, a host name to resolve): `Deno.listen` is used then.
 * Throws as `Deno.listen` does when the address is taken (`AddrInUse`) or not allowed.
 */
export function listenEpoll(
  address: { hostname: string; port: number },
): EpollListener | undefined {
  const loadedLibc = libc();
  const sockaddr = encodeAddress(address.hostname, address.port);
  if (loadedLibc === null || sockaddr === undefined) return undefined;
  const c = loadedLibc.libc;
  // Deno's own permission check, as `Deno.listen` makes it.
  if (Deno.permissions.querySync({ name: "net", host: address.hostname }).state !== "granted") {
    throw new Deno.errors.NotCapable(`Requires net access to "${address.hostname}"`);
  }
  const fd = c.socket(
    sockaddr[0] === AF_INET ? AF_INET : AF_INET6,
    SOCK_STREAM | NONBLOCK_CLOEXEC,
    0,
  );
  if (fd < 0) throw osError(errno());
  try {
    setFlag(c, fd, SOL_SOCKET, SO_REUSEADDR, true);
    if (c.bind(fd, sockaddr, sockaddr.length) < 0 || c.listen(fd, BACKLOG) < 0) {
      const code = errno();
      if (code === 98) throw new Deno.errors.AddrInUse(`Address already in use (os error ${code})`);
      throw osError(code);
    }
    const bound = new Uint8Array(128);
    const length = new Uint32Array([bound.length]);
    if (c.getsockname(fd, bound, new Uint8Array(length.buffer)) < 0) throw osError(errno());
    return new EpollListener(c, fd, socketAddress(bound));
  } catch (error) {
    c.close(fd);
    throw error;
  }
}

function setFlag(c: Libc, fd: number, level: number, name: number, on: boolean): void {
  const value = new Int32Array([on ? 1 : 0]);
  if (c.setsockopt(fd, level, name, new Uint8Array(value.buffer), 4) < 0) throw osError(errno());
}

/** A sockaddr_in or sockaddr_in6 of an IP literal and a port; undefined for anything else. */
export function encodeAddress(hostname: string, port: number): Uint8Array | undefined {
  const v4 = parseIpv4(hostname);
  if (v4 !== undefined) {
    const address = new Uint8Array(16);
    new DataView(address.buffer).setUint16(2, port, false);
    address[0] = AF_INET;
    address.set(v4, 4);
    return address;
  }
  const v6 = parseIpv6(hostname);
  if (v6 === undefined) return undefined;
  const address = new Uint8Array(28);
  new DataView(address.buffer).setUint16(2, port, false);
  address[0] = AF_INET6;
  address.set(v6, 8);
  return address;
}

/** The address and port of a sockaddr_in or sockaddr_in6, as Deno writes them. */
export function socketAddress(bytes: Uint8Array): Deno.NetAddr {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const port = view.getUint16(2, false);
  const family = view.getUint16(0, true);
  const hostname = family === AF_INET
    ? Array.from(bytes.subarray(4, 8)).join(".")
    : formatIpv6(bytes.subarray(8, 24));
  return { transport: "tcp", hostname, port };
}

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((part) => /^(0|[1-9][0-9]{0,2})$/.test(part))) {
    return undefined;
  }
  const bytes = parts.map(Number);
  return bytes.every((byte) => byte <= 255) ? new Uint8Array(bytes) : undefined;
}

function parseIpv6(text: string): Uint8Array | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (half: string) => half === "" ? [] : half.split(":");
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  // A dotted IPv4 ending ("::ffff:192.0.2.1") is two groups.
  const last = halves.length === 2 ? tail : head;
  const v4 = last.length > 0 ? parseIpv4(last[last.length - 1]!) : undefined;
  if (v4 !== undefined) {
    last.splice(
      last.length - 1,
      1,
      ((v4[0]! << 8) | v4[1]!).toString(16),
      ((v4[2]! << 8) | v4[3]!).toString(16),
    );
  }
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  if (!all.every((group) => /^[0-9a-fA-F]{1,4}$/.test(group))) return undefined;
  const bytes = new Uint8Array(16);
  all.forEach((group, i) =>
    new DataView(bytes.buffer).setUint16(i * 2, parseInt(group, 16), false)
  );
  return bytes;
}

/** RFC 5952: lower case, the longest run of two or more zero groups as "::", IPv4-mapped dotted. */
function formatIpv6(bytes: Uint8Array): string {
  const view = new DataView(bytes.buffer, bytes.byteOffset, 16);
  const groups = Array.from({ length: 8 }, (_, i) => view.getUint16(i * 2, false));
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    return `::ffff:${Array.from(bytes.subarray(12, 16)).join(".")}`;
  }
  let best = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      best = i;
      bestLength = j - i;
    }
    i = j === i ? i + 1 : j;
  }
  const text = groups.map((group) => group.toString(16));
  if (best < 0) return text.join(":");
  const head = text.slice(0, best).join(":");
  const tail = text.slice(best + bestLength).join(":");
  return `${head}::${tail}`;
}
