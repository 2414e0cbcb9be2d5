import assert from "node:assert/strict";
import { AnswerWindow, ANY_PAYLOAD } from "./answer_window.ts";

Deno.test("AnswerWindow.get() finds the answers set lately", () => {
  const window = new AnswerWindow(4);
  window.set(1, "bob", 11, "200");
  window.set(2, "carol", ANY_PAYLOAD, "300");
  assert.deepEqual(window.get(1), { dst: "bob", hash: 11, code: "200" });
  assert.deepEqual(window.get(2), { dst: "carol", hash: ANY_PAYLOAD, code: "300" });
  assert.equal(window.get(3), undefined);
});

Deno.test("AnswerWindow keeps at least the last `size` answers and at most twice that", () => {
  const window = new AnswerWindow(4);
  for (let id = 0; id < 20; id++) window.set(id, "bob", id, String(id));
  for (let id = 16; id < 20; id++) assert.equal(window.get(id)?.code, String(id), `id ${id}`);
  const kept = Array.from({ length: 20 }, (_, id) => window.get(id)).filter((a) => a !== undefined);
  assert.ok(kept.length >= 4 && kept.length <= 8, `kept ${kept.length}`);
  assert.equal(window.get(0), undefined);
});

Deno.test("AnswerWindow.set() of a remembered id replaces its answer", () => {
  const window = new AnswerWindow(4);
  window.set(7, "bob", 1, "300");
  window.set(7, "bob", 1, "200");
  assert.equal(window.get(7)?.code, "200");
});

Deno.test("AnswerWindow.update() changes the code only of the answer about that recipient", () => {
  const window = new AnswerWindow(8);
  window.set(7, "bob", 1, "300");
  window.update(7, "carol", "200");
  assert.equal(window.get(7)?.code, "300");
  window.update(7, "bob", "200");
  assert.equal(window.get(7)?.code, "200");
  window.update(8, "bob", "200");
  assert.equal(window.get(8), undefined);
});

Deno.test("AnswerWindow.forget() makes the answer match no recipient", () => {
  const window = new AnswerWindow(8);
  window.set(7, "bob", 1, "");
  window.forget(7, "carol");
  assert.equal(window.get(7)?.dst, "bob");
  window.forget(7, "bob");
  assert.equal(window.get(7)?.dst, "");
});

Deno.test("AnswerWindow finds an answer in the older generation, and the newer one first", () => {
  const window = new AnswerWindow(4);
  window.set(1, "bob", 1, "300");
  for (let id = 2; id <= 4; id++) window.set(id, "bob", id, "200");
  // The first four are now the older generation.
  window.update(1, "bob", "200");
  assert.equal(window.get(1)?.code, "200");
  window.set(1, "carol", 9, "300");
  assert.deepEqual(window.get(1), { dst: "carol", hash: 9, code: "300" });
});

Deno.test("AnswerWindow keeps ids that collide in its table: far apart, a power of 2 apart", () => {
  const window = new AnswerWindow(1024);
  const ids: number[] = [];
  for (let i = 0; i < 1000; i++) ids.push((i * 65536) >>> 0, 0xffffffff - i, i * 4096 + 3);
  for (const id of ids.slice(0, 1023)) window.set(id, "bob", id % 7, `c${id}`);
  for (const id of ids.slice(0, 1023)) {
    assert.deepEqual(window.get(id), { dst: "bob", hash: id % 7, code: `c${id}` }, `id ${id}`);
  }
  assert.equal(window.get(12345), undefined);
});

Deno.test("AnswerWindow keeps its bounds through many generations", () => {
  const size = 256;
  const window = new AnswerWindow(size);
  for (let id = 0; id < 100_000; id++) {
    window.set(id, "bob", 0, "200");
    if (id % 9973 !== 0) continue;
    const kept = [];
    for (let back = 0; back <= id && back < 3 * size; back++) {
      if (window.get(id - back) !== undefined) kept.push(back);
    }
    assert.ok(kept.length >= Math.min(size, id + 1) && kept.length <= 2 * size, `at ${id}`);
    // What is kept is the newest: no gap.
    assert.equal(kept.at(-1), kept.length - 1);
  }
});
