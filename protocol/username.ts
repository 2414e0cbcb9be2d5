import { FrameError } from "./frame_error.ts";

/** Bytes of a username field on the wire. */
export const NAME_SIZE = 8;

const encoder = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
// Control characters (C0, DEL, C1) and every Unicode space separator or line break.
const forbidden = /[\p{Cc}\p{Zs}\p{Zl}\p{Zp}\s]/u;
/** "#", the first character of a room's name. */
const HASH = 0x23;

/**
 * Why `name` cannot be a username, or `undefined` when it can: 1..8 bytes of UTF-8, with no NUL,
 * no control character and no whitespace.
 *
 * @example
 * ```ts
 * import { nameProblem } from "./username.ts";
 * nameProblem("alice"); // undefined
 * nameProblem("bob smith"); // "contains whitespace or a control character"
 * ```
 */
export function nameProblem(name: string): string | undefined {
  if (name.length === 0) return "is empty";
  if (name.charCodeAt(0) === HASH) return 'starts with "#", which names a room';
  return shapeProblem(name);
}

/** Whether `name` names a room (starts with "#"). */
export function isRoom(name: string): boolean {
  return name.charCodeAt(0) === HASH;
}

/**
 * Why `name` cannot be a room's name, or `undefined` when it can: "#" and 1..7 more bytes of
 * UTF-8 (8 in all), with a username's character rules.
 *
 * @example
 * ```ts
 * import { roomProblem } from "./username.ts";
 * roomProblem("#dev"); // undefined
 * roomProblem("dev"); // 'does not start with "#"'
 * ```
 */
export function roomProblem(name: string): string | undefined {
  if (!isRoom(name)) return 'does not start with "#"';
  if (name.length === 1) return 'is only "#"';
  return shapeProblem(name);
}

/** A name's length and character rules, shared by usernames and rooms. */
function shapeProblem(name: string): string | undefined {
  // The common case, without encoding: up to 8 printable ASCII characters other than space.
  if (name.length <= NAME_SIZE && isPrintableAscii(name)) return undefined;
  // A lone surrogate has no UTF-8 form: TextEncoder would write U+FFFD, another name.
  if (!name.isWellFormed()) return "is not well-formed Unicode";
  const size = encoder.encode(name).length;
  if (size > NAME_SIZE) return `is ${size} bytes long (at most ${NAME_SIZE})`;
  if (forbidden.test(name)) return "contains whitespace or a control character";
  return undefined;
}

/** Whether every character of `text` is printable ASCII other than space (0x21..0x7e). */
function isPrintableAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

/** Whether `name` is a valid username. */
export function isValidName(name: string): boolean {
  return nameProblem(name) === undefined;
}

/**
 * Writes `name` into the 8-byte field at `offset` of `target`, right-padded with NUL bytes.
 * Throws `RangeError` if it does not fit (callers validate names first).
 */
export function writeName(target: Uint8Array, offset: number, name: string): void {
  // ASCII, the common case, byte by byte: no fill call and no encoded copy.
  if (name.length <= NAME_SIZE) {
    let i = 0;
    for (; i < name.length; i++) {
      const c = name.charCodeAt(i);
      if (c >= 0x80) break;
      target[offset + i] = c;
    }
    if (i === name.length) {
      for (; i < NAME_SIZE; i++) target[offset + i] = 0;
      return;
    }
  }
  const bytes = encoder.encode(name);
  if (bytes.length > NAME_SIZE) {
    throw new RangeError(`Cannot write name: ${bytes.length} bytes exceed ${NAME_SIZE}`);
  }
  target.fill(0, offset, offset + NAME_SIZE);
  target.set(bytes, offset);
}

/**
 * Reads the 8-byte name field at `offset`: the bytes before the first NUL. An all-NUL field reads
 * as "". Throws `FrameError` "400" for bytes that are not a valid name.
 */
export function readName(source: Uint8Array, offset: number): string {
  let end = offset;
  const limit = offset + NAME_SIZE;
  let plain = true;
  while (end < limit) {
    const byte = source[end]!;
    if (byte === 0) break;
    if (byte <= 0x20 || byte >= 0x7f) plain = false;
    end++;
  }
  if (plain) {
    let name = "";
    for (let i = offset; i < end; i++) name += String.fromCharCode(source[i]!);
    return name;
  }
  let name: string;
  try {
    name = strictUtf8.decode(source.subarray(offset, end));
  } catch (cause) {
    throw new FrameError("400", "Cannot read username: not valid UTF-8", { cause });
  }
  if (forbidden.test(name)) {
    throw new FrameError(
      "400",
      `Cannot read username ${JSON.stringify(name)}: whitespace or control character`,
    );
  }
  return name;
}

const CACHE_SLOTS = 4;

/**
 * Remembers the last few name fields read from one peer, so that a connection that repeats the
 * same names (its own, its partners') does not build a new string for every frame.
 */
export class NameCache {
  // Each slot's 8 bytes as two 32-bit numbers: no buffer of its own, which would cost an idle
  // connection more than the numbers do.
  #words: number[] = [];
  #names: string[] = [];
  #next = 0;

  /** `readName(source, offset)`, from the cache when the 8 bytes were seen lately. */
  read(source: Uint8Array, offset: number): string {
    const high = word(source, offset);
    const low = word(source, offset + 4);
    const words = this.#words;
    for (let slot = 0; slot < this.#names.length; slot++) {
      if (words[2 * slot] === high && words[2 * slot + 1] === low) return this.#names[slot]!;
    }
    const name = readName(source, offset);
    const slot = this.#next;
    this.#next = (slot + 1) % CACHE_SLOTS;
    words[2 * slot] = high;
    words[2 * slot + 1] = low;
    this.#names[slot] = name;
    return name;
  }
}

/** The 4 bytes at `offset` as one 32-bit number. */
function word(bytes: Uint8Array, offset: number): number {
  return (bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) |
    bytes[offset + 3]!;
}
