import assert from "node:assert/strict";
import { PendingTable } from "./pending_table.ts";

interface E {
  uid: number;
  id: number;
  prev: E | undefined;
  next: E | undefined;
}

const entry = (uid: number, id: number): E => ({ uid, id, prev: undefined, next: undefined });

Deno.test("PendingTable finds entries by (uid, id) and keeps them in the order added", () => {
  const table = new PendingTable<E>();
  const a = entry(1, 7), b = entry(2, 7), c = entry(1, 0xffff_ffff);
  for (const e of [a, b, c]) table.add(e);
  assert.equal(table.size, 3);
  assert.equal(table.get(1, 7), a);
  assert.equal(table.get(2, 7), b);
  assert.equal(table.get(1, 0xffff_ffff), c);
  assert.equal(table.get(3, 7), undefined);
  assert.equal(table.first, a);
  assert.deepEqual(table.toArray(), [a, b, c]);
  table.delete(b);
  assert.equal(table.get(2, 7), undefined);
  assert.deepEqual(table.toArray(), [a, c]);
  assert.equal(b.prev, undefined);
  assert.equal(b.next, undefined);
  table.delete(b);
  assert.equal(table.size, 2, "deleting an entry not held changes nothing");
  table.delete(a);
  assert.equal(table.first, c);
  table.add(a);
  assert.deepEqual(table.toArray(), [c, a], "added again: last");
});

Deno.test("PendingTable agrees with a Map through random adds and deletes, growing and shrinking", () => {
  let seed = 12345;
  const random = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const table = new PendingTable<E>();
  const model = new Map<string, E>();
  const keys: string[] = [];
  // Few senders, ids in a row or a power of 2 apart: many collisions and long probe runs.
  const keyOf = () => [1 + random(4), random(2) === 0 ? random(4096) : random(64) * 4096] as const;
  let largest = 0;
  for (let step = 0; step < 40_000; step++) {
    // Mostly adds at first, then mostly deletes: the table grows, then shrinks.
    if (random(10) < (step < 20_000 ? 9 : 1)) {
      const [uid, id] = keyOf();
      const key = `${uid}/${id}`;
      if (model.has(key)) continue;
      const e = entry(uid, id);
      table.add(e);
      model.set(key, e);
      keys.push(key);
    } else if (keys.length > 0) {
      const at = random(keys.length);
      const key = keys[at]!;
      keys[at] = keys.at(-1)!;
      keys.pop();
      table.delete(model.get(key)!);
      model.delete(key);
    }
    largest = Math.max(largest, model.size);
    if (step % 2000 === 0 || step === 39_999) {
      assert.equal(table.size, model.size);
      for (const [key, e] of model) {
        const [uid, id] = key.split("/").map(Number);
        assert.equal(table.get(uid!, id!), e, key);
      }
      assert.deepEqual(table.toArray(), [...model.values()], "the order of adding");
    }
  }
  assert.ok(largest > 4000, `grew to ${largest}`);
  assert.ok(model.size < 500, `shrank to ${model.size}`);
});

Deno.test("PendingTable.fresh is the oldest entry not passed, through adds, passes and deletes", () => {
  const table = new PendingTable<E>();
  // The model: entries in order, and those passed (always the oldest ones).
  const order: E[] = [];
  const passed = new Set<E>();
  let x = 11;
  const next = (n: number) => (x = (x * 1103515245 + 12345) % 2147483648) % n;
  for (let step = 0; step < 20_000; step++) {
    const what = next(10);
    if (what < 4) {
      const e = entry(1 + next(3), step);
      table.add(e);
      order.push(e);
    } else if (what < 7 && order.length > 0) {
      const e = order.splice(next(order.length), 1)[0]!;
      table.delete(e);
      passed.delete(e);
    } else if (table.fresh !== undefined) {
      passed.add(table.fresh);
      table.pass();
    }
    const expected = order.find((e) => !passed.has(e));
    assert.equal(table.fresh, expected, `step ${step}`);
    // What was passed is the oldest: nothing fresh comes before a passed entry.
    const firstFresh = expected === undefined ? order.length : order.indexOf(expected);
    assert.ok(order.slice(firstFresh).every((e) => !passed.has(e)), `step ${step}`);
  }
});
