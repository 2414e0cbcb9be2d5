import type { Authenticator, AuthRequest, AuthResult } from "../core/login_gate.ts";
import type { ConnId } from "../core/server_core.ts";
import { hashPassword, type ScryptParams, verifyPassword } from "./password.ts";

/** Options of `PasswordAuthenticator`. */
export interface PasswordAuthenticatorOptions {
  /** scrypt's cost for new hashes. Default `DEFAULT_SCRYPT` (password.ts). */
  params?: ScryptParams;
  /** Checks that run at once; the rest wait in order. Default 2. */
  concurrency?: number;
}

/**
 * The server's `Authenticator`: salted scrypt (auth/password.ts), run off the event loop, a
 * bounded number at a time. Each answer goes to `answer`, which hands it to the core as an event.
 *
 * @example
 * ```ts
 * import { PasswordAuthenticator } from "./authenticator.ts";
 * const authenticator = new PasswordAuthenticator((conn, result) => {
 *   // core.authenticated(conn, result, Date.now()); then end the turn
 * });
 * ```
 */
export class PasswordAuthenticator implements Authenticator {
  #answer: (conn: ConnId, result: AuthResult) => void;
  #params: ScryptParams | undefined;
  #concurrency: number;
  #queue = new Map<number, AuthRequest>();
  #running = 0;

  constructor(
    answer: (conn: ConnId, result: AuthResult) => void,
    options: PasswordAuthenticatorOptions = {},
  ) {
    this.#answer = answer;
    this.#params = options.params;
    this.#concurrency = Math.max(1, options.concurrency ?? 2);
  }

  /** Checks waiting for their turn. */
  get waiting(): number {
    return this.#queue.size;
  }

  check(request: AuthRequest): void {
    this.#queue.set(request.ticket, request);
    this.#next();
  }

  cancel(ticket: number): void {
    this.#queue.delete(ticket);
  }

  #next(): void {
    while (this.#running < this.#concurrency && this.#queue.size > 0) {
      const [ticket, request] = this.#queue.entries().next().value!;
      this.#queue.delete(ticket);
      this.#running++;
      void this.#run(request).then((result) => {
        this.#running--;
        this.#answer(request.conn, result);
        this.#next();
      });
    }
  }

  async #run(request: AuthRequest): Promise<AuthResult> {
    const options = this.#params === undefined ? {} : { params: this.#params };
    try {
      if (request.hash === undefined) {
        return {
          ticket: request.ticket,
          ok: true,
          newHash: await hashPassword(request.password, options),
        };
      }
      if (!await verifyPassword(request.password, request.hash)) {
        return { ticket: request.ticket, ok: false };
      }
      if (request.newPassword === undefined) return { ticket: request.ticket, ok: true };
      return {
        ticket: request.ticket,
        ok: true,
        newHash: await hashPassword(request.newPassword, options),
      };
    } catch {
      // A failing scrypt opens nothing.
      return { ticket: request.ticket, ok: false };
    }
  }
}
