import assert from "node:assert/strict";
import { complete, parseConnectArgs } from "./connect.ts";
import { UsageError } from "./usage_error.ts";

const NAMES = ["bob", "carol", "bernd"];

Deno.test("complete() offers the matching command for a slash prefix", () => {
  assert.deepEqual(complete("/t", NAMES), [["/to "], "/t"]);
  assert.deepEqual(complete("/h", NAMES), [["/history ", "/help"], "/h"]);
  assert.deepEqual(complete("/q", NAMES), [["/quit"], "/q"]);
});

Deno.test("complete() lists every command for a bare slash or an unknown one", () => {
  const all = [
    "/to ",
    "/join ",
    "/leave ",
    "/rooms",
    "/who",
    "/history ",
    "/send ",
    "/help",
    "/quit",
  ];
  assert.deepEqual(complete("/", NAMES), [all, "/"]);
  assert.deepEqual(complete("/x", NAMES), [all, "/x"]);
});

Deno.test("complete() completes names after /to and /history", () => {
  assert.deepEqual(complete("/to b", NAMES), [["bob", "bernd"], "b"]);
  assert.deepEqual(complete("/to c", NAMES), [["carol"], "c"]);
  assert.deepEqual(complete("/to ", NAMES), [NAMES, ""]);
  assert.deepEqual(complete("/history ca", NAMES), [["carol"], "ca"]);
  assert.deepEqual(complete("/to z", NAMES), [[], "z"]);
});

Deno.test("complete() completes @names anywhere in the line, with a trailing space", () => {
  assert.deepEqual(complete("@c", NAMES), [["@carol "], "@c"]);
  assert.deepEqual(complete("hi @bo", NAMES), [["@bob "], "@bo"]);
  assert.deepEqual(complete("@", NAMES), [["@bob ", "@carol ", "@bernd "], "@"]);
});

Deno.test("complete() completes rooms after /join, /leave and /who, with or without the #", () => {
  const names = ["bob", "#dev", "#all", "#design"];
  assert.deepEqual(complete("/join #de", names), [["#dev", "#design"], "#de"]);
  assert.deepEqual(complete("/leave d", names), [["#dev", "#design"], "d"]);
  assert.deepEqual(complete("/who #a", names), [["#all"], "#a"]);
  assert.deepEqual(complete("/who ", names), [["#dev", "#all", "#design"], ""]);
});

Deno.test("complete() completes rooms after /to, /history and @", () => {
  const names = ["bob", "#dev"];
  assert.deepEqual(complete("/to #", names), [["#dev"], "#"]);
  assert.deepEqual(complete("/history #d", names), [["#dev"], "#d"]);
  assert.deepEqual(complete("@#d", names), [["@#dev "], "@#d"]);
});

Deno.test("parseConnectArgs() takes a room for --to, never for --user", () => {
  assert.equal(parseConnectArgs(["--user", "alice", "--to", "#all"]).to, "#all");
  assert.throws(() => parseConnectArgs(["--user", "#all"]), UsageError);
  assert.throws(() => parseConnectArgs(["--user", "alice", "--to", "#"]), UsageError);
});

Deno.test("complete() offers nothing in plain text", () => {
  assert.deepEqual(complete("hello b", NAMES), [[], "hello b"]);
  assert.deepEqual(complete("", NAMES), [[], ""]);
});

Deno.test("parseConnectArgs() fills in the defaults", () => {
  const command = parseConnectArgs(["--user", "alice", "--state", "/tmp/x"]);
  assert.deepEqual(command, {
    help: false,
    user: "alice",
    to: undefined,
    host: "127.0.0.1",
    port: 9000,
    stateRoot: "/tmp/x",
    color: "auto",
    quiet: false,
    saveDir: undefined,
    password: { file: undefined, prompt: false },
    tls: { tls: false, ca: undefined },
  });
});

Deno.test("parseConnectArgs() reads every option", () => {
  const command = parseConnectArgs([
    "--user=alice",
    "--to",
    "bob",
    "--host",
    "localhost",
    "--port",
    "9100",
    "--state",
    "/s",
    "--color",
    "never",
    "--quiet",
    "--save-dir",
    "/dl",
  ]);
  assert.deepEqual(command, {
    help: false,
    user: "alice",
    to: "bob",
    host: "localhost",
    port: 9100,
    stateRoot: "/s",
    color: "never",
    quiet: true,
    saveDir: "/dl",
    password: { file: undefined, prompt: false },
    tls: { tls: false, ca: undefined },
  });
});

Deno.test("parseConnectArgs() reads --password and --password-file", () => {
  const args = ["--user", "alice", "--password", "--password-file", "/run/pw"];
  assert.deepEqual(parseConnectArgs(args).password, { file: "/run/pw", prompt: true });
});

Deno.test("parseConnectArgs() reads --tls, and --ca FILE implies it", () => {
  assert.deepEqual(parseConnectArgs(["--user", "a", "--tls"]).tls, { tls: true, ca: undefined });
  assert.deepEqual(parseConnectArgs(["--user", "a", "--ca", "/ca.pem"]).tls, {
    tls: true,
    ca: "/ca.pem",
  });
});

Deno.test("parseConnectArgs() accepts -h and --help without --user", () => {
  assert.equal(parseConnectArgs(["-h"]).help, true);
  assert.equal(parseConnectArgs(["--help"]).help, true);
});

Deno.test("parseConnectArgs() rejects bad command lines with a one-line UsageError", () => {
  const cases: [string[], RegExp][] = [
    [[], /--user is required/],
    [["--to", "bob"], /--user is required/],
    [["--user", "alice", "--frobnicate"], /frobnicate/],
    [["--user", "alice", "extra"], /unexpected argument "extra"/],
    [["--user", "alice", "--port", "0"], /--port: "0"/],
    [["--user", "alice", "--port", "65536"], /--port: "65536"/],
    [["--user", "alice", "--port", "90a"], /--port: "90a"/],
    [["--user", "alice", "--color", "sometimes"], /--color: "sometimes" is not one of/],
    [["--user", "alice", "--to", "bo b"], /--to: "bo b"/],
    [["--user", "alice", "--to", "muchtoolong"], /--to: "muchtoolong"/],
    [["--user"], /user/],
  ];
  for (const [args, pattern] of cases) {
    assert.throws(
      () => parseConnectArgs(args),
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
