/**
 * Files in the terminal: `startFileUi` downloads every file that arrives into the save folder
 * and reports it line by line; `sendFileCommand` is the chat's `/send PATH`. Both print through
 * the caller's `print`, so they fit any screen; the lines come from pure render functions.
 *
 * @module
 */
import type { SendResult, TinychatClient } from "../client.ts";
import type { FileEvent } from "../client_files.ts";
import { formatSize, mediaKind, mediaType } from "../files/media_type.ts";
import { safeFileName } from "../files/safe_name.ts";

/** The shortest time between two progress lines of one transfer, in ms. */
const PROGRESS_EVERY_MS = 1000;
/** Downloads `startFileUi` runs at once (the server allows 8 per connection). */
const MAX_DOWNLOADS = 4;

/** Options of `startFileUi`. */
export interface FileUiOptions {
  /** Where received files are saved (created when needed). */
  saveDir: string;
  /** Where partial downloads wait. Default: the platform's state directory. */
  partialDir?: string;
  /** The shortest time between two progress lines of one transfer, in ms. Default 1000. */
  progressEveryMs?: number;
}

/** A running `startFileUi`. */
export interface FileUi {
  /** Stops taking new files and interrupts the downloads under way (they resume next time). */
  stop(): Promise<void>;
}

/**
 * Downloads each file sent to us (or to a room we are in) into `options.saveDir`, printing
 * "receiving photo.png (image, 2.1 MB) from bob … 45%" lines and where it was saved. Files
 * that came while we were away arrive at login and are downloaded the same way.
 *
 * @example
 * ```ts
 * const ui = startFileUi(client, (line) => console.log(line), { saveDir: defaultSaveDir() });
 * // … at the end of the session:
 * await ui.stop();
 * ```
 */
export function startFileUi(
  client: TinychatClient,
  print: (line: string) => void,
  options: FileUiOptions,
): FileUi {
  const every = options.progressEveryMs ?? PROGRESS_EVERY_MS;
  const stopping = new AbortController();
  const active = new Map<string, Promise<void>>();
  const finished = new Set<string>();
  // The server serves at most 8 downloads at once per connection: the rest wait their turn.
  let running = 0;
  const waiting: (() => void)[] = [];
  const download = async (event: FileEvent, label: string, origin: string) => {
    if (running >= MAX_DOWNLOADS) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      stopping.signal.throwIfAborted();
      let last = 0;
      return await client.download(event, options.saveDir, {
        signal: stopping.signal,
        ...(options.partialDir === undefined ? {} : { partialDir: options.partialDir }),
        onProgress: (done, size) => {
          const now = Date.now();
          if (done < size && now - last < every) return;
          if (done === size && last !== 0) return; // The "saved" line follows.
          last = now;
          print(`receiving ${label} ${origin} … ${percent(done, size)}%`);
        },
      });
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
  const receive = (event: FileEvent) => {
    const key = `${event.from}\n${event.fid}`;
    if (stopping.signal.aborted || active.has(key) || finished.has(key)) return;
    const label = describeFile(event.name, event.size, event.type);
    const origin = event.to.startsWith("#")
      ? `from ${event.from} in ${event.to}`
      : `from ${event.from}`;
    const task = download(event, label, origin).then(
      (path) => {
        finished.add(key);
        print(`✓ saved ${label} ${origin}: ${path}`);
      },
      (error) => {
        const why = error instanceof Error ? error.message : String(error);
        print(
          stopping.signal.aborted
            ? `… ${label} ${origin}: interrupted, it resumes next time`
            : `✗ ${label} ${origin}: ${why}`,
        );
      },
    ).finally(() => active.delete(key));
    active.set(key, task);
  };
  const unsubscribe = client.onFile(receive);
  return {
    async stop() {
      unsubscribe();
      stopping.abort();
      await Promise.allSettled([...active.values()]);
    },
  };
}

/**
 * The chat's `/send PATH` to `to`: uploads the file, printing progress lines and its fate.
 * Resolves with the result, or undefined when it could not be sent (the reason printed).
 */
export async function sendFileCommand(
  client: TinychatClient,
  to: string,
  path: string,
  print: (line: string) => void,
): Promise<SendResult | undefined> {
  const file = unquote(path.trim());
  if (file === "") {
    print("usage: /send PATH");
    return undefined;
  }
  const resolved = expandHome(file);
  let size: number;
  try {
    size = (await Deno.stat(resolved)).size;
  } catch (error) {
    print(`✗ cannot send ${file}: ${error instanceof Error ? error.message : error}`);
    return undefined;
  }
  const name = resolved.split(/[/\\]/).at(-1) ?? resolved;
  const label = describeFile(name, size, mediaType(resolved));
  print(`sending ${label} to ${to} …`);
  let last = Date.now();
  try {
    const result = await client.sendFile(to, resolved, {
      onProgress: (done, total) => {
        const now = Date.now();
        if (done === 0 || done === total || now - last < PROGRESS_EVERY_MS) return;
        last = now;
        print(`sending ${label} to ${to} … ${percent(done, total)}%`);
      },
    });
    print(renderSendFate(label, result));
    return result;
  } catch (error) {
    print(`✗ ${label} to ${to}: ${error instanceof Error ? error.message : error}`);
    return undefined;
  }
}

/** "photo.png (image, 2.1 MB)": a safe name (no control characters), its kind and size. */
export function describeFile(name: string, size: number, type: string): string {
  return `${safeFileName(name)} (${mediaKind(type)}, ${formatSize(size)})`;
}

/** The line that ends an upload. */
export function renderSendFate(label: string, result: SendResult): string {
  switch (result.fate) {
    case "delivered":
      return `✓ ${label} to ${result.to}: delivered (${result.code})`;
    case "stored":
      return `✓ ${label} to ${result.to}: on the server (${result.code}); ${result.to} downloads it ` +
        "when online";
    case "unknown user":
      return `✗ ${label} to ${result.to}: unknown user (${result.code})`;
    default:
      return `✗ ${label} to ${result.to}: refused (${result.code}${refusal(result.code)})`;
  }
}

/**
 * A progress bar: `[#########...........]  45%  9.0 MB / 20.0 MB`, `width` characters of bar.
 */
export function renderProgressBar(done: number, size: number, width = 24): string {
  const p = percent(done, size);
  const filled = Math.floor((p / 100) * width);
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}] ${String(p).padStart(3)}%  ` +
    `${formatSize(done)} / ${formatSize(size)}`;
}

function refusal(code: string): string {
  const why: Record<string, string> = {
    "400": ": bad offer or checksum",
    "403": ": not a member of the room",
    "413": ": too large for the server",
    "429": ": too many transfers at once",
    "500": ": the server could not store it",
    "501": ": the server does not take files",
    "507": ": the recipient's file quota is full",
  };
  return why[code] ?? "";
}

function percent(done: number, size: number): number {
  return size === 0 ? 100 : Math.floor((100 * done) / size);
}

function unquote(text: string): string {
  return /^(["']).*\1$/.test(text) ? text.slice(1, -1) : text;
}

function expandHome(path: string): string {
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE");
  return home !== undefined && (path === "~" || path.startsWith("~/"))
    ? home + path.slice(1)
    : path;
}
