import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { decodeHelloOptions, type Frame, FrameType, readCode } from "../protocol/mod.ts";
import type { ConnId } from "./server_core.ts";
import { FILE_WINDOW, PROGRESS_EVERY } from "./files.ts";
import { FailingStore, FileHarness } from "./_harness.ts";

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
const options = (frame: Frame) => decodeHelloOptions(frame.payload);

function bytesOf(size: number, seed = 1): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + seed) & 0xff;
  return bytes;
}

/** The file harness with whole offers, uploads and downloads. */
class Harness extends FileHarness {
  offer(conn: ConnId, id: number, src: string, dst: string, bytes: Uint8Array, name = "a.bin") {
    this.file(conn, id, src, dst, [
      ["op", "offer"],
      ["name", name],
      ["size", String(bytes.length)],
      ["sha256", sha256(bytes)],
      ["type", "application/octet-stream"],
    ]);
  }

  /** Uploads `bytes` whole: offer, accept at 0, DATA; returns the frames `conn` got. */
  upload(conn: ConnId, id: number, src: string, dst: string, bytes: Uint8Array): Frame[] {
    this.offer(conn, id, src, dst, bytes);
    const accept = this.take(conn).find((f) => f.type === FrameType.FILE);
    assert.equal(options(accept!).get("op"), "accept");
    this.data(conn, id, src, dst, bytes, Number(options(accept!).get("offset")));
    return this.take(conn);
  }

  /** Downloads file `fid` as `name` on `conn`, reporting `got` every 64 KiB. */
  download(conn: ConnId, name: string, src: string, fid: number, size: number): Uint8Array {
    this.file(conn, fid, name, src, [["op", "get"], ["offset", "0"]]);
    const out = new Uint8Array(size);
    let have = 0;
    let reported = 0;
    for (let round = 0; round < 10_000 && have < size; round++) {
      const data = this.take(conn).filter((f) => f.type === FrameType.DATA && f.id === fid);
      assert.ok(data.length > 0, `no DATA at ${have} of ${size}`);
      for (const f of data) {
        out.set(f.payload, have);
        have += f.payload.length;
      }
      assert.ok(have - reported <= FILE_WINDOW, `${have - reported} bytes beyond the window`);
      reported = have;
      this.file(conn, fid, name, src, [["op", "got"], ["offset", String(have)]]);
    }
    return out;
  }
}

const acks = (frames: Frame[]) =>
  frames.filter((f) => f.type === FrameType.ACK).map((f) =>
    `${f.src}:${f.id}:${readCode(f.payload)}`
  );

Deno.test("FileTransfers: an upload to an online user is accepted, stored ('300'), noticed, downloaded, then the sender gets a late '200'", () => {
  const h = new Harness();
  const bob = h.login("bob", "timed");
  const alice = h.login("alice");
  const bytes = bytesOf(200_000);
  const got = h.upload(alice, 7, "alice", "bob", bytes);
  const progress = got.filter((f) => f.type === FrameType.FILE).map((f) =>
    options(f).get("offset")
  );
  assert.deepEqual(progress, ["66000", "132000", "197000"]);
  assert.deepEqual(acks(got), ["bob:7:300"]);
  const notice = h.take(bob);
  assert.deepEqual(notice.map((f) => f.type), [FrameType.TIMED, FrameType.FILE]);
  const file = notice[1]!;
  assert.equal(file.src, "alice");
  assert.equal(file.dst, "bob");
  const o = options(file);
  assert.equal(o.get("op"), "file");
  assert.equal(o.get("name"), "a.bin");
  assert.equal(o.get("size"), "200000");
  assert.equal(o.get("sha256"), sha256(bytes));
  const out = h.download(bob, "bob", "alice", file.id, bytes.length);
  assert.equal(sha256(out), sha256(bytes));
  assert.equal(h.store.fileRecipients(file.id).length, 1);
  h.file(bob, file.id, "bob", "alice", [["op", "done"]]);
  assert.deepEqual(acks(h.take(alice)), ["bob:7:200"]);
  assert.equal(h.store.file(file.id), undefined);
  assert.equal(h.files.size(file.id), undefined);
  assert.equal(h.store.receiptsFor("alice").length, 0);
  const history = h.store.historyAfter({ after: 0, limit: 10 }).filter((e) => e.kind === 1);
  assert.deepEqual(history.map((e) => [e.conv, e.id]), [["alice\nbob", 7]]);
});

Deno.test("FileTransfers: an offline recipient gets the notice at login, after a restart; the offline sender its '200' at its login", () => {
  const h = new Harness();
  h.login("bob");
  h.core.closed(1, h.now);
  const alice = h.login("alice");
  const bytes = bytesOf(5_000);
  assert.deepEqual(acks(h.upload(alice, 3, "alice", "bob", bytes)), ["bob:3:300"]);
  h.core.closed(alice, h.now);
  h.restart();
  const bob = h.login("bob");
  const notice = h.take(bob).filter((f) => f.type === FrameType.FILE);
  assert.equal(notice.length, 1);
  const fid = notice[0]!.id;
  assert.deepEqual(h.download(bob, "bob", "alice", fid, 5_000), bytes);
  h.file(bob, fid, "bob", "alice", [["op", "done"]]);
  assert.equal(h.store.receiptsFor("alice").length, 1);
  const alice2 = h.login("alice");
  assert.deepEqual(acks(h.take(alice2)), ["bob:3:200"]);
  assert.equal(h.store.receiptsFor("alice").length, 0);
});

Deno.test("FileTransfers: an interrupted upload resumes at the offset the server holds", () => {
  const h = new Harness();
  h.login("bob");
  const alice = h.login("alice");
  const bytes = bytesOf(100_000);
  h.offer(alice, 1, "alice", "bob", bytes);
  assert.equal(options(h.take(alice)[0]!).get("offset"), "0");
  h.data(alice, 1, "alice", "bob", bytes.subarray(0, 40_000));
  h.core.closed(alice, h.now);
  const again = h.login("alice");
  h.offer(again, 2, "alice", "bob", bytes);
  const accept = h.take(again)[0]!;
  assert.equal(options(accept).get("op"), "accept");
  assert.equal(options(accept).get("offset"), "40000");
  h.data(again, 2, "alice", "bob", bytes, 40_000);
  assert.deepEqual(acks(h.take(again)), ["bob:2:300"]);
  const [file] = h.store.filesFor("bob");
  assert.equal(file!.size, 100_000);
  assert.equal(file!.sha256, sha256(bytes));
});

Deno.test("FileTransfers: a wrong hash is answered '400' and nothing is recorded or noticed", () => {
  const h = new Harness();
  const bob = h.login("bob");
  const alice = h.login("alice");
  const bytes = bytesOf(3_000);
  h.file(alice, 5, "alice", "bob", [
    ["op", "offer"],
    ["name", "x"],
    ["size", "3000"],
    ["sha256", "0".repeat(64)],
  ]);
  h.take(alice);
  h.data(alice, 5, "alice", "bob", bytes);
  assert.deepEqual(acks(h.take(alice)), ["bob:5:400"]);
  assert.deepEqual(h.take(bob), []);
  assert.deepEqual(h.store.filesFor("bob"), []);
  assert.equal(h.files.partialSize(`alice\nbob\n${"0".repeat(64)}\n3000`), 0);
});

Deno.test("FileTransfers: offers are refused with 413, 404, 400, 507 and 403 as section 15 says", () => {
  const h = new Harness({ maxFile: 10_000, fileQuota: 15_000 });
  h.login("bob");
  const alice = h.login("alice");
  h.offer(alice, 1, "alice", "bob", bytesOf(10_001));
  h.offer(alice, 2, "alice", "nobody", bytesOf(10));
  h.file(alice, 3, "alice", "bob", [["op", "offer"], ["name", "x"], ["size", "-1"]]);
  h.file(alice, 4, "alice", "bob", [["op", "offer"], ["size", "1"], ["sha256", "0".repeat(64)]]);
  h.file(alice, 9, "alice", "bob", [["op", "nonsense"]]);
  assert.deepEqual(acks(h.take(alice)), [
    "bob:1:413",
    "nobody:2:404",
    "bob:3:400",
    "bob:4:400",
    "bob:9:400",
  ]);
  assert.deepEqual(acks(h.upload(alice, 5, "alice", "bob", bytesOf(10_000))), ["bob:5:300"]);
  h.offer(alice, 6, "alice", "bob", bytesOf(6_000, 2));
  assert.deepEqual(acks(h.take(alice)), ["bob:6:507"]);
  h.offer(alice, 7, "alice", "#nope", bytesOf(10));
  assert.deepEqual(acks(h.take(alice)), ["#nope:7:404"]);
  const bob = h.login("bob2");
  h.frame(bob, FrameType.ROOM, 1, "bob2", "#dev", new TextEncoder().encode("join"));
  h.offer(alice, 8, "alice", "#dev", bytesOf(10));
  assert.deepEqual(acks(h.take(alice)), ["#dev:8:403"]);
  assert.equal(h.closed.length, 0);
});

Deno.test("FileTransfers: DATA without an accepted upload gets '400' and the connection is closed", () => {
  const h = new Harness();
  const alice = h.login("alice");
  h.data(alice, 1, "alice", "bob", bytesOf(10));
  assert.deepEqual(acks(h.take(alice)), [":1:400"]);
  assert.deepEqual(h.closed, [alice]);
});

Deno.test("FileTransfers: a resent offer of a finished upload gets its answer again, without a new file", () => {
  const h = new Harness();
  h.login("bob");
  const alice = h.login("alice");
  const bytes = bytesOf(2_000);
  h.upload(alice, 4, "alice", "bob", bytes);
  h.offer(alice, 4, "alice", "bob", bytes);
  assert.deepEqual(acks(h.take(alice)), ["bob:4:300"]);
  assert.equal(h.store.filesFor("bob").length, 1);
});

Deno.test("FileTransfers: an empty file completes at the offer", () => {
  const h = new Harness();
  const bob = h.login("bob");
  const alice = h.login("alice");
  h.offer(alice, 1, "alice", "bob", new Uint8Array(0));
  const got = h.take(alice);
  assert.equal(options(got[0]!).get("offset"), "0");
  assert.deepEqual(acks(got), ["bob:1:300"]);
  assert.equal(h.take(bob).filter((f) => f.type === FrameType.FILE).length, 1);
});

Deno.test("FileTransfers: a download sends at most 256 KiB beyond the last 'got', and resumes at an offset", () => {
  const h = new Harness();
  const bob = h.login("bob");
  const alice = h.login("alice");
  const bytes = bytesOf(1_000_000);
  h.upload(alice, 1, "alice", "bob", bytes);
  const fid = h.take(bob).find((f) => f.type === FrameType.FILE)!.id;
  h.file(bob, fid, "bob", "alice", [["op", "get"], ["offset", "0"]]);
  const first = h.take(bob).filter((f) => f.type === FrameType.DATA);
  assert.equal(first.reduce((n, f) => n + f.payload.length, 0), FILE_WINDOW);
  assert.deepEqual([first[0]!.src, first[0]!.dst], ["alice", "bob"]);
  h.file(bob, fid, "bob", "alice", [["op", "got"], ["offset", String(PROGRESS_EVERY)]]);
  const more = h.take(bob).filter((f) => f.type === FrameType.DATA);
  assert.equal(more.reduce((n, f) => n + f.payload.length, 0), PROGRESS_EVERY);
  h.file(bob, fid, "bob", "alice", [["op", "get"], ["offset", "900000"]]);
  const rest = h.take(bob).filter((f) => f.type === FrameType.DATA);
  const tail = new Uint8Array(rest.reduce((n, f) => n + f.payload.length, 0));
  let at = 0;
  for (const f of rest) {
    tail.set(f.payload, at);
    at += f.payload.length;
  }
  assert.deepEqual(tail, bytes.subarray(900_000));
  h.file(bob, 999, "bob", "alice", [["op", "get"], ["offset", "0"]]);
  assert.deepEqual(acks(h.take(bob)), ["alice:999:404"]);
});

Deno.test("FileTransfers: a room file goes to every member but the sender, who gets '200'", () => {
  const h = new Harness();
  const bob = h.login("bob");
  const carol = h.login("carol");
  const alice = h.login("alice");
  const bytes = bytesOf(1_500);
  assert.deepEqual(acks(h.upload(alice, 2, "alice", "#all", bytes)), ["#all:2:200"]);
  for (const conn of [bob, carol]) {
    const notice = h.take(conn).filter((f) => f.type === FrameType.FILE);
    assert.equal(notice.length, 1);
    assert.equal(notice[0]!.dst, "#all");
  }
  assert.equal(h.take(alice).filter((f) => f.type === FrameType.FILE).length, 0);
  const fid = h.store.filesFor("bob")[0]!.fid;
  h.file(bob, fid, "bob", "alice", [["op", "done"]]);
  assert.equal(h.files.size(fid), 1_500);
  h.file(carol, fid, "carol", "alice", [["op", "done"]]);
  assert.equal(h.files.size(fid), undefined);
  assert.deepEqual(acks(h.take(alice)), []);
});

Deno.test("FileTransfers: DATA frames of an upload do not count against the frame rate", () => {
  const h = new Harness({ limits: { frameRate: 50, msgRate: 10, msgBurst: 10 } });
  h.login("bob");
  const alice = h.login("alice");
  const bytes = bytesOf(300_000);
  assert.deepEqual(acks(h.upload(alice, 1, "alice", "bob", bytes)), ["bob:1:300"]);
  assert.deepEqual(h.closed, []);
});

Deno.test("FileTransfers deletes at start the files on disk that no record points at", () => {
  const h = new Harness();
  h.login("bob");
  const alice = h.login("alice");
  h.upload(alice, 1, "alice", "bob", bytesOf(100));
  h.files.append("orphan", 0, bytesOf(10));
  h.files.finish("orphan", 42);
  h.restart();
  assert.equal(h.files.size(42), undefined);
  assert.equal(h.files.size(h.store.filesFor("bob")[0]!.fid), 100);
});

Deno.test("FileTransfers.sweep() deletes interrupted uploads untouched for a day, not those under way", () => {
  const h = new Harness();
  h.login("bob");
  const alice = h.login("alice");
  const carol = h.login("carol");
  const bytes = bytesOf(5_000);
  h.offer(alice, 1, "alice", "bob", bytes);
  h.data(alice, 1, "alice", "bob", bytes.subarray(0, 2_000));
  h.offer(carol, 1, "carol", "bob", bytes);
  h.data(carol, 1, "carol", "bob", bytes.subarray(0, 3_000));
  h.core.closed(alice, h.now);
  h.now = Date.now() + 25 * 3600_000;
  h.core.sweep(h.now);
  const left = h.files.partials().map((p) => [p.key.split("\n")[0], p.size]);
  assert.deepEqual(left, [["carol", 3_000]]);
});

Deno.test("FileTransfers: a sender's interrupted uploads count against the quota ('507')", () => {
  const h = new Harness({ fileQuota: 10_000 });
  h.login("bob");
  h.login("carol");
  const alice = h.login("alice");
  h.offer(alice, 1, "alice", "bob", bytesOf(8_000));
  h.data(alice, 1, "alice", "bob", bytesOf(8_000).subarray(0, 6_000));
  h.take(alice);
  h.offer(alice, 2, "alice", "carol", bytesOf(5_000, 2));
  assert.deepEqual(acks(h.take(alice)), ["carol:2:507"]);
  h.offer(alice, 3, "alice", "carol", bytesOf(4_000, 2));
  assert.equal(options(h.take(alice)[0]!).get("op"), "accept");
});

Deno.test("FileTransfers: a file whose record cannot be committed gets '500' and no notice", () => {
  const store = new FailingStore();
  const h = new Harness({}, store);
  const bob = h.login("bob");
  const alice = h.login("alice");
  store.failing = true;
  assert.deepEqual(acks(h.upload(alice, 1, "alice", "bob", bytesOf(3_000))), ["bob:1:500"]);
  assert.deepEqual(h.take(bob), []);
  store.failing = false;
  assert.deepEqual(acks(h.upload(alice, 2, "alice", "bob", bytesOf(3_000, 2))), ["bob:2:300"]);
  assert.equal(h.take(bob).filter((f) => f.type === FrameType.FILE).length, 1);
  assert.equal(h.store.filesFor("bob").length, 1);
});
