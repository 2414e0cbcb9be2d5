// deno-lint-ignore-file no-console -- the CLI is where output belongs
/**
 * `tinychat send --file PATH`: uploads one file, with a progress bar on a terminal, and exits
 * with the same statuses as a text send.
 *
 * @module
 */
import { basename } from "node:path";
import type { SendResult } from "../client.ts";
import { formatSize, mediaKind, mediaType } from "../files/media_type.ts";
import { renderProgressBar } from "./files_ui.ts";
import type { SendCommand } from "./send.ts";
import { openSession } from "./session.ts";

const encoder = new TextEncoder();
/** The shortest time between two redraws of the progress bar, in ms. */
const REDRAW_MS = 100;

/**
 * Sends `command.file` to `command.to`; resolves with the exit code (0 delivered, 3 stored for
 * the recipient, 4 unknown recipient, 1 other errors). `--timeout` is the longest time without
 * progress: a transfer that keeps moving is never cut short.
 */
export async function runSendFile(command: SendCommand & { file: string }): Promise<number> {
  const path = command.file;
  const size = (await Deno.stat(path)).size;
  const stalled = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const watch = () => {
    clearTimeout(timer);
    timer = setTimeout(
      () => stalled.abort(new Error(`no progress for ${command.timeoutMs} ms`)),
      command.timeoutMs,
    );
  };
  const { state, client } = await openSession(command, () => ({
    // A dropped connection resumes the upload where the server stopped.
    reconnect: true,
    signal: stalled.signal,
  }));
  const bar = Deno.stderr.isTerminal() && !command.json ? progressBar(basename(path)) : undefined;
  let status = 1;
  try {
    watch();
    const result: SendResult = await client.sendFile(command.to, path, {
      signal: stalled.signal,
      onProgress: (done, total) => {
        watch();
        bar?.(done, total);
      },
    });
    await state.used(client.nextId);
    bar?.(size, size, true);
    void state.append({
      t: Date.now(),
      dir: "out",
      peer: result.to,
      id: result.id,
      text: `[file] ${basename(path)} (${mediaKind(mediaType(path))}, ${formatSize(size)})`,
      fate: result.fate,
    });
    status = result.fate === "delivered"
      ? 0
      : result.fate === "stored"
      ? 3
      : result.fate === "unknown user"
      ? 4
      : 1;
    if (command.json) {
      console.log(JSON.stringify({
        event: "sent",
        id: result.id,
        to: result.to,
        fate: result.fate,
        code: result.code,
        file: path,
        size,
        type: mediaType(path),
      }));
    } else {
      const line = `${result.to}: ${
        basename(path)
      }: ${result.fate} (${result.code}, id ${result.id})`;
      if (status === 0 || status === 3) console.log(line);
      else console.error(line);
    }
  } catch (error) {
    bar?.(0, 0, true);
    const message = error instanceof Error ? error.message : String(error);
    if (command.json) {
      console.log(JSON.stringify({ event: "error", to: command.to, error: message }));
    } else console.error(`tinychat: cannot send ${path}: ${message}`);
    status = 1;
  } finally {
    clearTimeout(timer);
    await client.close();
    await state.close(client.nextId);
  }
  return status;
}

/** Draws a progress bar on standard error (a terminal), at most every 100 ms. */
function progressBar(name: string): (done: number, size: number, end?: boolean) => void {
  let last = 0;
  return (done, size, end = false) => {
    const now = Date.now();
    if (!end && now - last < REDRAW_MS) return;
    last = now;
    const text = end && size === 0 ? "" : `${name} ${renderProgressBar(done, size)}`;
    Deno.stderr.writeSync(encoder.encode(`\r\x1b[K${text}${end ? "\n" : ""}`));
  };
}
