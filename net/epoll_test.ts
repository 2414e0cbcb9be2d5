import assert from "node:assert/strict";
import { concatBytes } from "../protocol/bytes.ts";
import {
  encodeAddress,
  epollAvailable,
  type EpollConn,
  type EpollListener,
  listenEpoll,
  type Sink,
  socketAddress,
} from "./epoll.ts";

const ignore = !epollAvailable();
const ipv6 = canListen("::1");
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function canListen(hostname: string): boolean {
  try {
    Deno.listen({ hostname, port: 0 }).close();
    return true;
  } catch {
    return false;
  }
}

function listen(hostname = "127.0.0.1"): EpollListener {
  const listener = listenEpoll({ hostname, port: 0 });
  assert.ok(listener !== undefined, `epoll cannot serve ${hostname} here`);
  return listener;
}

/** A connection accepted by `listener` and its Deno client, connected to `hostname`. */
async function pair(
  listener: EpollListener,
  hostname = "127.0.0.1",
): Promise<[EpollConn, Deno.TcpConn]> {
  const client = await Deno.connect({ hostname, port: listener.addr.port });
  return [await within(listener.accept(), "accept"), client];
}

/** `promise`, or a rejection after `ms`: a bug that hangs fails the test instead. */
async function within<T>(promise: Promise<T>, what: string, ms = 3000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

type Reader = { read(buffer: Uint8Array): Promise<number | null> };

async function readToEnd(reader: Reader, chunkSize = 64 * 1024): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const buffer = new Uint8Array(chunkSize);
    const n = await reader.read(buffer);
    if (n === null) break;
    chunks.push(buffer.subarray(0, n));
    total += n;
  }
  return concatBytes(chunks, total);
}

async function readText(reader: Reader): Promise<string | null> {
  const buffer = new Uint8Array(1024);
  const n = await reader.read(buffer);
  return n === null ? null : decoder.decode(buffer.subarray(0, n));
}

function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i += 65536) crypto.getRandomValues(bytes.subarray(i, i + 65536));
  return bytes;
}

/** The first index where `a` and `b` differ, or -1 (lengths compared too). */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : length;
}

/** `received` is `sent`, byte for byte. */
function assertSameBytes(received: Uint8Array, sent: Uint8Array): void {
  assert.equal(received.length, sent.length);
  assert.equal(firstDifference(received, sent), -1);
}

/** What `reader` is sent, read to its end only after 100 ms, once the socket buffers are full. */
async function readLate(reader: Reader): Promise<Uint8Array> {
  await new Promise((resolve) => setTimeout(resolve, 100));
  return await within(readToEnd(reader), "reading to the end");
}

/** Whether `promise` is still pending (a settled one wins the race by a microtask). */
async function pending(promise: Promise<unknown>): Promise<boolean> {
  const marker = Symbol("pending");
  return await Promise.race([promise, Promise.resolve(marker)]) === marker;
}

/** Deno's own addresses have a null prototype, which a strict deepEqual would tell apart. */
const plain = (addr: Deno.NetAddr) => ({ ...addr });

// Addresses

Deno.test("encodeAddress writes a sockaddr_in: family, big-endian port, address", () => {
  assert.deepEqual(
    encodeAddress("127.0.0.1", 0x1f90),
    new Uint8Array([2, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
  );
});

Deno.test("encodeAddress writes a sockaddr_in6: family, big-endian port, address", () => {
  const expected = new Uint8Array(28);
  expected.set([10, 0, 0x01, 0xbb]);
  expected.set([0x20, 0x01, 0x0d, 0xb8], 8);
  expected[23] = 1;
  assert.deepEqual(encodeAddress("2001:db8::1", 443), expected);
});

Deno.test("IPv4 literals round-trip through encodeAddress and socketAddress", () => {
  for (const hostname of ["127.0.0.1", "0.0.0.0", "255.255.255.255", "10.20.30.40"]) {
    assert.deepEqual(socketAddress(encodeAddress(hostname, 9000)!), {
      transport: "tcp",
      hostname,
      port: 9000,
    });
  }
});

Deno.test("IPv6 literals round-trip through encodeAddress and socketAddress in RFC 5952 form", () => {
  const cases: [string, string][] = [
    ["::1", "::1"],
    ["::", "::"],
    ["2001:db8::1", "2001:db8::1"],
    ["2001:DB8:0:0:0:0:0:1", "2001:db8::1"],
    ["fe80::1:0:0:2", "fe80::1:0:0:2"],
    ["fe80:0:0:0:1:0:0:2", "fe80::1:0:0:2"],
    // The longest run of zeros is compressed; of two as long, the first.
    ["1:0:0:2:0:0:0:3", "1:0:0:2::3"],
    ["1:0:0:2:0:0:3:4", "1::2:0:0:3:4"],
    // A single zero group is not.
    ["1:2:3:4:5:6:0:8", "1:2:3:4:5:6:0:8"],
    ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
    ["0001:0db8::00ff", "1:db8::ff"],
    ["::ffff:192.0.2.1", "::ffff:192.0.2.1"],
    ["::ffff:c000:201", "::ffff:192.0.2.1"],
  ];
  for (const [input, formatted] of cases) {
    const encoded = encodeAddress(input, 65535);
    assert.ok(encoded !== undefined, input);
    assert.deepEqual(socketAddress(encoded), {
      transport: "tcp",
      hostname: formatted,
      port: 65535,
    });
  }
});

Deno.test("encodeAddress is undefined for what is not an IP literal", () => {
  const inputs = [
    "localhost",
    "1.2.3",
    "256.1.1.1",
    "1::2::3",
    "",
    "01.2.3.4",
    "1.2.3.4.5",
    "1.2.3.-4",
    "[::1]",
    ":1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7:8::",
    "12345::",
    "g::1",
    "::ffff:1.2.3",
    "::ffff:256.0.0.1",
    " 127.0.0.1",
  ];
  for (const input of inputs) assert.equal(encodeAddress(input, 1), undefined, input);
});

Deno.test("encodeAddress is undefined for an IPv6 literal with dotted IPv4 before its end", () => {
  // IPv4 notation is only allowed as the last 32 bits (RFC 4291 2.2); inet_pton refuses these.
  for (const input of ["1.2.3.4::", "1:1.2.3.4::"]) {
    const encoded = encodeAddress(input, 1);
    assert.equal(encoded && socketAddress(encoded).hostname, undefined, input);
  }
});

Deno.test("epollAvailable() is true on Linux (glibc) with --allow-ffi", {
  ignore: Deno.build.os !== "linux",
}, () => {
  assert.equal(epollAvailable(), true);
});

Deno.test("listenEpoll is undefined for a host name (Deno.listen serves it)", () => {
  assert.equal(listenEpoll({ hostname: "localhost", port: 0 }), undefined);
});

// Connections

Deno.test("accepted connection echoes both ways and knows both addresses", { ignore }, async () => {
  const listener = listen();
  assert.equal(listener.addr.hostname, "127.0.0.1");
  assert.notEqual(listener.addr.port, 0);
  const [conn, client] = await pair(listener);
  assert.equal(client.remoteAddr.port, listener.addr.port);
  assert.deepEqual(plain(conn.remoteAddr), plain(client.localAddr));
  assert.deepEqual(plain(conn.localAddr), plain(client.remoteAddr));

  await client.write(encoder.encode("ping"));
  assert.equal(await within(readText(conn), "read"), "ping");
  assert.equal(await conn.write(encoder.encode("pong")), 4);
  assert.equal(await readText(client), "pong");

  conn.close();
  client.close();
  listener.close();
});

Deno.test(
  "listening on ::1 accepts and echoes over IPv6",
  { ignore: ignore || !ipv6 },
  async () => {
    const listener = listen("::1");
    assert.equal(listener.addr.hostname, "::1");
    const [conn, client] = await pair(listener, "::1");
    assert.deepEqual(plain(conn.remoteAddr), plain(client.localAddr));
    assert.equal(conn.remoteAddr.hostname, "::1");

    await client.write(encoder.encode("ping6"));
    assert.equal(await within(readText(conn), "read"), "ping6");
    await conn.write(encoder.encode("pong6"));
    assert.equal(await readText(client), "pong6");

    conn.close();
    client.close();
    listener.close();
  },
);

Deno.test("an IPv4 peer of a :: listener is ::ffff-mapped, as Deno.listen says", {
  ignore: ignore || !ipv6,
}, async () => {
  const listener = listen("::");
  const [conn, client] = await pair(listener);
  assert.equal(conn.remoteAddr.hostname, "::ffff:127.0.0.1");
  assert.equal(conn.remoteAddr.port, client.localAddr.port);
  conn.close();
  client.close();
  listener.close();
});

Deno.test("a connection accepted on 0.0.0.0 has the address the client reached as localAddr", {
  ignore,
}, async () => {
  const listener = listen("0.0.0.0");
  const [conn, client] = await pair(listener);
  try {
    assert.deepEqual(plain(conn.localAddr), plain(client.remoteAddr));
  } finally {
    conn.close();
    client.close();
    listener.close();
  }
});

Deno.test(
  "setNoDelay works while open and throws BadResource after close",
  { ignore },
  async () => {
    const listener = listen();
    const [conn, client] = await pair(listener);
    conn.setNoDelay(true);
    conn.setNoDelay(false);
    conn.close();
    assert.throws(() => conn.setNoDelay(), Deno.errors.BadResource);
    client.close();
    listener.close();
  },
);

Deno.test("partial writes under backpressure deliver 16 MiB to a late reader byte for byte", {
  ignore,
}, async () => {
  const listener = listen();
  const [conn, client] = await pair(listener);
  const data = randomBytes(16 * 1024 * 1024);
  const writing = (async () => {
    let offset = 0;
    let writes = 0;
    while (offset < data.length) {
      offset += await conn.write(data.subarray(offset));
      writes++;
    }
    conn.close();
    return writes;
  })();
  const received = await readLate(client);
  const writes = await writing;
  client.close();
  listener.close();

  assert.ok(writes > 1, "the kernel cannot take 16 MiB at once: some write was partial");
  assertSameBytes(received, data);
});

// End of stream and errors

Deno.test("data and FIN already there when accepted: read() gives the data, then null", {
  ignore,
}, async () => {
  const listener = listen();
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
  await client.write(encoder.encode("last words"));
  client.close();
  const conn = await within(listener.accept(), "accept");
  try {
    assert.equal(await within(readText(conn), "first read"), "last words");
    assert.equal(await within(readText(conn), "second read"), null);
    assert.equal(await within(readText(conn), "read after the end"), null);
  } finally {
    conn.close();
    listener.close();
  }
});

Deno.test("a read pending when the peer writes and closes gives the data, then null", {
  ignore,
}, async () => {
  const listener = listen();
  const [conn, client] = await pair(listener);
  const first = readText(conn);
  await client.write(encoder.encode("bye"));
  client.close();
  try {
    assert.equal(await within(first, "first read"), "bye");
    assert.equal(await within(readText(conn), "second read"), null);
  } finally {
    conn.close();
    listener.close();
  }
});

Deno.test("a read that fills its buffer exactly is followed by null at the end", {
  ignore,
}, async () => {
  const listener = listen();
  const [conn, client] = await pair(listener);
  await client.write(encoder.encode("12345678"));
  client.close();
  const buffer = new Uint8Array(8);
  try {
    assert.equal(await within(conn.read(buffer), "first read"), 8);
    assert.equal(decoder.decode(buffer), "12345678");
    assert.equal(await within(conn.read(buffer), "second read"), null);
  } finally {
    conn.close();
    listener.close();
  }
});

Deno.test("a peer that resets: the pending read ends with null, as Deno's does; write rejects", {
  ignore,
}, async () => {
  const listener = listen();
  const [conn, client] = await pair(listener);
  const reading = conn.read(new Uint8Array(1024));
  await conn.write(encoder.encode("ab"));
  // Closing with "b" still unread makes the client's kernel send RST instead of FIN.
  assert.equal(await client.read(new Uint8Array(1)), 1);
  client.close();
  try {
    assert.equal(await within(reading, "read"), null);
    await assert.rejects(within(conn.write(encoder.encode("x")), "write"), /os error (32|104)/);
  } finally {
    conn.close();
    listener.close();
  }
});

// Close

Deno.test("a read pending when its connection is closed rejects with Interrupted", {
  ignore,
}, async () => {
  const listener = listen();
  const [conn, client] = await pair(listener);
  const reading = conn.read(new Uint8Array(16));
  conn.close();
  await assert.rejects(reading, Deno.errors.Interrupted);
  client.close();
  listener.close();
});

Deno.test("a write pending when its connection is closed rejects with Interrupted", {
  ignore,
}, async () => {
  const listener = listen();
  const [conn, client] = await pair(listener);
  const chunk = new Uint8Array(1024 * 1024);
  let writing: Promise<number> | undefined;
  // The client reads nothing: the socket buffers fill up and a write has to wait.
  for (let i = 0; i < 256 && writing === undefined; i++) {
    const write = conn.write(chunk);
    if (await pending(write)) writing = write;
  }
  assert.ok(writing !== undefined, "no write waited");
  conn.close();
  await assert.rejects(writing, Deno.errors.Interrupted);
  client.close();
  listener.close();
});

Deno.test("read() and write() after close reject with BadResource", { ignore }, async () => {
  const listener = listen();
  const [conn, client] = await pair(listener);
  conn.close();
  await assert.rejects(conn.read(new Uint8Array(16)), Deno.errors.BadResource);
  await assert.rejects(conn.write(new Uint8Array(1)), Deno.errors.BadResource);
  client.close();
  listener.close();
});

Deno.test("closing a connection twice throws BadResource", { ignore }, async () => {
  const listener = listen();
  const [conn, client] = await pair(listener);
  conn.close();
  assert.throws(() => conn.close(), Deno.errors.BadResource);
  client.close();
  listener.close();
});

Deno.test("closing a listener twice throws BadResource", { ignore }, () => {
  const listener = listen();
  listener.close();
  assert.throws(() => listener.close(), Deno.errors.BadResource);
});

Deno.test("an accept pending when the listener is closed rejects with BadResource", {
  ignore,
}, async () => {
  const listener = listen();
  const accepting = listener.accept();
  listener.close();
  await assert.rejects(accepting, new Deno.errors.BadResource("Listener has been closed"));
});

Deno.test("accept() after close rejects with BadResource", { ignore }, async () => {
  const listener = listen();
  listener.close();
  await assert.rejects(listener.accept(), Deno.errors.BadResource);
});

Deno.test("listening on a taken port throws AddrInUse", { ignore }, () => {
  const epoll = listen();
  assert.throws(
    () => listenEpoll({ hostname: "127.0.0.1", port: epoll.addr.port }),
    Deno.errors.AddrInUse,
  );
  epoll.close();
  const deno = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  assert.throws(
    () => listenEpoll({ hostname: "127.0.0.1", port: deno.addr.port }),
    Deno.errors.AddrInUse,
  );
  deno.close();
});

// Fairness and scale

Deno.test("a flooding peer does not hold back another peer's message", { ignore }, async () => {
  const listener = listen();
  const [floodConn, flooder] = await pair(listener);
  const [otherConn, other] = await pair(listener);

  let flooding = true;
  const flood = (async () => {
    const chunk = randomBytes(64 * 1024);
    const end = Date.now() + 300;
    while (Date.now() < end) await flooder.write(chunk);
    flooding = false;
    flooder.close();
  })();
  let flooded = 0;
  const underWay = Promise.withResolvers<void>();
  const draining = (async () => {
    const buffer = new Uint8Array(64 * 1024);
    for (let n; (n = await floodConn.read(buffer)) !== null;) {
      flooded += n;
      if (flooded >= 1024 * 1024) underWay.resolve();
    }
  })();

  await within(underWay.promise, "the flood");
  await other.write(encoder.encode("hello"));
  const message = await within(readText(otherConn), "the other peer's message");
  const floodingThen = flooding;
  await within(Promise.all([flood, draining]), "the end of the flood");
  floodConn.close();
  otherConn.close();
  other.close();
  listener.close();

  assert.equal(message, "hello");
  assert.ok(floodingThen, "the message came only after the flood ended");
});

Deno.test("200 clients connecting at once are all accepted and read", { ignore }, async () => {
  const listener = listen();
  const count = 200;
  const clients = await Promise.all(
    Array.from(
      { length: count },
      () => Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port }),
    ),
  );
  const indexOfPort = new Map(clients.map((client, i) => [client.localAddr.port, i]));
  await Promise.all(clients.map(async (client, i) => {
    await client.write(encoder.encode(`${i}`));
    client.close();
  }));

  const conns: EpollConn[] = [];
  for (let i = 0; i < count; i++) conns.push(await within(listener.accept(), `accept ${i}`));
  listener.close();
  const texts = await within(
    Promise.all(conns.map(async (conn) => decoder.decode(await readToEnd(conn)))),
    "reading every connection",
  );
  for (const conn of conns) conn.close();

  const seen = new Set<number>();
  conns.forEach((conn, i) => {
    const index = indexOfPort.get(conn.remoteAddr.port);
    assert.ok(index !== undefined, `unknown peer ${conn.remoteAddr.port}`);
    assert.equal(texts[i], `${index}`);
    seen.add(index);
  });
  assert.equal(seen.size, count);
});

// Lifecycle. Deno.test's op sanitizer does not see a parked nonblocking FFI call (an epoll_wait
// that never returns passes it), so these also check that the poller ended: it closes its epoll
// instance and its eventfd.

// Deno lets only --allow-all read /proc/self/fd: libc's readlink looks there instead.
const proc = ignore ? undefined : Deno.dlopen("libc.so.6", {
  readlink: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
});

/** How many epoll instances and eventfds this process has open; a poller holds one of each. */
function pollerFds(): number {
  const target = new Uint8Array(64);
  let count = 0;
  for (let fd = 0; fd < 1024; fd++) {
    const path = encoder.encode(`/proc/self/fd/${fd}\0`);
    const n = Number(proc!.symbols.readlink(path, target, BigInt(target.length)));
    if (n < 0) continue;
    const link = decoder.decode(target.subarray(0, n));
    if (link === "anon_inode:[eventpoll]" || link === "anon_inode:[eventfd]") count++;
  }
  return count;
}

async function eventually(condition: () => boolean, what: string, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`${what}: not after ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

Deno.test("a listener closed at once ends its poller", { ignore }, async () => {
  const before = pollerFds();
  const listener = listen();
  assert.equal(pollerFds(), before + 2);
  listener.close();
  await eventually(() => pollerFds() === before, "the poller's descriptors closed");
});

Deno.test("a listener closed while its poller waits ends it", { ignore }, async () => {
  const before = pollerFds();
  const listener = listen();
  const accepting = listener.accept();
  // Time for the poller to park in epoll_wait.
  await new Promise((resolve) => setTimeout(resolve, 20));
  listener.close();
  await assert.rejects(accepting, Deno.errors.BadResource);
  await eventually(() => pollerFds() === before, "the poller's descriptors closed");
});

Deno.test("connections are served after their listener closes; the last one ends the poller", {
  ignore,
}, async () => {
  const before = pollerFds();
  const listener = listen();
  const [conn, client] = await pair(listener);
  listener.close();
  // Time for the poller to park with only the connection left.
  await new Promise((resolve) => setTimeout(resolve, 20));
  await client.write(encoder.encode("still here"));
  assert.equal(await within(readText(conn), "read"), "still here");
  await conn.write(encoder.encode("yes"));
  assert.equal(await readText(client), "yes");
  assert.equal(pollerFds(), before + 2);
  conn.close();
  client.close();
  await eventually(() => pollerFds() === before, "the poller's descriptors closed");
});

// Push mode (attach, trySend, onRoundEnd): how the server is served

/** A sink that keeps what it is handed, and what happened, in order. */
class Collector implements Sink {
  chunks: Uint8Array[] = [];
  /** The round's time given with each chunk. */
  times: number[] = [];
  total = 0;
  events: string[] = [];
  ended = Promise.withResolvers<Error | null>();
  #waiting: { bytes: number; resolve: () => void } | undefined;
  #writable: (() => void) | undefined;

  data(chunk: Uint8Array, now: number): void {
    this.chunks.push(chunk);
    this.times.push(now);
    this.total += chunk.length;
    this.events.push("data");
    if (this.#waiting !== undefined && this.total >= this.#waiting.bytes) this.#waiting.resolve();
  }

  end(error: Error | null): void {
    this.events.push("end");
    this.ended.resolve(error);
  }

  writable(): void {
    this.events.push("writable");
    this.#writable?.();
  }

  /** Resolves once `bytes` in all have arrived. */
  received(bytes: number): Promise<void> {
    if (this.total >= bytes) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiting = { bytes, resolve };
    return promise;
  }

  /** Resolves at the next writable(). */
  nextWritable(): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#writable = resolve;
    return promise;
  }
}

Deno.test(
  "push mode: 4 MiB arrive through data() byte for byte, each chunk kept intact, then end(null)",
  {
    ignore,
  },
  async () => {
    const listener = listen();
    const [conn, client] = await pair(listener);
    const sink = new Collector();
    conn.attach(sink);
    const data = randomBytes(4 * 1024 * 1024);
    for (let at = 0; at < data.length;) at += await client.write(data.subarray(at));
    client.close();
    const error = await within(sink.ended.promise, "end");
    listener.close();
    conn.close();

    assert.equal(error, null);
    assert.ok(sink.chunks.length > 1, "4 MiB cannot come in one read");
    // Chunks share read slabs: one written again by a later read would differ here.
    const received = concatBytes(sink.chunks, sink.total);
    assertSameBytes(received, data);
  },
);

Deno.test("push mode: what arrived before attach() is handed over after it", {
  ignore,
}, async () => {
  const listener = listen();
  const [conn, client] = await pair(listener);
  await client.write(encoder.encode("early"));
  await new Promise((resolve) => setTimeout(resolve, 20));
  const sink = new Collector();
  const attached = Date.now();
  conn.attach(sink);
  await within(sink.received(5), "the early bytes");
  const read = Date.now();
  assert.equal(decoder.decode(concatBytes(sink.chunks, sink.total)), "early");
  // The time of the round that read them: not when they were written, nor a stale round's.
  for (const at of sink.times) {
    assert.ok(at >= attached && at <= read, `${at} in [${attached}, ${read}]`);
  }
  assert.equal(await conn.read(new Uint8Array(8)).catch((e) => e.name), "Busy");
  conn.close();
  client.close();
  listener.close();
});

Deno.test(
  "push mode: trySend takes what the socket takes, writable() follows, 16 MiB arrive intact",
  {
    ignore,
  },
  async () => {
    const listener = listen();
    const [conn, client] = await pair(listener);
    const sink = new Collector();
    conn.attach(sink);
    const data = randomBytes(16 * 1024 * 1024);
    let offset = 0;
    let short = 0;
    const reading = readLate(client);
    while (offset < data.length) {
      const writable = sink.nextWritable();
      const sent = conn.trySend(data.subarray(offset));
      offset += sent;
      if (offset < data.length) {
        short++;
        await within(writable, "writable() after a short send");
      }
    }
    conn.close();
    const received = await reading;
    client.close();
    listener.close();

    assert.ok(short > 0, "the kernel cannot take 16 MiB at once: some send was short");
    assertSameBytes(received, data);
  },
);

Deno.test("push mode: closing the connection here ends the sink with Interrupted, once", {
  ignore,
}, async () => {
  const listener = listen();
  const [conn, client] = await pair(listener);
  const sink = new Collector();
  conn.attach(sink);
  conn.close();
  const error = await within(sink.ended.promise, "end");
  assert.ok(error instanceof Deno.errors.Interrupted);
  assert.throws(() => conn.trySend(encoder.encode("x")), Deno.errors.BadResource);
  assert.equal(await readText(client), null, "the peer sees the close");
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(sink.events, ["end"]);
  client.close();
  listener.close();
});

Deno.test("onRoundEnd runs after the round handed out its data, inside the round", {
  ignore,
}, async () => {
  const listener = listen();
  const [conn, client] = await pair(listener);
  const sink = new Collector();
  const inRound: boolean[] = [];
  listener.onRoundEnd(() => {
    inRound.push(listener.inRound);
    if (sink.events.at(-1) === "data") sink.events.push("round end");
  });
  conn.attach(sink);
  await client.write(encoder.encode("ping"));
  await within(sink.received(4), "ping");
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.deepEqual(sink.events, ["data", "round end"]);
  assert.ok(inRound.every((v) => v), "onRoundEnd is part of the round");
  assert.equal(listener.inRound, false, "outside a round");
  conn.close();
  client.close();
  listener.close();
});

Deno.test("gather() in onRoundEnd hands out what arrived during the round, within it", {
  ignore,
}, async () => {
  // A second peer writes from this thread, with blocking libc calls, while a round ends: its
  // bytes arrive after the round's wait and before gather().
  const libc = Deno.dlopen("libc.so.6", {
    socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
    connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
    write: { parameters: ["i32", "buffer", "u32"], result: "i64" },
    close: { parameters: ["i32"], result: "i32" },
  });
  const listener = listen();
  const [first, client] = await pair(listener);
  const fd = libc.symbols.socket(2, 1, 0);
  try {
    const address = encodeAddress("127.0.0.1", listener.addr.port)!;
    assert.equal(libc.symbols.connect(fd, address, address.length), 0);
    const second = await within(listener.accept(), "accept");
    const a = new Collector();
    const b = new Collector();
    first.attach(a);
    second.attach(b);
    const seen: string[] = [];
    listener.onRoundEnd(() => {
      if (a.total === 0 || seen.length > 0) return;
      const pong = encoder.encode("pong");
      assert.equal(Number(libc.symbols.write(fd, pong, pong.length)), 4);
      seen.push(`before gather: ${b.total} bytes`);
      // Loopback hands the bytes over within the write; a few more looks if the kernel lags.
      let events = 0;
      for (let look = 0; events === 0 && look < 1000; look++) events = listener.gather();
      seen.push(`after gather: ${b.total} bytes, ${events} event`, `in round: ${listener.inRound}`);
    });
    await client.write(encoder.encode("ping"));
    await within(b.received(4), "pong");
    assert.deepEqual(seen, [
      "before gather: 0 bytes",
      "after gather: 4 bytes, 1 event",
      "in round: true",
    ]);
    assert.equal(decoder.decode(b.chunks[0]), "pong");
    first.close();
    second.close();
  } finally {
    libc.symbols.close(fd);
    client.close();
    listener.close();
    libc.close();
  }
});
