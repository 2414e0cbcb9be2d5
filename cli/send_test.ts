import assert from "node:assert/strict";
import { parseSendArgs } from "./send.ts";
import { UsageError } from "./usage_error.ts";

Deno.test("parseSendArgs() fills in the defaults and reads no text without positionals", () => {
  assert.deepEqual(parseSendArgs(["--user", "alice", "--to", "bob", "--state", "/s"]), {
    help: false,
    user: "alice",
    to: "bob",
    host: "127.0.0.1",
    port: 9000,
    stateRoot: "/s",
    timeoutMs: 10_000,
    json: false,
    texts: [],
    file: undefined,
    password: { file: undefined, prompt: false },
    tls: { tls: false, ca: undefined },
  });
});

Deno.test("parseSendArgs() joins the positionals into one message", () => {
  const command = parseSendArgs(["--user", "alice", "--to", "bob", "hello", "big", "world"]);
  assert.deepEqual(command.texts, ["hello big world"]);
  assert.deepEqual(parseSendArgs(["--user", "a", "--to", "b", "--", "--not-a-flag"]).texts, [
    "--not-a-flag",
  ]);
});

Deno.test("parseSendArgs() reads every option", () => {
  const command = parseSendArgs([
    "--user=alice",
    "--to=bob",
    "--host",
    "localhost",
    "--port",
    "1234",
    "--state",
    "/s",
    "--timeout",
    "500ms",
    "--json",
    "hi",
  ]);
  assert.deepEqual(command, {
    help: false,
    user: "alice",
    to: "bob",
    host: "localhost",
    port: 1234,
    stateRoot: "/s",
    timeoutMs: 500,
    json: true,
    texts: ["hi"],
    file: undefined,
    password: { file: undefined, prompt: false },
    tls: { tls: false, ca: undefined },
  });
  assert.deepEqual(
    parseSendArgs(["--user", "a", "--to", "b", "--password-file", "/pw", "--password"]).password,
    { file: "/pw", prompt: true },
  );
  assert.equal(parseSendArgs(["--user", "a", "--to", "b", "--timeout", "2m"]).timeoutMs, 120_000);
  assert.equal(parseSendArgs(["--user", "a", "--to", "b", "--timeout", "1.5"]).timeoutMs, 1500);
});

Deno.test("parseSendArgs() reads --tls, and --ca FILE implies it", () => {
  const base = ["--user", "a", "--to", "b"];
  assert.deepEqual(parseSendArgs([...base, "--tls"]).tls, { tls: true, ca: undefined });
  assert.deepEqual(parseSendArgs([...base, "--ca", "/ca.pem"]).tls, { tls: true, ca: "/ca.pem" });
});

Deno.test("parseSendArgs() accepts -h and --help without --user and --to", () => {
  assert.equal(parseSendArgs(["-h"]).help, true);
  assert.equal(parseSendArgs(["--help"]).help, true);
});

Deno.test("parseSendArgs() rejects bad command lines with a one-line UsageError", () => {
  const cases: [string[], RegExp][] = [
    [[], /--user is required/],
    [["--to", "bob", "hi"], /--user is required/],
    [["--user", "alice", "hi"], /--to is required/],
    [["--user", "alice", "--to", "bob", "--bogus"], /bogus/],
    [["--user", "alice", "--to", "bob", "--port", "0"], /--port: "0"/],
    [["--user", "alice", "--to", "bob", "--port", "x"], /--port: "x"/],
    [["--user", "alice", "--to", "bob", "--timeout", "soon"], /--timeout: "soon"/],
    [["--user", "alice", "--to", "bob", "--timeout", "0s"], /--timeout: must be more than 0/],
    [["--user", "alice", "--to", "bob", "--json=yes"], /json/],
  ];
  for (const [args, pattern] of cases) {
    assert.throws(
      () => parseSendArgs(args),
      (error: unknown) => {
        assert.ok(error instanceof UsageError, `${args.join(" ")}: ${error}`);
        assert.match(error.message, pattern, args.join(" "));
        assert.ok(!error.message.includes("\n"), `one line: ${JSON.stringify(error.message)}`);
        return true;
      },
      args.join(" "),
    );
  }
});

Deno.test("parseSendArgs() reads --file, and refuses it with TEXT", () => {
  assert.equal(parseSendArgs(["--user", "a", "--to", "b", "--file", "x.png"]).file, "x.png");
  assert.throws(
    () => parseSendArgs(["--user", "a", "--to", "b", "--file", "x.png", "hi"]),
    UsageError,
  );
});
