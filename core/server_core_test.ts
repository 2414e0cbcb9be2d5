import assert from "node:assert/strict";
import {
  decodeFrame,
  decodeTimed,
  encodeFrame,
  type Frame,
  FrameDecoder,
  FrameType,
} from "../protocol/mod.ts";
import { MemoryStore } from "../store/memory_store.ts";
import { SqliteStore } from "../store/sqlite_store.ts";
import { ACK, FailingStore, Harness, MSG, OFFLINE, seen, text } from "./_harness.ts";
import { PIN_MS } from "./server_core.ts";

// --- Login ---------------------------------------------------------------------------------------

Deno.test("ServerCore.frame() answers HELLO with 200 once the login is committed", () => {
  const h = new Harness();
  h.open(1);
  h.hello(1, "alice", 0, 9);
  assert.deepEqual(h.take(1), [], "nothing before the turn ends");
  h.core.commit(0);
  assert.deepEqual(h.take(1), [ACK(9, "", "alice", "200")]);
  assert.deepEqual(h.core.online(), ["alice"]);
  assert.deepEqual(h.store.users(), ["alice"]);
  assert.equal(h.isClosed(1), false);
});

Deno.test("ServerCore.frame() answers HELLO with an invalid name with 400 and closes", () => {
  for (const name of ["", "a b", "a\x01", "ёжики"]) {
    const h = new Harness();
    h.open(1);
    h.core.frame(1, { type: 3, id: 5, src: name, dst: "", payload: new Uint8Array() }, "be", 0);
    h.core.commit(0);
    assert.deepEqual(h.take(1), [ACK(5, "", "", "400")], JSON.stringify(name));
    assert.ok(h.isClosed(1));
    assert.deepEqual(h.core.online(), []);
    assert.equal(h.core.connections, 0);
    assert.deepEqual(h.store.users(), []);
  }
});

Deno.test("ServerCore.frame() answers HELLO for a name held by a live connection with 409", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.open(2);
  h.hello(2, "alice", 1, 4);
  h.core.commit(1);
  assert.deepEqual(h.take(2), [ACK(4, "", "alice", "409")]);
  assert.ok(h.isClosed(2));
  assert.equal(h.isClosed(1), false);
  h.frame(1, { type: 4, id: 1, src: "alice", dst: "", payload: new Uint8Array() }, 2);
  assert.deepEqual(h.take(1), [seen(FrameType.PONG, 1, "", "alice")]);
});

Deno.test("ServerCore.frame() lets a HELLO take a name whose holder missed its ack deadline", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.login(2, "bob");
  h.msg(2, "bob", "alice", 1, "are you there?", 0);
  h.core.commit(0);
  assert.deepEqual(h.take(1), [MSG(1, "bob", "alice", "are you there?")]);
  h.open(3, 2999);
  h.hello(3, "alice", 2999);
  h.core.commit(2999);
  assert.deepEqual(h.take(3), [ACK(0, "", "alice", "409")], "still alive at 2999");
  h.open(4, 3000);
  h.hello(4, "alice", 3000);
  h.core.commit(3000);
  assert.ok(h.isClosed(1), "the silent holder is closed as dead");
  assert.deepEqual(h.take(2), [ACK(1, "alice", "bob", "300")]);
  assert.deepEqual(h.take(4), [
    ACK(0, "", "alice", "200"),
    OFFLINE(1, "bob", "alice", "are you there?"),
  ]);
});

// --- Live delivery -------------------------------------------------------------------------------

Deno.test("ServerCore.frame() forwards a message to an online recipient unchanged", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.login(2, "bob");
  const raw = h.msg(1, "alice", "bob", 1, "hi bob", 10);
  assert.deepEqual(h.bytesTo(2).at(-1), raw);
  assert.deepEqual(h.take(2), [MSG(1, "alice", "bob", "hi bob")]);
  h.core.commit(10);
  assert.deepEqual(h.take(1), [], "no answer before bob's ack");
  assert.deepEqual(h.stored("bob"), []);
});

Deno.test("ServerCore.frame() follows a partner who logs out and in between messages, and a sender who reconnects", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.login(2, "bob");
  h.msg(1, "alice", "bob", 1, "one", 0);
  h.ack(2, "bob", "alice", 1, "200", 0);
  assert.deepEqual(h.take(2), [MSG(1, "alice", "bob", "one")]);
  assert.deepEqual(h.take(1), [ACK(1, "bob", "alice", "200")]);
  h.logout(2, 1);
  h.msg(1, "alice", "bob", 2, "two", 2);
  h.core.commit(2);
  assert.deepEqual(h.take(1), [ACK(2, "bob", "alice", "300")], "bob is offline: stored");
  assert.deepEqual(h.login(3, "bob", 3), [OFFLINE(2, "alice", "bob", "two")]);
  h.ack(3, "bob", "alice", 2, "200", 3);
  h.core.commit(3);
  h.msg(1, "alice", "bob", 3, "three", 4);
  assert.deepEqual(h.take(3), [MSG(3, "alice", "bob", "three")], "live to bob's new session");
  // alice reconnects while bob holds her message: his ACK reaches her new session.
  h.logout(1, 5);
  h.login(4, "alice", 5);
  h.take(4);
  h.ack(3, "bob", "alice", 3, "200", 6);
  assert.deepEqual(h.take(4), [ACK(3, "bob", "alice", "200")]);
  h.msg(4, "alice", "bob", 4, "four", 7);
  assert.deepEqual(h.take(3), [MSG(4, "alice", "bob", "four")]);
});

Deno.test("ServerCore keeps a message unacknowledged for PIN_MS in a copy of its own, not in its read buffer", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.login(2, "bob");
  const young = h.msg(1, "alice", "bob", 1, "first", 0);
  const old = h.msg(1, "alice", "bob", 2, "second", 0);
  assert.deepEqual(h.take(2), [MSG(1, "alice", "bob", "first"), MSG(2, "alice", "bob", "second")]);
  // bob acknowledges neither. The next message, PIN_MS later, finds both old enough to copy.
  h.msg(1, "alice", "bob", 3, "third", PIN_MS);
  // Read buffers are never written again; if the core still pointed into them, this would show.
  young.fill(0);
  old.fill(0);
  // bob leaves without his acks: what awaited them is stored from the copies, and handed over.
  h.logout(2, PIN_MS + 1);
  h.core.commit(PIN_MS + 1);
  assert.deepEqual(h.login(3, "bob", PIN_MS + 2), [
    OFFLINE(1, "alice", "bob", "first"),
    OFFLINE(2, "alice", "bob", "second"),
    OFFLINE(3, "alice", "bob", "third"),
  ]);
});

Deno.test("ServerCore.frame() on a connection closed, then on its number opened again, reaches no stale session", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.login(2, "bob");
  h.msg(1, "alice", "bob", 1, "one", 0);
  h.logout(1, 1);
  // A frame that a closed connection's last read still held: nobody's.
  h.msg(1, "alice", "bob", 2, "late", 2);
  // The number comes back for carol (a test may reuse it; the server never does).
  h.login(1, "carol", 3);
  h.msg(1, "carol", "bob", 1, "hi", 4);
  assert.deepEqual(h.take(2), [MSG(1, "alice", "bob", "one"), MSG(1, "carol", "bob", "hi")]);
  // alice's session is gone: what claims to be from her on carol's connection is refused.
  h.msg(1, "alice", "bob", 3, "forged", 5);
  assert.deepEqual(h.take(2), []);
});

Deno.test("ServerCore.frame() relays the recipient's ACK with the code up to its NUL", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.login(2, "bob");
  h.msg(1, "alice", "bob", 1, "hi", 0);
  h.ack(2, "bob", "alice", 1, "200\0xyz", 5);
  assert.deepEqual(h.take(1), [ACK(1, "bob", "alice", "200")]);
  h.core.tick(10_000);
  h.core.commit(10_000);
  assert.deepEqual(h.take(1), [], "no 300 after the ack");
  assert.equal(h.isClosed(2), false);
  assert.deepEqual(h.stored("bob"), []);
});

Deno.test("ServerCore.frame() relays any ACK from the recipient as 200: it cannot forge a code", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.login(2, "bob");
  h.msg(1, "alice", "bob", 1, "a", 0);
  h.msg(1, "alice", "bob", 2, "b", 0);
  h.msg(1, "alice", "bob", 3, "c", 0);
  h.msg(1, "alice", "bob", 4, "d", 0);
  h.msg(1, "alice", "bob", 5, "e", 0);
  h.ack(2, "bob", "alice", 1, "404\0", 1);
  h.ack(2, "bob", "alice", 2, "ok", 1);
  h.ack(2, "bob", "alice", 3, "", 1);
  h.ack(2, "bob", "alice", 4, "abc", 1);
  h.ack(2, "bob", "alice", 5, "200", 1);
  assert.deepEqual(h.take(1), [
    ACK(1, "bob", "alice", "200"),
    ACK(2, "bob", "alice", "200"),
    ACK(3, "bob", "alice", "200"),
    ACK(4, "bob", "alice", "200"),
    ACK(5, "bob", "alice", "200"),
  ]);
});

Deno.test("ServerCore.frame() ignores an ACK for a message that was not sent to its author", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.login(2, "bob");
  h.login(3, "carol");
  h.msg(1, "alice", "bob", 1, "for bob", 0);
  h.ack(3, "carol", "alice", 1, "200", 1);
  assert.deepEqual(h.take(1), []);
  h.ack(2, "bob", "alice", 1, "200", 2);
  assert.deepEqual(h.take(1), [ACK(1, "bob", "alice", "200")]);
});

// --- The ack timeout -----------------------------------------------------------------------------

Deno.test("ServerCore.tick() answers 300 at the ack timeout, stores the message and closes the recipient", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.login(2, "bob");
  h.msg(1, "alice", "bob", 7, "hello?", 0);
  h.core.commit(0);
  assert.equal(h.core.nextDeadline(), 3000);
  h.core.tick(2999);
  h.core.commit(2999);
  assert.deepEqual(h.take(1), [], "nothing at 2999");
  assert.equal(h.isClosed(2), false);
  assert.deepEqual(h.stored("bob"), []);
  h.core.tick(3000);
  assert.deepEqual(h.take(1), [], "300 only once stored");
  h.core.commit(3000);
  assert.deepEqual(h.take(1), [ACK(7, "bob", "alice", "300")]);
  assert.deepEqual(h.stored("bob"), ["alice#7:hello?"]);
  assert.ok(h.isClosed(2));
  assert.deepEqual(h.core.online(), ["alice"]);
  assert.equal(h.core.nextDeadline(), undefined);
  assert.deepEqual(h.login(3, "bob", 4000), [OFFLINE(7, "alice", "bob", "hello?")]);
});

Deno.test("ServerCore.frame() honours ackTimeoutMs", () => {
  const h = new Harness({ ackTimeoutMs: 500 });
  h.login(1, "alice");
  h.login(2, "bob");
  h.msg(1, "alice", "bob", 1, "quick", 100);
  h.core.tick(599);
  h.core.commit(599);
  assert.deepEqual(h.take(1), []);
  h.core.tick(600);
  h.core.commit(600);
  assert.deepEqual(h.take(1), [ACK(1, "bob", "alice", "300")]);
});

Deno.test("ServerCore.closed() stores the recipient's unacked live messages and answers 300", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.login(2, "bob");
  h.login(3, "carol");
  h.msg(1, "alice", "bob", 1, "one", 0);
  h.msg(3, "carol", "bob", 1, "two", 0);
  h.msg(1, "alice", "bob", 2, "three", 0);
  h.ack(2, "bob", "alice", 2, "200", 1);
  h.core.commit(1);
  assert.deepEqual(h.take(1), [ACK(2, "bob", "alice", "200")]);
  h.core.closed(2, 500);
  h.core.commit(500);
  assert.deepEqual(h.take(1), [ACK(1, "bob", "alice", "300")]);
  assert.deepEqual(h.take(3), [ACK(1, "bob", "carol", "300")]);
  assert.deepEqual(h.stored("bob"), ["alice#1:one", "carol#1:two"]);
  assert.equal(h.isClosed(2), false, "the peer closed it: the core does not close it again");
  h.core.tick(5000);
  h.core.commit(5000);
  assert.deepEqual(h.take(1), [], "no second answer at the deadline");
});

// --- Offline and unknown recipients --------------------------------------------------------------

Deno.test("ServerCore.frame() stores a message for a known offline user, then answers 300", () => {
  const h = new Harness();
  h.known(2, "bob");
  h.login(1, "alice");
  h.msg(1, "alice", "bob", 5, "see you", 10);
  assert.deepEqual(h.take(1), [], "no 300 before the commit");
  h.core.commit(10);
  assert.deepEqual(h.take(1), [ACK(5, "bob", "alice", "300")]);
  assert.deepEqual(h.stored("bob"), ["alice#5:see you"]);
  assert.equal(h.store.messagesFor("bob", 0, 1)[0]!.sentAt, 10);
});

Deno.test("ServerCore.frame() answers 404 for a recipient who never logged in", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.msg(1, "alice", "carol", 3, "anyone?", 0);
  h.core.commit(0);
  assert.deepEqual(h.take(1), [ACK(3, "carol", "alice", "404")]);
  assert.deepEqual(h.stored("carol"), []);
  assert.equal(h.isClosed(1), false);
});

Deno.test("ServerCore.frame() answers a message with an empty dst with 400 and closes", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.msg(1, "alice", "", 3, "nobody", 0);
  assert.deepEqual(h.take(1), [ACK(3, "", "alice", "400")]);
  assert.ok(h.isClosed(1));
});

// --- Login drain ---------------------------------------------------------------------------------

Deno.test("ServerCore login drain sends 200, stored messages oldest first, receipts, then live ones", () => {
  const h = new Harness();
  h.known(9, "dave");
  h.login(1, "alice");
  h.login(3, "carol");
  h.login(2, "bob");
  // bob is owed a receipt: dave acknowledges bob's stored message while bob is offline.
  h.msg(2, "bob", "dave", 9, "for dave", 0);
  h.core.commit(0);
  assert.deepEqual(h.take(2), [ACK(9, "dave", "bob", "300")]);
  h.core.closed(2, 1);
  h.core.commit(1);
  assert.deepEqual(h.login(4, "dave", 2), [OFFLINE(9, "bob", "dave", "for dave")]);
  h.ack(4, "dave", "bob", 9, "200", 3);
  h.core.commit(3);
  assert.deepEqual(h.store.receiptsFor("bob").map((r) => [r.from, r.id]), [["dave", 9]]);
  // Two stored messages for bob.
  h.msg(1, "alice", "bob", 1, "one", 4);
  h.msg(1, "alice", "bob", 2, "two", 5);
  h.core.commit(5);
  // bob logs in; in the same turn carol sends bob a live message.
  h.open(5, 6);
  h.hello(5, "bob", 6, 77);
  h.msg(3, "carol", "bob", 3, "live", 6);
  assert.deepEqual(h.take(5), [], "the live message waits for the drain");
  h.core.commit(6);
  assert.deepEqual(h.take(5), [
    ACK(77, "", "bob", "200"),
    OFFLINE(1, "alice", "bob", "one"),
    OFFLINE(2, "alice", "bob", "two"),
    ACK(9, "dave", "bob", "200"),
    MSG(3, "carol", "bob", "live"),
  ]);
  assert.deepEqual(h.store.receiptsFor("bob"), [], "the receipt is handed over once");
  // bob has the whole ack timeout for the live message.
  h.core.tick(6 + 2999);
  h.core.commit(6 + 2999);
  assert.equal(h.isClosed(5), false);
});

Deno.test("ServerCore.writable() hands over the next drain page", () => {
  const h = new Harness({ drainPage: 2 });
  h.known(2, "bob");
  h.login(1, "alice");
  h.login(3, "carol");
  for (let id = 1; id <= 5; id++) h.msg(1, "alice", "bob", id, `m${id}`, id);
  h.core.commit(5);
  assert.deepEqual(h.take(1).map((f) => f.payload), ["300", "300", "300", "300", "300"]);
  assert.deepEqual(h.login(4, "bob", 10), [
    OFFLINE(1, "alice", "bob", "m1"),
    OFFLINE(2, "alice", "bob", "m2"),
  ]);
  h.msg(3, "carol", "bob", 7, "live", 11);
  h.core.commit(11);
  assert.deepEqual(h.take(4), [], "waits for the socket to drain");
  h.core.writable(4, 12);
  h.core.commit(12);
  assert.deepEqual(h.take(4), [OFFLINE(3, "alice", "bob", "m3"), OFFLINE(4, "alice", "bob", "m4")]);
  h.core.writable(4, 13);
  h.core.commit(13);
  assert.deepEqual(h.take(4), [OFFLINE(5, "alice", "bob", "m5"), MSG(7, "carol", "bob", "live")]);
  h.core.writable(4, 14);
  h.core.commit(14);
  assert.deepEqual(h.take(4), [], "nothing more once drained");
});

Deno.test("ServerCore.awaitsWritable holds while a drain waits for its socket, not after", () => {
  const h = new Harness({ drainPage: 2 });
  h.known(2, "bob");
  h.known(6, "dave");
  h.login(1, "alice");
  for (let id = 1; id <= 3; id++) {
    h.msg(1, "alice", "bob", id, `b${id}`, id);
    h.msg(1, "alice", "dave", 10 + id, `d${id}`, id);
  }
  h.core.commit(3);
  assert.equal(h.core.awaitsWritable, false, "no drain yet");
  assert.equal(h.login(4, "bob", 4).length, 2);
  assert.equal(h.login(5, "dave", 4).length, 2);
  assert.equal(h.core.awaitsWritable, true, "both drains wait for their sockets");
  h.core.writable(4, 5);
  h.core.commit(5);
  assert.deepEqual(h.take(4), [OFFLINE(3, "alice", "bob", "b3")]);
  assert.equal(h.core.awaitsWritable, true, "dave's drain still waits");
  h.core.closed(5, 6);
  assert.equal(h.core.awaitsWritable, false, "a closed session waits for nothing");
  h.core.writable(5, 7);
  assert.equal(h.core.awaitsWritable, false);
});

Deno.test("ServerCore.writable() ends a drain whose last page was exactly full", () => {
  const h = new Harness({ drainPage: 2 });
  h.known(2, "bob");
  h.login(1, "alice");
  h.msg(1, "alice", "bob", 1, "m1", 1);
  h.msg(1, "alice", "bob", 2, "m2", 1);
  h.core.commit(1);
  assert.equal(h.login(4, "bob", 2).length, 2);
  h.msg(1, "alice", "bob", 3, "live", 3);
  h.core.writable(4, 4);
  h.core.commit(4);
  assert.deepEqual(h.take(4), [MSG(3, "alice", "bob", "live")]);
});

Deno.test("ServerCore stores a live message held behind a drain past its deadline, without closing", () => {
  const h = new Harness({ drainPage: 2 });
  h.known(2, "bob");
  h.login(1, "alice");
  h.login(3, "carol");
  for (let id = 1; id <= 3; id++) h.msg(1, "alice", "bob", id, `m${id}`, 0);
  h.core.commit(0);
  assert.equal(h.login(4, "bob", 0).length, 2);
  h.msg(3, "carol", "bob", 7, "live", 0);
  h.core.tick(3000);
  h.core.commit(3000);
  assert.deepEqual(h.take(3), [ACK(7, "bob", "carol", "300")]);
  assert.equal(h.isClosed(4), false, "bob was never handed it: not a dead connection");
  h.core.writable(4, 3001);
  h.core.commit(3001);
  assert.deepEqual(h.take(4), [
    OFFLINE(3, "alice", "bob", "m3"),
    OFFLINE(7, "carol", "bob", "live"),
  ]);
});

// --- Late receipts -------------------------------------------------------------------------------

Deno.test("ServerCore sends an online sender a late 200 when its stored message is acked", () => {
  const h = new Harness();
  h.known(2, "bob");
  h.login(1, "alice");
  h.msg(1, "alice", "bob", 1, "later", 0);
  h.core.commit(0);
  assert.deepEqual(h.take(1), [ACK(1, "bob", "alice", "300")]);
  assert.deepEqual(h.login(3, "bob", 10), [OFFLINE(1, "alice", "bob", "later")]);
  h.ack(3, "bob", "alice", 1, "200", 11);
  assert.deepEqual(h.take(1), [], "the receipt waits for the delete to commit");
  h.core.commit(11);
  assert.deepEqual(h.take(1), [ACK(1, "bob", "alice", "200")]);
  assert.deepEqual(h.stored("bob"), []);
  assert.deepEqual(h.store.receiptsFor("alice"), []);
  h.ack(3, "bob", "alice", 1, "200", 12);
  h.core.commit(12);
  assert.deepEqual(h.take(1), [], "a second ack is not a second receipt");
  h.core.closed(3, 13);
  assert.deepEqual(h.login(4, "bob", 14), [], "not handed over again");
});

Deno.test("ServerCore keeps a receipt for an offline sender and sends it once at its next login", () => {
  const h = new Harness();
  h.known(2, "bob");
  h.login(1, "alice");
  h.msg(1, "alice", "bob", 1, "one", 0);
  h.msg(1, "alice", "bob", 2, "two", 0);
  h.core.commit(0);
  h.core.closed(1, 1);
  h.core.commit(1);
  assert.deepEqual(h.login(3, "bob", 2), [
    OFFLINE(1, "alice", "bob", "one"),
    OFFLINE(2, "alice", "bob", "two"),
  ]);
  h.ack(3, "bob", "alice", 2, "200", 3);
  h.ack(3, "bob", "alice", 1, "200", 3);
  h.core.commit(3);
  assert.deepEqual(h.store.receiptsFor("alice").map((r) => r.id), [2, 1]);
  assert.deepEqual(h.login(4, "alice", 4), [
    ACK(2, "bob", "alice", "200"),
    ACK(1, "bob", "alice", "200"),
  ]);
  assert.deepEqual(h.store.receiptsFor("alice"), []);
  h.core.closed(4, 5);
  h.core.commit(5);
  assert.deepEqual(h.login(5, "alice", 6), [], "exactly once");
});

// --- Legacy (seed-000) clients -------------------------------------------------------------------

Deno.test("ServerCore binds a connection without HELLO to its first frame's src, silently", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.open(2);
  h.msg(2, "bob", "alice", 0, "hi from seed", 0);
  h.core.commit(0);
  assert.deepEqual(h.take(2), [], "no 200 for a legacy bind");
  assert.deepEqual(h.take(1), [MSG(0, "bob", "alice", "hi from seed")]);
  assert.deepEqual(h.core.online().sort(), ["alice", "bob"]);
  h.ack(1, "alice", "bob", 0, "200", 1);
  assert.deepEqual(h.take(2), [ACK(0, "alice", "bob", "200")]);
});

Deno.test("ServerCore applies the 400 and 409 rules to a legacy bind", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.open(2);
  h.msg(2, "alice", "bob", 3, "x", 0);
  assert.deepEqual(h.take(2), [ACK(3, "", "alice", "409")]);
  assert.ok(h.isClosed(2));
  h.open(3);
  h.core.frame(3, { type: 0, id: 4, src: "a b", dst: "alice", payload: text("x") }, "be", 0);
  assert.deepEqual(h.take(3), [ACK(4, "", "", "400")]);
  assert.ok(h.isClosed(3));
});

Deno.test("ServerCore counts a type-2 frame as delivered to a legacy session still open at the timeout", () => {
  const h = new Harness();
  h.known(2, "bob");
  h.login(1, "alice");
  h.msg(1, "alice", "bob", 1, "stored", 0);
  h.core.commit(0);
  assert.deepEqual(h.take(1), [ACK(1, "bob", "alice", "300")]);
  h.open(3, 100);
  h.msg(3, "bob", "alice", 0, "back", 100);
  h.core.commit(100);
  assert.deepEqual(h.take(3), [OFFLINE(1, "alice", "bob", "stored")]);
  assert.deepEqual(h.take(1), [MSG(0, "bob", "alice", "back")]);
  h.ack(1, "alice", "bob", 0, "200", 101);
  h.core.commit(101);
  h.core.tick(3099);
  h.core.commit(3099);
  assert.deepEqual(h.take(1), []);
  assert.deepEqual(h.stored("bob"), ["alice#1:stored"]);
  h.core.tick(3100);
  h.core.commit(3100);
  assert.deepEqual(h.take(1), [ACK(1, "bob", "alice", "200")]);
  assert.deepEqual(h.stored("bob"), []);
  assert.equal(h.isClosed(3), false);
  h.core.tick(10_000);
  h.core.commit(10_000);
  assert.deepEqual(h.take(1), [], "exactly once");
});

Deno.test("ServerCore keeps a type-2 frame stored when the legacy session left before the timeout", () => {
  const h = new Harness();
  h.known(2, "bob");
  h.login(1, "alice");
  h.msg(1, "alice", "bob", 1, "stored", 0);
  h.core.commit(0);
  h.take(1);
  h.open(3, 100);
  h.frame(3, { type: 0, id: 0, src: "bob", dst: "alice", payload: text("x") }, 100);
  h.core.commit(100);
  assert.deepEqual(h.take(3), [OFFLINE(1, "alice", "bob", "stored")]);
  assert.deepEqual(h.take(1), [MSG(0, "bob", "alice", "x")]);
  h.ack(1, "alice", "bob", 0, "200", 101);
  h.core.closed(3, 2000);
  h.core.commit(2000);
  h.core.tick(3100);
  h.core.commit(3100);
  assert.deepEqual(h.take(1), []);
  assert.deepEqual(h.stored("bob"), ["alice#1:stored"]);
  assert.equal(h.core.nextDeadline(), undefined);
});

Deno.test("ServerCore forgets a legacy sender's answered ids when it binds again", () => {
  const h = new Harness();
  h.login(1, "bob");
  h.open(2);
  h.msg(2, "alice", "bob", 0, "hi", 0);
  h.ack(1, "bob", "alice", 0, "200", 1);
  assert.deepEqual(h.take(2), [ACK(0, "bob", "alice", "200")]);
  h.core.closed(2, 2);
  h.core.commit(2);
  // The seed client restarts its ids at 0: the same id and text is a new message.
  h.open(3, 3);
  h.msg(3, "alice", "bob", 0, "hi", 3);
  h.core.commit(3);
  assert.deepEqual(h.take(1), [MSG(0, "alice", "bob", "hi"), MSG(0, "alice", "bob", "hi")]);
  assert.deepEqual(h.take(3), []);
});

// --- Idempotency ---------------------------------------------------------------------------------

Deno.test("ServerCore ignores a resend of a message still in flight", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.login(2, "bob");
  h.msg(1, "alice", "bob", 1, "once", 0);
  h.msg(1, "alice", "bob", 1, "once", 1);
  h.core.commit(1);
  assert.deepEqual(h.take(2), [MSG(1, "alice", "bob", "once")]);
  assert.deepEqual(h.take(1), []);
  h.ack(2, "bob", "alice", 1, "200", 2);
  h.core.commit(2);
  assert.deepEqual(h.take(1), [ACK(1, "bob", "alice", "200")]);
});

Deno.test("ServerCore answers a resend of a delivered message with 200 again, without delivery", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.login(2, "bob");
  h.msg(1, "alice", "bob", 1, "once", 0);
  h.ack(2, "bob", "alice", 1, "200", 1);
  assert.deepEqual(h.take(1), [ACK(1, "bob", "alice", "200")]);
  h.take(2);
  h.core.closed(1, 2);
  h.login(3, "alice", 3);
  h.msg(3, "alice", "bob", 1, "once", 4);
  h.core.commit(4);
  assert.deepEqual(h.take(3), [ACK(1, "bob", "alice", "200")]);
  assert.deepEqual(h.take(2), [], "not delivered twice");
});

Deno.test("ServerCore answers a resend of a stored message with 300 and keeps one copy", () => {
  const h = new Harness();
  h.known(2, "bob");
  h.login(1, "alice");
  h.msg(1, "alice", "bob", 1, "keep once", 0);
  h.core.commit(0);
  h.msg(1, "alice", "bob", 1, "keep once", 1);
  h.core.commit(1);
  assert.deepEqual(h.take(1), [ACK(1, "bob", "alice", "300"), ACK(1, "bob", "alice", "300")]);
  assert.deepEqual(h.stored("bob"), ["alice#1:keep once"]);
  // After a restart the in-memory window is gone; the store still answers.
  const restarted = new Harness({ store: h.store });
  restarted.login(1, "alice", 10);
  restarted.msg(1, "alice", "bob", 1, "keep once", 11);
  restarted.core.commit(11);
  assert.deepEqual(restarted.take(1), [ACK(1, "bob", "alice", "300")]);
  assert.deepEqual(restarted.stored("bob"), ["alice#1:keep once"]);
});

Deno.test("ServerCore answers a resend whose receipt is owed with 200, without delivery", () => {
  const store = new MemoryStore();
  const h = new Harness({ store });
  h.known(2, "bob");
  h.login(1, "alice");
  h.msg(1, "alice", "bob", 1, "x", 0);
  h.core.commit(0);
  h.core.closed(1, 1);
  h.login(3, "bob", 2);
  h.ack(3, "bob", "alice", 1, "200", 3);
  h.core.commit(3);
  assert.equal(store.hasReceipt("alice", "bob", 1), true);
  // Restart; alice resends at once after her HELLO, before her drain hands the receipt over.
  const restarted = new Harness({ store });
  restarted.login(3, "bob", 10);
  restarted.open(1, 11);
  restarted.hello(1, "alice", 11);
  restarted.msg(1, "alice", "bob", 1, "x", 11);
  restarted.core.commit(11);
  assert.deepEqual(restarted.take(3), [], "not delivered twice");
  assert.deepEqual(restarted.take(1).filter((f) => f.id === 1), [
    ACK(1, "bob", "alice", "200"),
    ACK(1, "bob", "alice", "200"),
  ]);
});

Deno.test("ServerCore treats the same id with a different payload as a new message", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.login(2, "bob");
  h.msg(1, "alice", "bob", 1, "first", 0);
  h.ack(2, "bob", "alice", 1, "200", 1);
  h.msg(1, "alice", "bob", 1, "second", 2);
  assert.deepEqual(h.take(2), [MSG(1, "alice", "bob", "first"), MSG(1, "alice", "bob", "second")]);
  h.core.closed(2, 3);
  h.core.commit(3);
  h.msg(1, "alice", "bob", 9, "third", 4);
  h.msg(1, "alice", "bob", 9, "fourth", 4);
  h.core.commit(4);
  assert.deepEqual(h.stored("bob"), ["alice#1:second", "alice#9:third", "alice#9:fourth"]);
});

Deno.test("ServerCore deletes each of two stored messages with the same id when both are acked", () => {
  const h = new Harness();
  h.known(2, "bob");
  h.login(1, "alice");
  h.msg(1, "alice", "bob", 0, "first", 0);
  h.msg(1, "alice", "bob", 0, "second", 0);
  h.core.commit(0);
  assert.deepEqual(h.stored("bob"), ["alice#0:first", "alice#0:second"]);
  assert.deepEqual(h.login(3, "bob", 1), [
    OFFLINE(0, "alice", "bob", "first"),
    OFFLINE(0, "alice", "bob", "second"),
  ]);
  h.take(1);
  h.ack(3, "bob", "alice", 0, "200", 2);
  h.ack(3, "bob", "alice", 0, "200", 2);
  h.core.commit(2);
  assert.deepEqual(h.stored("bob"), [], "both deleted");
  assert.deepEqual(h.take(1), [ACK(0, "bob", "alice", "200"), ACK(0, "bob", "alice", "200")]);
  h.core.closed(3, 3);
  assert.deepEqual(h.login(4, "bob", 4), [], "nothing handed over twice");
});

Deno.test("ServerCore implicitly acks each of two stored messages with the same id for a legacy session", () => {
  const h = new Harness();
  h.known(2, "bob");
  h.login(1, "alice");
  h.msg(1, "alice", "bob", 0, "first", 0);
  h.msg(1, "alice", "bob", 0, "second", 0);
  h.core.commit(0);
  h.take(1);
  h.open(3, 10);
  h.frame(3, { type: 4, id: 0, src: "", dst: "", payload: new Uint8Array() }, 10); // PING: no bind
  h.msg(3, "bob", "alice", 0, "seed", 10);
  h.ack(1, "alice", "bob", 0, "200", 10);
  h.core.commit(10);
  assert.equal(h.take(3).filter((f) => f.type === FrameType.OFFLINE).length, 2);
  assert.deepEqual(h.take(1), [MSG(0, "bob", "alice", "seed")]);
  h.core.tick(3010);
  h.core.commit(3010);
  assert.deepEqual(h.stored("bob"), []);
  assert.deepEqual(h.take(1), [ACK(0, "bob", "alice", "200"), ACK(0, "bob", "alice", "200")]);
});

// --- Quota ---------------------------------------------------------------------------------------

Deno.test("ServerCore answers 507 when the recipient's stored quota is full, storing nothing", () => {
  const h = new Harness({ maxQueue: 2 });
  h.known(2, "bob");
  h.login(1, "alice");
  for (let id = 1; id <= 3; id++) {
    h.msg(1, "alice", "bob", id, `m${id}`, id);
    h.core.commit(id);
  }
  assert.deepEqual(h.take(1), [
    ACK(1, "bob", "alice", "300"),
    ACK(2, "bob", "alice", "300"),
    ACK(3, "bob", "alice", "507"),
  ]);
  assert.deepEqual(h.stored("bob"), ["alice#1:m1", "alice#2:m2"]);
  // Once bob takes one, there is room again.
  assert.equal(h.login(3, "bob", 10).length, 2);
  h.ack(3, "bob", "alice", 1, "200", 11);
  h.core.commit(11);
  h.core.closed(3, 12);
  h.core.commit(12);
  h.take(1);
  h.msg(1, "alice", "bob", 4, "m4", 13);
  h.core.commit(13);
  assert.deepEqual(h.take(1), [ACK(4, "bob", "alice", "300")]);
});

// --- Bad input -----------------------------------------------------------------------------------

Deno.test("ServerCore answers a message with a spoofed src with 403 and closes", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.login(2, "bob");
  h.msg(1, "mallory", "bob", 4, "boo", 0);
  assert.deepEqual(h.take(1), [ACK(4, "", "alice", "403")]);
  assert.ok(h.isClosed(1));
  assert.deepEqual(h.take(2), []);
  assert.deepEqual(h.core.online(), ["bob"]);
});

Deno.test("ServerCore answers an ACK with a spoofed src with 403 and closes", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.login(2, "bob");
  h.login(3, "mallory");
  h.msg(1, "alice", "bob", 1, "x", 0);
  h.ack(3, "bob", "alice", 1, "200", 1);
  assert.deepEqual(h.take(3), [ACK(1, "", "mallory", "403")]);
  assert.ok(h.isClosed(3));
  assert.deepEqual(h.take(1), []);
});

Deno.test("ServerCore answers type 2 from a client with 400 and closes", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.frame(1, { type: 2, id: 6, src: "alice", dst: "bob", payload: text("x") }, 0);
  assert.deepEqual(h.take(1), [ACK(6, "", "alice", "400")]);
  assert.ok(h.isClosed(1));
});

Deno.test("ServerCore answers a second HELLO with 400 and closes", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.hello(1, "alice", 1, 8);
  h.core.commit(1);
  assert.deepEqual(h.take(1), [ACK(8, "", "alice", "400")]);
  assert.ok(h.isClosed(1));
  assert.deepEqual(h.core.online(), []);
});

Deno.test("ServerCore.malformed() answers the code with id 0 and closes that connection only", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.login(2, "bob");
  h.msg(1, "alice", "bob", 1, "pending", 0);
  h.core.malformed(2, "413", "Cannot decode frame: length 1030 exceeds 1024", 1);
  h.core.commit(1);
  assert.deepEqual(h.take(2), [MSG(1, "alice", "bob", "pending"), ACK(0, "", "bob", "413")]);
  assert.ok(h.isClosed(2));
  assert.deepEqual(h.take(1), [ACK(1, "bob", "alice", "300")], "its unacked messages are stored");
  h.open(3);
  h.core.malformed(3, "400", "garbage", 2);
  assert.deepEqual(h.take(3), [ACK(0, "", "", "400")]);
  assert.ok(h.isClosed(3));
  assert.equal(h.isClosed(1), false);
});

Deno.test("ServerCore answers PING with PONG, same id and payload", () => {
  const h = new Harness();
  h.open(1);
  h.frame(1, { type: 4, id: 11, src: "", dst: "", payload: text("t0") }, 0);
  assert.deepEqual(h.take(1), [seen(FrameType.PONG, 11, "", "", "t0")], "before login");
  assert.deepEqual(h.core.online(), []);
  h.hello(1, "alice", 1);
  h.core.commit(1);
  assert.deepEqual(h.take(1), [ACK(0, "", "alice", "200")]);
  h.frame(1, { type: 4, id: 12, src: "alice", dst: "", payload: text("t1") }, 2);
  assert.deepEqual(h.take(1), [seen(FrameType.PONG, 12, "", "alice", "t1")]);
  h.frame(1, { type: 5, id: 13, src: "alice", dst: "", payload: new Uint8Array() }, 3);
  assert.deepEqual(h.take(1), [], "a PONG needs no answer");
  assert.equal(h.isClosed(1), false);
});

Deno.test("ServerCore answers reserved types 14-15 and a client's TIMED with 501, keeping the connection", () => {
  const h = new Harness();
  h.login(1, "alice");
  for (const type of [7, 14, 15]) {
    h.frame(1, { type, id: 20 + type, src: "alice", dst: "bob", payload: text("?") }, 0);
    assert.deepEqual(h.take(1), [ACK(20 + type, "", "alice", "501")], `type ${type}`);
  }
  assert.equal(h.isClosed(1), false);
  h.frame(1, { type: 4, id: 22, src: "alice", dst: "", payload: new Uint8Array() }, 1);
  assert.deepEqual(h.take(1), [seen(FrameType.PONG, 22, "", "alice")]);
});

// --- Byte order ----------------------------------------------------------------------------------

Deno.test("ServerCore speaks little-endian to a session whose frames come little-endian", () => {
  const h = new Harness();
  assert.deepEqual(h.login(1, "alice", 0, { order: "le" }), []);
  const hello = h.bytesTo(1)[0]!;
  assert.deepEqual([...hello.subarray(0, 4)], [27, 0, 1, 0], "len and type little-endian");
  h.login(2, "bob");
  // alice (le) -> bob (be): re-encoded big-endian.
  const raw = h.msg(1, "alice", "bob", 0x01020304, "to be", 0);
  const toBob = h.bytesTo(2).at(-1)!;
  assert.notDeepEqual(toBob, raw);
  assert.deepEqual(toBob, encodeFrame(decodeFrame(raw, "le"), "be"));
  assert.deepEqual(h.take(2), [MSG(0x01020304, "alice", "bob", "to be")]);
  // bob's big-endian ACK reaches alice little-endian.
  h.ack(2, "bob", "alice", 0x01020304, "200", 1);
  const ack = h.bytesTo(1).at(-1)!;
  assert.deepEqual([...ack.subarray(0, 8)], [27, 0, 1, 0, 4, 3, 2, 1]);
  assert.deepEqual(h.take(1), [ACK(0x01020304, "bob", "alice", "200")]);
  // bob (be) -> alice (le): re-encoded little-endian; PONG too.
  h.msg(2, "bob", "alice", 5, "to le", 2);
  assert.deepEqual(h.bytesTo(1).at(-1)!.subarray(0, 2), Uint8Array.of(29, 0));
  h.frame(1, { type: 4, id: 9, src: "alice", dst: "", payload: new Uint8Array() }, 3);
  assert.deepEqual(h.take(1), [
    MSG(5, "bob", "alice", "to le"),
    seen(FrameType.PONG, 9, "", "alice"),
  ]);
});

Deno.test("ServerCore forwards the received bytes between two little-endian peers", () => {
  const h = new Harness();
  h.login(1, "alice", 0, { order: "le" });
  h.login(2, "bob", 0, { order: "le" });
  const raw = h.msg(1, "alice", "bob", 3, "same order", 0);
  assert.deepEqual(h.bytesTo(2).at(-1), raw);
});

Deno.test("ServerCore hands stored messages to a little-endian legacy session little-endian", () => {
  const h = new Harness();
  h.known(2, "bob");
  h.login(1, "alice");
  h.msg(1, "alice", "bob", 0x0a0b, "stored", 0);
  h.core.commit(0);
  h.open(3, 1);
  h.frame(3, { type: 0, id: 0, src: "bob", dst: "alice", payload: text("hi") }, 1, "le");
  h.core.commit(1);
  const offline = h.bytesTo(3).at(-1)!;
  assert.deepEqual([...offline.subarray(0, 8)], [30, 0, 2, 0, 0x0b, 0x0a, 0, 0]);
  assert.deepEqual(h.take(3), [OFFLINE(0x0a0b, "alice", "bob", "stored")]);
});

// --- Store failures ------------------------------------------------------------------------------

Deno.test("ServerCore answers 500 when the store cannot commit, and keeps nothing", () => {
  const store = new FailingStore();
  const h = new Harness({ store });
  h.known(2, "bob");
  h.login(1, "alice");
  store.failing = true;
  h.msg(1, "alice", "bob", 1, "lost?", 0);
  h.core.commit(0);
  assert.deepEqual(h.take(1), [ACK(1, "bob", "alice", "500")]);
  assert.deepEqual(h.stored("bob"), []);
  assert.ok(h.logs.includes("error store-commit-failed"));
  assert.equal(h.isClosed(1), false);
  // The disk recovers: the resend is stored (not answered from memory with 500 or 300).
  store.failing = false;
  h.msg(1, "alice", "bob", 1, "lost?", 1);
  h.core.commit(1);
  assert.deepEqual(h.take(1), [ACK(1, "bob", "alice", "300")]);
  assert.deepEqual(h.stored("bob"), ["alice#1:lost?"]);
});

Deno.test("ServerCore answers a first login with 500 and closes when the store cannot commit", () => {
  const store = new FailingStore();
  const h = new Harness({ store });
  store.failing = true;
  h.open(1);
  h.hello(1, "alice", 0, 3);
  h.core.commit(0);
  assert.deepEqual(h.take(1), [ACK(3, "", "alice", "500")]);
  assert.ok(h.isClosed(1));
  assert.deepEqual(store.users(), []);
});

Deno.test("ServerCore.commit() commits the store once per turn", () => {
  const store = new FailingStore();
  const h = new Harness({ store });
  h.known(2, "bob");
  h.login(1, "alice");
  const before = store.commits;
  for (let id = 1; id <= 50; id++) h.msg(1, "alice", "bob", id, "m", 5);
  h.core.commit(5);
  assert.equal(store.commits, before + 1);
  assert.equal(h.take(1).length, 50);
  assert.equal(h.core.needsCommit, false);
});

// --- Restart over SQLite -------------------------------------------------------------------------

Deno.test("ServerCore over SqliteStore hands stored messages and receipts over after a restart", () => {
  const dir = Deno.makeTempDirSync({ prefix: "tinychat-core-test-" });
  const path = `${dir}/tinychat.db`;
  try {
    {
      const store = new SqliteStore(path);
      const h = new Harness({ store });
      h.login(1, "alice");
      h.known(2, "bob");
      h.msg(1, "alice", "bob", 1, "survives", 0);
      h.msg(1, "alice", "bob", 2, "me too", 0);
      h.core.commit(0);
      assert.deepEqual(h.take(1), [ACK(1, "bob", "alice", "300"), ACK(2, "bob", "alice", "300")]);
      store.close();
    }
    {
      const store = new SqliteStore(path);
      const h = new Harness({ store });
      assert.deepEqual(h.login(3, "bob", 100), [
        OFFLINE(1, "alice", "bob", "survives"),
        OFFLINE(2, "alice", "bob", "me too"),
      ]);
      h.ack(3, "bob", "alice", 1, "200", 101);
      h.ack(3, "bob", "alice", 2, "200", 101);
      h.core.commit(101);
      store.close();
    }
    {
      const store = new SqliteStore(path);
      const h = new Harness({ store });
      assert.deepEqual(h.login(1, "alice", 200), [
        ACK(1, "bob", "alice", "200"),
        ACK(2, "bob", "alice", "200"),
      ]);
      assert.deepEqual(h.login(3, "bob", 201), []);
      // A message to a user known only from the file is stored, not 404.
      h.core.closed(3, 202);
      h.msg(1, "alice", "bob", 3, "known", 203);
      h.core.commit(203);
      assert.deepEqual(h.take(1), [ACK(3, "bob", "alice", "300")]);
      store.close();
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("ServerCore over SqliteStore answers 300 to a resend of a message stored before a restart, and stores it once", () => {
  const dir = Deno.makeTempDirSync({ prefix: "tinychat-core-test-" });
  const path = `${dir}/tinychat.db`;
  try {
    {
      const store = new SqliteStore(path);
      const h = new Harness({ store });
      h.login(1, "alice");
      h.known(2, "bob");
      h.msg(1, "alice", "bob", 7, "once", 0);
      h.core.commit(0);
      assert.deepEqual(h.take(1), [ACK(7, "bob", "alice", "300")]);
      store.close();
    }
    {
      // Its answer was lost with the connection; the new server has no memory of it but the file.
      const store = new SqliteStore(path);
      const h = new Harness({ store });
      h.login(1, "alice", 10);
      h.msg(1, "alice", "bob", 7, "once", 11);
      h.msg(1, "alice", "bob", 7, "other text", 11);
      h.core.commit(11);
      assert.deepEqual(h.take(1), [ACK(7, "bob", "alice", "300"), ACK(7, "bob", "alice", "300")]);
      assert.deepEqual(h.stored("bob"), ["alice#7:once", "alice#7:other text"]);
      store.close();
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("ServerCore.takeCommit() ends the batch; release() sends its 300s, or 500s when not durable", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.known(2, "bob");
  h.msg(1, "alice", "bob", 1, "one", 0);
  const first = h.core.takeCommit(0)!;
  assert.equal(first.committed, true);
  assert.equal(h.core.needsCommit, false);
  // Committed, not yet durable: no answer; the next turn's message goes in the next batch.
  assert.deepEqual(h.take(1), []);
  assert.deepEqual(h.stored("bob"), ["alice#1:one"]);
  h.msg(1, "alice", "bob", 2, "two", 1);
  const second = h.core.takeCommit(1)!;
  h.core.release(first, true);
  assert.deepEqual(h.take(1), [ACK(1, "bob", "alice", "300")]);
  h.core.release(second, false);
  assert.deepEqual(h.take(1), [ACK(2, "bob", "alice", "500")]);
  assert.equal(h.core.takeCommit(2), undefined);
});

Deno.test("ServerCore logs one info line per turn for the messages it stored, per-message lines at debug", () => {
  const h = new Harness();
  h.login(1, "alice");
  h.known(2, "bob");
  h.known(3, "carol");
  h.logs.length = 0;
  for (let id = 0; id < 5; id++) h.msg(1, "alice", id < 3 ? "bob" : "carol", id, "hi", 0);
  h.core.commit(0);
  assert.deepEqual(h.logs.filter((l) => l.endsWith(" stored")), [
    ...Array(5).fill("debug stored"),
    "info stored",
  ]);
});

Deno.test("ServerCore answers frames that came behind a HELLO after the login's 200", () => {
  const h = new Harness();
  h.open(1);
  h.hello(1, "alice", 0, 0);
  h.msg(1, "alice", "carol", 0, "hi", 0);
  h.frame(1, { type: FrameType.PING, id: 0, src: "alice", dst: "", payload: new Uint8Array() }, 0);
  h.core.commit(0);
  assert.deepEqual(h.take(1), [
    ACK(0, "", "alice", "200"),
    ACK(0, "carol", "alice", "404"),
    seen(FrameType.PONG, 0, "", "alice"),
  ]);
});

Deno.test("ServerCore answers a resend after the receipt was handed over with 200, without delivery", () => {
  const store = new MemoryStore();
  const h = new Harness({ store });
  h.known(2, "bob");
  h.login(1, "alice");
  h.msg(1, "alice", "bob", 1, "x", 0);
  h.core.commit(0);
  h.core.closed(1, 1);
  h.login(3, "bob", 2);
  h.ack(3, "bob", "alice", 1, "200", 3);
  h.core.commit(3);
  // Restart: alice gets her receipt at login, then resends in a later turn.
  const restarted = new Harness({ store });
  restarted.login(3, "bob", 10);
  assert.deepEqual(restarted.login(1, "alice", 11), [ACK(1, "bob", "alice", "200")]);
  assert.equal(store.hasReceipt("alice", "bob", 1), false);
  restarted.msg(1, "alice", "bob", 1, "x", 12);
  restarted.core.commit(12);
  assert.deepEqual(restarted.take(3), [], "not delivered twice");
  assert.deepEqual(restarted.take(1), [ACK(1, "bob", "alice", "200")]);
});

Deno.test("ServerCore forgets a first login whose commit failed: its name stays unknown", () => {
  const store = new FailingStore();
  const h = new Harness({ store });
  h.login(2, "bob");
  store.failing = true;
  h.open(1);
  h.hello(1, "alice", 0, 3);
  h.core.commit(0);
  assert.deepEqual(h.take(1), [ACK(3, "", "alice", "500")]);
  store.failing = false;
  h.msg(2, "bob", "alice", 1, "hi", 1);
  h.core.commit(1);
  assert.deepEqual(h.take(2), [ACK(1, "alice", "bob", "404")]);
});

Deno.test("ServerCore precedes each stored message with TIMED when the HELLO asked for it", () => {
  const h = new Harness();
  h.known(2, "bob");
  h.login(1, "alice");
  h.msg(1, "alice", "bob", 7, "first", 1000);
  h.msg(1, "alice", "bob", 8, "second", 2500);
  h.core.commit(2500);
  h.open(3, 9000);
  h.frame(3, { type: 3, id: 0, src: "bob", dst: "", payload: text("timed") }, 9000);
  h.core.commit(9000);
  const got: Frame[] = [];
  for (const b of h.bytesTo(3)) new FrameDecoder().push(b, (f) => got.push(f));
  assert.deepEqual(got.map((f) => [f.type, f.id]), [[1, 0], [7, 7], [2, 7], [7, 8], [2, 8]]);
  assert.deepEqual([got[1]!.src, got[1]!.dst], ["alice", "bob"]);
  assert.equal(decodeTimed(got[1]!.payload), 1000);
  assert.equal(decodeTimed(got[3]!.payload), 2500);
});

Deno.test("ServerCore sends no TIMED frame to a client that did not ask", () => {
  const h = new Harness();
  h.known(2, "bob");
  h.login(1, "alice");
  h.msg(1, "alice", "bob", 7, "first", 1000);
  h.core.commit(1000);
  assert.deepEqual(h.login(3, "bob", 2000), [OFFLINE(7, "alice", "bob", "first")]);
});

Deno.test("ServerCore delivers a restarted seed client's reused id even with a receipt owed for it", () => {
  const h = new Harness();
  h.known(2, "bob");
  h.open(1);
  h.msg(1, "seed", "bob", 0, "one", 0);
  h.core.commit(0);
  assert.deepEqual(h.take(1), [ACK(0, "bob", "seed", "300")]);
  h.core.closed(1, 1);
  assert.deepEqual(h.login(3, "bob", 2), [OFFLINE(0, "seed", "bob", "one")]);
  h.ack(3, "bob", "seed", 0, "200", 3);
  h.core.commit(3);
  // The seed client starts again: its receipt comes at its bind, then its new id 0.
  h.open(4, 4);
  h.msg(4, "seed", "bob", 0, "two", 4);
  h.core.commit(4);
  assert.deepEqual(h.take(3), [MSG(0, "seed", "bob", "two")]);
  h.ack(3, "bob", "seed", 0, "200", 5);
  assert.deepEqual(h.take(4), [ACK(0, "bob", "seed", "200"), ACK(0, "bob", "seed", "200")]);
});

Deno.test("ServerCore recognises a resend even after the same id went to another recipient", () => {
  const h = new Harness();
  h.known(2, "bob");
  h.known(3, "carol");
  h.login(1, "alice");
  h.msg(1, "alice", "bob", 5, "x", 0);
  h.msg(1, "alice", "carol", 5, "y", 0);
  h.core.commit(0);
  h.msg(1, "alice", "bob", 5, "x", 1);
  h.core.commit(1);
  assert.deepEqual(h.take(1), [
    ACK(5, "bob", "alice", "300"),
    ACK(5, "carol", "alice", "300"),
    ACK(5, "bob", "alice", "300"),
  ]);
  assert.deepEqual(h.stored("bob"), ["alice#5:x"], "one copy");
});

Deno.test("ServerCore keeps what a legacy drain had not handed over when sending closed the session", () => {
  const h = new Harness();
  h.known(2, "bob");
  h.login(1, "alice");
  for (let id = 1; id <= 3; id++) h.msg(1, "alice", "bob", id, `m${id}`, 0);
  h.core.commit(0);
  // bob's send queue overflows at his first type-2 frame: the I/O layer closes him at once.
  const send = h.outbox.send.bind(h.outbox);
  h.outbox.send = (conn, bytes) => {
    send(conn, bytes);
    if (conn === 3) h.core.closed(3, 1, "slow reader");
  };
  h.open(3, 1);
  h.msg(3, "bob", "alice", 9, "hi", 1);
  h.core.commit(1);
  h.core.tick(10_000);
  h.core.commit(10_000);
  assert.deepEqual(h.stored("bob"), ["alice#1:m1", "alice#2:m2", "alice#3:m3"]);
  assert.deepEqual(h.take(1).filter((f) => f.payload === "200" && f.id !== 9), [], "no receipts");
});
