import assert from "node:assert/strict";
import {
  concatBytes,
  CredentialOption,
  encodeFrame,
  encodeHelloOptions,
  FrameType,
  readCode,
} from "../protocol/mod.ts";
import { connect, isAck, login, text } from "./_client.ts";
import { cliCommand, serverTest, start, tempDir } from "./_server.ts";

const isMsg = (src: string) => (f: { type: number; src: string }) =>
  f.type === FrameType.MSG && f.src === src;
const isOffline = (src: string) => (f: { type: number; src: string }) =>
  f.type === FrameType.OFFLINE && f.src === src;

const EMPTY = new Uint8Array(0);
const note = new TextEncoder().encode("behind the hello");

/** Logs `name` in once and out again, so that the server knows it. */
async function register(port: number, name: string): Promise<void> {
  await using _c = await login(port, name);
}

serverTest(
  "serve: A's message reaches online B as type 0 and B's ack reaches A as 200",
  async () => {
    await using server = await start();
    await using a = await connect(server.port);
    await using b = await connect(server.port);
    await a.login("alice");
    await b.login("bob");
    await a.msg("bob", 42, "hello bob");
    const m = await b.next(isMsg("alice"));
    assert.deepEqual([m.id, m.src, m.dst, text(m)], [42, "alice", "bob", "hello bob"]);
    await b.ack(m);
    const answer = await a.next(isAck(42));
    assert.deepEqual([answer.src, answer.dst, readCode(answer.payload)], ["bob", "alice", "200"]);
  },
);

serverTest("serve: a message to a name that never logged in is answered 404", async () => {
  await using server = await start();
  await using a = await connect(server.port);
  await a.login("alice");
  assert.equal(await a.request("nobody", 1, "anyone?"), "404");
  // Nothing was stored: "nobody" logging in gets no message.
  await using n = await connect(server.port);
  await n.login("nobody");
  await n.sync();
  assert.deepEqual(n.take((f) => f.type !== FrameType.PONG).length, 0);
});

serverTest(
  "serve: a message to known offline B is 300, then B gets it as type 2 and A a late 200",
  async () => {
    await using server = await start();
    await register(server.port, "bob");
    await using a = await connect(server.port);
    await a.login("alice");
    assert.equal(await a.request("bob", 7, "while you were out"), "300");

    await using b = await connect(server.port);
    await b.login("bob");
    const m = await b.next(isOffline("alice"));
    assert.deepEqual([m.id, m.dst, text(m)], [7, "bob", "while you were out"]);
    // The login answer came first.
    assert.equal(b.received[0]!.type, FrameType.ACK);
    await b.ack(m);
    const late = await a.next(isAck(7, "200", "bob"));
    assert.equal(late.dst, "alice");
    // Exactly one late receipt, and the message is gone from the store.
    await a.sync();
    assert.equal(a.take(isAck(7)).length, 0);
    b.close();
    await using again = await login(server.port, "bob");
    await again.sync();
    assert.equal(again.received.filter((f) => f.type === FrameType.OFFLINE).length, 0);
  },
);

serverTest(
  "serve: a message written behind its sender's HELLO to offline B is 300 with nothing more sent",
  async () => {
    // B known from its account alone: no earlier batch of the server's arms a sync that could
    // end the turn this test is about.
    await using dir = await tempDir();
    const add = await cliCommand(["user", "add", "--data", dir.path, "bob"], {
      env: { NO_COLOR: "1", TINYCHAT_NEW_PASSWORD: "b" },
    }).output();
    assert.equal(add.code, 0, new TextDecoder().decode(add.stderr));
    await using server = await start({ dataDir: dir.path });
    await using a = await connect(server.port);
    a.name = "alice";
    // One write: the MSG waits behind the HELLO until the login is durable, and is stored while
    // the login's answer is released; its own commit must follow with no other frame to prompt it.
    await a.write(concatBytes([
      encodeFrame({ type: FrameType.HELLO, id: 0, src: "alice", dst: "", payload: EMPTY }),
      encodeFrame({ type: FrameType.MSG, id: 9, src: "alice", dst: "bob", payload: note }),
    ]));
    const answers = [await a.next(isAck(0, undefined, "")), await a.next(isAck(9))];
    assert.deepEqual(answers.map((f) => readCode(f.payload)), ["200", "300"]);

    await using b = await connect(server.port);
    b.name = "bob";
    const payload = encodeHelloOptions([[CredentialOption.PASSWORD, "b"]]);
    await b.send({ type: FrameType.HELLO, id: 0, src: "bob", dst: "", payload });
    assert.equal(readCode((await b.next(isAck(0))).payload), "200");
    assert.equal(text(await b.next(isOffline("alice"))), "behind the hello");
  },
);

serverTest(
  "serve: a late 200 for offline A is kept and handed over once, after A's stored messages",
  async () => {
    await using server = await start();
    await register(server.port, "bob");
    await register(server.port, "carol");
    {
      await using a = await login(server.port, "alice");
      assert.equal(await a.request("bob", 3, "for bob"), "300");
    }
    // Alice is offline: carol leaves her a message; bob picks his up and acks it.
    {
      await using c = await login(server.port, "carol");
      assert.equal(await c.request("alice", 1, "for alice"), "300");
    }
    {
      await using b = await login(server.port, "bob", { autoAck: true });
      const m = await b.next(isOffline("alice"));
      assert.equal(text(m), "for bob");
      await b.sync(); // our ack was read before the PING
    }
    // Alice's next login: "200", carol's stored message, then the late receipt.
    {
      await using a = await login(server.port, "alice");
      await a.sync();
      const kinds = a.received.map((f) =>
        f.type === FrameType.ACK
          ? `ack ${f.src || "-"} ${f.id} ${readCode(f.payload)}`
          : `${f.type}`
      );
      assert.deepEqual(kinds, ["ack - 0 200", "2", "ack bob 3 200", "5"]);
      assert.equal(text(a.received[1]!), "for alice");
    }
    // Exactly once: the next login has no receipt. (Alice did not ack carol's message: it stays.)
    await using a = await login(server.port, "alice");
    await a.sync();
    assert.equal(a.received.filter(isAck(3)).length, 0);
    assert.equal(a.received.filter(isOffline("carol")).length, 1);
  },
);

serverTest(
  "serve: B that never acks makes A get 300 after the 3 s ack timeout; B is closed and gets it at next login",
  async () => {
    await using server = await start();
    await using a = await connect(server.port);
    await using b = await connect(server.port);
    await a.login("alice");
    await b.login("bob");
    const sentAt = performance.now();
    await a.msg("bob", 11, "are you there?");
    const live = await b.next(isMsg("alice"));
    assert.equal(live.id, 11);
    const answer = await a.next(isAck(11), 8000);
    const elapsed = performance.now() - sentAt;
    assert.equal(readCode(answer.payload), "300");
    assert.equal(answer.src, "bob");
    assert.ok(elapsed >= 2500, `300 after ${elapsed} ms, before the 3 s timeout`);
    assert.ok(elapsed <= 6000, `300 after ${elapsed} ms, long after the 3 s timeout`);
    await b.waitClosed();
    await server.waitForLog(/ack-timeout.*dst=bob/);

    await using b2 = await login(server.port, "bob");
    const stored = await b2.next(isOffline("alice"));
    assert.deepEqual([stored.id, text(stored)], [11, "are you there?"]);
  },
);

serverTest("serve: B closing with an unacked live message makes A get 300 at once", async () => {
  await using server = await start({ args: ["--ack-timeout", "60s"] });
  await using a = await connect(server.port);
  await a.login("alice");
  {
    await using b = await connect(server.port);
    await b.login("bob");
    await a.msg("bob", 5, "unacked");
    await b.next(isMsg("alice"));
  }
  assert.equal(readCode((await a.next(isAck(5), 10_000)).payload), "300");
  await using b = await login(server.port, "bob");
  assert.equal(text(await b.next(isOffline("alice"))), "unacked");
});

serverTest(
  "serve: stored messages come oldest first, all 1000, before a live message",
  async () => {
    await using server = await start();
    await register(server.port, "bob");
    await using a = await connect(server.port);
    await using c = await connect(server.port);
    await a.login("alice");
    await c.login("carol");
    const count = 1000;
    await Promise.all(Array.from({ length: count }, (_, id) => a.msg("bob", id, `stored ${id}`)));
    const answers = await a.nextMany(count, (f) => f.type === FrameType.ACK, 20_000, "300s");
    assert.ok(answers.every((f) => readCode(f.payload) === "300"));

    await using b = await login(server.port, "bob");
    // A live message sent while (or after) the stored ones are handed over comes after all of them.
    await c.msg("bob", 1, "live");
    const live = await b.next(isMsg("carol"), 20_000);
    await b.ack(live);
    assert.equal(readCode((await c.next(isAck(1))).payload), "200");
    const order = b.received.filter((f) =>
      f.type === FrameType.OFFLINE || f.type === FrameType.MSG
    );
    assert.equal(order.length, count + 1);
    order.slice(0, count).forEach((f, i) => {
      assert.equal(f.type, FrameType.OFFLINE);
      assert.equal(f.id, i);
      assert.equal(text(f), `stored ${i}`);
    });
    assert.equal(order[count]!.type, FrameType.MSG);
  },
);

serverTest(
  "serve: with --max-queue 3 the 4th message to an offline user is answered 507",
  async () => {
    await using server = await start({ args: ["--max-queue", "3"] });
    await register(server.port, "bob");
    await using a = await connect(server.port);
    await a.login("alice");
    const codes = [];
    for (let id = 1; id <= 4; id++) codes.push(await a.request("bob", id, `m${id}`));
    assert.deepEqual(codes, ["300", "300", "300", "507"]);
    await server.waitForLog(/quota-full.*dst=bob/);
    await using b = await login(server.port, "bob");
    await b.sync();
    assert.deepEqual(b.received.filter(isOffline("alice")).map(text), ["m1", "m2", "m3"]);
  },
);

serverTest(
  "serve: a resend of a delivered message after a reconnect is answered 200 and not delivered again",
  async () => {
    await using server = await start();
    await using b = await connect(server.port, { autoAck: true });
    await b.login("bob");
    {
      await using a = await login(server.port, "alice");
      assert.equal(await a.request("bob", 9, "only once"), "200");
    }
    await using a = await login(server.port, "alice");
    assert.equal(await a.request("bob", 9, "only once"), "200");
    await b.sync();
    assert.equal(b.received.filter(isMsg("alice")).length, 1);
    // The same id with other content is a new message.
    assert.equal(await a.request("bob", 9, "another"), "200");
    await b.sync();
    assert.deepEqual(b.received.filter(isMsg("alice")).map(text), ["only once", "another"]);
  },
);

serverTest(
  "serve: a resend of a stored message after a reconnect is 300 again and delivered once",
  async () => {
    await using server = await start();
    await register(server.port, "bob");
    for (let round = 0; round < 2; round++) {
      await using a = await login(server.port, "alice");
      assert.equal(await a.request("bob", 4, "kept"), "300");
    }
    await using b = await login(server.port, "bob");
    const m = await b.next(isOffline("alice"));
    await b.sync();
    assert.equal(b.received.filter(isOffline("alice")).length, 1);
    await b.ack(m);
    await b.sync();
    // Acknowledged: a resend now is answered 200 (a receipt), still not delivered again.
    await using a = await login(server.port, "alice");
    const late = await a.next(isAck(4, "200", "bob"));
    assert.equal(late.dst, "alice");
    assert.equal(await a.request("bob", 4, "kept"), "200");
    await b.sync();
    assert.equal(b.received.filter((f) => f.src === "alice" && f.id === 4).length, 1);
  },
);

serverTest(
  "serve: any ack from B reaches A as 200: B cannot claim 300 or 404 for the server",
  async () => {
    await using server = await start();
    await using a = await login(server.port, "alice");
    await using b = await login(server.port, "bob");
    const acks = ["ok!!", "300", "404\0x", "200"];
    for (const [i, code] of acks.entries()) {
      await a.msg("bob", i + 1, `message ${i + 1}`);
      await b.ack(await b.next(isMsg("alice")), code);
      const answer = await a.next(isAck(i + 1, undefined, "bob"));
      assert.equal(readCode(answer.payload), "200", `B acked with ${JSON.stringify(code)}`);
      assert.equal(answer.payload.length, 3);
    }
    // Nothing was stored on B's word: B's next login gets no type 2.
    b.close();
    await using b2 = await login(server.port, "bob");
    await b2.sync();
    assert.equal(b2.received.filter((f) => f.type === 2).length, 0);
  },
);

serverTest(
  "serve: a resend of a message still in flight is not delivered twice and answered once",
  async () => {
    await using server = await start({ args: ["--ack-timeout", "30s"] });
    await using a = await login(server.port, "alice");
    await using b = await login(server.port, "bob");
    await a.msg("bob", 3, "patience");
    const m = await b.next(isMsg("alice"));
    await a.msg("bob", 3, "patience");
    await a.sync();
    await b.sync();
    assert.equal(b.received.filter(isMsg("alice")).length, 1);
    await b.ack(m);
    await a.next(isAck(3, "200", "bob"));
    await b.sync();
    await a.sync();
    assert.equal(a.received.filter(isAck(3)).length, 1);
  },
);
