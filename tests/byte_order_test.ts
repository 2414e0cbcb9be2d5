import assert from "node:assert/strict";
import { FrameType, readCode } from "../protocol/mod.ts";
import { connect, isAck, login, type TestClient, text, WAIT_MS } from "./_client.ts";
import { serverTest, start } from "./_server.ts";

/**
 * Connects a seed-000 style client (little-endian, no HELLO, auto-acks "200\0…"): its first frame,
 * a MSG with id 0 to `to`, binds it. Resolves with the client and that message's answer code;
 * retries while the server still holds the name for an earlier connection ("409").
 */
async function seedClient(
  port: number,
  name: string,
  to: string,
  payload: string,
): Promise<{ client: TestClient; code: string }> {
  const deadline = Date.now() + WAIT_MS;
  while (true) {
    const client = await connect(port, { order: "le", legacy: true, autoAck: true, name });
    await client.msg(to, 0, payload);
    const code = readCode((await client.next(isAck(0))).payload);
    if (code !== "409" || Date.now() > deadline) return { client, code };
    await client[Symbol.asyncDispose]();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

serverTest(
  "serve: a little-endian seed-000 client and a big-endian HELLO client talk both ways",
  async () => {
    await using server = await start();
    await using bob = await login(server.port, "bob");
    // The seed client never says HELLO: its first frame, a type-0 MSG in little-endian, binds it.
    await using seed = await connect(server.port, { order: "le", legacy: true, name: "seed" });
    await seed.msg("bob", 0, "hi from the seed client");
    const m = await bob.next((f) => f.type === FrameType.MSG);
    assert.deepEqual([m.id, m.src, m.dst, text(m)], [0, "seed", "bob", "hi from the seed client"]);
    await bob.ack(m);
    const answer = await seed.next(isAck(0));
    assert.deepEqual([answer.src, answer.dst, readCode(answer.payload)], ["bob", "seed", "200"]);
    await server.waitForLog(/login.*user=seed.*legacy=true/);

    // Back: bob's big-endian frame reaches the seed client re-encoded in little-endian. Its ack is
    // "200", a NUL, then leftover bytes of the message (the same length); bob reads it as 200.
    const long = "hello seed, this payload is long enough to leave leftovers";
    await bob.msg("seed", 1, long);
    const back = await seed.next((f) => f.type === FrameType.MSG);
    assert.deepEqual([back.id, back.src, back.dst, text(back)], [1, "bob", "seed", long]);
    await seed.send({
      type: FrameType.ACK,
      id: 1,
      src: "seed",
      dst: "bob",
      payload: new TextEncoder().encode("200\0" + long.slice(4)),
    });
    const relayed = await bob.next(isAck(1, undefined, "seed"));
    assert.deepEqual([relayed.dst, readCode(relayed.payload)], ["bob", "200"]);
    // Each client's decoder is fixed to its own byte order: a frame in the other order would have
    // failed to decode and ended the connection.
    await bob.sync();
    assert.equal(seed.ended, false);
    assert.equal(bob.ended, false);
  },
);

serverTest("serve: two little-endian seed-000 clients talk to each other", async () => {
  await using server = await start();
  // "one" binds itself with a message to a stranger ("404"), then "two" writes to it.
  const one = await seedClient(server.port, "one", "stranger", "anyone?");
  await using _one = one.client;
  assert.equal(one.code, "404");
  const two = await seedClient(server.port, "two", "one", "hello one");
  await using _two = two.client;
  assert.equal(two.code, "200");
  const m = one.client.received.find((f) => f.type === FrameType.MSG)!;
  assert.deepEqual([m.src, m.dst, text(m)], ["two", "one", "hello one"]);
});

serverTest(
  "serve: a seed-000 client's stored messages count as delivered after the ack timeout while it stays connected",
  async () => {
    await using server = await start({ args: ["--ack-timeout", "1s"] });
    await using bob = await login(server.port, "bob", { autoAck: true });
    {
      const first = await seedClient(server.port, "seed", "bob", "hello bob");
      await using _seed = first.client;
      assert.equal(first.code, "200");
    }
    // The seed client left: bob's messages are stored (if its connection is still being closed
    // on the server, the message is stored when that close is seen: "300" either way).
    assert.equal(await bob.request("seed", 21, "stored for seed 1"), "300");
    assert.equal(await bob.request("seed", 22, "stored for seed 2"), "300");

    // It comes back, counting its ids from 0 again: its first frame binds it and is a new message.
    const again = await seedClient(server.port, "seed", "bob", "back again");
    await using seed = again.client;
    assert.equal(again.code, "200");
    const stored = await seed.nextMany(2, (f) => f.type === FrameType.OFFLINE);
    assert.deepEqual(stored.map((f) => [f.id, f.src, f.dst, text(f)]), [
      [21, "bob", "seed", "stored for seed 1"],
      [22, "bob", "seed", "stored for seed 2"],
    ]);
    assert.deepEqual(
      bob.received.filter((f) => f.type === FrameType.MSG).map(text),
      ["hello bob", "back again"],
    );
    // It never acks type 2; it stays connected for the ack timeout, so both count as delivered.
    const late = await bob.nextMany(2, (f) => f.type === FrameType.ACK && f.id > 20, 5000);
    assert.deepEqual(late.map((f) => [f.src, f.id, readCode(f.payload)]), [
      ["seed", 21, "200"],
      ["seed", 22, "200"],
    ]);
    await server.waitForLog(/stored-delivered.*dst=seed/);
    assert.equal(seed.ended, false);
    // Delivered means deleted: the next session gets nothing stored.
    seed.close();
    const third = await seedClient(server.port, "seed", "bob", "third time");
    await using _third = third.client;
    await third.client.sync();
    assert.equal(third.client.received.filter((f) => f.type === FrameType.OFFLINE).length, 0);
  },
);

serverTest(
  "serve: a seed-000 client whose first frame claims a name in use is answered 409 in its order",
  async () => {
    await using server = await start();
    await using bob = await login(server.port, "bob");
    await using alice = await login(server.port, "alice");
    await using fake = await connect(server.port, { order: "le", legacy: true, name: "bob" });
    await fake.msg("alice", 6, "i am bob too");
    const answer = await fake.next(isAck(6));
    assert.equal(readCode(answer.payload), "409");
    await fake.waitClosed();
    await alice.sync();
    assert.equal(alice.received.filter((f) => f.type === FrameType.MSG).length, 0);
    await bob.sync();
    assert.equal(bob.ended, false);
  },
);

serverTest(
  "serve: a seed client's first frame that reads plausibly in both orders is taken as little-endian",
  async () => {
    await using server = await start();
    await using bob = await login(server.port, "bob", { autoAck: true });
    // No HELLO; a type-0 frame of length 513, little-endian bytes 01 02 00 00: big-endian would
    // also read a plausible header (length 258, type 0). Little-endian wins: the seed client works.
    await using seed = await connect(server.port, { order: "le", legacy: true, name: "seed" });
    const payload = "x".repeat(513 - 24);
    assert.equal(await seed.request("bob", 1, payload), "200");
    const m = bob.received.find((f) => f.type === FrameType.MSG)!;
    assert.deepEqual([m.src, text(m).length], ["seed", 489]);
  },
);

serverTest(
  "serve: a seed client's first frame of 790 bytes (starting 16 03, like TLS) is a message, not TLS",
  async () => {
    await using server = await start();
    await using bob = await login(server.port, "bob", { autoAck: true });
    await using seed = await connect(server.port, { order: "le", legacy: true, name: "seed" });
    const payload = "t".repeat(790 - 24);
    assert.equal(await seed.request("bob", 0, payload), "200");
    const m = bob.received.find((f) => f.type === FrameType.MSG)!;
    assert.deepEqual([m.src, text(m).length], ["seed", 766]);
  },
);
