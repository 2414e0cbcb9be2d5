import assert from "node:assert/strict";
import { parseServeArgs } from "./serve.ts";
import { UsageError } from "./usage_error.ts";

Deno.test("parseServeArgs() gives no limits and no TLS by default: the server's defaults apply", () => {
  const command = parseServeArgs([]);
  assert.deepEqual(command.limits, {});
  assert.equal(command.tls, undefined);
});

Deno.test("parseServeArgs() reads every limit flag with its unit", () => {
  const command = parseServeArgs([
    "--max-connections",
    "200",
    "--max-connections-per-ip",
    "20",
    "--login-rate",
    "30",
    "--msg-rate",
    "5",
    "--msg-burst",
    "40",
    "--login-timeout",
    "30s",
    "--idle-timeout",
    "2m",
    "--ping-timeout",
    "20s",
    "--max-queue-bytes",
    "10MiB",
    "--frame-rate",
    "50",
    "--password-rate",
    "10",
    "--password-failures",
    "5",
    "--password-checks-per-ip",
    "1",
    "--max-password-checks",
    "16",
  ]);
  assert.deepEqual(command.limits, {
    maxConnections: 200,
    maxConnectionsPerIp: 20,
    loginsPerMinute: 30,
    msgRate: 5,
    msgBurst: 40,
    loginTimeoutMs: 30_000,
    idleTimeoutMs: 120_000,
    pingTimeoutMs: 20_000,
    maxQueueBytes: 10 * 1024 * 1024,
    frameRate: 50,
    passwordsPerMinute: 10,
    passwordFailuresPerMinute: 5,
    passwordChecksPerIp: 1,
    maxPasswordChecks: 16,
  });
});

Deno.test("parseServeArgs() reads --tls-cert and --tls-key, which go together", () => {
  const command = parseServeArgs(["--tls-cert", "/c.pem", "--tls-key", "/k.pem"]);
  assert.deepEqual(command.tls, { certFile: "/c.pem", keyFile: "/k.pem" });
  assert.throws(() => parseServeArgs(["--tls-cert", "/c.pem"]), /go together/);
  assert.throws(() => parseServeArgs(["--tls-key", "/k.pem"]), UsageError);
});

Deno.test("parseServeArgs() rejects a bad limit with a one-line UsageError", () => {
  const cases: [string[], RegExp][] = [
    [["--msg-rate", "0"], /--msg-rate: "0" is not a whole number/],
    [["--max-connections", "lots"], /--max-connections/],
    [["--login-timeout", "soon"], /--login-timeout: "soon" is not a duration/],
    [["--max-queue-bytes", "big"], /--max-queue-bytes/],
    [["--password-rate", "0"], /--password-rate/],
    [["--password-failures", "x"], /--password-failures/],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseServeArgs(args), (error: Error) => {
      assert.ok(error instanceof UsageError);
      assert.match(error.message, message);
      assert.ok(!error.message.includes("\n"));
      return true;
    });
  }
});

Deno.test("parseServeArgs() reads --max-message as a size up to 16MiB, default 64KiB", () => {
  assert.equal(parseServeArgs([]).maxMessage, 65536);
  assert.equal(parseServeArgs(["--max-message", "2000"]).maxMessage, 2000);
  assert.equal(parseServeArgs(["--max-message", "16MiB"]).maxMessage, 16 * 1024 * 1024);
  assert.throws(() => parseServeArgs(["--max-message", "17MiB"]), /--max-message: at most 16MiB/);
  assert.throws(() => parseServeArgs(["--max-message", "0"]), UsageError);
});

Deno.test("parseServeArgs() reads --room-replay, --history-days and --history-count", () => {
  const defaults = parseServeArgs([]);
  assert.deepEqual(
    [defaults.roomReplay, defaults.historyDays, defaults.historyCount],
    [20, 90, 10000],
  );
  const args = ["--room-replay", "0", "--history-days", "0", "--history-count", "5"];
  const given = parseServeArgs(args);
  assert.deepEqual([given.roomReplay, given.historyDays, given.historyCount], [0, 0, 5]);
  assert.throws(() => parseServeArgs(["--history-count", "-1"]), UsageError);
  assert.equal(defaults.directHistory, true);
  assert.equal(parseServeArgs(["--direct-history", "off"]).directHistory, false);
  assert.throws(() => parseServeArgs(["--direct-history", "no"]), UsageError);
});

Deno.test("parseServeArgs() reads --io: auto by default, epoll or deno, nothing else", () => {
  assert.equal(parseServeArgs([]).io, "auto");
  assert.equal(parseServeArgs(["--io", "epoll"]).io, "epoll");
  assert.equal(parseServeArgs(["--io", "deno"]).io, "deno");
  assert.throws(() => parseServeArgs(["--io", "uring"]), /--io: "uring" is not one of/);
});
