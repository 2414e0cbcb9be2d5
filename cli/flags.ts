import { parseArgs, type ParseArgsConfig } from "node:util";
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

/** Parses a duration such as "3s", "500ms", "2m" or "1.5s" into ms. */
export function parseDuration(flag: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text);
  if (match === null) {
    throw new UsageError(`--${flag}: "${text}" is not a duration like 3s or 500ms`);
  }
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] ?? "s"]!;
  const ms = Number(match[1]) * unit;
  if (ms <= 0) throw new UsageError(`--${flag}: must be more than 0`);
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
