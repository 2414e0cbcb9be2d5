import assert from "node:assert/strict";
import { Tally } from "./tally.ts";

Deno.test("Tally counts per name, never below 0, and keeps their sum", () => {
  const tally = new Tally(new Map([["alice", 2], ["bob", 3]]));
  assert.equal(tally.total, 5);
  tally.add("carol", 1);
  tally.add("alice", -5);
  assert.deepEqual([tally.get("alice"), tally.get("bob"), tally.get("carol")], [0, 3, 1]);
  assert.equal(tally.total, 4);
  tally.delete("bob");
  tally.delete("nobody");
  assert.equal(tally.get("bob"), 0);
  assert.equal(tally.total, 1);
  tally.add("carol", -1);
  assert.equal(tally.total, 0);
  assert.equal(tally.get("carol"), 0);
});
