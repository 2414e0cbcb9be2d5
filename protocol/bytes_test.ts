import assert from "node:assert/strict";
import { concatBytes, equalBytes, hashBytes } from "./bytes.ts";

Deno.test("concatBytes() joins in order into a new buffer, with or without the total", () => {
  const a = new Uint8Array([1, 2]);
  const b = new Uint8Array([3]);
  assert.deepEqual(concatBytes([a, b]), new Uint8Array([1, 2, 3]));
  assert.deepEqual(concatBytes([a, b], 3), new Uint8Array([1, 2, 3]));
  const one = concatBytes([a]);
  assert.deepEqual(one, a);
  assert.notEqual(one.buffer, a.buffer);
  assert.deepEqual(concatBytes([]), new Uint8Array());
});

Deno.test("hashBytes() is the same for the same bytes, wherever they lie", () => {
  const payload = new TextEncoder().encode("the same words, twice over");
  const inside = new Uint8Array(payload.length + 5);
  inside.set(payload, 3);
  assert.equal(hashBytes(inside.subarray(3, 3 + payload.length)), hashBytes(payload));
  assert.equal(hashBytes(new Uint8Array()), hashBytes(new Uint8Array(0)));
});

Deno.test("hashBytes() tells apart payloads that differ in one bit, one byte or their length", () => {
  for (let length = 0; length <= 9; length++) {
    const base = new Uint8Array(length).map((_, i) => i * 37);
    const seen = new Set([hashBytes(base)]);
    for (let i = 0; i < length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const flipped = base.slice();
        flipped[i]! ^= 1 << bit;
        seen.add(hashBytes(flipped));
      }
    }
    assert.equal(seen.size, 1 + length * 8, `length ${length}`);
    const longer = new Uint8Array(length + 1);
    longer.set(base);
    assert.notEqual(hashBytes(longer), hashBytes(base), `length ${length} and one zero more`);
  }
});

Deno.test("hashBytes() spreads 20,000 distinct 100-byte payloads without a collision", () => {
  const seen = new Set<number>();
  const payload = new Uint8Array(100);
  const view = new DataView(payload.buffer);
  for (let n = 0; n < 20_000; n++) {
    view.setUint32(n % 97, n * 2654435761);
    seen.add(hashBytes(payload));
    payload.fill(0);
  }
  assert.equal(seen.size, 20_000);
  // Signed 32-bit values, both signs: what the answer windows' ANY_PAYLOAD lies outside of.
  assert.ok([...seen].every((h) => h === (h | 0)));
  assert.ok([...seen].some((h) => h < 0) && [...seen].some((h) => h > 0));
});

Deno.test("equalBytes() compares length and content", () => {
  assert.ok(equalBytes(new Uint8Array([1, 2]), new Uint8Array([1, 2])));
  assert.ok(!equalBytes(new Uint8Array([1, 2]), new Uint8Array([1, 3])));
  assert.ok(!equalBytes(new Uint8Array([1, 2]), new Uint8Array([1, 2, 0])));
  assert.ok(equalBytes(new Uint8Array(), new Uint8Array()));
});
