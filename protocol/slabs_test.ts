import assert from "node:assert/strict";
import { SLAB_BYTES, Slabs } from "./slabs.ts";

Deno.test("Slabs: a copy keeps its bytes when the source is overwritten", () => {
  const slabs = new Slabs();
  const read = new Uint8Array(300).map((_, i) => i % 251);
  const a = slabs.copy(read.subarray(0, 100));
  const b = slabs.copy(read.subarray(100, 300));
  const empty = slabs.copy(read.subarray(0, 0));
  read.fill(7);
  assert.deepEqual([...a], Array.from({ length: 100 }, (_, i) => i % 251));
  assert.deepEqual([...b], Array.from({ length: 200 }, (_, i) => (100 + i) % 251));
  assert.equal(empty.length, 0);
  assert.notEqual(a.buffer, read.buffer);
});

Deno.test("Slabs: small buffers share a slab, never overlap, and start a new one when full", () => {
  const slabs = new Slabs();
  const made: Uint8Array[] = [];
  for (let i = 0; i < 100; i++) made.push(slabs.copy(new Uint8Array(100).fill(i)));
  // 40 copies of 100 bytes fit a slab of 4096: 100 copies take three.
  assert.equal(
    new Set(made.map((m) => m.buffer)).size,
    Math.ceil(100 / Math.floor(SLAB_BYTES / 100)),
  );
  made.forEach((m, i) => assert.ok(m.every((byte) => byte === i), `copy ${i}`));
});

Deno.test("Slabs: alloc gives zero bytes that later buffers do not touch", () => {
  const slabs = new Slabs(64, 16);
  const a = slabs.alloc(10);
  assert.deepEqual([...a], new Array(10).fill(0));
  a.fill(1);
  const b = slabs.alloc(16);
  b.fill(2);
  assert.equal(a.buffer, b.buffer);
  assert.ok(a.every((byte) => byte === 1));
  assert.deepEqual([...slabs.alloc(3)], [0, 0, 0]);
});

Deno.test("Slabs: a buffer longer than the shared limit gets one of its own", () => {
  const slabs = new Slabs();
  const long = slabs.copy(new Uint8Array(2000).fill(9));
  assert.equal(long.buffer.byteLength, 2000);
  assert.ok(long.every((byte) => byte === 9));
  assert.equal(new Slabs(64, 16).alloc(17).buffer.byteLength, 17);
  assert.throws(() => new Slabs(64, 100), RangeError);
});
