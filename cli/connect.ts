// deno-lint-ignore-file no-console -- the CLI is where output belongs
import * as readline from "node:readline";
import process from "node:process";
import type { ClientEvent, SendResult, TinychatClient } from "../client.ts";
import { isRoom } from "../protocol/mod.ts";
import { defaultSaveDir } from "../files/save_dir.ts";
import { type ChatCommand, parseChatLine } from "./chat_command.ts";
import { sendFileCommand, startFileUi } from "./files_ui.ts";
import {
  CLIENT_FLAGS,
  parseChoice,
  parseDestination,
  parseFlags,
  parseInteger,
  parseName,
} from "./flags.ts";
import {
  renderAway,
  renderFate,
  renderMessage,
  renderNotice,
  type RenderOptions,
  renderPrompt,
  renderReceipt,
  renderRooms,
  renderWho,
} from "./render.ts";
import type { PasswordSource } from "./password.ts";
import { type ClientState, defaultStateRoot } from "./state.ts";
import { parseTlsFlags, type TlsFlags } from "./tls.ts";
import { UsageError } from "./usage_error.ts";
import { openSession } from "./session.ts";

/** Help text of `tinychat connect`. */
export const CONNECT_HELP = `tinychat connect: chat in the terminal.

Examples:
  tinychat connect --user alice
  tinychat connect --user alice --to bob --host chat.example --port 9000
  tinychat connect --user alice --to '#all'
  echo "deploy done" | tinychat connect --user ci --to alice

USAGE:
  tinychat connect --user NAME [OPTIONS]

OPTIONS:
  --user NAME        who you are (required)
  --to NAME|#ROOM    whom plain lines go to: a user, or a room such as '#all' (joined
                     if need be); required when standard input is not a terminal
  --host HOST        server address                          (default 127.0.0.1)
  --port PORT        server port                             (default 9000)
  --state DIR        client state: message ids, local log    (default: the platform's state directory)
  --color WHEN       auto, always or never; NO_COLOR honoured (default auto)
  --quiet            no terminal bell on a new message
  --save-dir DIR     where received files are saved   (default: your Downloads folder/tinychat)
  --tls              connect over TLS (the server runs with --tls-cert)
  --ca FILE          trust the CA certificate in FILE (PEM) too; implies --tls
  --password         ask for the password (no echo) before connecting
  --password-file F  the password is the first line of F; else TINYCHAT_PASSWORD, else
                     a prompt on the terminal when the server answers "401"
  -h, --help         show this help

IN THE CHAT:
  /to NAME           talk to NAME: plain lines go there
  /to #room          talk in a room (join it first)
  @NAME text         send one message to NAME (or @#room) without switching
  /send PATH         send a file to whom you talk to (a user or a room)
  /join #room        join a room (created if new); its last messages are shown
  /leave #room       leave a room (everybody stays in #all)
  /rooms             the server's rooms; * marks yours
  /who               who is online, and who else is known
  /who #room         the room's members
  /history NAME|#room [N]
                     the last N (default 20) messages, from the server (the local log
                     when offline, or without NAME)
  /help              this list
  /quit              leave (Ctrl-D too)
Room lines read "#room name: text". Times are the server's, in your time zone.
Tab completes commands, names and rooms.`;

const COMMANDS = [
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
  /** --save-dir; undefined: the platform's download folder + /tinychat. */
  saveDir: string | undefined;
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
  if (values.to !== undefined) parseDestination("to", values.to);
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
    saveDir: values["save-dir"],
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
  const { state, client } = await openSession(command);
  try {
    if (command.to !== undefined && isRoom(command.to) && command.to !== "#all") {
      // Talking in a room means being in it (everybody is in #all).
      await client.join(command.to).catch((error) =>
        console.error(`tinychat: ${error instanceof Error ? error.message : error}`)
      );
    }
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
        // Past messages a join replays, and the echo of our own room messages, are not news.
        if (event.replay || (event.room !== undefined && event.from === command.user)) continue;
        console.log(
          renderMessage(
            event.from,
            event.text.replaceAll("\n", " "),
            event.sentAt ?? event.at,
            { ...options, room: event.room },
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
  names.add("#all");
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
  const fail = (error: unknown) => print(`✗ ${error instanceof Error ? error.message : error}`);
  const line = (m: { from: string; text: string; at: Date; sentAt?: Date; room?: string }) =>
    renderMessage(m.from, m.text, m.sentAt ?? m.at, { ...options, room: m.room });

  const away: { from: string; text: string; at: Date; sentAt?: Date; room?: string }[] = [];
  let awayTimer: ReturnType<typeof setTimeout> | undefined;
  const flushAway = () => {
    awayTimer = undefined;
    if (away.length === 0) return;
    print(renderAway(away, options));
    for (const m of away.splice(0)) print(line(m));
  };

  const onEvent = (event: ClientEvent) => {
    switch (event.kind) {
      case "message":
        names.add(event.from);
        if (event.room !== undefined) names.add(event.room);
        if (event.replay) return print(line(event));
        void logReceived(state, event);
        if (event.stored) {
          away.push(event);
          clearTimeout(awayTimer);
          awayTimer = setTimeout(flushAway, AWAY_QUIET_MS);
          return;
        }
        // A room echoes our own messages: that is how we see them, with the server's time.
        if (!command.quiet && event.from !== command.user) process.stdout.write("\x07");
        return print(line(event));
      case "notice":
        names.add(event.user);
        return print(renderNotice(event, options));
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
  const files = startFileUi(client, print, {
    saveDir: command.saveDir ?? defaultSaveDir(),
    partialDir: `${state.dir}/partial`,
  });
  // Rooms for Tab completion; a server without rooms just does not answer.
  client.rooms().then((rooms) => rooms.forEach((r) => names.add(r.name)), () => {});

  const send = (to: string, text: string) => {
    names.add(to);
    client.send(to, text).then(
      (r) => {
        sentTexts.set(r.id, text);
        if (isRoom(to)) {
          // Accepted room messages show when the server echoes them.
          if (r.fate !== "delivered") print(renderRoomRefusal(r));
          return;
        }
        void state.append({ t: Date.now(), dir: "out", peer: to, id: r.id, text, fate: r.fate });
        print(renderFate(to, r.fate, text, new Date(), options));
      },
      fail,
    );
    void state.used(client.nextId);
  };

  const help = CONNECT_HELP.slice(CONNECT_HELP.indexOf("IN THE CHAT:"));
  const run = async (input: ChatCommand, raw: string): Promise<boolean> => {
    switch (input.kind) {
      case "empty":
        return true;
      case "quit":
        return false;
      case "help":
        print(help);
        return true;
      case "usage":
        print(input.message);
        return true;
      case "who":
        try {
          if (input.room === undefined) {
            const { online, away } = await client.who();
            for (const n of [...online, ...away]) names.add(n);
            print(renderWho(online, away, options));
          } else {
            const { online, away } = await client.members(input.room);
            for (const n of [...online, ...away]) names.add(n);
            print(`members of ${input.room}:\n${renderWho(online, away, options)}`);
          }
        } catch (error) {
          fail(error);
        }
        return true;
      case "rooms":
        try {
          const rooms = await client.rooms();
          for (const r of rooms) names.add(r.name);
          print(renderRooms(rooms, options));
        } catch (error) {
          fail(error);
        }
        return true;
      case "join":
        try {
          await client.join(input.room);
          names.add(input.room);
          print(`── joined ${input.room}; /to ${input.room} to talk there ──`);
        } catch (error) {
          fail(error);
        }
        return true;
      case "leave":
        try {
          await client.leave(input.room);
          print(`── left ${input.room} ──`);
          if (partner === input.room) {
            partner = undefined;
            rl.setPrompt(prompt());
          }
        } catch (error) {
          fail(error);
        }
        return true;
      case "to":
        partner = input.name;
        names.add(input.name);
        rl.setPrompt(prompt());
        return true;
      case "history":
        await showHistory(client, state, input, print, options);
        return true;
      case "file":
        if (partner === undefined) print("whom to? choose with /to NAME first");
        else void sendFileCommand(client, partner, input.path, print);
        return true;
      case "say":
        send(input.to, input.text);
        return true;
      case "text":
        if (partner === undefined) print("whom to? choose with /to NAME, or write @NAME text");
        else send(partner, raw);
        return true;
    }
  };

  rl.prompt();
  for await (const raw of rl) {
    if (!await run(parseChatLine(raw), raw)) break;
    rl.prompt();
  }
  rl.close();
  const unanswered = await client.settle(3000);
  if (unanswered > 0) console.error(`${unanswered} message(s) unanswered; they were not confirmed`);
  await files.stop();
  await client.close();
  await events;
  return 0;
}

/**
 * /history: from the server when online and a name is given; else (or when the server cannot
 * answer) from the local log.
 */
async function showHistory(
  client: TinychatClient,
  state: ClientState,
  input: { target?: string; count: number },
  print: (text: string) => void,
  options: RenderOptions,
): Promise<void> {
  if (input.target !== undefined && client.online) {
    try {
      const entries = await client.history(input.target, { limit: input.count });
      if (entries.length === 0) print(`── no history with ${input.target} ──`);
      for (const e of entries) {
        print(renderMessage(e.from, e.text, e.sentAt, {
          ...options,
          room: isRoom(e.to) ? e.to : undefined,
        }));
      }
      return;
    } catch (error) {
      print(`✗ ${error instanceof Error ? error.message : error}; the local log instead:`);
    }
  }
  const entries = await state.history(input.target, input.count);
  if (entries.length === 0) print("── nothing in the local log ──");
  for (const e of entries) {
    const at = new Date(e.t);
    const room = isRoom(e.peer) ? e.peer : undefined;
    if (e.dir === "in") {
      print(renderMessage(e.from ?? e.peer, e.text, at, { ...options, room }));
    } else if (e.dir === "out") print(renderFate(e.peer, e.fate ?? "sent", e.text, at, options));
  }
}

/** Why a room did not take our message, as a line. */
function renderRoomRefusal(r: SendResult): string {
  const why = r.code === "403"
    ? `you are not a member: /join ${r.to}`
    : r.code === "404"
    ? `no such room: /join ${r.to} creates it`
    : r.fate;
  return `✗ not sent to ${r.to} (${r.code}: ${why})`;
}

/** Appends a received message to the local log, with the time it was sent. */
function logReceived(state: ClientState, event: Extract<ClientEvent, { kind: "message" }>) {
  return state.append({
    t: (event.sentAt ?? event.at).getTime(),
    dir: "in",
    peer: event.room ?? event.from,
    ...(event.room === undefined ? {} : { from: event.from }),
    id: event.id,
    text: event.text,
    stored: event.stored,
  });
}

/**
 * Tab completion: commands at the start; names and rooms after /to, /history and @; rooms
 * after /join, /leave and /who.
 */
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
  if (/^\/(to|history) \S*$/.test(line)) return [names.filter((n) => n.startsWith(word)), word];
  if (/^\/(join|leave|who) \S*$/.test(line)) {
    const rooms = names.filter(isRoom);
    return [rooms.filter((n) => n.startsWith(word) || n.slice(1).startsWith(word)), word];
  }
  return [[], line];
}

function useColor(when: "auto" | "always" | "never", terminal: boolean): boolean {
  if (when !== "auto") return when === "always";
  const noColor = Deno.env.get("NO_COLOR");
  return terminal && (noColor === undefined || noColor === "");
}
