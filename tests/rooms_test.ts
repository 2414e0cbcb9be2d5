/**
 * Rooms and history, black-box: the real server (tests/_server.ts) and raw clients
 * (tests/_client.ts) on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { decodeTimed, type Frame, FrameType, readCode } from "../protocol/mod.ts";
import { connect, isAck, login, type TestClient, text } from "./_client.ts";
import { serverTest, start, tempDir } from "./_server.ts";

const encoder = new TextEncoder();

/** Sends a ROOM request; resolves with the ACK about it from `dst`. */
async function room(c: TestClient, dst: string, word: string, id: number): Promise<string> {
  await c.send({ type: FrameType.ROOM, id, src: c.name, dst, payload: encoder.encode(word) });
  return readCode((await c.next(isAck(id, undefined, dst), 5000, `${word} ${dst}`)).payload);
}

/** Sends a HISTORY request; resolves with the HISTORY frames, each with its TIMED time. */
async function history(
  c: TestClient,
  dst: string,
  options: string,
  id: number,
): Promise<{ frame: Frame; at: number }[]> {
  await c.send({ type: FrameType.HISTORY, id, src: c.name, dst, payload: encoder.encode(options) });
  const answer = await c.next(isAck(id, undefined, dst), 5000, `history of ${dst}`);
  assert.equal(readCode(answer.payload), "200");
  const frames = c.take((f) => f.type === FrameType.TIMED || f.type === FrameType.HISTORY);
  const entries: { frame: Frame; at: number }[] = [];
  for (let i = 0; i < frames.length; i += 2) {
    const [timed, frame] = [frames[i]!, frames[i + 1]!];
    assert.equal(timed.type, FrameType.TIMED);
    assert.equal(frame.type, FrameType.HISTORY);
    assert.equal(timed.id, frame.id);
    entries.push({ frame, at: decodeTimed(timed.payload) });
  }
  return entries;
}

const isRoomMsg = (dst: string, body?: string) => (f: Frame) =>
  f.type === FrameType.MSG && f.dst === dst && (body === undefined || text(f) === body);

serverTest(
  "rooms: a message to a room of 50 reaches all 50; the sender gets its echo and 200",
  async () => {
    await using server = await start();
    const clients = await Promise.all(
      Array.from({ length: 50 }, (_, i) => login(server.port, `m${i}`, { autoAck: true })),
    );
    try {
      for (const [i, c] of clients.entries()) {
        assert.equal(
          await room(c, "#big", "join", 1),
          "200",
          `m${i}`,
        );
      }
      const sender = clients[0]!;
      assert.equal(await sender.request("#big", 77, "hello fifty"), "200");
      const got = await Promise.all(clients.map((c) => c.next(isRoomMsg("#big", "hello fifty"))));
      assert.ok(got.every((f) => f.src === "m0"));
      assert.equal(new Set(got.map((f) => f.id)).size, 1, "one seq for all");
      // Joins were announced to those already in.
      const notices = clients[0]!.take((f) => f.type === FrameType.ROOM && text(f) === "joined");
      assert.equal(notices.length, 49);
    } finally {
      await Promise.all(clients.map((c) => c[Symbol.asyncDispose]()));
    }
  },
);

serverTest(
  "rooms: join replays the last N messages with their times; list and members",
  async () => {
    await using server = await start({ args: ["--room-replay", "3"] });
    await using alice = await login(server.port, "alice", { autoAck: true });
    assert.equal(await room(alice, "#r", "join", 1), "200");
    const before = Date.now();
    for (let i = 1; i <= 5; i++) assert.equal(await alice.request("#r", 10 + i, `m${i}`), "200");
    await using bob = await login(server.port, "bob", { autoAck: true });
    assert.equal(await room(bob, "#r", "join", 2), "200");
    await bob.sync();
    const frames = bob.take((f) => f.type === FrameType.TIMED || f.type === FrameType.HISTORY);
    assert.deepEqual(frames.map((f) => f.type), [7, 11, 7, 11, 7, 11]);
    const replay = frames.filter((f) => f.type === FrameType.HISTORY);
    assert.deepEqual(replay.map(text), ["m3", "m4", "m5"]);
    assert.ok(replay.every((f) => f.src === "alice" && f.dst === "#r"));
    const at = decodeTimed(frames[0]!.payload);
    assert.ok(at >= before - 1000 && at <= Date.now(), `time ${at}`);
    assert.equal(text(await alice.next((f) => f.type === FrameType.ROOM)), "joined");
    // A long message: CHUNK frames then the final MSG, to the room and on to every member.
    const long = "x".repeat(2500);
    const pieces = [long.slice(0, 1000), long.slice(1000, 2000), long.slice(2000)];
    for (const [i, piece] of pieces.entries()) {
      const type = i === pieces.length - 1 ? FrameType.MSG : FrameType.CHUNK;
      await alice.send({ type, id: 50, src: "alice", dst: "#r", payload: encoder.encode(piece) });
    }
    await alice.next(isAck(50, "200", "#r"));
    const final = await bob.next(isRoomMsg("#r"));
    const chunks = bob.take((f) => f.type === FrameType.CHUNK && f.id === final.id);
    assert.equal(chunks.map(text).join("") + text(final), long);
    await bob.send({
      type: FrameType.ROOM,
      id: 5,
      src: "bob",
      dst: "",
      payload: encoder.encode("list"),
    });
    const list = await bob.nextMany(2, (f) => f.type === FrameType.ROOM && f.id === 5);
    assert.deepEqual(list.map(text), ["+#all 2\n+#r 2", ""]);
    await bob.send({
      type: FrameType.ROOM,
      id: 6,
      src: "bob",
      dst: "#r",
      payload: encoder.encode("members"),
    });
    const members = await bob.nextMany(2, (f) => f.type === FrameType.ROOM && f.id === 6);
    assert.deepEqual(members.map(text), ["+alice\n+bob", ""]);
  },
);

serverTest("rooms: leave (200, notice), #all 403, unknown 404; a non-member gets 403", async () => {
  await using server = await start();
  await using alice = await login(server.port, "alice", { autoAck: true });
  await using bob = await login(server.port, "bob", { autoAck: true });
  assert.equal(await room(alice, "#dev", "join", 1), "200");
  assert.equal(await room(bob, "#dev", "join", 1), "200");
  assert.equal(await room(bob, "#dev", "leave", 2), "200");
  const notice = await alice.next((f) => f.type === FrameType.ROOM && text(f) === "left");
  assert.deepEqual([notice.src, notice.dst, notice.id], ["bob", "#dev", 0]);
  assert.equal(await room(bob, "#all", "leave", 3), "403");
  assert.equal(await room(bob, "#nope", "leave", 4), "404");
  assert.equal(await room(bob, "#dev", "leave", 5), "404");
  assert.equal(await bob.request("#dev", 6, "still here?"), "403");
  assert.equal(await bob.request("#nope", 7, "anyone?"), "404");
  assert.equal(await room(bob, "bad", "join", 8), "400");
  // The connection stayed open through all of it.
  assert.equal(await bob.request("#all", 9, "to all"), "200");
  await alice.next(isRoomMsg("#all", "to all"));
});

serverTest(
  "rooms: an offline member gets what it missed at login, also after kill -9",
  async () => {
    await using dir = await tempDir();
    {
      await using server = await start({ dataDir: dir.path });
      await using alice = await login(server.port, "alice", { autoAck: true });
      {
        await using bob = await login(server.port, "bob", { autoAck: true });
        assert.equal(await room(bob, "#dev", "join", 1), "200");
      }
      assert.equal(await room(alice, "#dev", "join", 1), "200");
      assert.equal(await alice.request("#dev", 2, "missed one"), "200");
      assert.equal(await alice.request("#all", 3, "missed two"), "200");
      server.kill("SIGKILL");
      await server.waitExit();
    }
    await using server = await start({ dataDir: dir.path });
    {
      await using bob = await login(server.port, "bob", { autoAck: true });
      const missed = await bob.nextMany(2, (f) => f.type === FrameType.OFFLINE);
      const got = missed.map((f) => `${f.src} ${f.dst} ${text(f)}`).sort();
      assert.deepEqual(got, ["alice #all missed two", "alice #dev missed one"]);
      await bob.sync();
    }
    // Acknowledged: not again at the next login.
    await using bob = await login(server.port, "bob", { autoAck: true });
    await bob.sync();
    assert.deepEqual(bob.take((f) => f.type === FrameType.OFFLINE), []);
  },
);

serverTest("history: pages with before=, and retention trims to --history-count", async () => {
  await using server = await start({ args: ["--history-count", "5"] });
  await using alice = await login(server.port, "alice", { autoAck: true });
  await using bob = await login(server.port, "bob", { autoAck: true });
  for (let i = 1; i <= 5; i++) assert.equal(await alice.request("bob", i, `d${i}`), "200");
  const last = await history(alice, "bob", "limit=2", 100);
  assert.deepEqual(last.map((e) => text(e.frame)), ["d4", "d5"]);
  assert.ok(last.every((e) => e.frame.src === "alice" && e.frame.dst === "bob"));
  const older = await history(bob, "alice", `limit=10\nbefore=${last[0]!.frame.id}`, 101);
  assert.deepEqual(older.map((e) => text(e.frame)), ["d1", "d2", "d3"]);
  // Over the count: trimmed at a sweep (about every second).
  for (let i = 6; i <= 8; i++) assert.equal(await bob.request("alice", i, `d${i}`), "200");
  const deadline = Date.now() + 5000;
  let kept: string[] = [];
  while (Date.now() < deadline) {
    kept = (await history(alice, "bob", "limit=100", 102)).map((e) => text(e.frame));
    if (kept.length === 5) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.deepEqual(kept, ["d4", "d5", "d6", "d7", "d8"]);
});

serverTest(
  "rooms: a seed-000 client may post to #all (200) and is sent no room traffic",
  async () => {
    await using server = await start();
    await using alice = await login(server.port, "alice", { autoAck: true });
    await using old = await connect(server.port, { legacy: true, order: "le", name: "old" });
    assert.equal(await old.request("#all", 0, "hello from 2000"), "200");
    const got = await alice.next(isRoomMsg("#all", "hello from 2000"));
    assert.equal(got.src, "old");
    assert.equal(await alice.request("#all", 1, "hi old"), "200");
    await old.sync();
    assert.deepEqual(old.take((f) => f.type !== FrameType.PONG), []);
  },
);
