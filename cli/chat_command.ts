/**
 * What a line typed in `tinychat connect` asks for: a pure parser, so that the chat loop is a
 * switch and the syntax is tested without a terminal.
 *
 * @module
 */
import { destinationProblem } from "../client_rooms.ts";
import { roomProblem } from "../protocol/mod.ts";

/** A typed line, parsed. */
export type ChatCommand =
  | { kind: "empty" }
  | { kind: "quit" }
  | { kind: "help" }
  /** `/who`: everybody; `/who #dev`: the room's members. */
  | { kind: "who"; room?: string }
  | { kind: "to"; name: string }
  | { kind: "join"; room: string }
  | { kind: "leave"; room: string }
  | { kind: "rooms" }
  /** `/history [NAME|#room] [N]`. */
  | { kind: "history"; target?: string; count: number }
  /** `/send PATH`: a file to the current partner. */
  | { kind: "file"; path: string }
  /** `@NAME text`: one message to NAME. */
  | { kind: "say"; to: string; text: string }
  /** A plain line, for the current partner. */
  | { kind: "text"; text: string }
  /** A mistyped command: what to print. */
  | { kind: "usage"; message: string };

/** Lines `/history` shows when no N is given. */
export const DEFAULT_HISTORY = 20;
/** The most lines `/history` asks for (the server's cap). */
export const MAX_HISTORY = 500;

/**
 * Parses one input line. Room names may omit their "#" after /join, /leave and /who.
 *
 * @example
 * ```ts
 * import { parseChatLine } from "./chat_command.ts";
 * parseChatLine("/join dev"); // { kind: "join", room: "#dev" }
 * parseChatLine("@#dev hi all"); // { kind: "say", to: "#dev", text: "hi all" }
 * ```
 */
export function parseChatLine(line: string): ChatCommand {
  const input = line.trim();
  if (input === "") return { kind: "empty" };
  if (input.startsWith("@")) {
    const space = input.search(/\s/);
    if (space < 0) return { kind: "usage", message: "usage: @NAME text" };
    const to = input.slice(1, space);
    const problem = destinationProblem(to);
    if (problem !== undefined) return { kind: "usage", message: `✗ "${to}" ${problem}` };
    return { kind: "say", to, text: input.slice(space + 1).trimStart() };
  }
  if (!input.startsWith("/")) return { kind: "text", text: line };
  const [command = "", ...words] = input.split(/\s+/);
  const rest = input.slice(command.length).trim();
  switch (command) {
    case "/quit":
      return { kind: "quit" };
    case "/help":
      return { kind: "help" };
    case "/rooms":
      return { kind: "rooms" };
    case "/who": {
      if (words.length === 0) return { kind: "who" };
      const room = roomArgument(words, "/who [#room]");
      return typeof room === "string" ? { kind: "who", room } : room;
    }
    case "/join":
    case "/leave": {
      const room = roomArgument(words, `${command} #room`);
      if (typeof room !== "string") return room;
      return command === "/join" ? { kind: "join", room } : { kind: "leave", room };
    }
    case "/to": {
      const name = words[0];
      if (name === undefined || words.length > 1 || destinationProblem(name) !== undefined) {
        return { kind: "usage", message: "usage: /to NAME or /to #room" };
      }
      return { kind: "to", name };
    }
    case "/history":
      return parseHistory(words);
    case "/send":
      return rest === "" ? { kind: "usage", message: "usage: /send PATH" } : {
        kind: "file",
        path: rest,
      };
    default:
      return { kind: "usage", message: `unknown command ${command}; /help lists them` };
  }
}

function roomArgument(words: string[], usage: string): string | ChatCommand {
  const word = words[0];
  if (word === undefined || words.length > 1) return { kind: "usage", message: `usage: ${usage}` };
  const room = word.startsWith("#") ? word : `#${word}`;
  const problem = roomProblem(room);
  if (problem !== undefined) return { kind: "usage", message: `✗ "${room}" ${problem}` };
  return room;
}

function parseHistory(words: string[]): ChatCommand {
  const usage = { kind: "usage", message: "usage: /history [NAME|#room] [N]" } as const;
  if (words.length > 2) return usage;
  let target: string | undefined;
  let count = DEFAULT_HISTORY;
  for (const [i, word] of words.entries()) {
    if (/^\d+$/.test(word)) {
      if (i !== words.length - 1) return usage;
      count = Math.min(Math.max(Number(word), 1), MAX_HISTORY);
    } else if (i === 0 && destinationProblem(word) === undefined) target = word;
    else return usage;
  }
  return target === undefined ? { kind: "history", count } : { kind: "history", target, count };
}
