/**
 * The server under resource pressure: a peer that never reads while the server closes it or
 * stops, and running out of file descriptors while accepting.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { encodeFrame, FrameType } from "../protocol/mod.ts";
import { assertPairChats, isAck, login } from "./_client.ts";
import { serverTest, start, tempDir } from "./_server.ts";

const MOD = fileURLToPath(new URL("../mod.ts", import.meta.url));

/** Connects and logs in as `name` without ever reading from the socket. */
async function deafClient(port: number, name: string): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const hello = encodeFrame({
    type: FrameType.HELLO,
    id: 0,
    src: name,
    dst: "",
    payload: new Uint8Array(),
  });
  await conn.write(hello);
  return conn;
}

serverTest(
  "serve: SIGTERM exits promptly while a peer that never reads has a full queue",
  async () => {
    await using server = await start({ args: ["--ack-timeout", "1s"] });
    const bob = await deafClient(server.port, "bob");
    try {
      await using alice = await login(server.port, "alice");
      const big = "x".repeat(1000);
      for (let id = 1; id <= 3000; id++) await alice.msg("bob", id, big);
      // Every message is answered: bob never acks, so each becomes "300" once bob is found dead.
      await alice.next(isAck(3000), 20_000);
      server.kill("SIGTERM");
      const status = await server.waitExit(5000);
      assert.equal(status.code, 0);
    } finally {
      bob.close();
    }
  },
);

serverTest(
  "serve: running out of file descriptors refuses connections but never stops the server",
  async () => {
    await using data = await tempDir();
    const child = new Deno.Command("bash", {
      args: [
        "-c",
        `ulimit -n 64 && exec "$0" run --allow-all --quiet "$1" serve --host 127.0.0.1 --port 0 --data "$2"`,
        Deno.execPath(),
        MOD,
        data.path,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const stderr = new Response(child.stderr).text();
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    try {
      let out = "";
      const deadline = Date.now() + 30_000;
      while (!/listening \S+:(\d+)/.test(out) && Date.now() < deadline) {
        const { value, done } = await lines.read();
        if (done) break;
        out += value;
      }
      const port = Number(/listening \S+:(\d+)/.exec(out)?.[1]);
      assert.ok(port > 0, `no listening line: ${out}`);
      const flood: Deno.TcpConn[] = [];
      try {
        for (let i = 0; i < 100; i++) {
          flood.push(
            await Deno.connect({ hostname: "127.0.0.1", port }),
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 300));
      } finally {
        for (const conn of flood) conn.close();
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      await assertPairChats(port, "alice", "bob");
    } finally {
      child.kill("SIGTERM");
      const status = await child.status;
      await lines.cancel();
      const log = await stderr;
      assert.equal(status.code, 0, log);
      assert.match(log, /accept-failed/);
    }
  },
);

serverTest(
  "serve: the data directory it creates and the database are private to the operator",
  async () => {
    await using root = await tempDir();
    const dataDir = `${root.path}/data`;
    await using server = await start({ dataDir });
    await using alice = await login(server.port, "alice");
    await alice.sync();
    assert.equal((await Deno.stat(dataDir)).mode! & 0o777, 0o700);
    for (const entry of Deno.readDirSync(dataDir)) {
      const mode = (await Deno.stat(`${dataDir}/${entry.name}`)).mode! & 0o777;
      assert.equal(mode, entry.isDirectory ? 0o700 : 0o600, `${entry.name} is ${mode.toString(8)}`);
    }
  },
);
