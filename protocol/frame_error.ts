/**
 * A frame that breaks the protocol. It carries the wire code to answer with ("400" or "413");
 * the server sends that code and closes the one connection that sent the frame.
 */
export class FrameError extends Error {
  /** The answer code for the peer. */
  readonly code: "400" | "413";

  constructor(code: "400" | "413", message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FrameError";
    this.code = code;
  }
}
