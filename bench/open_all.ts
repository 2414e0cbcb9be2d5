/**
 * Opening and closing all the connections of a workload.
 *
 * @module
 */
import type { Connection } from "./connection.ts";
import type { Meter } from "./meter.ts";
import type { BenchResult } from "./result.ts";
import type { Target } from "./target.ts";
import { sleep } from "./wait.ts";

/** How long all the connections of a workload have to log in. */
const CONNECT_MS = 30_000;
/** Logins under way at once. */
const CONNECT_CONCURRENCY = 128;
/** How long `closeAll` waits for read loops to end. */
const CLOSE_MS = 5000;

/** Where `openAll` records failed logins. */
export interface OpenAllOptions {
  /** Counts them as "login failed". */
  meter: Meter;
  /** Its `note` says how many logged in, and the first error. */
  result: BenchResult;
}

/**
 * Opens and logs in `connections`, a bounded number at a time, all within 30 s. Resolves true, or
 * false when any failed.
 */
export async function openAll(
  connections: Connection[],
  target: Target,
  options: OpenAllOptions,
): Promise<boolean> {
  const { meter, result } = options;
  let next = 0;
  let failed = 0;
  let first = "";
  const deadline = performance.now() + CONNECT_MS;
  const worker = async () => {
    while (next < connections.length) {
      const connection = connections[next++]!;
      try {
        await connection.open(target, Math.max(1, deadline - performance.now()));
      } catch (error) {
        failed++;
        if (first === "") first = error instanceof Error ? error.message : String(error);
      }
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(CONNECT_CONCURRENCY, connections.length) }, worker),
  );
  if (failed === 0) return true;
  meter.error("login failed", failed);
  result.note = `${
    connections.length - failed
  }/${connections.length} connections logged in; first error: ${first}`;
  return false;
}

/** Closes `connections` and waits (at most 5 s) for their read loops to end. */
export async function closeAll(connections: Connection[]): Promise<void> {
  for (const connection of connections) connection.close();
  await Promise.race([Promise.all(connections.map((c) => c.ended)), sleep(CLOSE_MS)]);
}
