import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { DiskFileStore, type FileStore, MemoryFileStore } from "./file_store.ts";
import { MemoryStore } from "./memory_store.ts";
import { SqliteStore } from "./sqlite_store.ts";
import type { Store } from "./store.ts";

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
const bytesOf = (size: number) => Uint8Array.from({ length: size }, (_, i) => (i * 7 + 3) & 0xff);

/** The contract every `FileStore` keeps. */
function fileStoreContract(name: string, make: () => { files: FileStore; cleanup(): void }) {
  const test = (what: string, fn: (files: FileStore) => void) =>
    Deno.test(`${name}: ${what}`, () => {
      const { files, cleanup } = make();
      try {
        fn(files);
      } finally {
        files.close();
        cleanup();
      }
    });
  test("append() grows a partial whose partialSha256() is that of its bytes", (files) => {
    const bytes = bytesOf(5000);
    files.append("k", 0, bytes.subarray(0, 1000));
    files.append("k", 1000, bytes.subarray(1000));
    assert.equal(files.partialSize("k"), 5000);
    assert.equal(files.partialSha256("k"), sha256(bytes));
    assert.throws(() => files.append("k", 6000, bytes), RangeError);
  });

  test("append() at a lower offset cuts the partial first", (files) => {
    const bytes = bytesOf(3000);
    files.append("k", 0, bytes);
    files.append("k", 1000, bytes.subarray(1000, 2000));
    assert.equal(files.partialSize("k"), 2000);
    assert.equal(files.partialSha256("k"), sha256(bytes.subarray(0, 2000)));
  });

  test("finish() turns a partial into a file that read() serves in ranges", (files) => {
    const bytes = bytesOf(70_000);
    files.append("k\n#dev", 0, bytes);
    files.finish("k\n#dev", 12);
    assert.equal(files.partialSize("k\n#dev"), 0);
    assert.equal(files.size(12), 70_000);
    assert.deepEqual(files.read(12, 0, 1000), bytes.subarray(0, 1000));
    assert.deepEqual(files.read(12, 69_500, 1000), bytes.subarray(69_500));
    assert.deepEqual(files.fids(), [12]);
    files.delete(12);
    assert.equal(files.size(12), undefined);
    assert.deepEqual(files.fids(), []);
    files.delete(12);
    files.discard("none");
  });
}

fileStoreContract("MemoryFileStore", () => {
  return { files: new MemoryFileStore(), cleanup: () => {} };
});

fileStoreContract("DiskFileStore", () => {
  const dir = Deno.makeTempDirSync({ prefix: "tinychat-files-" });
  return {
    files: new DiskFileStore(dir),
    cleanup: () => Deno.removeSync(dir, { recursive: true }),
  };
});

Deno.test("DiskFileStore: a partial upload and a finished file survive a new instance; the hash is read again", () => {
  const dir = Deno.makeTempDirSync({ prefix: "tinychat-files-" });
  try {
    const bytes = bytesOf(300_000);
    const first = new DiskFileStore(dir);
    first.append("alice\nbob", 0, bytes.subarray(0, 100_000));
    first.append("done", 0, bytes);
    first.finish("done", 3);
    first.close();
    const second = new DiskFileStore(dir);
    assert.equal(second.partialSize("alice\nbob"), 100_000);
    const [partial] = second.partials();
    assert.deepEqual([partial!.key, partial!.size], ["alice\nbob", 100_000]);
    assert.ok(Math.abs(partial!.modifiedAt - Date.now()) < 60_000);
    second.append("alice\nbob", 100_000, bytes.subarray(100_000));
    assert.equal(second.partialSha256("alice\nbob"), sha256(bytes));
    assert.deepEqual(second.read(3, 0, 300_000), bytes);
    second.discard("alice\nbob");
    assert.equal(second.partialSize("alice\nbob"), 0);
    // Keys never make paths: only hex names under partial/.
    second.append("../../x", 0, bytes.subarray(0, 10));
    assert.deepEqual([...Deno.readDirSync(`${dir}/partial`)].map((e) => e.name), [
      "2e2e2f2e2e2f78",
    ]);
    second.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

/** The files part of the `Store` contract. */
function storeFilesContract(
  name: string,
  make: () => { store: Store; reopen(): Store; cleanup(): void },
) {
  Deno.test(`${name}: files and their deliveries are recorded, found, counted and deleted`, () => {
    const { store, reopen, cleanup } = make();
    const file = {
      src: "alice",
      dst: "#dev",
      id: 9,
      name: "cat.jpg",
      size: 2048,
      sha256: "ab".repeat(32),
      media: "image/jpeg",
      sentAt: 1234,
    };
    store.begin();
    const fid = store.putFile(file, ["bob", "carol"]);
    const other = store.putFile({ ...file, dst: "bob", id: 10, size: 10 }, ["bob"]);
    store.commit();
    const again = reopen();
    assert.deepEqual(again.file(fid), { ...file, fid });
    assert.deepEqual(again.findFile("alice", 9, "#dev"), { ...file, fid });
    assert.equal(again.findFile("alice", 9, "bob"), undefined);
    assert.deepEqual(again.filesFor("bob").map((f) => f.fid), [fid, other]);
    assert.deepEqual(again.fileRecipients(fid).sort(), ["bob", "carol"]);
    assert.deepEqual(
      again.pendingFiles(),
      new Map([["bob", { count: 2, bytes: 2058 }], ["carol", { count: 1, bytes: 2048 }]]),
    );
    again.begin();
    assert.equal(again.deleteFileDelivery(fid, "bob"), true);
    assert.equal(again.deleteFileDelivery(fid, "bob"), false);
    again.rollback();
    assert.deepEqual(again.fileRecipients(fid).sort(), ["bob", "carol"]);
    again.begin();
    again.deleteFileDelivery(fid, "bob");
    again.deleteFile(other);
    again.commit();
    assert.deepEqual(again.filesFor("bob"), []);
    assert.deepEqual(again.fileRecipients(fid), ["carol"]);
    assert.equal(again.file(other), undefined);
    again.close();
    cleanup();
  });
}

storeFilesContract("MemoryStore", () => {
  const store = new MemoryStore();
  return { store, reopen: () => store, cleanup: () => {} };
});

storeFilesContract("SqliteStore", () => {
  const dir = Deno.makeTempDirSync({ prefix: "tinychat-store-" });
  const path = `${dir}/t.db`;
  const store = new SqliteStore(path);
  return {
    store,
    reopen: () => {
      store.close();
      return new SqliteStore(path);
    },
    cleanup: () => Deno.removeSync(dir, { recursive: true }),
  };
});
