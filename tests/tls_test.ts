/**
 * Transport security end to end: `serve --tls-cert --tls-key` against the client library, the
 * CLI and a raw client, with a certificate made by openssl; a plain client on the TLS port and a
 * TLS client on a plain port fail cleanly on both sides.
 */
import assert from "node:assert/strict";
import { connect, isLoopback, plainPasswordWarning } from "../client.ts";
import { FrameType, readCode } from "../protocol/mod.ts";
import { assertPairChats, connectTls, isAck } from "./_client.ts";
import { cliCommand, sendFlags, serverTest, start, tempDir } from "./_server.ts";
import { makeCertificates } from "./_tls.ts";

const decoder = new TextDecoder();

serverTest(
  "serve --tls-cert/--tls-key: library, CLI and raw clients chat over TLS with --ca",
  async () => {
    await using dir = await tempDir();
    const certs = await makeCertificates(dir.path);
    await using server = await start({
      args: ["--tls-cert", certs.certFile, "--tls-key", certs.keyFile],
    });
    await using bob = await connect({ user: "bob", port: server.port, tls: true, ca: certs.ca });
    await using alice = await connect({
      user: "alice",
      port: server.port,
      tls: true,
      ca: certs.ca,
    });
    const result = await alice.send("bob", "over TLS");
    assert.equal(result.fate, "delivered");
    for await (const event of bob.events()) {
      if (event.kind !== "message") continue;
      assert.equal(event.text, "over TLS");
      break;
    }
    // The CLI: tinychat send --ca FILE (implies --tls).
    const sent = await cliCommand([
      "send",
      ...sendFlags("carol", "bob", server.port, `${dir.path}/state`),
      "--ca",
      certs.caFile,
      "hi from the CLI",
    ]).output();
    assert.equal(sent.code, 0, decoder.decode(sent.stderr));
    assert.match(decoder.decode(sent.stdout), /bob: delivered \(200/);
    // A raw protocol client over TLS, and a pair in the test client's own terms.
    await using raw = await connectTls(server.port, certs.ca);
    const answer = await raw.hello("dave", 7);
    assert.equal(readCode(answer.payload), "200");
    await raw.sync();
  },
);

serverTest(
  "serve --tls-cert: a plain client fails with 'is it a TLS port? try --tls'; the server logs it",
  async () => {
    await using dir = await tempDir();
    const certs = await makeCertificates(dir.path);
    await using server = await start({
      args: ["--tls-cert", certs.certFile, "--tls-key", certs.keyFile],
    });
    await assert.rejects(
      connect({ user: "alice", port: server.port, reconnect: false }),
      /TLS port.*try --tls/,
    );
    await server.waitForLog(/TLS handshake failed.*a plain client on the TLS port\?/);
    const sent = await cliCommand([
      "send",
      ...sendFlags("carol", "bob", server.port, `${dir.path}/state`),
      "hi",
    ]).output();
    assert.equal(sent.code, 1);
    assert.match(decoder.decode(sent.stderr), /TLS port.*try --tls/);
    // The server goes on serving TLS clients.
    await using ok = await connect({ user: "bob", port: server.port, tls: true, ca: certs.ca });
    assert.equal(ok.online, true);
    assert.equal(server.exited, false);
  },
);

serverTest(
  "serve without TLS: a TLS client fails with 'is it a plain port?'; the server logs one line",
  async () => {
    await using dir = await tempDir();
    const certs = await makeCertificates(dir.path);
    await using server = await start();
    const started = Date.now();
    await assert.rejects(
      connect({ user: "alice", port: server.port, tls: true, ca: certs.ca, reconnect: false }),
      (error: Error) => {
        assert.match(error.message, /over TLS: .*is it a plain port\? try without --tls/);
        return true;
      },
    );
    assert.ok(Date.now() - started < 3000, "at once, not after a timeout");
    await server.waitForLog(/TLS handshake on a plain port/);
    assert.equal(server.stderr.split("\n").filter((l) => /TLS handshake/.test(l)).length, 1);
    await assertPairChats(server.port, "bob", "carol");
  },
);

serverTest("serve --tls-cert: a client without the CA is told to pass --ca", async () => {
  await using dir = await tempDir();
  const certs = await makeCertificates(dir.path);
  await using server = await start({
    args: ["--tls-cert", certs.certFile, "--tls-key", certs.keyFile],
  });
  await assert.rejects(
    connect({ user: "alice", port: server.port, tls: true, reconnect: false }),
    /certificate is not trusted.*--ca FILE/,
  );
  // And a raw TLS client still gets its login answered: the failed handshake hurt nobody.
  await using raw = await connectTls(server.port, certs.ca);
  assert.equal(readCode((await raw.hello("bob")).payload), "200");
  const ping = { type: FrameType.PING, id: 1, src: "bob", dst: "", payload: new Uint8Array() };
  await raw.send(ping);
  await raw.next((f) => f.type === FrameType.PONG && f.id === 1);
  assert.equal(raw.take(isAck(0)).length, 0);
});

serverTest("serve: bad --tls-cert or --tls-key files stop it with one clear line", async () => {
  await using dir = await tempDir();
  const certs = await makeCertificates(dir.path);
  const missing = await cliCommand([
    "serve",
    "--port",
    "0",
    "--data",
    `${dir.path}/data`,
    "--tls-cert",
    `${dir.path}/nope.pem`,
    "--tls-key",
    certs.keyFile,
  ]).output();
  assert.equal(missing.code, 1);
  assert.match(decoder.decode(missing.stderr), /Cannot read --tls-cert .*nope\.pem/);
  const mismatched = await cliCommand([
    "serve",
    "--port",
    "0",
    "--data",
    `${dir.path}/data`,
    "--tls-cert",
    certs.certFile,
    "--tls-key",
    `${dir.path}/ca.key`,
  ]).output();
  assert.equal(mismatched.code, 1);
  assert.match(decoder.decode(mismatched.stderr), /Cannot serve TLS with this certificate and key/);
});

Deno.test("plainPasswordWarning() warns before a password crosses a plain connection to another machine", () => {
  const remote = { user: "alice", host: "chat.example", password: "secret" };
  assert.match(plainPasswordWarning(remote) ?? "", /password for "alice" .*chat\.example.*--tls/);
  assert.equal(plainPasswordWarning({ ...remote, tls: true }), undefined, "TLS");
  assert.equal(plainPasswordWarning({ user: "alice", host: "chat.example" }), undefined);
  assert.equal(plainPasswordWarning({ ...remote, host: "127.0.0.1" }), undefined);
  assert.equal(plainPasswordWarning({ user: "alice", password: "x" }), undefined, "the default");
});

Deno.test("isLoopback() recognises this machine's addresses", () => {
  for (const host of ["127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "::1", "[::1]"]) {
    assert.ok(isLoopback(host), host);
  }
  for (const host of ["10.0.0.1", "chat.example", "::2", "128.0.0.1", "localhost.example"]) {
    assert.ok(!isLoopback(host), host);
  }
});
