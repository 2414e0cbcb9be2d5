/**
 * Long messages (CHUNK) and timestamps (TIMED) against the real server process: live and stored
 * delivery of a 3000-byte message (across a restart), one answer per message, `--max-message`,
 * a seed-000 recipient, and TIMED before live messages only for sessions that asked `timed`.
 */
import assert from "node:assert/strict";
import { type ClientEvent, connect as connectClient, type TinychatClient } from "../client.ts";
import {
  decodeTimed,
  encodeDelivery,
  type Frame,
  FrameType,
  readCode,
  splitPayload,
} from "../protocol/mod.ts";
import { connect, isAck, login, type TestClient, text, WAIT_MS } from "./_client.ts";
import { serverTest, start, tempDir } from "./_server.ts";

const encoder = new TextEncoder();
/** 3000 bytes of UTF-8 with 2-byte characters (19 bytes × 157 + 17), cut between characters. */
const LONG_TEXT = "Grüße aus Köln! ".repeat(157) + "the end, at 3000.";
const LONG = encoder.encode(LONG_TEXT);
assert.equal(LONG.length, 3000);
/** The CHUNK frames that carry all of LONG but its final piece. */
const CHUNKS = splitPayload(LONG).slice(1).map(() => FrameType.CHUNK);

type MessageEvent = Extract<ClientEvent, { kind: "message" }>;

/** The next message event of `events`, waiting up to `timeoutMs`. */
async function nextMessage(
  events: AsyncGenerator<ClientEvent>,
  timeoutMs = WAIT_MS,
): Promise<MessageEvent> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), Math.max(1, deadline - Date.now()));
    });
    const next = await Promise.race([events.next(), timeout]);
    clearTimeout(timer);
    if (next === "timeout") throw new Error(`no message event within ${timeoutMs} ms`);
    if (next.done) throw new Error("the session closed before a message event");
    if (next.value.kind === "message") return next.value;
  }
}

/** A client library session, closed with `await using`. */
async function session(port: number, user: string): Promise<TinychatClient> {
  return await connectClient({ user, port, reconnect: false, connectTimeoutMs: WAIT_MS });
}

/** Sends a whole message from `from`: CHUNK frames and the final MSG, in one write. */
function sendLong(from: TestClient, dst: string, id: number, payload: Uint8Array): Promise<void> {
  const m = { type: FrameType.MSG, id, src: from.name, dst, payload };
  return from.write(encodeDelivery(m, from.order, { legacy: false, timed: false }));
}

/** Logs `client` in as `name` asking for TIMED frames. */
async function timedLogin(client: TestClient, name: string): Promise<void> {
  client.name = name;
  await client.send({
    type: FrameType.HELLO,
    id: 0,
    src: name,
    dst: "",
    payload: encoder.encode("timed"),
  });
  const answer = await client.next(isAck(0));
  assert.equal(readCode(answer.payload), "200");
}

const from = (src: string) => (f: Frame) => f.src === src && f.type !== FrameType.ACK;

serverTest(
  "serve: a 3000-byte message goes live as CHUNKs and MSG, is acknowledged once, and carries sentAt",
  async () => {
    await using server = await start();
    await using alice = await connect(server.port);
    await alice.login("alice");
    await using bob = await session(server.port, "bob");
    const events = bob.events();
    const before = Date.now();
    await sendLong(alice, "bob", 5, LONG);
    const m = await nextMessage(events);
    assert.deepEqual([m.from, m.id, m.stored, m.text], ["alice", 5, false, LONG_TEXT]);
    assert.ok(m.sentAt !== undefined, "live messages carry sentAt (TIMED)");
    assert.ok(Math.abs(m.sentAt.getTime() - before) < 5000, `sentAt ${m.sentAt.toISOString()}`);
    const answer = await alice.next(isAck(5, "200", "bob"));
    assert.equal(answer.dst, "alice");
    await alice.sync();
    assert.deepEqual(alice.take(isAck(5)), [], "one answer for the whole message");

    // A raw recipient sees the pieces: CHUNKs of up to 1000 bytes, then MSG.
    await using carol = await connect(server.port, { autoAck: true });
    await carol.login("carol");
    await sendLong(alice, "carol", 6, LONG);
    await alice.next(isAck(6, "200", "carol"));
    const pieces = carol.take(from("alice"));
    assert.deepEqual(pieces.map((f) => f.type), [...CHUNKS, FrameType.MSG]);
    assert.ok(pieces.every((f) => f.id === 6 && f.dst === "carol"));
    assert.ok(pieces.every((f) => f.payload.length <= 1000));
    assert.ok(pieces.slice(0, -1).every((f) => f.payload.length >= 998), "full pieces");
    assert.equal(pieces.reduce((sum, f) => sum + f.payload.length, 0), 3000);
    await alice.sync();
    assert.deepEqual(alice.take(isAck(6)), []);
  },
);

serverTest(
  "serve: live messages come behind TIMED (their receive time) to a timed session, never to others",
  async () => {
    await using server = await start();
    await using alice = await connect(server.port);
    await alice.login("alice");
    await using timed = await connect(server.port, { autoAck: true });
    await timedLogin(timed, "tim");
    await using plain = await connect(server.port, { autoAck: true });
    await plain.login("paul");
    const before = Date.now();
    assert.equal(await alice.request("tim", 1, "hello tim"), "200");
    assert.equal(await alice.request("paul", 2, "hello paul"), "200");
    await sendLong(alice, "tim", 3, LONG);
    await alice.next(isAck(3, "200", "tim"));
    const got = timed.take(from("alice"));
    assert.deepEqual(got.map((f) => f.type), [7, 0, 7, ...CHUNKS, 0]);
    for (const f of got) assert.equal(f.dst, "tim");
    assert.deepEqual(got.map((f) => f.id), [1, 1, 3, ...CHUNKS.map(() => 3), 3]);
    const at = decodeTimed(got[0]!.payload);
    assert.ok(at >= before - 1000 && at <= Date.now() + 1000, `TIMED ${at}, test began ${before}`);
    assert.equal(text(got[1]!), "hello tim");
    await plain.sync();
    const plainGot = plain.take(from("alice"));
    assert.deepEqual(plainGot.map((f) => f.type), [FrameType.MSG]);
    assert.ok(plain.received.every((f) => f.type !== FrameType.TIMED));
  },
);

serverTest(
  "serve: a 3000-byte message to an offline user is stored as one and handed over after a restart",
  async () => {
    await using data = await tempDir();
    let id: number;
    {
      await using first = await start({ dataDir: data.path });
      {
        await using _bob = await login(first.port, "bob");
      }
      await using alice = await session(first.port, "alice");
      const result = await alice.send("bob", LONG_TEXT);
      assert.deepEqual([result.fate, result.code], ["stored", "300"]);
      id = result.id;
    }
    await using second = await start({ dataDir: data.path });
    await using bob = await session(second.port, "bob");
    const m = await nextMessage(bob.events());
    assert.deepEqual([m.from, m.id, m.stored, m.text], ["alice", id, true, LONG_TEXT]);
    assert.ok(m.sentAt !== undefined);
    // The one acknowledgement of the whole message gives alice one late receipt.
    await using alice = await connect(second.port);
    await alice.login("alice");
    await alice.next(isAck(id, "200", "bob"));
    await alice.sync();
    assert.deepEqual(alice.take(isAck(id)), []);
  },
);

serverTest(
  "serve --max-message: a longer message is answered 413 and the connection keeps working",
  async () => {
    await using server = await start({ args: ["--max-message", "2000"] });
    await using bob = await connect(server.port, { autoAck: true });
    await bob.login("bob");
    await using alice = await connect(server.port);
    await alice.login("alice");
    await sendLong(alice, "bob", 1, LONG);
    const answer = await alice.next(isAck(1));
    assert.deepEqual([readCode(answer.payload), answer.src, answer.dst], ["413", "bob", "alice"]);
    assert.equal(await alice.request("bob", 2, "short one"), "200");
    await sendLong(alice, "bob", 3, LONG.subarray(0, 2000));
    await alice.next(isAck(3, "200", "bob"));
    await bob.sync();
    const got = bob.take(from("alice"));
    assert.deepEqual(got.map((f) => [f.type, f.id]), [[0, 2], [9, 3], [0, 3]]);
    assert.equal(alice.ended, false);

    // The client library: a "rejected" fate; beyond 16 MiB it refuses before sending.
    await using carol = await session(server.port, "carol");
    const result = await carol.send("bob", LONG_TEXT);
    assert.deepEqual([result.fate, result.code], ["rejected", "413"]);
    await assert.rejects(carol.send("bob", new Uint8Array(16 * 1024 * 1024 + 1)), RangeError);
    assert.equal((await carol.send("bob", "after that")).fate, "delivered");
  },
);

serverTest(
  "serve: a seed-000 recipient gets a long message as several type-0 frames; the first ack counts",
  async () => {
    await using server = await start();
    await using alice = await session(server.port, "alice");
    const events = alice.events();
    await using bob = await connect(server.port, {
      order: "le",
      legacy: true,
      autoAck: true,
      name: "bob",
    });
    await bob.msg("alice", 0, "hi alice");
    assert.equal((await nextMessage(events)).text, "hi alice");
    const result = await alice.send("bob", LONG_TEXT);
    assert.equal(result.fate, "delivered");
    const got = bob.received.filter(from("alice"));
    assert.ok(got.length >= 3, `${got.length} frames`);
    assert.ok(got.every((f) => f.type === FrameType.MSG && f.id === result.id));
    assert.ok(got.every((f) => f.payload.length <= 1000));
    const strict = new TextDecoder("utf-8", { fatal: true });
    assert.equal(got.map((f) => strict.decode(f.payload)).join(""), LONG_TEXT);
    // The extra acks are harmless: the session goes on.
    assert.equal((await alice.send("bob", "still there?")).fate, "delivered");
  },
);
