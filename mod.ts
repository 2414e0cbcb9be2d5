// deno-lint-ignore-file no-console -- the CLI is where output belongs
/**
 * tinychat: a small, fast chat for a limited group, in one executable.
 *
 * As a program: `tinychat serve` runs the server; see `tinychat --help`.
 * As a library: `connect()` opens a client session (for bots and tools), `serve()` starts a
 * server in this process.
 *
 * @example
 * ```ts
 * import { connect } from "./mod.ts";
 * await using bot = await connect({ user: "bot", port: 9000 });
 * const { fate } = await bot.send("alice", "build finished");
 * ```
 *
 * @module
 */
import { BENCH_HELP, parseBenchArgs, runBench } from "./cli/bench.ts";
import { CONNECT_HELP, parseConnectArgs, runConnect } from "./cli/connect.ts";
import { LOG_HELP, parseLogArgs, runLog } from "./cli/log.ts";
import { parsePasswdArgs, PASSWD_HELP, runPasswd } from "./cli/passwd.ts";
import { parseSendArgs, runSend, SEND_HELP } from "./cli/send.ts";
import { parseServeArgs, runServe, SERVE_HELP } from "./cli/serve.ts";
import { UsageError } from "./cli/usage_error.ts";
import { parseUserArgs, runUser, USER_HELP } from "./cli/user.ts";

export { changePassword, connect, LoginError, TinychatClient } from "./client.ts";
export type {
  ChangePasswordOptions,
  ClientEvent,
  ConnectOptions,
  Fate,
  Presence,
  SendResult,
} from "./client.ts";
export { destinationProblem, RoomError } from "./client_rooms.ts";
export type { HistoryEntry, HistoryOptions, RoomInfo, RoomNotice } from "./client_rooms.ts";
export type { DownloadOptions, FileEvent, SendFileOptions } from "./client_files.ts";
export {
  defaultSaveDir,
  mediaKind,
  mediaType,
  reservePath,
  safeFileName,
  uniquePath,
} from "./files/mod.ts";
export { serve } from "./server.ts";
export type { ServeOptions, TinychatServer } from "./server.ts";
export { DEFAULT_LIMITS } from "./core/limits.ts";
export type { Limits } from "./core/limits.ts";
export * from "./protocol/mod.ts";

const VERSION = "0.1.0";

const HELP = `tinychat ${VERSION}: a small, fast chat for a limited group.

Examples:
  tinychat serve --port 9000 --data ./tinychat-data
  tinychat connect --user alice
  tinychat send --user ci --to alice "deploy done"

USAGE:
  tinychat COMMAND [OPTIONS]

COMMANDS:
  serve      run the server
  connect    chat in the terminal (or pipe lines to one partner)
  send       send messages from a script; the exit status tells their fate
  log        print the server's message history from its data directory
  bench      measure a server: msgs/s and ack latency per workload
  user       manage accounts in a data directory: add, passwd, remove, list
  passwd     change your own password on the server
  help       show this help (also: -h, --help)
  version    print the version (also: --version)

'tinychat COMMAND --help' shows a command's options.`;

/** Runs the command line `args`; resolves with the process exit code. */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  try {
    switch (command) {
      case "serve": {
        const options = parseServeArgs(rest);
        if (options.help) return printHelp(SERVE_HELP);
        return await runServe(options);
      }
      case "connect": {
        const options = parseConnectArgs(rest);
        if (options.help) return printHelp(CONNECT_HELP);
        return await runConnect(options);
      }
      case "send": {
        const options = parseSendArgs(rest);
        if (options.help) return printHelp(SEND_HELP);
        return await runSend(options);
      }
      case "user": {
        const options = parseUserArgs(rest);
        if (options.help) return printHelp(USER_HELP);
        return await runUser(options);
      }
      case "passwd": {
        const options = parsePasswdArgs(rest);
        if (options.help) return printHelp(PASSWD_HELP);
        return await runPasswd(options);
      }
      case "log": {
        const options = parseLogArgs(rest);
        if (options.help) return printHelp(LOG_HELP);
        return await runLog(options);
      }
      case "bench": {
        const options = parseBenchArgs(rest);
        if (options.help) return printHelp(BENCH_HELP);
        return await runBench(options);
      }
      case undefined:
      case "help":
      case "-h":
      case "--help":
        return printHelp(HELP);
      case "version":
      case "--version":
        console.log(`tinychat ${VERSION}`);
        return 0;
      default:
        throw new UsageError(`unknown command "${command}" (see 'tinychat --help')`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`tinychat: ${error.message}`);
      return 2;
    }
    console.error(`tinychat: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}

function printHelp(text: string): number {
  console.log(text);
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
