import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { historyLines, localDateTime, parseLogArgs, parseSince, renderLogLine } from "./log.ts";
import { SqliteStore } from "../store/sqlite_store.ts";
import { BLOCK_MAX_ENTRIES } from "../store/history_block.ts";
import { UsageError } from "./usage_error.ts";

const NOW = Date.UTC(2026, 10, 22, 12, 0, 0);

Deno.test("parseSince() takes durations back from now, days and weeks included", () => {
  assert.equal(parseSince("90s", NOW), NOW - 90_000);
  assert.equal(parseSince("2h", NOW), NOW - 2 * 3_600_000);
  assert.equal(parseSince("3d", NOW), NOW - 3 * 86_400_000);
  assert.equal(parseSince("1w", NOW), NOW - 7 * 86_400_000);
  assert.equal(parseSince("1.5h", NOW), NOW - 5_400_000);
});

Deno.test("parseSince() takes a date (local midnight) or an ISO time", () => {
  assert.equal(parseSince("2026-11-01", NOW), new Date(2026, 10, 1).getTime());
  assert.equal(parseSince("2026-11-01T09:30", NOW), new Date(2026, 10, 1, 9, 30).getTime());
  assert.equal(parseSince("2026-11-01 09:30", NOW), new Date(2026, 10, 1, 9, 30).getTime());
  assert.equal(parseSince("2026-11-01T09:30:00Z", NOW), Date.UTC(2026, 10, 1, 9, 30));
});

Deno.test("parseSince() rejects anything else with a UsageError", () => {
  for (const text of ["", "3", "3x", "yesterday", "2026-13-45T99:99", "-2h", "2026/11/01"]) {
    assert.throws(() => parseSince(text, NOW), UsageError, text);
  }
});

Deno.test("parseLogArgs() fills in the defaults and checks --user", () => {
  assert.deepEqual(parseLogArgs([]), {
    help: false,
    dataDir: "./tinychat-data",
    user: undefined,
    since: undefined,
    json: false,
  });
  const command = parseLogArgs(["--data", "/d", "--user", "#dev", "--since", "3d", "--json"], NOW);
  assert.deepEqual(command, {
    help: false,
    dataDir: "/d",
    user: "#dev",
    since: NOW - 3 * 86_400_000,
    json: true,
  });
  for (const args of [["--user", "a b"], ["--bogus"], ["extra"], ["--data", ""], ["--since"]]) {
    assert.throws(() => parseLogArgs(args), UsageError, args.join(" "));
  }
});

Deno.test("renderLogLine() prints local time, sender → recipient and the text", () => {
  const at = new Date(2026, 10, 22, 14, 2, 11).getTime();
  const line = { seq: 7, at, from: "alice", to: "bob", text: "hi\x1b[2J", kind: 0 };
  assert.equal(renderLogLine(line, false), "2026-11-22 14:02:11 alice → bob: hi\ufffd[2J");
  assert.equal(
    renderLogLine({ ...line, to: "#dev", text: "one\ntwo" }, false),
    "2026-11-22 14:02:11 alice → #dev: one\n    two",
  );
  assert.equal(localDateTime(new Date(2026, 0, 2, 3, 4, 5)), "2026-01-02 03:04:05");
});

Deno.test("renderLogLine() --json: one object with seq, at (ISO), from, to, text", () => {
  const line = { seq: 7, at: Date.UTC(2026, 10, 22, 14, 2, 11), from: "a", to: "b", text: "x" };
  assert.equal(
    renderLogLine({ ...line, kind: 0 }, true),
    '{"seq":7,"at":"2026-11-22T14:02:11.000Z","from":"a","to":"b","text":"x"}',
  );
  const file = renderLogLine({ ...line, kind: 1, text: "op=file\nname=a.png\nsize=12" }, true);
  assert.deepEqual(JSON.parse(file), {
    seq: 7,
    at: "2026-11-22T14:02:11.000Z",
    from: "a",
    to: "b",
    text: "[file a.png, 12 bytes]",
    kind: "file",
  });
});

Deno.test("historyLines() merges the direct messages kept in blocks with the rows, in seq order", () => {
  const dir = Deno.makeTempDirSync({ prefix: "tinychat-log-test-" });
  const path = `${dir}/tinychat.db`;
  try {
    const store = new SqliteStore(path);
    const text = (t: string) => new TextEncoder().encode(t);
    const direct = (src: string, dst: string, t: string, at: number) =>
      store.queueHistory({
        src,
        dst,
        id: 1,
        sentAt: at,
        payload: text(t),
      });
    direct("alice", "bob", "hi bob", 1000);
    direct("carol", "dave", "hi dave", 1001);
    store.appendHistory({
      conv: "#all",
      src: "bob",
      dst: "#all",
      id: 2,
      sentAt: 2000,
      payload: text("hello all"),
      kind: 0,
    });
    direct("bob", "alice", "hi alice", 3000);
    store.flushHistory();
    direct("carol", "dave", "later", 4000);
    store.close();
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      const lines = (user: string | undefined, since: number | undefined) =>
        [...historyLines(db, { user, since })].map((l) => `${l.from}>${l.to}:${l.text}@${l.at}`);
      assert.deepEqual(lines(undefined, undefined), [
        "alice>bob:hi bob@1000",
        "carol>dave:hi dave@1001",
        "bob>#all:hello all@2000",
        "bob>alice:hi alice@3000",
        "carol>dave:later@4000",
      ]);
      const seqs = [...historyLines(db, { user: undefined, since: undefined })].map((l) => l.seq);
      assert.deepEqual(seqs, [...new Set(seqs)].sort((a, b) => a - b));
      assert.deepEqual(lines("bob", undefined), [
        "alice>bob:hi bob@1000",
        "bob>#all:hello all@2000",
        "bob>alice:hi alice@3000",
      ]);
      assert.deepEqual(lines(undefined, 1001), [
        "carol>dave:hi dave@1001",
        "bob>#all:hello all@2000",
        "bob>alice:hi alice@3000",
        "carol>dave:later@4000",
      ]);
    } finally {
      db.close();
    }
    // Entries whose conversation let go of their block (retention) are not printed.
    const again = new SqliteStore(path);
    again.trimHistory("carol\ndave", 1, 100);
    again.close();
    const db2 = new DatabaseSync(path, { readOnly: true });
    try {
      assert.deepEqual(
        [...historyLines(db2, { user: "dave", since: undefined })].map((l) => l.text),
        ["later"],
      );
    } finally {
      db2.close();
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("historyLines() of a running server includes the full blocks whose links wait", () => {
  const dir = Deno.makeTempDirSync({ prefix: "tinychat-log-test-" });
  const path = `${dir}/tinychat.db`;
  const store = new SqliteStore(path);
  try {
    const payload = new TextEncoder().encode("x");
    for (let id = 1; id <= 2 * BLOCK_MAX_ENTRIES + 52; id++) {
      const [src, dst] = id % 2 ? ["alice", "bob"] : ["bob", "carol"];
      store.queueHistory({ src, dst, id, sentAt: id, payload });
    }
    // Two full blocks are written; their links and the last 52 entries wait in the store.
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      const lines = [...historyLines(db, { user: "alice", since: undefined })];
      assert.deepEqual(
        lines.map((l) => l.at),
        Array.from({ length: BLOCK_MAX_ENTRIES }, (_, i) => 2 * i + 1),
      );
    } finally {
      db.close();
    }
  } finally {
    store.close();
    Deno.removeSync(dir, { recursive: true });
  }
});
