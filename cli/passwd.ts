// deno-lint-ignore-file no-console -- the CLI is where output belongs
import { changePassword } from "../client.ts";
import { parseDuration, parseFlags, parseInteger, parseName } from "./flags.ts";
import {
  NEW_PASSWORD_ENV,
  PASSWORD_ENV,
  passwordFromEnv,
  promptNewPassword,
  promptPassword,
  readPasswordFile,
} from "./password.ts";
import { parseTlsFlags, tlsConnectOptions, type TlsFlags } from "./tls.ts";
import { UsageError } from "./usage_error.ts";

/** Help text of `tinychat passwd`. */
export const PASSWD_HELP = `tinychat passwd: change your password on the server.

Examples:
  tinychat passwd --user alice
  tinychat passwd --user alice --password-file old.txt --new-password-file new.txt

USAGE:
  tinychat passwd --user NAME [OPTIONS]

The current password: --password-file F, else ${PASSWORD_ENV}, else a prompt (no echo).
The new one: --new-password-file F, else ${NEW_PASSWORD_ENV}, else a prompt, asked twice.
Sessions logged in now stay; the new password counts from the next login.

OPTIONS:
  --user NAME              whose password (required)
  --host HOST              server address                   (default 127.0.0.1)
  --port PORT              server port                      (default 9000)
  --password-file F        the current password: first line of F
  --new-password-file F    the new password: first line of F
  --timeout TIME           how long to wait for the server   (default 10s)
  --tls                    connect over TLS (the server runs with --tls-cert)
  --ca FILE                trust the CA certificate in FILE (PEM) too; implies --tls
  -h, --help               show this help

EXIT STATUS:
  0 changed, 1 refused ("401": wrong password or no account) or failed, 2 usage.`;

/** What `tinychat passwd` was asked to do. */
export interface PasswdCommand {
  help: boolean;
  user: string;
  host: string;
  port: number;
  passwordFile: string | undefined;
  newPasswordFile: string | undefined;
  timeoutMs: number;
  /** --tls and --ca. */
  tls: TlsFlags;
}

/** Parses the arguments of `tinychat passwd`; throws `UsageError`. */
export function parsePasswdArgs(args: string[]): PasswdCommand {
  const { values, positionals } = parseFlags("passwd", args, {
    user: { type: "string" },
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "9000" },
    "password-file": { type: "string" },
    "new-password-file": { type: "string" },
    timeout: { type: "string", default: "10s" },
    tls: { type: "boolean", default: false },
    ca: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  });
  if (positionals.length > 0) {
    throw new UsageError(`passwd: unexpected argument "${positionals[0]}"`);
  }
  if (!values.help && values.user === undefined) {
    throw new UsageError("passwd: --user is required");
  }
  return {
    help: values.help,
    user: values.help ? "" : parseName("user", values.user!),
    host: values.host,
    port: parseInteger("port", values.port, 1, 65535),
    passwordFile: values["password-file"],
    newPasswordFile: values["new-password-file"],
    timeoutMs: parseDuration("timeout", values.timeout),
    tls: parseTlsFlags(values),
  };
}

/** Changes the password; resolves with the exit code. */
export async function runPasswd(command: PasswdCommand): Promise<number> {
  const password = command.passwordFile !== undefined
    ? await readPasswordFile(command.passwordFile)
    : passwordFromEnv() ?? await promptPassword(`current password for ${command.user}: `);
  const newPassword = command.newPasswordFile !== undefined
    ? await readPasswordFile(command.newPasswordFile)
    : passwordFromEnv(NEW_PASSWORD_ENV) ??
      await promptNewPassword(command.user, `--new-password-file or ${NEW_PASSWORD_ENV}`);
  const tls = await tlsConnectOptions(command.tls);
  await changePassword({
    ...tls,
    user: command.user,
    password,
    newPassword,
    host: command.host,
    port: command.port,
    timeoutMs: command.timeoutMs,
  });
  console.log(`password changed for ${command.user}`);
  return 0;
}
