import assert from "node:assert/strict";
import { describeFile, renderProgressBar, renderSendFate } from "./files_ui.ts";

Deno.test("describeFile() names the kind and size, with a safe name", () => {
  assert.equal(describeFile("photo.png", 2_100_000, "image/png"), "photo.png (image, 2.1 MB)");
  assert.equal(describeFile("v.ogg", 900, "audio/ogg"), "v.ogg (voice message, 900 B)");
  assert.equal(describeFile("../\x1b[2J.x", 1, ""), "_[2J.x (file, 1 B)");
});

Deno.test("renderProgressBar() fills the bar in proportion", () => {
  assert.equal(renderProgressBar(0, 100, 10), "[..........]   0%  0 B / 100 B");
  assert.equal(
    renderProgressBar(9_000_000, 20_000_000, 10),
    "[####......]  45%  9.0 MB / 20.0 MB",
  );
  assert.equal(renderProgressBar(0, 0, 4), "[####] 100%  0 B / 0 B");
});

Deno.test("renderSendFate() says what became of an upload", () => {
  const label = "a.png (image, 1 B)";
  assert.match(
    renderSendFate(label, { id: 1, to: "bob", fate: "stored", code: "300" }),
    /^✓ .* to bob: on the server \(300\)/,
  );
  assert.equal(
    renderSendFate(label, { id: 1, to: "#dev", fate: "delivered", code: "200" }),
    "✓ a.png (image, 1 B) to #dev: delivered (200)",
  );
  assert.equal(
    renderSendFate(label, { id: 1, to: "bob", fate: "rejected", code: "413" }),
    "✗ a.png (image, 1 B) to bob: refused (413: too large for the server)",
  );
});
