import assert from "node:assert/strict";
import { parsePasswdArgs } from "./passwd.ts";
import { UsageError } from "./usage_error.ts";

Deno.test("parsePasswdArgs() fills in the defaults and reads every option", () => {
  assert.deepEqual(parsePasswdArgs(["--user", "alice"]), {
    help: false,
    user: "alice",
    host: "127.0.0.1",
    port: 9000,
    passwordFile: undefined,
    newPasswordFile: undefined,
    timeoutMs: 10_000,
    tls: { tls: false, ca: undefined },
  });
  const args = [
    "--user=bob",
    "--host",
    "chat.example",
    "--port",
    "9100",
    "--password-file",
    "/old",
    "--new-password-file",
    "/new",
    "--timeout",
    "2s",
    "--ca",
    "/ca.pem",
  ];
  assert.deepEqual(parsePasswdArgs(args), {
    help: false,
    user: "bob",
    host: "chat.example",
    port: 9100,
    passwordFile: "/old",
    newPasswordFile: "/new",
    timeoutMs: 2000,
    tls: { tls: true, ca: "/ca.pem" },
  });
});

Deno.test("parsePasswdArgs() needs --user, a valid name and no positionals", () => {
  assert.throws(() => parsePasswdArgs([]), UsageError);
  assert.throws(() => parsePasswdArgs(["--user", "a b"]), UsageError);
  assert.throws(() => parsePasswdArgs(["--user", "a", "extra"]), UsageError);
  assert.equal(parsePasswdArgs(["-h"]).help, true);
});
