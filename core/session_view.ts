import type { ByteOrder } from "../protocol/mod.ts";

/**
 * What the core's parts (rooms, file transfers) need to know of a session; the core's sessions
 * have all of it.
 */
export interface SessionView {
  readonly conn: number;
  readonly name: string;
  readonly order: ByteOrder;
  /** A seed-000 client: in no room, never handed room traffic, TIMED or files. */
  readonly legacy: boolean;
  /** Asked for TIMED frames in its HELLO. */
  readonly timed: boolean;
  readonly closed: boolean;
  /**
   * Its login drain runs: room messages reach it through the catch-up and pending files are
   * offered at its end.
   */
  readonly draining: boolean;
}
