import assert from "node:assert/strict";
import { FrameType, readCode } from "../protocol/mod.ts";
import { isAck, login, text } from "./_client.ts";
import { cliCommand, serverTest, start, tempDir } from "./_server.ts";

const decoder = new TextDecoder();

/** Runs the CLI to completion (killed after 30 s at most). */
async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await cliCommand(args, { signal: AbortSignal.timeout(30_000) }).output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

serverTest("tinychat serve --port nope exits 2 with one line on stderr", async () => {
  const { code, stdout, stderr } = await run(["serve", "--port", "nope"]);
  assert.equal(code, 2);
  assert.equal(stdout, "");
  const lines = stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `stderr: ${stderr}`);
  assert.match(lines[0]!, /port/);
});

serverTest(
  "tinychat serve --ack-timeout beyond 24h exits 2: a timer could not wait that long",
  async () => {
    const { code, stderr } = await run(["serve", "--ack-timeout", "25d"]);
    assert.equal(code, 2);
    const { code: code2, stderr: stderr2 } = await run(["serve", "--ack-timeout", "25h"]);
    assert.equal(code2, 2);
    assert.match(stderr2, /ack-timeout.*24h/);
    assert.equal(stderr.trimEnd().split("\n").length, 1, `stderr: ${stderr}`);
  },
);

serverTest("tinychat serve with an unknown flag exits 2 with one line on stderr", async () => {
  const { code, stderr } = await run(["serve", "--no-such-flag"]);
  assert.equal(code, 2);
  assert.equal(stderr.trimEnd().split("\n").length, 1, `stderr: ${stderr}`);
});

serverTest("tinychat serve --help exits 0 and prints USAGE and OPTIONS on stdout", async () => {
  const { code, stdout, stderr } = await run(["serve", "--help"]);
  assert.equal(code, 0);
  assert.match(stdout, /USAGE:/);
  assert.match(stdout, /--ack-timeout/);
  assert.match(stdout, /--max-queue/);
  assert.equal(stderr, "");
});

serverTest("tinychat serve exits 0 on SIGTERM and its stored messages survive", async () => {
  await using dir = await tempDir();
  {
    await using server = await start({ dataDir: dir.path });
    {
      await using _bob = await login(server.port, "bob");
    }
    await using alice = await login(server.port, "alice");
    assert.equal(await alice.request("bob", 1, "see you after the restart"), "300");
    server.kill("SIGTERM");
    const status = await server.waitExit();
    assert.equal(status.code, 0);
    assert.equal(status.success, true);
    await alice.waitClosed();
  }
  await using server = await start({ dataDir: dir.path });
  await using bob = await login(server.port, "bob");
  const m = await bob.next((f) => f.type === FrameType.OFFLINE);
  assert.deepEqual([m.src, m.id, text(m)], ["alice", 1, "see you after the restart"]);
});

serverTest("tinychat serve exits 0 on SIGINT", async () => {
  await using server = await start();
  server.kill("SIGINT");
  assert.equal((await server.waitExit()).code, 0);
});

serverTest("tinychat serve --log-format json writes one JSON object per stderr line", async () => {
  await using server = await start({ args: ["--log-format", "json"] });
  {
    await using alice = await login(server.port, "alice");
    assert.equal(await alice.request("nobody", 1, "hi"), "404");
  }
  await server.waitForLog(/"event":"disconnect"/);
  server.kill("SIGTERM");
  assert.equal((await server.waitExit()).code, 0);
  const lines = server.stderr.split("\n").filter((line) => line !== "");
  assert.ok(lines.length >= 3, server.stderr);
  const events = lines.map((line) => {
    const entry = JSON.parse(line);
    assert.equal(typeof entry.time, "string");
    assert.equal(typeof entry.level, "string");
    return entry.event as string;
  });
  assert.ok(events.includes("login"), events.join());
  assert.ok(events.includes("unknown-recipient"), events.join());
  assert.ok(events.includes("stopped"), events.join());
});

for (const level of ["debug", "info"]) {
  serverTest(`tinychat serve --log-level ${level}: a line per message only at debug`, async () => {
    await using server = await start({ args: ["--log-level", level] });
    await using a = await login(server.port, "alice");
    {
      await using _carol = await login(server.port, "carol");
    }
    await using b = await login(server.port, "bob");
    await a.msg("bob", 1, "live");
    await b.ack(await b.next((f) => f.type === FrameType.MSG));
    assert.equal(readCode((await a.next(isAck(1))).payload), "200");
    assert.equal(await a.request("carol", 2, "stored"), "300");
    server.kill("SIGTERM");
    assert.equal((await server.waitExit()).code, 0);
    const debug = server.stderr.split("\n").filter((line) => / debug /.test(line));
    const events = debug.map((line) => line.split(" ")[2]);
    assert.deepEqual(events, level === "debug" ? ["delivered", "stored"] : [], server.stderr);
  });
}

serverTest("tinychat serve --log-level warn leaves out info lines", async () => {
  await using server = await start({ args: ["--log-level", "warn"] });
  {
    await using _alice = await login(server.port, "alice");
  }
  await using bad = await login(server.port, "bad");
  await bad.write(new Uint8Array(30).fill(0xff));
  await bad.waitClosed();
  await server.waitForLog(/ warn rejected /);
  server.kill("SIGTERM");
  assert.equal((await server.waitExit()).code, 0);
  const lines = server.stderr.split("\n").filter((line) => line !== "");
  assert.deepEqual(lines.filter((line) => / info /.test(line)), []);
});
