import assert from "node:assert/strict";
import { AnswerWindow } from "./answer_window.ts";

const answer = (code: string) => ({ dst: "bob", hash: 1, code });

Deno.test("AnswerWindow.get() finds the answers set lately", () => {
  const window = new AnswerWindow(4);
  window.set(1, answer("200"));
  window.set(2, answer("300"));
  assert.equal(window.get(1)?.code, "200");
  assert.equal(window.get(2)?.code, "300");
  assert.equal(window.get(3), undefined);
});

Deno.test("AnswerWindow keeps at least the last `size` answers and at most twice that", () => {
  const window = new AnswerWindow(4);
  for (let id = 0; id < 20; id++) window.set(id, answer(String(id)));
  for (let id = 16; id < 20; id++) assert.equal(window.get(id)?.code, String(id), `id ${id}`);
  const kept = Array.from({ length: 20 }, (_, id) => window.get(id)).filter((a) => a !== undefined);
  assert.ok(kept.length >= 4 && kept.length <= 8, `kept ${kept.length}`);
  assert.equal(window.get(0), undefined);
});

Deno.test("AnswerWindow.set() of a remembered id replaces its answer", () => {
  const window = new AnswerWindow(4);
  window.set(7, answer("300"));
  window.set(7, answer("200"));
  assert.equal(window.get(7)?.code, "200");
});
