import { LoginError } from "../client.ts";
import { Code, MAX_PASSWORD_BYTES, passwordProblem } from "../protocol/mod.ts";
import { UsageError } from "./usage_error.ts";

/** The environment variable a password may come from. */
export const PASSWORD_ENV = "TINYCHAT_PASSWORD";

/** The environment variable a new password may come from (`tinychat passwd`, `tinychat user`). */
export const NEW_PASSWORD_ENV = "TINYCHAT_NEW_PASSWORD";

/** Where a command takes a password from, besides `TINYCHAT_PASSWORD`. */
export interface PasswordSource {
  /** `--password-file F`: its first line. */
  file: string | undefined;
  /** `--password`: ask at a prompt before connecting. */
  prompt: boolean;
}

/** Reads the password in the first line of `path` (a trailing CR or LF is not part of it). */
export async function readPasswordFile(path: string): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : String(cause);
    throw new UsageError(`--password-file: cannot read ${path}: ${why}`, { cause });
  }
  const password = text.split("\n")[0]!.replace(/\r$/, "");
  const problem = passwordProblem(password);
  if (problem !== undefined) throw new UsageError(`--password-file: the password ${problem}`);
  return password;
}

/** The password in environment variable `name`, if it is set and not empty. */
export function passwordFromEnv(name = PASSWORD_ENV): string | undefined {
  const password = Deno.env.get(name);
  if (password === undefined || password === "") return undefined;
  const problem = passwordProblem(password);
  if (problem !== undefined) throw new UsageError(`${name}: the password ${problem}`);
  return password;
}

/** Whether a password can be asked for: standard input is a terminal. */
export function canPrompt(): boolean {
  return Deno.stdin.isTerminal();
}

/**
 * Asks for a password on the terminal without echoing it: `prompt` goes to stderr, the typed
 * line is read from stdin in raw mode (Backspace and Ctrl-U edit, Ctrl-C or Ctrl-D cancel).
 * Throws when standard input is not a terminal.
 */
export async function promptPassword(prompt: string): Promise<string> {
  if (!canPrompt()) {
    throw new Error(`no terminal to ask for the password: use --password-file or ${PASSWORD_ENV}`);
  }
  const encoder = new TextEncoder();
  await Deno.stderr.write(encoder.encode(prompt));
  const typed: number[] = [];
  const chunk = new Uint8Array(64);
  Deno.stdin.setRaw(true);
  try {
    while (true) {
      const n = await Deno.stdin.read(chunk);
      if (n === null) throw new Error("no password: standard input ended");
      for (const byte of chunk.subarray(0, n)) {
        if (byte === 0x0d || byte === 0x0a) {
          const password = new TextDecoder().decode(new Uint8Array(typed));
          const problem = passwordProblem(password);
          if (problem !== undefined) throw new Error(`the password ${problem}`);
          return password;
        }
        if (byte === 0x03 || (byte === 0x04 && typed.length === 0)) {
          throw new Error("no password: cancelled");
        }
        if (byte === 0x7f || byte === 0x08) {
          // Drop the last character: its UTF-8 continuation bytes, then its first byte.
          while (typed.length > 0 && (typed.at(-1)! & 0xc0) === 0x80) typed.pop();
          typed.pop();
        } else if (byte === 0x15) {
          typed.length = 0;
        } else if (byte >= 0x20 || byte === 0x09) {
          if (typed.length >= 4 * MAX_PASSWORD_BYTES) throw new Error("the password is too long");
          typed.push(byte);
        }
      }
    }
  } finally {
    Deno.stdin.setRaw(false);
    await Deno.stderr.write(encoder.encode("\n"));
  }
}

/**
 * Asks for a new password twice on the terminal; they must match. `hint` names the other ways
 * to give it, for when there is no terminal.
 */
export async function promptNewPassword(user: string, hint: string): Promise<string> {
  if (!canPrompt()) throw new UsageError(`no terminal to ask for the new password: use ${hint}`);
  const first = await promptPassword(`new password for ${user}: `);
  const again = await promptPassword("again: ");
  if (first !== again) throw new Error("the two passwords differ; nothing changed");
  return first;
}

/**
 * The password a command was given up front: `--password-file`, else a prompt when `--password`
 * asked for one (an explicit flag wins over the environment), else `TINYCHAT_PASSWORD`;
 * undefined when none.
 */
export async function givenPassword(
  user: string,
  source: PasswordSource,
): Promise<string | undefined> {
  if (source.file !== undefined) return await readPasswordFile(source.file);
  if (source.prompt) return await promptPassword(`password for ${user}: `);
  return passwordFromEnv();
}

/**
 * Runs `login` with the password the command was given; when the server answers "401" and
 * nothing else could be tried, asks at the prompt (on a terminal, up to 3 times). A "401" that
 * ends it is a `LoginError` whose message says how to give a password.
 */
export async function loginWithPassword<T>(
  user: string,
  source: PasswordSource,
  login: (password: string | undefined) => Promise<T>,
): Promise<T> {
  let password = await givenPassword(user, source);
  const fixed = source.file !== undefined || (!source.prompt && password !== undefined);
  for (let attempt = 1;; attempt++) {
    try {
      return await login(password);
    } catch (error) {
      if (!(error instanceof LoginError) || error.code !== Code.UNAUTHORIZED) throw error;
      if (fixed || !canPrompt() || attempt >= 3) {
        const hint = password === undefined
          ? `; give it with --password, --password-file F or ${PASSWORD_ENV}`
          : "";
        throw new LoginError(error.code, `${error.message}${hint}`);
      }
      password = await promptPassword(
        password === undefined ? `${user} needs a password: ` : `wrong password; again: `,
      );
    }
  }
}
