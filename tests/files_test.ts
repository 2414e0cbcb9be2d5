/**
 * File transfers (FILE and DATA, docs/PROTOCOL.md section 15) end to end: the real server
 * process, the client library and the CLI. A 20 MB file with its hash checked at the receiver,
 * a file to an offline user across a server restart, `tinychat send --file`, an interrupted
 * download that resumes, and a hostile name that stays inside the save folder.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { type ClientEvent, connect, type TinychatClient } from "../client.ts";
import type { FileEvent } from "../client_files.ts";
import { sendFileCommand, startFileUi } from "../cli/files_ui.ts";
import { cliCommand, sendFlags, serverTest, start, tempDir } from "./_server.ts";

const WAIT_MS = 10_000;

/** `size` random bytes, written to `dir/name`; returns the path and the SHA-256 (hex). */
async function randomFile(dir: string, name: string, size: number) {
  const bytes = new Uint8Array(size);
  for (let at = 0; at < size; at += 65536) {
    crypto.getRandomValues(bytes.subarray(at, Math.min(size, at + 65536)));
  }
  const path = join(dir, name);
  await Deno.writeFile(path, bytes);
  return { path, sha256: sha256(bytes) };
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** The next `file` notice `client` gets (also one that came before the call). */
function nextFile(client: TinychatClient, timeoutMs = WAIT_MS): Promise<FileEvent> {
  return new Promise((resolve, reject) => {
    let taken = false;
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`${client.user}: no file notice within ${timeoutMs} ms`));
    }, timeoutMs);
    // The first listener gets the earlier notices at once, before `stop` is assigned.
    const stop: () => void = client.onFile((event) => {
      if (taken) return;
      taken = true;
      clearTimeout(timer);
      queueMicrotask(() => stop());
      resolve(event);
    });
  });
}

/** The first event of `kind` matching `match` from now on. */
async function nextEvent<K extends ClientEvent["kind"]>(
  client: TinychatClient,
  kind: K,
  match: (event: Extract<ClientEvent, { kind: K }>) => boolean = () => true,
  timeoutMs = WAIT_MS,
): Promise<Extract<ClientEvent, { kind: K }>> {
  const events = client.events();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${client.user}: no ${kind} event within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    while (true) {
      const next = await Promise.race([events.next(), timeout]);
      if (next.done) throw new Error(`${client.user}: session closed before a ${kind} event`);
      const event = next.value;
      if (event.kind === kind && match(event as Extract<ClientEvent, { kind: K }>)) {
        return event as Extract<ClientEvent, { kind: K }>;
      }
    }
  } finally {
    clearTimeout(timer);
    void events.return(undefined);
  }
}

serverTest("sendFile() delivers a 20 MB file whose SHA-256 the receiver checks", async () => {
  await using server = await start();
  await using dir = await tempDir();
  const file = await randomFile(dir.path, "big.bin", 20 * 1024 * 1024);
  await using alice = await connect({ user: "alice", port: server.port });
  await using bob = await connect({ user: "bob", port: server.port });
  const notice = nextFile(bob, 30_000);
  const receipt = nextEvent(alice, "receipt", () => true, 30_000);
  const result = await alice.sendFile("bob", file.path);
  assert.equal(result.code, "300");
  assert.equal(result.fate, "stored");
  const event = await notice;
  assert.deepEqual(
    { from: event.from, to: event.to, name: event.name, size: event.size, sha256: event.sha256 },
    { from: "alice", to: "bob", name: "big.bin", size: 20 * 1024 * 1024, sha256: file.sha256 },
  );
  assert.equal(event.type, "application/octet-stream");
  const saveDir = join(dir.path, "saved");
  const progress: number[] = [];
  const saved = await bob.download(event, saveDir, {
    partialDir: join(dir.path, "partial"),
    onProgress: (done) => progress.push(done),
  });
  assert.equal(saved, join(saveDir, "big.bin"));
  assert.equal(sha256(await Deno.readFile(saved)), file.sha256);
  assert.equal(progress.at(-1), 20 * 1024 * 1024);
  assert.deepEqual([...Deno.readDirSync(join(dir.path, "partial"))], []);
  // Once bob is done, alice gets the late "200" for the upload's id.
  assert.equal((await receipt).id, result.id);
});

serverTest("a file to an offline user reaches them after a server restart", async () => {
  await using data = await tempDir();
  await using dir = await tempDir();
  const file = await randomFile(dir.path, "photo.png", 300_000);
  let server = await start({ dataDir: data.path });
  try {
    const bob = await connect({ user: "bob", port: server.port });
    await bob.close();
    const alice = await connect({ user: "alice", port: server.port, reconnect: false });
    const result = await alice.sendFile("bob", file.path);
    assert.equal(result.fate, "stored");
    await alice.close();
    server.kill("SIGTERM");
    await server.waitExit();
    await server[Symbol.asyncDispose]();
    server = await start({ dataDir: data.path });
    await using bob2 = await connect({ user: "bob", port: server.port });
    const event = await nextFile(bob2);
    assert.equal(event.name, "photo.png");
    assert.equal(event.type, "image/png");
    assert.equal(event.from, "alice");
    assert.ok(event.sentAt instanceof Date, "a stored file notice carries its time");
    const saved = await bob2.download(event, join(dir.path, "saved"), {
      partialDir: join(dir.path, "partial"),
    });
    assert.equal(sha256(await Deno.readFile(saved)), file.sha256);
    // Alice, back after bob's download, gets her receipt.
    await using alice2 = await connect({ user: "alice", port: server.port });
    const receipt = await nextEvent(alice2, "receipt", (e) => e.id === result.id);
    assert.equal(receipt.to, "bob");
  } finally {
    await server[Symbol.asyncDispose]();
  }
});

serverTest("tinychat send --file delivers a file to an online receiver", async () => {
  await using server = await start();
  await using dir = await tempDir();
  const file = await randomFile(dir.path, "voice.ogg", 150_000);
  await using bob = await connect({ user: "bob", port: server.port });
  const notice = nextFile(bob, 20_000);
  const output = await cliCommand([
    "send",
    ...sendFlags("alice", "bob", server.port, join(dir.path, "state")),
    "--json",
    "--file",
    file.path,
  ]).output();
  const stdout = new TextDecoder().decode(output.stdout);
  assert.equal(
    output.code,
    3,
    `stdout: ${stdout}\nstderr: ${new TextDecoder().decode(output.stderr)}`,
  );
  const line = JSON.parse(stdout.trim());
  assert.equal(line.event, "sent");
  assert.equal(line.fate, "stored");
  assert.equal(line.code, "300");
  assert.equal(line.size, 150_000);
  assert.equal(line.type, "audio/ogg");
  const event = await notice;
  assert.equal(event.type, "audio/ogg");
  const saved = await bob.download(event, join(dir.path, "saved"), {
    partialDir: join(dir.path, "partial"),
  });
  assert.equal(sha256(await Deno.readFile(saved)), file.sha256);
});

serverTest("an interrupted download resumes from its partial bytes in a new session", async () => {
  await using server = await start();
  await using dir = await tempDir();
  const size = 2 * 1024 * 1024;
  const file = await randomFile(dir.path, "clip.mp4", size);
  const partialDir = join(dir.path, "partial");
  const saveDir = join(dir.path, "saved");
  {
    await using alice = await connect({ user: "alice", port: server.port });
    await using bob = await connect({ user: "bob", port: server.port });
    const notice = nextFile(bob);
    assert.equal((await alice.sendFile("bob", file.path)).fate, "stored");
    const event = await notice;
    const stop = new AbortController();
    await assert.rejects(
      bob.download(event, saveDir, {
        partialDir,
        signal: stop.signal,
        onProgress: (done) => {
          if (done >= 512 * 1024) stop.abort(new Error("interrupted by the test"));
        },
      }),
      /interrupted by the test/,
    );
  }
  const [part] = [...Deno.readDirSync(partialDir)];
  assert.ok(part !== undefined, "the partial download is kept");
  const held = (await Deno.stat(join(partialDir, part.name))).size;
  assert.ok(held >= 512 * 1024 && held < size, `partial of ${held} bytes`);
  await assert.rejects(Deno.stat(saveDir), Deno.errors.NotFound);

  await using bob = await connect({ user: "bob", port: server.port });
  const event = await nextFile(bob);
  const progress: number[] = [];
  const saved = await bob.download(event, saveDir, {
    partialDir,
    onProgress: (done) => progress.push(done),
  });
  assert.equal(progress[0], held, "it starts where the partial ends");
  assert.equal(sha256(await Deno.readFile(saved)), file.sha256);
});

serverTest(
  "download() keeps a hostile name inside the save folder and never overwrites",
  async () => {
    await using server = await start();
    await using dir = await tempDir();
    const file = await randomFile(dir.path, "x.txt", 5000);
    await using alice = await connect({ user: "alice", port: server.port });
    await using bob = await connect({ user: "bob", port: server.port });
    const saveDir = join(dir.path, "saved");
    const paths: string[] = [];
    for (let i = 0; i < 2; i++) {
      const notice = nextFile(bob);
      await alice.sendFile("bob", file.path, { name: "../../.bashrc\x1b[31m" });
      const event = await notice;
      assert.equal(event.name, "../../.bashrc\x1b[31m");
      paths.push(await bob.download(event, saveDir, { partialDir: join(dir.path, "partial") }));
    }
    assert.deepEqual(paths, [join(saveDir, "bashrc_[31m"), join(saveDir, "bashrc_[31m (1)")]);
    assert.deepEqual([...Deno.readDirSync(dir.path)].map((e) => e.name).sort(), [
      "partial",
      "saved",
      "x.txt",
    ]);
  },
);

serverTest("sendFile() to a room: '200', and a member downloads it", async () => {
  await using server = await start();
  await using dir = await tempDir();
  const file = await randomFile(dir.path, "team.jpg", 70_000);
  await using alice = await connect({ user: "alice", port: server.port });
  await using bob = await connect({ user: "bob", port: server.port });
  const notice = nextFile(bob);
  const result = await alice.sendFile("#all", file.path);
  assert.deepEqual([result.fate, result.code, result.to], ["delivered", "200", "#all"]);
  const event = await notice;
  assert.deepEqual([event.from, event.to, event.type], ["alice", "#all", "image/jpeg"]);
  const saved = await bob.download(event, join(dir.path, "saved"), {
    partialDir: join(dir.path, "partial"),
  });
  assert.equal(sha256(await Deno.readFile(saved)), file.sha256);
});

serverTest(
  "/send PATH and startFileUi(): the receiver's chat saves the file and says so",
  async () => {
    await using server = await start();
    await using dir = await tempDir();
    const file = await randomFile(dir.path, "voice note.ogg", 100_000);
    await using alice = await connect({ user: "alice", port: server.port });
    await using bob = await connect({ user: "bob", port: server.port });
    const bobLines: string[] = [];
    const saved = Promise.withResolvers<void>();
    const ui = startFileUi(bob, (line) => {
      bobLines.push(line);
      if (line.startsWith("✓ saved")) saved.resolve();
    }, { saveDir: join(dir.path, "saved"), partialDir: join(dir.path, "partial") });
    const aliceLines: string[] = [];
    const result = await sendFileCommand(alice, "bob", `"${file.path}"`, (l) => aliceLines.push(l));
    assert.equal(result?.fate, "stored");
    assert.deepEqual(aliceLines, [
      "sending voice note.ogg (voice message, 100.0 KB) to bob …",
      "✓ voice note.ogg (voice message, 100.0 KB) to bob: on the server (300); bob downloads it " +
      "when online",
    ]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      saved.promise,
      new Promise((_, reject) =>
        timer = setTimeout(() => reject(new Error(bobLines.join("\n"))), WAIT_MS)
      ),
    ]);
    clearTimeout(timer);
    await ui.stop();
    assert.equal(bobLines[0], "receiving voice note.ogg (voice message, 100.0 KB) from alice … 0%");
    assert.equal(
      bobLines.at(-1),
      `✓ saved voice note.ogg (voice message, 100.0 KB) from alice: ${
        join(dir.path, "saved", "voice note.ogg")
      }`,
    );
    const bytes = await Deno.readFile(join(dir.path, "saved", "voice note.ogg"));
    assert.equal(sha256(bytes), file.sha256);
    const missing: string[] = [];
    assert.equal(
      await sendFileCommand(alice, "bob", join(dir.path, "nope"), (l) => missing.push(l)),
      undefined,
    );
    assert.match(missing[0]!, /^✗ cannot send .*nope/);
  },
);

serverTest("an interrupted upload resumes where the server stopped", async () => {
  await using server = await start();
  await using dir = await tempDir();
  const size = 4 * 1024 * 1024;
  const file = await randomFile(dir.path, "movie.mkv", size);
  await using bob = await connect({ user: "bob", port: server.port });
  {
    await using alice = await connect({ user: "alice", port: server.port });
    const stop = new AbortController();
    await assert.rejects(
      alice.sendFile("bob", file.path, {
        signal: stop.signal,
        onProgress: (done) => {
          if (done >= 1024 * 1024) stop.abort(new Error("interrupted by the test"));
        },
      }),
      /interrupted by the test/,
    );
  }
  const notice = nextFile(bob);
  await using alice = await connect({ user: "alice", port: server.port });
  const progress: number[] = [];
  const result = await alice.sendFile("bob", file.path, {
    onProgress: (done) => progress.push(done),
  });
  assert.equal(result.fate, "stored");
  assert.ok(progress[0]! >= 1024 * 1024, `resumed at ${progress[0]}`);
  const saved = await bob.download(await notice, join(dir.path, "saved"), {
    partialDir: join(dir.path, "partial"),
  });
  assert.equal(sha256(await Deno.readFile(saved)), file.sha256);
});

serverTest(
  "tinychat send --file exits 4 for an unknown recipient, 1 for a missing file",
  async () => {
    await using server = await start();
    await using dir = await tempDir();
    const file = await randomFile(dir.path, "a.txt", 10);
    const run = (to: string, path: string) =>
      cliCommand([
        "send",
        ...sendFlags("alice", to, server.port, join(dir.path, "state")),
        "--file",
        path,
      ]).output();
    const unknown = await run("nobody", file.path);
    assert.equal(unknown.code, 4);
    assert.match(new TextDecoder().decode(unknown.stderr), /nobody: a\.txt: unknown user \(404/);
    const room = await run("#all", file.path);
    assert.equal(room.code, 0, new TextDecoder().decode(room.stderr));
    assert.match(new TextDecoder().decode(room.stdout), /#all: a\.txt: delivered \(200/);
    const missing = await run("bob", join(dir.path, "missing.txt"));
    assert.equal(missing.code, 1);
    assert.match(new TextDecoder().decode(missing.stderr), /missing\.txt/);
  },
);

serverTest(
  "an upload and a download survive a server killed in the middle: the session reconnects and resumes",
  async () => {
    await using data = await tempDir();
    await using dir = await tempDir();
    const size = 8 * 1024 * 1024;
    const file = await randomFile(dir.path, "big.bin", size);
    let server = await start({ dataDir: data.path });
    const port = server.port;
    try {
      await using alice = await connect({ user: "alice", port });
      await using bob = await connect({ user: "bob", port });
      // The upload: killed at 2 MiB, resumed after the restart.
      let killed: Promise<unknown> | undefined;
      const uploadProgress: number[] = [];
      const uploading = alice.sendFile("bob", file.path, {
        onProgress: (done) => {
          uploadProgress.push(done);
          if (done >= 2 * 1024 * 1024 && killed === undefined) {
            server.kill("SIGKILL");
            killed = server.status;
          }
        },
      });
      await until(() => killed !== undefined, "the upload reached 2 MiB");
      await killed;
      await server[Symbol.asyncDispose]();
      server = await start({ dataDir: data.path, args: ["--port", String(port)] });
      const notice = nextFile(bob, 20_000);
      const result = await uploading;
      assert.equal(result.fate, "stored");
      const resumedAt = uploadProgress.find((p, i) => i > 0 && p < uploadProgress[i - 1]!);
      assert.notEqual(resumedAt, 0, `the upload started over: ${uploadProgress.join(" ")}`);

      // The download: killed at 2 MiB, resumed after the restart.
      const event = await notice;
      killed = undefined;
      const downloading = bob.download(event, join(dir.path, "saved"), {
        partialDir: join(dir.path, "partial"),
        onProgress: (done) => {
          if (done >= 2 * 1024 * 1024 && killed === undefined) {
            server.kill("SIGKILL");
            killed = server.status;
          }
        },
      });
      await until(() => killed !== undefined, "the download reached 2 MiB");
      await killed;
      await server[Symbol.asyncDispose]();
      server = await start({ dataDir: data.path, args: ["--port", String(port)] });
      const saved = await downloading;
      assert.equal(sha256(await Deno.readFile(saved)), file.sha256);
    } finally {
      await server[Symbol.asyncDispose]();
    }
  },
);

async function until(condition: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
