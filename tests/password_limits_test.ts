/**
 * The password-check limits end to end: a flood of wrong-password HELLOs from one address is
 * refused at once beyond 2 checks at a time ("423"), while logins without a password go on;
 * `--password-failures` locks a name after wrong passwords; `--password-rate` bounds the checks
 * an address may start per minute.
 */
import assert from "node:assert/strict";
import { CredentialOption, encodeHelloOptions, FrameType, readCode } from "../protocol/mod.ts";
import { connect as raw, isAck, login, type TestClient } from "./_client.ts";
import { serverTest, start } from "./_server.ts";

/** Sends HELLO as `name` with `password` on `client`; does not wait for the answer. */
function sayHello(client: TestClient, name: string, password: string, id = 1): Promise<void> {
  client.name = name;
  return client.send({
    type: FrameType.HELLO,
    id,
    src: name,
    dst: "",
    payload: encodeHelloOptions([[CredentialOption.PASSWORD, password]]),
  });
}

/** The code a fresh connection gets for HELLO as `name` with `password`. */
async function codeFor(port: number, name: string, password: string): Promise<string> {
  await using client = await raw(port);
  await sayHello(client, name, password);
  return readCode((await client.next(isAck(1), 10_000, `the answer to HELLO ${name}`)).payload);
}

serverTest(
  "serve: wrong-password HELLOs from one address: 2 checked at once, the rest 423 at once",
  async () => {
    await using server = await start();
    assert.equal(await codeFor(server.port, "alice", "right"), "200");
    const FLOOD = 8;
    const clients = await Promise.all(Array.from({ length: FLOOD }, () => raw(server.port)));
    try {
      const started = performance.now();
      await Promise.all(clients.map((c, i) => sayHello(c, "alice", `guess ${i}`)));
      const answers = await Promise.all(clients.map(async (c) => {
        const answer = await c.next(isAck(1), 10_000, "the answer to a guess");
        return { code: readCode(answer.payload), ms: performance.now() - started };
      }));
      const refused = answers.filter((a) => a.code === "423");
      const checked = answers.filter((a) => a.code === "401");
      assert.equal(refused.length + checked.length, FLOOD, JSON.stringify(answers));
      assert.ok(checked.length <= 2, `${checked.length} checked`);
      // A refusal does not wait for scrypt: it comes before the first check is done.
      const firstChecked = Math.min(...checked.map((a) => a.ms));
      assert.ok(refused.every((a) => a.ms < firstChecked), JSON.stringify(answers));
      await Promise.all(clients.map((c) => c.waitClosed()));
    } finally {
      await Promise.all(clients.map((c) => c[Symbol.asyncDispose]()));
    }
    // A login without a password from the same address is not counted.
    await using carol = await login(server.port, "carol");
    await carol.sync();
    assert.equal(await codeFor(server.port, "alice", "right"), "200");
    await server.waitForLog(/rejected .*code=423 .*at once from this address/);
  },
);

serverTest(
  "serve --password-failures/--password-rate: a name locks after wrong passwords; an address runs out",
  async () => {
    await using server = await start({
      args: ["--password-failures", "2", "--password-rate", "4"],
    });
    assert.equal(await codeFor(server.port, "alice", "right"), "200");
    assert.equal(await codeFor(server.port, "alice", "wrong 1"), "401");
    assert.equal(await codeFor(server.port, "alice", "wrong 2"), "401");
    // Locked for a while, even for the right password (and without spending a check).
    assert.equal(await codeFor(server.port, "alice", "right"), "423");
    assert.equal(await codeFor(server.port, "bob", "bob pw"), "200", "other names are not");
    // The refusal spent no check: bob's was the address's 4th this minute, the last one.
    assert.equal(await codeFor(server.port, "carol", "carol pw"), "423");
    await using dave = await login(server.port, "dave");
    await dave.sync();
    await server.waitForLog(/too many wrong passwords for alice/);
    await server.waitForLog(/too many password attempts from this address/);
  },
);
