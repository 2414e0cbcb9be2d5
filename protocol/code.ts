/**
 * Answer codes carried as ASCII in the payload of an ACK frame. Seed 000 defines "200" and "300";
 * the rest are tinychat's.
 */
export const Code = {
  /** Delivered: the recipient acknowledged the message. Also: login accepted. */
  DELIVERED: "200",
  /** Not delivered yet: stored on the server, delivered at the recipient's next login. */
  STORED: "300",
  /** Malformed frame, or an invalid username. */
  BAD_REQUEST: "400",
  /** Bad credentials. */
  UNAUTHORIZED: "401",
  /** The frame's src is not the name this connection logged in with. */
  FORBIDDEN: "403",
  /** No login (HELLO or a seed-000 first frame) within the login timeout: closed. */
  LOGIN_TIMEOUT: "408",
  /** The recipient has never logged in: nothing was stored. */
  UNKNOWN_USER: "404",
  /** The name is held by another live connection. */
  NAME_IN_USE: "409",
  /**
   * The frame's length field exceeds 1024 (closed); or a long message exceeds the server's
   * `--max-message` (dropped; the connection stays open).
   */
  TOO_LARGE: "413",
  /** Too many connections from this IP address at once: refused at accept. */
  TOO_MANY_CONNECTIONS_FROM_IP: "421",
  /**
   * Too many logins from this IP address in the last minute, or too many password attempts (from
   * the address, or wrong ones for the name): closed; try again later.
   */
  TOO_MANY_LOGINS: "423",
  /**
   * The sender exceeded its message rate: this message was dropped (neither delivered nor stored).
   * With `src` zeros: the connection exceeded its frame rate, and is closed.
   */
  RATE_LIMITED: "429",
  /** An idle session did not answer the server's PING within the ping timeout: closed. */
  IDLE_TIMEOUT: "440",
  /** The server could not store the message (a storage error); nothing was kept. */
  SERVER_ERROR: "500",
  /** A reserved frame type that this server does not implement yet. */
  NOT_IMPLEMENTED: "501",
  /**
   * The server has as many connections as it allows (refused at accept), or as many password
   * checks under way (the HELLO is refused; closed).
   */
  SERVER_FULL: "503",
  /** The recipient's stored-message quota (count or bytes) is full: nothing was stored. */
  QUOTA_FULL: "507",
} as const;

/** An answer code. */
export type Code = typeof Code[keyof typeof Code];

/**
 * Reads the code of an ACK payload: the bytes up to the first NUL, as ASCII. The seed-000 client
 * sends "200", a NUL, then leftover bytes of the frame it acknowledges.
 */
export function readCode(payload: Uint8Array): string {
  let end = payload.indexOf(0);
  if (end < 0) end = payload.length;
  if (end > 16) end = 16;
  let code = "";
  for (let i = 0; i < end; i++) code += String.fromCharCode(payload[i]!);
  return code;
}

/**
 * Whether the payload `bytes[start, end)` (all of `bytes` by default: a range needs no view) is
 * exactly `code`'s bytes, no NUL, nothing after: `readCode` without a string.
 */
export function isCodePayload(
  bytes: Uint8Array,
  code: string,
  start = 0,
  end = bytes.length,
): boolean {
  if (end - start !== code.length) return false;
  for (let i = 0; i < code.length; i++) if (bytes[start + i] !== code.charCodeAt(i)) return false;
  return true;
}

const codeBytes = new Map<string, Uint8Array>();

/** The payload bytes of `code` (cached: callers must not modify them). */
export function codePayload(code: string): Uint8Array {
  let bytes = codeBytes.get(code);
  if (bytes === undefined) {
    bytes = new TextEncoder().encode(code);
    codeBytes.set(code, bytes);
  }
  return bytes;
}
