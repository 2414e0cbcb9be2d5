// deno-lint-ignore-file no-console -- the CLI is where output belongs
import * as readline from "node:readline";
import process from "node:process";
import { type ClientEvent, connect, type TinychatClient } from "../client.ts";
import { nameProblem } from "../protocol/mod.ts";
import { CLIENT_FLAGS, parseChoice, parseFlags, parseInteger, parseName } from "./flags.ts";
import {
  renderAway,
  renderFate,
  renderMessage,
  type RenderOptions,
  renderPrompt,
  renderReceipt,
  renderWho,
} from "./render.ts";
import { loginWithPassword, type PasswordSource } from "./password.ts";
import { ClientState, defaultStateRoot } from "./state.ts";
import { parseTlsFlags, tlsConnectOptions, type TlsFlags } from "./tls.ts";
import { UsageError } from "./usage_error.ts";

/** Help text of `tinychat connect`. */
export const CONNECT_HELP = `tinychat connect: chat in the terminal.

Examples:
  tinychat connect --user alice
  tinychat connect --user alice --to bob --host chat.example --port 9000
  echo "deploy done" | tinychat connect --user ci --to alice

USAGE:
  tinychat connect --user NAME [OPTIONS]

OPTIONS:
  --user NAME        who you are (required)
  --to NAME          whom plain lines go to (required when standard input is not a terminal)
  --host HOST        server address                          (default 127.0.0.1)
  --port PORT        server port                             (default 9000)
  --state DIR        client state: message ids, local log    (default: the platform's state directory)
  --color WHEN       auto, always or never; NO_COLOR honoured (default auto)
  --quiet            no terminal bell on a new message
  --tls              connect over TLS (the server runs with --tls-cert)
  --ca FILE          trust the CA certificate in FILE (PEM) too; implies --tls
  --password         ask for the password (no echo) before connecting
  --password-file F  the password is the first line of F; else TINYCHAT_PASSWORD, else
                     a prompt on the terminal when the server answers "401"
  -h, --help         show this help

IN THE CHAT:
  /to NAME           talk to NAME: plain lines go there
  /who               who is online, and who else is known
  @NAME text         send one message to NAME without switching
  /history [NAME] [N]  the last N (default 20) lines of the local log
  /help              this list
  /quit              leave (Ctrl-D too)
Tab completes commands and names.`;

const COMMANDS = ["/to ", "/who", "/history ", "/help", "/quit"];
const AWAY_QUIET_MS = 250;

/** What `tinychat connect` was asked to do. */
export interface ConnectCommand {
  help: boolean;
  user: string;
  to: string | undefined;
  host: string;
  port: number;
  stateRoot: string;
  color: "auto" | "always" | "never";
  quiet: boolean;
  /** --password-file and --password. */
  password: PasswordSource;
  /** --tls and --ca. */
  tls: TlsFlags;
}

/** Parses the arguments of `tinychat connect`; throws `UsageError`. */
export function parseConnectArgs(args: string[]): ConnectCommand {
  const { values, positionals } = parseFlags("connect", args, {
    ...CLIENT_FLAGS,
    color: { type: "string", default: "auto" },
    quiet: { type: "boolean", default: false },
  });
  if (positionals.length > 0) {
    throw new UsageError(`connect: unexpected argument "${positionals[0]}"`);
  }
  if (!values.help && values.user === undefined) {
    throw new UsageError("connect: --user is required");
  }
  if (values.to !== undefined) parseName("to", values.to);
  if (values.user !== undefined) parseName("user", values.user);
  return {
    help: values.help,
    user: values.user ?? "",
    to: values.to,
    host: values.host,
    port: parseInteger("port", values.port, 1, 65535),
    stateRoot: values.state ?? defaultStateRoot(),
    color: parseChoice("color", values.color, ["auto", "always", "never"] as const),
    quiet: values.quiet,
    password: { file: values["password-file"], prompt: values.password },
    tls: parseTlsFlags(values),
  };
}

/** Runs a chat session; resolves with the exit code. */
export async function runConnect(command: ConnectCommand): Promise<number> {
  const interactive = Deno.stdin.isTerminal();
  if (!interactive && command.to === undefined) {
    throw new UsageError("connect: --to is required when standard input is not a terminal");
  }
  const state = await ClientState.open(command.stateRoot, command.host, command.port, command.user);
  const tls = await tlsConnectOptions(command.tls);
  const client = await loginWithPassword(command.user, command.password, (password) =>
    connect({
      user: command.user,
      host: command.host,
      port: command.port,
      ...tls,
      firstId: state.firstId,
      ...(password === undefined ? {} : { password }),
    }));
  try {
    return interactive ? await chat(client, state, command) : await pipe(client, state, command);
  } finally {
    await client.close();
    await state.close(client.nextId);
  }
}

/** Non-interactive: each input line goes to --to; each message received is printed on one line. */
async function pipe(
  client: TinychatClient,
  state: ClientState,
  command: ConnectCommand,
): Promise<number> {
  const options: RenderOptions = { color: useColor(command.color, false), me: command.user };
  const printing = (async () => {
    for await (const event of client.events()) {
      if (event.kind === "message") {
        console.log(
          renderMessage(
            event.from,
            event.text.replaceAll("\n", " "),
            event.sentAt ?? event.at,
            options,
          ),
        );
        void logReceived(state, event);
      } else if (event.kind === "disconnected") {
        console.error(`tinychat: connection lost (${event.reason})`);
      } else if (event.kind === "closed" && event.reason !== "closed") {
        console.error(`tinychat: session ended (${event.reason})`);
      }
    }
  })();
  let failed = false;
  const sends: Promise<void>[] = [];
  const lines = readline.createInterface({ input: process.stdin, terminal: false });
  for await (const line of lines) {
    if (line === "") continue;
    sends.push(
      client.send(command.to!, line).then(
        (r) => {
          if (r.fate !== "delivered" && r.fate !== "stored") failed = true;
          console.error(`tinychat: ${r.to}: ${r.fate} (${r.code}, id ${r.id})`);
          return state.append({
            t: Date.now(),
            dir: "out",
            peer: r.to,
            id: r.id,
            text: line,
            fate: r.fate,
          });
        },
        (error) => {
          failed = true;
          console.error(`tinychat: ${error instanceof Error ? error.message : error}`);
        },
      ),
    );
    await state.used(client.nextId);
  }
  const unanswered = await client.settle(10_000);
  if (unanswered > 0) console.error(`tinychat: ${unanswered} message(s) still unanswered`);
  await client.close();
  await Promise.allSettled(sends);
  await printing;
  return failed || unanswered > 0 ? 1 : 0;
}

/** Interactive: a prompt that keeps what you type intact while messages arrive above it. */
async function chat(
  client: TinychatClient,
  state: ClientState,
  command: ConnectCommand,
): Promise<number> {
  const options: RenderOptions = {
    color: useColor(command.color, Deno.stdout.isTerminal()),
    me: command.user,
  };
  const names = new Set(await state.peers());
  const sentTexts = new Map<number, string>();
  let partner = command.to;
  const rl = readline.createInterface({
    input: process.stdin,
    output: process.stdout,
    terminal: true,
    completer: (line: string) => complete(line, [...names]),
  });
  const prompt = () => renderPrompt(command.user, partner, options);
  rl.setPrompt(prompt());

  // Draws `text` above the input line, then redraws the prompt with what was being typed.
  // readline's redraw starts by moving up `prevRows`, the cursor row it drew last; that can lag
  // behind the real row (it misses a wrap caused by a wide character at the edge), so we move up
  // by the real row and leave `prevRows` newlines below `text` for its redraw to climb back.
  const print = (text: string) => {
    const out = process.stdout;
    const rows = rl.getCursorPos().rows;
    const drawn = (rl as unknown as { prevRows?: unknown }).prevRows;
    readline.moveCursor(out, 0, -rows);
    readline.cursorTo(out, 0);
    readline.clearScreenDown(out);
    out.write(text + "\n".repeat(1 + (typeof drawn === "number" ? drawn : rows)));
    rl.prompt(true);
  };

  const away: { from: string; text: string; at: Date; sentAt?: Date }[] = [];
  let awayTimer: ReturnType<typeof setTimeout> | undefined;
  const flushAway = () => {
    awayTimer = undefined;
    if (away.length === 0) return;
    print(renderAway(away, options));
    for (const m of away.splice(0)) print(renderMessage(m.from, m.text, m.sentAt ?? m.at, options));
  };

  const onEvent = (event: ClientEvent) => {
    switch (event.kind) {
      case "message":
        names.add(event.from);
        void logReceived(state, event);
        if (event.stored) {
          away.push(event);
          clearTimeout(awayTimer);
          awayTimer = setTimeout(flushAway, AWAY_QUIET_MS);
          return;
        }
        if (!command.quiet) process.stdout.write("\x07");
        return print(renderMessage(event.from, event.text, event.at, options));
      case "receipt":
        void state.append({
          t: event.at.getTime(),
          dir: "receipt",
          peer: event.to,
          id: event.id,
          text: "",
        });
        return print(renderReceipt(event.to, sentTexts.get(event.id), event.at, options));
      case "disconnected":
        return print(`── connection lost (${event.reason}); reconnecting… ──`);
      case "reconnected":
        return print(
          `── back online${client.unanswered > 0 ? `; resending ${client.unanswered}` : ""} ──`,
        );
      case "closed":
        // Ended by the server (a TAKEOVER, or a refused reconnect): there is no session to type in.
        if (event.reason === "closed") return;
        print(`── session ended: ${event.reason} ──`);
        rl.close();
        return;
    }
  };
  const events = (async () => {
    for await (const event of client.events()) onEvent(event);
  })();

  print(
    `── logged in as ${command.user} at ${command.host}:${command.port}; /help for commands ──`,
  );
  awayTimer = setTimeout(flushAway, AWAY_QUIET_MS);

  const send = (to: string, text: string) => {
    if (nameProblem(to) !== undefined) return print(`✗ "${to}" is not a valid name`);
    names.add(to);
    client.send(to, text).then(
      (r) => {
        sentTexts.set(r.id, text);
        void state.append({ t: Date.now(), dir: "out", peer: to, id: r.id, text, fate: r.fate });
        print(renderFate(to, r.fate, text, new Date(), options));
      },
      (error) => print(`✗ ${error instanceof Error ? error.message : error}`),
    );
    void state.used(client.nextId);
  };

  const help = CONNECT_HELP.slice(CONNECT_HELP.indexOf("IN THE CHAT:"));
  rl.prompt();
  for await (const line of rl) {
    const input = line.trim();
    if (input === "") {
      rl.prompt();
      continue;
    }
    if (input === "/quit") break;
    if (input === "/help") print(help);
    else if (input === "/who") {
      try {
        const { online, away } = await client.who();
        for (const n of [...online, ...away]) names.add(n);
        print(renderWho(online, away, options));
      } catch (error) {
        print(`✗ ${error instanceof Error ? error.message : error}`);
      }
    } else if (/^\/to(\s|$)/.test(input)) {
      const name = input.slice(3).trim();
      if (nameProblem(name) !== undefined) print(`usage: /to NAME`);
      else {
        partner = name;
        names.add(name);
        rl.setPrompt(prompt());
      }
    } else if (/^\/history(\s|$)/.test(input)) {
      const [a, b] = input.slice(8).trim().split(/\s+/).filter((w) => w !== "");
      const peer = a !== undefined && !/^\d+$/.test(a) ? a : undefined;
      const count = Number((peer === undefined ? a : b) ?? 20);
      for (const e of await state.history(peer, count)) {
        const at = new Date(e.t);
        if (e.dir === "in") print(renderMessage(e.peer, e.text, at, options));
        else if (e.dir === "out") print(renderFate(e.peer, e.fate ?? "sent", e.text, at, options));
      }
    } else if (input.startsWith("/")) {
      print(`unknown command ${input.split(" ")[0]}; /help lists them`);
    } else if (input.startsWith("@")) {
      const space = input.indexOf(" ");
      if (space < 0) print("usage: @NAME text");
      else send(input.slice(1, space), input.slice(space + 1));
    } else if (partner === undefined) print("whom to? choose with /to NAME, or write @NAME text");
    else send(partner, line);
    rl.prompt();
  }
  rl.close();
  const unanswered = await client.settle(3000);
  if (unanswered > 0) console.error(`${unanswered} message(s) unanswered; they were not confirmed`);
  await client.close();
  await events;
  return 0;
}

/** Appends a received message to the local log. */
function logReceived(state: ClientState, event: Extract<ClientEvent, { kind: "message" }>) {
  return state.append({
    t: event.at.getTime(),
    dir: "in",
    peer: event.from,
    id: event.id,
    text: event.text,
    stored: event.stored,
  });
}

/** Tab completion: commands at the start, names after /to, @ or /history. */
export function complete(line: string, names: string[]): [string[], string] {
  if (line.startsWith("/") && !line.includes(" ")) {
    const hits = COMMANDS.filter((c) => c.startsWith(line));
    return [hits.length > 0 ? hits : COMMANDS, line];
  }
  const word = line.slice(line.lastIndexOf(" ") + 1);
  if (word.startsWith("@")) {
    const hits = names.filter((n) => n.startsWith(word.slice(1))).map((n) => `@${n} `);
    return [hits, word];
  }
  if (/^\/(to|history) /.test(line)) return [names.filter((n) => n.startsWith(word)), word];
  return [[], line];
}

function useColor(when: "auto" | "always" | "never", terminal: boolean): boolean {
  if (when !== "auto") return when === "always";
  const noColor = Deno.env.get("NO_COLOR");
  return terminal && (noColor === undefined || noColor === "");
}
