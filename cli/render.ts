/**
 * Terminal rendering as pure functions: an event in, the text of its line(s) out. No I/O here;
 * the commands write what these return.
 */
import { isRoom } from "../protocol/mod.ts";

/** How lines are drawn. */
export interface RenderOptions {
  /** Use ANSI colours. */
  color: boolean;
  /** The local user's name. */
  me: string;
  /** Formats a time as HH:MM in the reader's time zone. Default: the system's zone. */
  clock?: (at: Date) => string;
  /** "Now", which decides whether a time is today (HH:MM) or needs its date. Default: the clock. */
  now?: Date;
}

/** Options of `renderMessage`. */
export interface MessageOptions extends RenderOptions {
  /** The room the message went to, shown before the sender: `#dev alice: text`. */
  room?: string | undefined;
}

const PALETTE = [31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96];

/** HH:MM of `at` in the local time zone. */
export function localClock(at: Date): string {
  return `${String(at.getHours()).padStart(2, "0")}:${String(at.getMinutes()).padStart(2, "0")}`;
}

/** `name` in its own stable colour. */
export function paintName(name: string, options: RenderOptions): string {
  if (!options.color) return name;
  let hash = 0;
  for (let i = 0; i < name.length; i++) hash = (hash * 31 + name.charCodeAt(i)) >>> 0;
  return `\x1b[${PALETTE[hash % PALETTE.length]}m${name}\x1b[0m`;
}

function dim(text: string, options: RenderOptions): string {
  return options.color ? `\x1b[2m${text}\x1b[0m` : text;
}

/** Removes control characters (terminal escapes included) from text that came from a peer. */
export function sanitize(text: string): string {
  // deno-lint-ignore no-control-regex -- matching control characters is the point
  return text.replaceAll(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, "\ufffd");
}

/**
 * A message: `[HH:MM] bob: text`, or `[HH:MM] #dev bob: text` for a room; the date comes too
 * when `at` is not today. Continuation lines are indented.
 */
export function renderMessage(
  from: string,
  text: string,
  at: Date,
  options: MessageOptions,
): string {
  const clock = renderSince(at, options, options.now);
  const indent = " ".repeat(displayWidth(clock) + 3);
  const body = sanitize(text).split("\n").join(`\n${indent}`);
  const room = options.room === undefined ? "" : `${paintName(options.room, options)} `;
  return `${dim(`[${clock}]`, options)} ${room}${paintName(from, options)}: ${body}`;
}

/** A room's join or leave notice: `[HH:MM] ── bob joined #dev ──`. */
export function renderNotice(
  notice: { room: string; user: string; what: string; at: Date },
  options: RenderOptions,
): string {
  const clock = renderSince(notice.at, options, options.now);
  const line = `── ${paintName(notice.user, options)} ${notice.what} ${
    paintName(notice.room, options)
  } ──`;
  return `${dim(`[${clock}]`, options)} ${line}`;
}

/** The answer to /rooms: one room a line, with its member count; the ones we are in marked. */
export function renderRooms(
  rooms: { name: string; members: number; member: boolean }[],
  options: RenderOptions,
): string {
  if (rooms.length === 0) return "no rooms";
  const width = Math.max(...rooms.map((r) => displayWidth(r.name)));
  return rooms.map((r) => {
    const pad = " ".repeat(width - displayWidth(r.name));
    const noun = r.members === 1 ? "member" : "members";
    return `${r.member ? "*" : " "} ${paintName(r.name, options)}${pad}  ${r.members} ${noun}${
      r.member ? dim("  (joined)", options) : ""
    }`;
  }).join("\n");
}

/** What became of a message we sent, as a line. */
export function renderFate(
  to: string,
  fate: string,
  text: string,
  at: Date,
  options: RenderOptions,
): string {
  const clock = (options.clock ?? localClock)(at);
  const mark = fate === "delivered"
    ? "✓ delivered"
    : fate === "stored"
    ? `… stored: ${to} gets it at next login`
    : fate === "unknown user"
    ? `✗ ${to} is not a ${isRoom(to) ? "room" : "user"} here`
    : `✗ not sent (${fate})`;
  return `${dim(`[${clock}]`, options)} ${paintName(options.me, options)} → ${
    paintName(to, options)
  }: ${sanitize(text)}  ${dim(mark, options)}`;
}

/** A late receipt for a stored message. */
export function renderReceipt(
  to: string,
  text: string | undefined,
  at: Date,
  options: RenderOptions,
): string {
  const clock = (options.clock ?? localClock)(at);
  const what = text === undefined ? "your message" : `"${truncate(sanitize(text), 30)}"`;
  return `${dim(`[${clock}]`, options)} ✓ ${paintName(to, options)} received ${what}`;
}

/**
 * The "while you were away" summary of stored messages (who, how many, since when), or "" when
 * there were none.
 */
export function renderAway(
  stored: { from: string; sentAt?: Date }[],
  options: RenderOptions,
): string {
  if (stored.length === 0) return "";
  const times = stored.flatMap((m) => m.sentAt === undefined ? [] : [m.sentAt.getTime()]);
  const since = times.length === 0
    ? ""
    : ` since ${renderSince(new Date(Math.min(...times)), options)}`;
  const counts = new Map<string, number>();
  for (const m of stored) counts.set(m.from, (counts.get(m.from) ?? 0) + 1);
  const who = [...counts].map(([name, n]) => `${paintName(name, options)} (${n})`).join(", ");
  const noun = stored.length === 1 ? "message" : "messages";
  return `── while you were away: ${stored.length} ${noun} from ${who}${since} ──`;
}

/** A past time: HH:MM today, else the date too (YYYY-MM-DD HH:MM), in the reader's time zone. */
export function renderSince(
  at: Date,
  options: RenderOptions,
  now: Date = options.now ?? new Date(),
): string {
  const clock = (options.clock ?? localClock)(at);
  const sameDay = at.getFullYear() === now.getFullYear() && at.getMonth() === now.getMonth() &&
    at.getDate() === now.getDate();
  if (sameDay) return clock;
  const date = `${at.getFullYear()}-${String(at.getMonth() + 1).padStart(2, "0")}-${
    String(at.getDate()).padStart(2, "0")
  }`;
  return `${date} ${clock}`;
}

/** The answer to /who. */
export function renderWho(online: string[], away: string[], options: RenderOptions): string {
  const list = (names: string[]) =>
    names.length === 0 ? "nobody" : names.map((n) => paintName(n, options)).join(", ");
  return `online: ${list(online)}\naway:   ${list(away)}`;
}

/** The input prompt: who you are and whom you talk to. */
export function renderPrompt(me: string, to: string | undefined, options: RenderOptions): string {
  return `${paintName(me, options)}${to === undefined ? "" : ` → ${paintName(to, options)}`}> `;
}

/** Columns `text` takes on a terminal: wide (CJK, emoji) characters take 2, combining marks 0. */
export function displayWidth(text: string): number {
  let width = 0;
  // deno-lint-ignore no-control-regex -- strips our own colour escapes
  for (const char of text.replaceAll(/\x1b\[[0-9;]*m/g, "")) {
    const cp = char.codePointAt(0)!;
    if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) continue;
    if (/\p{Mn}|\p{Me}|\p{Emoji_Modifier}|\u200d|[\ufe00-\ufe0f]/u.test(char)) continue;
    width += isWide(cp) || /\p{Emoji_Presentation}/u.test(char) ? 2 : 1;
  }
  return width;
}

/** Cuts `text` to at most `columns` display columns, ending with "…" when cut. */
export function truncate(text: string, columns: number): string {
  if (displayWidth(text) <= columns) return text;
  let out = "";
  let width = 0;
  for (const char of text) {
    const w = displayWidth(char);
    if (width + w > columns - 1) break;
    out += char;
    width += w;
  }
  return out + "…";
}

function isWide(cp: number): boolean {
  return (cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0x303e) ||
    (cp >= 0x3041 && cp <= 0x33ff) || (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0xa000 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) || (cp >= 0x1f680 && cp <= 0x1f6ff) ||
    (cp >= 0x20000 && cp <= 0x3fffd);
}
