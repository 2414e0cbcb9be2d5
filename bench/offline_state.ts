/** What became of a message to the user who drains, as `OfflineState.fate` records it. */
export const Fate = { SENT: 1, STORED: 2, DRAINED: 3 } as const;
/** One of the `Fate` values. */
export type Fate = typeof Fate[keyof typeof Fate];

/**
 * Offline workload: the messages to receiver 0 (the user who drains), tracked so that its drain
 * can be checked. Shared by the senders and the draining receiver.
 */
export class OfflineState {
  /** The workload's name prefix: senders are PREFIX "os" INDEX. */
  readonly prefix: string;
  /** The most messages sent to receiver 0. */
  readonly cap: number;
  /** Messages sent to receiver 0. */
  issued0 = 0;
  /** Of those, answered "300" (stored). */
  stored0 = 0;
  /** Stored messages the drain should hand over. */
  expected = 0;
  /** Stored messages handed over (type 2) and acknowledged. */
  drained = 0;
  /** performance.now() when the last expected message was handed over. */
  drainedAt = 0;
  /** Type-2 frames for messages whose "300" had not arrived yet. */
  extra = 0;
  /** Late "200" receipts seen by the senders. */
  receipts = 0;
  /** Key `fateKey(sender, id)`. */
  readonly fate: Map<number, Fate> = new Map();

  constructor(prefix: string, cap: number) {
    this.prefix = prefix;
    this.cap = cap;
  }
}

/** The key of message `id` of sender `index` in `OfflineState.fate`. */
export function fateKey(index: number, id: number): number {
  return index * 2 ** 32 + id;
}
