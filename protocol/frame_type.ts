/** Frame types of protocol v1. 0–2 come from seed 000; the rest are tinychat's extensions. */
export const FrameType = {
  /** A message for a user; the recipient answers with ACK "200". */
  MSG: 0,
  /** An answer about a message (same messageId): a code such as "200" or "300". */
  ACK: 1,
  /** A stored message, handed over at the recipient's login; our clients ACK it. */
  OFFLINE: 2,
  /** Login: src = the name, payload = credentials or empty. */
  HELLO: 3,
  /** Heartbeat request; the peer answers PONG with the same messageId. */
  PING: 4,
  /** Heartbeat answer. */
  PONG: 5,
  /**
   * Presence. A client asks with an empty payload; the server answers with WHO frames of the
   * same messageId whose payloads list users, one per line, "+name" online or "-name" known
   * and offline, then one WHO frame with an empty payload that ends the list.
   */
  WHO: 6,
  /**
   * The server's receive time of the message that follows (same messageId and src): payload = u64
   * ms since the Unix epoch. Sent only to clients that asked with `timed` in their HELLO payload,
   * before every message they are handed (MSG, OFFLINE, HISTORY), ahead of its first CHUNK.
   */
  TIMED: 7,
  /** Room join, leave, list and members requests, their answers, and join/leave notices. */
  ROOM: 8,
  /**
   * A piece of a long message: its payload comes before that of the next frame with the same
   * messageId, src and dst (the message's final frame).
   */
  CHUNK: 9,
  /**
   * Sent by the server to a connection whose name was taken over by a login with the right
   * password, just before it closes that connection: payload = the reason as UTF-8. Clients
   * MUST NOT reconnect by themselves after it.
   */
  TAKEOVER: 10,
  /** A history query, and the past messages that answer it. */
  HISTORY: 11,
  /** A file transfer's offer, acceptance, progress, notice and download requests. */
  FILE: 12,
  /** A file's bytes. */
  DATA: 13,
} as const;

/** A frame type implemented by this version. */
export type FrameType = typeof FrameType[keyof typeof FrameType];

/** The highest type number the protocol reserves; anything above is malformed. */
export const MAX_TYPE = 15;

/** Whether `type` is a number this protocol version defines or reserves. */
export function isKnownType(type: number): boolean {
  return type >= 0 && type <= MAX_TYPE;
}
