/**
 * Accounts end to end against the real server process: passwords in HELLO, the three auth modes,
 * takeover, the seed-000 binding of a protected name, the operator's `tinychat user` and the
 * client's `tinychat passwd`, `send` and `connect` with passwords (a no-echo prompt in tmux).
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { changePassword, type ClientEvent, connect, LoginError } from "../client.ts";
import {
  concatBytes,
  CredentialOption,
  encodeFrame,
  encodeHelloOptions,
  type Frame,
  FrameType,
  readCode,
} from "../protocol/mod.ts";
import { connect as raw, isAck, type TestClient, text } from "./_client.ts";
import { cliCommand, serverTest, start, tempDir } from "./_server.ts";

const decoder = new TextDecoder();

/** Says HELLO as `name` with a password (if given) and resolves with the answer's code. */
async function hello(client: TestClient, name: string, password?: string, id = 1) {
  client.name = name;
  const options: [string, string][] = password === undefined
    ? []
    : [[CredentialOption.PASSWORD, password]];
  await client.send({
    type: FrameType.HELLO,
    id,
    src: name,
    dst: "",
    payload: encodeHelloOptions(options),
  });
  const answer = await client.next(isAck(id), 10_000, `the answer to HELLO ${name}`);
  return { code: readCode(answer.payload), answer };
}

/** Connects, says HELLO with `password` and resolves with the client if the answer is "200". */
async function loginWith(
  port: number,
  name: string,
  password?: string,
  options: { autoAck?: boolean } = {},
): Promise<TestClient> {
  const client = await raw(port, options);
  const { code } = await hello(client, name, password);
  if (code !== "200") {
    await client[Symbol.asyncDispose]();
    throw new Error(`login as ${name} answered ${code}`);
  }
  return client;
}

/** The code a fresh connection gets for HELLO as `name` with `password`; it is then closed. */
async function codeFor(port: number, name: string, password?: string): Promise<string> {
  await using client = await raw(port);
  const { code, answer } = await hello(client, name, password);
  if (code !== "200") {
    assert.equal(answer.dst, name, "a refusal names the name");
    await client.waitClosed();
  }
  return code;
}

/** Runs the CLI to completion with extra environment variables. */
async function run(args: string[], env: Record<string, string> = {}) {
  const output = await cliCommand(args, {
    env: { NO_COLOR: "1", ...env },
    signal: AbortSignal.timeout(20_000),
  }).output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

serverTest(
  "serve --auth open: the first password claims a name; then only it opens it",
  async () => {
    await using server = await start();
    // An open name works as in seed 000.
    assert.equal(await codeFor(server.port, "carol"), "200");
    {
      await using alice = await loginWith(server.port, "alice", "s3cret");
      await server.waitForLog(/account-registered.*user=alice/);
      alice.close();
    }
    assert.equal(await codeFor(server.port, "alice"), "401");
    assert.equal(await codeFor(server.port, "alice", "wrong"), "401");
    assert.equal(await codeFor(server.port, "alice", "s3cret"), "200");
    await server.waitForLog(/rejected.*code=401.*wrong password/);
  },
);

serverTest(
  "serve: a right password takes the name over; the old connection gets TAKEOVER",
  async () => {
    await using server = await start();
    await using old = await loginWith(server.port, "alice", "pw");
    await using bob = await loginWith(server.port, "bob", undefined, { autoAck: true });
    // bob -> alice reaches the old connection, which never acknowledges it.
    await bob.msg("alice", 7, "are you still there?");
    await old.next((f) => f.type === FrameType.MSG && f.id === 7);

    // Without the password the name stays taken.
    assert.equal(await codeFor(server.port, "alice"), "401");
    await using fresh = await raw(server.port);
    const { code } = await hello(fresh, "alice", "pw", 5);
    assert.equal(code, "200");

    const takeover = await old.next((f) => f.type === FrameType.TAKEOVER);
    assert.deepEqual([takeover.src, takeover.dst, text(takeover)], [
      "",
      "alice",
      "replaced by a new login",
    ]);
    await old.waitClosed();
    const stored = await bob.next(isAck(7, undefined, "alice"));
    assert.equal(readCode(stored.payload), "300");
    const handed = await fresh.next((f: Frame) => f.type === FrameType.OFFLINE);
    assert.deepEqual([handed.src, handed.id, text(handed)], ["bob", 7, "are you still there?"]);
    await fresh.ack(handed);
    assert.equal(readCode((await bob.next(isAck(7, "200", "alice"))).payload), "200");
    // The new connection is the session now.
    assert.equal(await fresh.request("bob", 8, "back"), "200");
  },
);

serverTest("serve: a seed-000 first frame never binds a name that has a password", async () => {
  await using server = await start();
  {
    await using alice = await loginWith(server.port, "alice", "pw");
    alice.close();
  }
  await using bob = await loginWith(server.port, "bob");
  await using seed = await raw(server.port, { order: "le", legacy: true, name: "alice" });
  await seed.msg("bob", 0, "I am alice, honest");
  const answer = await seed.next(isAck(0));
  assert.deepEqual([readCode(answer.payload), answer.dst], ["401", "alice"]);
  await seed.waitClosed();
  await bob.sync();
  assert.equal(bob.received.filter((f) => f.type === FrameType.MSG).length, 0);
  // An open name still binds as in seed 000.
  await using carol = await raw(server.port, { order: "le", legacy: true, name: "carol" });
  await carol.msg("bob", 0, "hi from seed");
  assert.equal(text(await bob.next((f) => f.type === FrameType.MSG)), "hi from seed");
});

serverTest("serve --auth required: every login needs a password; the first registers", async () => {
  await using server = await start({ args: ["--auth", "required"] });
  assert.equal(await codeFor(server.port, "alice"), "401");
  {
    await using alice = await loginWith(server.port, "alice", "first");
    alice.close();
  }
  assert.equal(await codeFor(server.port, "alice", "second"), "401");
  assert.equal(await codeFor(server.port, "alice", "first"), "200");
  await using seed = await raw(server.port, { order: "le", legacy: true, name: "bob" });
  await seed.msg("alice", 0, "hi");
  assert.equal(readCode((await seed.next(isAck(0))).payload), "401");
});

serverTest(
  "tinychat user add/list/remove, then serve --auth invite lets in only accounts",
  async () => {
    await using dir = await tempDir();
    const data = `${dir.path}/data`;
    const env = { TINYCHAT_NEW_PASSWORD: "inv1ted" };
    const added = await run(["user", "add", "--data", data, "alice"], env);
    assert.equal(added.code, 0, added.stderr);
    assert.equal(added.stdout, "added alice\n");
    assert.equal(added.stderr, "user: the new password of alice is from TINYCHAT_NEW_PASSWORD\n");
    await Deno.writeTextFile(`${dir.path}/pw`, "b0b pass\n");
    const bob = await run([
      "user",
      "add",
      "--data",
      data,
      "bob",
      "--password-file",
      `${dir.path}/pw`,
    ]);
    assert.equal(bob.code, 0, bob.stderr);
    const again = await run(["user", "add", "--data", data, "alice"], env);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /alice already has an account/);
    assert.deepEqual((await run(["user", "list", "--data", data])).stdout, "alice\nbob\n");

    await using server = await start({ dataDir: data, args: ["--auth", "invite"] });
    assert.equal(await codeFor(server.port, "mallory", "anything"), "401");
    assert.equal(await codeFor(server.port, "mallory"), "401");
    assert.equal(await codeFor(server.port, "alice", "wrong"), "401");
    assert.equal(await codeFor(server.port, "bob", "b0b pass"), "200");
    {
      // alice was made a known user by `user add`: bob's message to her is kept.
      await using b = await loginWith(server.port, "bob", "b0b pass");
      assert.equal(await b.request("alice", 1, "welcome"), "300");
    }
    {
      await using alice = await loginWith(server.port, "alice", "inv1ted");
      const m = await alice.next((f) => f.type === FrameType.OFFLINE);
      assert.equal(text(m), "welcome");
    }
    // Added while the server runs: known at once.
    const carol = await run(["user", "add", "--data", data, "carol"], env);
    assert.equal(carol.code, 0, carol.stderr);
    {
      await using b = await loginWith(server.port, "bob", "b0b pass");
      assert.equal(await b.request("carol", 2, "you are in too"), "300");
    }
    // Removed while the server runs: the next login finds no account.
    const removed = await run(["user", "remove", "--data", data, "alice"]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal((await run(["user", "list", "--data", data])).stdout, "bob\ncarol\n");
    assert.equal(await codeFor(server.port, "alice", "inv1ted"), "401");
    const usage = await run(["user", "list", "--data", `${dir.path}/nowhere`]);
    assert.equal(usage.code, 1);
    assert.match(usage.stderr, /no store at/);
  },
);

serverTest("tinychat user passwd changes an account's password in the data directory", async () => {
  await using dir = await tempDir();
  const add = await run(["user", "add", "--data", dir.path, "alice"], {
    TINYCHAT_NEW_PASSWORD: "a",
  });
  assert.equal(add.code, 0, add.stderr);
  // TINYCHAT_PASSWORD is the current password elsewhere: `user` never takes it as the new one.
  const old = await run(["user", "passwd", "--data", dir.path, "alice"], {
    TINYCHAT_PASSWORD: "a",
  });
  assert.equal(old.code, 2);
  assert.match(
    old.stderr,
    /use --password-file or TINYCHAT_NEW_PASSWORD \(TINYCHAT_PASSWORD is not/,
  );
  const passwd = await run(["user", "passwd", "--data", dir.path, "alice"], {
    TINYCHAT_PASSWORD: "a",
    TINYCHAT_NEW_PASSWORD: "b",
  });
  assert.equal(passwd.code, 0, passwd.stderr);
  assert.match(passwd.stderr, /new password of alice is from TINYCHAT_NEW_PASSWORD/);
  const none = await run(["user", "passwd", "--data", dir.path, "carol"], {
    TINYCHAT_NEW_PASSWORD: "c",
  });
  assert.equal(none.code, 1);
  assert.match(none.stderr, /carol has no account/);
  await using server = await start({ dataDir: dir.path });
  assert.equal(await codeFor(server.port, "alice", "a"), "401");
  assert.equal(await codeFor(server.port, "alice", "b"), "200");
});

serverTest("tinychat passwd: the old password stops working, the new one works", async () => {
  await using dir = await tempDir();
  await using server = await start();
  {
    await using _alice = await connect({ user: "alice", port: server.port, password: "old pw" });
  }
  const wrong = await run(["passwd", "--user", "alice", "--port", String(server.port)], {
    TINYCHAT_PASSWORD: "not it",
    TINYCHAT_NEW_PASSWORD: "new pw",
  });
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /^tinychat: wrong password for "alice".*\(401\)\n$/);
  await Deno.writeTextFile(`${dir.path}/new`, "new pw\n");
  const changed = await run([
    "passwd",
    "--user",
    "alice",
    "--port",
    String(server.port),
    "--new-password-file",
    `${dir.path}/new`,
  ], { TINYCHAT_PASSWORD: "old pw" });
  assert.equal(changed.code, 0, changed.stderr);
  assert.equal(changed.stdout, "password changed for alice\n");
  await server.waitForLog(/password-changed.*user=alice/);

  await assert.rejects(
    connect({ user: "alice", port: server.port, password: "old pw", reconnect: false }),
    (error) => error instanceof LoginError && error.code === "401",
  );
  await using alice = await connect({ user: "alice", port: server.port, password: "new pw" });
  assert.equal(alice.online, true);
  // The library call, and its refusal for a name without an account.
  await assert.rejects(
    changePassword({ user: "nobody", password: "x", newPassword: "y", port: server.port }),
    (error) => error instanceof LoginError && error.code === "401",
  );
});

serverTest("tinychat send: a password from a file or the environment; 401 says how", async () => {
  await using dir = await tempDir();
  await using server = await start();
  {
    await using _ = await connect({ user: "alice", port: server.port, password: "pw" });
  }
  const base = ["send", "--user", "alice", "--to", "alice", "--port", String(server.port)];
  const state = ["--state", dir.path];
  const none = await run([...base, ...state, "hi"]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /"alice" needs a password \(401\).*--password-file F or TINYCHAT/);
  await Deno.writeTextFile(`${dir.path}/pw`, "pw\n");
  const file = await run([...base, ...state, "--password-file", `${dir.path}/pw`, "hi"]);
  assert.equal(file.code, 0, file.stderr);
  const env = await run([...base, ...state, "hi"], { TINYCHAT_PASSWORD: "pw" });
  assert.equal(env.code, 0, env.stderr);
  const wrong = await run([...base, ...state, "hi"], { TINYCHAT_PASSWORD: "nope" });
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /wrong password for "alice"/);
});

serverTest("connect(): TAKEOVER ends a session without a reconnect", async () => {
  await using server = await start();
  const first = await connect({ user: "alice", port: server.port, password: "pw" });
  const events: ClientEvent[] = [];
  const reading = (async () => {
    for await (const event of first.events()) events.push(event);
  })();
  await using second = await connect({ user: "alice", port: server.port, password: "pw" });
  await reading;
  const closed = events.at(-1);
  assert.equal(closed?.kind, "closed");
  assert.match(
    closed.kind === "closed" ? closed.reason : "",
    /replaced by a new login \(TAKEOVER\)/,
  );
  assert.equal(events.some((e) => e.kind === "reconnected"), false);
  assert.equal(second.online, true);
  await first.close();
});

serverTest("connect(): a reconnecting client logs in again with its password", async () => {
  await using dir = await tempDir();
  const first = await start({ dataDir: dir.path });
  const port = first.port;
  const alice = await connect({ user: "alice", port, password: "alice pw" });
  try {
    const events = alice.events();
    // The server goes away and comes back on the same port with the same data.
    await first[Symbol.asyncDispose]();
    await using second = await start({ dataDir: dir.path, args: ["--port", String(port)] });
    for await (const event of events) {
      if (event.kind === "reconnected") break;
      assert.notEqual(event.kind, "closed", "the session ended instead of reconnecting");
    }
    assert.equal(alice.online, true);
    await second.waitForLog(/authenticated.*user=alice/);
  } finally {
    await alice.close();
  }
});

// --- The interactive client's prompt, in a real terminal (tmux) ----------------------------------

const MOD = fileURLToPath(new URL("../mod.ts", import.meta.url));
const hasTmux = (() => {
  try {
    return new Deno.Command("tmux", { args: ["-V"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

serverTest(
  "tinychat connect asks for the password without echo when the server answers 401",
  async (t) => {
    if (!hasTmux) {
      await t.step({ name: "tmux is not installed", ignore: true, fn: () => {} });
      return;
    }
    await using dir = await tempDir();
    await using server = await start();
    {
      await using _ = await connect({ user: "alice", port: server.port, password: "hidden pw" });
    }
    const socket = `${dir.path}/tmux.sock`;
    const tmux = async (...args: string[]) => {
      const out = await new Deno.Command("tmux", {
        args: ["-u", "-S", socket, "-f", "/dev/null", ...args],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(10_000),
      }).output();
      if (!out.success) throw new Error(`tmux ${args[0]}: ${decoder.decode(out.stderr)}`);
      return decoder.decode(out.stdout);
    };
    const screen = () => tmux("capture-pane", "-p", "-J", "-t", "chat");
    const waitFor = async (pattern: RegExp) => {
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline) {
        const text = await screen();
        if (pattern.test(text)) return text;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`no ${pattern} on the screen:\n${await screen()}`);
    };
    try {
      await tmux(
        "new-session",
        "-d",
        "-s",
        "chat",
        "-x",
        "100",
        "-y",
        "20",
        "env",
        "NO_COLOR=1",
        Deno.execPath(),
        "run",
        "--allow-all",
        "--quiet",
        MOD,
        "connect",
        "--user",
        "alice",
        "--port",
        String(server.port),
        "--state",
        dir.path,
      );
      await waitFor(/alice needs a password: $/m);
      await tmux("send-keys", "-t", "chat", "-l", "hidden pw");
      await tmux("send-keys", "-t", "chat", "Enter");
      const shown = await waitFor(/logged in as alice/);
      assert.doesNotMatch(shown, /hidden/, "the password was echoed");
      // The terminal works as usual after the prompt: the chat reads lines, and /quit ends it.
      await tmux("send-keys", "-t", "chat", "-l", "/who");
      await tmux("send-keys", "-t", "chat", "Enter");
      await waitFor(/online: alice/);
      await tmux("send-keys", "-t", "chat", "-l", "/quit");
      await tmux("send-keys", "-t", "chat", "Enter");
      const deadline = Date.now() + 10_000;
      while (await tmux("has-session", "-t", "chat").then(() => true, () => false)) {
        if (Date.now() > deadline) throw new Error(`still running after /quit:\n${await screen()}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      await tmux("kill-server").catch(() => {});
    }
  },
);

serverTest(
  "serve: a HELLO with a wrong password then a MSG to bob: 401, closed; bob gets nothing, nothing stored",
  async () => {
    await using server = await start();
    {
      await using alice = await loginWith(server.port, "alice", "right");
      alice.close();
    }
    {
      await using bob = await loginWith(server.port, "bob");
      bob.close();
    }
    await server.waitForLog(/disconnect .*user=bob/);
    /** Says HELLO as alice with a wrong password and, without waiting, a MSG to bob. */
    const forge = async (id: number) => {
      await using mallory = await raw(server.port);
      mallory.name = "alice";
      await mallory.send({
        type: FrameType.HELLO,
        id,
        src: "alice",
        dst: "",
        payload: encodeHelloOptions([[CredentialOption.PASSWORD, "wrong"]]),
      });
      await mallory.msg("bob", id + 1, `forged ${id}`);
      const answer = await mallory.next(isAck(id), 10_000, "the answer to the HELLO");
      assert.deepEqual([readCode(answer.payload), answer.dst], ["401", "alice"]);
      await mallory.waitClosed();
      assert.deepEqual(mallory.received.map((f) => f.type), [FrameType.ACK], "nothing else");
    };
    // bob offline: the forged message would be stored for him.
    await forge(10);
    await using bob = await loginWith(server.port, "bob", undefined, { autoAck: true });
    // bob online: it would be forwarded to him.
    await forge(20);
    await bob.sync();
    assert.deepEqual(bob.received.filter((f) => f.type !== FrameType.PONG).length, 1, "its 200");
    assert.equal(bob.received.filter((f) => f.type === FrameType.OFFLINE).length, 0);
    assert.equal(bob.received.filter((f) => f.type === FrameType.MSG).length, 0);
  },
);

Deno.test("changePassword() takes the 200 that came in the same read as a malformed frame after it", async () => {
  // A peer that answers the change and then sends garbage, both in one write: the answer counts.
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const peer = (async () => {
    using conn = await listener.accept();
    await conn.read(new Uint8Array(4096));
    const answer = encodeFrame({
      type: FrameType.ACK,
      id: 0,
      src: "",
      dst: "alice",
      payload: new TextEncoder().encode("200"),
    });
    await conn.write(concatBytes([answer, new Uint8Array([0, 1, 0, 0, 0, 0, 0, 0])]));
    await conn.read(new Uint8Array(16)).catch(() => null);
  })();
  await changePassword({
    user: "alice",
    password: "a",
    newPassword: "b",
    port: listener.addr.port,
  });
  await peer;
});
