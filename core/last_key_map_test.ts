import assert from "node:assert/strict";
import { LastKeyMap } from "./last_key_map.ts";

Deno.test("LastKeyMap.get() answers as a Map through sets and deletes of the key asked last", () => {
  const map = new LastKeyMap<number, string>();
  assert.equal(map.get(1), undefined);
  map.set(1, "alice");
  assert.equal(map.get(1), "alice");
  assert.equal(map.get(1), "alice");
  map.set(1, "carol");
  assert.equal(map.get(1), "carol");
  map.set(2, "bob");
  assert.equal(map.get(2), "bob");
  assert.equal(map.get(1), "carol");
  map.delete(1);
  assert.equal(map.get(1), undefined);
  map.set(1, "dave");
  assert.equal(map.get(1), "dave");
  assert.equal(map.size, 2);
  assert.deepEqual([...map.keys()], [2, 1]);
  assert.deepEqual([...map.values()], ["bob", "dave"]);
});
