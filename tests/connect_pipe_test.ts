/**
 * `tinychat connect` with stdin not a terminal, as a child process against the real server: input
 * lines go to --to, received messages are printed one per line, EOF waits for the acks.
 */
import assert from "node:assert/strict";
import { connect } from "../client.ts";
import { localClock } from "../cli/render.ts";
import { cliCommand, serverTest, start, tempDir } from "./_server.ts";

const WAIT_MS = 10_000;

/** `tinychat connect ...args` with piped stdin; its output is collected as it comes. */
class PipedConnect implements AsyncDisposable {
  stdout = "";
  stderr = "";
  readonly status: Promise<Deno.CommandStatus>;
  #child: Deno.ChildProcess;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #changed = Promise.withResolvers<void>();

  constructor(args: string[]) {
    this.#child = cliCommand(["connect", ...args], {
      stdin: "piped",
      signal: AbortSignal.timeout(30_000),
    }).spawn();
    this.#stdin = this.#child.stdin.getWriter();
    const collect = async (stream: ReadableStream<Uint8Array>, which: "stdout" | "stderr") => {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) {
        this[which] += text;
        this.#changed.resolve();
        this.#changed = Promise.withResolvers<void>();
      }
    };
    this.status = Promise.all([
      this.#child.status,
      collect(this.#child.stdout, "stdout"),
      collect(this.#child.stderr, "stderr"),
    ]).then(([status]) => status);
  }

  async write(text: string): Promise<void> {
    await this.#stdin.write(new TextEncoder().encode(text));
  }

  async end(): Promise<void> {
    await this.#stdin.close();
  }

  /** Waits until `pattern` matches stdout (bounded). */
  async waitForStdout(pattern: RegExp, timeoutMs = WAIT_MS): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const match = pattern.exec(this.stdout);
      if (match !== null) return match;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `no ${pattern} on stdout in ${timeoutMs} ms:\n${this.stdout}\n${this.stderr}`,
        );
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.#changed.promise,
        this.status,
        new Promise((resolve) => timer = setTimeout(resolve, left)),
      ]);
      clearTimeout(timer);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#stdin.close().catch(() => {});
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await this.status;
  }
}

/** A library client that records what it receives. */
async function receiver(port: number, user: string) {
  const client = await connect({ user, port, reconnect: false });
  const texts: string[] = [];
  let changed = Promise.withResolvers<void>();
  const reading = (async () => {
    for await (const event of client.events()) {
      if (event.kind === "message") {
        texts.push(`${event.from}: ${event.text}`);
        changed.resolve();
        changed = Promise.withResolvers<void>();
      }
    }
  })();
  return {
    client,
    texts,
    async waitFor(line: string): Promise<void> {
      const deadline = Date.now() + WAIT_MS;
      while (!texts.includes(line)) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`${user} did not receive ${line}; got ${texts}`);
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([changed.promise, new Promise((r) => timer = setTimeout(r, left))]);
        clearTimeout(timer);
      }
    },
    async [Symbol.asyncDispose]() {
      await client.close();
      await reading;
    },
  };
}

serverTest(
  "tinychat connect (piped) sends stdin lines to --to, prints incoming ones, exits 0 at EOF",
  async () => {
    await using server = await start();
    await using state = await tempDir();
    await using bob = await receiver(server.port, "bob");
    await using alice = new PipedConnect(
      ["--user", "alice", "--to", "bob", "--port", String(server.port), "--state", state.path],
    );
    await alice.write("hello bob\n");
    await bob.waitFor("alice: hello bob");

    const before = localClock(new Date());
    const sent = await bob.client.send("alice", "hi alice 你好 🎉");
    assert.equal(sent.fate, "delivered");
    const after = localClock(new Date());
    const [line] = await alice.waitForStdout(/^.*bob: hi alice.*\n/m);
    const clock = /^\[(\d\d:\d\d)\] /.exec(line)?.[1];
    assert.ok(clock === before || clock === after, `${JSON.stringify(line)} at ${before}`);
    assert.equal(line, `[${clock}] bob: hi alice 你好 🎉\n`);

    // A message of several lines, with an escape sequence, is printed as one clean line.
    assert.equal((await bob.client.send("alice", "two\nlines \x1b[2Jhere")).fate, "delivered");
    await alice.waitForStdout(/bob: two lines/);

    await alice.write("second\n\nthird: 日本 🚀\n");
    await alice.end();
    const status = await alice.status;
    assert.equal(status.code, 0, alice.stderr);
    assert.deepEqual(bob.texts, ["alice: hello bob", "alice: second", "alice: third: 日本 🚀"]);
    const lines = alice.stdout.trimEnd().split("\n");
    assert.equal(lines.length, 2, alice.stdout);
    assert.match(lines[1]!, /^\[\d\d:\d\d\] bob: two lines \ufffd\[2Jhere$/);
    const fates = alice.stderr.split("\n").filter((l) =>
      / bob: delivered \(200, id \d+\)$/.test(l)
    );
    assert.equal(fates.length, 3, alice.stderr);
  },
);

serverTest("tinychat connect (piped) waits at EOF for the answers of the last lines", async () => {
  await using server = await start();
  await using state = await tempDir();
  await using bob = await receiver(server.port, "bob");
  await using alice = new PipedConnect(
    ["--user", "alice", "--to", "bob", "--port", String(server.port), "--state", state.path],
  );
  const lines = Array.from({ length: 20 }, (_, i) => `line ${i}`);
  await alice.write(lines.map((l) => `${l}\n`).join(""));
  await alice.end();
  assert.equal((await alice.status).code, 0, alice.stderr);
  assert.deepEqual(bob.texts, lines.map((l) => `alice: ${l}`));
  assert.equal(alice.stderr.match(/: delivered \(200/g)?.length, 20, alice.stderr);
});

serverTest(
  "tinychat connect (piped) exits 0 when the partner is offline and the lines are stored",
  async () => {
    await using server = await start();
    await using state = await tempDir();
    await (await connect({ user: "bob", port: server.port, reconnect: false })).close();
    await using alice = new PipedConnect(
      ["--user", "alice", "--to", "bob", "--port", String(server.port), "--state", state.path],
    );
    await alice.write("for later\n");
    await alice.end();
    assert.equal((await alice.status).code, 0, alice.stderr);
    assert.match(alice.stderr, /bob: stored \(300, id \d+\)/);
  },
);

serverTest("tinychat connect (piped) exits 1 when --to is not a user", async () => {
  await using server = await start();
  await using state = await tempDir();
  await using alice = new PipedConnect(
    ["--user", "alice", "--to", "nobody", "--port", String(server.port), "--state", state.path],
  );
  await alice.write("anyone?\n");
  await alice.end();
  assert.equal((await alice.status).code, 1, alice.stderr);
  assert.match(alice.stderr, /nobody: unknown user \(404/);
});

serverTest("tinychat connect (piped) without --to exits 2 with one line", async () => {
  await using server = await start();
  await using state = await tempDir();
  await using alice = new PipedConnect(
    ["--user", "alice", "--port", String(server.port), "--state", state.path],
  );
  await alice.end();
  assert.equal((await alice.status).code, 2, alice.stderr);
  assert.match(alice.stderr, /^tinychat: connect: --to is required[^\n]*\n$/);
});

serverTest("tinychat connect exits 1 with one line when the name is in use (409)", async () => {
  await using server = await start();
  await using state = await tempDir();
  await using _alice = await receiver(server.port, "alice");
  await using second = new PipedConnect(
    ["--user", "alice", "--to", "bob", "--port", String(server.port), "--state", state.path],
  );
  await second.end();
  assert.equal((await second.status).code, 1, second.stderr);
  assert.match(second.stderr, /^tinychat: [^\n]*409[^\n]*\n$/);
});
