// deno-lint-ignore-file no-console -- a yardstick prints its listening line
/**
 * A yardstick, not part of tinychat: the least a Deno relay of protocol v1 can do, to measure what
 * the runtime's sockets cost on their own (docs/PERFORMANCE.md). HELLO is answered "200", every
 * other frame goes as received to the connection of its dst; no checks, no store, no timers.
 * Frames of one turn go out in one write per connection.
 *
 *   deno run -A scripts/perf/bare_relay.ts PORT          Deno.listen / Deno.Conn
 *   deno run -A scripts/perf/bare_relay.ts PORT --epoll  net/epoll.ts (libc's epoll over FFI)
 *   deno run -A scripts/perf/bare_relay.ts PORT --push   net/epoll.ts in push mode, tinychat's
 *   deno run -A scripts/perf/bare_relay.ts PORT --node   node:net
 *
 * @module
 */
import net from "node:net";
import { type EpollConn, listenEpoll, type Sink } from "../../net/epoll.ts";
import { concatBytes } from "../../protocol/bytes.ts";

const decoder = new TextDecoder();
const HEADER = 24;

/** Where a relay sends frames: the connection of a name. */
interface Peer {
  send(frame: Uint8Array): void;
}

const byName = new Map<string, Peer>();

function nameAt(bytes: Uint8Array, at: number): string {
  let end = at;
  let ascii = true;
  for (; end < at + 8 && bytes[end] !== 0; end++) ascii &&= bytes[end]! < 0x80;
  if (!ascii) return decoder.decode(bytes.subarray(at, end));
  let name = "";
  for (let i = at; i < end; i++) name += String.fromCharCode(bytes[i]!);
  return name;
}

/** The login answer to a HELLO: type 1, its id, dst = the name, "200". */
function welcome(hello: Uint8Array): Uint8Array {
  const answer = new Uint8Array(HEADER + 3);
  answer[1] = HEADER + 3;
  answer[3] = 1;
  answer.set(hello.subarray(4, 8), 4);
  answer.set(hello.subarray(8, 16), 16);
  answer.set([0x32, 0x30, 0x30], HEADER);
  return answer;
}

/** Relays the whole frames of `data` from `from`; returns the bytes of an unfinished one. */
function relay(data: Uint8Array, from: Peer): Uint8Array {
  let at = 0;
  while (data.length - at >= 2) {
    const length = (data[at]! << 8) | data[at + 1]!;
    if (length < HEADER || data.length - at < length) break;
    const frame = data.subarray(at, at + length);
    if (((frame[2]! << 8) | frame[3]!) === 3) {
      byName.set(nameAt(frame, 8), from);
      from.send(welcome(frame));
    } else {
      byName.get(nameAt(frame, 16))?.send(frame);
    }
    at += length;
  }
  return at === data.length ? NOTHING : data.slice(at);
}

const NOTHING = new Uint8Array(0);

function join(rest: Uint8Array, chunk: Uint8Array): Uint8Array {
  return rest.length === 0 ? chunk : concatBytes([rest, chunk]);
}

/** What `DenoPeer` needs of a connection: `Deno.TcpConn` and `EpollConn` have it. */
interface Conn {
  read(buffer: Uint8Array): Promise<number | null>;
  write(bytes: Uint8Array): Promise<number>;
  setNoDelay(on: boolean): void;
  close(): void;
}

/** A Deno.Conn or EpollConn peer: frames of a turn queued, written by one pending write. */
class DenoPeer implements Peer {
  #conn: Conn;
  #queue: Uint8Array[] = [];
  #writing = false;

  constructor(conn: Conn) {
    this.#conn = conn;
  }

  send(frame: Uint8Array): void {
    this.#queue.push(frame);
    if (this.#writing) return;
    this.#writing = true;
    queueMicrotask(() => void this.#drain().catch(() => this.#conn.close()));
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const queue = this.#queue;
      this.#queue = [];
      const chunk = queue.length === 1 ? queue[0]! : concatBytes(queue);
      for (let offset = 0; offset < chunk.length;) {
        offset += await this.#conn.write(chunk.subarray(offset));
      }
    }
    this.#writing = false;
  }

  async read(): Promise<void> {
    this.#conn.setNoDelay(true);
    let rest: Uint8Array = new Uint8Array(0);
    while (true) {
      const buffer = new Uint8Array(8192);
      const n = await this.#conn.read(buffer);
      if (n === null) break;
      rest = relay(join(rest, buffer.subarray(0, n)), this);
    }
  }
}

/**
 * A connection in push mode, as tinychat's server serves one: reads handed over in the poller's
 * round (views into its read slab, never written again, so frames go on as they came), frames
 * queued and written at the round's end with one system call.
 */
class PushPeer implements Peer, Sink {
  #conn: EpollConn;
  #queue: Uint8Array[] = [];
  #blocked = false;
  #rest: Uint8Array = NOTHING;

  constructor(conn: EpollConn) {
    this.#conn = conn;
  }

  send(frame: Uint8Array): void {
    if (this.#queue.push(frame) === 1 && !this.#blocked) unflushed.push(this);
  }

  data(chunk: Uint8Array): void {
    this.#rest = relay(join(this.#rest, chunk), this);
  }

  end(): void {
    this.#conn.close();
  }

  writable(): void {
    this.#blocked = false;
    this.flush();
  }

  flush(): void {
    const queue = this.#queue;
    if (queue.length === 0 || this.#blocked) return;
    const chunk = queue.length === 1 ? queue[0]! : concatBytes(queue);
    queue.length = 0;
    let sent: number;
    try {
      sent = this.#conn.trySend(chunk);
    } catch {
      return; // Closed: what was queued for it goes nowhere.
    }
    if (sent < chunk.length) {
      queue.push(chunk.slice(sent));
      this.#blocked = true;
    }
  }
}

const unflushed: PushPeer[] = [];
const port = Number(Deno.args[0] ?? 9000);
if (Deno.args.includes("--node")) {
  net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on("error", () => socket.destroy());
    const peer: Peer = {
      send(frame) {
        if (!socket.writableCorked) {
          socket.cork();
          queueMicrotask(() => socket.uncork());
        }
        socket.write(frame);
      },
    };
    let rest: Uint8Array = new Uint8Array(0);
    socket.on("data", (chunk: Uint8Array) => {
      rest = relay(join(rest, chunk), peer);
    });
  }).listen(port, "127.0.0.1", () => console.log(`listening 127.0.0.1:${port}`));
} else if (Deno.args.includes("--push")) {
  const listener = listenEpoll({ hostname: "127.0.0.1", port });
  if (listener === undefined) throw new Error("epoll needs Linux and --allow-ffi");
  listener.onRoundEnd(() => {
    for (const peer of unflushed) peer.flush();
    unflushed.length = 0;
  });
  console.log(`listening 127.0.0.1:${port}`);
  while (true) {
    const conn = await listener.accept();
    conn.setNoDelay(true);
    conn.attach(new PushPeer(conn));
  }
} else if (Deno.args.includes("--epoll")) {
  const listener = listenEpoll({ hostname: "127.0.0.1", port });
  if (listener === undefined) throw new Error("epoll needs Linux and --allow-ffi");
  console.log(`listening 127.0.0.1:${port}`);
  while (true) {
    const conn = await listener.accept();
    void new DenoPeer(conn).read().catch(() => conn.close());
  }
} else {
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  console.log(`listening 127.0.0.1:${port}`);
  for await (const conn of listener) void new DenoPeer(conn).read().catch(() => conn.close());
}
