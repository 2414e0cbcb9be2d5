/**
 * Rooms and history from the user's side, against the real server: the client library's join,
 * leave, rooms, members, history and room messages; `tinychat connect --to '#all'` (piped) and
 * `tinychat send --to '#all'` as child processes; `tinychat log` over the server's data directory.
 */
import assert from "node:assert/strict";
import { type ClientEvent, connect } from "../client.ts";
import { RoomError } from "../client_rooms.ts";
import { cliCommand, serverTest, start, tempDir } from "./_server.ts";

const WAIT_MS = 10_000;

/** A library client that records its events. */
async function recorder(port: number, user: string) {
  const client = await connect({ user, port, reconnect: false });
  const events: ClientEvent[] = [];
  let changed = Promise.withResolvers<void>();
  const reading = (async () => {
    for await (const event of client.events()) {
      events.push(event);
      changed.resolve();
      changed = Promise.withResolvers<void>();
    }
  })();
  return {
    client,
    events,
    /** Waits (bounded) for an event that `match` accepts, and returns it. */
    async waitFor(what: string, match: (e: ClientEvent) => boolean): Promise<ClientEvent> {
      const deadline = Date.now() + WAIT_MS;
      while (true) {
        const found = events.find(match);
        if (found !== undefined) return found;
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`${user}: no ${what}; got ${JSON.stringify(events)}`);
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

function isMessage(room: string | undefined, from: string, text: string) {
  return (e: ClientEvent) =>
    e.kind === "message" && e.room === room && e.from === from && e.text === text;
}

async function rejection(promise: Promise<unknown>): Promise<RoomError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof RoomError, String(error));
    return error;
  }
  throw new Error("expected a RoomError");
}

serverTest(
  "TinychatClient join/leave/rooms/members/history and room messages work against the server",
  async () => {
    await using server = await start();
    await using alice = await recorder(server.port, "alice");
    await using bob = await recorder(server.port, "bob");

    const first = await alice.client.rooms();
    assert.deepEqual(first.find((r) => r.name === "#all")?.member, true);

    await alice.client.join("#dev");
    await bob.client.join("#dev");
    await alice.waitFor(
      "bob's join notice",
      (e) => e.kind === "notice" && e.room === "#dev" && e.user === "bob" && e.what === "joined",
    );

    const sent = await alice.client.send("#dev", "hi dev");
    assert.equal(sent.fate, "delivered");
    assert.equal(sent.code, "200");
    const got = await bob.waitFor("the room message", isMessage("#dev", "alice", "hi dev"));
    assert.ok(got.kind === "message" && got.sentAt instanceof Date);
    // The sender sees its own message from the server, with the server's time.
    const echo = await alice.waitFor("the echo", isMessage("#dev", "alice", "hi dev"));
    assert.ok(echo.kind === "message" && echo.sentAt instanceof Date);
    assert.ok(Math.abs(echo.sentAt!.getTime() - Date.now()) < 60_000);

    const rooms = await alice.client.rooms();
    assert.deepEqual(rooms.find((r) => r.name === "#dev"), {
      name: "#dev",
      members: 2,
      member: true,
    });
    const members = await alice.client.members("#dev");
    assert.deepEqual(members.online.toSorted(), ["alice", "bob"]);
    assert.deepEqual(members.away, []);

    await alice.client.send("#dev", "second");
    await bob.waitFor("the second message", isMessage("#dev", "alice", "second"));
    const history = await bob.client.history("#dev", { limit: 10 });
    assert.deepEqual(history.map((e) => [e.from, e.to, e.text]), [
      ["alice", "#dev", "hi dev"],
      ["alice", "#dev", "second"],
    ]);
    assert.ok(history[0]!.seq < history[1]!.seq);
    assert.ok(history.every((e) => e.sentAt instanceof Date && !Number.isNaN(e.sentAt.getTime())));
    const older = await bob.client.history("#dev", { limit: 10, before: history[1]!.seq });
    assert.deepEqual(older.map((e) => e.text), ["hi dev"]);

    assert.equal((await alice.client.send("bob", "psst")).fate, "delivered");
    const direct = await bob.client.history("alice", { limit: 5 });
    assert.deepEqual(direct.map((e) => [e.from, e.to, e.text]), [["alice", "bob", "psst"]]);

    await bob.client.leave("#dev");
    await alice.waitFor(
      "bob's leave notice",
      (e) => e.kind === "notice" && e.room === "#dev" && e.user === "bob" && e.what === "left",
    );
    assert.equal((await rejection(bob.client.leave("#dev"))).code, "404");
    assert.equal((await rejection(bob.client.leave("#all"))).code, "403");
    assert.equal((await rejection(bob.client.history("#dev"))).code, "403");
    assert.equal((await rejection(bob.client.members("#nope"))).code, "404");
    const refused = await bob.client.send("#dev", "let me in");
    assert.equal(refused.fate, "rejected");
    assert.equal(refused.code, "403");
    await assert.rejects(() => bob.client.join("#"), RangeError);

    // A join replays the room's last messages, marked as such.
    await using carol = await recorder(server.port, "carol");
    await carol.client.join("#dev");
    const replayed = await carol.waitFor("the replay", isMessage("#dev", "alice", "second"));
    assert.ok(replayed.kind === "message" && replayed.replay === true);
  },
);

/** `tinychat ...args`; resolves with its exit code and output. */
async function cli(args: string[], stdin?: string) {
  const child = cliCommand(args, {
    stdin: stdin === undefined ? "null" : "piped",
    signal: AbortSignal.timeout(20_000),
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code, stdout: text(stdout), stderr: text(stderr) };
}

serverTest(
  "tinychat send/connect --to '#all' post to the room, and tinychat log prints the history",
  async () => {
    await using server = await start();
    await using state = await tempDir();
    await using bob = await recorder(server.port, "bob");
    const port = String(server.port);
    const common = ["--port", port, "--state", state.path];

    const sent = await cli(["send", "--user", "ci", "--to", "#all", ...common, "build green"]);
    assert.equal(sent.code, 0, sent.stderr);
    assert.match(sent.stdout, /^#all: delivered \(200, id \d+\)$/m);
    await bob.waitFor("ci's message", isMessage("#all", "ci", "build green"));

    // Piped connect: its lines go to #all; what others say there is printed as "#all NAME: text".
    const piped = cliCommand(["connect", "--user", "dave", "--to", "#all", ...common], {
      stdin: "piped",
      signal: AbortSignal.timeout(20_000),
    }).spawn();
    let stdout = "";
    let seen = Promise.withResolvers<void>();
    const reading = (async () => {
      for await (const text of piped.stdout.pipeThrough(new TextDecoderStream())) {
        stdout += text;
        seen.resolve();
        seen = Promise.withResolvers<void>();
      }
    })();
    const stderrText = new Response(piped.stderr).text();
    const writer = piped.stdin.getWriter();
    await writer.write(new TextEncoder().encode("hello all\n"));
    await bob.waitFor("dave's message", isMessage("#all", "dave", "hello all"));
    assert.equal((await bob.client.send("#all", "hi dave")).fate, "delivered");
    const deadline = Date.now() + WAIT_MS;
    while (!/#all bob: hi dave/.test(stdout) && Date.now() < deadline) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([seen.promise, new Promise((r) => timer = setTimeout(r, 200))]);
      clearTimeout(timer);
    }
    await writer.close();
    const out = await piped.status;
    await reading;
    const stderr = await stderrText;
    assert.equal(out.code, 0, stderr);
    assert.match(stdout, /^\[\d\d:\d\d\] #all bob: hi dave$/m);
    assert.doesNotMatch(stdout, /dave: hello all/, "its own echo is not printed");
    assert.match(stderr, /#all: delivered \(200, id \d+\)/);

    const log = await cli(["log", "--data", server.dataDir]);
    assert.equal(log.code, 0, log.stderr);
    const lines = log.stdout.trimEnd().split("\n");
    const stamp = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d /;
    assert.ok(lines.every((l) => stamp.test(l)), log.stdout);
    assert.deepEqual(lines.map((l) => l.replace(stamp, "")), [
      "ci → #all: build green",
      "dave → #all: hello all",
      "bob → #all: hi dave",
    ]);

    const json = await cli(["log", "--data", server.dataDir, "--json", "--user", "dave"]);
    assert.equal(json.code, 0, json.stderr);
    const rows = json.stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
    assert.equal(rows.length, 1);
    assert.deepEqual(Object.keys(rows[0]), ["seq", "at", "from", "to", "text"]);
    assert.equal(rows[0].from, "dave");
    assert.equal(rows[0].text, "hello all");
    assert.ok(Math.abs(Date.parse(rows[0].at) - Date.now()) < 120_000);

    const recent = await cli(["log", "--data", server.dataDir, "--since", "3d", "--json"]);
    assert.equal(recent.stdout.trimEnd().split("\n").length, 3);
    const future = await cli(["log", "--data", server.dataDir, "--since", "2999-01-01"]);
    assert.equal(future.code, 0);
    assert.equal(future.stdout, "");

    const bad = await cli(["log", "--data", server.dataDir, "--since", "soon"]);
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr.trimEnd().split("\n").length, 1);
    const missing = await cli(["log", "--data", `${state.path}/nothing`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^tinychat: log: no database at .*tinychat\.db/);
  },
);
