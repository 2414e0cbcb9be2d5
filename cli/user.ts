// deno-lint-ignore-file no-console -- the CLI is where output belongs
import { hashPassword } from "../auth/password.ts";
import { SqliteStore } from "../store/sqlite_store.ts";
import { parseFlags, parseName } from "./flags.ts";
import {
  NEW_PASSWORD_ENV,
  PASSWORD_ENV,
  passwordFromEnv,
  promptNewPassword,
  readPasswordFile,
} from "./password.ts";
import { UsageError } from "./usage_error.ts";

/** Help text of `tinychat user`. */
export const USER_HELP =
  `tinychat user: manage accounts (names with a password) in a data directory.

Examples:
  tinychat user add --data ./tinychat-data alice
  TINYCHAT_NEW_PASSWORD=s3cret tinychat user passwd --data ./tinychat-data alice
  tinychat user list --data ./tinychat-data
  tinychat user remove --data ./tinychat-data alice

USAGE:
  tinychat user add|passwd|remove NAME [OPTIONS]
  tinychat user list [OPTIONS]

  add      give NAME an account (with 'serve --auth invite', only they log in); NAME becomes
           a known user, so messages to it are kept until its first login
  passwd   set a new password for NAME's account
  remove   delete NAME's account: the name is open again (under --auth open); its messages stay
  list     the names that have an account, one per line

The new password: --password-file F, else ${NEW_PASSWORD_ENV}, else a prompt (no echo), asked
twice; one line on stderr says which was used. (${PASSWORD_ENV} is not read: for other commands
it is the current password.) Works while the server runs: a login checks the account at that
moment. Sessions already logged in stay logged in.

OPTIONS:
  --data DIR           data directory of the server     (default ./tinychat-data)
  --password-file F    the password: first line of F
  -h, --help           show this help`;

/** What `tinychat user` was asked to do. */
export interface UserCommand {
  help: boolean;
  action: "add" | "passwd" | "remove" | "list";
  name: string;
  dataDir: string;
  passwordFile: string | undefined;
}

const ACTIONS = ["add", "passwd", "remove", "list"] as const;

/** Parses the arguments of `tinychat user`; throws `UsageError`. */
export function parseUserArgs(args: string[]): UserCommand {
  const { values, positionals } = parseFlags("user", args, {
    data: { type: "string", default: "./tinychat-data" },
    "password-file": { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  });
  const [action, name, extra] = positionals;
  const base = { dataDir: values.data, passwordFile: values["password-file"] };
  if (values.help) return { help: true, action: "list", name: "", ...base };
  if (action === undefined) {
    throw new UsageError("user: say add, passwd, remove or list (see 'tinychat user --help')");
  }
  if (!(ACTIONS as readonly string[]).includes(action)) {
    throw new UsageError(`user: unknown action "${action}" (add, passwd, remove or list)`);
  }
  if (values.data === "") throw new UsageError("--data: must not be empty");
  if (action === "list") {
    if (name !== undefined) throw new UsageError(`user list: unexpected argument "${name}"`);
    return { help: false, action, name: "", ...base };
  }
  if (name === undefined) throw new UsageError(`user ${action}: NAME is required`);
  if (extra !== undefined) throw new UsageError(`user ${action}: unexpected argument "${extra}"`);
  return {
    help: false,
    action: action as UserCommand["action"],
    name: parseName("user", name),
    ...base,
  };
}

/** Options of `runUser`. */
export interface RunUserOptions {
  /** Hashes the new password. Default: `hashPassword` with the default parameters. */
  hash?: (password: string) => Promise<string>;
}

/** Runs the account command on the data directory's store; resolves with the exit code. */
export async function runUser(command: UserCommand, options: RunUserOptions = {}): Promise<number> {
  const path = `${command.dataDir}/tinychat.db`;
  if (command.action === "add") {
    await Deno.mkdir(command.dataDir, { recursive: true });
  } else if (!await exists(path)) {
    throw new Error(`no store at ${path} (see --data)`);
  }
  // Hash before opening the store: the server may be writing to it meanwhile.
  let hash: string | undefined;
  if (command.action === "add" || command.action === "passwd") {
    const store = new SqliteStore(path);
    const has = store.account(command.name) !== undefined;
    store.close();
    if (command.action === "add" && has) {
      throw new Error(
        `${command.name} already has an account (change its password with 'tinychat user passwd')`,
      );
    }
    if (command.action === "passwd" && !has) throw new Error(`${command.name} has no account`);
    const { password, source } = await newPassword(command);
    console.error(`user: the new password of ${command.name} is from ${source}`);
    hash = await (options.hash ?? hashPassword)(password);
  }
  const store = new SqliteStore(path);
  try {
    const now = Date.now();
    switch (command.action) {
      case "list":
        for (const name of store.accounts()) console.log(name);
        return 0;
      case "add":
        store.begin();
        // A login (--auth open or required) or another `user add` may have claimed it meanwhile.
        if (!store.addAccount(command.name, hash!, now)) {
          store.rollback();
          throw new Error(`${command.name} got an account meanwhile; nothing changed`);
        }
        store.addUser(command.name, now);
        store.commit();
        console.log(`added ${command.name}`);
        return 0;
      case "passwd":
        store.begin();
        if (store.account(command.name) === undefined) {
          store.rollback();
          throw new Error(`${command.name} has no account (it was removed meanwhile)`);
        }
        store.setAccount(command.name, hash!, now);
        store.commit();
        console.log(`password changed for ${command.name}`);
        return 0;
      case "remove":
        if (store.account(command.name) === undefined) {
          throw new Error(`${command.name} has no account`);
        }
        store.begin();
        store.deleteAccount(command.name);
        store.commit();
        console.log(`removed the account of ${command.name}`);
        return 0;
    }
  } finally {
    store.close();
  }
}

/** The new password and where it came from. */
async function newPassword(command: UserCommand): Promise<{ password: string; source: string }> {
  if (command.passwordFile !== undefined) {
    const password = await readPasswordFile(command.passwordFile);
    return { password, source: `--password-file ${command.passwordFile}` };
  }
  const fromEnv = passwordFromEnv(NEW_PASSWORD_ENV);
  if (fromEnv !== undefined) return { password: fromEnv, source: NEW_PASSWORD_ENV };
  const ignored = (Deno.env.get(PASSWORD_ENV) ?? "") === ""
    ? ""
    : ` (${PASSWORD_ENV} is not read here: it is the current password of other commands)`;
  const password = await promptNewPassword(
    command.name,
    `--password-file or ${NEW_PASSWORD_ENV}${ignored}`,
  );
  return { password, source: "the prompt" };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
