import assert from "node:assert/strict";
import { FrameType } from "../protocol/mod.ts";
import { SqliteStore } from "../store/sqlite_store.ts";
import type { ServerCoreOptions } from "./server_core.ts";
import { ACK, FailingStore, Harness, MSG, ROOM, seen, text } from "./_harness.ts";

/** alice (conn 1) and bob (conn 2) online, both in #dev; the frames so far taken. */
function devRoom(options: Partial<Omit<ServerCoreOptions, "outbox">> = {}): Harness {
  const h = new Harness(options);
  h.login(1, "alice");
  h.login(2, "bob");
  h.room(1, "alice", "#dev", "join");
  h.room(2, "bob", "#dev", "join");
  h.take(1);
  h.take(2);
  return h;
}

Deno.test("Rooms: join answers 200 from the room and tells the other online members", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.login(2, "bob");
  h.room(1, "alice", "#dev", "join", 5);
  assert.deepEqual(h.take(1), [ACK(5, "#dev", "alice", "200")]);
  h.room(2, "bob", "#dev", "join", 6);
  assert.deepEqual(h.take(2), [ACK(6, "#dev", "bob", "200")]);
  assert.deepEqual(h.take(1), [ROOM(0, "bob", "#dev", "joined")]);
  // A second join: "200" again, no notice.
  h.room(2, "bob", "#dev", "join", 7);
  assert.deepEqual(h.take(2), [ACK(7, "#dev", "bob", "200")]);
  assert.deepEqual(h.take(1), []);
});

Deno.test("Rooms: join refuses a bad room name with 400, the connection stays open", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.room(1, "alice", "dev", "join", 2);
  h.room(1, "alice", "#", "join", 3);
  h.room(1, "alice", "#dev", "dance", 4);
  assert.deepEqual(h.take(1), [
    ACK(2, "dev", "alice", "400"),
    ACK(3, "#", "alice", "400"),
    ACK(4, "#dev", "alice", "400"),
  ]);
  assert.deepEqual(h.outbox.closed, []);
});

Deno.test("Rooms: a message to a room reaches every online member, the sender's echo too, after the commit", () => {
  const h = devRoom();
  h.msg(1, "alice", "#dev", 41, "hi all", 1000);
  assert.deepEqual(h.take(1), [], "nothing before the commit");
  assert.deepEqual(h.take(2), []);
  h.core.commit(1000);
  const a = h.take(1);
  const b = h.take(2);
  assert.equal(a.length, 2);
  const seq = a[0]!.id;
  assert.deepEqual(a, [MSG(seq, "alice", "#dev", "hi all"), ACK(41, "#dev", "alice", "200")]);
  assert.deepEqual(b, [MSG(seq, "alice", "#dev", "hi all")]);
  assert.deepEqual(h.store.historyBefore("#dev", Infinity, 10).map((e) => e.seq), [seq]);
});

Deno.test("Rooms: timed members get TIMED before a room message", () => {
  const h = new Harness();
  h.login(1, "alice", 0, { timed: true });
  h.room(1, "alice", "#dev", "join");
  h.take(1);
  h.msg(1, "alice", "#dev", 1, "x", 1234);
  h.core.commit(1234);
  const [timed, msg] = h.take(1);
  assert.deepEqual(timed, seen(FrameType.TIMED, msg!.id, "alice", "#dev", "1234"));
});

Deno.test("Rooms: a resend of a room message is answered 200 again and not posted twice", () => {
  const h = devRoom();
  h.msg(1, "alice", "#dev", 9, "once");
  h.core.commit(0);
  h.msg(1, "alice", "#dev", 9, "once");
  h.core.commit(0);
  const a = h.take(1);
  assert.equal(a.filter((f) => f.type === FrameType.MSG).length, 1);
  assert.deepEqual(a.filter((f) => f.type === FrameType.ACK), [
    ACK(9, "#dev", "alice", "200"),
    ACK(9, "#dev", "alice", "200"),
  ]);
  assert.equal(h.take(2).length, 1);
  assert.equal(h.store.historyBefore("#dev", Infinity, 10).length, 1);
});

Deno.test("Rooms: a non-member gets 403 and an unknown room 404, the connection stays open", () => {
  const h = devRoom();
  h.login(3, "carol");
  h.msg(3, "carol", "#dev", 1, "let me in");
  h.msg(3, "carol", "#nope", 2, "anyone?");
  h.core.commit(0);
  assert.deepEqual(h.take(3), [ACK(1, "#dev", "carol", "403"), ACK(2, "#nope", "carol", "404")]);
  assert.deepEqual(h.take(1), []);
  assert.deepEqual(h.outbox.closed, []);
});

Deno.test("Rooms: leave answers 200 and notifies; #all 403; not a member 404", () => {
  const h = devRoom();
  h.room(2, "bob", "#dev", "leave", 3);
  assert.deepEqual(h.take(2), [ACK(3, "#dev", "bob", "200")]);
  assert.deepEqual(h.take(1), [ROOM(0, "bob", "#dev", "left")]);
  h.room(2, "bob", "#dev", "leave", 4);
  h.room(2, "bob", "#all", "leave", 5);
  h.room(2, "bob", "#zzz", "leave", 6);
  assert.deepEqual(h.take(2), [
    ACK(4, "#dev", "bob", "404"),
    ACK(5, "#all", "bob", "403"),
    ACK(6, "#zzz", "bob", "404"),
  ]);
  h.msg(1, "alice", "#dev", 8, "alone");
  h.core.commit(0);
  assert.deepEqual(h.take(2), [], "bob left: nothing more");
});

Deno.test("Rooms: the last member's leave deletes the room and its history; the name starts afresh", () => {
  const h = devRoom();
  h.msg(1, "alice", "#dev", 8, "old secret");
  h.core.commit(0);
  h.room(2, "bob", "#dev", "leave", 3);
  h.room(1, "alice", "#dev", "leave", 4);
  assert.deepEqual(h.store.rooms().map((r) => r.name), ["#all"]);
  assert.deepEqual(h.store.historyBefore("#dev", Infinity, 10), []);
  h.take(1);
  h.room(1, "alice", "#dev", "members", 5);
  assert.deepEqual(h.take(1), [ACK(5, "#dev", "alice", "404")]);
  h.room(1, "alice", "#dev", "join", 6);
  assert.deepEqual(h.take(1), [ACK(6, "#dev", "alice", "200")], "no replay of the old room");
});

Deno.test("Rooms: list shows every room with its member count; members shows who is online", () => {
  const h = devRoom();
  h.login(3, "carol");
  h.room(3, "carol", "#ops", "join");
  h.logout(3);
  h.room(1, "alice", "", "list", 11);
  assert.deepEqual(h.take(1), [
    ROOM(11, "", "alice", "+#all 3\n+#dev 2\n-#ops 1"),
    ROOM(11, "", "alice", ""),
  ]);
  h.room(1, "alice", "#ops", "members", 12);
  h.room(1, "alice", "#all", "members", 13);
  h.room(1, "alice", "#what", "members", 14);
  assert.deepEqual(h.take(1), [
    ROOM(12, "", "alice", "-carol"),
    ROOM(12, "", "alice", ""),
    ROOM(13, "", "alice", "+alice\n+bob\n-carol"),
    ROOM(13, "", "alice", ""),
    ACK(14, "#what", "alice", "404"),
  ]);
});

Deno.test("Rooms: join replays the last N messages as TIMED + HISTORY, oldest first", () => {
  const h = new Harness({ roomReplay: 2 });
  h.login(1, "alice");
  h.room(1, "alice", "#dev", "join");
  for (let i = 1; i <= 3; i++) {
    h.msg(1, "alice", "#dev", i, `m${i}`, 100 * i);
    h.core.commit(100 * i);
  }
  h.login(2, "bob");
  h.room(2, "bob", "#dev", "join", 4);
  const got = h.take(2);
  assert.deepEqual(got[0], ACK(4, "#dev", "bob", "200"));
  const rest = got.slice(1);
  assert.deepEqual(rest.map((f) => [f.type, f.src, f.dst, f.payload]), [
    [FrameType.TIMED, "alice", "#dev", "200"],
    [FrameType.HISTORY, "alice", "#dev", "m2"],
    [FrameType.TIMED, "alice", "#dev", "300"],
    [FrameType.HISTORY, "alice", "#dev", "m3"],
  ]);
});

Deno.test("Rooms: an offline member gets what it missed at login, not its own, once acked", () => {
  const h = devRoom();
  h.logout(2);
  h.msg(1, "alice", "#dev", 1, "while you were out", 500);
  h.core.commit(500);
  h.msg(1, "alice", "#all", 2, "to everyone", 600);
  h.core.commit(600);
  const missed = h.login(2, "bob", 700, { timed: true });
  assert.deepEqual(missed.map((f) => [f.type, f.src, f.dst, f.payload]), [
    [FrameType.TIMED, "alice", "#all", "600"],
    [FrameType.OFFLINE, "alice", "#all", "to everyone"],
    [FrameType.TIMED, "alice", "#dev", "500"],
    [FrameType.OFFLINE, "alice", "#dev", "while you were out"],
  ]);
  // bob acks one of the two: the other comes again at the next login.
  const devSeq = missed[3]!.id;
  h.ack(2, "bob", "#dev", devSeq);
  h.core.commit(700);
  h.logout(2);
  const again = h.login(2, "bob", 800);
  assert.deepEqual(again.map((f) => [f.type, f.payload]), [[FrameType.OFFLINE, "to everyone"]]);
  // alice's own messages never come back as missed.
  h.take(1);
  h.logout(1);
  assert.deepEqual(h.login(1, "alice"), []);
});

Deno.test("Rooms: a first login joins #all with its cursor at the newest message", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.msg(1, "alice", "#all", 1, "before bob", 0);
  h.core.commit(0);
  assert.deepEqual(h.login(2, "bob"), [], "no past as missed");
  h.msg(1, "alice", "#all", 2, "after bob", 0);
  h.core.commit(0);
  assert.deepEqual(h.take(2).map((f) => f.payload), ["after bob"]);
});

Deno.test("Rooms: a seed-000 session may send to #all (200) and gets no room traffic", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.core.open(3, 0, "127.0.0.1:1");
  h.msg(3, "old", "#all", 0, "hello from the past");
  h.core.commit(0);
  const old = h.take(3);
  assert.deepEqual(old, [ACK(0, "#all", "old", "200")], "no echo");
  assert.deepEqual(h.take(1).map((f) => f.payload), ["hello from the past"]);
  h.msg(1, "alice", "#all", 1, "hi old");
  h.msg(3, "old", "#dev", 1, "nope");
  h.core.commit(0);
  assert.deepEqual(h.take(3), [ACK(1, "#dev", "old", "404")]);
  h.room(1, "alice", "#dev", "join");
  h.msg(3, "old", "#dev", 2, "nope");
  h.core.commit(0);
  assert.deepEqual(h.take(3), [ACK(2, "#dev", "old", "403")]);
});

Deno.test("Rooms: HISTORY pages a direct conversation with before= and answers 200 last", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.login(2, "bob");
  for (let i = 1; i <= 5; i++) {
    h.msg(1, "alice", "bob", i, `d${i}`, i);
    h.ack(2, "bob", "alice", i, "200", i);
    h.core.commit(i);
  }
  h.take(1);
  h.history(1, "alice", "bob", "limit=2", 70);
  const page = h.take(1);
  assert.deepEqual(page.map((f) => [f.type, f.payload]), [
    [FrameType.TIMED, "4"],
    [FrameType.HISTORY, "d4"],
    [FrameType.TIMED, "5"],
    [FrameType.HISTORY, "d5"],
    [FrameType.ACK, "200"],
  ]);
  assert.deepEqual(page[4], ACK(70, "bob", "alice", "200"));
  const oldest = page[1]!.id;
  h.history(2, "bob", "alice", `limit=10\nbefore=${oldest}`, 71);
  assert.deepEqual(
    h.take(2).filter((f) => f.type === FrameType.HISTORY).map((f) => f.payload),
    ["d1", "d2", "d3"],
  );
  h.history(2, "bob", "alice", "limit=x", 72);
  assert.deepEqual(h.take(2), [ACK(72, "alice", "bob", "400")]);
});

Deno.test("Rooms: with directHistory off, direct messages stay out of the history: HISTORY of a user is 501", () => {
  const h = new Harness({ directHistory: false });
  h.login(1, "alice");
  h.login(2, "bob");
  h.msg(1, "alice", "bob", 1, "not kept", 1);
  h.ack(2, "bob", "alice", 1, "200", 1);
  h.core.commit(1);
  h.take(1);
  h.history(1, "alice", "bob", "limit=5", 70);
  assert.deepEqual(h.take(1), [ACK(70, "bob", "alice", "501")]);
  h.core.sweep(2_000);
  assert.deepEqual(h.store.historyBefore("alice\nbob", Infinity, 10), []);
  h.room(1, "alice", "#all", "join", 3);
  h.msg(1, "alice", "#all", 2, "kept", 3);
  h.core.commit(3);
  h.take(1);
  h.history(1, "alice", "#all", "limit=5", 71);
  assert.deepEqual(
    h.take(1).filter((f) => f.type === FrameType.HISTORY).map((f) => f.payload),
    ["kept"],
  );
});

Deno.test("Rooms: a HISTORY answer carries at most 1 MiB: the newest entries that fit", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.login(2, "bob");
  const big = "x".repeat(60_000);
  h.store.begin();
  for (let i = 1; i <= 40; i++) {
    const payload = text(`${i} ${big}`);
    h.store.appendHistory({
      conv: "alice\nbob",
      src: "alice",
      dst: "bob",
      id: i,
      sentAt: i,
      payload,
      kind: 0,
    });
  }
  h.store.commit();
  h.history(1, "alice", "bob", "limit=500", 70);
  const answer = h.take(1);
  // Each entry: TIMED (its sentAt, here its number), CHUNK frames, HISTORY.
  const times = answer.filter((f) => f.type === FrameType.TIMED).map((f) => f.payload);
  assert.deepEqual(times, Array.from({ length: 17 }, (_, i) => String(24 + i)), "17 of 60 kB fit");
  assert.equal(answer.filter((f) => f.type === FrameType.HISTORY).length, 17);
  assert.deepEqual(answer.at(-1), ACK(70, "bob", "alice", "200"));
});

Deno.test("Rooms: HISTORY of a room is for members only", () => {
  const h = devRoom();
  h.msg(1, "alice", "#dev", 1, "secret");
  h.core.commit(0);
  h.login(3, "carol");
  h.history(3, "carol", "#dev", "", 5);
  h.history(3, "carol", "#nope", "", 6);
  assert.deepEqual(h.take(3), [ACK(5, "#dev", "carol", "403"), ACK(6, "#nope", "carol", "404")]);
  h.take(2);
  h.history(2, "bob", "#dev", "", 8);
  assert.deepEqual(h.take(2).map((f) => f.payload).slice(1), ["secret", "200"]);
});

Deno.test("Rooms: retention trims a conversation to --history-count at the sweep", () => {
  const h = new Harness({ historyCount: 3 });
  h.login(1, "alice");
  h.login(2, "bob");
  // Both ways: one conversation, whichever name comes first.
  for (let i = 1; i <= 6; i++) {
    if (i % 2 === 1) h.msg(1, "alice", "bob", i, `d${i}`);
    else h.msg(2, "bob", "alice", i, `d${i}`);
  }
  h.core.commit(0);
  h.core.sweep(0);
  h.core.commit(0);
  assert.deepEqual(
    h.store.historyBefore("alice\nbob", Infinity, 100).map((e) =>
      new TextDecoder().decode(e.payload)
    ),
    ["d4", "d5", "d6"],
  );
});

Deno.test("Rooms: retention deletes what is older than --history-days", () => {
  const day = 86_400_000;
  const h = new Harness({ historyDays: 1, historyCount: 0 });
  h.login(1, "alice");
  h.login(2, "bob");
  h.msg(1, "alice", "bob", 1, "old", 0);
  h.msg(1, "alice", "bob", 2, "new", day);
  h.core.commit(day);
  h.core.sweep(day + 1000);
  h.core.commit(day + 1000);
  assert.deepEqual(
    h.store.historyBefore("alice\nbob", Infinity, 100).map((e) =>
      new TextDecoder().decode(e.payload)
    ),
    ["new"],
  );
});

Deno.test("Rooms: members, cursors and rooms survive a restart on the same SQLite file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/t.db`;
    {
      const h = devRoom({ store: new SqliteStore(path) });
      h.logout(2);
      h.msg(1, "alice", "#dev", 1, "kept", 5);
      h.core.commit(5);
      h.store.close();
    }
    const h = new Harness({ store: new SqliteStore(path) });
    const missed = h.login(2, "bob");
    assert.deepEqual(missed.map((f) => [f.type, f.src, f.dst, f.payload]), [
      [FrameType.OFFLINE, "alice", "#dev", "kept"],
    ]);
    h.room(2, "bob", "", "list", 3);
    assert.deepEqual(h.take(2)[0], ROOM(3, "", "bob", "+#all 2\n+#dev 2"));
    h.store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Rooms: a direct message goes to the history whatever its fate", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.login(2, "bob");
  h.logout(2);
  h.msg(1, "alice", "bob", 1, "stored one", 3);
  h.core.commit(3);
  const [e] = h.store.historyBefore("alice\nbob", Infinity, 10);
  assert.deepEqual([e!.src, e!.dst, e!.id, e!.sentAt, e!.kind], ["alice", "bob", 1, 3, 0]);
});

Deno.test("Rooms: the login catch-up goes in pages of 512, and what comes meanwhile is not lost", () => {
  const h = devRoom();
  h.logout(2);
  for (let i = 1; i <= 600; i++) h.msg(1, "alice", "#dev", i, `m${i}`);
  h.core.commit(0);
  const first = h.login(2, "bob");
  assert.equal(first.length, 512);
  assert.deepEqual([first[0]!.payload, first[511]!.payload], ["m1", "m512"]);
  // Posted while bob's catch-up waits for his socket: not live (he is still catching up)...
  h.msg(1, "alice", "#dev", 601, "m601");
  h.core.commit(0);
  assert.deepEqual(h.take(2), []);
  // ...but in the rest of his catch-up, in order.
  h.core.writable(2, 0);
  h.core.commit(0);
  const rest = h.take(2);
  assert.equal(rest.length, 89);
  assert.deepEqual([rest[0]!.payload, rest[88]!.payload], ["m513", "m601"]);
  assert.ok(rest.every((f) => f.type === FrameType.OFFLINE));
  // Caught up: live again.
  h.msg(1, "alice", "#dev", 602, "m602");
  h.core.commit(0);
  assert.deepEqual(h.take(2).map((f) => [f.type, f.payload]), [[FrameType.MSG, "m602"]]);
});

Deno.test("Rooms: a resend while the first is not committed yet gets no second answer", () => {
  const h = devRoom();
  h.msg(1, "alice", "#dev", 3, "twice");
  h.msg(1, "alice", "#dev", 3, "twice");
  h.core.commit(0);
  assert.deepEqual(h.take(1).map((f) => f.type), [FrameType.MSG, FrameType.ACK]);
  // Same id, other payload: a new message.
  h.msg(1, "alice", "#dev", 3, "other");
  h.core.commit(0);
  assert.deepEqual(h.take(1).map((f) => f.payload), ["other", "200"]);
});

Deno.test("Rooms: join makes at most 1000 rooms and 100 per user (507); ROOM from a wrong src is 403 + close", () => {
  const h = new Harness();
  // 999 rooms besides #all, made by users of 99 rooms each (100 with #all).
  for (let made = 0, conn = 10; made < 999; conn++) {
    h.login(conn, `u${conn}`);
    for (let i = 0; i < 99 && made < 999; i++, made++) {
      h.frame(conn, {
        type: FrameType.ROOM,
        id: i,
        src: `u${conn}`,
        dst: `#r${made}`,
        payload: text("join"),
      });
    }
  }
  h.core.commit(0);
  h.login(1, "alice");
  h.room(1, "alice", "#over", "join", 5000);
  assert.deepEqual(h.take(1), [ACK(5000, "#over", "alice", "507")], "1000 rooms");
  h.room(10, "u10", "#r500", "join", 5002);
  assert.deepEqual(h.take(10).at(-1), ACK(5002, "#r500", "u10", "507"), "u10 is in 100 rooms");
  h.room(1, "alice", "#r500", "join", 5003);
  assert.deepEqual(h.take(1)[0], ACK(5003, "#r500", "alice", "200"), "alice is in 1");
  h.room(1, "mallory", "#r1", "join", 5001);
  assert.deepEqual(h.take(1), [ACK(5001, "", "alice", "403")]);
  assert.deepEqual(h.outbox.closed, [1]);
});

Deno.test("Rooms: a room with more members than sessions online reaches exactly its online members", () => {
  const h = new Harness();
  h.login(3, "carol");
  h.logout(3);
  h.login(4, "dave");
  h.logout(4);
  h.login(1, "alice");
  h.login(2, "bob");
  h.login(5, "eve");
  h.room(5, "eve", "#dev", "join");
  h.take(5);
  h.msg(1, "alice", "#all", 1, "to all");
  h.core.commit(0);
  assert.deepEqual(h.take(1).map((f) => f.payload), ["to all", "200"]);
  assert.deepEqual(h.take(2).map((f) => f.payload), ["to all"]);
  assert.deepEqual(h.take(5).map((f) => f.payload), ["to all"]);
  h.msg(5, "eve", "#dev", 1, "dev only");
  h.core.commit(0);
  assert.deepEqual(h.take(1), []);
  assert.deepEqual(h.take(5).map((f) => f.payload), ["dev only", "200"]);
});

Deno.test("Rooms: when the store cannot commit, a join and a room message get 500 and leave nothing", () => {
  const store = new FailingStore();
  const h = devRoom({ store });
  store.failing = true;
  h.room(1, "alice", "#new", "join", 3);
  h.msg(1, "alice", "#dev", 4, "lost?");
  h.core.commit(0);
  assert.deepEqual(h.take(1), [ACK(3, "#new", "alice", "500"), ACK(4, "#dev", "alice", "500")]);
  assert.deepEqual(h.take(2), []);
  store.failing = false;
  h.room(1, "alice", "", "list", 5);
  assert.deepEqual(h.take(1)[0], ROOM(5, "", "alice", "+#all 2\n+#dev 2"));
  // The resend is a new attempt.
  h.msg(1, "alice", "#dev", 4, "lost?");
  h.core.commit(0);
  assert.deepEqual(h.take(1).map((f) => f.payload), ["lost?", "200"]);
  assert.equal(h.store.historyBefore("#dev", Infinity, 10).length, 1);
});

Deno.test("Rooms: direct messages' history is queued and written by the next sweep's commit", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/t.db`;
    const store = new SqliteStore(path);
    const h = new Harness({ store });
    h.login(1, "alice");
    h.login(2, "bob");
    h.msg(1, "alice", "bob", 1, "live one", 10);
    h.core.commit(10);
    assert.equal(h.core.needsCommit, false, "no commit of its own");
    h.core.sweep(1000);
    h.core.commit(1000);
    // Another connection sees it committed, without the server's store being closed.
    const reader = new SqliteStore(path);
    assert.deepEqual(reader.historyBefore("alice\nbob", Infinity, 10).map((e) => e.id), [1]);
    reader.close();
    store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
