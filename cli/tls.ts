/** What `--tls` and `--ca` ask of a client command. */
export interface TlsFlags {
  /** Connect over TLS (`--tls`, or implied by `--ca`). */
  tls: boolean;
  /** `--ca FILE`: a CA certificate (PEM) to trust besides the system's roots. */
  ca: string | undefined;
}

/** Reads `--tls` and `--ca` from parsed flag values; `--ca` implies `--tls`. */
export function parseTlsFlags(values: { tls?: boolean; ca?: string }): TlsFlags {
  return { tls: values.tls === true || values.ca !== undefined, ca: values.ca };
}

/** The `connect()` options for `flags`: `tls`, and the PEM text of the `--ca` file. */
export async function tlsConnectOptions(flags: TlsFlags): Promise<{ tls?: boolean; ca?: string }> {
  if (!flags.tls) return {};
  if (flags.ca === undefined) return { tls: true };
  try {
    return { tls: true, ca: await Deno.readTextFile(flags.ca) };
  } catch (error) {
    throw new Error(`Cannot read --ca ${flags.ca}: ${(error as Error).message}`, { cause: error });
  }
}
