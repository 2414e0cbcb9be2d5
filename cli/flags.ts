import { parseArgs, type ParseArgsConfig } from "node:util";
import { nameProblem } from "../protocol/mod.ts";
import { destinationProblem } from "../client_rooms.ts";
import { UsageError } from "./usage_error.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * Parses `args` strictly against `options` for subcommand `command`; every problem becomes a
 * one-line `UsageError`.
 */
export function parseFlags<T extends Options>(command: string, args: string[], options: T) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (cause) {
    const message = cause instanceof Error ? cause.message.split("\n")[0] : String(cause);
    throw new UsageError(`${command}: ${message} (see 'tinychat ${command} --help')`, { cause });
  }
}

/** Checks a username flag: 1..8 bytes of UTF-8, no whitespace or control characters. */
export function parseName(flag: string, text: string): string {
  const problem = nameProblem(text);
  if (problem !== undefined) throw new UsageError(`--${flag}: "${text}" ${problem}`);
  return text;
}

/** Checks a destination flag: a username, or a room such as "#all". */
export function parseDestination(flag: string, text: string): string {
  const problem = destinationProblem(text);
  if (problem !== undefined) throw new UsageError(`--${flag}: "${text}" ${problem}`);
  return text;
}

/** The longest duration a flag takes: timers cannot wait much longer than 24 days. */
const MAX_DURATION_MS = 24 * 3_600_000;

/** Parses a duration such as "3s", "500ms", "2m" or "1.5s" into ms (at most 24h). */
export function parseDuration(flag: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text);
  if (match === null) {
    throw new UsageError(`--${flag}: "${text}" is not a duration like 3s or 500ms`);
  }
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? "s"]!;
  const ms = Number(match[1]) * unit;
  if (ms <= 0) throw new UsageError(`--${flag}: must be more than 0`);
  if (ms > MAX_DURATION_MS) throw new UsageError(`--${flag}: "${text}" is longer than 24h`);
  return ms;
}

/** Parses a whole number within [min, max]. */
export function parseInteger(flag: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) {
    throw new UsageError(`--${flag}: "${text}" is not a whole number from ${min} to ${max}`);
  }
  return value;
}

/** Picks one of `choices`. */
export function parseChoice<T extends string>(
  flag: string,
  text: string,
  choices: readonly T[],
): T {
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(`--${flag}: "${text}" is not one of ${choices.join(", ")}`);
  }
  return text as T;
}

/** Parses a size such as "64MiB", "500k", "1G" or "4096" (bytes; binary units) into bytes. */
export function parseSize(flag: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$/i.exec(text);
  if (match === null) {
    throw new UsageError(`--${flag}: "${text}" is not a size like 64MiB, 500k or 4096`);
  }
  const unit = (match[2] ?? "b").toLowerCase()[0]!;
  const bytes = Math.floor(Number(match[1]) * { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[unit]!);
  if (bytes <= 0) throw new UsageError(`--${flag}: must be more than 0`);
  return bytes;
}

/** The flags of every command that talks to a server as a user (`connect`, `send`). */
export const CLIENT_FLAGS = {
  user: { type: "string" },
  to: { type: "string" },
  host: { type: "string", default: "127.0.0.1" },
  port: { type: "string", default: "9000" },
  state: { type: "string" },
  password: { type: "boolean", default: false },
  "password-file": { type: "string" },
  tls: { type: "boolean", default: false },
  ca: { type: "string" },
  /** Where received files are saved (connect). */
  "save-dir": { type: "string" },
  help: { type: "boolean", short: "h", default: false },
} as const;
