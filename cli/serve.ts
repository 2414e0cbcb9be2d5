// deno-lint-ignore-file no-console -- the CLI is where output belongs
import { serve } from "../server.ts";
import type { LogLevel } from "../core/server_core.ts";
import { parseChoice, parseDuration, parseFlags, parseInteger } from "./flags.ts";
import { UsageError } from "./usage_error.ts";

/** Help text of `tinychat serve`. */
export const SERVE_HELP = `tinychat serve: run the tinychat server.

Examples:
  tinychat serve
  tinychat serve --port 0 --data /var/lib/tinychat
  tinychat serve --host 0.0.0.0 --port 9000 --ack-timeout 5s --log-format json

USAGE:
  tinychat serve [OPTIONS]

OPTIONS:
  --host HOST          address to listen on                          (default 127.0.0.1)
  --port PORT          TCP port; 0 picks a free one                  (default 9000)
  --data DIR           data directory (SQLite store, created)        (default ./tinychat-data)
  --ack-timeout TIME   time a recipient has to acknowledge, e.g. 3s  (default 3s)
  --max-queue N        stored messages per recipient; beyond: "507"  (default 100000)
  --log-format FORMAT  text or json (one object per line)            (default text)
  --log-level LEVEL    debug, info, warn or error                    (default info)
  -h, --help           show this help

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
  logFormat: "text" | "json";
  logLevel: LogLevel;
}

/** Parses the arguments of `tinychat serve`; throws `UsageError`. */
export function parseServeArgs(args: string[]): ServeCommand {
  const { values, positionals } = parseFlags("serve", args, {
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "9000" },
    data: { type: "string", default: "./tinychat-data" },
    "ack-timeout": { type: "string", default: "3s" },
    "max-queue": { type: "string", default: "100000" },
    "log-format": { type: "string", default: "text" },
    "log-level": { type: "string", default: "info" },
    help: { type: "boolean", short: "h", default: false },
  });
  if (positionals.length > 0) {
    throw new UsageError(`serve: unexpected argument "${positionals[0]}"`);
  }
  if (values.data === "") throw new UsageError("--data: must not be empty");
  return {
    help: values.help,
    hostname: values.host,
    port: parseInteger("port", values.port, 0, 65535),
    dataDir: values.data,
    ackTimeoutMs: parseDuration("ack-timeout", values["ack-timeout"]),
    maxQueue: parseInteger("max-queue", values["max-queue"], 1, 1e9),
    logFormat: parseChoice("log-format", values["log-format"], ["text", "json"] as const),
    logLevel: parseChoice(
      "log-level",
      values["log-level"],
      ["debug", "info", "warn", "error"] as const,
    ),
  };
}

/** Runs the server until SIGINT or SIGTERM; resolves with the exit code. */
export async function runServe(command: ServeCommand): Promise<number> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const encoder = new TextEncoder();
  try {
    const server = await serve({
      hostname: command.hostname,
      port: command.port,
      dataDir: command.dataDir,
      ackTimeoutMs: command.ackTimeoutMs,
      maxQueue: command.maxQueue,
      logFormat: command.logFormat,
      logLevel: command.logLevel,
      log: (line) => Deno.stderr.writeSync(encoder.encode(line + "\n")),
      signal: stop.signal,
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
