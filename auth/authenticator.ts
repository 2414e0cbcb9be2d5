import type { Authenticator, AuthRequest, AuthResult } from "../core/login_gate.ts";
import type { ConnId } from "../core/server_core.ts";
import { DECOY_HASH, hashPassword, type ScryptParams, verifyPassword } from "./password.ts";

/** Options of `PasswordAuthenticator`. */
export interface PasswordAuthenticatorOptions {
  /** scrypt's cost for new hashes. Default `DEFAULT_SCRYPT` (password.ts). */
  params?: ScryptParams;
  /** Checks that run at once; the rest wait their turn. Default 2. */
  concurrency?: number;
  /**
   * Checks that may wait, in total; a check beyond them is answered at once (in a later turn)
   * with `ok: false, code: "503"`. Default 1024. (The server's login gate bounds them lower.)
   */
  maxWaiting?: number;
}

/**
 * The server's `Authenticator`: salted scrypt (auth/password.ts), run off the event loop, a
 * bounded number at a time. Waiting checks are served round-robin by client address
 * (`AuthRequest.address`), so that one address with many checks delays the others by one check
 * each at most. Each answer goes to `answer`, which hands it to the core as an event.
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
  #maxWaiting: number;
  /** Waiting checks by address, addresses in turn order; each address's checks in order. */
  #queues = new Map<string, Map<number, AuthRequest>>();
  /** The address of each waiting ticket. */
  #addressOf = new Map<number, string>();
  #running = 0;

  constructor(
    answer: (conn: ConnId, result: AuthResult) => void,
    options: PasswordAuthenticatorOptions = {},
  ) {
    this.#answer = answer;
    this.#params = options.params;
    this.#concurrency = Math.max(1, options.concurrency ?? 2);
    this.#maxWaiting = Math.max(0, options.maxWaiting ?? 1024);
  }

  /** Checks waiting for their turn. */
  get waiting(): number {
    return this.#addressOf.size;
  }

  check(request: AuthRequest): void {
    if (this.#running >= this.#concurrency && this.#addressOf.size >= this.#maxWaiting) {
      const busy = { ticket: request.ticket, ok: false, code: "503" };
      queueMicrotask(() => this.#answer(request.conn, busy));
      return;
    }
    let queue = this.#queues.get(request.address);
    if (queue === undefined) {
      queue = new Map();
      this.#queues.set(request.address, queue);
    }
    queue.set(request.ticket, request);
    this.#addressOf.set(request.ticket, request.address);
    this.#next();
  }

  cancel(ticket: number): void {
    const address = this.#addressOf.get(ticket);
    if (address === undefined) return;
    this.#addressOf.delete(ticket);
    const queue = this.#queues.get(address);
    queue?.delete(ticket);
    if (queue?.size === 0) this.#queues.delete(address);
  }

  #next(): void {
    while (this.#running < this.#concurrency && this.#addressOf.size > 0) {
      const request = this.#take();
      this.#running++;
      void this.#run(request).then((result) => {
        this.#running--;
        this.#answer(request.conn, result);
        this.#next();
      });
    }
  }

  /** The first waiting check of the address whose turn it is; that address goes to the back. */
  #take(): AuthRequest {
    const [address, queue] = this.#queues.entries().next().value!;
    const [ticket, request] = queue.entries().next().value!;
    queue.delete(ticket);
    this.#addressOf.delete(ticket);
    this.#queues.delete(address);
    if (queue.size > 0) this.#queues.set(address, queue);
    return request;
  }

  async #run(request: AuthRequest): Promise<AuthResult> {
    const options = this.#params === undefined ? {} : { params: this.#params };
    try {
      if (request.decoy) {
        // No account: spend what a real check spends, then refuse.
        await verifyPassword(request.password, DECOY_HASH);
        return { ticket: request.ticket, ok: false };
      }
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
