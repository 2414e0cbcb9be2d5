import {
  Code,
  CredentialOption,
  decodeHelloOptions,
  type Frame,
  nameProblem,
  passwordProblem,
} from "../protocol/mod.ts";
import type { Store } from "../store/store.ts";
import { DEFAULT_LIMITS, KeyedRateLimiter, type Limits } from "./limits.ts";
import type { ConnId } from "./server_core.ts";

/**
 * Who may log in as whom. `open`: a name without an account logs in without a password (as in
 * seed 000) and the first login that gives one claims it; `required`: every login needs a
 * password, the first one registers the name; `invite`: only names with an account (made by the
 * operator) log in. In every mode a name with an account opens only with its password.
 */
export const AuthMode = { OPEN: "open", REQUIRED: "required", INVITE: "invite" } as const;

/** A login policy. */
export type AuthMode = typeof AuthMode[keyof typeof AuthMode];

/** A password check the core asks of its `Authenticator`. */
export interface AuthRequest {
  /** Identifies this check in its answer. */
  ticket: number;
  /** The connection whose HELLO waits for the answer. */
  conn: ConnId;
  /** The name logging in. */
  name: string;
  /** The client's IP address: an authenticator shares its time fairly among addresses. */
  address: string;
  /** The password given. */
  password: string;
  /** The account's hash to check `password` against; undefined for a first claim: hash it. */
  hash: string | undefined;
  /** Once `password` is verified, hash this one too (a password change). */
  newPassword: string | undefined;
  /**
   * The name has no account (invite mode, or a password change): check `password` against a
   * decoy hash that costs what a real one costs, and answer `ok: false`, so that the time of the
   * "401" does not tell whether the name has an account.
   */
  decoy: boolean;
}

/** The answer to an `AuthRequest`, handed to `ServerCore.authenticated()`. */
export interface AuthResult {
  /** The request's ticket. */
  ticket: number;
  /** Whether `password` matched `hash` (always true for a first claim). */
  ok: boolean;
  /** The hash to store: of `password` for a first claim, of `newPassword` for a change. */
  newHash?: string;
  /** With `ok: false`: the check did not run, and the login is refused with this code ("503"). */
  code?: string;
}

/**
 * Does the password work (hashing, comparing) away from the core, which stays pure: `check()`
 * starts it, and the answer comes back later, as an event, through
 * `ServerCore.authenticated(conn, result, now)` — never from within `check()`.
 */
export interface Authenticator {
  /** Starts a check. */
  check(request: AuthRequest): void;
  /** The connection of `ticket` is gone: its check may be skipped. */
  cancel?(ticket: number): void;
}

/** What becomes of a HELLO. */
export type Verdict =
  /** No password involved: the login goes on as in seed 000. */
  | { kind: "open" }
  /** A check is under way; its answer comes through `LoginGate.result()`. */
  | { kind: "wait" }
  /**
   * Refused with `code`: "401", "400" (an unusable new password), "423" (too many password
   * attempts from the address or for the name) or "503" (too many checks under way).
   */
  | { kind: "refuse"; code: string; reason: string }
  /** A first claim: store `hash` as the name's account, then log in. */
  | { kind: "register"; hash: string }
  /** The password matched the account: log in, replacing a connection holding the name. */
  | { kind: "login" }
  /** The password matched: store `hash` as the new one; no login follows. */
  | { kind: "change"; hash: string };

interface Check {
  conn: ConnId;
  frame: Frame;
  name: string;
  address: string;
  password: string;
  newPassword: string | undefined;
  hash: string | undefined;
  decoy: boolean;
  ticket: number;
  round: number;
}

/** Checks in a row that may find the account changed under them before the login is refused. */
export const MAX_ROUNDS = 3;

const OPEN: Verdict = { kind: "open" };
const WAIT: Verdict = { kind: "wait" };
/** The options of a HELLO without a payload, the usual one: nothing to decode. */
const NO_OPTIONS: ReadonlyMap<string, string> = new Map();

function refuse(code: string, reason: string): Verdict {
  return { kind: "refuse", code, reason };
}

/** Options of `LoginGate`. */
export interface LoginGateOptions {
  /** Where the accounts are. */
  store: Store;
  /** The login policy. Default "open". */
  mode?: AuthMode;
  /** Does the password work; without one, every login that needs a password is refused. */
  authenticator?: Authenticator | undefined;
  /** The password limits. Default: those of `DEFAULT_LIMITS`. */
  limits?: Pick<
    Limits,
    | "passwordsPerMinute"
    | "passwordFailuresPerMinute"
    | "passwordChecksPerIp"
    | "maxPasswordChecks"
  >;
}

/** Where a HELLO comes from, and when. */
export interface HelloContext {
  /** The client's IP address (`ipOf(peer)`), which the password limits count by. */
  address: string;
  /** The current time, in ms. */
  now: number;
}

/**
 * Decides on HELLOs and legacy bindings by the accounts in the store and the auth mode; asks the
 * authenticator to check passwords and turns its answers into verdicts. Pure: it reads the store
 * and never writes it (the core stores what a verdict says, in its batch).
 *
 * It also bounds what password checks may cost (each is 100-300 ms of scrypt): per address, the
 * checks under way at once and those started per minute; per name, the wrong passwords per
 * minute; and the checks under way in total. Logins without a password are not counted.
 */
export class LoginGate {
  #store: Store;
  #mode: AuthMode;
  #authenticator: Authenticator | undefined;
  #checks = new Map<ConnId, Check>();
  #nextTicket = 1;
  #perIp: number;
  #max: number;
  /** Checks under way per address. */
  #underWay = new Map<string, number>();
  /** Checks started per address. */
  #attempts: KeyedRateLimiter;
  /** Checks that may fail per name: taken at the start, given back on success. */
  #failures: KeyedRateLimiter;

  constructor(options: LoginGateOptions) {
    this.#store = options.store;
    this.#mode = options.mode ?? AuthMode.OPEN;
    this.#authenticator = options.authenticator;
    const limits = options.limits ?? DEFAULT_LIMITS;
    this.#perIp = limits.passwordChecksPerIp;
    this.#max = limits.maxPasswordChecks;
    const attempts = limits.passwordsPerMinute;
    this.#attempts = new KeyedRateLimiter(attempts, attempts / 60);
    const failures = limits.passwordFailuresPerMinute;
    this.#failures = new KeyedRateLimiter(failures, failures / 60);
  }

  /** Password checks under way (asked of the authenticator, not answered yet). */
  get checking(): number {
    return this.#checks.size;
  }

  /** The verdict on `frame`, a HELLO on `conn`. */
  hello(conn: ConnId, frame: Frame, context: HelloContext): Verdict {
    // The core refuses an invalid name ("400") without looking at credentials.
    if (nameProblem(frame.src) !== undefined) return OPEN;
    const options = frame.payload.length === 0 ? NO_OPTIONS : decodeHelloOptions(frame.payload);
    return this.#decide({
      conn,
      frame,
      name: frame.src,
      address: context.address,
      password: options.get(CredentialOption.PASSWORD) ?? "",
      newPassword: options.get(CredentialOption.NEW_PASSWORD),
      hash: undefined,
      decoy: false,
      ticket: 0,
      round: 0,
    }, context.now);
  }

  /**
   * The authenticator's answer for `conn` at `now`: the verdict and the HELLO it is about, or
   * undefined when no such check is under way (a stale or unknown ticket).
   */
  result(
    conn: ConnId,
    result: AuthResult,
    now: number,
  ): { verdict: Verdict; frame: Frame } | undefined {
    const check = this.#checks.get(conn);
    if (check === undefined || check.ticket !== result.ticket) return undefined;
    this.#forget(check);
    const verdict = this.#verdict(check, result, now);
    if (verdict.kind !== "wait") {
      // A check that did not run, or that went through, is not a wrong password.
      const notWrong = verdict.kind !== "refuse" || result.code !== undefined;
      if (notWrong) this.#failures.refund(check.name, now);
    }
    return { verdict, frame: check.frame };
  }

  #verdict(check: Check, result: AuthResult, now: number): Verdict {
    if (!result.ok) {
      if (result.code !== undefined) return refuse(result.code, "the password checks are busy");
      return refuse(
        Code.UNAUTHORIZED,
        check.decoy ? `${check.name} has no account` : "wrong password",
      );
    }
    if (this.#store.account(check.name)?.hash !== check.hash) {
      // Claimed, changed or removed while we checked: decide again on what is there now.
      if (check.round + 1 >= MAX_ROUNDS) {
        return refuse(Code.UNAUTHORIZED, "the account kept changing");
      }
      return this.#decide({ ...check, round: check.round + 1 }, now);
    }
    // A decoy never opens anything, whatever the authenticator says.
    if (check.decoy) return refuse(Code.UNAUTHORIZED, `${check.name} has no account`);
    if (check.hash !== undefined && check.newPassword === undefined) return { kind: "login" };
    if (result.newHash === undefined) {
      return refuse(Code.SERVER_ERROR, "the authenticator gave no hash");
    }
    const kind = check.hash === undefined ? "register" : "change";
    return { kind, hash: result.newHash };
  }

  /** Whether a connection that did not say HELLO (seed 000: no password) may be bound to `name`. */
  legacyAllowed(name: string): boolean {
    return this.#mode === AuthMode.OPEN && this.#store.account(name) === undefined;
  }

  /** `conn` is gone: forget its check. */
  cancel(conn: ConnId): void {
    const check = this.#checks.get(conn);
    if (check === undefined) return;
    this.#forget(check);
    this.#authenticator?.cancel?.(check.ticket);
  }

  /** Forgets the rate buckets that are full again at `now` (the core's periodic sweep). */
  prune(now: number): void {
    this.#attempts.prune(now);
    this.#failures.prune(now);
  }

  #decide(login: Check, now: number): Verdict {
    const account = this.#store.account(login.name);
    if (login.newPassword !== undefined) {
      if (login.password === "") return refuse(Code.UNAUTHORIZED, "no current password given");
      const problem = passwordProblem(login.newPassword);
      if (problem !== undefined) return refuse(Code.BAD_REQUEST, `new password ${problem}`);
      return this.#check(login, account?.hash, now);
    }
    if (account !== undefined) {
      if (login.password === "") {
        return refuse(Code.UNAUTHORIZED, `${login.name} has a password and none was given`);
      }
      return this.#check(login, account.hash, now);
    }
    if (this.#mode === AuthMode.INVITE) {
      if (login.password === "") {
        return refuse(Code.UNAUTHORIZED, `${login.name} has no account (invite only)`);
      }
      return this.#check(login, undefined, now, true);
    }
    if (login.password === "") {
      return this.#mode === AuthMode.REQUIRED
        ? refuse(Code.UNAUTHORIZED, "a password is required")
        : OPEN;
    }
    const problem = passwordProblem(login.password);
    if (problem !== undefined) return refuse(Code.BAD_REQUEST, `password ${problem}`);
    return this.#check(login, undefined, now);
  }

  /**
   * Asks for a check of `login`'s password against `hash` (undefined: a first claim to hash, or
   * with `decoy` or a password change, no account: a decoy check). A first round counts against
   * the password limits; the rounds after it (the account changed meanwhile) do not.
   */
  #check(login: Check, hash: string | undefined, now: number, decoy = false): Verdict {
    if (this.#authenticator === undefined) {
      return refuse(Code.UNAUTHORIZED, "this server checks no passwords");
    }
    if (login.round === 0) {
      const refusal = this.#limit(login, now);
      if (refusal !== undefined) return refusal;
    }
    const check = {
      ...login,
      hash,
      decoy: decoy || (login.newPassword !== undefined && hash === undefined),
      ticket: this.#nextTicket++,
    };
    this.#checks.set(check.conn, check);
    this.#underWay.set(check.address, (this.#underWay.get(check.address) ?? 0) + 1);
    this.#authenticator.check({
      ticket: check.ticket,
      conn: check.conn,
      name: check.name,
      address: check.address,
      password: check.password,
      hash,
      newPassword: check.newPassword,
      decoy: check.decoy,
    });
    return WAIT;
  }

  /** The refusal of a new check by the password limits, if any; else counts it. */
  #limit(login: Check, now: number): Verdict | undefined {
    if (this.#checks.size >= this.#max) {
      return refuse(Code.SERVER_FULL, "too many password checks under way");
    }
    if ((this.#underWay.get(login.address) ?? 0) >= this.#perIp) {
      return refuse(Code.TOO_MANY_LOGINS, "too many password checks at once from this address");
    }
    // Before spending the address's allowance: a locked name costs it nothing.
    if (!this.#failures.available(login.name, now)) {
      return refuse(Code.TOO_MANY_LOGINS, `too many wrong passwords for ${login.name}`);
    }
    if (!this.#attempts.take(login.address, now)) {
      return refuse(Code.TOO_MANY_LOGINS, "too many password attempts from this address");
    }
    this.#failures.take(login.name, now);
    return undefined;
  }

  #forget(check: Check): void {
    this.#checks.delete(check.conn);
    const n = this.#underWay.get(check.address) ?? 0;
    if (n <= 1) this.#underWay.delete(check.address);
    else this.#underWay.set(check.address, n - 1);
  }
}
