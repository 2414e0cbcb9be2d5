import assert from "node:assert/strict";
import { CredentialOption, encodeHelloOptions, type Frame, FrameType } from "../protocol/mod.ts";
import { MemoryStore } from "../store/memory_store.ts";
import type { Limits } from "./limits.ts";
import {
  type Authenticator,
  type AuthMode,
  type AuthRequest,
  type AuthResult,
  LoginGate,
  MAX_ROUNDS,
  type Verdict,
} from "./login_gate.ts";

/** Records the checks asked for; the test answers them. */
class Recorder implements Authenticator {
  requests: AuthRequest[] = [];
  cancelled: number[] = [];
  check(request: AuthRequest): void {
    this.requests.push(request);
  }
  cancel(ticket: number): void {
    this.cancelled.push(ticket);
  }
  /** The last request, which the test expects to exist. */
  last(): AuthRequest {
    const request = this.requests.at(-1);
    assert.ok(request !== undefined, "a check was asked for");
    return request;
  }
}

function setup(mode: AuthMode = "open", limits: Partial<Limits> = {}) {
  const store = new MemoryStore();
  const auth = new Recorder();
  const gate = new LoginGate({
    store,
    mode,
    authenticator: auth,
    limits: {
      passwordsPerMinute: 1000,
      passwordFailuresPerMinute: 1000,
      passwordChecksPerIp: 1000,
      maxPasswordChecks: 1000,
      ...limits,
    },
  });
  return { store, auth, gate };
}

function helloFrame(name: string, password?: string, newPassword?: string): Frame {
  const options: [string, string][] = [];
  if (password !== undefined) options.push([CredentialOption.PASSWORD, password]);
  if (newPassword !== undefined) options.push([CredentialOption.NEW_PASSWORD, newPassword]);
  return { type: FrameType.HELLO, id: 7, src: name, dst: "", payload: encodeHelloOptions(options) };
}

const at = (address = "10.0.0.1", now = 0) => ({ address, now });
const ok = (request: AuthRequest, newHash?: string): AuthResult => ({
  ticket: request.ticket,
  ok: true,
  ...(newHash === undefined ? {} : { newHash }),
});
const wrong = (request: AuthRequest): AuthResult => ({ ticket: request.ticket, ok: false });
const code = (verdict: Verdict | undefined) =>
  verdict?.kind === "refuse" ? verdict.code : verdict?.kind;

Deno.test("LoginGate.hello() opens a name without an account and without a password: no check", () => {
  const { gate, auth } = setup("open");
  assert.deepEqual(gate.hello(1, helloFrame("alice"), at()), { kind: "open" });
  assert.equal(auth.requests.length, 0);
  assert.equal(gate.checking, 0);
});

Deno.test("LoginGate.hello() asks for a check with the account's hash and the client's address", () => {
  const { gate, auth, store } = setup("open");
  store.setAccount("alice", "h:pw", 0);
  assert.deepEqual(gate.hello(1, helloFrame("alice", "pw"), at("10.0.0.5")), { kind: "wait" });
  const { ticket: _, ...request } = auth.last();
  assert.deepEqual(request, {
    conn: 1,
    name: "alice",
    address: "10.0.0.5",
    password: "pw",
    hash: "h:pw",
    newPassword: undefined,
    decoy: false,
  });
  assert.equal(gate.checking, 1);
});

Deno.test("LoginGate.result() turns answers into login, register, change or 401", () => {
  const { gate, auth, store } = setup("open");
  store.setAccount("alice", "h:pw", 0);
  gate.hello(1, helloFrame("alice", "pw"), at());
  const login = gate.result(1, ok(auth.last()), 0);
  assert.deepEqual(login?.verdict, { kind: "login" });
  assert.equal(login?.frame.id, 7, "with the HELLO it is about");

  gate.hello(2, helloFrame("bob", "first"), at());
  assert.equal(auth.last().hash, undefined, "a first claim: hash it");
  assert.deepEqual(gate.result(2, ok(auth.last(), "h:first"), 0)?.verdict, {
    kind: "register",
    hash: "h:first",
  });

  gate.hello(3, helloFrame("alice", "pw", "new"), at());
  assert.equal(auth.last().newPassword, "new");
  assert.deepEqual(gate.result(3, ok(auth.last(), "h:new"), 0)?.verdict, {
    kind: "change",
    hash: "h:new",
  });

  gate.hello(4, helloFrame("alice", "nope"), at());
  assert.equal(code(gate.result(4, wrong(auth.last()), 0)?.verdict), "401");
  assert.equal(gate.checking, 0);
});

Deno.test("LoginGate.result() ignores an unknown conn or a stale ticket", () => {
  const { gate, auth, store } = setup("open");
  store.setAccount("alice", "h:pw", 0);
  gate.hello(1, helloFrame("alice", "pw"), at());
  const request = auth.last();
  assert.equal(gate.result(2, ok(request), 0), undefined);
  assert.equal(gate.result(1, { ticket: request.ticket + 1, ok: true }, 0), undefined);
  assert.equal(gate.result(1, ok(request), 0)?.verdict.kind, "login");
  assert.equal(gate.result(1, ok(request), 0), undefined, "answered once");
});

Deno.test("LoginGate.result() checks again when the account changed meanwhile, at most MAX_ROUNDS times", () => {
  const { gate, auth, store } = setup("open");
  store.setAccount("alice", "h:0", 0);
  gate.hello(1, helloFrame("alice", "pw"), at());
  for (let round = 1; round < MAX_ROUNDS; round++) {
    store.setAccount("alice", `h:${round}`, round);
    const verdict = gate.result(1, ok(auth.last()), round)?.verdict;
    assert.deepEqual(verdict, { kind: "wait" }, `round ${round}`);
    assert.equal(auth.last().hash, `h:${round}`, "checked against what is there now");
  }
  assert.equal(auth.requests.length, MAX_ROUNDS);
  store.setAccount("alice", "h:last", 9);
  const verdict = gate.result(1, ok(auth.last()), 9)?.verdict;
  assert.equal(code(verdict), "401");
  assert.match(verdict?.kind === "refuse" ? verdict.reason : "", /kept changing/);
  assert.equal(gate.checking, 0);
});

Deno.test("LoginGate.result(): a first claim that lost the race is checked against the winner", () => {
  const { gate, auth, store } = setup("open");
  gate.hello(1, helloFrame("alice", "mine"), at());
  store.setAccount("alice", "h:theirs", 1);
  assert.deepEqual(gate.result(1, ok(auth.last(), "h:mine"), 1)?.verdict, { kind: "wait" });
  assert.equal(auth.last().hash, "h:theirs");
  assert.equal(code(gate.result(1, wrong(auth.last()), 1)?.verdict), "401");
});

Deno.test("LoginGate invite mode: an unknown name costs a decoy check, then 401", () => {
  const { gate, auth } = setup("invite");
  assert.deepEqual(gate.hello(1, helloFrame("mallory", "pw"), at()), { kind: "wait" });
  const request = auth.last();
  assert.deepEqual([request.decoy, request.hash], [true, undefined]);
  // Even an authenticator that says yes opens nothing for a decoy.
  assert.equal(code(gate.result(1, ok(request, "h:pw"), 0)?.verdict), "401");
  // Without a password there is nothing to time: refused at once, as for a known name.
  assert.equal(code(gate.hello(2, helloFrame("mallory"), at())), "401");
});

Deno.test("LoginGate invite mode: a name invited during its decoy check is checked for real", () => {
  const { gate, auth, store } = setup("invite");
  gate.hello(1, helloFrame("carol", "pw"), at());
  store.setAccount("carol", "h:pw", 1);
  assert.deepEqual(gate.result(1, wrong(auth.last()), 1)?.verdict.kind, "refuse");
  gate.hello(2, helloFrame("dave", "pw"), at());
  store.setAccount("dave", "h:pw", 1);
  assert.deepEqual(gate.result(2, ok(auth.last()), 1)?.verdict, { kind: "wait" });
  assert.deepEqual([auth.last().decoy, auth.last().hash], [false, "h:pw"]);
  assert.deepEqual(gate.result(2, ok(auth.last()), 1)?.verdict, { kind: "login" });
});

Deno.test("LoginGate: a password change for a name without an account costs a decoy check", () => {
  const { gate, auth } = setup("open");
  assert.deepEqual(gate.hello(1, helloFrame("nobody", "x", "y"), at()), { kind: "wait" });
  assert.equal(auth.last().decoy, true);
  assert.equal(code(gate.result(1, ok(auth.last(), "h:y"), 0)?.verdict), "401");
});

Deno.test("LoginGate.result() refuses with the authenticator's code when its check did not run", () => {
  const { gate, auth, store } = setup("open");
  store.setAccount("alice", "h:pw", 0);
  gate.hello(1, helloFrame("alice", "pw"), at());
  const verdict = gate.result(1, { ticket: auth.last().ticket, ok: false, code: "503" }, 0);
  assert.equal(code(verdict?.verdict), "503");
});

Deno.test("LoginGate.legacyAllowed() binds only open names in open mode", () => {
  for (const mode of ["open", "required", "invite"] as const) {
    const { gate, store } = setup(mode);
    store.setAccount("alice", "h:pw", 0);
    assert.equal(gate.legacyAllowed("bob"), mode === "open", mode);
    assert.equal(gate.legacyAllowed("alice"), false, mode);
  }
});

Deno.test("LoginGate.cancel() forgets the check and tells the authenticator", () => {
  const { gate, auth, store } = setup("open", { passwordChecksPerIp: 1 });
  store.setAccount("alice", "h:pw", 0);
  gate.hello(1, helloFrame("alice", "pw"), at());
  const request = auth.last();
  gate.cancel(1);
  gate.cancel(1);
  assert.deepEqual(auth.cancelled, [request.ticket]);
  assert.equal(gate.result(1, ok(request), 0), undefined);
  assert.equal(gate.checking, 0);
  assert.deepEqual(gate.hello(2, helloFrame("alice", "pw"), at()), { kind: "wait" }, "freed");
});

Deno.test("LoginGate limits checks under way per address (423) and in total (503)", () => {
  const { gate, auth, store } = setup("open", { passwordChecksPerIp: 2, maxPasswordChecks: 3 });
  store.setAccount("alice", "h:pw", 0);
  assert.equal(code(gate.hello(1, helloFrame("alice", "a"), at("10.0.0.1"))), "wait");
  assert.equal(code(gate.hello(2, helloFrame("alice", "b"), at("10.0.0.1"))), "wait");
  assert.equal(code(gate.hello(3, helloFrame("alice", "c"), at("10.0.0.1"))), "423");
  assert.equal(code(gate.hello(4, helloFrame("alice", "d"), at("10.0.0.2"))), "wait");
  assert.equal(code(gate.hello(5, helloFrame("alice", "e"), at("10.0.0.3"))), "503");
  assert.equal(code(gate.hello(6, helloFrame("bob"), at("10.0.0.1"))), "open", "no password");
  assert.equal(auth.requests.length, 3);
  gate.result(1, wrong(auth.requests[0]!), 0);
  assert.equal(code(gate.hello(7, helloFrame("alice", "f"), at("10.0.0.1"))), "wait");
});

Deno.test("LoginGate limits checks started per minute per address; a new round is not one", () => {
  const { gate, auth, store } = setup("open", { passwordsPerMinute: 2 });
  store.setAccount("alice", "h:0", 0);
  gate.hello(1, helloFrame("alice", "pw"), at());
  store.setAccount("alice", "h:1", 0);
  assert.equal(code(gate.result(1, ok(auth.last()), 0)?.verdict), "wait", "round 2: free");
  gate.result(1, ok(auth.last()), 0);
  assert.equal(code(gate.hello(2, helloFrame("alice", "pw"), at())), "wait");
  assert.equal(code(gate.hello(3, helloFrame("alice", "pw"), at())), "423");
  assert.equal(code(gate.hello(4, helloFrame("alice", "pw"), at("10.0.0.2"))), "wait");
  assert.equal(code(gate.hello(5, helloFrame("alice", "pw"), at("10.0.0.1", 30_000))), "wait");
});

Deno.test("LoginGate limits wrong passwords per name; a right one gives its token back", () => {
  const { gate, auth, store } = setup("open", { passwordFailuresPerMinute: 2 });
  store.setAccount("alice", "h:pw", 0);
  let conn = 0;
  const attempt = (password: string, now = 0, name = "alice") => {
    const verdict = gate.hello(++conn, helloFrame(name, password), at(`10.0.0.${conn}`, now));
    if (verdict.kind !== "wait") return code(verdict);
    const request = auth.last();
    const right = request.hash === `h:${password}`;
    return code(gate.result(conn, right ? ok(request) : wrong(request), now)?.verdict);
  };
  for (let i = 0; i < 5; i++) assert.equal(attempt("pw"), "login", "right ones cost nothing");
  assert.equal(attempt("x"), "401");
  assert.equal(attempt("y"), "401");
  assert.equal(attempt("pw"), "423", "locked, for every address, even with the right one");
  assert.equal(attempt("x", 0, "bob"), "401", "other names are not locked");
  assert.equal(attempt("pw", 30_000), "login", "one failure back after 30 s at 2 a minute");
});

Deno.test("LoginGate.prune() forgets full buckets; limits still apply after", () => {
  const { gate, auth, store } = setup("open", { passwordsPerMinute: 1 });
  store.setAccount("alice", "h:pw", 0);
  gate.hello(1, helloFrame("alice", "pw"), at());
  gate.result(1, ok(auth.last()), 0);
  gate.prune(1000);
  assert.equal(code(gate.hello(2, helloFrame("alice", "pw"), at("10.0.0.1", 1000))), "423");
  gate.prune(60_000);
  assert.equal(code(gate.hello(3, helloFrame("alice", "pw"), at("10.0.0.1", 60_000))), "wait");
});

Deno.test("LoginGate without an authenticator refuses every login that needs a check", () => {
  const gate = new LoginGate({ store: new MemoryStore(), mode: "open" });
  assert.equal(code(gate.hello(1, helloFrame("alice", "pw"), at())), "401");
  assert.equal(code(gate.hello(2, helloFrame("bob"), at())), "open");
});
