import assert from "node:assert/strict";
import { PayloadCopies, SLAB_BYTES } from "./payload_copies.ts";

Deno.test("PayloadCopies: a copy keeps its bytes when the source is overwritten", () => {
  const copies = new PayloadCopies();
  const read = new Uint8Array(300).map((_, i) => i % 251);
  const a = copies.copy(read.subarray(0, 100));
  const b = copies.copy(read.subarray(100, 300));
  const empty = copies.copy(read.subarray(0, 0));
  read.fill(7);
  assert.deepEqual([...a], Array.from({ length: 100 }, (_, i) => i % 251));
  assert.deepEqual([...b], Array.from({ length: 200 }, (_, i) => (100 + i) % 251));
  assert.equal(empty.length, 0);
  assert.notEqual(a.buffer, read.buffer);
});

Deno.test("PayloadCopies: small copies share a slab, never overlap, and start a new one when full", () => {
  const copies = new PayloadCopies();
  const made: Uint8Array[] = [];
  for (let i = 0; i < 100; i++) made.push(copies.copy(new Uint8Array(100).fill(i)));
  // 40 copies of 100 bytes fit a slab of 4096: 100 copies take three.
  assert.equal(
    new Set(made.map((m) => m.buffer)).size,
    Math.ceil(100 / Math.floor(SLAB_BYTES / 100)),
  );
  made.forEach((m, i) => assert.ok(m.every((byte) => byte === i), `copy ${i}`));
});

Deno.test("PayloadCopies: a long payload gets a buffer of its own", () => {
  const copies = new PayloadCopies();
  const long = copies.copy(new Uint8Array(2000).fill(9));
  assert.equal(long.buffer.byteLength, 2000);
  assert.ok(long.every((byte) => byte === 9));
});
