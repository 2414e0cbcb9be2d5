/**
 * The client side of rooms and server history: requests (join, leave, list, members, history)
 * matched to their answers by request id, join/leave notices, and the past messages a join
 * replays. `TinychatClient` owns one `RoomRequests` and feeds it the frames it receives.
 *
 * @module
 */
import type { ClientEvent, Presence } from "./client.ts";
import {
  Code,
  type Frame,
  FrameType,
  isRoom,
  nameProblem,
  readCode,
  roomProblem,
} from "./protocol/mod.ts";

/** A room as `rooms()` lists it. */
export interface RoomInfo {
  /** The room's name, e.g. "#dev". */
  name: string;
  /** How many members it has. */
  members: number;
  /** Whether this session's user is one of them. */
  member: boolean;
}

/** One past message, as `history()` returns it. */
export interface HistoryEntry {
  /** Its position in the server's history (ascending with time). */
  seq: number;
  /** Who sent it. */
  from: string;
  /** Whom it went to: a user or a room. */
  to: string;
  /** The payload as text (UTF-8, invalid bytes replaced). */
  text: string;
  /** When the server received it. */
  sentAt: Date;
}

/** Options of `history()`. */
export interface HistoryOptions {
  /** How many messages, the newest ones (1..500). Default 50. */
  limit?: number;
  /** Only messages older than this `seq` (to page backwards). Default: up to the newest. */
  before?: number;
  /** How long to wait for the answer, in ms. Default 5000. */
  timeoutMs?: number;
}

/** A join or leave notice of a room. */
export interface RoomNotice {
  kind: "notice";
  /** The room. */
  room: string;
  /** Who joined or left. */
  user: string;
  what: "joined" | "left";
  /** When it arrived here. */
  at: Date;
}

/** A room request the server refused; `code` is its answer ("403", "404", "400", "507", …). */
export class RoomError extends Error {
  /** The server's code. */
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = "RoomError";
    this.code = code;
  }
}

/**
 * Why `to` cannot be a destination (a username or a `#room`), or `undefined` when it can.
 *
 * @example
 * ```ts
 * import { destinationProblem } from "./client_rooms.ts";
 * destinationProblem("#dev"); // undefined
 * destinationProblem("bob"); // undefined
 * destinationProblem("#"); // 'is only "#"'
 * ```
 */
export function destinationProblem(to: string): string | undefined {
  return isRoom(to) ? roomProblem(to) : nameProblem(to);
}

/** What `RoomRequests` needs from its session. */
export interface RoomSession {
  /** The logged-in name. */
  user(): string;
  /** Whether the session is logged in now. */
  online(): boolean;
  /** A fresh messageId. */
  takeId(): number;
  /** Queues a frame on the connection. */
  write(frame: Frame): void;
}

type Pending =
  | { kind: "ack"; target: string; done(): void; fail(error: Error): void }
  | {
    kind: "lines";
    target: string;
    lines: string[];
    done(lines: string[]): void;
    fail(error: Error): void;
  }
  | {
    kind: "history";
    target: string;
    entries: HistoryEntry[];
    done(entries: HistoryEntry[]): void;
    fail(error: Error): void;
  };

const textDecoder = new TextDecoder();
const textEncoder = new TextEncoder();
const DEFAULT_TIMEOUT_MS = 5000;

/** A session's room and history requests waiting for their answers. */
export class RoomRequests {
  #session: RoomSession;
  #pending = new Map<number, Pending & { timer: ReturnType<typeof setTimeout> }>();

  constructor(session: RoomSession) {
    this.#session = session;
  }

  /** Joins `room` (creating it if new); resolves on "200". */
  async join(room: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
    this.#checkRoom("join", room);
    await this.#ask<void>("ack", room, FrameType.ROOM, "join", timeoutMs);
  }

  /** Leaves `room`; rejects with `RoomError` "403" for `#all`, "404" when not a member. */
  async leave(room: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<void> {
    this.#checkRoom("leave", room);
    await this.#ask<void>("ack", room, FrameType.ROOM, "leave", timeoutMs);
  }

  /** Every room of the server, with its member count and whether we are in it. */
  async rooms(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<RoomInfo[]> {
    const lines = await this.#ask<string[]>("lines", "", FrameType.ROOM, "list", timeoutMs);
    return lines.flatMap((line) => {
      const match = /^([+-])(\S+)(?:\s+(\d+))?$/.exec(line);
      if (match === null) return [];
      return [{ name: match[2]!, members: Number(match[3] ?? 0), member: match[1] === "+" }];
    });
  }

  /** The members of `room`, online and offline; rejects with `RoomError` "404" if unknown. */
  async members(room: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Presence> {
    this.#checkRoom("list the members of", room);
    const lines = await this.#ask<string[]>("lines", room, FrameType.ROOM, "members", timeoutMs);
    return {
      online: lines.filter((l) => l.startsWith("+")).map((l) => l.slice(1)),
      away: lines.filter((l) => l.startsWith("-")).map((l) => l.slice(1)),
    };
  }

  /** The last messages with `peerOrRoom`, oldest first. */
  history(peerOrRoom: string, options: HistoryOptions = {}): Promise<HistoryEntry[]> {
    const problem = destinationProblem(peerOrRoom);
    if (problem !== undefined) {
      return Promise.reject(
        new RangeError(`Cannot ask the history of "${peerOrRoom}": ${problem}`),
      );
    }
    const lines = [`limit=${options.limit ?? 50}`];
    if (options.before !== undefined) lines.push(`before=${options.before}`);
    return this.#ask<HistoryEntry[]>(
      "history",
      peerOrRoom,
      FrameType.HISTORY,
      lines.join("\n"),
      options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    );
  }

  /** Takes an ACK that answers one of our requests; false when it is not ours. */
  answer(frame: Frame): boolean {
    const pending = this.#pending.get(frame.id);
    if (pending === undefined || (frame.src !== pending.target && frame.src !== "")) return false;
    this.#settle(frame.id);
    const code = readCode(frame.payload);
    if (pending.kind === "history" && code === Code.DELIVERED) pending.done(pending.entries);
    else if (pending.kind === "ack" && code === Code.DELIVERED) pending.done();
    else if (pending.kind === "lines" && code === Code.DELIVERED) pending.done(pending.lines);
    else pending.fail(new RoomError(code, refusal(pending.kind, pending.target, code)));
    return true;
  }

  /** Takes a ROOM frame: a line of an answer, or a notice (returned as the event to emit). */
  room(frame: Frame): RoomNotice | undefined {
    const pending = this.#pending.get(frame.id);
    if (pending?.kind === "lines" && frame.src === "") {
      if (frame.payload.length > 0) {
        pending.lines.push(
          ...textDecoder.decode(frame.payload).split("\n").filter((l) => l !== ""),
        );
        return undefined;
      }
      this.#settle(frame.id);
      pending.done(pending.lines);
      return undefined;
    }
    const what = textDecoder.decode(frame.payload);
    if (!isRoom(frame.dst) || (what !== "joined" && what !== "left")) return undefined;
    return { kind: "notice", room: frame.dst, user: frame.src, what, at: new Date() };
  }

  /**
   * Takes a HISTORY frame (with the time of the TIMED frame before it): an entry of a pending
   * `history()`, else a message a join replays, returned as the event to emit.
   */
  historyFrame(frame: Frame, sentAt: number | undefined): ClientEvent | undefined {
    const me = this.#session.user();
    const target = isRoom(frame.dst) ? frame.dst : frame.src === me ? frame.dst : frame.src;
    const text = textDecoder.decode(frame.payload);
    const at = new Date();
    for (const pending of this.#pending.values()) {
      if (pending.kind !== "history" || pending.target !== target) continue;
      pending.entries.push({
        seq: frame.id,
        from: frame.src,
        to: frame.dst,
        text,
        sentAt: sentAt === undefined ? at : new Date(sentAt),
      });
      return undefined;
    }
    return {
      kind: "message",
      from: frame.src,
      id: frame.id,
      text,
      payload: frame.payload,
      stored: false,
      replay: true,
      at,
      ...(isRoom(frame.dst) ? { room: frame.dst } : {}),
      ...(sentAt === undefined ? {} : { sentAt: new Date(sentAt) }),
    };
  }

  /** Fails every request still waiting (the session closed). */
  close(reason: string): void {
    for (const [id, pending] of this.#pending) {
      this.#settle(id);
      pending.fail(new Error(`Session closed before an answer (${reason})`));
    }
  }

  #checkRoom(action: string, room: string): void {
    const problem = roomProblem(room);
    if (problem !== undefined) throw new RangeError(`Cannot ${action} "${room}": ${problem}`);
  }

  #settle(id: number): void {
    clearTimeout(this.#pending.get(id)?.timer);
    this.#pending.delete(id);
  }

  #ask<T>(
    kind: Pending["kind"],
    target: string,
    type: FrameType,
    payload: string,
    timeoutMs: number,
  ): Promise<T> {
    if (!this.#session.online()) {
      return Promise.reject(
        new Error(`Cannot ask the server (${payload.split("\n")[0]}): not connected`),
      );
    }
    const id = this.#session.takeId();
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`No answer from the server to ${describe(kind, target)}`));
      }, timeoutMs);
      const done = resolve as (value?: unknown) => void;
      const base = { target, timer, done, fail: reject };
      this.#pending.set(
        id,
        kind === "ack"
          ? { kind, ...base }
          : kind === "lines"
          ? { kind, lines: [], ...base }
          : { kind, entries: [], ...base },
      );
      this.#session.write({
        type,
        id,
        src: this.#session.user(),
        dst: target,
        payload: textEncoder.encode(payload),
      });
    });
  }
}

function describe(kind: Pending["kind"], target: string): string {
  if (kind === "history") return `the history query for ${target}`;
  return target === "" ? "the room list query" : `the request about ${target}`;
}

function refusal(kind: Pending["kind"], target: string, code: string): string {
  if (code === Code.NOT_IMPLEMENTED) {
    return `the server does not support rooms or history (${code})`;
  }
  if (code === Code.FORBIDDEN) {
    return kind === "history"
      ? `not a member of ${target} (403)`
      : target === "#all"
      ? "nobody can leave #all (403)"
      : `refused for ${target} (403)`;
  }
  if (code === Code.UNKNOWN_USER) {
    return kind === "ack"
      ? `not a member of ${target} (404)`
      : `no such room or user: ${target} (404)`;
  }
  if (code === Code.BAD_REQUEST) return `"${target}" is not a valid room or request (400)`;
  if (code === Code.QUOTA_FULL) return `too many rooms on the server (507)`;
  return `the server refused ${describe(kind, target)} (${code})`;
}

/** The room a message went to (its dst when that is a `#room`), or undefined for a direct one. */
export function roomOf(frame: Frame): string | undefined {
  return isRoom(frame.dst) ? frame.dst : undefined;
}
