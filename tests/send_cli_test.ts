/**
 * `tinychat send` as a child process (`deno run --allow-all mod.ts send ...`) against the real
 * server: exit statuses per fate, --json, stdin lines, and ids that stay unique across runs.
 */
import assert from "node:assert/strict";
import { connect, type TinychatClient } from "../client.ts";
import { cliCommand, sendFlags, serverTest, start, tempDir } from "./_server.ts";

const RUN_TIMEOUT_MS = 20_000;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `tinychat send ...args`, with `input` on stdin if given; killed after 20 s. */
async function send(args: string[], input?: string): Promise<Run> {
  const child = cliCommand(["send", ...args], {
    stdin: input === undefined ? "null" : "piped",
    signal: AbortSignal.timeout(RUN_TIMEOUT_MS),
  }).spawn();
  if (input !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(input));
    await writer.close();
  }
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

function describe(run: Run): string {
  return `exit ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`;
}

/** A library client that records the texts it receives. */
async function receiver(port: number, user: string) {
  const client = await connect({ user, port, reconnect: false });
  const texts: { from: string; id: number; text: string }[] = [];
  const reading = (async () => {
    for await (const event of client.events()) {
      if (event.kind === "message") {
        texts.push({ from: event.from, id: event.id, text: event.text });
      }
    }
  })();
  return {
    client,
    texts,
    async [Symbol.asyncDispose]() {
      await client.close();
      await reading;
    },
  };
}

/** Logs `user` in and out once so the server knows the name. */
async function makeKnown(port: number, user: string): Promise<void> {
  const client: TinychatClient = await connect({ user, port, reconnect: false });
  await client.close();
}

serverTest("tinychat send exits 0 and prints the fate when the recipient is online", async () => {
  await using server = await start();
  await using state = await tempDir();
  await using bob = await receiver(server.port, "bob");
  const run = await send([
    ...sendFlags("alice", "bob", server.port, state.path),
    "hello",
    "bob",
  ]);
  assert.equal(run.code, 0, describe(run));
  assert.match(run.stdout, /^bob: delivered \(200, id \d+\)\n$/);
  assert.equal(run.stderr, "");
  assert.deepEqual(bob.texts.map((m) => m.text), ["hello bob"]);
});

serverTest(
  "tinychat send exits 3 when the message is stored for an offline recipient",
  async () => {
    await using server = await start();
    await using state = await tempDir();
    await makeKnown(server.port, "bob");
    const run = await send(
      [
        ...sendFlags("alice", "bob", server.port, state.path),
        "hi",
      ],
    );
    assert.equal(run.code, 3, describe(run));
    assert.match(run.stdout, /^bob: stored \(300, id \d+\)\n$/);
  },
);

serverTest("tinychat send exits 4 for an unknown recipient and says so on stderr", async () => {
  await using server = await start();
  await using state = await tempDir();
  const run = await send(
    [
      ...sendFlags("alice", "nobody", server.port, state.path),
      "x",
    ],
  );
  assert.equal(run.code, 4, describe(run));
  assert.equal(run.stdout, "");
  assert.match(run.stderr, /^nobody: unknown user \(404, id \d+\)\n$/);
});

serverTest("tinychat send exits 2 with one line on stderr for usage errors", async () => {
  await using state = await tempDir();
  const cases = [
    ["--user", "alice", "hi"],
    ["--to", "bob", "hi"],
    ["--user", "alice", "--to", "bob", "--port", "99999", "hi"],
    ["--user", "alice", "--to", "bob", "--frobnicate", "hi"],
    ["--user", "alice", "--to", "bob", "--timeout", "soon", "hi"],
  ];
  for (const args of cases) {
    const run = await send([...args, "--state", state.path]);
    assert.equal(run.code, 2, `${args.join(" ")}: ${describe(run)}`);
    assert.equal(run.stdout, "", args.join(" "));
    assert.match(run.stderr, /^tinychat: send: |^tinychat: --/, args.join(" "));
    assert.equal(run.stderr.trimEnd().split("\n").length, 1, `one line: ${run.stderr}`);
  }
});

serverTest("tinychat send exits 1 with one line when no server listens", async () => {
  await using state = await tempDir();
  const server = await start();
  const port = server.port;
  await server[Symbol.asyncDispose]();
  const run = await send(
    ["--user", "alice", "--to", "bob", "--port", String(port), "--state", state.path, "x"],
  );
  assert.equal(run.code, 1, describe(run));
  assert.match(run.stderr, /^tinychat: /);
  assert.equal(run.stderr.trimEnd().split("\n").length, 1, `one line: ${run.stderr}`);
});

serverTest("tinychat send --json prints one JSON object per message with its fate", async () => {
  await using server = await start();
  await using state = await tempDir();
  await using _bob = await receiver(server.port, "bob");
  const run = await send([
    ...sendFlags("alice", "bob", server.port, state.path),
    "--json",
    "hi",
  ]);
  assert.equal(run.code, 0, describe(run));
  const lines = run.stdout.trimEnd().split("\n");
  assert.equal(lines.length, 1, run.stdout);
  const event = JSON.parse(lines[0]!);
  assert.equal(event.event, "sent");
  assert.equal(event.fate, "delivered");
  assert.equal(event.code, "200");
  assert.equal(event.to, "bob");
  assert.equal(typeof event.id, "number");
});

serverTest("tinychat send sends each line of stdin as one message", async () => {
  await using server = await start();
  await using state = await tempDir();
  await using bob = await receiver(server.port, "bob");
  const run = await send(
    [
      ...sendFlags("alice", "bob", server.port, state.path),
      "--json",
    ],
    "first line\nsecond: 你好 🎉\r\n\nthird\n",
  );
  assert.equal(run.code, 0, describe(run));
  const events = run.stdout.trimEnd().split("\n").map((line) => JSON.parse(line));
  assert.deepEqual(events.map((e) => e.fate), ["delivered", "delivered", "delivered"]);
  assert.equal(new Set(events.map((e) => e.id)).size, 3);
  assert.deepEqual(bob.texts.map((m) => m.text), ["first line", "second: 你好 🎉", "third"]);
});

serverTest("tinychat send reports the worst fate of several lines in its exit status", async () => {
  await using server = await start();
  await using state = await tempDir();
  await makeKnown(server.port, "bob");
  const run = await send(
    ["--user", "alice", "--to", "bob", "--port", String(server.port), "--state", state.path],
    "one\ntwo\n",
  );
  assert.equal(run.code, 3, describe(run));
  assert.equal(run.stdout.trimEnd().split("\n").length, 2, run.stdout);
});

serverTest(
  "tinychat send uses new ids on each run with the same --state (a repeat is delivered)",
  async () => {
    await using server = await start();
    await using state = await tempDir();
    await using bob = await receiver(server.port, "bob");
    const args = [
      ...sendFlags("alice", "bob", server.port, state.path),
      "--json",
      // The same text both times: a reused id would make the server treat run 2 as a resend.
      "same text",
    ];
    const first = await send(args);
    const second = await send(args);
    assert.equal(first.code, 0, describe(first));
    assert.equal(second.code, 0, describe(second));
    const a = JSON.parse(first.stdout);
    const b = JSON.parse(second.stdout);
    assert.notEqual(a.id, b.id);
    assert.equal(b.fate, "delivered");
    assert.deepEqual(bob.texts, [
      { from: "alice", id: a.id, text: "same text" },
      { from: "alice", id: b.id, text: "same text" },
    ]);
  },
);

serverTest(
  "tinychat send delivers the same text each time even from runs with no shared --state",
  async () => {
    await using server = await start();
    await using bob = await receiver(server.port, "bob");
    const ids: number[] = [];
    for (let run = 0; run < 3; run++) {
      // A CI job on a fresh machine: a new, empty state directory every time.
      await using state = await tempDir();
      const result = await send([
        ...sendFlags("ci", "bob", server.port, state.path),
        "--json",
        "build green",
      ]);
      assert.equal(result.code, 0, describe(result));
      const event = JSON.parse(result.stdout);
      assert.equal(event.fate, "delivered");
      ids.push(event.id);
    }
    assert.deepEqual(bob.texts.map((t) => t.text), ["build green", "build green", "build green"]);
    assert.equal(new Set(ids).size, 3);
  },
);
