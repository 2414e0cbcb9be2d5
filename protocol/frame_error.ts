/** Options of `FrameError`. */
export interface FrameErrorOptions extends ErrorOptions {
  /** The messageId of the offending frame, when its header could be read. */
  id?: number;
}

/**
 * A frame that breaks the protocol. It carries the wire code to answer with ("400" or "413");
 * the server sends that code and closes the one connection that sent the frame.
 */
export class FrameError extends Error {
  /** The answer code for the peer. */
  readonly code: "400" | "413";
  /** The messageId of the offending frame, if known: the answer carries it (else 0). */
  readonly id: number | undefined;

  constructor(code: "400" | "413", message: string, options: FrameErrorOptions = {}) {
    super(message, options);
    this.name = "FrameError";
    this.code = code;
    this.id = options.id;
  }
}
