/**
 * The server under test, as a child process.
 *
 * @module
 */
import type { Target } from "./target.ts";
import { sleep } from "./wait.ts";
import { V8_FLAGS } from "../cli/runtime.ts";

const SERVER_START_MS = 30_000;
const SERVER_STOP_MS = 10_000;

/** Options of `ServerProcess.start`. */
export interface ServerProcessOptions {
  /** The data directory to serve; the log is written there too. Default: a temporary one. */
  dataDir?: string;
}

/** What a stopped server's log says. */
export interface ServerReport {
  /** Set when it exited by itself ("code 1", "signal SIGSEGV"), or failed on SIGTERM. */
  exitedEarly?: string;
  /** Lines logged at warn or error level. */
  warnings: number;
  /** The first five of them, at most 300 characters each. */
  sample: string[];
}

/**
 * A tinychat server started for one workload, as a child process on port 0 with a temporary data
 * directory; its stderr (the log) goes to a file there.
 *
 * @example
 * ```ts ignore
 * import { ServerProcess } from "./server_process.ts";
 * const server = await ServerProcess.start();
 * try {
 *   // ... load server.hostname:server.port ...
 * } finally {
 *   await server.stop();
 * }
 * const { exitedEarly, warnings } = await server.report();
 * await server.remove();
 * ```
 */
export class ServerProcess implements Target {
  /** The address from its `listening` line. */
  readonly hostname: string;
  /** The port from its `listening` line. */
  readonly port: number;
  /** The child's pid. */
  readonly pid: number;
  /** From spawning it to its `listening` line, in ms. */
  readonly startupMs: number;
  #child: Deno.ChildProcess;
  #dir: string;
  /** The data directory was made by `start()`, and `remove()` deletes it. */
  #ownDir: boolean;
  #log: string;
  #logDone: Promise<void>;
  #exit: Deno.CommandStatus | undefined;
  #stopping = false;

  private constructor(
    child: Deno.ChildProcess,
    dir: string,
    log: string,
    logDone: Promise<void>,
    address: [string, number],
    startup: { ms: number; ownDir: boolean },
  ) {
    this.#child = child;
    this.pid = child.pid;
    this.startupMs = startup.ms;
    this.#dir = dir;
    this.#ownDir = startup.ownDir;
    this.#log = log;
    this.#logDone = logDone;
    [this.hostname, this.port] = address;
    void child.status.then((status) => this.#exit = status);
  }

  /**
   * Starts `tinychat serve --port 0 --data DIR` and waits for its `listening` line. DIR is
   * `options.dataDir`, or a temporary directory that `remove()` deletes.
   */
  static async start(options: ServerProcessOptions = {}): Promise<ServerProcess> {
    const ownDir = options.dataDir === undefined;
    const dir = options.dataDir ?? await Deno.makeTempDir({ prefix: "tinychat-bench-" });
    const serveArgs = ["serve", "--port", "0", "--data", dir];
    // From source, deno runs mod.ts; a compiled tinychat runs itself.
    const fromSource = /^deno(\.exe)?$/i.test(Deno.execPath().split(/[\\/]/).pop() ?? "");
    const args = fromSource
      ? ["run", V8_FLAGS, "--allow-all", new URL("../mod.ts", import.meta.url).href, ...serveArgs]
      : serveArgs;
    let child: Deno.ChildProcess;
    const spawned = performance.now();
    try {
      child = new Deno.Command(Deno.execPath(), {
        args,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (error) {
      if (ownDir) await Deno.remove(dir, { recursive: true });
      throw new Error(
        `Cannot start a server (${message(error)}): allow running subprocesses ` +
          `(--allow-run), or start 'tinychat serve' yourself and pass --port`,
        { cause: error },
      );
    }
    const log = `${dir}/server.log`;
    const file = await Deno.open(log, { write: true, create: true, truncate: true });
    const logDone = child.stderr.pipeTo(file.writable).catch(() => {});
    const address = await readListening(child, SERVER_START_MS);
    const startupMs = performance.now() - spawned;
    if (address === undefined) {
      try {
        child.kill("SIGKILL");
      } catch {
        // It exited by itself.
      }
      await child.status;
      await logDone;
      const tail = (await Deno.readTextFile(log)).slice(-600);
      await (ownDir ? Deno.remove(dir, { recursive: true }) : Deno.remove(log));
      throw new Error(`The server did not print "listening HOST:PORT"; its log ends: ${tail}`);
    }
    return new ServerProcess(child, dir, log, logDone, address, { ms: startupMs, ownDir });
  }

  /** SIGTERM, then SIGKILL if it has not exited within 10 s. */
  async stop(): Promise<void> {
    const exitedEarly = this.#exit !== undefined;
    this.#stopping = !exitedEarly;
    if (!exitedEarly) {
      try {
        this.#child.kill("SIGTERM");
      } catch {
        // Exited meanwhile.
      }
      const done = await Promise.race([this.#child.status, sleep(SERVER_STOP_MS)]);
      if (done === undefined) this.#child.kill("SIGKILL");
    }
    this.#exit = await this.#child.status;
    await this.#logDone;
  }

  /** What the server's log says: its warn and error lines; whether it exited by itself. */
  async report(): Promise<ServerReport> {
    let warnings = 0;
    const sample: string[] = [];
    const file = await Deno.open(this.#log);
    let rest = "";
    const scan = (line: string) => {
      const warning = line.startsWith("{")
        ? /"level":"(warn|error)"/.test(line)
        : /^\S+ (warn|error) /.test(line);
      if (!warning) return;
      warnings++;
      if (sample.length < 5) sample.push(line.slice(0, 300));
    };
    for await (const chunk of file.readable.pipeThrough(new TextDecoderStream())) {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop()!;
      for (const line of lines) scan(line);
    }
    if (rest !== "") scan(rest);
    const exit = this.#exit;
    const report: ServerReport = { warnings, sample };
    if (!this.#stopping && exit !== undefined) {
      report.exitedEarly = exit.signal === null ? `code ${exit.code}` : `signal ${exit.signal}`;
    } else if (exit !== undefined && exit.code !== 0 && exit.signal !== "SIGKILL") {
      report.exitedEarly = `code ${exit.code} after SIGTERM`;
    }
    return report;
  }

  /** Deletes the data directory made by `start()`, or just the log in one it was given. */
  async remove(): Promise<void> {
    await (this.#ownDir ? Deno.remove(this.#dir, { recursive: true }) : Deno.remove(this.#log));
  }
}

/** Reads the child's stdout up to `listening HOST:PORT`; then keeps draining it. */
async function readListening(
  child: Deno.ChildProcess,
  timeoutMs: number,
): Promise<[string, number] | undefined> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), timeoutMs);
  });
  try {
    while (true) {
      const chunk = await Promise.race([reader.read(), timeout]);
      if (chunk === undefined || chunk.done) return undefined;
      text += chunk.value;
      const address = parseListening(text);
      if (address !== undefined) {
        void (async () => {
          try {
            while (!(await reader.read()).done);
          } catch {
            // The process is gone.
          }
        })();
        return address;
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The address of the first `listening HOST:PORT` line in a server's stdout; an IPv6 host loses
 * its brackets.
 *
 * @example
 * ```ts
 * import { parseListening } from "./server_process.ts";
 * parseListening("listening [::1]:40123\n"); // ["::1", 40123]
 * ```
 */
export function parseListening(stdout: string): [string, number] | undefined {
  const match = /^listening (.+):(\d+)\r?\n/m.exec(stdout);
  return match === null ? undefined : [match[1]!.replace(/^\[(.*)\]$/, "$1"), Number(match[2])];
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
