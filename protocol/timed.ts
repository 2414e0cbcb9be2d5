import type { ByteOrder } from "./frame.ts";
import { FrameError } from "./frame_error.ts";

/** Bytes of a TIMED payload: a u64 of ms since the Unix epoch. */
export const TIMED_SIZE = 8;

/** The payload of a TIMED frame for time `at` (ms since the Unix epoch). */
export function encodeTimed(at: number, order: ByteOrder = "be"): Uint8Array {
  const payload = new Uint8Array(TIMED_SIZE);
  new DataView(payload.buffer).setBigUint64(0, BigInt(Math.max(0, Math.floor(at))), order === "le");
  return payload;
}

/** The time (ms since the Unix epoch) in a TIMED payload; `FrameError` "400" if malformed. */
export function decodeTimed(payload: Uint8Array, order: ByteOrder = "be"): number {
  if (payload.length !== TIMED_SIZE) {
    throw new FrameError("400", `Cannot read TIMED payload: ${payload.length} bytes, not 8`);
  }
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  return Number(view.getBigUint64(0, order === "le"));
}
