import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  decodeHelloOptions,
  encodeFrame,
  encodeHelloOptions,
  type Frame,
  FrameType,
  readCode,
} from "../protocol/mod.ts";
import { login, type TestClient } from "./_client.ts";
import { serverTest, start, tempDir } from "./_server.ts";

const WINDOW = 256 * 1024;
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
const options = (frame: Frame) => decodeHelloOptions(frame.payload);

function bytesOf(size: number, seed = 1): Uint8Array {
  const bytes = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  return bytes;
}

/** FILE or ACK about upload `id` from the server (src = the offer's dst). */
const aboutUpload = (id: number, dst: string) => (f: Frame) =>
  (f.type === FrameType.FILE || f.type === FrameType.ACK) && f.id === id && f.src === dst;

function sendFile(c: TestClient, id: number, dst: string, opts: [string, string][]) {
  return c.send({ type: FrameType.FILE, id, src: c.name, dst, payload: encodeHelloOptions(opts) });
}

/** Offers `bytes`; resolves with the offset accepted, or the ACK code refusing it. */
async function offer(
  c: TestClient,
  id: number,
  dst: string,
  bytes: Uint8Array,
  hash = sha256(bytes),
): Promise<number | string> {
  await sendFile(c, id, dst, [
    ["op", "offer"],
    ["name", "blob.bin"],
    ["size", String(bytes.length)],
    ["sha256", hash],
    ["type", "application/octet-stream"],
  ]);
  const answer = await c.next(aboutUpload(id, dst), 5000, `the answer to offer ${id}`);
  if (answer.type === FrameType.ACK) return readCode(answer.payload);
  assert.equal(options(answer).get("op"), "accept");
  return Number(options(answer).get("offset"));
}

/**
 * Sends `bytes` from `from` up to `until` as DATA, keeping within 256 KiB of the last progress
 * the server reported; resolves with the final ACK's code (or "" when stopped at `until`).
 */
async function sendData(
  c: TestClient,
  id: number,
  dst: string,
  bytes: Uint8Array,
  from: number,
  until = bytes.length,
): Promise<string> {
  let sent = from;
  let reported = from;
  for (let round = 0; round < 100_000; round++) {
    const frames: Uint8Array[] = [];
    while (sent < until && sent - reported < WINDOW) {
      const payload = bytes.subarray(sent, Math.min(until, sent + 1000));
      frames.push(encodeFrame({ type: FrameType.DATA, id, src: c.name, dst, payload }, c.order));
      sent += payload.length;
    }
    if (frames.length > 0) await c.write(concat(frames));
    if (sent === until && until < bytes.length) return "";
    const answer = await c.next(aboutUpload(id, dst), 10_000, `progress of upload ${id}`);
    if (answer.type === FrameType.ACK) return readCode(answer.payload);
    reported = Number(options(answer).get("offset"));
  }
  throw new Error("upload did not finish");
}

/** Downloads file `fid` from `src`: `get`, DATA with `got` every 64 KiB, `done`. */
async function download(c: TestClient, fid: number, src: string, size: number) {
  await sendFile(c, fid, src, [["op", "get"], ["offset", "0"]]);
  const out = new Uint8Array(size);
  let have = 0;
  let reported = 0;
  while (have < size) {
    const f = await c.next((f) => f.type === FrameType.DATA && f.id === fid, 10_000, "DATA");
    out.set(f.payload, have);
    have += f.payload.length;
    if (have - reported >= 64 * 1024 || have === size) {
      reported = have;
      await sendFile(c, fid, src, [["op", "got"], ["offset", String(have)]]);
    }
  }
  return out;
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

const isNotice = (f: Frame) => f.type === FrameType.FILE && options(f).get("op") === "file";

serverTest(
  "serve: a 2 MB file goes up and down with its SHA-256, then the sender gets a late 200",
  async () => {
    await using server = await start();
    await using bob = await login(server.port, "bob");
    await using alice = await login(server.port, "alice");
    const bytes = bytesOf(2_000_000);
    assert.equal(await offer(alice, 41, "bob", bytes), 0);
    assert.equal(await sendData(alice, 41, "bob", bytes, 0), "300");
    const notice = await bob.next(isNotice, 5000, "the file notice");
    assert.equal(notice.src, "alice");
    assert.equal(options(notice).get("size"), "2000000");
    assert.equal(options(notice).get("sha256"), sha256(bytes));
    const got = await download(bob, notice.id, "alice", bytes.length);
    assert.equal(sha256(got), sha256(bytes));
    await sendFile(bob, notice.id, "alice", [["op", "done"]]);
    const late = await alice.next((f) => f.type === FrameType.ACK && f.id === 41, 5000);
    assert.equal(readCode(late.payload), "200");
    assert.equal(late.src, "bob");
  },
);

serverTest(
  "serve: a file to an offline user survives kill -9 after its 300 and is noticed at login",
  async () => {
    await using dir = await tempDir();
    const bytes = bytesOf(300_000, 7);
    {
      await using server = await start({ dataDir: dir.path });
      {
        await using _bob = await login(server.port, "bob");
      }
      await using alice = await login(server.port, "alice");
      assert.equal(await offer(alice, 5, "bob", bytes), 0);
      assert.equal(await sendData(alice, 5, "bob", bytes, 0), "300");
      server.kill("SIGKILL");
      await server.waitExit();
    }
    await using server = await start({ dataDir: dir.path });
    await using bob = await login(server.port, "bob");
    const notice = await bob.next(isNotice, 5000, "the file notice at login");
    assert.equal(options(notice).get("name"), "blob.bin");
    const got = await download(bob, notice.id, "alice", bytes.length);
    assert.equal(sha256(got), sha256(bytes));
    await sendFile(bob, notice.id, "alice", [["op", "done"]]);
    await bob.sync();
    // alice was offline: her receipt waits for her login.
    await using alice = await login(server.port, "alice");
    const late = await alice.next((f) => f.type === FrameType.ACK && f.id === 5, 5000);
    assert.equal(readCode(late.payload), "200");
  },
);

serverTest("serve: an interrupted upload resumes at the server's offset", async () => {
  await using server = await start();
  {
    await using _bob = await login(server.port, "bob");
  }
  const bytes = bytesOf(1_000_000, 3);
  {
    await using alice = await login(server.port, "alice");
    assert.equal(await offer(alice, 1, "bob", bytes), 0);
    assert.equal(await sendData(alice, 1, "bob", bytes, 0, 500_000), "");
    await alice.sync();
  }
  await using alice = await login(server.port, "alice");
  const offset = await offer(alice, 2, "bob", bytes);
  assert.equal(typeof offset, "number");
  assert.ok((offset as number) > 0 && (offset as number) <= 500_000, `offset ${offset}`);
  assert.equal(await sendData(alice, 2, "bob", bytes, offset as number), "300");
  await using bob = await login(server.port, "bob");
  const notice = await bob.next(isNotice, 5000, "the file notice");
  assert.equal(sha256(await download(bob, notice.id, "alice", bytes.length)), sha256(bytes));
});

serverTest("serve: a wrong SHA-256 is answered 400 and nothing is delivered", async () => {
  await using server = await start();
  await using bob = await login(server.port, "bob");
  await using alice = await login(server.port, "alice");
  const bytes = bytesOf(100_000, 5);
  assert.equal(await offer(alice, 9, "bob", bytes, sha256(bytesOf(100_000, 6))), 0);
  assert.equal(await sendData(alice, 9, "bob", bytes, 0), "400");
  await bob.sync();
  assert.deepEqual(bob.take(isNotice), []);
  await bob.closeWrite();
  await using again = await login(server.port, "bob");
  await again.sync();
  assert.deepEqual(again.take(isNotice), []);
});

serverTest("serve: --max-file refuses a larger offer with 413", async () => {
  await using server = await start({ args: ["--max-file", "1000", "--file-quota", "1KiB"] });
  {
    await using _bob = await login(server.port, "bob");
  }
  await using alice = await login(server.port, "alice");
  assert.equal(await offer(alice, 1, "bob", bytesOf(1001)), "413");
  assert.equal(await offer(alice, 2, "bob", bytesOf(1000)), 0);
  assert.equal(await sendData(alice, 2, "bob", bytesOf(1000), 0), "300");
  assert.equal(await offer(alice, 3, "bob", bytesOf(100, 2)), "507");
});

serverTest(
  "serve: an upload cut by kill -9 resumes after the restart at the bytes on disk",
  async () => {
    await using dir = await tempDir();
    const bytes = bytesOf(700_000, 11);
    {
      await using server = await start({ dataDir: dir.path });
      {
        await using _bob = await login(server.port, "bob");
      }
      await using alice = await login(server.port, "alice");
      assert.equal(await offer(alice, 1, "bob", bytes), 0);
      assert.equal(await sendData(alice, 1, "bob", bytes, 0, 400_000), "");
      await alice.sync();
      server.kill("SIGKILL");
      await server.waitExit();
    }
    await using server = await start({ dataDir: dir.path });
    await using alice = await login(server.port, "alice");
    const offset = await offer(alice, 1, "bob", bytes);
    assert.equal(offset, 400_000);
    assert.equal(await sendData(alice, 1, "bob", bytes, 400_000), "300");
  },
);

serverTest("serve: a file goes up and down between little-endian clients", async () => {
  await using server = await start();
  await using bob = await login(server.port, "bob", { order: "le" });
  await using alice = await login(server.port, "alice", { order: "le" });
  const bytes = bytesOf(70_000, 13);
  assert.equal(await offer(alice, 0x01020304, "bob", bytes), 0);
  assert.equal(await sendData(alice, 0x01020304, "bob", bytes, 0), "300");
  const notice = await bob.next(isNotice, 5000, "the file notice");
  assert.equal(sha256(await download(bob, notice.id, "alice", bytes.length)), sha256(bytes));
});
