/**
 * The client library (client.ts) against the real server process: fates, auto-acks, stored
 * messages and late receipts, presence, login errors, and reconnecting after the server is
 * killed and restarted on the same port.
 */
import assert from "node:assert/strict";
import { type ClientEvent, connect, LoginError, type TinychatClient } from "../client.ts";
import { serverTest, start, tempDir } from "./_server.ts";

const WAIT_MS = 5000;

/** Records every event of a client (one reader of `events()`) and waits for matching ones. */
class Inbox implements AsyncDisposable {
  readonly client: TinychatClient;
  readonly events: ClientEvent[] = [];
  #changed = Promise.withResolvers<void>();
  #reading: Promise<void>;

  constructor(client: TinychatClient) {
    this.client = client;
    this.#reading = (async () => {
      for await (const event of client.events()) {
        this.events.push(event);
        this.#changed.resolve();
        this.#changed = Promise.withResolvers<void>();
      }
    })();
  }

  /** The first recorded event matching `match`, waiting up to `timeoutMs`. */
  async waitFor<K extends ClientEvent["kind"]>(
    kind: K,
    match: (event: Extract<ClientEvent, { kind: K }>) => boolean = () => true,
    timeoutMs = WAIT_MS,
  ): Promise<Extract<ClientEvent, { kind: K }>> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const found = this.events.find((e): e is Extract<ClientEvent, { kind: K }> =>
        e.kind === kind && match(e as Extract<ClientEvent, { kind: K }>)
      );
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `${this.client.user}: no "${kind}" event within ${timeoutMs} ms; events: ${
            JSON.stringify(this.events.map((e) => ({ ...e, payload: undefined })))
          }`,
        );
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.#changed.promise,
        new Promise((resolve) => timer = setTimeout(resolve, left)),
      ]);
      clearTimeout(timer);
    }
  }

  /** The texts of the messages received so far from `from`. */
  textsFrom(from: string): string[] {
    return this.events.flatMap((e) => e.kind === "message" && e.from === from ? [e.text] : []);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.client.close();
    await this.#reading;
  }
}

async function login(port: number, user: string, reconnect = false): Promise<Inbox> {
  return new Inbox(await connect({ user, port, reconnect, connectTimeoutMs: WAIT_MS }));
}

/** Resolves `promise`, or rejects when `timeoutMs` passes first. */
async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) =>
        timer = setTimeout(
          () => reject(new Error(`${what}: no result in ${timeoutMs} ms`)),
          timeoutMs,
        )
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

serverTest(
  "connect().send() resolves 'delivered' and the online partner's events() yield it",
  async () => {
    await using server = await start();
    await using alice = await login(server.port, "alice");
    await using bob = await login(server.port, "bob");
    const result = await within(alice.client.send("bob", "hi bob 你好 🎉"), WAIT_MS, "send");
    assert.equal(result.fate, "delivered");
    assert.equal(result.code, "200");
    assert.equal(result.to, "bob");
    const message = await bob.waitFor("message");
    assert.equal(message.from, "alice");
    assert.equal(message.text, "hi bob 你好 🎉");
    assert.equal(message.id, result.id);
    assert.equal(message.stored, false);
    assert.deepEqual(message.payload, new TextEncoder().encode("hi bob 你好 🎉"));
  },
);

serverTest("connect().send() gives each message its own id, in order", async () => {
  await using server = await start();
  await using alice = await login(server.port, "alice");
  await using bob = await login(server.port, "bob");
  const results = await within(
    Promise.all(["one", "two", "three"].map((t) => alice.client.send("bob", t))),
    WAIT_MS,
    "send",
  );
  assert.deepEqual(results.map((r) => r.fate), ["delivered", "delivered", "delivered"]);
  assert.equal(new Set(results.map((r) => r.id)).size, 3);
  await bob.waitFor("message", (m) => m.text === "three");
  assert.deepEqual(bob.textsFrom("alice"), ["one", "two", "three"]);
});

serverTest(
  "connect().send() resolves 'stored' for an offline user, who gets it at login; the sender gets a receipt",
  async () => {
    await using server = await start();
    await (await login(server.port, "alice"))[Symbol.asyncDispose](); // alice is now known
    await using bob = await login(server.port, "bob");
    const before = Date.now();
    const result = await within(bob.client.send("alice", "while you were out"), WAIT_MS, "send");
    const after = Date.now();
    assert.equal(result.fate, "stored");
    assert.equal(result.code, "300");
    await new Promise((resolve) => setTimeout(resolve, 50));

    await using alice = await login(server.port, "alice");
    const message = await alice.waitFor("message");
    assert.equal(message.from, "bob");
    assert.equal(message.text, "while you were out");
    assert.equal(message.stored, true);
    // When the server received it, not when it arrived here.
    const sentAt = message.sentAt?.getTime() ?? NaN;
    assert.ok(sentAt >= before && sentAt <= after, `sentAt ${sentAt} not in [${before}, ${after}]`);
    assert.ok(message.at.getTime() > after);
    assert.equal(message.id, result.id);

    const receipt = await bob.waitFor("receipt");
    assert.equal(receipt.to, "alice");
    assert.equal(receipt.id, result.id);
  },
);

serverTest(
  "connect().send() resolves 'unknown user' (404) for a name that never logged in",
  async () => {
    await using server = await start();
    await using alice = await login(server.port, "alice");
    const result = await within(alice.client.send("nobody", "hello?"), WAIT_MS, "send");
    assert.equal(result.fate, "unknown user");
    assert.equal(result.code, "404");
  },
);

serverTest(
  "TinychatClient.send() rejects a bad recipient name or an oversized text locally",
  async () => {
    await using server = await start();
    await using alice = await login(server.port, "alice");
    await assert.rejects(alice.client.send("bo b", "x"), RangeError);
    // Long text goes in CHUNKs; beyond 16 MiB the client refuses.
    await assert.rejects(
      alice.client.send("bob", new Uint8Array(16 * 1024 * 1024 + 1)),
      RangeError,
    );
    assert.equal(alice.client.unanswered, 0);
  },
);

serverTest("TinychatClient.who() lists online users and known users who are away", async () => {
  await using server = await start();
  await (await login(server.port, "carol"))[Symbol.asyncDispose]();
  await using alice = await login(server.port, "alice");
  await using bob = await login(server.port, "bob");
  // The server may see carol's close a moment after bob's login: ask until it has.
  const deadline = Date.now() + WAIT_MS;
  let presence = await alice.client.who();
  while (presence.online.includes("carol") && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    presence = await alice.client.who();
  }
  assert.deepEqual(presence.online, ["alice", "bob"]);
  assert.deepEqual(presence.away, ["carol"]);
  assert.equal(bob.client.online, true);
});

serverTest("connect() rejects with LoginError code 409 for a name already logged in", async () => {
  await using server = await start();
  await using _alice = await login(server.port, "alice");
  await assert.rejects(
    connect({ user: "alice", port: server.port, reconnect: false }),
    (error: unknown) => {
      assert.ok(error instanceof LoginError, String(error));
      assert.equal(error.code, "409");
      assert.match(error.message, /alice/);
      return true;
    },
  );
});

serverTest("connect() rejects with LoginError code 400 for a bad name", async () => {
  await using server = await start();
  for (const user of ["bo b", "", "muchtoolong", "a\u0001"]) {
    await assert.rejects(
      connect({ user, port: server.port, reconnect: false }),
      (error: unknown) => {
        assert.ok(error instanceof LoginError, `${JSON.stringify(user)}: ${error}`);
        assert.equal(error.code, "400");
        return true;
      },
    );
  }
});

serverTest("connect() closes the session when its signal aborts", async () => {
  await using server = await start();
  const stop = new AbortController();
  await using alice = new Inbox(
    await connect({ user: "alice", port: server.port, signal: stop.signal }),
  );
  stop.abort();
  const closed = await alice.waitFor("closed");
  assert.equal(closed.kind, "closed");
  assert.equal(alice.client.online, false);
  await assert.rejects(alice.client.send("bob", "x"), /closed/);
});

serverTest(
  "TinychatClient reconnects after the server is killed and restarted on the same port; a send made while down is delivered once",
  async () => {
    await using data = await tempDir();
    await using first = await start({ dataDir: data.path });
    const port = first.port;
    await using alice = await login(port, "alice", true);
    await using bob = await login(port, "bob", true);
    first.kill("SIGKILL");
    await first.status;
    await alice.waitFor("disconnected");
    await bob.waitFor("disconnected");
    assert.equal(alice.client.online, false);

    const sending = alice.client.send("bob", "sent while the server was down");
    assert.equal(alice.client.unanswered, 1);
    let settled = false;
    void sending.finally(() => settled = true);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(settled, false, "send() resolved while there was no server");

    await using second = await start({ dataDir: data.path, args: ["--port", String(port)] });
    assert.equal(second.port, port);
    await alice.waitFor("reconnected", undefined, 15_000);
    await bob.waitFor("reconnected", undefined, 15_000);
    const kinds = alice.events.map((e) => e.kind);
    assert.ok(kinds.indexOf("disconnected") < kinds.indexOf("reconnected"), `order: ${kinds}`);

    const result = await within(sending, WAIT_MS, "the send made while disconnected");
    // Whether bob was back before alice decides between the two; either way he gets it once.
    assert.ok(result.fate === "delivered" || result.fate === "stored", result.fate);
    await bob.waitFor("message", (m) => m.text === "sent while the server was down");
    if (result.fate === "stored") await alice.waitFor("receipt", (r) => r.id === result.id);
    // A duplicate would arrive before a later message from the same sender.
    const after = await within(alice.client.send("bob", "after"), WAIT_MS, "a later send");
    assert.equal(after.fate, "delivered");
    await bob.waitFor("message", (m) => m.text === "after");
    assert.deepEqual(bob.textsFrom("alice"), ["sent while the server was down", "after"]);
    assert.equal(alice.client.unanswered, 0);
  },
);

serverTest("TinychatClient.events() gives every concurrent reader each message", async () => {
  await using server = await start();
  await using bob = await login(server.port, "bob");
  const second = new Inbox(bob.client);
  await using alice = await login(server.port, "alice");
  const result = await alice.client.send("bob", "to both readers");
  assert.equal(result.fate, "delivered");
  await bob.waitFor("message", (e) => e.text === "to both readers");
  await second.waitFor("message", (e) => e.text === "to both readers");
  await bob.client.close();
  await second[Symbol.asyncDispose]();
});
