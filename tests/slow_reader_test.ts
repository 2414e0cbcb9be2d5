import assert from "node:assert/strict";
import { encodeFrame, FrameType, readCode } from "../protocol/mod.ts";
import { assertPairChats, login } from "./_client.ts";
import { serverTest, start } from "./_server.ts";

const COUNT = 20_000;
const PAYLOAD = 1000;

serverTest(
  "serve: a recipient that stops reading is cut off; its sender keeps getting answers and others keep chatting",
  async () => {
    // A long ack timeout: what cuts the reader off here is the send-queue bound, not the timer.
    await using server = await start({ args: ["--ack-timeout", "60s"] });
    // bob logs in and then never reads a byte.
    await using bob = rawConnection(
      await Deno.connect({ hostname: "127.0.0.1", port: server.port }),
    );
    const hello = encodeFrame({
      type: FrameType.HELLO,
      id: 0,
      src: "bob",
      dst: "",
      payload: new Uint8Array(),
    });
    await bob.conn.write(hello);
    await server.waitForLog(/login .*user=bob/);

    await using alice = await login(server.port, "alice");
    const sending = (async () => {
      const batch = 50;
      for (let first = 0; first < COUNT; first += batch) {
        const frames = new Uint8Array(batch * (24 + PAYLOAD));
        for (let i = 0; i < batch; i++) {
          const payload = new Uint8Array(PAYLOAD).fill(0x61 + ((first + i) % 26));
          const frame = { type: FrameType.MSG, id: first + i, src: "alice", dst: "bob", payload };
          frames.set(encodeFrame(frame), i * (24 + PAYLOAD));
        }
        await alice.write(frames);
      }
    })();
    // Others keep chatting meanwhile.
    const chatting = (async () => {
      for (let round = 0; round < 5; round++) await assertPairChats(server.port, "carol", "dave");
    })();
    const answers = await alice.nextMany(COUNT, (f) => f.type === FrameType.ACK, 60_000, "answers");
    await sending;
    await chatting;
    const codes = new Map<string, number>();
    for (const f of answers) {
      codes.set(readCode(f.payload), (codes.get(readCode(f.payload)) ?? 0) + 1);
    }
    assert.deepEqual([...codes], [["300", COUNT]]);
    assert.deepEqual(
      answers.map((f) => f.id).sort((x, y) => x - y),
      Array.from({ length: COUNT }, (_, i) => i),
    );
    await server.waitForLog(/disconnect .*user=bob .*slow reader/);
    // bob's connection was closed by the server: reading what it holds leads to the end.
    assert.equal(await bob.readToEnd(20_000), true, "bob's connection is still open");
    assert.equal(server.exited, false);
    await assertPairChats(server.port, "erin", "frank");
  },
);

/** A connection we read only when asked to; dispose closes it. */
function rawConnection(conn: Deno.TcpConn) {
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    conn.close();
  };
  return {
    conn,
    /** Reads until the peer closes (true) or `timeoutMs` passes (false). */
    async readToEnd(timeoutMs: number): Promise<boolean> {
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        close();
      }, timeoutMs);
      const buffer = new Uint8Array(256 * 1024);
      try {
        while (await conn.read(buffer) !== null) { /* discard */ }
      } catch {
        // A reset also ends it; a close by our timer is told apart below.
      } finally {
        clearTimeout(timer);
      }
      return !timedOut;
    },
    [Symbol.asyncDispose]() {
      close();
      return Promise.resolve();
    },
  };
}
