import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { type FileEvent, type FileHost, FileTransfers } from "./client_files.ts";
import {
  decodeHelloOptions,
  encodeHelloOptions,
  type Frame,
  FrameDecoder,
  FrameType,
} from "./protocol/mod.ts";

/** A session stand-in: records the frames written, hands out ids 1, 2, … */
class FakeHost implements FileHost {
  frames: Frame[] = [];
  events: FileEvent[] = [];
  connected = true;
  #id = 1;
  #decoder = new FrameDecoder({ order: "be" });
  user(): string {
    return "me";
  }
  isOnline(): boolean {
    return this.connected;
  }
  takeId(): number {
    return this.#id++;
  }
  write(bytes: Uint8Array): void {
    this.#decoder.push(bytes, (f) => this.frames.push(f));
  }
  emit(event: FileEvent): void {
    this.events.push(event);
  }
  /** The FILE frames written, as option maps. */
  ops(): Map<string, string>[] {
    return this.frames.filter((f) => f.type === FrameType.FILE).map((f) =>
      decodeHelloOptions(f.payload)
    );
  }
  dataBytes(): number {
    return this.frames.filter((f) => f.type === FrameType.DATA)
      .reduce((sum, f) => sum + f.payload.length, 0);
  }
}

function fileFrame(src: string, dst: string, id: number, options: [string, string][]): Frame {
  return { type: FrameType.FILE, id, src, dst, payload: encodeHelloOptions(options) };
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((r) => setTimeout(r, 2));
  assert.ok(condition(), `timed out waiting for ${what}`);
}

/** The notice of a file that alice offers to "me". */
function offer(fid: number, name: string, size: number, sha256: string, type: string): FileEvent {
  return { kind: "file", from: "alice", to: "me", fid, name, size, sha256, type, at: new Date() };
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function bytesOf(size: number): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => (i * 7 + (i >> 10)) & 0xff);
}

Deno.test("FileTransfers.sendFile() offers, keeps 256 KiB in flight, resumes, resolves with the ACK", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bytes = bytesOf(600_000);
    const path = join(dir, "cat.jpg");
    await Deno.writeFile(path, bytes);
    const host = new FakeHost();
    const files = new FileTransfers(host);
    const progress: number[] = [];
    const sending = files.sendFile("bob", path, { onProgress: (done) => progress.push(done) });
    await until(() => host.frames.length === 1, "the offer");
    const offer = host.frames[0]!;
    assert.deepEqual([offer.type, offer.src, offer.dst, offer.id], [
      FrameType.FILE,
      "me",
      "bob",
      1,
    ]);
    assert.deepEqual(Object.fromEntries(decodeHelloOptions(offer.payload)), {
      op: "offer",
      name: "cat.jpg",
      size: "600000",
      sha256: sha256(bytes),
      type: "image/jpeg",
    });

    files.handle(fileFrame("bob", "me", 1, [["op", "accept"], ["offset", "0"]]));
    await until(() => host.dataBytes() === 256 * 1024, "a full window");
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(host.dataBytes(), 256 * 1024, "never beyond the window");
    assert.ok(host.frames.slice(1).every((f) => f.payload.length <= 1000 && f.id === 1));

    files.handle(fileFrame("bob", "me", 1, [["op", "progress"], ["offset", "65536"]]));
    await until(() => host.dataBytes() === 320 * 1024, "the window moved by 64 KiB");

    // The connection drops; after the login the offer goes again and the server has 100000.
    host.connected = false;
    files.online();
    host.connected = true;
    host.frames = [];
    files.online();
    assert.equal(host.ops()[0]!.get("op"), "offer");
    files.handle(fileFrame("bob", "me", 1, [["op", "accept"], ["offset", "100000"]]));
    await until(() => host.dataBytes() === 256 * 1024, "a full window from the resume point");
    const resent = host.frames.filter((f) => f.type === FrameType.DATA);
    assert.deepEqual(resent[0]!.payload, bytes.subarray(100_000, 101_000));

    files.handle(fileFrame("bob", "me", 1, [["op", "progress"], ["offset", "600000"]]));
    await until(() => host.dataBytes() === 500_000, "the rest");
    const all = host.frames.filter((f) => f.type === FrameType.DATA).map((f) => f.payload);
    assert.deepEqual(new Uint8Array(all.flatMap((p) => [...p])), bytes.subarray(100_000));
    assert.equal(
      files.answer({
        type: FrameType.ACK,
        id: 1,
        src: "bob",
        dst: "me",
        payload: new TextEncoder().encode("300"),
      }),
      true,
    );
    assert.deepEqual(await sending, { id: 1, to: "bob", fate: "stored", code: "300" });
    assert.deepEqual(progress, [0, 65536, 100000, 600000]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FileTransfers.sendFile() resolves a refusal with its code", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "big.bin");
    await Deno.writeFile(path, bytesOf(10));
    const host = new FakeHost();
    const files = new FileTransfers(host);
    const sending = files.sendFile("bob", path);
    await until(() => host.frames.length === 1, "the offer");
    files.answer({
      type: FrameType.ACK,
      id: 1,
      src: "bob",
      dst: "me",
      payload: new TextEncoder().encode("413"),
    });
    assert.deepEqual(await sending, { id: 1, to: "bob", fate: "rejected", code: "413" });
    await assert.rejects(files.sendFile("bad name", path), RangeError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FileTransfers.download() asks from 0, reports every 64 KiB, checks, saves, says done", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bytes = bytesOf(200_000);
    const host = new FakeHost();
    const files = new FileTransfers(host);
    const seen: FileEvent[] = [];
    files.onFile((e) => seen.push(e));
    files.handle(
      fileFrame("alice", "me", 42, [
        ["op", "file"],
        ["name", "../.hidden pic.png"],
        ["size", "200000"],
        ["sha256", sha256(bytes)],
        ["type", "image/png"],
      ]),
      { src: "alice", id: 42, at: 1_700_000_000_000 },
    );
    assert.equal(seen.length, 1);
    assert.deepEqual(host.events, seen);
    const event = seen[0]!;
    assert.deepEqual(event.sentAt, new Date(1_700_000_000_000));
    const saveDir = join(dir, "save");
    await Deno.mkdir(saveDir);
    await Deno.writeTextFile(join(saveDir, "hidden pic.png"), "mine");
    const downloading = files.download(event, saveDir, { partialDir: join(dir, "partial") });
    await until(() => host.frames.length === 1, "the get");
    assert.deepEqual(Object.fromEntries(host.ops()[0]!), { op: "get", offset: "0" });
    assert.equal(host.frames[0]!.dst, "alice");
    assert.equal(host.frames[0]!.id, 42);
    for (let at = 0; at < bytes.length; at += 1000) {
      files.handle({
        type: FrameType.DATA,
        id: 42,
        src: "alice",
        dst: "me",
        payload: bytes.slice(at, at + 1000),
      });
    }
    const saved = await downloading;
    assert.equal(saved, join(saveDir, "hidden pic (1).png"));
    assert.deepEqual(await Deno.readFile(saved), bytes);
    assert.equal(await Deno.readTextFile(join(saveDir, "hidden pic.png")), "mine");
    assert.deepEqual(host.ops().map((o) => [o.get("op"), o.get("offset")]), [
      ["get", "0"],
      ["got", "66000"],
      ["got", "132000"],
      ["got", "198000"],
      ["done", undefined],
    ]);
    assert.deepEqual([...Deno.readDirSync(join(dir, "partial"))], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FileTransfers.download() rejects bytes whose SHA-256 differs and drops them", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const host = new FakeHost();
    const files = new FileTransfers(host);
    const event = offer(7, "x.bin", 3, "0".repeat(64), "application/octet-stream");
    const downloading = files.download(event, join(dir, "save"), {
      partialDir: join(dir, "partial"),
    });
    await until(() => host.frames.length === 1, "the get");
    files.handle({ type: FrameType.DATA, id: 7, src: "alice", dst: "me", payload: bytesOf(3) });
    await assert.rejects(downloading, /SHA-256/);
    assert.deepEqual([...Deno.readDirSync(join(dir, "partial"))], []);
    await assert.rejects(Deno.stat(join(dir, "save")), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FileTransfers.onFile() gives the first listener the notices that came before", () => {
  const files = new FileTransfers(new FakeHost());
  files.handle(fileFrame("a", "me", 1, [["op", "file"], ["name", "n"], ["size", "1"]]));
  const got: number[] = [];
  const stop = files.onFile((e) => got.push(e.fid));
  files.handle(fileFrame("a", "me", 2, [["op", "file"], ["name", "n"], ["size", "1"]]));
  stop();
  files.handle(fileFrame("a", "me", 3, [["op", "file"], ["name", "n"], ["size", "1"]]));
  assert.deepEqual(got, [1, 2]);
});

Deno.test("FileTransfers.download() of an empty file saves it without asking for bytes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const host = new FakeHost();
    const files = new FileTransfers(host);
    const event = offer(9, "empty.txt", 0, sha256(new Uint8Array()), "text/plain");
    const saved = await files.download(event, join(dir, "save"), {
      partialDir: join(dir, "partial"),
    });
    assert.equal(saved, join(dir, "save", "empty.txt"));
    assert.equal((await Deno.stat(saved)).size, 0);
    assert.deepEqual(host.ops().map((o) => o.get("op")), ["done"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FileTransfers.download() resumes from a partial: asks from its size, hashes it all", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bytes = bytesOf(150_000);
    const event = offer(5, "r.bin", bytes.length, sha256(bytes), "application/octet-stream");
    const partialDir = join(dir, "partial");
    await Deno.mkdir(partialDir);
    await Deno.writeFile(
      join(partialDir, `${event.sha256}-${bytes.length}-5.part`),
      bytes.subarray(0, 70_000),
    );
    const host = new FakeHost();
    const files = new FileTransfers(host);
    const progress: number[] = [];
    const downloading = files.download(event, join(dir, "save"), {
      partialDir,
      onProgress: (done) => progress.push(done),
    });
    await until(() => host.frames.length === 1, "the get");
    assert.deepEqual(Object.fromEntries(host.ops()[0]!), { op: "get", offset: "70000" });
    for (let at = 70_000; at < bytes.length; at += 1000) {
      files.handle({
        type: FrameType.DATA,
        id: 5,
        src: "alice",
        dst: "me",
        payload: bytes.slice(at, at + 1000),
      });
    }
    assert.deepEqual(await Deno.readFile(await downloading), bytes);
    assert.equal(progress[0], 70_000);
    assert.equal(progress.at(-1), 150_000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
