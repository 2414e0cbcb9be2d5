/**
 * The server's abuse limits and the pure machinery that applies them: token buckets that take the
 * current time as an argument, and per-address connection counts. The defaults stop only what is
 * pathological (see docs/SECURITY.md); an operator sets human-scale values with `serve` flags.
 *
 * @module
 */

/** Limits on what one address, one connection or one user may cost the server. */
export interface Limits {
  /** Connections open at once, in total; a connection beyond it gets "503" and is closed. */
  maxConnections: number;
  /** Connections open at once from one IP address; beyond it: "421" and closed. */
  maxConnectionsPerIp: number;
  /**
   * Logins (HELLO, or a seed-000 client's first frame) per minute from one IP address: a token
   * bucket that holds this many and refills at this many per minute. Beyond it: "423", closed.
   */
  loginsPerMinute: number;
  /** Messages (MSG frames) per second from one user, sustained; beyond it a message gets "429". */
  msgRate: number;
  /**
   * Messages one user may send at once (the bucket's size). When not given: `msgRate`, and at
   * least 20 (a pasted block of 20 lines passes any rate).
   */
  msgBurst: number;
  /** ms a connection has to log in (HELLO, or a seed-000 first frame); then "408" and closed. */
  loginTimeoutMs: number;
  /** ms without a frame from a logged-in (HELLO) session before the server sends it a PING. */
  idleTimeoutMs: number;
  /** ms a PINGed session has to send any frame back; then "440" and closed. */
  pingTimeoutMs: number;
  /** Payload bytes stored for one recipient; a message beyond it gets "507", nothing stored. */
  maxQueueBytes: number;
  /**
   * Frames of any type per second from one logged-in connection, sustained (MSG, ACK, PING,
   * WHO, reserved types…); the bucket holds this many, and at least twice `msgBurst`. Beyond it:
   * "429" and closed. Looser than `msgRate`: it stops floods of the frames that rate ignores.
   */
  frameRate: number;
  /**
   * Password checks (a HELLO with a password: login, first claim or change) started per minute
   * from one IP address: a token bucket of this many. Beyond it: "423", closed, nothing checked.
   */
  passwordsPerMinute: number;
  /**
   * Wrong passwords per minute for one name, from all addresses: a token bucket of this many,
   * taken when a check starts and given back when it succeeds. Once empty, a login with a
   * password for that name gets "423" without a check until it refills.
   */
  passwordFailuresPerMinute: number;
  /** Password checks waiting or running at once for one IP address; beyond: "423", closed. */
  passwordChecksPerIp: number;
  /** Password checks waiting or running at once in total; beyond: "503", closed. */
  maxPasswordChecks: number;
}

/**
 * The defaults. They let through every machine client the project knows (bursts of thousands of
 * messages, 10,000 connections from one address within seconds, a benchmark sender at 100,000+
 * messages per second) and stop only the pathological.
 */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxConnections: 30_000,
  maxConnectionsPerIp: 15_000,
  loginsPerMinute: 60_000,
  msgRate: 200_000,
  msgBurst: 200_000,
  // A seed-000 client logs in with its first message, which may come when its user first types.
  loginTimeoutMs: 10 * 60_000,
  idleTimeoutMs: 5 * 60_000,
  pingTimeoutMs: 60_000,
  maxQueueBytes: 64 * 1024 * 1024,
  frameRate: 500_000,
  passwordsPerMinute: 30,
  passwordFailuresPerMinute: 10,
  passwordChecksPerIp: 2,
  // One check costs 100-300 ms of scrypt and 2 run at once: 64 waiting is 3-10 s of work.
  maxPasswordChecks: 64,
});

const MIN_BURST = 20;

/** `DEFAULT_LIMITS` with `overrides` applied; throws `RangeError` on a value that is not > 0. */
export function resolveLimits(overrides: Partial<Limits> = {}): Limits {
  const limits = { ...DEFAULT_LIMITS };
  for (const [key, value] of Object.entries(overrides) as [keyof Limits, number | undefined][]) {
    if (value === undefined) continue;
    if (!(value > 0)) throw new RangeError(`Cannot use limit ${key}: ${value} is not above 0`);
    limits[key] = value;
  }
  if (overrides.msgBurst === undefined) limits.msgBurst = Math.max(limits.msgRate, MIN_BURST);
  return limits;
}

/**
 * Bulk frames (a long message's CHUNKs after its first, an accepted upload's DATA) of at least
 * this many bytes cost no frame-rate token: their number is bounded by the message or file size,
 * and a client's are 997..1000 bytes. Smaller ones pay, so empty frames cannot flood.
 */
export const FREE_BULK_BYTES = 512;

/** The size of a connection's frame bucket: `frameRate`, and at least twice `msgBurst`. */
export function frameBurst(limits: Pick<Limits, "frameRate" | "msgBurst">): number {
  return Math.max(limits.frameRate, 2 * limits.msgBurst);
}

/**
 * A token bucket: holds up to `capacity` tokens, refills at `perSecond`, starts full. Time is
 * passed in (ms), never read; a clock that goes back refills nothing.
 *
 * @example
 * ```ts
 * import { TokenBucket } from "./limits.ts";
 * const bucket = new TokenBucket(20, 5, 0); // bursts of 20, then 5 per second
 * bucket.take(0); // true
 * ```
 */
export class TokenBucket {
  #capacity: number;
  #perMs: number;
  #tokens: number;
  #at: number;

  constructor(capacity: number, perSecond: number, now: number) {
    this.#capacity = capacity;
    this.#perMs = perSecond / 1000;
    this.#tokens = capacity;
    this.#at = now;
  }

  /** Takes one token if there is one; false when the bucket is empty at `now`. */
  take(now: number): boolean {
    this.#refill(now);
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Whether `take(now)` would succeed; takes nothing. */
  available(now: number): boolean {
    this.#refill(now);
    return this.#tokens >= 1;
  }

  /** Gives back one token taken earlier (never beyond the capacity). */
  refund(now: number): void {
    this.#refill(now);
    this.#tokens = Math.min(this.#capacity, this.#tokens + 1);
  }

  /** Whether the bucket is full again at `now` (it can be forgotten). */
  full(now: number): boolean {
    const tokens = this.#tokens + Math.max(0, now - this.#at) * this.#perMs;
    return tokens >= this.#capacity;
  }

  #refill(now: number): void {
    if (now <= this.#at) return;
    this.#tokens = Math.min(this.#capacity, this.#tokens + (now - this.#at) * this.#perMs);
    this.#at = now;
  }
}

/**
 * One token bucket per key (e.g. per IP address), created on first use. `prune(now)` forgets the
 * buckets that are full again, so only keys active within one refill time are kept.
 */
export class KeyedRateLimiter {
  #capacity: number;
  #perSecond: number;
  #buckets = new Map<string, TokenBucket>();

  constructor(capacity: number, perSecond: number) {
    this.#capacity = capacity;
    this.#perSecond = perSecond;
  }

  /** Keys with a bucket now. */
  get size(): number {
    return this.#buckets.size;
  }

  /** Takes one token from `key`'s bucket; false when it is empty. */
  take(key: string, now: number): boolean {
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      bucket = new TokenBucket(this.#capacity, this.#perSecond, now);
      this.#buckets.set(key, bucket);
    }
    return bucket.take(now);
  }

  /** Whether `take(key, now)` would succeed; takes nothing and makes no bucket. */
  available(key: string, now: number): boolean {
    return this.#buckets.get(key)?.available(now) ?? true;
  }

  /** Gives back a token taken from `key`'s bucket (nothing if it has none: it is full). */
  refund(key: string, now: number): void {
    this.#buckets.get(key)?.refund(now);
  }

  /** Forgets every bucket that is full again at `now`. */
  prune(now: number): void {
    for (const [key, bucket] of this.#buckets) {
      if (bucket.full(now)) this.#buckets.delete(key);
    }
  }
}

/** Why a connection was refused at accept: "503" (the server is full) or "421" (its address is). */
export type ConnectionRefusal = "503" | "421";

/** Counts open connections, in total and per IP address, against two maxima. */
export class ConnectionLimiter {
  #max: number;
  #maxPerIp: number;
  #total = 0;
  #perIp = new Map<string, number>();

  constructor(max: number, maxPerIp: number) {
    this.#max = max;
    this.#maxPerIp = maxPerIp;
  }

  /** Connections counted now. */
  get total(): number {
    return this.#total;
  }

  /** Connections counted now from `ip`. */
  count(ip: string): number {
    return this.#perIp.get(ip) ?? 0;
  }

  /** Counts a new connection from `ip`, or returns the code refusing it (then nothing is counted). */
  open(ip: string): ConnectionRefusal | undefined {
    if (this.#total >= this.#max) return "503";
    const n = this.#perIp.get(ip) ?? 0;
    if (n >= this.#maxPerIp) return "421";
    this.#perIp.set(ip, n + 1);
    this.#total++;
    return undefined;
  }

  /** A connection counted by `open(ip)` has closed. */
  close(ip: string): void {
    const n = this.#perIp.get(ip);
    if (n === undefined) return;
    if (n <= 1) this.#perIp.delete(ip);
    else this.#perIp.set(ip, n - 1);
    this.#total--;
  }
}

/**
 * The IP address of a peer string as the I/O layer writes it, "host:port" (the port is always
 * there): "127.0.0.1:5000", "::1:5000" and "[::1]:5000" give "127.0.0.1", "::1" and "::1". An
 * IPv4-mapped IPv6 address ("::ffff:10.0.0.1") gives its IPv4 address, and IPv6 is lower-cased,
 * so that one client has one key whichever way its address was written.
 */
export function ipOf(peer: string): string {
  let host: string;
  if (peer.startsWith("[")) {
    const close = peer.indexOf("]");
    host = close < 0 ? peer.slice(1) : peer.slice(1, close);
  } else {
    const colon = peer.lastIndexOf(":");
    host = colon < 0 ? peer : peer.slice(0, colon);
  }
  if (!host.includes(":")) return host;
  host = host.toLowerCase();
  const mapped = /^(?:::|(?:0{1,4}:){5})ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(host);
  return mapped === null ? host : mapped[1]!;
}

/** A connection's timestamps (ms), as `liveness()` reads them. */
export interface Activity {
  /** When it was accepted. */
  opened: number;
  /** When its last frame arrived (`opened` if none did). */
  seen: number;
  /** When the server last sent it a PING (0: never). */
  pingedAt: number;
  /** Whether it has logged in (HELLO, or bound by a seed-000 first frame). */
  loggedIn: boolean;
  /** Bound by its first frame (a seed-000 client): never PINGed, never idle-closed. */
  legacy: boolean;
}

/** What a connection's activity calls for at `now`: nothing, a PING, or closing it (which rule). */
export type Liveness = "ok" | "ping" | "login-timeout" | "ping-timeout";

/**
 * The heartbeat rules: a connection that has not logged in within `loginTimeoutMs` of opening is
 * closed; a logged-in HELLO session silent for `idleTimeoutMs` is PINGed, and closed if nothing at
 * all comes back within `pingTimeoutMs`. A seed-000 session is never PINGed (it does not know type 4).
 */
export function liveness(
  a: Activity,
  now: number,
  limits: Pick<Limits, "loginTimeoutMs" | "idleTimeoutMs" | "pingTimeoutMs">,
): Liveness {
  if (!a.loggedIn) return now - a.opened >= limits.loginTimeoutMs ? "login-timeout" : "ok";
  if (a.legacy) return "ok";
  if (a.pingedAt > a.seen) return now - a.pingedAt >= limits.pingTimeoutMs ? "ping-timeout" : "ok";
  return now - a.seen >= limits.idleTimeoutMs ? "ping" : "ok";
}
