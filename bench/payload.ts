/** Bytes in the payload of every message the bench sends. */
export const PAYLOAD_SIZE = 100;

/**
 * The payload of every message the bench sends: `PAYLOAD_SIZE` bytes "abc…zabc…", so that a
 * receiver can check that a stored message came back unaltered.
 */
export function benchPayload(): Uint8Array {
  const payload = new Uint8Array(PAYLOAD_SIZE);
  for (let i = 0; i < PAYLOAD_SIZE; i++) payload[i] = 0x61 + i % 26;
  return payload;
}
