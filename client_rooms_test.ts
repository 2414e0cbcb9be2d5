import assert from "node:assert/strict";
import { destinationProblem, RoomError, RoomRequests } from "./client_rooms.ts";
import { codePayload, type Frame, FrameType } from "./protocol/mod.ts";

const text = (s: string) => new TextEncoder().encode(s);

/** RoomRequests over a fake session that records what it writes. */
function fake() {
  const written: Frame[] = [];
  let next = 100;
  const requests = new RoomRequests({
    user: () => "alice",
    online: () => true,
    takeId: () => next++,
    write: (frame) => written.push(frame),
  });
  const ack = (id: number, src: string, code: string): Frame => ({
    type: FrameType.ACK,
    id,
    src,
    dst: "alice",
    payload: codePayload(code),
  });
  return { requests, written, ack };
}

Deno.test("destinationProblem() accepts users and rooms, and says what is wrong otherwise", () => {
  assert.equal(destinationProblem("bob"), undefined);
  assert.equal(destinationProblem("#all"), undefined);
  assert.match(destinationProblem("#")!, /only/);
  assert.match(destinationProblem("#toolong1")!, /bytes/);
  assert.match(destinationProblem("a b")!, /whitespace/);
});

Deno.test("RoomRequests.join() sends ROOM join and resolves on the room's 200", async () => {
  const { requests, written, ack } = fake();
  const joining = requests.join("#dev");
  assert.deepEqual(written, [{
    type: FrameType.ROOM,
    id: 100,
    src: "alice",
    dst: "#dev",
    payload: text("join"),
  }]);
  assert.equal(requests.answer(ack(999, "#dev", "200")), false, "not ours");
  assert.equal(requests.answer(ack(100, "#dev", "200")), true);
  await joining;
});

Deno.test("RoomRequests.leave() rejects with a RoomError carrying the code", async () => {
  const { requests, ack } = fake();
  const leaving = requests.leave("#all");
  requests.answer(ack(100, "#all", "403"));
  await assert.rejects(leaving, (error) => error instanceof RoomError && error.code === "403");
  await assert.rejects(requests.join("dev"), RangeError);
});

Deno.test("RoomRequests.rooms() and members() gather ROOM lines up to the empty frame", async () => {
  const { requests, written } = fake();
  const listing = requests.rooms();
  const line = (id: number, payload: string): Frame => ({
    type: FrameType.ROOM,
    id,
    src: "",
    dst: "alice",
    payload: text(payload),
  });
  assert.equal(written[0]!.dst, "");
  assert.deepEqual(written[0]!.payload, text("list"));
  requests.room(line(100, "+#all 3\n-#ops 5"));
  requests.room(line(100, "+#dev 1"));
  requests.room(line(100, ""));
  assert.deepEqual(await listing, [
    { name: "#all", members: 3, member: true },
    { name: "#ops", members: 5, member: false },
    { name: "#dev", members: 1, member: true },
  ]);
  const members = requests.members("#dev");
  requests.room(line(101, "+alice\n-bob"));
  requests.room(line(101, ""));
  assert.deepEqual(await members, { online: ["alice"], away: ["bob"] });
});

Deno.test("RoomRequests.room() turns a joined/left frame into a notice", () => {
  const { requests } = fake();
  const notice = requests.room({
    type: FrameType.ROOM,
    id: 0,
    src: "bob",
    dst: "#dev",
    payload: text("joined"),
  });
  assert.equal(notice?.kind, "notice");
  assert.deepEqual({ ...notice, at: undefined }, {
    kind: "notice",
    room: "#dev",
    user: "bob",
    what: "joined",
    at: undefined,
  });
});

Deno.test("RoomRequests.history() collects entries with their times until the ACK", async () => {
  const { requests, written, ack } = fake();
  const asking = requests.history("#dev", { limit: 2, before: 9 });
  assert.deepEqual(written[0]!.payload, text("limit=2\nbefore=9"));
  const entry = (seq: number, payload: string): Frame => ({
    type: FrameType.HISTORY,
    id: seq,
    src: "bob",
    dst: "#dev",
    payload: text(payload),
  });
  assert.equal(requests.historyFrame(entry(5, "one"), 1000), undefined);
  assert.equal(requests.historyFrame(entry(7, "two"), 2000), undefined);
  requests.answer(ack(100, "#dev", "200"));
  assert.deepEqual(await asking, [
    { seq: 5, from: "bob", to: "#dev", text: "one", sentAt: new Date(1000) },
    { seq: 7, from: "bob", to: "#dev", text: "two", sentAt: new Date(2000) },
  ]);
  // Without a query waiting, a HISTORY frame is a message a join replays.
  const replay = requests.historyFrame(entry(8, "three"), 3000);
  assert.ok(replay?.kind === "message");
  assert.equal(replay.replay, true);
  assert.equal(replay.room, "#dev");
  assert.deepEqual(replay.sentAt, new Date(3000));
});

Deno.test("RoomRequests.close() fails what is still waiting", async () => {
  const { requests } = fake();
  const joining = requests.join("#dev");
  requests.close("bye");
  await assert.rejects(joining, /closed before an answer \(bye\)/);
});
