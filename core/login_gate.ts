import {
  Code,
  CredentialOption,
  decodeHelloOptions,
  type Frame,
  nameProblem,
  passwordProblem,
} from "../protocol/mod.ts";
import type { Store } from "../store/store.ts";
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
  /** The password given. */
  password: string;
  /** The account's hash to check `password` against; undefined for a first claim: hash it. */
  hash: string | undefined;
  /** Once `password` is verified, hash this one too (a password change). */
  newPassword: string | undefined;
}

/** The answer to an `AuthRequest`, handed to `ServerCore.authenticated()`. */
export interface AuthResult {
  /** The request's ticket. */
  ticket: number;
  /** Whether `password` matched `hash` (always true for a first claim). */
  ok: boolean;
  /** The hash to store: of `password` for a first claim, of `newPassword` for a change. */
  newHash?: string;
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
  /** Refused with `code` ("401", or "400" for an unusable new password). */
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
  password: string;
  newPassword: string | undefined;
  hash: string | undefined;
  ticket: number;
  round: number;
}

/** Checks in a row that may find the account changed under them before the login is refused. */
const MAX_ROUNDS = 3;

const OPEN: Verdict = { kind: "open" };
const WAIT: Verdict = { kind: "wait" };

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
}

/**
 * Decides on HELLOs and legacy bindings by the accounts in the store and the auth mode; asks the
 * authenticator to check passwords and turns its answers into verdicts. Pure: it reads the store
 * and never writes it (the core stores what a verdict says, in its batch).
 */
export class LoginGate {
  #store: Store;
  #mode: AuthMode;
  #authenticator: Authenticator | undefined;
  #checks = new Map<ConnId, Check>();
  #nextTicket = 1;

  constructor(options: LoginGateOptions) {
    this.#store = options.store;
    this.#mode = options.mode ?? AuthMode.OPEN;
    this.#authenticator = options.authenticator;
  }

  /** The verdict on `frame`, a HELLO on `conn`. */
  hello(conn: ConnId, frame: Frame): Verdict {
    // The core refuses an invalid name ("400") without looking at credentials.
    if (nameProblem(frame.src) !== undefined) return OPEN;
    const options = decodeHelloOptions(frame.payload);
    return this.#decide({
      conn,
      frame,
      name: frame.src,
      password: options.get(CredentialOption.PASSWORD) ?? "",
      newPassword: options.get(CredentialOption.NEW_PASSWORD),
      hash: undefined,
      ticket: 0,
      round: 0,
    });
  }

  /**
   * The authenticator's answer for `conn`: the verdict and the HELLO it is about, or undefined
   * when no such check is under way (a stale or unknown ticket).
   */
  result(conn: ConnId, result: AuthResult): { verdict: Verdict; frame: Frame } | undefined {
    const check = this.#checks.get(conn);
    if (check === undefined || check.ticket !== result.ticket) return undefined;
    this.#checks.delete(conn);
    const frame = check.frame;
    if (!result.ok) return { verdict: refuse(Code.UNAUTHORIZED, "wrong password"), frame };
    if (this.#store.account(check.name)?.hash !== check.hash) {
      // Claimed, changed or removed while we checked: decide again on what is there now.
      if (check.round + 1 >= MAX_ROUNDS) {
        return { verdict: refuse(Code.UNAUTHORIZED, "the account kept changing"), frame };
      }
      return { verdict: this.#decide({ ...check, round: check.round + 1 }), frame };
    }
    if (check.hash !== undefined && check.newPassword === undefined) {
      return { verdict: { kind: "login" }, frame };
    }
    if (result.newHash === undefined) {
      return { verdict: refuse(Code.SERVER_ERROR, "the authenticator gave no hash"), frame };
    }
    const kind = check.hash === undefined ? "register" : "change";
    return { verdict: { kind, hash: result.newHash }, frame };
  }

  /** Whether a connection that did not say HELLO (seed 000: no password) may be bound to `name`. */
  legacyAllowed(name: string): boolean {
    return this.#mode === AuthMode.OPEN && this.#store.account(name) === undefined;
  }

  /** `conn` is gone: forget its check. */
  cancel(conn: ConnId): void {
    const check = this.#checks.get(conn);
    if (check === undefined) return;
    this.#checks.delete(conn);
    this.#authenticator?.cancel?.(check.ticket);
  }

  #decide(login: Check): Verdict {
    const account = this.#store.account(login.name);
    if (login.newPassword !== undefined) {
      if (account === undefined) {
        return refuse(Code.UNAUTHORIZED, "no account whose password could change");
      }
      if (login.password === "") return refuse(Code.UNAUTHORIZED, "no current password given");
      const problem = passwordProblem(login.newPassword);
      if (problem !== undefined) return refuse(Code.BAD_REQUEST, `new password ${problem}`);
      return this.#check(login, account.hash);
    }
    if (account !== undefined) {
      if (login.password === "") {
        return refuse(Code.UNAUTHORIZED, `${login.name} has a password and none was given`);
      }
      return this.#check(login, account.hash);
    }
    if (this.#mode === AuthMode.INVITE) {
      return refuse(Code.UNAUTHORIZED, `${login.name} has no account (invite only)`);
    }
    if (login.password === "") {
      return this.#mode === AuthMode.REQUIRED
        ? refuse(Code.UNAUTHORIZED, "a password is required")
        : OPEN;
    }
    const problem = passwordProblem(login.password);
    if (problem !== undefined) return refuse(Code.BAD_REQUEST, `password ${problem}`);
    return this.#check(login, undefined);
  }

  #check(login: Check, hash: string | undefined): Verdict {
    if (this.#authenticator === undefined) {
      return refuse(Code.UNAUTHORIZED, "this server checks no passwords");
    }
    const check = { ...login, hash, ticket: this.#nextTicket++ };
    this.#checks.set(login.conn, check);
    this.#authenticator.check({
      ticket: check.ticket,
      conn: check.conn,
      name: check.name,
      password: check.password,
      hash,
      newPassword: check.newPassword,
    });
    return WAIT;
  }
}
