import assert from "node:assert/strict";
import {
  displayWidth,
  localClock,
  paintName,
  renderAway,
  renderFate,
  renderMessage,
  renderNotice,
  type RenderOptions,
  renderPrompt,
  renderReceipt,
  renderRooms,
  renderSince,
  renderWho,
  sanitize,
  truncate,
} from "./render.ts";

const AT = new Date(2024, 0, 2, 9, 5, 42);
const PLAIN: RenderOptions = { color: false, me: "alice", clock: () => "09:05", now: AT };
const COLOR: RenderOptions = { color: true, me: "alice", clock: () => "09:05", now: AT };
// paintName's stable colours: "bob" hashes to 32 (green), "alice" to 31 (red).
const BOB = "\x1b[32mbob\x1b[0m";
const ALICE = "\x1b[31malice\x1b[0m";
const DIM_CLOCK = "\x1b[2m[09:05]\x1b[0m";

Deno.test("renderMessage() draws `[HH:MM] name: text` without colour", () => {
  assert.equal(renderMessage("bob", "hello there", AT, PLAIN), "[09:05] bob: hello there");
});

Deno.test("renderMessage() dims the clock and colours the name with colour on", () => {
  assert.equal(renderMessage("bob", "hi", AT, COLOR), `${DIM_CLOCK} ${BOB}: hi`);
});

Deno.test("renderMessage() indents continuation lines under the text", () => {
  assert.equal(renderMessage("bob", "one\ntwo", AT, PLAIN), "[09:05] bob: one\n        two");
});

Deno.test("renderMessage() uses the local clock by default", () => {
  assert.equal(
    renderMessage("bob", "hi", AT, { color: false, me: "alice", now: AT }),
    "[09:05] bob: hi",
  );
  assert.equal(localClock(new Date(2024, 5, 30, 23, 59)), "23:59");
  assert.equal(localClock(new Date(2024, 5, 30, 0, 0)), "00:00");
});

Deno.test("renderMessage() strips terminal escapes from the peer's text", () => {
  const line = renderMessage("bob", "a\x1b[2Jb\x1b]0;pwned\x07c\rd", AT, PLAIN);
  // deno-lint-ignore no-control-regex -- looking for control characters is the point
  assert.ok(!/[\x00-\x09\x0b-\x1f\x7f-\x9f]/.test(line), JSON.stringify(line));
  assert.equal(line, "[09:05] bob: a\ufffd[2Jb\ufffd]0;pwned\ufffdc\ufffdd");
});

Deno.test("sanitize() replaces ESC, C0, DEL and C1 controls and keeps text and newlines", () => {
  assert.equal(sanitize("\x1b[31mred\x1b[0m"), "\ufffd[31mred\ufffd[0m");
  assert.equal(sanitize("a\x00b\x08c\x7fd\x9be"), "a\ufffdb\ufffdc\ufffdd\ufffde");
  assert.equal(sanitize("line1\nline2"), "line1\nline2");
  assert.equal(sanitize("你好 🎉 café"), "你好 🎉 café");
});

Deno.test("paintName() gives a name the same colour every time and none with colour off", () => {
  assert.equal(paintName("bob", COLOR), BOB);
  assert.equal(paintName("bob", COLOR), paintName("bob", COLOR));
  assert.equal(paintName("alice", COLOR), ALICE);
  assert.equal(paintName("bob", PLAIN), "bob");
});

Deno.test("renderFate() draws each fate", () => {
  assert.equal(
    renderFate("bob", "delivered", "hi", AT, PLAIN),
    "[09:05] alice → bob: hi  ✓ delivered",
  );
  assert.equal(
    renderFate("bob", "stored", "hi", AT, PLAIN),
    "[09:05] alice → bob: hi  … stored: bob gets it at next login",
  );
  assert.equal(
    renderFate("zed", "unknown user", "hi", AT, PLAIN),
    "[09:05] alice → zed: hi  ✗ zed is not a user here",
  );
  assert.equal(
    renderFate("#nope", "unknown user", "hi", AT, PLAIN),
    "[09:05] alice → #nope: hi  ✗ #nope is not a room here",
  );
  assert.equal(
    renderFate("bob", "rejected", "hi", AT, PLAIN),
    "[09:05] alice → bob: hi  ✗ not sent (rejected)",
  );
  assert.equal(
    renderFate("bob", "sent", "hi", AT, PLAIN),
    "[09:05] alice → bob: hi  ✗ not sent (sent)",
  );
});

Deno.test("renderFate() colours names and dims the clock and the mark with colour on", () => {
  assert.equal(
    renderFate("bob", "delivered", "hi", AT, COLOR),
    `${DIM_CLOCK} ${ALICE} → ${BOB}: hi  \x1b[2m✓ delivered\x1b[0m`,
  );
});

Deno.test("renderFate() sanitizes the text", () => {
  assert.equal(
    renderFate("bob", "delivered", "x\x1by", AT, PLAIN),
    "[09:05] alice → bob: x\ufffdy  ✓ delivered",
  );
});

Deno.test("renderReceipt() quotes the text cut to 30 columns, or says 'your message'", () => {
  assert.equal(renderReceipt("bob", "hi", AT, PLAIN), '[09:05] ✓ bob received "hi"');
  assert.equal(renderReceipt("bob", undefined, AT, PLAIN), "[09:05] ✓ bob received your message");
  const long = renderReceipt("bob", "x".repeat(50), AT, PLAIN);
  assert.equal(long, `[09:05] ✓ bob received "${"x".repeat(29)}…"`);
});

Deno.test("renderAway() counts the stored messages per sender in order of first appearance", () => {
  const stored = [{ from: "bob" }, { from: "carol" }, { from: "bob" }, { from: "bob" }];
  assert.equal(
    renderAway(stored, PLAIN),
    "── while you were away: 4 messages from bob (3), carol (1) ──",
  );
  assert.equal(
    renderAway([{ from: "bob" }], PLAIN),
    "── while you were away: 1 message from bob (1) ──",
  );
  assert.equal(
    renderAway([{ from: "bob" }], COLOR),
    `── while you were away: 1 message from ${BOB} (1) ──`,
  );
});

Deno.test("renderAway() is empty when nothing was stored", () => {
  assert.equal(renderAway([], PLAIN), "");
});

Deno.test("renderWho() lists online and away users, or nobody", () => {
  assert.equal(renderWho(["alice", "bob"], ["carol"], PLAIN), "online: alice, bob\naway:   carol");
  assert.equal(renderWho([], [], PLAIN), "online: nobody\naway:   nobody");
});

Deno.test("renderPrompt() shows who you are and whom you talk to", () => {
  assert.equal(renderPrompt("alice", undefined, PLAIN), "alice> ");
  assert.equal(renderPrompt("alice", "bob", PLAIN), "alice → bob> ");
  assert.equal(renderPrompt("alice", "bob", COLOR), `${ALICE} → ${BOB}> `);
});

Deno.test("displayWidth() counts ASCII one column per character", () => {
  assert.equal(displayWidth(""), 0);
  assert.equal(displayWidth("hello, world"), 12);
});

Deno.test("displayWidth() counts CJK characters two columns each", () => {
  assert.equal(displayWidth("你好"), 4);
  assert.equal(displayWidth("日本語です"), 10);
  assert.equal(displayWidth("한국"), 4);
  assert.equal(displayWidth("ab你c"), 5);
  assert.equal(displayWidth("ＡＢ"), 4); // fullwidth forms
});

Deno.test("displayWidth() counts emoji two columns", () => {
  assert.equal(displayWidth("🎉"), 2);
  assert.equal(displayWidth("😀"), 2);
  assert.equal(displayWidth("🚀"), 2);
  assert.equal(displayWidth("🤖"), 2);
  assert.equal(displayWidth("🫠"), 2);
  assert.equal(displayWidth("⚡"), 2);
  assert.equal(displayWidth("ok 🎉!"), 6);
});

Deno.test("displayWidth() counts an emoji with a skin-tone modifier as one emoji", () => {
  assert.equal(displayWidth("👍🏽"), 2);
});

Deno.test("displayWidth() counts combining marks as zero columns", () => {
  assert.equal(displayWidth("e\u0301"), 1);
  assert.equal(displayWidth("cafe\u0301"), 4);
  assert.equal(displayWidth("a\u0308\u0304"), 1);
});

Deno.test("displayWidth() ignores colour escapes and control characters", () => {
  assert.equal(displayWidth(paintName("bob", COLOR)), 3);
  assert.equal(displayWidth(renderPrompt("alice", "bob", COLOR)), "alice → bob> ".length);
  assert.equal(displayWidth("a\x07b"), 2);
});

Deno.test("truncate() keeps text that fits unchanged", () => {
  assert.equal(truncate("hello", 5), "hello");
  assert.equal(truncate("你好", 4), "你好");
  assert.equal(truncate("", 3), "");
});

Deno.test("truncate() cuts to within the width and ends with an ellipsis", () => {
  assert.equal(truncate("hello world", 5), "hell…");
  assert.equal(truncate("你好世界", 5), "你好…");
  assert.equal(truncate("你好世界", 6), "你好…");
  assert.equal(truncate("🎉🎉🎉", 4), "🎉…");
  for (const text of ["hello world", "你好世界你好", "a🎉b🎉c🎉", "e\u0301e\u0301e\u0301e\u0301"]) {
    for (let columns = 1; columns <= 8; columns++) {
      const cut = truncate(text, columns);
      assert.ok(displayWidth(cut) <= columns, `${JSON.stringify(cut)} is wider than ${columns}`);
    }
  }
});

Deno.test("renderAway() says since when: the earliest time a stored message was sent", () => {
  const options = { color: false, me: "alice", clock: (at: Date) => `${at.getUTCHours()}h` };
  const stored = [
    { from: "bob", sentAt: new Date(Date.UTC(2026, 0, 1, 14)) },
    { from: "bob", sentAt: new Date(Date.UTC(2026, 0, 1, 9)) },
  ];
  const now = new Date();
  const line = renderAway(stored, options);
  assert.match(line, /^── while you were away: 2 messages from bob \(2\) since .*9h ──$/);
  assert.ok(renderSince(new Date(now), options, now) === options.clock(now));
});

Deno.test("renderSince() adds the date for a time on another day", () => {
  const options = { color: false, me: "alice", clock: () => "09:05" };
  const at = new Date(2026, 0, 31, 9, 5);
  assert.equal(renderSince(at, options, new Date(2026, 1, 2, 10, 0)), "2026-01-31 09:05");
  assert.equal(renderSince(at, options, new Date(2026, 0, 31, 23, 0)), "09:05");
});

Deno.test("renderMessage() puts the room before the sender: `[HH:MM] #dev bob: text`", () => {
  assert.equal(
    renderMessage("bob", "hi", AT, { ...PLAIN, room: "#dev" }),
    "[09:05] #dev bob: hi",
  );
  assert.equal(
    renderMessage("bob", "a\nb", AT, { ...PLAIN, room: "#dev" }),
    "[09:05] #dev bob: a\n        b",
  );
});

Deno.test("renderMessage() shows the date too for a message not sent today", () => {
  const now = new Date(2024, 0, 3, 8, 0);
  assert.equal(
    renderMessage("bob", "old", AT, { ...PLAIN, now }),
    "[2024-01-02 09:05] bob: old",
  );
  assert.equal(
    renderMessage("bob", "x\ny", AT, { ...PLAIN, now }),
    "[2024-01-02 09:05] bob: x\n                   y",
  );
});

Deno.test("renderNotice() draws a join or leave notice with its time", () => {
  const notice = { room: "#dev", user: "bob", what: "joined", at: AT };
  assert.equal(renderNotice(notice, PLAIN), "[09:05] ── bob joined #dev ──");
  assert.equal(renderNotice({ ...notice, what: "left" }, PLAIN), "[09:05] ── bob left #dev ──");
});

Deno.test("renderRooms() lists rooms with their member counts, ours marked", () => {
  assert.equal(
    renderRooms([
      { name: "#all", members: 3, member: true },
      { name: "#design", members: 1, member: false },
    ], PLAIN),
    "* #all     3 members  (joined)\n  #design  1 member",
  );
  assert.equal(renderRooms([], PLAIN), "no rooms");
});
