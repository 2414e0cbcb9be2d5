import assert from "node:assert/strict";
import { CredentialOption, encodeHelloOptions, FrameType } from "../protocol/mod.ts";
import type { Limits } from "./limits.ts";
import type { Authenticator, AuthMode, AuthRequest } from "./login_gate.ts";
import type { ConnId } from "./server_core.ts";
import { ACK, CoreHarness, FailingStore, type Seen, text, toSeen } from "./_harness.ts";

/** A fake authenticator: a "hash" is "h:" + the password; the test answers each check. */
class FakeAuthenticator implements Authenticator {
  requests: AuthRequest[] = [];
  cancelled: number[] = [];

  check(request: AuthRequest): void {
    this.requests.push(request);
  }

  cancel(ticket: number): void {
    this.cancelled.push(ticket);
  }

  /** The answer the real one would give to `request`. */
  static answer(request: AuthRequest) {
    const ok = !request.decoy &&
      (request.hash === undefined || request.hash === `h:${request.password}`);
    const next = request.hash === undefined ? request.password : request.newPassword;
    return { ticket: request.ticket, ok, ...(next === undefined ? {} : { newHash: `h:${next}` }) };
  }
}

/** A core with a fake authenticator and a failing store, driven frame by frame (all big-endian). */
class Harness extends CoreHarness {
  declare readonly store: FailingStore;
  readonly auth: FakeAuthenticator;

  constructor(mode: AuthMode = "open", withAuthenticator = true, limits: Partial<Limits> = {}) {
    const auth = new FakeAuthenticator();
    super({
      store: new FailingStore(),
      auth: mode,
      limits,
      ...(withAuthenticator ? { authenticator: auth } : {}),
    });
    this.auth = auth;
  }

  get closed(): Set<ConnId> {
    return new Set(this.outbox.closed);
  }

  /** Opens `conn` and says HELLO as `name` with `options`; does not end the turn. */
  hello(
    conn: ConnId,
    name: string,
    options: [string, string][] = [],
    id = 0,
    now = 0,
    peer = `127.0.0.1:${40000 + conn}`,
  ): void {
    this.core.open(conn, now, peer);
    const payload = encodeHelloOptions(options);
    // Unencoded: some of these HELLOs carry names that the encoder refuses.
    this.core.frame(conn, { type: FrameType.HELLO, id, src: name, dst: "", payload }, "be", now);
  }

  /** Answers the oldest unanswered check as the real authenticator would. */
  answer(now = 0, override: { ok?: boolean } = {}): AuthRequest {
    const request = this.auth.requests.shift();
    assert.ok(request !== undefined, "a check was asked for");
    this.core.authenticated(
      request.conn,
      { ...FakeAuthenticator.answer(request), ...override },
      now,
    );
    return request;
  }

  msg(conn: ConnId, src: string, dst: string, id: number, payload: string, now = 0): void {
    this.frame(conn, { type: FrameType.MSG, id, src, dst, payload: text(payload) }, now);
  }

  /** Opens `conn` and logs in as `name` without a password; asserts the "200". */
  login(conn: ConnId, name: string): void {
    this.hello(conn, name);
    this.core.commit(0);
    assert.deepEqual(this.take(conn), [ACK(0, "", name, "200")]);
  }

  /** What was sent to `conn` since the last `take`. */
  take(conn: ConnId): Seen[] {
    return this.frames(conn).map((f) => toSeen(f));
  }
}

const PASSWORD = (password: string): [string, string] => [CredentialOption.PASSWORD, password];
const NEW_PASSWORD = (password: string): [string, string] => [
  CredentialOption.NEW_PASSWORD,
  password,
];

Deno.test("ServerCore open mode: a HELLO without a password for an open name asks no check", () => {
  const h = new Harness("open");
  h.login(1, "alice");
  assert.equal(h.auth.requests.length, 0);
  assert.deepEqual(h.store.accounts(), []);
});

Deno.test("ServerCore open mode: the first HELLO with a password claims the name", () => {
  const h = new Harness("open");
  h.hello(1, "alice", [PASSWORD("pw1"), ["timed", ""]], 7);
  h.core.commit(0);
  assert.deepEqual(h.take(1), [], "no answer while the password is hashed");
  const [request] = h.auth.requests;
  assert.deepEqual({ ...request, ticket: 0 }, {
    ticket: 0,
    conn: 1,
    name: "alice",
    address: "127.0.0.1",
    password: "pw1",
    hash: undefined,
    newPassword: undefined,
    decoy: false,
  });
  h.answer(5);
  assert.deepEqual(h.take(1), [], "the account is durable before the 200");
  h.core.commit(5);
  assert.deepEqual(h.take(1), [ACK(7, "", "alice", "200")]);
  assert.deepEqual(h.store.account("alice"), { hash: "h:pw1", updatedAt: 5 });
  assert.deepEqual(h.store.users(), ["alice"]);
  assert.deepEqual(h.core.online(), ["alice"]);
});

Deno.test("ServerCore holds the frames behind a HELLO until its check and its 200", () => {
  const h = new Harness("open");
  h.login(2, "bob");
  h.hello(1, "alice", [PASSWORD("pw1")]);
  h.msg(1, "alice", "bob", 1, "first");
  h.msg(1, "alice", "bob", 2, "second");
  h.core.commit(0);
  assert.deepEqual(h.take(2), []);
  h.answer();
  h.core.commit(0);
  assert.deepEqual(h.take(1), [ACK(0, "", "alice", "200")]);
  assert.deepEqual(h.take(2).map((f) => f.payload), ["first", "second"]);
});

Deno.test("ServerCore refuses a claimed name with 401 without, or with a wrong, password", () => {
  const h = new Harness("open");
  h.store.setAccount("alice", "h:right", 0);
  h.hello(1, "alice", [], 3);
  h.core.commit(0);
  assert.deepEqual(h.take(1), [ACK(3, "", "alice", "401")]);
  assert.ok(h.closed.has(1));
  assert.equal(h.auth.requests.length, 0, "no check without a password");

  h.hello(2, "alice", [PASSWORD("wrong")], 4);
  assert.equal(h.auth.requests[0]?.hash, "h:right");
  h.answer();
  h.core.commit(0);
  assert.deepEqual(h.take(2), [ACK(4, "", "alice", "401")]);
  assert.ok(h.closed.has(2));
  assert.deepEqual(h.core.online(), []);

  h.hello(3, "alice", [PASSWORD("right")], 5);
  h.answer();
  h.core.commit(0);
  assert.deepEqual(h.take(3), [ACK(5, "", "alice", "200")]);
  assert.equal(h.store.account("alice")?.hash, "h:right", "a login does not rewrite the hash");
});

Deno.test("ServerCore required mode: no password is 401; the first one registers", () => {
  const h = new Harness("required");
  h.hello(1, "alice");
  h.core.commit(0);
  assert.deepEqual(h.take(1), [ACK(0, "", "alice", "401")]);
  h.hello(2, "alice", [PASSWORD("pw")]);
  h.answer();
  h.core.commit(0);
  assert.deepEqual(h.take(2), [ACK(0, "", "alice", "200")]);
  assert.equal(h.store.account("alice")?.hash, "h:pw");
});

Deno.test("ServerCore invite mode: only names with an account log in", () => {
  const h = new Harness("invite");
  h.hello(1, "mallory", [PASSWORD("pw")]);
  h.core.commit(0);
  assert.deepEqual(h.take(1), [], "no answer before a check as long as a real one");
  assert.equal(h.auth.requests[0]?.decoy, true);
  h.answer();
  h.core.commit(0);
  assert.deepEqual(h.take(1), [ACK(0, "", "mallory", "401")]);
  assert.ok(h.closed.has(1));
  assert.deepEqual(h.store.accounts(), []);
  h.store.setAccount("alice", "h:pw", 0);
  h.hello(2, "alice", [PASSWORD("pw")]);
  h.answer();
  h.core.commit(0);
  assert.deepEqual(h.take(2), [ACK(0, "", "alice", "200")]);
});

Deno.test("ServerCore answers an invalid name 400 before looking at its password", () => {
  const h = new Harness("invite");
  h.hello(1, "a b", [PASSWORD("pw")], 2);
  h.core.commit(0);
  assert.deepEqual(h.take(1), [ACK(2, "", "", "400")]);
  assert.equal(h.auth.requests.length, 0);
});

Deno.test("ServerCore refuses an unusable password or new password with 400", () => {
  const h = new Harness("open");
  h.hello(1, "alice", [PASSWORD("x".repeat(257))]);
  h.core.commit(0);
  assert.deepEqual(h.take(1), [ACK(0, "", "alice", "400")]);
  h.store.setAccount("bob", "h:pw", 0);
  h.hello(2, "bob", [PASSWORD("pw"), NEW_PASSWORD("y".repeat(300))]);
  h.core.commit(0);
  assert.deepEqual(h.take(2), [ACK(0, "", "bob", "400")]);
  assert.equal(h.auth.requests.length, 0);
});

Deno.test("ServerCore never binds a protected name to a connection without HELLO", () => {
  const h = new Harness("open");
  h.store.setAccount("alice", "h:pw", 0);
  h.login(2, "bob");
  h.core.open(1, 0);
  h.msg(1, "alice", "bob", 0, "I am alice");
  h.core.commit(0);
  assert.deepEqual(h.take(1), [ACK(0, "", "alice", "401")]);
  assert.ok(h.closed.has(1));
  assert.deepEqual(h.take(2), [], "the message was not delivered");
  // An open name still binds as in seed 000.
  h.core.open(3, 0);
  h.msg(3, "carol", "bob", 0, "hi");
  h.core.commit(0);
  assert.deepEqual(h.take(2).map((f) => f.payload), ["hi"]);
});

Deno.test("ServerCore required and invite modes bind no connection without HELLO", () => {
  for (const mode of ["required", "invite"] as const) {
    const h = new Harness(mode);
    h.core.open(1, 0);
    h.msg(1, "carol", "bob", 0, "hi");
    h.core.commit(0);
    assert.deepEqual(h.take(1), [ACK(0, "", "carol", "401")], mode);
    assert.ok(h.closed.has(1));
  }
});

Deno.test("ServerCore takeover: the right password replaces the holder, whose live message is stored", () => {
  const h = new Harness("open");
  h.store.setAccount("alice", "h:pw", 0);
  h.login(2, "bob");
  h.hello(1, "alice", [PASSWORD("pw")]);
  h.answer();
  h.core.commit(0);
  assert.deepEqual(h.take(1), [ACK(0, "", "alice", "200")]);
  // bob -> alice, forwarded to the old connection and never acknowledged.
  h.msg(2, "bob", "alice", 9, "are you there?");
  h.core.commit(0);
  assert.deepEqual(h.take(1).map((f) => f.payload), ["are you there?"]);

  h.hello(3, "alice", [PASSWORD("pw")], 4, 100);
  h.answer(100);
  assert.deepEqual(h.take(1), [{
    type: FrameType.TAKEOVER,
    id: 0,
    src: "",
    dst: "alice",
    payload: "replaced by a new login",
  }]);
  assert.ok(h.closed.has(1));
  h.core.commit(100);
  assert.deepEqual(h.take(2), [ACK(9, "alice", "bob", "300")]);
  const got = h.take(3);
  assert.deepEqual(got[0], ACK(4, "", "alice", "200"));
  assert.deepEqual(got.slice(1).map((f) => [f.type, f.src, f.id, f.payload]), [
    [FrameType.OFFLINE, "bob", 9, "are you there?"],
  ]);
  assert.deepEqual(h.core.online().sort(), ["alice", "bob"]);
  assert.equal(h.core.connections, 2);
});

Deno.test("ServerCore takeover of a seed-000 session closes it without a TAKEOVER frame", () => {
  const h = new Harness("open");
  h.login(2, "bob");
  h.core.open(1, 0);
  h.msg(1, "alice", "bob", 0, "legacy hello");
  h.core.commit(0);
  h.take(1);
  // The operator gives alice a password while her seed-000 session is online.
  h.store.setAccount("alice", "h:pw", 0);
  h.hello(3, "alice", [PASSWORD("pw")]);
  h.answer();
  h.core.commit(0);
  assert.deepEqual(h.take(1), []);
  assert.ok(h.closed.has(1));
  assert.deepEqual(h.take(3), [ACK(0, "", "alice", "200")]);
});

Deno.test("ServerCore: without a password a held name stays 409; a first claim takes nothing over", () => {
  const h = new Harness("open");
  h.login(1, "alice");
  h.hello(2, "alice", [], 1);
  h.core.commit(0);
  assert.deepEqual(h.take(2), [ACK(1, "", "alice", "409")]);
  h.hello(3, "alice", [PASSWORD("pw")], 2);
  h.answer();
  h.core.commit(0);
  assert.deepEqual(h.take(3), [ACK(2, "", "alice", "409")]);
  assert.equal(h.closed.has(1), false);
  assert.deepEqual(h.store.accounts(), [], "a refused claim stores nothing");
});

Deno.test("ServerCore password change: new-password is stored, 200, closed, no login", () => {
  const h = new Harness("open");
  h.store.setAccount("alice", "h:old", 0);
  h.login(2, "bob");
  h.hello(1, "alice", [PASSWORD("old"), NEW_PASSWORD("new")], 6);
  h.msg(1, "alice", "bob", 1, "held, then dropped");
  const request = h.auth.requests[0]!;
  assert.deepEqual([request.hash, request.newPassword], ["h:old", "new"]);
  h.answer(50);
  h.core.commit(50);
  assert.deepEqual(h.take(1), [ACK(6, "", "alice", "200")]);
  assert.ok(h.closed.has(1));
  assert.deepEqual(h.store.account("alice"), { hash: "h:new", updatedAt: 50 });
  assert.deepEqual(h.core.online(), ["bob"]);
  assert.deepEqual(h.take(2), []);
});

Deno.test("ServerCore password change: a wrong old password or no account is 401", () => {
  const h = new Harness("open");
  h.store.setAccount("alice", "h:old", 0);
  h.hello(1, "alice", [PASSWORD("nope"), NEW_PASSWORD("new")]);
  h.answer();
  h.core.commit(0);
  assert.deepEqual(h.take(1), [ACK(0, "", "alice", "401")]);
  assert.equal(h.store.account("alice")?.hash, "h:old");
  h.hello(3, "alice", [NEW_PASSWORD("y")]);
  h.core.commit(0);
  assert.deepEqual(h.take(3), [ACK(0, "", "alice", "401")]);
  assert.equal(h.auth.requests.length, 0, "no current password: nothing to check");
  // No account: refused after a decoy check, as long as a real one.
  h.hello(2, "carol", [PASSWORD("x"), NEW_PASSWORD("y")]);
  h.core.commit(0);
  assert.deepEqual(h.take(2), []);
  assert.equal(h.auth.requests[0]?.decoy, true);
  h.answer();
  h.core.commit(0);
  assert.deepEqual(h.take(2), [ACK(0, "", "carol", "401")]);
  assert.deepEqual(h.store.accounts(), ["alice"]);
});

Deno.test("ServerCore answers 500 and keeps no account when the claim cannot be stored", () => {
  const h = new Harness("open");
  h.hello(1, "alice", [PASSWORD("pw")]);
  h.answer();
  h.store.failing = true;
  h.core.commit(0);
  assert.deepEqual(h.take(1), [ACK(0, "", "alice", "500")]);
  assert.ok(h.closed.has(1));
  h.store.failing = false;
  assert.equal(h.store.account("alice"), undefined);
});

Deno.test("ServerCore cancels the check of a connection that closed; a late answer is ignored", () => {
  const h = new Harness("open");
  h.hello(1, "alice", [PASSWORD("pw")]);
  const request = h.auth.requests[0]!;
  h.core.closed(1, 0);
  assert.deepEqual(h.auth.cancelled, [request.ticket]);
  h.answer();
  h.core.commit(0);
  assert.deepEqual(h.take(1), []);
  assert.deepEqual(h.store.accounts(), []);
  assert.deepEqual(h.core.online(), []);
});

Deno.test("ServerCore ignores an answer with a stale ticket", () => {
  const h = new Harness("open");
  h.hello(1, "alice", [PASSWORD("pw")]);
  const request = h.auth.requests[0]!;
  h.core.authenticated(1, { ticket: request.ticket + 1, ok: true, newHash: "h:x" }, 0);
  h.core.commit(0);
  assert.deepEqual(h.take(1), []);
  h.answer();
  h.core.commit(0);
  assert.deepEqual(h.take(1), [ACK(0, "", "alice", "200")]);
});

Deno.test("ServerCore: two first claims at once: the second is checked against the first", () => {
  const h = new Harness("open");
  h.hello(1, "alice", [PASSWORD("one")]);
  h.hello(2, "alice", [PASSWORD("two")]);
  h.answer();
  h.core.commit(0);
  assert.deepEqual(h.take(1), [ACK(0, "", "alice", "200")]);
  // The second claim's hash is stale: it is checked again, now against alice's account.
  h.answer();
  const recheck = h.auth.requests[0]!;
  assert.deepEqual([recheck.conn, recheck.hash], [2, "h:one"]);
  h.answer();
  h.core.commit(0);
  assert.deepEqual(h.take(2), [ACK(0, "", "alice", "401")]);
  assert.equal(h.store.account("alice")?.hash, "h:one");
});

Deno.test("ServerCore without an authenticator refuses every login that needs a password", () => {
  const h = new Harness("open", false);
  h.hello(1, "alice", [PASSWORD("pw")]);
  h.core.commit(0);
  assert.deepEqual(h.take(1), [ACK(0, "", "alice", "401")]);
  h.login(2, "bob");
});

Deno.test("ServerCore closes a connection that sends more than 64 KiB while its HELLO waits", () => {
  const h = new Harness("open");
  h.login(2, "bob");
  h.hello(1, "alice", [PASSWORD("pw")]);
  // 64 frames of 1024 bytes fill the budget exactly; one more byte is too much.
  for (let i = 0; i < 64; i++) h.msg(1, "alice", "bob", i, "x".repeat(1000));
  assert.equal(h.closed.has(1), false);
  h.msg(1, "alice", "bob", 64, "x");
  h.core.commit(0);
  assert.deepEqual(h.take(1), [ACK(64, "", "", "400")]);
  assert.ok(h.closed.has(1));
  assert.deepEqual(h.auth.cancelled.length, 1);
});

Deno.test("ServerCore: a client's TAKEOVER frame is answered 501, as a reserved type was", () => {
  const h = new Harness("open");
  h.login(1, "alice");
  h.frame(1, { type: FrameType.TAKEOVER, id: 3, src: "alice", dst: "", payload: text("") });
  assert.deepEqual(h.take(1), [ACK(3, "", "alice", "501")]);
  assert.equal(h.closed.has(1), false);
});

Deno.test("ServerCore stores messages for a name the operator gave an account while it ran", () => {
  const h = new Harness("invite");
  h.store.setAccount("bob", "h:pw", 0);
  h.hello(1, "bob", [PASSWORD("pw")]);
  h.answer();
  h.core.commit(0);
  h.take(1);
  h.msg(1, "bob", "carol", 1, "before");
  h.core.commit(0);
  assert.deepEqual(h.take(1), [ACK(1, "carol", "bob", "404")]);
  // `tinychat user add carol` on the running server's store.
  h.store.setAccount("carol", "h:c", 1);
  h.store.addUser("carol", 1);
  h.msg(1, "bob", "carol", 2, "after");
  h.core.commit(1);
  assert.deepEqual(h.take(1), [ACK(2, "carol", "bob", "300")]);
});

Deno.test("ServerCore: a wrong-password HELLO's message reaches no one and is not stored; 401, closed", () => {
  const h = new Harness("open");
  h.store.setAccount("alice", "h:right", 0);
  h.login(2, "bob");
  h.hello(1, "alice", [PASSWORD("wrong")], 1);
  h.msg(1, "alice", "bob", 2, "I am alice");
  h.core.commit(0);
  h.answer(10);
  h.core.commit(10);
  assert.deepEqual(h.take(1), [ACK(1, "", "alice", "401")]);
  assert.ok(h.closed.has(1));
  assert.deepEqual(h.take(2), [], "bob got nothing");
  assert.deepEqual(h.store.messagesFor("bob", 0, 10), [], "nothing stored for bob");
  assert.deepEqual(h.core.online(), ["bob"]);
  h.core.tick(60_000);
  h.core.commit(60_000);
  assert.deepEqual(h.take(2), []);
  assert.deepEqual(h.store.messagesFor("bob", 0, 10), []);
});

Deno.test("ServerCore: a third password check at once from one address gets 423 at once", () => {
  const h = new Harness("open");
  for (const name of ["a", "b", "c", "d"]) h.store.setAccount(name, "h:pw", 0);
  // One client, its address written both ways the I/O layer may write IPv6.
  h.hello(1, "a", [PASSWORD("x")], 0, 0, "[::1]:5001");
  h.hello(2, "b", [PASSWORD("x")], 0, 0, "::1:5002");
  h.hello(3, "c", [PASSWORD("x")], 0, 0, "[::1]:5003");
  h.core.commit(0);
  assert.deepEqual(h.take(3), [ACK(0, "", "c", "423")]);
  assert.ok(h.closed.has(3));
  assert.equal(h.auth.requests.length, 2, "the refused one was not checked");
  // Another address is not held up; nor is a login without a password from the busy one.
  h.hello(4, "d", [PASSWORD("pw")], 0, 0, "10.0.0.7:5004");
  assert.equal(h.auth.requests.at(-1)?.address, "10.0.0.7");
  h.hello(5, "carol", [], 0, 0, "[::1]:5005");
  h.core.commit(0);
  assert.deepEqual(h.take(5), [ACK(0, "", "carol", "200")]);
  // Once a check is answered, the address may start another.
  h.answer();
  h.core.commit(0);
  assert.deepEqual(h.take(1), [ACK(0, "", "a", "401")]);
  h.hello(6, "c", [PASSWORD("pw")], 0, 0, "::1:5006");
  assert.equal(h.auth.requests.at(-1)?.conn, 6);
});

Deno.test("ServerCore: password attempts per address and wrong passwords per name are limited (423)", () => {
  const h = new Harness("open", true, { passwordsPerMinute: 3, passwordFailuresPerMinute: 2 });
  h.store.setAccount("alice", "h:pw", 0);
  h.store.setAccount("bob", "h:pw", 0);
  const attempt = (conn: ConnId, name: string, password: string, ip: string, now = 0) => {
    h.hello(conn, name, [PASSWORD(password)], 0, now, `${ip}:${conn}`);
    if (h.auth.requests.length > 0) h.answer(now);
    h.core.commit(now);
    return h.take(conn).map((f) => f.payload);
  };
  assert.deepEqual(attempt(1, "alice", "x", "10.0.0.1"), ["401"]);
  assert.deepEqual(attempt(2, "alice", "y", "10.0.0.2"), ["401"]);
  // Two wrong ones for alice (from anywhere): her name is locked, the right password too.
  assert.deepEqual(attempt(3, "alice", "pw", "10.0.0.3"), ["423"]);
  assert.deepEqual(attempt(4, "bob", "pw", "10.0.0.3"), ["200"], "other names are not");
  assert.deepEqual(attempt(5, "alice", "pw", "10.0.0.3", 30_000), ["200"], "it refills");
  // 3 checks a minute from one address, whatever the names and the outcomes.
  for (const name of ["c1", "c2", "c3", "c4"]) h.store.setAccount(name, "h:pw", 0);
  assert.deepEqual(attempt(11, "c1", "pw", "10.0.0.9"), ["200"]);
  assert.deepEqual(attempt(12, "c2", "nope", "10.0.0.9"), ["401"]);
  assert.deepEqual(attempt(13, "c3", "pw", "10.0.0.9"), ["200"]);
  assert.deepEqual(attempt(14, "c4", "pw", "10.0.0.9"), ["423"]);
  assert.deepEqual(attempt(15, "carol", "", "10.0.0.9"), ["200"], "no password: no limit");
  assert.deepEqual(attempt(16, "c4", "pw", "10.0.0.9", 20_000), ["200"], "one every 20 s");
});

Deno.test("ServerCore: password checks beyond maxPasswordChecks in total get 503", () => {
  const h = new Harness("open", true, { maxPasswordChecks: 2 });
  h.store.setAccount("alice", "h:pw", 0);
  h.hello(1, "alice", [PASSWORD("x")], 0, 0, "10.0.0.1:1");
  h.hello(2, "alice", [PASSWORD("x")], 0, 0, "10.0.0.2:1");
  h.hello(3, "alice", [PASSWORD("pw")], 0, 0, "10.0.0.3:1");
  h.core.commit(0);
  assert.deepEqual(h.take(3), [ACK(0, "", "alice", "503")]);
  assert.equal(h.auth.requests.length, 2);
});
