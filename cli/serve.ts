// deno-lint-ignore-file no-console -- the CLI is where output belongs
import { serve } from "../server.ts";
import type { LogLevel } from "../core/server_core.ts";
import type { AuthMode } from "../core/login_gate.ts";
import type { Limits } from "../core/limits.ts";
import { MAX_MAX_MESSAGE } from "../core/long_messages.ts";
import { parseChoice, parseDuration, parseFlags, parseInteger, parseSize } from "./flags.ts";
import { UsageError } from "./usage_error.ts";

/** Help text of `tinychat serve`. */
export const SERVE_HELP = `tinychat serve: run the tinychat server.

Examples:
  tinychat serve
  tinychat serve --port 0 --data /var/lib/tinychat
  tinychat serve --host 0.0.0.0 --port 9000 --ack-timeout 5s --log-format json
  tinychat serve --host 0.0.0.0 --tls-cert cert.pem --tls-key key.pem --msg-rate 5

USAGE:
  tinychat serve [OPTIONS]

OPTIONS:
  --host HOST          address to listen on                          (default 127.0.0.1)
  --port PORT          TCP port; 0 picks a free one                  (default 9000)
  --data DIR           data directory (SQLite store, files/)         (default ./tinychat-data)
  --ack-timeout TIME   time a recipient has to acknowledge, e.g. 3s  (default 3s)
  --max-queue N        stored messages per recipient; beyond: "507"  (default 100000)
  --room-replay N      messages a room join replays                  (default 20)
  --history-days D     history kept this many days; 0: no age limit  (default 90)
  --history-count N    history kept per conversation; 0: no limit    (default 10000)
  --direct-history ON  on: direct messages go into the history too;  (default on)
                       off: rooms only (clients use their own log)
  --max-message SIZE   longest message (up to 16MiB); beyond: "413"  (default 64KiB)
  --max-file SIZE      largest file sent; beyond: "413"              (default 100MiB)
  --file-quota SIZE    file bytes waiting for one recipient ["507"]  (default 1GiB)
  --auth MODE          open, required or invite (ACCOUNTS below)     (default open)
  --log-format FORMAT  text or json (one object per line)            (default text)
  --log-level LEVEL    debug, info, warn or error                    (default info)
  --io IO              plain TCP through epoll (Linux, an IP address as  (default auto)
                       --host, --allow-ffi), through deno's sockets, or
                       auto: epoll where it can serve
  --tls-cert FILE      serve TLS: the certificate chain (PEM); needs --tls-key
  --tls-key FILE       the certificate's private key (PEM)
  -h, --help           show this help

LIMITS (the code a client gets in brackets; the defaults stop only the pathological, see
docs/SECURITY.md for human-scale values):
  --max-connections N          connections at once, in total ["503"]       (default 30000,
                               lowered below the open-files limit)
  --max-connections-per-ip N   connections at once from one address ["421"] (default 15000)
  --login-rate N               logins per minute from one address ["423"]   (default 60000)
  --msg-rate N                 messages per second from one user ["429"]    (default 200000)
  --msg-burst N                messages one user may send at once           (default: the rate,
                               at least 20)
  --frame-rate N               frames of any type per second from one       (default 500000)
                               connection ["429", closed]; bucket: N, at least 2 x --msg-burst
  --login-timeout TIME         time to log in after connecting ["408"]      (default 10m)
  --idle-timeout TIME          silence after which a HELLO client is PINGed (default 5m)
  --ping-timeout TIME          time to answer that PING ["440"]             (default 1m)
  --max-queue-bytes SIZE       stored payload bytes per recipient ["507"]   (default 64MiB)

PASSWORD CHECKS (each costs 100-300 ms of scrypt, 2 run at once; logins without a password are
not counted; a refused login is closed):
  --password-rate N            checks started per minute from one address   (default 30)
                               ["423"]
  --password-failures N        wrong passwords per minute for one name,     (default 10)
                               from all addresses; then "423" without a check until it refills
  --password-checks-per-ip N   checks waiting or running at once from one   (default 2)
                               address ["423"]
  --max-password-checks N      checks waiting or running at once, in total  (default 64)
                               ["503"]

ACCOUNTS:
  A name with an account opens only with its password ("401" otherwise); a login with the right
  password replaces a connection holding the name (it gets TAKEOVER). --auth decides the rest:
  open      a name without an account logs in without a password; the first login that gives
            one claims the name
  required  every login needs a password; the first one registers the name
  invite    only names with an account log in ('tinychat user add --data DIR NAME')

Prints "listening HOST:PORT" on stdout when ready; logs go to stderr.
SIGINT or SIGTERM stops accepting, commits the store and exits 0.`;

/** What `tinychat serve` was asked to do. */
export interface ServeCommand {
  help: boolean;
  hostname: string;
  port: number;
  dataDir: string;
  ackTimeoutMs: number;
  maxQueue: number;
  /** --room-replay: messages a room join replays. */
  roomReplay: number;
  /** --history-days: days the history is kept (0: no age limit). */
  historyDays: number;
  /** --history-count: history entries kept per conversation (0: no limit). */
  historyCount: number;
  /** --direct-history: whether direct messages go into the history too. */
  directHistory: boolean;
  /** --max-message: the longest message a client may send, in bytes. */
  maxMessage: number;
  /** --max-file: the largest file accepted, in bytes. */
  maxFile: number;
  /** --file-quota: bytes of files waiting for one recipient. */
  fileQuota: number;
  auth: AuthMode;
  logFormat: "text" | "json";
  logLevel: LogLevel;
  /** --io: what serves plain TCP (server.ts `ServeOptions.io`). */
  io: "auto" | "epoll" | "deno";
  /** --tls-cert and --tls-key (file paths), or undefined for plain TCP. */
  tls: { certFile: string; keyFile: string } | undefined;
  /** The limits given on the command line; the others keep their defaults. */
  limits: Partial<Limits>;
}

/** Parses the arguments of `tinychat serve`; throws `UsageError`. */
export function parseServeArgs(args: string[]): ServeCommand {
  const { values, positionals } = parseFlags("serve", args, {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "9000" },
    data: { type: "string", default: "./tinychat-data" },
    "ack-timeout": { type: "string", default: "3s" },
    "max-queue": { type: "string", default: "100000" },
    "room-replay": { type: "string", default: "20" },
    "history-days": { type: "string", default: "90" },
    "history-count": { type: "string", default: "10000" },
    "direct-history": { type: "string", default: "on" },
    "max-message": { type: "string", default: "64KiB" },
    "max-file": { type: "string", default: "100MiB" },
    "file-quota": { type: "string", default: "1GiB" },
    auth: { type: "string", default: "open" },
    "log-format": { type: "string", default: "text" },
    io: { type: "string", default: "auto" },
    "log-level": { type: "string", default: "info" },
    "tls-cert": { type: "string" },
    "tls-key": { type: "string" },
    "max-connections": { type: "string" },
    "max-connections-per-ip": { type: "string" },
    "login-rate": { type: "string" },
    "msg-rate": { type: "string" },
    "msg-burst": { type: "string" },
    "login-timeout": { type: "string" },
    "idle-timeout": { type: "string" },
    "ping-timeout": { type: "string" },
    "max-queue-bytes": { type: "string" },
    "frame-rate": { type: "string" },
    "password-rate": { type: "string" },
    "password-failures": { type: "string" },
    "password-checks-per-ip": { type: "string" },
    "max-password-checks": { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  });
  if (positionals.length > 0) {
    throw new UsageError(`serve: unexpected argument "${positionals[0]}"`);
  }
  if (values.data === "") throw new UsageError("--data: must not be empty");
  const certFile = values["tls-cert"];
  const keyFile = values["tls-key"];
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw new UsageError("serve: --tls-cert and --tls-key go together");
  }
  const limits: Partial<Limits> = {};
  const count = (flag: keyof typeof values, key: keyof Limits) => {
    const text = values[flag];
    if (typeof text === "string") limits[key] = parseInteger(flag, text, 1, 1e9);
  };
  const time = (flag: keyof typeof values, key: keyof Limits) => {
    const text = values[flag];
    if (typeof text === "string") limits[key] = parseDuration(flag, text);
  };
  count("max-connections", "maxConnections");
  count("max-connections-per-ip", "maxConnectionsPerIp");
  count("login-rate", "loginsPerMinute");
  count("msg-rate", "msgRate");
  count("msg-burst", "msgBurst");
  count("frame-rate", "frameRate");
  count("password-rate", "passwordsPerMinute");
  count("password-failures", "passwordFailuresPerMinute");
  count("password-checks-per-ip", "passwordChecksPerIp");
  count("max-password-checks", "maxPasswordChecks");
  time("login-timeout", "loginTimeoutMs");
  time("idle-timeout", "idleTimeoutMs");
  time("ping-timeout", "pingTimeoutMs");
  if (values["max-queue-bytes"] !== undefined) {
    limits.maxQueueBytes = parseSize("max-queue-bytes", values["max-queue-bytes"]);
  }
  return {
    help: values.help,
    hostname: values.host,
    port: parseInteger("port", values.port, 0, 65535),
    dataDir: values.data,
    ackTimeoutMs: parseDuration("ack-timeout", values["ack-timeout"]),
    maxQueue: parseInteger("max-queue", values["max-queue"], 1, 1e9),
    roomReplay: parseInteger("room-replay", values["room-replay"], 0, 500),
    historyDays: parseInteger("history-days", values["history-days"], 0, 1e5),
    historyCount: parseInteger("history-count", values["history-count"], 0, 1e9),
    directHistory:
      parseChoice("direct-history", values["direct-history"], ["on", "off"] as const) ===
        "on",
    maxMessage: parseMaxMessage(values["max-message"]),
    maxFile: parseSize("max-file", values["max-file"]),
    fileQuota: parseSize("file-quota", values["file-quota"]),
    auth: parseChoice("auth", values.auth, ["open", "required", "invite"] as const),
    logFormat: parseChoice("log-format", values["log-format"], ["text", "json"] as const),
    io: parseChoice("io", values.io, ["auto", "epoll", "deno"] as const),
    logLevel: parseChoice(
      "log-level",
      values["log-level"],
      ["debug", "info", "warn", "error"] as const,
    ),
    tls: certFile === undefined || keyFile === undefined ? undefined : { certFile, keyFile },
    limits,
  };
}

/** `--max-message`: a size of 1 byte to 16 MiB. */
function parseMaxMessage(text: string): number {
  const bytes = parseSize("max-message", text);
  if (bytes > MAX_MAX_MESSAGE) throw new UsageError(`--max-message: at most 16MiB, not "${text}"`);
  return bytes;
}

/** Runs the server until SIGINT or SIGTERM; resolves with the exit code. */
export async function runServe(command: ServeCommand): Promise<number> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const encoder = new TextEncoder();
  try {
    const tls = command.tls === undefined ? undefined : {
      cert: await readPem("tls-cert", command.tls.certFile),
      key: await readPem("tls-key", command.tls.keyFile),
    };
    const server = await serve({
      hostname: command.hostname,
      port: command.port,
      dataDir: command.dataDir,
      ackTimeoutMs: command.ackTimeoutMs,
      maxQueue: command.maxQueue,
      roomReplay: command.roomReplay,
      historyDays: command.historyDays,
      historyCount: command.historyCount,
      directHistory: command.directHistory,
      maxMessage: command.maxMessage,
      maxFile: command.maxFile,
      fileQuota: command.fileQuota,
      auth: command.auth,
      logFormat: command.logFormat,
      io: command.io,
      logLevel: command.logLevel,
      log: (line) => Deno.stderr.writeSync(encoder.encode(line + "\n")),
      signal: stop.signal,
      limits: command.limits,
      ...(tls === undefined ? {} : { tls }),
    }).catch((error) => {
      // The address is not the certificate's fault.
      if (tls === undefined || error instanceof Deno.errors.AddrInUse) throw error;
      throw new Error(`Cannot serve TLS with this certificate and key: ${error.message}`, {
        cause: error,
      });
    });
    const { hostname, port } = server.addr;
    console.log(`listening ${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`);
    await server.finished;
    return 0;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}

async function readPem(flag: string, path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new Error(`Cannot read --${flag} ${path}: ${(error as Error).message}`, { cause: error });
  }
}
