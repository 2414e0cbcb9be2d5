/**
 * The interactive `tinychat connect` in a real pseudo-terminal: tmux runs it in a detached
 * session of fixed size, `send-keys` types, `capture-pane` reads the screen. The partner is a
 * library client in the test. Every wait polls the screen against a deadline.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { type ClientEvent, connect, type TinychatClient } from "../client.ts";
import { localClock } from "../cli/render.ts";
import { serverTest, start, tempDir } from "./_server.ts";

const MOD = fileURLToPath(new URL("../mod.ts", import.meta.url));
const COLUMNS = 100;
const ROWS = 30;
const WAIT_MS = 10_000;
const POLL_MS = 50;

const hasTmux = (() => {
  try {
    return new Deno.Command("tmux", { args: ["-V"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

/**
 * A private tmux server, killed on dispose: its own config, and its own socket (`-S`, a unique
 * path in the test's temporary directory, so no socket file is left behind in /tmp/tmux-UID).
 */
class Tmux implements AsyncDisposable {
  readonly socket: string;
  readonly #config: string;

  private constructor(dir: string, config: string) {
    this.socket = `${dir}/tmux-${crypto.randomUUID().slice(0, 8)}.sock`;
    this.#config = config;
  }

  static async open(dir: string): Promise<Tmux> {
    const config = `${dir}/tmux.conf`;
    await Deno.writeTextFile(
      config,
      [
        "set -g remain-on-exit on",
        "set -g status off",
        "set -g escape-time 0",
        `set -g default-size ${COLUMNS}x${ROWS}`,
      ].join("\n") + "\n",
    );
    return new Tmux(dir, config);
  }

  async run(...args: string[]): Promise<string> {
    const output = await new Deno.Command("tmux", {
      args: ["-u", "-S", this.socket, "-f", this.#config, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(WAIT_MS),
    }).output();
    const decoder = new TextDecoder();
    if (!output.success) {
      throw new Error(`tmux ${args.join(" ")}: ${decoder.decode(output.stderr)}`);
    }
    return decoder.decode(output.stdout);
  }

  /** Runs `tinychat connect ...args` in a new detached session `name`. */
  async connect(name: string, args: string[]): Promise<Pane> {
    await this.run(
      "new-session",
      "-d",
      "-s",
      name,
      "-x",
      String(COLUMNS),
      "-y",
      String(ROWS),
      Deno.execPath(),
      "run",
      "--allow-all",
      "--quiet",
      MOD,
      "connect",
      ...args,
    );
    return new Pane(this, name);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.run("kill-server").catch(() => {});
  }
}

/** One session's pane: type into it, read its screen. */
class Pane {
  readonly #tmux: Tmux;
  readonly name: string;

  constructor(tmux: Tmux, name: string) {
    this.#tmux = tmux;
    this.name = name;
  }

  /** Types `text` literally (no Enter). */
  async type(text: string): Promise<void> {
    await this.#tmux.run("send-keys", "-t", this.name, "-l", text);
  }

  /** Presses a key by its tmux name ("Enter", "C-d", …). */
  async press(key: string): Promise<void> {
    await this.#tmux.run("send-keys", "-t", this.name, key);
  }

  /** The visible screen, wrapped lines joined, trailing spaces trimmed, trailing blank lines dropped. */
  async screen(): Promise<string[]> {
    const text = await this.#tmux.run("capture-pane", "-p", "-J", "-t", this.name);
    const lines = text.split("\n").map((line) => line.trimEnd());
    while (lines.length > 0 && lines.at(-1) === "") lines.pop();
    return lines;
  }

  async info(): Promise<{ dead: boolean; status: number; cursorX: number; cursorY: number }> {
    const text = await this.#tmux.run(
      "display-message",
      "-p",
      "-t",
      this.name,
      "#{pane_dead} #{pane_dead_status} #{cursor_x} #{cursor_y}",
    );
    const [dead, status, x, y] = text.trim().split(" ");
    return { dead: dead === "1", status: Number(status), cursorX: Number(x), cursorY: Number(y) };
  }

  /** Polls the screen until `check` returns a value (not undefined), within `timeoutMs`. */
  async waitFor<T>(
    what: string,
    check: (lines: string[]) => T | undefined,
    timeoutMs = WAIT_MS,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let lines: string[] = [];
    while (Date.now() < deadline) {
      lines = await this.screen();
      const found = check(lines);
      if (found !== undefined) return found;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    throw new Error(
      `${this.name}: no ${what} within ${timeoutMs} ms; screen:\n${lines.join("\n")}`,
    );
  }

  /** Waits for the last line of the screen (the prompt) to be exactly `line`. */
  waitForPrompt(line: string): Promise<string[]> {
    return this.waitFor(`prompt ${JSON.stringify(line)}`, (l) => l.at(-1) === line ? l : undefined);
  }

  /** Waits for the client to exit; resolves with its exit status. */
  async waitExit(): Promise<number> {
    const deadline = Date.now() + WAIT_MS;
    while (Date.now() < deadline) {
      const info = await this.info();
      if (info.dead) return info.status;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    throw new Error(
      `${this.name}: still running after ${WAIT_MS} ms:\n${(await this.screen()).join("\n")}`,
    );
  }
}

/** A library client (the partner) that records its events. */
async function partner(port: number, user: string) {
  const client: TinychatClient = await connect({ user, port, reconnect: false });
  const events: ClientEvent[] = [];
  const reading = (async () => {
    for await (const event of client.events()) events.push(event);
  })();
  return {
    client,
    events,
    async waitFor(what: string, match: (e: ClientEvent) => boolean): Promise<ClientEvent> {
      const deadline = Date.now() + WAIT_MS;
      while (Date.now() < deadline) {
        const found = events.find(match);
        if (found !== undefined) return found;
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
      throw new Error(`${user}: no ${what}; events: ${JSON.stringify(events)}`);
    },
    async [Symbol.asyncDispose]() {
      await client.close();
      await reading;
    },
  };
}

/** `serverTest`, or an ignored test when tmux is not installed (never on CI: .ci/run installs it). */
function ttyTest(name: string, fn: () => Promise<void>): void {
  if (hasTmux || Deno.env.get("CI") !== undefined) serverTest(name, fn);
  else Deno.test({ name: `${name} (needs tmux)`, ignore: true, fn });
}

const CLOCK = /^\[(\d\d:\d\d)\] /;

ttyTest(
  "tinychat connect in a terminal: chat, a message above a half-typed line, quit, a stored message seen on return",
  async () => {
    await using server = await start();
    await using dir = await tempDir();
    await using tmux = await Tmux.open(dir.path);
    await using bob = await partner(server.port, "bob");
    const args = [
      "--user",
      "alice",
      "--port",
      String(server.port),
      "--state",
      `${dir.path}/state`,
      "--color",
      "never",
    ];

    const alice = await tmux.connect("alice1", args);
    await alice.waitFor(
      "the login line",
      (l) =>
        l.some((line) => line.startsWith("── logged in as alice at 127.0.0.1:")) ? true : undefined,
    );
    await alice.waitForPrompt("alice>");
    await alice.type("/to bob");
    await alice.press("Enter");
    await alice.waitForPrompt("alice → bob>");

    // bob writes while alice has half a line typed: it appears above, her line stays as it was.
    const halfTyped = "half 你好 typed 🎉 so far";
    await alice.type(halfTyped);
    await alice.waitForPrompt(`alice → bob> ${halfTyped}`);
    const before = localClock(new Date());
    assert.equal((await bob.client.send("alice", "ping from bob")).fate, "delivered");
    const after = localClock(new Date());
    const screen = await alice.waitFor(
      "bob's message",
      (l) => l.some((line) => line.endsWith("bob: ping from bob")) ? l : undefined,
    );
    const row = screen.findIndex((line) => line.endsWith("bob: ping from bob"));
    const clock = CLOCK.exec(screen[row]!)?.[1];
    assert.ok(clock === before || clock === after, `${screen[row]} (sent at ${before})`);
    assert.equal(screen[row], `[${clock}] bob: ping from bob`);
    assert.equal(
      row,
      screen.length - 2,
      `the message sits right above the prompt:\n${screen.join("\n")}`,
    );
    assert.equal(screen.at(-1), `alice → bob> ${halfTyped}`);
    // The cursor is still at the end of what she typed (CJK and emoji take two columns each).
    const cursor = await alice.info();
    assert.equal(cursor.cursorY, screen.length - 1);
    assert.equal(
      cursor.cursorX,
      "alice → bob> half ".length + 4 + " typed ".length + 2 + " so far".length,
    );

    // She finishes the line: bob receives exactly what she typed.
    await alice.type(", done");
    await alice.press("Enter");
    const got = await bob.waitFor(
      "alice's line",
      (e) => e.kind === "message" && e.from === "alice",
    );
    assert.equal(got.kind === "message" && got.text, `${halfTyped}, done`);
    await alice.waitFor(
      "the fate of her line",
      (l) =>
        l.some((line) => line.endsWith(`alice → bob: ${halfTyped}, done  ✓ delivered`))
          ? true
          : undefined,
    );
    await alice.waitForPrompt("alice → bob>");

    // She quits; bob's next message waits on the server.
    await alice.type("/quit");
    await alice.press("Enter");
    assert.equal(await alice.waitExit(), 0);
    const sentBefore = localClock(new Date());
    const stored = await bob.client.send("alice", "welcome back 🌸");
    assert.equal(stored.fate, "stored");
    const sentAfter = localClock(new Date());

    // She comes back: the summary with since when, then the message with the time it was sent.
    const again = await tmux.connect("alice2", args);
    const away = await again.waitFor("the away block", (l) => {
      const summary = l.findIndex((line) =>
        /^── while you were away: 1 message from bob \(1\) since \d\d:\d\d ──$/.test(line)
      );
      const message = l.findIndex((line) => line.endsWith("bob: welcome back 🌸"));
      return summary >= 0 && message > summary ? { l, summary, message } : undefined;
    });
    const awayClock = CLOCK.exec(away.l[away.message]!)?.[1];
    assert.ok(awayClock === sentBefore || awayClock === sentAfter, away.l[away.message]);
    assert.ok(away.l[away.summary]!.endsWith(`since ${awayClock} ──`), away.l[away.summary]);
    assert.equal(away.l[away.message], `[${awayClock}] bob: welcome back 🌸`);
    await again.waitForPrompt("alice>");
    // Her client acknowledged it: bob gets the late receipt.
    await bob.waitFor("the receipt", (e) => e.kind === "receipt" && e.id === stored.id);

    await again.press("C-d");
    assert.equal(await again.waitExit(), 0);
  },
);

ttyTest(
  "tinychat connect in a terminal: a message arriving while the typed line wraps keeps the line intact",
  async () => {
    await using server = await start();
    await using dir = await tempDir();
    await using tmux = await Tmux.open(dir.path);
    await using bob = await partner(server.port, "bob");
    const alice = await tmux.connect("alice", [
      "--user",
      "alice",
      "--to",
      "bob",
      "--port",
      String(server.port),
      "--state",
      `${dir.path}/state`,
      "--color",
      "never",
    ]);
    await alice.waitForPrompt("alice → bob>");

    // 13 columns of prompt + 181 of text: the line wraps once, and the CJK run reaches the last
    // column with a wide character that does not fit (the terminal wraps it early).
    const long = `start ${
      "一二三四五六七八九十".repeat(5)
    } and then some more plain text to go past the edge ${"x".repeat(20)} end`;
    await alice.type(long);
    await alice.waitForPrompt(`alice → bob> ${long}`);
    for (const text of ["first while wrapped", "second while wrapped"]) {
      assert.equal((await bob.client.send("alice", text)).fate, "delivered");
      await alice.waitFor(
        `"${text}" above the prompt`,
        (l) =>
          l.at(-2)?.endsWith(`bob: ${text}`) && l.at(-1) === `alice → bob> ${long}`
            ? true
            : undefined,
      );
    }
    const screen = await alice.screen();
    assert.equal(
      screen.filter((line) => line.includes("while wrapped")).length,
      2,
      screen.join("\n"),
    );

    // With the cursor moved back into the line, a message arrives; typing goes where it was.
    for (let i = 0; i < 4; i++) await alice.press("Left");
    assert.equal((await bob.client.send("alice", "third while editing")).fate, "delivered");
    await alice.waitFor(
      "the third message",
      (l) => l.at(-2)?.endsWith("bob: third while editing") ? true : undefined,
    );
    await alice.type("!");
    const edited = `${long.slice(0, -4)}!${long.slice(-4)}`;
    await alice.waitForPrompt(`alice → bob> ${edited}`);
    await alice.press("Enter");
    const got = await bob.waitFor(
      "alice's line",
      (e) => e.kind === "message" && e.from === "alice",
    );
    assert.equal(got.kind === "message" && got.text, edited);

    // Tab completes a command.
    await alice.waitForPrompt("alice → bob>");
    await alice.type("/wh");
    await alice.press("Tab");
    await alice.waitForPrompt("alice → bob> /who");
    await alice.press("Enter");
    await alice.waitFor(
      "the answer to /who",
      (l) => l.includes("online: alice, bob") && l.includes("away:   nobody") ? true : undefined,
    );

    // A plain line that wraps at the edge exactly (readline redraws itself there).
    const plain = "p".repeat(COLUMNS - "alice → bob> ".length) + "q".repeat(40);
    await alice.type(plain);
    await alice.waitForPrompt(`alice → bob> ${plain}`);
    assert.equal((await bob.client.send("alice", "fourth")).fate, "delivered");
    await alice.waitFor(
      "the fourth message",
      (l) =>
        l.at(-2)?.endsWith("bob: fourth") && l.at(-1) === `alice → bob> ${plain}`
          ? true
          : undefined,
    );
    await alice.press("C-u");
    await alice.waitForPrompt("alice → bob>");
    await alice.type("/quit");
    await alice.press("Enter");
    assert.equal(await alice.waitExit(), 0);
  },
);
