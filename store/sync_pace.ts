/**
 * Where the group commit's sync of the write-ahead log runs: on the event loop's thread, or off it.
 *
 * On a disk whose syncs are quick (0.2-0.25 ms for a batch's `fdatasync` of the log on this
 * project's machines), a sync off the thread adds more than it saves: the hop to another thread and
 * back, the poller parked off the thread meanwhile, and with the server on one core the other
 * thread takes its time from the event loop anyway. On the thread, "300" to offline users went
 * about 1.12 times as fast (docs/PERFORMANCE.md). But a slow sync there stalls every live
 * message, so once `SLOW_RUN` in a row took longer than `SLOW_SYNC_MS` the next go off the thread
 * for a while: a second, then twice as long at each slow sync after it, up to a minute; a quick one
 * starts over. A lone slow sync (about one in a thousand here: the machine's other tenants) changes
 * nothing; a slow disk stalls the loop three times, then ever more rarely, once a minute at most.
 *
 * @module
 */

/** A sync on the thread that takes longer than this (ms) is slow. */
export const SLOW_SYNC_MS = 2;
/** Slow syncs in a row that send the next ones off the thread. */
export const SLOW_RUN = 3;
/** How long syncs stay off the thread after the first slow run (ms). */
export const FIRST_PAUSE_MS = 1000;
/** The longest they stay off it (ms). */
export const MAX_PAUSE_MS = 60_000;

/**
 * @example
 * ```ts
 * import { SyncPace } from "./sync_pace.ts";
 * const pace = new SyncPace();
 * for (let i = 0; i < 3; i++) pace.took(5, 0); // slow, three in a row
 * [pace.onThread(999), pace.onThread(1000)]; // [false, true]
 * ```
 */
export class SyncPace {
  #offUntil = 0;
  #pause = FIRST_PAUSE_MS;
  /** Slow syncs in a row. */
  #slow = 0;

  /** Whether the sync due at `now` (ms) runs on the thread. */
  onThread(now: number): boolean {
    return now >= this.#offUntil;
  }

  /** A sync on the thread took `ms`, ending at `now`. */
  took(ms: number, now: number): void {
    if (ms <= SLOW_SYNC_MS) {
      this.#slow = 0;
      this.#pause = FIRST_PAUSE_MS;
      return;
    }
    if (++this.#slow < SLOW_RUN) return;
    this.#offUntil = now + this.#pause;
    this.#pause = Math.min(this.#pause * 2, MAX_PAUSE_MS);
  }
}
