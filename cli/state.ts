import { join } from "node:path";
import { randomId } from "../client.ts";

/** One line of the local message log. */
export interface LogEntry {
  /** ms since the Unix epoch. */
  t: number;
  /** "in": received; "out": sent by us; "receipt": a late delivery receipt. */
  dir: "in" | "out" | "receipt";
  /** The other user, or the room. */
  peer: string;
  /** For a message in a room: who sent it (`peer` is the room). */
  from?: string;
  /** The messageId. */
  id: number;
  text: string;
  /** For "out": what became of it ("delivered", "stored", …). */
  fate?: string;
  /** For "in": whether it was stored on the server while we were away. */
  stored?: boolean;
}

const ID_BLOCK = 1000;

/**
 * A client's state for one server and user: the messageIds it may use next and the local message
 * log, in `DIR/HOST_PORT/USER/`. Ids are reserved in blocks written before use, so they stay
 * unique across runs and crashes (a crash skips the rest of a block).
 */
export class ClientState {
  readonly dir: string;
  #reserved = 0;
  #first = 0;
  #logFile: Deno.FsFile | undefined;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** Opens (creating) the state of `user` at `host:port` under `root`. */
  static async open(root: string, host: string, port: number, user: string): Promise<ClientState> {
    const dir = join(
      root,
      `${host.replaceAll(/[^A-Za-z0-9.-]/g, "_")}_${port}`,
      encodeURIComponent(user),
    );
    await Deno.mkdir(dir, { recursive: true });
    const state = new ClientState(dir);
    // Without saved state, a random start: ids of an earlier run elsewhere are not repeated.
    let next = randomId();
    try {
      next = Number((await Deno.readTextFile(join(dir, "next_id"))).trim()) || next;
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    state.#first = next;
    await state.#reserve(next);
    state.#logFile = await Deno.open(join(dir, "log.jsonl"), { append: true, create: true });
    return state;
  }

  /** The first messageId this run may use. */
  get firstId(): number {
    return this.#first;
  }

  /** Call with the client's next id after sending: reserves another block when needed. */
  async used(nextId: number): Promise<void> {
    if (nextId + 10 >= this.#reserved) await this.#reserve(nextId);
  }

  async #reserve(from: number): Promise<void> {
    this.#reserved = from + ID_BLOCK;
    await this.#persist(this.#reserved);
  }

  async #persist(next: number): Promise<void> {
    const path = join(this.dir, "next_id");
    await Deno.writeTextFile(`${path}.tmp`, `${next}\n`);
    await Deno.rename(`${path}.tmp`, path);
  }

  /** Appends an entry to the local log. */
  async append(entry: LogEntry): Promise<void> {
    await this.#logFile?.write(new TextEncoder().encode(JSON.stringify(entry) + "\n"));
  }

  /** The last `limit` entries of the local log, with `peer` if given. */
  async history(peer: string | undefined, limit: number): Promise<LogEntry[]> {
    let text = "";
    try {
      text = await Deno.readTextFile(join(this.dir, "log.jsonl"));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    const entries: LogEntry[] = [];
    for (const line of text.split("\n")) {
      if (line === "") continue;
      try {
        const entry = JSON.parse(line) as LogEntry;
        if (peer === undefined || entry.peer === peer) entries.push(entry);
      } catch {
        // A line cut short by a crash: skip it.
      }
    }
    return entries.slice(-limit);
  }

  /** Names seen in the local log, for completion. */
  async peers(): Promise<string[]> {
    return [...new Set((await this.history(undefined, 10_000)).map((e) => e.peer))];
  }

  /** Records the exact next id (so a clean exit skips no ids) and closes the log. */
  async close(nextId: number): Promise<void> {
    // Only if no other run with this state reserved ids beyond ours meanwhile.
    const onDisk = Number((await Deno.readTextFile(join(this.dir, "next_id"))).trim());
    if (onDisk === this.#reserved) await this.#persist(nextId);
    this.#logFile?.close();
    this.#logFile = undefined;
  }
}

/** The platform's state directory for tinychat. */
export function defaultStateRoot(): string {
  const env = (name: string) => Deno.env.get(name);
  if (Deno.build.os === "windows") {
    return join(env("LOCALAPPDATA") ?? env("APPDATA") ?? ".", "tinychat", "state");
  }
  if (Deno.build.os === "darwin") {
    return join(env("HOME") ?? ".", "Library", "Application Support", "tinychat");
  }
  const xdg = env("XDG_STATE_HOME");
  return join(
    xdg !== undefined && xdg !== "" ? xdg : join(env("HOME") ?? ".", ".local", "state"),
    "tinychat",
  );
}
