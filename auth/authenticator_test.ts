import assert from "node:assert/strict";
import type { AuthRequest, AuthResult } from "../core/login_gate.ts";
import { PasswordAuthenticator } from "./authenticator.ts";
import { hashPassword, verifyPassword } from "./password.ts";

const CHEAP = { N: 1024, r: 8, p: 1 };

function request(ticket: number, fields: Partial<AuthRequest>): AuthRequest {
  return {
    ticket,
    conn: ticket * 10,
    name: "alice",
    address: "10.0.0.1",
    password: "pw",
    hash: undefined,
    newPassword: undefined,
    decoy: false,
    ...fields,
  };
}

/** An authenticator whose answers land in `answers`; `wait(n)` resolves once n have come. */
function recording(concurrency = 2, maxWaiting?: number) {
  const answers: { conn: number; result: AuthResult }[] = [];
  let wake = () => {};
  const authenticator = new PasswordAuthenticator((conn, result) => {
    answers.push({ conn, result });
    wake();
  }, { params: CHEAP, concurrency, ...(maxWaiting === undefined ? {} : { maxWaiting }) });
  const wait = async (n: number) => {
    const deadline = Date.now() + 10_000;
    while (answers.length < n && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 100);
      });
    }
    assert.equal(answers.length, n);
  };
  return { authenticator, answers, wait };
}

Deno.test("PasswordAuthenticator.check() hashes a first claim's password", async () => {
  const { authenticator, answers, wait } = recording();
  authenticator.check(request(1, { password: "first" }));
  await wait(1);
  const [{ conn, result }] = answers as [{ conn: number; result: AuthResult }];
  assert.equal(conn, 10);
  assert.equal(result.ticket, 1);
  assert.equal(result.ok, true);
  assert.match(result.newHash!, /^scrypt\$N=1024,r=8,p=1\$/);
  assert.equal(await verifyPassword("first", result.newHash!), true);
});

Deno.test("PasswordAuthenticator.check() verifies against the account's hash", async () => {
  const hash = await hashPassword("right", { params: CHEAP });
  const { authenticator, answers, wait } = recording();
  authenticator.check(request(1, { password: "right", hash }));
  authenticator.check(request(2, { password: "wrong", hash }));
  await wait(2);
  const byTicket = new Map(answers.map((a) => [a.result.ticket, a.result]));
  assert.deepEqual(byTicket.get(1), { ticket: 1, ok: true });
  assert.deepEqual(byTicket.get(2), { ticket: 2, ok: false });
});

Deno.test("PasswordAuthenticator.check() hashes the new password of a change once verified", async () => {
  const hash = await hashPassword("old", { params: CHEAP });
  const { authenticator, answers, wait } = recording();
  authenticator.check(request(1, { password: "old", hash, newPassword: "new" }));
  authenticator.check(request(2, { password: "bad", hash, newPassword: "new" }));
  await wait(2);
  const byTicket = new Map(answers.map((a) => [a.result.ticket, a.result]));
  assert.equal(await verifyPassword("new", byTicket.get(1)!.newHash!), true);
  assert.deepEqual(byTicket.get(2), { ticket: 2, ok: false });
});

Deno.test("PasswordAuthenticator runs checks a few at a time, in order, skipping cancelled ones", async () => {
  const { authenticator, answers, wait } = recording(1);
  for (let ticket = 1; ticket <= 4; ticket++) authenticator.check(request(ticket, {}));
  assert.equal(authenticator.waiting, 3);
  authenticator.cancel(3);
  await wait(3);
  assert.deepEqual(answers.map((a) => a.result.ticket), [1, 2, 4]);
  assert.equal(authenticator.waiting, 0);
});

Deno.test("PasswordAuthenticator answers ok: false for an unreadable stored hash", async () => {
  const { authenticator, answers, wait } = recording();
  authenticator.check(request(1, { hash: "not a hash" }));
  await wait(1);
  assert.deepEqual(answers[0]!.result, { ticket: 1, ok: false });
});

Deno.test("PasswordAuthenticator serves waiting checks round-robin by address", async () => {
  const { authenticator, answers, wait } = recording(1);
  // One address floods; two others come after it.
  for (let ticket = 1; ticket <= 4; ticket++) {
    authenticator.check(request(ticket, { address: "10.6.6.6" }));
  }
  authenticator.check(request(5, { address: "10.0.0.1" }));
  authenticator.check(request(6, { address: "10.0.0.2" }));
  authenticator.check(request(7, { address: "10.0.0.1" }));
  await wait(7);
  assert.deepEqual(answers.map((a) => a.result.ticket), [1, 2, 5, 6, 3, 7, 4]);
});

Deno.test("PasswordAuthenticator answers 503 beyond maxWaiting, never from within check()", async () => {
  const { authenticator, answers, wait } = recording(1, 1);
  authenticator.check(request(1, {}));
  authenticator.check(request(2, {}));
  authenticator.check(request(3, {}));
  assert.equal(answers.length, 0);
  assert.equal(authenticator.waiting, 1);
  await wait(3);
  const byTicket = new Map(answers.map((a) => [a.result.ticket, a.result]));
  assert.deepEqual(byTicket.get(3), { ticket: 3, ok: false, code: "503" });
  assert.equal(byTicket.get(1)?.ok, true);
  assert.equal(byTicket.get(2)?.ok, true);
});

Deno.test("PasswordAuthenticator answers a decoy check ok: false after a real scrypt run", async () => {
  const { authenticator, answers, wait } = recording();
  const started = performance.now();
  authenticator.check(request(1, { decoy: true, password: "anything" }));
  await wait(1);
  const elapsed = performance.now() - started;
  assert.deepEqual(answers[0]!.result, { ticket: 1, ok: false });
  // The decoy has the default parameters (16 MiB): far more than the cheap ones of this test.
  const cheap = performance.now();
  await verifyPassword("x", await hashPassword("y", { params: CHEAP }));
  assert.ok(elapsed > (performance.now() - cheap), `${elapsed} ms for the decoy`);
});
