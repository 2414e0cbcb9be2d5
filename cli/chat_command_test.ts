import assert from "node:assert/strict";
import { MAX_HISTORY, parseChatLine } from "./chat_command.ts";

Deno.test("parseChatLine() reads the room commands, adding a missing #", () => {
  assert.deepEqual(parseChatLine("/join #dev"), { kind: "join", room: "#dev" });
  assert.deepEqual(parseChatLine("/join dev"), { kind: "join", room: "#dev" });
  assert.deepEqual(parseChatLine("  /leave #dev  "), { kind: "leave", room: "#dev" });
  assert.deepEqual(parseChatLine("/rooms"), { kind: "rooms" });
  assert.deepEqual(parseChatLine("/who"), { kind: "who" });
  assert.deepEqual(parseChatLine("/who #dev"), { kind: "who", room: "#dev" });
});

Deno.test("parseChatLine() answers a bad room name or a missing one with its usage", () => {
  for (const line of ["/join", "/join #toolongname", "/leave a b", "/join #a\u0007"]) {
    assert.equal(parseChatLine(line).kind, "usage", line);
  }
  assert.deepEqual(parseChatLine("/join"), { kind: "usage", message: "usage: /join #room" });
});

Deno.test("parseChatLine() takes a user or a room after /to and @", () => {
  assert.deepEqual(parseChatLine("/to bob"), { kind: "to", name: "bob" });
  assert.deepEqual(parseChatLine("/to #dev"), { kind: "to", name: "#dev" });
  assert.equal(parseChatLine("/to").kind, "usage");
  assert.equal(parseChatLine("/to #").kind, "usage");
  assert.deepEqual(parseChatLine("@#dev hi  all"), { kind: "say", to: "#dev", text: "hi  all" });
  assert.deepEqual(parseChatLine("@bob hi"), { kind: "say", to: "bob", text: "hi" });
  assert.deepEqual(parseChatLine("@bob"), { kind: "usage", message: "usage: @NAME text" });
  assert.equal(parseChatLine("@# hi").kind, "usage");
});

Deno.test("parseChatLine() reads /history [NAME|#room] [N], bounding N", () => {
  assert.deepEqual(parseChatLine("/history"), { kind: "history", count: 20 });
  assert.deepEqual(parseChatLine("/history 5"), { kind: "history", count: 5 });
  assert.deepEqual(parseChatLine("/history bob"), { kind: "history", target: "bob", count: 20 });
  assert.deepEqual(parseChatLine("/history #dev 50"), {
    kind: "history",
    target: "#dev",
    count: 50,
  });
  assert.deepEqual(parseChatLine("/history #dev 100000"), {
    kind: "history",
    target: "#dev",
    count: MAX_HISTORY,
  });
  assert.deepEqual(parseChatLine("/history bob 0"), { kind: "history", target: "bob", count: 1 });
  for (const line of ["/history 5 bob", "/history a b", "/history bob 5 6"]) {
    assert.equal(parseChatLine(line).kind, "usage", line);
  }
});

Deno.test("parseChatLine() keeps a plain line as typed and knows the other commands", () => {
  assert.deepEqual(parseChatLine("  hello  "), { kind: "text", text: "  hello  " });
  assert.deepEqual(parseChatLine(""), { kind: "empty" });
  assert.deepEqual(parseChatLine("   "), { kind: "empty" });
  assert.deepEqual(parseChatLine("/quit"), { kind: "quit" });
  assert.deepEqual(parseChatLine("/help"), { kind: "help" });
  assert.deepEqual(parseChatLine("/send my file.txt"), { kind: "file", path: "my file.txt" });
  assert.equal(parseChatLine("/send").kind, "usage");
  assert.deepEqual(parseChatLine("/nope x"), {
    kind: "usage",
    message: "unknown command /nope; /help lists them",
  });
});
