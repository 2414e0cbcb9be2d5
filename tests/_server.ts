/**
 * Launches the real tinychat server as a child process for black-box tests: `deno run mod.ts
 * serve --port 0`, the bound port read from its `listening HOST:PORT` line. Its stdout and stderr
 * are captured; `serverTest` prints the stderr of every server a failing test started.
 *
 * @module
 */
import { fileURLToPath } from "node:url";
import { V8_FLAGS } from "../cli/runtime.ts";

const MOD = fileURLToPath(new URL("../mod.ts", import.meta.url));
const REPO = fileURLToPath(new URL("../", import.meta.url));

/** Options of `start`. */
export interface StartOptions {
  /** Extra `serve` flags, placed after the defaults (so they win), e.g. `["--ack-timeout", "1s"]`. */
  args?: string[];
  /** The data directory; default: a fresh temporary one, removed on dispose. */
  dataDir?: string;
  /** How long to wait for the `listening` line, in ms. Default 30000. */
  timeoutMs?: number;
}

/** A running server process. Disposing it kills it (SIGKILL if still running) and reaps it. */
export interface ServerProcess extends AsyncDisposable {
  /** The TCP port it listens on (127.0.0.1). */
  readonly port: number;
  /** The child's process id. */
  readonly pid: number;
  /** Its data directory. */
  readonly dataDir: string;
  /** Everything it wrote to stderr so far. */
  readonly stderr: string;
  /** Everything it wrote to stdout so far. */
  readonly stdout: string;
  /** Whether the process has exited. */
  readonly exited: boolean;
  /** Resolves when the process exits and its output has been read to the end. */
  readonly status: Promise<Deno.CommandStatus>;
  /** Sends `signal` (default SIGTERM) unless it has exited. */
  kill(signal?: Deno.Signal): void;
  /** Resolves with the exit status; rejects if it is still running after `timeoutMs`. */
  waitExit(timeoutMs?: number): Promise<Deno.CommandStatus>;
  /** Resolves with the first stderr line matching `pattern`, waiting up to `timeoutMs`. */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

/** Servers started by the running `serverTest`, for printing their stderr when it fails. */
let started: ServerProcess[] | undefined;

/**
 * Registers a test (`Deno.test`, sanitizers on) that prints the stderr of every server it started
 * when it fails.
 */
export function serverTest(name: string, fn: (t: Deno.TestContext) => Promise<void>): void {
  Deno.test(name, async (t) => {
    const mine: ServerProcess[] = [];
    started = mine;
    try {
      await fn(t);
    } catch (error) {
      for (const server of mine) {
        const header = `--- stderr of server pid ${server.pid} (port ${server.port}) ---\n`;
        await Deno.stderr.write(new TextEncoder().encode(header + server.stderr + "---\n"));
      }
      throw error;
    } finally {
      started = undefined;
    }
  });
}

/** A temporary directory, removed (recursively) on dispose. */
export interface TempDir extends AsyncDisposable {
  readonly path: string;
}

/** Makes a temporary directory that `await using` removes. */
export async function tempDir(): Promise<TempDir> {
  const path = await Deno.makeTempDir({ prefix: "tinychat-test-" });
  return {
    path,
    async [Symbol.asyncDispose]() {
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * The flags every `tinychat send` test starts with: who sends, to whom, which server, and its own
 * state directory (message ids, partial downloads).
 */
export function sendFlags(user: string, to: string, port: number, state: string): string[] {
  return ["--user", user, "--to", to, "--port", String(port), "--state", state];
}

/** The command line that runs the CLI from source as the tasks do: `deno run V8_FLAGS --allow-all mod.ts ...args`. */
export function cliCommand(args: string[], options: Deno.CommandOptions = {}): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", V8_FLAGS, "--allow-all", "--quiet", MOD, ...args],
    cwd: REPO,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...options,
  });
}

/**
 * Starts `tinychat serve` on 127.0.0.1 port 0 and resolves once it prints `listening`. Rejects
 * (with its stderr) if it exits first or does not listen within the deadline.
 *
 * @example
 * ```ts
 * await using server = await start({ args: ["--ack-timeout", "1s"] });
 * server.port; // the bound port
 * ```
 */
export async function start(options: StartOptions = {}): Promise<ServerProcess> {
  const owned = options.dataDir === undefined ? await tempDir() : undefined;
  const dataDir = options.dataDir ?? owned!.path;
  const child = cliCommand([
    "serve",
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--data",
    dataDir,
    ...(options.args ?? []),
  ]).spawn();
  const server = new Server(child, dataDir, owned);
  started?.push(server);
  try {
    await server.listening(options.timeoutMs ?? 30_000);
  } catch (error) {
    await server[Symbol.asyncDispose]();
    throw error;
  }
  return server;
}

class Server implements ServerProcess {
  readonly pid: number;
  readonly dataDir: string;
  readonly status: Promise<Deno.CommandStatus>;
  #port = 0;
  #child: Deno.ChildProcess;
  #owned: TempDir | undefined;
  #stdout = "";
  #stderr = "";
  #exited = false;
  #changed = Promise.withResolvers<void>();

  constructor(child: Deno.ChildProcess, dataDir: string, owned: TempDir | undefined) {
    this.#child = child;
    this.pid = child.pid;
    this.dataDir = dataDir;
    this.#owned = owned;
    const out = this.#collect(child.stdout, (text) => this.#stdout += text);
    const err = this.#collect(child.stderr, (text) => this.#stderr += text);
    this.status = Promise.all([child.status, out, err]).then(([status]) => {
      this.#exited = true;
      this.#notify();
      return status;
    });
  }

  get port(): number {
    return this.#port;
  }

  get stderr(): string {
    return this.#stderr;
  }

  get stdout(): string {
    return this.#stdout;
  }

  get exited(): boolean {
    return this.#exited;
  }

  kill(signal: Deno.Signal = "SIGTERM"): void {
    if (this.#exited) return;
    try {
      this.#child.kill(signal);
    } catch {
      // It exited in the meantime.
    }
  }

  async waitExit(timeoutMs = 10_000): Promise<Deno.CommandStatus> {
    await this.#waitFor(() => this.#exited ? "" : undefined, timeoutMs, "its exit");
    return await this.status;
  }

  async listening(timeoutMs: number): Promise<void> {
    const line = await this.#waitFor(
      () => /^listening (\S+):(\d+)$/m.exec(this.#stdout)?.[0],
      timeoutMs,
      "the `listening` line",
    );
    this.#port = Number(/:(\d+)$/.exec(line)![1]);
  }

  waitForLog(pattern: RegExp, timeoutMs = 5000): Promise<string> {
    return this.#waitFor(
      () => this.#stderr.split("\n").find((line) => pattern.test(line)),
      timeoutMs,
      `a log line matching ${pattern}`,
    );
  }

  async #waitFor(
    find: () => string | undefined,
    timeoutMs: number,
    what: string,
  ): Promise<string> {
    const signal = AbortSignal.timeout(timeoutMs);
    const timedOut = new Promise<"timeout">((resolve) => {
      if (signal.aborted) resolve("timeout");
      signal.addEventListener("abort", () => resolve("timeout"), { once: true });
    });
    while (true) {
      const found = find();
      if (found !== undefined) return found;
      if (this.#exited) {
        throw new Error(
          `server pid ${this.pid} exited before ${what}; stderr:\n${this.#stderr}`,
        );
      }
      if (signal.aborted || await Promise.race([this.#changed.promise, timedOut]) === "timeout") {
        throw new Error(
          `no ${what} from server pid ${this.pid} within ${timeoutMs} ms; stderr:\n${this.#stderr}`,
        );
      }
    }
  }

  #notify(): void {
    this.#changed.resolve();
    this.#changed = Promise.withResolvers<void>();
  }

  async #collect(stream: ReadableStream<Uint8Array>, append: (text: string) => void) {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      append(text);
      this.#notify();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.kill("SIGKILL");
    await this.status;
    await this.#owned?.[Symbol.asyncDispose]();
  }
}
