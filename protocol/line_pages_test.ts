import assert from "node:assert/strict";
import { linePages } from "./line_pages.ts";
import { MAX_PAYLOAD_SIZE } from "./frame.ts";

Deno.test("linePages() ends every list with an empty page", () => {
  assert.deepEqual(linePages([]), [""]);
  assert.deepEqual(linePages(["+alice", "-bob"]), ["+alice\n-bob", ""]);
});

Deno.test("linePages() fills pages below one payload and keeps every line whole", () => {
  const lines = Array.from({ length: 300 }, (_, i) => `+user${i}é`);
  const pages = linePages(lines);
  assert.ok(pages.length > 2);
  assert.equal(pages.at(-1), "");
  for (const page of pages) {
    assert.ok(new TextEncoder().encode(page).length < MAX_PAYLOAD_SIZE);
  }
  assert.deepEqual(pages.slice(0, -1).join("\n").split("\n"), lines);
});
