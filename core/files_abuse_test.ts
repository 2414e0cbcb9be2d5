import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { encodeHelloOptions, type Frame, FrameType, readCode } from "../protocol/mod.ts";
import { MemoryStore } from "../store/memory_store.ts";
import { MemoryFileStore } from "../store/file_store.ts";
import type { ConnId, ServerCoreOptions } from "./server_core.ts";
import { FileHarness } from "./_harness.ts";

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** A `MemoryFileStore` that records which partial uploads are held open (as `DiskFileStore` does). */
class OpenTrackingFileStore extends MemoryFileStore {
  open = new Set<string>();
  override append(key: string, offset: number, bytes: Uint8Array): void {
    this.open.add(key);
    super.append(key, offset, bytes);
  }
  override suspend(key: string): void {
    this.open.delete(key);
    super.suspend(key);
  }
  override finish(key: string, fid: number): void {
    this.open.delete(key);
    super.finish(key, fid);
  }
  override discard(key: string): void {
    this.open.delete(key);
    super.discard(key);
  }
}

/** The file harness over an `OpenTrackingFileStore`. */
class Harness extends FileHarness<OpenTrackingFileStore> {
  constructor(extra: Partial<ServerCoreOptions> = {}) {
    super(extra, new MemoryStore(), new OpenTrackingFileStore());
  }

  offer(conn: ConnId, src: string, dst: string, id: number, bytes: Uint8Array) {
    const payload = encodeHelloOptions([
      ["op", "offer"],
      ["name", "a.bin"],
      ["size", String(bytes.length)],
      ["sha256", sha256(bytes)],
    ]);
    this.frame(conn, FrameType.FILE, id, src, dst, payload);
  }
}

Deno.test("FileTransfers: a second offer on the same (dst, id) releases the first upload's open partial", () => {
  const h = new Harness();
  h.login("bob");
  const alice = h.login("alice");
  const first = new Uint8Array(100).fill(1);
  const second = new Uint8Array(100).fill(2);
  h.offer(alice, "alice", "bob", 7, first);
  h.frame(alice, FrameType.DATA, 7, "alice", "bob", first.subarray(0, 10));
  h.offer(alice, "alice", "bob", 7, second);
  h.frame(alice, FrameType.DATA, 7, "alice", "bob", second.subarray(0, 10));
  h.core.closed(alice, h.now);
  // Each one left open is a file descriptor of the DiskFileStore kept until the day-long expiry.
  assert.deepEqual([...h.files.open], []);
});

Deno.test("ServerCore: empty and tiny DATA frames of an accepted upload count against the frame rate", () => {
  const h = new Harness({ limits: { frameRate: 5, msgBurst: 2 } });
  h.login("bob");
  const alice = h.login("alice");
  const bytes = new Uint8Array(100_000).fill(3);
  h.offer(alice, "alice", "bob", 7, bytes);
  for (let i = 0; i < 50 && !h.closed.includes(alice); i++) {
    h.frame(alice, FrameType.DATA, 7, "alice", "bob", new Uint8Array());
  }
  assert.ok(h.closed.includes(alice), "a flood of empty DATA frames must hit the frame rate");
  const frames = h.take(alice);
  assert.equal(readCode(frames.at(-1)!.payload), "429");
});

Deno.test("ServerCore: full DATA frames of an accepted upload do not count against the frame rate", () => {
  const h = new Harness({ limits: { frameRate: 5, msgBurst: 2 } });
  h.login("bob");
  const alice = h.login("alice");
  const bytes = new Uint8Array(20_000).fill(3);
  h.offer(alice, "alice", "bob", 7, bytes);
  for (let at = 0; at < bytes.length; at += 1000) {
    h.frame(alice, FrameType.DATA, 7, "alice", "bob", bytes.subarray(at, at + 1000));
  }
  assert.deepEqual(h.closed, []);
  const last = h.take(alice).at(-1)!;
  assert.equal(last.type, FrameType.ACK);
  assert.equal(readCode(last.payload), "300");
});

Deno.test("FileTransfers: a sender's interrupted uploads are bounded in number, not only in bytes", () => {
  const h = new Harness();
  h.login("bob");
  const alice = h.login("alice");
  let last: Frame | undefined;
  // One byte of each of many different files: each leaves a partial on disk for a day.
  for (let i = 0; i < 1000; i++) {
    const bytes = new Uint8Array(10).fill(i & 0xff);
    bytes[1] = i >> 8;
    h.offer(alice, "alice", "bob", 7, bytes);
    last = h.take(alice).at(-1);
    if (last?.type === FrameType.ACK) break;
    h.frame(alice, FrameType.DATA, 7, "alice", "bob", bytes.subarray(0, 1));
  }
  assert.equal(last?.type, FrameType.ACK);
  assert.equal(readCode(last!.payload), "507");
  assert.ok(h.files.partials().length <= 100, `${h.files.partials().length} partials`);
});

Deno.test("FileTransfers: an offer resent after every recipient finished gets its answer again, not a second upload", () => {
  const h = new Harness();
  const bob = h.login("bob");
  const carol = h.login("carol");
  const alice = h.login("alice");
  const bytes = new Uint8Array(3000).fill(9);
  h.offer(alice, "alice", "#all", 7, bytes);
  for (let at = 0; at < bytes.length; at += 1000) {
    h.frame(alice, FrameType.DATA, 7, "alice", "#all", bytes.subarray(at, at + 1000));
  }
  const answer = h.take(alice).at(-1)!;
  assert.equal(readCode(answer.payload), "200");
  for (const [conn, name] of [[bob, "bob"], [carol, "carol"]] as const) {
    const notice = h.take(conn).find((f) => f.type === FrameType.FILE)!;
    const done = encodeHelloOptions([["op", "done"]]);
    h.frame(conn, FrameType.FILE, notice.id, name, "alice", done);
  }
  // alice did not see its "200" (a lost connection): her client offers the file again.
  h.offer(alice, "alice", "#all", 7, bytes);
  const again = h.take(alice);
  assert.equal(again.length, 1);
  assert.equal(again[0]!.type, FrameType.ACK, "answered, not accepted for a second upload");
  assert.equal(readCode(again[0]!.payload), "200");
});
