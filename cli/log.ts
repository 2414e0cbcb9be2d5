import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { destinationProblem } from "../client_rooms.ts";
import { blockEntries, BlockFiles, hasFileColumn } from "../store/block_files.ts";
import { keptEntries } from "../store/history_block.ts";
import { parseFlags } from "./flags.ts";
import { sanitize } from "./render.ts";
import { UsageError } from "./usage_error.ts";

/** Help text of `tinychat log`. */
export const LOG_HELP = `tinychat log: print the server's message history.

Examples:
  tinychat log --data ./tinychat-data
  tinychat log --data ./tinychat-data --user alice --since 3d
  tinychat log --data ./tinychat-data --since 2026-11-01 --json | jq .text

USAGE:
  tinychat log [OPTIONS]

Reads DIR/tinychat.db and DIR/tinychat.db-history/ without changing them (the server may be
running). Text lines read "2026-11-22 14:02:11 alice → bob: text" in the local time zone;
--json prints one object a line: {"seq","at","from","to","text"} ("at" in ISO 8601, UTC).

OPTIONS:
  --data DIR     data directory of the server                    (default ./tinychat-data)
  --user NAME    only messages from or to NAME (a user or a #room) (default: all)
  --since T      only messages since T: a duration back from now (90m, 2h, 3d, 1w)
                 or a date or time (2026-11-01, 2026-11-01T09:00, ISO 8601) (default: all)
  --json         one JSON object per line
  -h, --help     show this help`;

/** What `tinychat log` was asked to do. */
export interface LogCommand {
  help: boolean;
  dataDir: string;
  user: string | undefined;
  /** ms since the Unix epoch, or undefined for the whole history. */
  since: number | undefined;
  json: boolean;
}

/** One history row, as printed. */
export interface LogLine {
  seq: number;
  /** When the server received it, ms since the Unix epoch. */
  at: number;
  from: string;
  to: string;
  text: string;
  /** 0 text, 1 a file notice (text = its `op=file` options). */
  kind: number;
}

const UNITS: Record<string, number> = {
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

/** Parses the arguments of `tinychat log`; throws `UsageError`. */
export function parseLogArgs(args: string[], now = Date.now()): LogCommand {
  const { values, positionals } = parseFlags("log", args, {
    data: { type: "string", default: "./tinychat-data" },
    user: { type: "string" },
    since: { type: "string" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  });
  if (positionals.length > 0) throw new UsageError(`log: unexpected argument "${positionals[0]}"`);
  if (values.data === "") throw new UsageError("log: --data must not be empty");
  if (values.user !== undefined) {
    const problem = destinationProblem(values.user);
    if (problem !== undefined) throw new UsageError(`log: --user: "${values.user}" ${problem}`);
  }
  return {
    help: values.help,
    dataDir: values.data,
    user: values.user,
    since: values.since === undefined ? undefined : parseSince(values.since, now),
    json: values.json,
  };
}

/**
 * `--since`: a duration back from `now` (`90m`, `2h`, `3d`, `1w`, `1.5h`) or a date (`2026-11-01`,
 * local midnight) or a date and time (ISO 8601; local time unless it names a zone). Returns ms
 * since the Unix epoch; throws `UsageError`.
 */
export function parseSince(text: string, now: number): number {
  const duration = /^(\d+(?:\.\d+)?)([smhdw])$/.exec(text);
  if (duration !== null) return now - Number(duration[1]) * UNITS[duration[2]!]!;
  const date = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  const at = date !== null
    ? new Date(Number(date[1]), Number(date[2]) - 1, Number(date[3])).getTime()
    : /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(text)
    ? Date.parse(text.replace(" ", "T"))
    : NaN;
  if (Number.isNaN(at)) {
    throw new UsageError(
      `log: --since: "${text}" is not a duration like 3d or 2h, nor a date like 2026-11-01`,
    );
  }
  return at;
}

/** `at` as `YYYY-MM-DD HH:MM:SS` in the local time zone. */
export function localDateTime(at: Date): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return `${at.getFullYear()}-${two(at.getMonth() + 1)}-${two(at.getDate())} ${
    two(at.getHours())
  }:${two(at.getMinutes())}:${two(at.getSeconds())}`;
}

/** One line of `tinychat log` output, without its newline. */
export function renderLogLine(line: LogLine, json: boolean): string {
  const text = line.kind === 1 ? fileText(line.text) : line.text;
  if (json) {
    return JSON.stringify({
      seq: line.seq,
      at: new Date(line.at).toISOString(),
      from: line.from,
      to: line.to,
      text,
      ...(line.kind === 1 ? { kind: "file" } : {}),
    });
  }
  const body = sanitize(text).replaceAll("\n", "\n    ");
  return `${localDateTime(new Date(line.at))} ${sanitize(line.from)} → ${
    sanitize(line.to)
  }: ${body}`;
}

/** A file notice's options (`name=…`, `size=…`) as a short text. */
function fileText(options: string): string {
  const fields = new Map(
    options.split("\n").map((l) => {
      const eq = l.indexOf("=");
      return eq < 0 ? [l, ""] : [l.slice(0, eq), l.slice(eq + 1)];
    }),
  );
  return `[file ${fields.get("name") ?? "?"}, ${fields.get("size") ?? "?"} bytes]`;
}

/** Prints the history; resolves with the exit code. */
export async function runLog(command: LogCommand): Promise<number> {
  const path = join(command.dataDir, "tinychat.db");
  try {
    await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`log: no database at ${path}: is --data the server's data directory?`);
    }
    throw error;
  }
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const table = db.prepare(
      "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'history'",
    )
      .get();
    if (table === undefined) {
      throw new Error(`log: ${path} has no history (written by an older tinychat server)`);
    }
    const encoder = new TextEncoder();
    let out = "";
    const flush = async () => {
      const bytes = encoder.encode(out);
      out = "";
      let offset = 0;
      while (offset < bytes.length) offset += await Deno.stdout.write(bytes.subarray(offset));
    };
    try {
      for (const line of historyLines(db, command)) {
        out += renderLogLine(line, command.json) + "\n";
        if (out.length >= 65536) await flush();
      }
      await flush();
    } catch (error) {
      // `tinychat log | head`: the reader is gone, and that is fine.
      if (error instanceof Deno.errors.BrokenPipe) return 0;
      throw error;
    }
    return 0;
  } finally {
    db.close();
  }
}

/**
 * The history in a tinychat database, as `command` filters it (`user`, `since`), in seq order:
 * the rows of the `history` table merged with the direct messages kept in blocks.
 *
 * @example
 * ```ts
 * import { DatabaseSync } from "node:sqlite";
 * import { historyLines } from "./log.ts";
 * const db = new DatabaseSync("./tinychat-data/tinychat.db", { readOnly: true });
 * for (const line of historyLines(db, { user: "alice", since: undefined })) console.log(line.text);
 * ```
 */
export function historyLines(
  db: DatabaseSync,
  command: Pick<LogCommand, "user" | "since">,
): Generator<LogLine> {
  const decoder = new TextDecoder();
  return merged(rowLines(db, command, decoder), blockLines(db, command, decoder));
}

/** The rows of the history table (rooms, file notices, older direct messages), in seq order. */
function* rowLines(
  db: DatabaseSync,
  command: Pick<LogCommand, "user" | "since">,
  decoder: TextDecoder,
): Generator<LogLine> {
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (command.user !== undefined) {
    where.push("(src = ? OR dst = ?)");
    params.push(command.user, command.user);
  }
  if (command.since !== undefined) {
    where.push("sent_at >= ?");
    params.push(command.since);
  }
  const sql = `SELECT seq, src, dst, sent_at, payload, kind FROM history${
    where.length === 0 ? "" : ` WHERE ${where.join(" AND ")}`
  } ORDER BY seq`;
  for (const row of db.prepare(sql).iterate(...params)) {
    yield {
      seq: Number(row.seq),
      at: Number(row.sent_at),
      from: String(row.src),
      to: String(row.dst),
      text: decoder.decode(row.payload as Uint8Array),
      kind: Number(row.kind),
    };
  }
}

/**
 * The direct messages kept in blocks (store/history_block.ts), in seq order: those their
 * conversation's link to the block keeps (retention unlinks them, or lowers its count: it keeps
 * the newest), and all of a block whose links are not written yet.
 */
function* blockLines(
  db: DatabaseSync,
  command: Pick<LogCommand, "user" | "since">,
  decoder: TextDecoder,
): Generator<LogLine> {
  const table = db.prepare(
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'history_blocks'",
  ).get();
  if (table === undefined) return;
  const linked = db.prepare("SELECT count FROM history_block_convs WHERE conv = ? AND block = ?");
  // Blocks newer than every linked one have their links waiting in the server: kept whole.
  const newest = Number(
    db.prepare("SELECT coalesce(max(block), 0) AS n FROM history_block_convs").get()!.n,
  );
  // Large blocks are files beside the database (schema 6, store/sqlite_store.ts).
  const inFiles = hasFileColumn(db);
  const files = new BlockFiles(`${db.location()}-history`, false);
  const blocks = db.prepare(
    `SELECT block, data, ${
      inFiles ? "file_bytes" : "NULL AS file_bytes"
    } FROM history_blocks WHERE last_at >= ? ORDER BY block`,
  );
  const { user, since } = command;
  for (const row of blocks.iterate(since ?? Number.MIN_SAFE_INTEGER)) {
    const block = Number(row.block);
    // None when its file was lost with the power before its sync.
    const entries = blockEntries(row, files);
    const kept = block > newest
      ? () => entries.length
      : (conv: string) => Number(linked.get(conv, block)?.count ?? 0);
    for (const e of keptEntries(entries, kept)) {
      if (user !== undefined && e.src !== user && e.dst !== user) continue;
      if (since !== undefined && e.sentAt < since) continue;
      yield {
        seq: e.seq,
        at: e.sentAt,
        from: e.src,
        to: e.dst,
        text: decoder.decode(e.payload),
        kind: 0,
      };
    }
  }
}

/** Two seq-ordered streams as one. */
function* merged(a: Iterator<LogLine>, b: Iterator<LogLine>): Generator<LogLine> {
  let x = a.next();
  let y = b.next();
  while (!x.done || !y.done) {
    if (y.done || (!x.done && x.value.seq < y.value.seq)) {
      yield x.value as LogLine;
      x = a.next();
    } else {
      yield y.value;
      y = b.next();
    }
  }
}
