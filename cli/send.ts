// deno-lint-ignore-file no-console -- the CLI is where output belongs
import type { SendResult } from "../client.ts";
import {
  CLIENT_FLAGS,
  parseDestination,
  parseDuration,
  parseFlags,
  parseInteger,
  parseName,
} from "./flags.ts";
import type { PasswordSource } from "./password.ts";
import { defaultStateRoot } from "./state.ts";
import { runSendFile } from "./send_file.ts";
import { parseTlsFlags, type TlsFlags } from "./tls.ts";
import { UsageError } from "./usage_error.ts";
import { openSession } from "./session.ts";

/** Help text of `tinychat send`. */
export const SEND_HELP = `tinychat send: send messages from a script and report their fate.

Examples:
  tinychat send --user alice --to bob "the build is green"
  git log -1 --format=%s | tinychat send --user ci --to alice
  tinychat send --user alice --to bob --json "hi" | jq .fate
  tinychat send --user alice --to bob --file photo.png

USAGE:
  tinychat send --user NAME --to NAME [OPTIONS] [TEXT...]
  tinychat send --user NAME --to NAME --file PATH [OPTIONS]

Without TEXT, each line of standard input is one message. With --file, the file goes through
the server (kept there for an offline recipient): "stored" (3) until the recipient downloads it.
A name with a password: --password-file F, or TINYCHAT_PASSWORD, or on a terminal the prompt
that comes when the server answers "401".

OPTIONS:
  --user NAME      who you are (required)
  --to NAME        the recipient: a user, or a room such as '#all' (required)
  --host HOST      server address                        (default 127.0.0.1)
  --port PORT      server port                           (default 9000)
  --state DIR      client state (message ids, local log) (default: the platform's state directory)
  --timeout TIME   how long to wait for the answers      (default 10s)
                   (with --file: the longest time without progress)
  --file PATH      send this file instead of text (a progress bar on a terminal)
  --json           print one JSON object per event
  --tls            connect over TLS (the server runs with --tls-cert)
  --ca FILE        trust the CA certificate in FILE (PEM) too; implies --tls
  --password       ask for the password (no echo) before connecting
  --password-file F
                   the password is the first line of F
  -h, --help       show this help

EXIT STATUS:
  0 all delivered, 3 some stored for later ("300"), 4 unknown recipient, 1 other errors, 2 usage.`;

/** What `tinychat send` was asked to do. */
export interface SendCommand {
  help: boolean;
  user: string;
  to: string;
  host: string;
  port: number;
  stateRoot: string;
  timeoutMs: number;
  json: boolean;
  texts: string[];
  /** --file: send this file instead of text. */
  file: string | undefined;
  /** --password-file and --password. */
  password: PasswordSource;
  /** --tls and --ca. */
  tls: TlsFlags;
}

/** Parses the arguments of `tinychat send`; throws `UsageError`. */
export function parseSendArgs(args: string[]): SendCommand {
  const { values, positionals } = parseFlags("send", args, {
    ...CLIENT_FLAGS,
    timeout: { type: "string", default: "10s" },
    json: { type: "boolean", default: false },
    file: { type: "string" },
  });
  if (values.file !== undefined && positionals.length > 0) {
    throw new UsageError("send: give either TEXT or --file, not both");
  }
  if (!values.help && values.user === undefined) throw new UsageError("send: --user is required");
  if (!values.help && values.to === undefined) throw new UsageError("send: --to is required");
  return {
    help: values.help,
    user: values.help ? "" : parseName("user", values.user!),
    to: values.help ? "" : parseDestination("to", values.to!),
    host: values.host,
    port: parseInteger("port", values.port, 1, 65535),
    stateRoot: values.state ?? defaultStateRoot(),
    timeoutMs: parseDuration("timeout", values.timeout),
    json: values.json,
    texts: positionals.length > 0 ? [positionals.join(" ")] : [],
    file: values.file,
    password: { file: values["password-file"], prompt: values.password },
    tls: parseTlsFlags(values),
  };
}

/** Sends, waits for every answer (bounded), prints them; resolves with the exit code. */
export async function runSend(command: SendCommand): Promise<number> {
  if (command.file !== undefined) return await runSendFile({ ...command, file: command.file });
  const texts = command.texts.length > 0 ? command.texts : await readLines();
  const { state, client } = await openSession(command, () => ({
    reconnect: false,
    // From the login on: time at a password prompt does not count.
    signal: AbortSignal.timeout(command.timeoutMs),
  }));
  let status = 0;
  try {
    const sends: Promise<SendResult>[] = [];
    for (const text of texts) {
      if (text === "") continue;
      sends.push(client.send(command.to, text));
      await state.used(client.nextId);
    }
    const results = await Promise.allSettled(sends);
    results.forEach((result, i) => {
      const text = texts.filter((t) => t !== "")[i]!;
      if (result.status === "rejected") {
        status = 1;
        report(command, {
          event: "error",
          to: command.to,
          error: String(result.reason?.message ?? result.reason),
        });
        return;
      }
      const { id, to, fate, code } = result.value;
      void state.append({ t: Date.now(), dir: "out", peer: to, id, text, fate });
      status = worse(
        status,
        fate === "delivered" ? 0 : fate === "stored" ? 3 : fate === "unknown user" ? 4 : 1,
      );
      report(command, { event: "sent", id, to, fate, code });
    });
  } finally {
    await client.close();
    await state.close(client.nextId);
  }
  return status;
}

function report(command: SendCommand, event: Record<string, string | number>): void {
  if (command.json) return console.log(JSON.stringify(event));
  if (event.event === "error") return console.error(`tinychat: ${event.error}`);
  const line = `${event.to}: ${event.fate} (${event.code}, id ${event.id})`;
  if (event.fate === "delivered" || event.fate === "stored") console.log(line);
  else console.error(line);
}

/** Exit statuses by severity: 1 (error) > 4 (unknown) > 3 (stored) > 0. */
function worse(a: number, b: number): number {
  const rank = (s: number) => [0, 3, 4, 1].indexOf(s);
  return rank(b) > rank(a) ? b : a;
}

async function readLines(): Promise<string[]> {
  const text = await new Response(Deno.stdin.readable).text();
  return text.split("\n").map((line) => line.replace(/\r$/, ""));
}
