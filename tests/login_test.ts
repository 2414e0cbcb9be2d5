import assert from "node:assert/strict";
import { FrameType, readCode } from "../protocol/mod.ts";
import { connect, isAck, text } from "./_client.ts";
import { serverTest, start } from "./_server.ts";

const EMPTY = new Uint8Array(0);

serverTest("serve: HELLO with a valid name is answered ACK 200 with its id", async () => {
  await using server = await start();
  await using alice = await connect(server.port);
  const answer = await alice.hello("alice", 77);
  assert.equal(answer.type, FrameType.ACK);
  assert.equal(answer.id, 77);
  assert.equal(answer.src, "");
  assert.equal(answer.dst, "alice");
  assert.equal(readCode(answer.payload), "200");
  await server.waitForLog(/\blogin\b.*user=alice/);
});

serverTest("serve: HELLO with a name holding a space is answered 400 and closed", async () => {
  await using server = await start();
  await using bad = await connect(server.port);
  const answer = await bad.hello("bo b", 5);
  assert.equal(readCode(answer.payload), "400");
  await bad.waitClosed();
  await server.waitForLog(/rejected.*code=400/);
});

serverTest("serve: HELLO with a control character in the name is answered 400", async () => {
  await using server = await start();
  await using bad = await connect(server.port);
  const answer = await bad.hello("ab\u0001", 1);
  assert.equal(readCode(answer.payload), "400");
  await bad.waitClosed();
});

serverTest("serve: HELLO with a name held by a live connection is answered 409", async () => {
  await using server = await start();
  await using first = await connect(server.port);
  await first.login("carol");
  await using second = await connect(server.port);
  const answer = await second.hello("carol", 9);
  assert.equal(answer.id, 9);
  assert.equal(answer.dst, "carol");
  assert.equal(readCode(answer.payload), "409");
  await second.waitClosed();
  // The holder is unaffected.
  await first.sync();
  assert.equal(first.ended, false);
  // Once the holder leaves, the name is free again.
  first.close();
  const deadline = Date.now() + 5000;
  let code = "";
  while (Date.now() < deadline) {
    await using attempt = await connect(server.port);
    code = readCode((await attempt.hello("carol", 1)).payload);
    if (code === "200") break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.equal(code, "200");
});

serverTest(
  "serve: PING is answered PONG with its id and payload, before and after login",
  async () => {
    await using server = await start();
    await using c = await connect(server.port);
    const payload = new TextEncoder().encode("hb");
    await c.send({ type: FrameType.PING, id: 4, src: "", dst: "", payload });
    const before = await c.next((f) => f.type === FrameType.PONG && f.id === 4);
    assert.equal(text(before), "hb");
    await c.login("dave");
    await c.send({ type: FrameType.PING, id: 5, src: "dave", dst: "", payload });
    const after = await c.next((f) => f.type === FrameType.PONG && f.id === 5);
    assert.equal(after.dst, "dave");
    assert.equal(after.src, "");
    assert.equal(text(after), "hb");
  },
);

serverTest("serve: a reserved type is answered 501 and the connection stays open", async () => {
  await using server = await start();
  await using c = await connect(server.port);
  await c.login("erin");
  await c.send({ type: 15, id: 12, src: "erin", dst: "", payload: EMPTY });
  const answer = await c.next(isAck(12));
  assert.equal(readCode(answer.payload), "501");
  await c.sync();
  assert.equal(c.ended, false);
});

serverTest("serve: a second HELLO on one connection is answered 400 and closed", async () => {
  await using server = await start();
  await using c = await connect(server.port);
  await c.login("frank");
  await c.send({ type: FrameType.HELLO, id: 3, src: "frank", dst: "", payload: EMPTY });
  assert.equal(readCode((await c.next(isAck(3))).payload), "400");
  await c.waitClosed();
});

serverTest(
  "serve: a frame whose src is not the login name is answered 403 and closed",
  async () => {
    await using server = await start();
    await using bob = await connect(server.port);
    await bob.login("bob");
    await using c = await connect(server.port);
    await c.login("mallory");
    await c.send({
      type: FrameType.MSG,
      id: 8,
      src: "bob",
      dst: "bob",
      payload: new TextEncoder().encode("spoof"),
    });
    assert.equal(readCode((await c.next(isAck(8))).payload), "403");
    await c.waitClosed();
    await bob.sync();
    assert.equal(bob.received.filter((f) => f.type === FrameType.MSG).length, 0);
  },
);

serverTest("serve: a message with an empty dst is answered 400 and closed", async () => {
  await using server = await start();
  await using c = await connect(server.port);
  await c.login("gina");
  await c.msg("", 2, "to nobody");
  assert.equal(readCode((await c.next(isAck(2))).payload), "400");
  await c.waitClosed();
});

serverTest("serve: a type 2 frame from a client is answered 400 and closed", async () => {
  await using server = await start();
  await using bob = await connect(server.port);
  await bob.login("bob");
  await using c = await connect(server.port);
  await c.login("hank");
  await c.send({
    type: FrameType.OFFLINE,
    id: 6,
    src: "hank",
    dst: "bob",
    payload: new TextEncoder().encode("fake offline"),
  });
  assert.equal(readCode((await c.next(isAck(6))).payload), "400");
  await c.waitClosed();
});
