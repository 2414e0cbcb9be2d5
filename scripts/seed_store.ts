// deno-lint-ignore-file no-console -- an entry point prints its result and errors
/**
 * Fills a data directory with stored messages, as if their recipients had been away: the data
 * directory of the startup measurement (`tinychat serve` ready on 100,000 stored messages).
 *
 *   deno run --allow-read --allow-write scripts/seed_store.ts DIR [--messages N] [--users U]
 *
 * DIR/tinychat.db is created or added to; the messages go in one transaction. Then, e.g.:
 *
 *   deno run --allow-all mod.ts serve --port 0 --data DIR --log-level warn
 *
 * @module
 */
import { parseArgs } from "node:util";
import { seedStore } from "../bench/seed.ts";
import { SqliteStore } from "../store/sqlite_store.ts";

const USAGE =
  "usage: deno run --allow-read --allow-write scripts/seed_store.ts DIR [--messages N] [--users U]";

function main(args: string[]): number {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: {
        messages: { type: "string", default: "100000" },
        users: { type: "string", default: "10" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    console.error(`seed_store: ${(error as Error).message.split("\n")[0]}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const messages = Number(values.messages);
  const users = Number(values.users);
  if (positionals.length !== 1 || !/^\d+$/.test(values.messages) || !/^\d+$/.test(values.users)) {
    console.error(USAGE);
    return 2;
  }
  const dir = positionals[0]!;
  Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const started = performance.now();
  const store = new SqliteStore(`${dir}/tinychat.db`);
  try {
    const result = seedStore(store, { messages, users });
    const ms = performance.now() - started;
    console.log(
      `stored ${result.messages} messages for ${users} users (${result.recipients[0]}..) ` +
        `in ${dir}/tinychat.db in ${Math.round(ms)} ms`,
    );
  } catch (error) {
    console.error(`seed_store: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    store.close();
  }
  return 0;
}

if (import.meta.main) Deno.exit(main(Deno.args));
