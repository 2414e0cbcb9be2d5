import assert from "node:assert/strict";
import { TurnSummary } from "./turn_summary.ts";

Deno.test("TurnSummary.take() counts events by name in the order names came, then resets", () => {
  const summary = new TurnSummary();
  assert.equal(summary.take(), undefined);
  summary.add("bob");
  summary.add("ёжик");
  summary.add("bob");
  assert.deepEqual(summary.take(), { messages: 3, users: 2, dst: "bob:2,ёжик:1" });
  assert.equal(summary.take(), undefined);
  summary.add("carol");
  assert.deepEqual(summary.take(), { messages: 1, users: 1, dst: "carol:1" });
});

Deno.test("TurnSummary.take() lists eight names and counts the others in `more`", () => {
  const summary = new TurnSummary();
  for (let i = 0; i < 11; i++) summary.add(`u${i}`);
  summary.add("u0");
  assert.deepEqual(summary.take(), {
    messages: 12,
    users: 11,
    dst: "u0:2,u1:1,u2:1,u3:1,u4:1,u5:1,u6:1,u7:1",
    more: 3,
  });
});
