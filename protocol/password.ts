/** HELLO options that carry credentials (see `decodeHelloOptions`). */
export const CredentialOption = {
  /** The password of the name: registers it (first claim) or must match its account. */
  PASSWORD: "password",
  /** With `password`: replace the account's password by this one (no login follows). */
  NEW_PASSWORD: "new-password",
} as const;

/** The longest password, in bytes of UTF-8: two of them fit a HELLO payload with room to spare. */
export const MAX_PASSWORD_BYTES = 256;

const encoder = new TextEncoder();

/**
 * Why `password` cannot be used, or undefined if it can: it must be 1..256 bytes of UTF-8
 * without a line break or NUL (HELLO options are lines of text).
 *
 * @example
 * ```ts
 * import { passwordProblem } from "./password.ts";
 * passwordProblem(""); // "is empty"
 * passwordProblem("correct horse"); // undefined
 * ```
 */
export function passwordProblem(password: string): string | undefined {
  if (password === "") return "is empty";
  if (/[\n\r\0]/.test(password)) return "contains a line break or NUL";
  const bytes = encoder.encode(password).length;
  if (bytes > MAX_PASSWORD_BYTES) return `is ${bytes} bytes long (at most ${MAX_PASSWORD_BYTES})`;
  return undefined;
}
