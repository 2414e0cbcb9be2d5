import { Buffer } from "node:buffer";
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto";

/** scrypt's cost parameters. */
export interface ScryptParams {
  /** CPU and memory cost: a power of two. Memory used is 128 × N × r bytes. */
  N: number;
  /** Block size. */
  r: number;
  /** Parallelism. */
  p: number;
}

/**
 * The parameters of new hashes: 16 MiB and 100-300 ms per hash on one core. N = 2^14 is below
 * OWASP's 2^17 on purpose: a login must stay quick on a small machine (docs/SECURITY.md).
 */
export const DEFAULT_SCRYPT: Readonly<ScryptParams> = { N: 16384, r: 8, p: 1 };

/**
 * A hash of no password, with the default parameters: checking a password against it costs what
 * checking a real account's costs, so that the time of a refusal does not tell whether the name
 * has an account. Nothing matches it (its key is random bytes).
 */
export const DECOY_HASH =
  "scrypt$N=16384,r=8,p=1$k/5WfNOvGcGh5N23YxxQhg==$KkGOZvj8Tz2zvyDgs1B3UJUVrJRSXbltJkGoPkcPwJM=";

/** Options of `hashPassword`. */
export interface HashPasswordOptions {
  /** scrypt's cost. Default `DEFAULT_SCRYPT`. */
  params?: ScryptParams;
}

const SALT_BYTES = 16;
const KEY_BYTES = 32;
/**
 * Bounds on parameters read from a stored hash, so that a bad one cannot exhaust the server: at
 * most 64 MiB (128·N·r bytes) and 4 passes of it per check (2 checks run at once).
 */
const MAX_N = 1 << 20;
const MAX_R = 32;
const MAX_P = 4;
const MAX_MEMORY = 64 * 1024 * 1024;

/**
 * Hashes `password` with a fresh random salt. The result records the algorithm and its
 * parameters, so that they can change without invalidating stored hashes:
 * `scrypt$N=16384,r=8,p=1$<salt, base64>$<hash, base64>`. The work runs off the event loop.
 *
 * @example
 * ```ts
 * import { hashPassword, verifyPassword } from "./password.ts";
 * const hash = await hashPassword("correct horse");
 * await verifyPassword("correct horse", hash); // true
 * ```
 */
export async function hashPassword(
  password: string,
  options: HashPasswordOptions = {},
): Promise<string> {
  const params = options.params ?? DEFAULT_SCRYPT;
  const problem = paramsProblem(params);
  if (problem !== undefined) throw new RangeError(`Cannot hash a password: ${problem}`);
  const salt = randomBytes(SALT_BYTES);
  const key = await derive(password, salt, KEY_BYTES, params);
  return `scrypt$N=${params.N},r=${params.r},p=${params.p}$${salt.toString("base64")}$${
    key.toString("base64")
  }`;
}

/**
 * Whether `password` matches `encoded` (a `hashPassword` result), compared in constant time.
 * Resolves false for a hash it cannot read rather than failing.
 */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const parsed = parseHash(encoded);
  if (parsed === undefined) return false;
  const key = await derive(password, parsed.salt, parsed.key.length, parsed.params);
  return timingSafeEqual(key, parsed.key);
}

/** The parts of an encoded hash, or undefined when it is not one this module writes. */
export function parseHash(
  encoded: string,
): { params: ScryptParams; salt: Buffer; key: Buffer } | undefined {
  const match = /^scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/
    .exec(encoded);
  if (match === null) return undefined;
  const params = { N: Number(match[1]), r: Number(match[2]), p: Number(match[3]) };
  if (paramsProblem(params) !== undefined) return undefined;
  const salt = Buffer.from(match[4]!, "base64");
  const key = Buffer.from(match[5]!, "base64");
  if (salt.length < 8 || key.length < 16 || key.length > 64) return undefined;
  return { params, salt, key };
}

function paramsProblem({ N, r, p }: ScryptParams): string | undefined {
  if (!Number.isInteger(N) || N < 2 || N > MAX_N || (N & (N - 1)) !== 0) {
    return `N=${N} is not a power of two from 2 to ${MAX_N}`;
  }
  if (!Number.isInteger(r) || r < 1 || r > MAX_R) return `r=${r} is not from 1 to ${MAX_R}`;
  if (!Number.isInteger(p) || p < 1 || p > MAX_P) return `p=${p} is not from 1 to ${MAX_P}`;
  if (128 * N * r > MAX_MEMORY) {
    return `N=${N}, r=${r} needs ${(128 * N * r) / (1024 * 1024)} MiB, more than ${
      MAX_MEMORY / (1024 * 1024)
    }`;
  }
  return undefined;
}

function derive(password: string, salt: Buffer, length: number, params: ScryptParams) {
  return new Promise<Buffer>((resolve, reject) => {
    // maxmem must cover 128·N·r (plus a little): node's default of 32 MiB would refuse N=2^15, r=8.
    const maxmem = 128 * params.N * params.r + 1024 * 1024;
    scrypt(password.normalize("NFC"), salt, length, { ...params, maxmem }, (error, key) => {
      if (error !== null) reject(error);
      else resolve(key);
    });
  });
}
