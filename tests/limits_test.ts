/**
 * The abuse limits end to end, each with small `serve` flag values: connections in total and
 * per address, logins per minute, the message rate with its burst, the login timeout (against a
 * silent connection and a slowloris), idle heartbeats and stored bytes. Two other users keep
 * chatting while one client misbehaves.
 */
import assert from "node:assert/strict";
import { connect, LoginError } from "../client.ts";
import { encodeFrame, type Frame, FrameType, readCode } from "../protocol/mod.ts";
import { assertPairChats, connect as raw, isAck, login } from "./_client.ts";
import { cliCommand, sendFlags, serverTest, start, tempDir } from "./_server.ts";

const decoder = new TextDecoder();
const EMPTY = new Uint8Array(0);
const isCode = (code: string) => (f: Frame) =>
  f.type === FrameType.ACK && readCode(f.payload) === code;

serverTest(
  "serve --max-connections: a connection beyond it gets 503 and is closed; others go on",
  async () => {
    await using server = await start({ args: ["--max-connections", "3"] });
    await using a = await login(server.port, "a");
    await using b = await login(server.port, "b");
    await using c = await login(server.port, "c");
    await using extra = await raw(server.port);
    const refusal = await extra.next(isAck(0), 5000, "the refusal");
    assert.equal(readCode(refusal.payload), "503");
    await extra.waitClosed();
    await assert.rejects(
      connect({ user: "d", port: server.port, reconnect: false }),
      (error: Error) => error instanceof LoginError && error.code === "503",
    );
    await server.waitForLog(/connection-refused .*code=503/);
    // The three logged-in ones are unaffected; when one leaves, there is room again.
    await a.sync();
    c.close();
    await server.waitForLog(/disconnect .*user=c/);
    await using d = await login(server.port, "d", {}, 5000);
    await d.sync();
    await b.sync();
  },
);

serverTest(
  "serve --max-connections-per-ip: a connection beyond it from one address gets 421",
  async () => {
    await using server = await start({
      args: ["--max-connections-per-ip", "2", "--max-connections", "100"],
    });
    await using a = await login(server.port, "a");
    await using b = await login(server.port, "b");
    await assert.rejects(
      connect({ user: "c", port: server.port, reconnect: false }),
      (error: Error) =>
        error instanceof LoginError && error.code === "421" && /too many connections/.test(
          error.message,
        ),
    );
    await a.sync();
    await b.sync();
  },
);

serverTest(
  "serve --login-rate: a login beyond the allowance of an address gets 423 and is closed",
  async () => {
    await using server = await start({ args: ["--login-rate", "3"] });
    for (const name of ["a", "b", "c"]) {
      const c = await login(server.port, name);
      await c[Symbol.asyncDispose]();
    }
    await using fourth = await raw(server.port);
    const answer = await fourth.hello("d", 5);
    assert.equal(readCode(answer.payload), "423");
    await fourth.waitClosed();
    await assert.rejects(
      connect({ user: "e", port: server.port, reconnect: false }),
      (error: Error) =>
        error instanceof LoginError && error.code === "423" && /try again/.test(error.message),
    );
    await server.waitForLog(/rejected .*code=423/);
  },
);

serverTest(
  "serve --msg-rate/--msg-burst: a pasted block of 20 lines passes; a flood gets 429 per message while two others chat",
  async () => {
    await using dir = await tempDir();
    await using server = await start({ args: ["--msg-rate", "5", "--msg-burst", "20"] });
    await using bob = await login(server.port, "bob", { autoAck: true });
    // A paste of 20 lines through the CLI: all delivered.
    const lines = Array.from({ length: 20 }, (_, i) => `line ${i + 1}`).join("\n") + "\n";
    const child = cliCommand([
      "send",
      ...sendFlags("paster", "bob", server.port, `${dir.path}/state`),
    ], { stdin: "piped" }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(lines));
    await writer.close();
    const pasted = await child.output();
    assert.equal(pasted.code, 0, decoder.decode(pasted.stderr));
    assert.equal(decoder.decode(pasted.stdout).match(/delivered \(200/g)?.length, 20);

    // A flood: 300 messages at once from one client. Every one is answered; most with 429.
    await using flooder = await login(server.port, "flooder");
    const COUNT = 300;
    const frames = new Uint8Array(COUNT * 30);
    for (let id = 0; id < COUNT; id++) {
      const payload = new TextEncoder().encode(`f${String(id).padStart(5, "0")}`);
      frames.set(encodeFrame({ type: 0, id, src: "flooder", dst: "bob", payload }), id * 30);
    }
    const chatting = (async () => {
      for (let round = 0; round < 3; round++) await assertPairChats(server.port, "carol", "dave");
    })();
    await flooder.write(frames);
    const answers = await flooder.nextMany(COUNT, (f) => f.type === FrameType.ACK, 10_000);
    await chatting;
    const codes = new Map<string, number>();
    for (const f of answers) {
      codes.set(readCode(f.payload), (codes.get(readCode(f.payload)) ?? 0) + 1);
    }
    assert.ok((codes.get("429") ?? 0) >= COUNT - 40, `answers: ${JSON.stringify([...codes])}`);
    assert.deepEqual([...codes.keys()].filter((c) => c !== "429" && c !== "200"), []);
    const delivered = bob.received.filter((f) => f.type === FrameType.MSG && f.src === "flooder");
    assert.equal(delivered.length, codes.get("200") ?? 0, "what was not refused was delivered");
    assert.equal(flooder.ended, false, "the flooder stays connected");
    // Later, at the allowed rate, the flooder gets through again.
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal(await flooder.request("bob", 10_000, "calm now"), "200");
    await server.waitForLog(/rate-limited .*user=flooder/);
  },
);

serverTest(
  "serve --login-timeout: a silent connection and a slowloris get 408 and are closed; others chat",
  async () => {
    await using server = await start({ args: ["--login-timeout", "600ms"] });
    const opened = Date.now();
    await using silent = await raw(server.port);
    await using slow = await raw(server.port);
    // The slowloris: a HELLO one byte every 100 ms (it would take 2.4 s).
    const hello = encodeFrame({
      type: FrameType.HELLO,
      id: 0,
      src: "slow",
      dst: "",
      payload: EMPTY,
    });
    const dripping = (async () => {
      for (const byte of hello) {
        if (slow.ended) return;
        await slow.write(Uint8Array.of(byte)).catch(() => {});
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    // A seed-000 client whose user types within the timeout is bound as usual.
    await using seed = await raw(server.port, { order: "le", legacy: true, name: "seed" });
    await assertPairChats(server.port, "carol", "dave");
    await seed.msg("carol", 0, "typed in time");
    for (const c of [silent, slow]) {
      const answer = await c.next(isCode("408"), 5000, "408");
      assert.equal(answer.id, 0);
      await c.waitClosed();
    }
    const took = Date.now() - opened;
    assert.ok(took >= 550 && took < 2500, `closed after ${took} ms`);
    await dripping;
    await assertPairChats(server.port, "carol", "dave");
    assert.equal(seed.ended, false, "the seed client that sent a frame stays");
    await server.waitForLog(/rejected .*code=408/);
  },
);

serverTest(
  "serve --idle-timeout/--ping-timeout: an idle HELLO client is PINGed, closed with 440 if silent; seed clients never see type 4",
  async () => {
    await using server = await start({
      args: ["--idle-timeout", "300ms", "--ping-timeout", "300ms"],
    });
    await using mute = await login(server.port, "mute");
    await using lib = await connect({ user: "lib", port: server.port, reconnect: false });
    await using seed = await raw(server.port, {
      order: "le",
      legacy: true,
      name: "seed",
      autoAck: true,
    });
    await seed.msg("lib", 0, "hello from seed 000");
    const ping = await mute.next((f) => f.type === FrameType.PING, 3000, "a PING");
    assert.equal(ping.src, "");
    assert.equal(ping.dst, "mute");
    const closing = await mute.next(isCode("440"), 3000, "440");
    assert.equal(closing.id, 0);
    await mute.waitClosed();
    // The client library answers PINGs: still online after several idle periods.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(lib.online, true);
    assert.equal((await lib.send("seed", "still here")).fate, "delivered");
    assert.equal(seed.ended, false);
    assert.deepEqual(
      seed.received.filter((f) => f.type > FrameType.OFFLINE),
      [],
      "seed saw types > 2",
    );
    await server.waitForLog(/rejected .*user=mute .*code=440/);
  },
);

serverTest(
  "serve --max-queue-bytes: a message beyond a recipient's stored bytes gets 507, nothing stored",
  async () => {
    await using server = await start({ args: ["--max-queue-bytes", "100"] });
    // bob becomes a known user, then leaves.
    await (await login(server.port, "bob"))[Symbol.asyncDispose]();
    await server.waitForLog(/disconnect .*user=bob/);
    await using alice = await login(server.port, "alice");
    const sixty = "x".repeat(60);
    assert.equal(await alice.request("bob", 1, sixty), "300");
    assert.equal(await alice.request("bob", 2, sixty), "507");
    assert.equal(await alice.request("bob", 3, "y".repeat(40)), "300");
    // bob takes his two stored messages: room again.
    await using bob = await login(server.port, "bob", { autoAck: true });
    const stored = await bob.nextMany(2, (f) => f.type === FrameType.OFFLINE);
    assert.deepEqual(stored.map((f) => f.id), [1, 3]);
    await alice.next(isAck(3, "200", "bob"), 5000, "the late receipt of 3");
    bob.close();
    await server.waitForLog(/disconnect .*user=bob .*closed by peer/);
    assert.equal(await alice.request("bob", 4, "z".repeat(100)), "300");
  },
);

serverTest(
  "serve --msg-rate: the rate is per user: a reconnect does not start a new burst",
  async () => {
    await using server = await start({ args: ["--msg-rate", "1", "--msg-burst", "3"] });
    await using bob = await login(server.port, "bob", { autoAck: true });
    {
      await using alice = await login(server.port, "alice");
      for (let id = 1; id <= 3; id++) assert.equal(await alice.request("bob", id, "hi"), "200");
    }
    await server.waitForLog(/disconnect .*user=alice/);
    await using again = await login(server.port, "alice");
    assert.equal(await again.request("bob", 4, "and again"), "429");
    await bob.sync();
  },
);

serverTest(
  "serve --frame-rate: a flood of PINGs beyond it gets 429 and is closed; others chat on",
  async () => {
    await using server = await start({ args: ["--frame-rate", "50", "--msg-burst", "10"] });
    await using flooder = await login(server.port, "flooder");
    const ping = encodeFrame({ type: FrameType.PING, id: 9, src: "", dst: "", payload: EMPTY });
    const burst = new Uint8Array(ping.length * 200);
    for (let i = 0; i < 200; i++) burst.set(ping, i * ping.length);
    await flooder.write(burst);
    const refusal = await flooder.next(isCode("429"), 5000, "the refusal");
    assert.deepEqual([refusal.src, refusal.dst], ["", "flooder"]);
    await flooder.waitClosed();
    assert.ok(flooder.received.filter((f) => f.type === FrameType.PONG).length <= 50);
    await assertPairChats(server.port, "carol", "dave");
    await server.waitForLog(/rejected .*code=429 .*too many frames/);
  },
);
