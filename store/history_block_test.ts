import assert from "node:assert/strict";
import {
  BLOCK_MAX_ENTRIES,
  BLOCK_TARGET_BYTES,
  blockBytes,
  decodeBlockHeads,
  decodeHistoryBlock,
  HistoryBlockWriter,
  keptEntries,
} from "./history_block.ts";

const text = (s: string) => new TextEncoder().encode(s);

Deno.test("HistoryBlockWriter.take() gives a block decodeHistoryBlock() reads back, seqs from the first", () => {
  const w = new HistoryBlockWriter();
  const buffer = text("hello");
  w.add("bob", "alice", 7, 1_700_000_000_123, buffer);
  // The payload was copied: the caller may reuse its buffer.
  buffer.fill(0);
  w.add("alice", "bob", 0xffff_ffff, 1_700_000_000_999, new Uint8Array(0));
  w.add("émile", "zoé", 3, 5, text("ça va"));
  assert.equal(w.count, 3);
  const block = w.take();
  assert.equal(w.count, 0);
  assert.equal(block.count, 3);
  assert.equal(block.lastAt, 1_700_000_000_999);
  assert.deepEqual([...block.convs], [["alice\nbob", 2], ["zoé\némile", 1]]);
  const entries = decodeHistoryBlock(blockBytes(block), 41);
  assert.deepEqual(
    entries.map((
      e,
    ) => [e.seq, e.conv, e.src, e.dst, e.id, e.sentAt, new TextDecoder().decode(e.payload)]),
    [
      [41, "alice\nbob", "bob", "alice", 7, 1_700_000_000_123, "hello"],
      [42, "alice\nbob", "alice", "bob", 0xffff_ffff, 1_700_000_000_999, ""],
      [43, "zoé\némile", "émile", "zoé", 3, 5, "ça va"],
    ],
  );
});

Deno.test("HistoryBlockWriter without conversations writes the same block and counts none", () => {
  const add = (w: HistoryBlockWriter) => {
    w.add("alice", "bob", 1, 10, text("ab"));
    w.add("carol", "bob", 2, 20, text("cb"));
    w.add("alice", "bob", 3, 30, text("ab"));
  };
  const counted = new HistoryBlockWriter();
  const plain = new HistoryBlockWriter({ conversations: false });
  add(counted);
  add(plain);
  const block = plain.take();
  assert.deepEqual([...block.convs], []);
  assert.equal(block.count, 3);
  assert.deepEqual(blockBytes(block), blockBytes(counted.take()));
  // And the next block names its own pairs.
  plain.add("dave", "erin", 4, 40, text("de"));
  assert.deepEqual(
    decodeHistoryBlock(blockBytes(plain.take()), 1).map((e) => `${e.src}>${e.dst}`),
    ["dave>erin"],
  );
});

Deno.test("HistoryBlockWriter with heads gives each entry's names, id and size without its payload", () => {
  const w = new HistoryBlockWriter({ heads: true });
  w.add("alice", "bob", 7, 1, text("hello"));
  w.add("zoé", "alice", 0xffff_ffff, 2, new Uint8Array(0));
  w.add("alice", "bob", 9, 3, text("ab"));
  const block = w.take();
  assert.deepEqual(decodeBlockHeads(block.heads!, 10, 3), {
    src: ["alice", "zoé", "alice"],
    dst: ["bob", "alice", "bob"],
    id: [7, 0xffff_ffff, 9],
    bytes: [5, 0, 2],
  });
  assert.throws(() => decodeBlockHeads(block.heads!, 10, 4), RangeError);
  assert.throws(() => decodeBlockHeads(block.heads!.subarray(0, 5), 10, 3), RangeError);
  // The next block's heads are its own.
  w.add("carol", "dave", 1, 4, text("x"));
  assert.deepEqual(decodeBlockHeads(w.take().heads!, 13, 1).src, ["carol"]);
  assert.equal(new HistoryBlockWriter().take().heads, undefined);
});

Deno.test("HistoryBlockWriter counts each conversation over runs of one pair, and names anew per block", () => {
  const w = new HistoryBlockWriter();
  for (let i = 0; i < 3; i++) w.add("alice", "bob", i, i, text("ab"));
  for (let i = 0; i < 2; i++) w.add("carol", "alice", i, i, text("ca"));
  w.add("bob", "alice", 9, 9, text("ba"));
  w.add("alice", "bob", 3, 3, text("ab"));
  const first = w.take();
  assert.deepEqual([...first.convs].sort(), [["alice\nbob", 5], ["alice\ncarol", 2]]);
  const pairs = (block: Uint8Array) =>
    decodeHistoryBlock(block, 1).map((e) => `${e.src}>${e.dst}:${e.id}`);
  assert.deepEqual(pairs(blockBytes(first)), [
    "alice>bob:0",
    "alice>bob:1",
    "alice>bob:2",
    "carol>alice:0",
    "carol>alice:1",
    "bob>alice:9",
    "alice>bob:3",
  ]);
  // The next block starts with the pair added last: its names go into this block's table.
  w.add("alice", "bob", 4, 4, text("ab"));
  w.add("dave", "bob", 1, 1, text("db"));
  const second = w.take();
  assert.deepEqual([...second.convs].sort(), [["alice\nbob", 1], ["bob\ndave", 1]]);
  assert.deepEqual(pairs(blockBytes(second)), ["alice>bob:4", "dave>bob:1"]);
});

Deno.test("HistoryBlockWriter.full turns true at BLOCK_MAX_ENTRIES entries or BLOCK_TARGET_BYTES", () => {
  const w = new HistoryBlockWriter();
  for (let i = 0; i < BLOCK_MAX_ENTRIES - 1; i++) w.add("a", "b", i, i, new Uint8Array(1));
  assert.equal(w.full, false);
  w.add("a", "b", 0, 0, new Uint8Array(1));
  assert.equal(w.full, true);
  assert.throws(() => w.add("a", "b", 0, 0, new Uint8Array(1)), RangeError);
  w.clear();
  assert.equal(w.count, 0);
  // One long message goes beyond the target: the buffer grows for it.
  w.add("a", "b", 1, 1, new Uint8Array(BLOCK_TARGET_BYTES * 2).fill(7));
  assert.equal(w.full, true);
  const [entry] = decodeHistoryBlock(blockBytes(w.take()), 1);
  assert.equal(entry!.payload.length, BLOCK_TARGET_BYTES * 2);
  assert.equal(entry!.payload[BLOCK_TARGET_BYTES], 7);
});

Deno.test("decodeHistoryBlock() rejects data that is not a block with a RangeError", () => {
  assert.throws(() => decodeHistoryBlock(new Uint8Array([9, 0, 0]), 1), RangeError);
  const w = new HistoryBlockWriter();
  w.add("a", "b", 1, 1, text("xyz"));
  const data = blockBytes(w.take());
  assert.throws(() => decodeHistoryBlock(data.subarray(0, data.length - 1), 1), RangeError);
  assert.throws(() => decodeHistoryBlock(data.subarray(0, data.length - 10), 1), RangeError);
});

Deno.test("decodeHistoryBlock() with a conversation returns only its entries, with their own seqs", () => {
  const w = new HistoryBlockWriter();
  w.add("a", "b", 1, 1, text("1"));
  w.add("c", "d", 2, 2, text("2"));
  w.add("b", "a", 3, 3, text("3"));
  const entries = decodeHistoryBlock(blockBytes(w.take()), 10, "a\nb");
  assert.deepEqual(entries.map((e) => [e.seq, e.id]), [[10, 1], [12, 3]]);
});

Deno.test("keptEntries() keeps the newest entries of each conversation, as many as its link says", () => {
  const w = new HistoryBlockWriter();
  // alice/bob: ids 1, 3, 5, 7; carol/dave: ids 2, 4, 6; erin/frank: id 8.
  for (let id = 1; id <= 7; id++) {
    w.add(id % 2 ? "alice" : "carol", id % 2 ? "bob" : "dave", id, id, text(`m${id}`));
  }
  w.add("erin", "frank", 8, 8, text("m8"));
  const data = blockBytes(w.take());
  const counts = new Map([["alice\nbob", 2], ["carol\ndave", 3]]);
  // erin/frank has no link: none of its entries is kept. Each count is asked once (a query).
  const asked: string[] = [];
  const kept = keptEntries(decodeHistoryBlock(data, 100), (conv) => {
    asked.push(conv);
    return counts.get(conv);
  });
  assert.deepEqual(kept.map((e) => e.id), [2, 4, 5, 6, 7]);
  assert.deepEqual(asked.sort(), ["alice\nbob", "carol\ndave", "erin\nfrank"]);
  // One conversation's entries, as a read of that conversation decodes them.
  const mine = keptEntries(decodeHistoryBlock(data, 100, "alice\nbob"), () => 3);
  assert.deepEqual(mine.map((e) => [e.id, e.seq]), [[3, 102], [5, 104], [7, 106]]);
});

Deno.test("HistoryBlockWriter with heads keeps every head of a block as large as it may be", () => {
  const w = new HistoryBlockWriter({ heads: true });
  for (let id = 0; id < BLOCK_MAX_ENTRIES; id++) w.add("alice", "bob", id, id, text(`m${id}`));
  const heads = decodeBlockHeads(w.take().heads!, 1, BLOCK_MAX_ENTRIES);
  assert.deepEqual(heads.id, Array.from({ length: BLOCK_MAX_ENTRIES }, (_, id) => id));
  assert.deepEqual(heads.bytes.slice(-2), [5, 5]);
  w.add("carol", "dave", 1, 1, text("x"));
  assert.deepEqual(decodeBlockHeads(w.take().heads!, 1, 1).dst, ["dave"]);
});
