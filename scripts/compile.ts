// deno-lint-ignore-file no-console -- an entry point prints its progress and errors
/**
 * `deno task compile`: builds the single `tinychat` executable from mod.ts with `deno compile`
 * and explicit permissions.
 *
 *   deno task compile                      dist/tinychat (dist/tinychat.exe on Windows), this host
 *   deno task compile --all                dist/tinychat-<target>[.exe] for every release target
 *   deno task compile --target TARGET ...  dist/tinychat-<TARGET>[.exe] for the targets named
 *
 * `deno compile` downloads the runtime of each target (denort) from dl.deno.land the first time;
 * without network access it fails, and this script says so and exits 1.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { V8_FLAGS } from "../cli/runtime.ts";

/** The release targets: linux x64/arm64, macOS x64/arm64, windows x64. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
] as const;

/**
 * What the executable may do: listen and connect, call libc (plain TCP through epoll,
 * net/epoll.ts), its data directory, env and OS info.
 */
export const PERMISSIONS = [
  "--allow-net",
  "--allow-ffi",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-sys",
] as const;

const HELP = `deno task compile: build the tinychat executable with deno compile.

Examples:
  deno task compile
  deno task compile --all
  deno task compile --target aarch64-apple-darwin

USAGE:
  deno task compile [--all | --target TARGET ...]

OPTIONS:
  --all             every release target: dist/tinychat-<target>[.exe]
  --target TARGET   one target (repeatable): dist/tinychat-<TARGET>[.exe]
  -h, --help        show this help
  (default: this host only: dist/tinychat)

TARGETS:
  ${TARGETS.join("\n  ")}`;

/** A limit on one `deno compile` run, so the script always ends. */
const COMPILE_TIMEOUT_MS = 10 * 60 * 1000;

/** One executable to build; `target` undefined means this host. */
interface Build {
  target: string | undefined;
  output: string;
}

/** The builds that `args` ask for; throws `TypeError` for a bad command line. */
export function plan(args: string[], hostIsWindows = Deno.build.os === "windows"): Build[] {
  const { values, positionals } = parseArgs({
    args,
    options: {
      all: { type: "boolean", default: false },
      target: { type: "string", multiple: true },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.help) return [];
  if (positionals.length > 0) throw new TypeError(`unexpected argument "${positionals[0]}"`);
  const named = values.target ?? [];
  if (values.all && named.length > 0) throw new TypeError("--all and --target exclude each other");
  for (const target of named) {
    if (!(TARGETS as readonly string[]).includes(target)) {
      throw new TypeError(`--target: "${target}" is not one of ${TARGETS.join(", ")}`);
    }
  }
  const targets = values.all ? [...TARGETS] : named;
  if (targets.length === 0) {
    return [{ target: undefined, output: `dist/tinychat${hostIsWindows ? ".exe" : ""}` }];
  }
  return targets.map((target) => ({
    target,
    output: `dist/tinychat-${target}${target.includes("windows") ? ".exe" : ""}`,
  }));
}

/** The `deno` arguments of one build. */
export function compileArgs(build: Build, entry: string): string[] {
  return [
    "compile",
    V8_FLAGS,
    ...PERMISSIONS,
    ...(build.target === undefined ? [] : ["--target", build.target]),
    "--output",
    build.output,
    entry,
  ];
}

async function compile(build: Build, root: string): Promise<string | undefined> {
  const args = compileArgs(build, "mod.ts");
  console.error(`compile: deno ${args.join(" ")}`);
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(Deno.execPath(), {
      args,
      cwd: root,
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  } catch (error) {
    return `cannot run deno compile: ${error instanceof Error ? error.message : String(error)}`;
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), COMPILE_TIMEOUT_MS);
  });
  const status = await Promise.race([child.status, timeout]);
  clearTimeout(timer);
  if (status === "timeout") {
    child.kill("SIGKILL");
    await child.status;
    return `deno compile did not finish within ${COMPILE_TIMEOUT_MS / 60_000} minutes`;
  }
  if (!status.success) {
    return `deno compile exited with code ${status.code}` +
      " (it downloads the target's runtime from dl.deno.land: is the network reachable?)";
  }
  try {
    const info = await Deno.stat(`${root}/${build.output}`);
    if (!info.isFile) return `deno compile succeeded but ${build.output} is not a file`;
    console.error(`compile: built ${build.output} (${(info.size / 1e6).toFixed(1)} MB)`);
    return undefined;
  } catch {
    return `deno compile succeeded but ${build.output} is missing`;
  }
}

async function main(args: string[]): Promise<number> {
  let builds: Build[];
  try {
    builds = plan(args);
  } catch (error) {
    console.error(`compile: ${error instanceof Error ? error.message : String(error)}`);
    return 2;
  }
  if (builds.length === 0) {
    console.log(HELP);
    return 0;
  }
  const root = decodeURIComponent(new URL("..", import.meta.url).pathname)
    .replace(/^\/([A-Za-z]:)/, "$1");
  await Deno.mkdir(`${root}/dist`, { recursive: true });
  const failed: string[] = [];
  for (const build of builds) {
    const problem = await compile(build, root);
    if (problem !== undefined) {
      console.error(`compile: FAILED ${build.output}: ${problem}`);
      failed.push(build.output);
    }
  }
  if (failed.length > 0) {
    console.error(
      `compile: ${failed.length} of ${builds.length} builds failed: ${failed.join(", ")}`,
    );
    return 1;
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
