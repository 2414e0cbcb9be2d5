/**
 * A store filled with stored messages, for the startup workload and `scripts/seed_store.ts`.
 *
 * @module
 */
import type { Store } from "../store/store.ts";
import { benchPayload } from "./payload.ts";

/** Options of `seedStore`. */
export interface SeedOptions {
  /** Messages to store. Default 100,000. */
  messages?: number;
  /** Users the messages are addressed to, and as many senders. Default 10. */
  users?: number;
  /** Starts every seeded name (at most 4 characters). Default "sd". */
  prefix?: string;
  /** The receive time of the messages, in ms since the Unix epoch. Default `Date.now()`. */
  now?: number;
}

/** What `seedStore` wrote. */
export interface SeedResult {
  /** The recipients, each known to the store. */
  recipients: string[];
  /** The senders, each known to the store. */
  senders: string[];
  /** Messages stored. */
  messages: number;
}

/**
 * Stores `messages` 100-byte messages in one batch: sender i writes to recipient i, round robin
 * over the users, each sender's messageIds counting from 1. Every name is made a known user.
 *
 * @example
 * ```ts
 * import { seedStore } from "./seed.ts";
 * import { MemoryStore } from "../store/memory_store.ts";
 * const store = new MemoryStore();
 * seedStore(store, { messages: 1000, users: 4 });
 * store.counts().get("sdr0"); // 250
 * ```
 */
export function seedStore(store: Store, options: SeedOptions = {}): SeedResult {
  const messages = options.messages ?? 100_000;
  const users = options.users ?? 10;
  const prefix = options.prefix ?? "sd";
  const now = options.now ?? Date.now();
  if (!Number.isInteger(messages) || messages < 0) {
    throw new RangeError(`Cannot seed: ${messages} messages is not a whole number`);
  }
  if (!Number.isInteger(users) || users < 1 || users > 1000) {
    throw new RangeError(`Cannot seed: ${users} users is not from 1 to 1000`);
  }
  if (prefix.length > 4) throw new RangeError(`Cannot seed: prefix "${prefix}" is over 4 bytes`);
  const recipients = Array.from({ length: users }, (_, i) => `${prefix}r${i}`);
  const senders = Array.from({ length: users }, (_, i) => `${prefix}s${i}`);
  const payload = benchPayload();
  store.begin();
  try {
    for (const name of [...recipients, ...senders]) store.addUser(name, now);
    for (let i = 0; i < messages; i++) {
      const user = i % users;
      store.putMessage({
        src: senders[user]!,
        dst: recipients[user]!,
        id: Math.floor(i / users) + 1,
        sentAt: now,
        payload,
      });
    }
    store.commit();
  } catch (error) {
    store.rollback();
    throw error;
  }
  return { recipients, senders, messages };
}
