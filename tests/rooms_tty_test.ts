/**
 * Rooms in the interactive `tinychat connect`, in a real pseudo-terminal (tmux, as in
 * connect_tty_test.ts): /join, a room line from another member, our own line from the server's
 * echo, a join notice.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { type ClientEvent, connect } from "../client.ts";
import { serverTest, start, tempDir } from "./_server.ts";

const MOD = fileURLToPath(new URL("../mod.ts", import.meta.url));
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

/** A private tmux server with one 100x30 session running `tinychat connect ...args`. */
async function tmuxConnect(dir: string, args: string[]) {
  const socket = `${dir}/tmux-${crypto.randomUUID().slice(0, 8)}.sock`;
  const config = `${dir}/tmux.conf`;
  await Deno.writeTextFile(config, "set -g status off\nset -g escape-time 0\n");
  const tmux = async (...rest: string[]) => {
    const output = await new Deno.Command("tmux", {
      args: ["-u", "-S", socket, "-f", config, ...rest],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(WAIT_MS),
    }).output();
    const text = new TextDecoder();
    if (!output.success) throw new Error(`tmux ${rest[0]}: ${text.decode(output.stderr)}`);
    return text.decode(output.stdout);
  };
  const session = ["new-session", "-d", "-s", "chat", "-x", "100", "-y", "30"];
  await tmux(...session, Deno.execPath(), "run", "--allow-all", "--quiet", MOD, "connect", ...args);
  return {
    async type(line: string) {
      await tmux("send-keys", "-t", "chat", "-l", line);
      await tmux("send-keys", "-t", "chat", "Enter");
    },
    async waitFor(what: string, pattern: RegExp): Promise<string> {
      const deadline = Date.now() + WAIT_MS;
      let screen = "";
      while (Date.now() < deadline) {
        screen = await tmux("capture-pane", "-p", "-J", "-t", "chat");
        const line = screen.split("\n").find((l) => pattern.test(l));
        if (line !== undefined) return line.trimEnd();
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
      throw new Error(`no ${what} within ${WAIT_MS} ms; screen:\n${screen}`);
    },
    async [Symbol.asyncDispose]() {
      await tmux("kill-server").catch(() => {});
    },
  };
}

function ttyTest(name: string, fn: () => Promise<void>): void {
  if (hasTmux || Deno.env.get("CI") !== undefined) serverTest(name, fn);
  else Deno.test({ name: `${name} (needs tmux)`, ignore: true, fn });
}

ttyTest(
  "tinychat connect in a terminal: /join, room lines as `#dev name: text`, own line from the echo",
  async () => {
    await using server = await start();
    await using dir = await tempDir();
    const bob = await connect({ user: "bob", port: server.port, reconnect: false });
    const events: ClientEvent[] = [];
    const reading = (async () => {
      for await (const event of bob.events()) events.push(event);
    })();
    try {
      await bob.join("#dev");
      await using alice = await tmuxConnect(dir.path, [
        "--user",
        "alice",
        "--port",
        String(server.port),
        "--state",
        `${dir.path}/state`,
        "--save-dir",
        `${dir.path}/files`,
        "--color",
        "never",
      ]);
      await alice.waitFor("the login line", /^── logged in as alice/);
      await alice.type("/join #dev");
      await alice.waitFor("the join line", /^── joined #dev; \/to #dev to talk there ──$/);
      const deadline = Date.now() + WAIT_MS;
      while (!events.some((e) => e.kind === "notice" && e.user === "alice")) {
        assert.ok(Date.now() < deadline, `bob saw no join notice: ${JSON.stringify(events)}`);
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }

      assert.equal((await bob.send("#dev", "hello from bob")).fate, "delivered");
      await alice.waitFor("bob's room line", /^\[\d\d:\d\d\] #dev bob: hello from bob$/);
      await alice.type("/to #dev");
      await alice.type("hi bob");
      await alice.waitFor("the echo of alice's line", /^\[\d\d:\d\d\] #dev alice: hi bob$/);
      while (!events.some((e) => e.kind === "message" && e.text === "hi bob")) {
        assert.ok(Date.now() < deadline, `bob did not get alice's line: ${JSON.stringify(events)}`);
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
      const got = events.find((e) => e.kind === "message" && e.text === "hi bob");
      assert.ok(got?.kind === "message" && got.room === "#dev" && got.from === "alice");
    } finally {
      await bob.close();
      await reading;
    }
  },
);
