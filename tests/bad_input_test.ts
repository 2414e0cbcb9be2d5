import assert from "node:assert/strict";
import { encodeFrame, FrameType, readCode } from "../protocol/mod.ts";
import { assertPairChats, connect, isAck, login, type TestClient } from "./_client.ts";
import { serverTest, start } from "./_server.ts";

/** A big-endian header with any len and type, and `extra` zero bytes after it. */
function rawFrame(len: number, type: number, id: number, src: string, extra = 0): Uint8Array {
  const bytes = new Uint8Array(24 + extra);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, len);
  view.setUint16(2, type);
  view.setUint32(4, id);
  bytes.set(new TextEncoder().encode(src), 8);
  return bytes;
}

interface BadCase {
  name: string;
  /** Log in first (as "sender") so that the byte order and the name are settled. */
  loggedIn: boolean;
  bytes: () => Uint8Array;
  /** The answer expected before the close. */
  code: string;
  /** The messageId the answer carries: the frame's, when its header could be read, else 0. */
  id: number;
}

const cases: BadCase[] = [
  {
    name: "len 1025 after login is answered 413",
    loggedIn: true,
    bytes: () => rawFrame(1025, FrameType.MSG, 1, "sender"),
    code: "413",
    id: 0,
  },
  {
    name: "len 1025 as the first frame is answered 413",
    loggedIn: false,
    bytes: () => rawFrame(1025, FrameType.HELLO, 1, "sender"),
    code: "413",
    id: 0,
  },
  {
    name: "len 10 is answered 400",
    loggedIn: true,
    bytes: () => rawFrame(10, FrameType.MSG, 2, "sender"),
    code: "400",
    id: 0,
  },
  {
    name: "len 10 as the first frame is answered 400",
    loggedIn: false,
    bytes: () => rawFrame(10, FrameType.MSG, 2, "sender"),
    code: "400",
    id: 0,
  },
  {
    name: "type 99 is answered 400",
    loggedIn: true,
    bytes: () => rawFrame(24, 99, 3, "sender"),
    code: "400",
    id: 3,
  },
  {
    name: "type 99 as the first frame is answered 400",
    loggedIn: false,
    bytes: () => rawFrame(24, 99, 3, "sender"),
    code: "400",
    id: 0,
  },
  {
    name: "a dst with a space is answered 400",
    loggedIn: true,
    bytes: () =>
      encodeFrame({
        type: FrameType.MSG,
        id: 4,
        src: "sender",
        dst: "bo b",
        payload: new TextEncoder().encode("x"),
      }),
    code: "400",
    id: 4,
  },
  {
    name: "a src of invalid UTF-8 is answered 400",
    loggedIn: false,
    bytes: () => {
      const bytes = rawFrame(24, FrameType.HELLO, 5, "");
      bytes.set([0xc3, 0x28, 0xff], 8);
      return bytes;
    },
    code: "400",
    id: 5,
  },
  {
    name: "garbage bytes (0xff…) are answered 413",
    loggedIn: false,
    bytes: () => new Uint8Array(300).fill(0xff),
    code: "413",
    id: 0,
  },
  {
    name: "an HTTP request is answered 413",
    loggedIn: false,
    bytes: () => new TextEncoder().encode("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    code: "413",
    id: 0,
  },
  {
    name: "garbage after login is answered 400",
    loggedIn: true,
    bytes: () => new Uint8Array([0x00, 0x01, 0x02, 0x03, ...new Uint8Array(60).fill(0x41)]),
    code: "400",
    id: 0,
  },
];

/** After a bad connection: the server is alive, logged it, and serves a normal pair. */
async function assertUnaffected(
  server: { exited: boolean; port: number },
  bystander: TestClient,
): Promise<void> {
  assert.equal(server.exited, false, "the server process exited");
  await bystander.sync();
  assert.equal(bystander.ended, false, "another connection was closed");
  await assertPairChats(server.port, "pa", "pb");
}

for (const c of cases) {
  serverTest(`serve: ${c.name}, closes that connection only and logs it`, async () => {
    await using server = await start();
    await using bystander = await login(server.port, "bystand");
    await using bad = c.loggedIn ? await login(server.port, "sender") : await connect(server.port);
    await bad.write(c.bytes()).catch(() => {}); // the server may close before reading it all
    const answer = await bad.next((f) => f.type === FrameType.ACK);
    assert.equal(readCode(answer.payload), c.code);
    assert.equal(answer.id, c.id);
    assert.equal(answer.src, "");
    assert.equal(answer.dst, c.loggedIn ? "sender" : "");
    await bad.waitClosed();
    await server.waitForLog(new RegExp(`rejected .*code=${c.code}`));
    await assertUnaffected(server, bystander);
  });
}

serverTest(
  "serve: a frame cut short by the peer closing is logged; others are unaffected",
  async () => {
    await using server = await start();
    await using bystander = await login(server.port, "bystand");
    await using peer = await login(server.port, "peer");
    {
      await using cut = await login(server.port, "cut");
      const whole = encodeFrame({
        type: FrameType.MSG,
        id: 1,
        src: "cut",
        dst: "peer",
        payload: new TextEncoder().encode("this frame never ends"),
      });
      await cut.write(whole.subarray(0, 10));
    }
    await server.waitForLog(/disconnect .*user=cut .*middle of a frame/);
    await peer.sync();
    assert.equal(peer.received.filter((f) => f.type === FrameType.MSG).length, 0);
    await assertUnaffected(server, bystander);
  },
);

serverTest(
  "serve: a header cut short before its length is complete is logged; others are unaffected",
  async () => {
    await using server = await start();
    await using bystander = await login(server.port, "bystand");
    {
      await using cut = await connect(server.port);
      await cut.write(new Uint8Array([0x00]));
    }
    await server.waitForLog(/disconnect .*middle of a frame/);
    await assertUnaffected(server, bystander);
  },
);

serverTest("serve: a flood of malformed connections leaves stored messages intact", async () => {
  await using server = await start();
  {
    await using _bob = await login(server.port, "bob");
  }
  await using alice = await login(server.port, "alice");
  assert.equal(await alice.request("bob", 1, "keep me"), "300");
  for (let i = 0; i < 20; i++) {
    await using bad = await connect(server.port);
    await bad.write(rawFrame(2000 + i, 0, i, "x")).catch(() => {});
    await bad.waitClosed();
  }
  await using bob = await login(server.port, "bob");
  const m = await bob.next((f) => f.type === FrameType.OFFLINE);
  assert.equal(new TextDecoder().decode(m.payload), "keep me");
  await bob.ack(m);
  assert.equal(readCode((await alice.next(isAck(1, "200", "bob"))).payload), "200");
});
