const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Reads the options of a HELLO payload: UTF-8 lines of `key` or `key=value`. Unknown keys are
 * ignored, so clients may ask for extensions a server does not know. Defined: `timed` (TIMED
 * frames before stored messages), `password` and `new-password` (credentials: password.ts).
 *
 * @example
 * ```ts
 * import { decodeHelloOptions } from "./hello.ts";
 * decodeHelloOptions(new TextEncoder().encode("timed")).has("timed"); // true
 * ```
 */
export function decodeHelloOptions(payload: Uint8Array): Map<string, string> {
  const options = new Map<string, string>();
  if (payload.length === 0) return options;
  for (const line of decoder.decode(payload).split("\n")) {
    if (line === "") continue;
    const eq = line.indexOf("=");
    if (eq < 0) options.set(line, "");
    else options.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return options;
}

/** Writes HELLO options (a value of "" writes the bare key). */
export function encodeHelloOptions(options: Iterable<[string, string]>): Uint8Array {
  const lines = [...options].map(([key, value]) => value === "" ? key : `${key}=${value}`);
  return encoder.encode(lines.join("\n"));
}
