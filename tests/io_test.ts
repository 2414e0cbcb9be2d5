import assert from "node:assert/strict";
import { FrameType, readCode } from "../protocol/mod.ts";
import { connect, isAck, login, text } from "./_client.ts";
import { cliCommand, serverTest, start, tempDir } from "./_server.ts";

// The rest of the suite runs on the default, epoll on this machine; these run the same server
// over each of its two ways of serving plain TCP, named explicitly.
for (const io of ["epoll", "deno"]) {
  serverTest(
    `serve --io ${io}: a live message gets 200, an offline one 300 and is handed over at login`,
    async () => {
      await using server = await start({ args: ["--io", io] });
      {
        await using _carol = await login(server.port, "carol");
      }
      await using alice = await login(server.port, "alice");
      await using bob = await login(server.port, "bob");
      await alice.msg("bob", 1, "live");
      const live = await bob.next((f) => f.type === FrameType.MSG);
      assert.equal(text(live), "live");
      await bob.ack(live);
      assert.equal(readCode((await alice.next(isAck(1))).payload), "200");

      assert.equal(await alice.request("carol", 2, "stored"), "300");
      await using carol = await login(server.port, "carol");
      const stored = await carol.next((f) => f.type === FrameType.OFFLINE);
      assert.equal(text(stored), "stored");
    },
  );

  serverTest(
    `serve --io ${io}: a frame cut short is logged, and 50 clients at once all log in`,
    async () => {
      await using server = await start({ args: ["--io", io] });
      {
        await using cut = await connect(server.port);
        await cut.write(new Uint8Array([0x00, 0x40, 0x00]));
      }
      await server.waitForLog(/disconnect .*middle of a frame \(3 bytes of it\)/);
      const clients = await Promise.all(
        Array.from({ length: 50 }, (_, i) => login(server.port, `user${i}`, { autoAck: true })),
      );
      try {
        assert.equal(await clients[0]!.request("user49", 3, "hi"), "200");
      } finally {
        for (const client of clients) await client[Symbol.asyncDispose]();
      }
    },
  );
}

serverTest("tinychat serve --io epoll on a host name exits 1 with one line", async () => {
  await using data = await tempDir();
  const output = await cliCommand(
    ["serve", "--io", "epoll", "--host", "localhost", "--port", "0", "--data", data.path],
    {
      signal: AbortSignal.timeout(30_000),
    },
  ).output();
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 1);
  assert.equal(stderr.trimEnd().split("\n").length, 1, `stderr: ${stderr}`);
  assert.match(stderr, /epoll cannot serve localhost/);
});
