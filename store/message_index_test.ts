import assert from "node:assert/strict";
import { MessageIndex } from "./message_index.ts";

/** mulberry32: a small seeded PRNG, so that a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Row {
  seq: number;
  dst: string;
  src: string;
  id: number;
  bytes: number;
}

Deno.test("MessageIndex.after() pages a recipient's seqs in order, skipping removed ones", () => {
  const index = new MessageIndex();
  for (let seq = 1; seq <= 10; seq++) index.add(seq, seq % 2 ? "bob" : "carol", "alice", seq, 3);
  index.remove(3, "bob", "alice", 3, 3);
  assert.deepEqual(index.after("bob", 0, 2), [1, 5]);
  assert.deepEqual(index.after("bob", 5, 10), [7, 9]);
  assert.deepEqual(index.after("bob", 9, 10), []);
  assert.deepEqual(index.after("dave", 0, 10), []);
  assert.equal(index.count("bob"), 4);
  assert.equal(index.bytes("bob"), 12);
  assert.deepEqual([...index.counts()].sort(), [["bob", 4], ["carol", 5]]);
});

Deno.test("MessageIndex.candidates() finds every copy of a key, and nothing once removed", () => {
  const index = new MessageIndex();
  index.add(1, "bob", "alice", 7, 1);
  index.add(2, "bob", "alice", 7, 1);
  index.add(3, "carol", "alice", 7, 1);
  index.add(4, "bob", "ёжик", 7, 1);
  assert.deepEqual([...index.candidates("alice", 7, "bob")].sort(), [1, 2]);
  index.remove(1, "bob", "alice", 7, 1);
  assert.deepEqual(index.candidates("alice", 7, "bob"), [2]);
  index.remove(2, "bob", "alice", 7, 1);
  assert.deepEqual(index.candidates("alice", 7, "bob"), []);
  assert.deepEqual(index.candidates("ёжик", 7, "bob"), [4]);
  assert.deepEqual(index.candidates("alice", 8, "bob"), []);
});

Deno.test("MessageIndex.unkeyed() lists messages added by seq alone until addKeys()", () => {
  const index = new MessageIndex();
  index.addUnkeyed("bob", [2, 5, 9]);
  index.add(12, "bob", "alice", 1, 10);
  assert.equal(index.count("bob"), 4);
  assert.equal(index.bytes("bob"), undefined);
  index.remove(5, "bob", "carol", 3, 10);
  assert.deepEqual(index.unkeyed("bob"), [2, 9]);
  // The key of a message added with it is found before the others' keys are loaded.
  assert.deepEqual(index.candidates("alice", 1, "bob"), [12]);
  index.addKeys("bob", [
    { seq: 2, src: "carol", id: 1, bytes: 7 },
    { seq: 9, src: "alice", id: 1, bytes: 5 },
  ]);
  assert.deepEqual(index.unkeyed("bob"), []);
  assert.equal(index.bytes("bob"), 22);
  assert.deepEqual([...index.candidates("alice", 1, "bob")].sort((a, b) => a - b), [9, 12]);
  assert.deepEqual(index.candidates("carol", 1, "bob"), [2]);
  index.remove(2, "bob", "carol", 1, 7);
  assert.equal(index.bytes("bob"), 15);
  assert.deepEqual(index.candidates("carol", 1, "bob"), []);
  assert.throws(() => index.addUnkeyed("bob", [3]), RangeError);
});

Deno.test("MessageIndex.has() and unkeyedRecipients() follow adds, keys and removes", () => {
  const index = new MessageIndex();
  index.addUnkeyed("bob", [2, 5]);
  index.add(7, "carol", "alice", 1, 3);
  assert.equal(index.has("bob", 5), true);
  assert.equal(index.has("bob", 7), false);
  assert.equal(index.has("carol", 7), true);
  assert.equal(index.has("dave", 7), false);
  assert.deepEqual(index.unkeyedRecipients(), ["bob"]);
  index.addKeys("bob", [{ seq: 2, src: "a", id: 1, bytes: 1 }, {
    seq: 5,
    src: "a",
    id: 2,
    bytes: 1,
  }]);
  assert.deepEqual(index.unkeyedRecipients(), []);
  index.remove(5, "bob", "a", 2, 1);
  assert.equal(index.has("bob", 5), false);
  assert.equal(index.has("bob", 2), true);
});

Deno.test("MessageIndex agrees with a plain list through many adds and removes", () => {
  const next = random(11);
  const index = new MessageIndex();
  let rows: Row[] = [];
  let seq = 0;
  const names = ["a", "b", "c", "ёжик"];
  const pick = <T>(list: readonly T[]) => list[Math.floor(next() * list.length)]!;
  for (let step = 0; step < 40_000; step++) {
    // Grows in the first half, drains in the second, oldest first more often than not.
    if (next() < (step < 20_000 ? 0.7 : 0.25)) {
      const row = { seq: ++seq, dst: pick(names), src: pick(names), id: Math.floor(next() * 300) };
      const bytes = Math.floor(next() * 50);
      index.add(row.seq, row.dst, row.src, row.id, bytes);
      rows.push({ ...row, bytes });
    } else if (rows.length > 0) {
      const at = next() < 0.7 ? 0 : Math.floor(next() * rows.length);
      const row = rows[at]!;
      index.remove(row.seq, row.dst, row.src, row.id, row.bytes);
      rows = rows.filter((r) => r !== row);
    }
    if (step % 4000 === 3999 || step === 39_999) {
      for (const dst of names) {
        const mine = rows.filter((r) => r.dst === dst);
        assert.deepEqual(index.after(dst, 0, Infinity), mine.map((r) => r.seq));
        assert.equal(index.count(dst), mine.length);
        assert.equal(index.bytes(dst), mine.reduce((n, r) => n + r.bytes, 0));
        const middle = mine[Math.floor(mine.length / 2)];
        if (middle !== undefined) {
          assert.deepEqual(
            index.after(dst, middle.seq, 5),
            mine.filter((r) => r.seq > middle.seq).slice(0, 5).map((r) => r.seq),
          );
        }
      }
      for (const row of rows) {
        assert.ok(index.candidates(row.src, row.id, row.dst).includes(row.seq), `lost ${row.seq}`);
      }
    }
  }
});
