// deno-lint-ignore-file no-console -- an entry point prints its fatal errors
/**
 * `deno task bench`: the load generator of `tinychat bench`, from source. See `--help`.
 *
 * @module
 */
import { BENCH_HELP, parseBenchArgs, runBench } from "../cli/bench.ts";
import { UsageError } from "../cli/usage_error.ts";

async function main(args: string[]): Promise<number> {
  try {
    const options = parseBenchArgs(args);
    if (options.help) {
      console.log(BENCH_HELP);
      return 0;
    }
    return await runBench(options);
  } catch (error) {
    console.error(`tinychat: ${error instanceof Error ? error.message : String(error)}`);
    return error instanceof UsageError ? 2 : 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
