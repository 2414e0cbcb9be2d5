import {
  type ByteOrder,
  Code,
  decodeHelloOptions,
  encodeDelivery,
  encodeFrame,
  type Frame,
  FrameType,
  hashBytes,
  isRoom,
  linePages,
  nameProblem,
  roomProblem,
} from "../protocol/mod.ts";
import type { SessionView } from "./session_view.ts";
import type { CoreLogger } from "./server_core.ts";
import { conversationOf, type HistoryEntry, type Store } from "../store/store.ts";
import { AnswerWindow } from "./answer_window.ts";

/** The room every (non-legacy) user is in, and cannot leave. */
export const ALL_ROOM = "#all";
/** The most rooms a server keeps; a join that would make one more gets "507". */
export const MAX_ROOMS = 1000;
/**
 * Payload bytes one HISTORY answer carries at most (500 long messages could be 32 MiB): the
 * newest entries that fit, at least one; the client pages back with `before=` as usual.
 */
const MAX_HISTORY_BYTES = 1024 * 1024;
/** Rooms one user may be a member of, `#all` included: one name cannot hold all the rooms. */
export const MAX_ROOMS_PER_USER = 100;
/** History entries a HISTORY request gets without `limit=`, and the most it may ask for. */
export const HISTORY_LIMIT = 50;
export const MAX_HISTORY_LIMIT = 500;

/** What a room needs to know of a session. */
export type RoomSession = SessionView;

/** The narrow part of the core that rooms act through. */
export interface RoomsHost {
  store: Store;
  /** Queues bytes for a connection. */
  send(conn: number, bytes: Uint8Array): void;
  /** The session logged in as `name`, if any. */
  session(name: string): RoomSession | undefined;
  /** Every session logged in now, and how many there are. */
  sessions(): Iterable<RoomSession>;
  onlineCount(): number;
  /** Opens the turn's batch of store writes (committed with the turn). */
  begin(): void;
  /** Runs `ok` once the turn's batch is durable, `fail` if it is not. */
  defer(ok: () => void, fail: () => void): void;
  /** Sends ACK `code` (src `src`, dst the session's name, messageId `id`). */
  answer(s: RoomSession, src: string, id: number, code: string): void;
  /** Answers `code` and closes the session. */
  reject(s: RoomSession, code: string, id: number, reason: string, now: number): void;
  log: CoreLogger;
}

/** Options of `Rooms`. */
export interface RoomsOptions {
  /** Messages a join replays. Default 20. */
  replay?: number;
  /** History entries older than this many days are deleted; 0: no age limit. Default 90. */
  historyDays?: number;
  /** Entries kept per conversation; 0: no limit. Default 10000. */
  historyCount?: number;
  /**
   * Whether direct messages go into the history too. Off, HISTORY about a user is answered
   * "501" (clients fall back to their own log). Default true.
   */
  directHistory?: boolean;
}

interface Room {
  name: string;
  /** Member name -> cursor (the highest seq it acknowledged). */
  members: Map<string, number>;
  /** The newest seq appended. */
  last: number;
  /** The newest seq whose batch is durable: what a catch-up or a replay may hand over. */
  committed: number;
}

const DAY_MS = 86_400_000;
/** Rows deleted per statement by retention. */
const RETENTION_STEP = 1000;
/** Conversations trimmed per sweep. */
const TRIMS_PER_SWEEP = 64;
const EXPIRE_EVERY_MS = 60_000;
/** Room messages handed over per step of a login catch-up. */
const CATCH_UP_PAGE = 512;
/** Conversations counted between trims; beyond, the counts start over (a bound on memory). */
const MAX_COUNTED = 100_000;
const RECENT_PER_SENDER = 1024;
const NO_ROOMS: ReadonlySet<string> = new Set();
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

/**
 * Rooms and history, the server side: room membership and cursors (in memory, loaded from the
 * store at start), join/leave/list/members requests, room messages and their fan-out, the
 * login catch-up, HISTORY queries and retention. The core calls it from small hooks; it acts
 * through a `RoomsHost`.
 */
export class Rooms {
  #host: RoomsHost;
  #store: Store;
  #replay: number;
  #maxAgeMs: number;
  #keep: number;
  #directHistory: boolean;
  #rooms = new Map<string, Room>();
  /**
   * User -> the rooms it is a member of besides `#all` (whose member list says who is in it): a
   * user in no other room costs no set.
   */
  #of = new Map<string, Set<string>>();
  /** Answers given about room messages, per sender (resends are answered, not posted). */
  #recent = new Map<string, AnswerWindow>();
  /** Login catch-ups under way: room -> the last seq handed over. */
  #catchUps = new WeakMap<RoomSession, Map<string, number>>();
  /** Appends per conversation since its last trim, by its first name, then its second. */
  #appends = new Map<string, Map<string, { appends: number }>>();
  /** The counter `#counted` used last, and its conversation's two names. */
  #last: { appends: number } | undefined;
  #lastFirst = "";
  #lastSecond = "";
  /** Conversations in `#appends` (a bound on its memory). */
  #countedConversations = 0;
  #toTrim = new Set<string>();
  #trimEvery: number;
  #nextExpire = 0;
  /** History was queued since the last sweep: it must commit. */
  #queued = false;

  constructor(host: RoomsHost, options: RoomsOptions = {}) {
    this.#host = host;
    this.#store = host.store;
    this.#replay = options.replay ?? 20;
    this.#maxAgeMs = (options.historyDays ?? 90) * DAY_MS;
    this.#keep = options.historyCount ?? 10_000;
    this.#directHistory = options.directHistory ?? true;
    // Trimmed when it may be 10% over: a count per append would cost more than it saves.
    this.#trimEvery = Math.max(1, Math.floor(this.#keep / 10));
    const rooms = this.#store.rooms();
    if (!rooms.some((r) => r.name === ALL_ROOM)) {
      this.#store.addRoom(ALL_ROOM, 0);
      rooms.push({ name: ALL_ROOM, createdAt: 0 });
    }
    for (const { name } of rooms) {
      const head = this.#store.historyHead(name);
      this.#rooms.set(name, { name, members: new Map(), last: head, committed: head });
    }
    for (const m of this.#store.roomMembers()) {
      const room = this.#rooms.get(m.room);
      if (room === undefined) continue;
      room.members.set(m.name, m.cursor);
      if (m.room !== ALL_ROOM) this.#roomsOf(m.name).add(m.room);
    }
  }

  /** The members of `room` (a live view: do not keep it), or undefined if there is no such room. */
  members(room: string): Iterable<string> | undefined {
    return this.#rooms.get(room)?.members.keys();
  }

  /**
   * A direct message was accepted: append it to the history. Queued in the store, and written
   * as one block from the next sweep (about a second) or once many wait: a write and a commit
   * per turn of live traffic would cost more than its delivery.
   */
  direct(src: string, dst: string, id: number, payload: Uint8Array, now: number): void {
    if (!this.#directHistory) return;
    this.#queued = true;
    try {
      this.#store.queueHistory({ src, dst, id, sentAt: now, payload });
    } catch (error) {
      this.#host.log("error", "history-failed", { src, dst, id, error: String(error) });
      return;
    }
    // By its two names in order: no conversation string per message.
    if (src < dst) this.#counted(src, dst);
    else this.#counted(dst, src);
  }

  /** MSG to a `#room`. */
  message(s: RoomSession, frame: Frame, now: number): void {
    const dst = frame.dst;
    const room = this.#rooms.get(dst);
    if (room === undefined) return this.#host.answer(s, dst, frame.id, Code.UNKNOWN_USER);
    const allowed = s.legacy ? dst === ALL_ROOM : room.members.has(s.name);
    if (!allowed) return this.#host.answer(s, dst, frame.id, Code.FORBIDDEN);
    const hash = hashBytes(frame.payload);
    let window = this.#recent.get(s.name);
    // A seed-000 client counts its ids from 0 at every start and never resends.
    if (!s.legacy) {
      const prior = window?.get(frame.id);
      if (prior !== undefined && prior.dst === dst && prior.hash === hash) {
        // "": still waiting for its commit, whose answer is on its way.
        if (prior.code !== "") this.#host.answer(s, dst, frame.id, prior.code);
        return;
      }
    }
    const src = s.name;
    const id = frame.id;
    // Its own copy: the frame is a view into a read buffer, and the fan-out waits for the commit.
    const payload = frame.payload.slice();
    let seq: number;
    try {
      this.#host.begin();
      seq = this.#store.appendHistory({ conv: dst, src, dst, id, sentAt: now, payload, kind: 0 });
    } catch (error) {
      this.#host.log("error", "history-failed", { src, dst, id, error: String(error) });
      return this.#host.answer(s, dst, id, Code.SERVER_ERROR);
    }
    room.last = seq;
    this.#counted(dst, "");
    if (!s.legacy) {
      if (window === undefined) {
        window = new AnswerWindow(RECENT_PER_SENDER);
        this.#recent.set(src, window);
      }
      window.set(id, dst, hash, "");
    }
    this.#host.defer(() => {
      window?.update(id, dst, Code.DELIVERED);
      if (seq > room.committed) room.committed = seq;
      this.#fanOut(room, { type: FrameType.MSG, id: seq, src, dst, payload, sentAt: now });
      const sender = this.#host.session(src);
      if (sender !== undefined) this.#host.answer(sender, dst, id, Code.DELIVERED);
      this.#host.log("debug", "room-message", { src, dst, id, seq });
    }, () => {
      // Not posted: a resend is a new attempt, as a direct message's is.
      window?.forget(id, dst);
      const sender = this.#host.session(src);
      if (sender !== undefined) this.#host.answer(sender, dst, id, Code.SERVER_ERROR);
    });
  }

  /** A member acknowledged room message `seq`: its cursor moves up to it. */
  ack(s: RoomSession, dst: string, seq: number): void {
    const room = this.#rooms.get(dst);
    const cursor = room?.members.get(s.name);
    if (room === undefined || cursor === undefined || seq <= cursor || seq > room.last) return;
    room.members.set(s.name, seq);
    try {
      this.#host.begin();
      this.#store.setRoomCursor(dst, s.name, seq);
    } catch (error) {
      this.#host.log("error", "cursor-failed", { user: s.name, room: dst, error: String(error) });
    }
  }

  /** A ROOM request: `join`, `leave`, `list` or `members`. */
  request(s: RoomSession, frame: Frame, now: number): void {
    if (!this.#fromSelf(s, frame, now)) return;
    if (s.legacy) return this.#host.answer(s, frame.dst, frame.id, Code.FORBIDDEN);
    switch (textDecoder.decode(frame.payload).trim()) {
      case "join":
        return this.#join(s, frame.dst, frame.id, now);
      case "leave":
        return this.#leave(s, frame.dst, frame.id);
      case "list":
        return this.#list(s, frame.id);
      case "members":
        return this.#members(s, frame.dst, frame.id);
      default:
        return this.#host.answer(s, frame.dst, frame.id, Code.BAD_REQUEST);
    }
  }

  /** A HISTORY request: past messages with a user or of a room, newest `limit`, oldest first. */
  history(s: RoomSession, frame: Frame, now: number): void {
    if (!this.#fromSelf(s, frame, now)) return;
    const dst = frame.dst;
    let conv: string;
    let before = Infinity;
    if (isRoom(dst)) {
      const room = this.#rooms.get(dst);
      if (room === undefined) return this.#host.answer(s, dst, frame.id, Code.UNKNOWN_USER);
      if (!room.members.has(s.name)) return this.#host.answer(s, dst, frame.id, Code.FORBIDDEN);
      conv = dst;
      before = room.committed + 1;
    } else {
      if (nameProblem(dst) !== undefined) {
        return this.#host.answer(s, dst, frame.id, Code.BAD_REQUEST);
      }
      if (!this.#directHistory) return this.#host.answer(s, dst, frame.id, Code.NOT_IMPLEMENTED);
      conv = conversationOf(s.name, dst);
    }
    const options = decodeHelloOptions(frame.payload);
    const limit = readNumber(options.get("limit"), HISTORY_LIMIT);
    const asked = readNumber(options.get("before"), Infinity);
    if (limit === undefined || asked === undefined) {
      return this.#host.answer(s, dst, frame.id, Code.BAD_REQUEST);
    }
    before = Math.min(before, asked);
    const entries = this.#store.historyBefore(conv, before, Math.min(limit, MAX_HISTORY_LIMIT));
    this.#handOver(s, newestWithin(entries, MAX_HISTORY_BYTES), FrameType.HISTORY, true);
    this.#host.answer(s, dst, frame.id, Code.DELIVERED);
  }

  /**
   * One step of a login's room catch-up (after its stored messages and receipts): room messages
   * above its cursors, not its own, as type 2. False when a page went out and the rest waits
   * for the socket to drain. Makes a first login a member of `#all`.
   */
  caughtUp(s: RoomSession, now: number): boolean {
    if (s.legacy || s.closed) return true;
    this.#joinAll(s.name, now);
    // Made only when there is something to hand over: a login with nothing missed allocates none.
    let positions = this.#catchUps.get(s);
    let budget = CATCH_UP_PAGE;
    for (const name of this.#roomsWithAll(s.name)) {
      const room = this.#rooms.get(name);
      if (room === undefined) continue;
      const after = positions?.get(name) ?? room.members.get(s.name) ?? room.committed;
      if (after >= room.committed) continue;
      const entries = this.#store.historyAfter({
        conv: name,
        after,
        until: room.committed,
        notFrom: s.name,
        limit: budget,
      });
      if (positions === undefined) {
        positions = new Map();
        this.#catchUps.set(s, positions);
      }
      // Past its own messages too, which the query skips.
      positions.set(name, entries.length < budget ? room.committed : entries.at(-1)!.seq);
      this.#handOver(s, entries, FrameType.OFFLINE, s.timed);
      if (s.closed) return true;
      budget -= entries.length;
      if (budget === 0) return false;
    }
    this.#catchUps.delete(s);
    return true;
  }

  /**
   * Retention, from the periodic sweep: trims the conversations that grew past the count, and
   * about once a minute deletes what is older than the age limit; each in bounded deletes.
   */
  sweep(now: number): void {
    if (this.#queued) {
      this.#queued = false;
      try {
        this.#host.begin();
        this.#store.flushHistory();
      } catch (error) {
        this.#host.log("error", "history-failed", { error: String(error) });
      }
    }
    if (this.#keep > 0 && this.#toTrim.size > 0) {
      let done = 0;
      for (const conv of this.#toTrim) {
        if (done++ === TRIMS_PER_SWEEP) break;
        try {
          this.#host.begin();
          const deleted = this.#store.trimHistory(conv, this.#keep, RETENTION_STEP);
          if (deleted < RETENTION_STEP) this.#toTrim.delete(conv);
          if (deleted > 0) this.#host.log("debug", "history-trimmed", { conv, deleted });
        } catch (error) {
          this.#host.log("error", "retention-failed", { error: String(error) });
          return;
        }
      }
    }
    if (this.#maxAgeMs > 0 && now >= this.#nextExpire) {
      try {
        this.#host.begin();
        const deleted = this.#store.expireHistory(now - this.#maxAgeMs, RETENTION_STEP);
        // More to delete: again at the next sweep (a step deletes whole blocks: maybe more).
        this.#nextExpire = deleted >= RETENTION_STEP ? now : now + EXPIRE_EVERY_MS;
        if (deleted > 0) this.#host.log("info", "history-expired", { deleted });
      } catch (error) {
        this.#nextExpire = now + EXPIRE_EVERY_MS;
        this.#host.log("error", "retention-failed", { error: String(error) });
      }
    }
  }

  #join(s: RoomSession, name: string, id: number, now: number): void {
    const problem = roomProblem(name);
    if (problem !== undefined) return this.#host.answer(s, name, id, Code.BAD_REQUEST);
    let room = this.#rooms.get(name);
    const created = room === undefined;
    const fresh = room === undefined || !room.members.has(s.name);
    // `#all` is one of them.
    if (fresh && (this.#of.get(s.name)?.size ?? 0) + 1 >= MAX_ROOMS_PER_USER) {
      return this.#host.answer(s, name, id, Code.QUOTA_FULL);
    }
    try {
      if (room === undefined) {
        if (this.#rooms.size >= MAX_ROOMS) return this.#host.answer(s, name, id, Code.QUOTA_FULL);
        this.#host.begin();
        this.#store.addRoom(name, now);
        room = { name, members: new Map(), last: 0, committed: 0 };
        this.#rooms.set(name, room);
        this.#host.log("info", "room-created", { room: name, user: s.name });
      }
      if (fresh) {
        this.#host.begin();
        this.#store.addRoomMember(name, s.name, room.last, now);
      }
    } catch (error) {
      this.#host.log("error", "room-failed", { room: name, user: s.name, error: String(error) });
      return this.#host.answer(s, name, id, Code.SERVER_ERROR);
    }
    const joined = room;
    const user = s.name;
    const cursor = room.last;
    this.#host.defer(() => {
      if (fresh && !joined.members.has(user)) {
        joined.members.set(user, cursor);
        if (name !== ALL_ROOM) this.#roomsOf(user).add(name);
      }
      if (s.closed) return;
      this.#host.answer(s, name, id, Code.DELIVERED);
      const replay = this.#replay > 0
        ? this.#store.historyBefore(name, joined.committed + 1, this.#replay)
        : [];
      this.#handOver(s, replay, FrameType.HISTORY, true);
      if (fresh) this.#notice(joined, user, "joined");
    }, () => {
      // The room is not in the store: forget it, unless someone is in it since.
      if (created && joined.members.size === 0) this.#rooms.delete(name);
      this.#host.answer(s, name, id, Code.SERVER_ERROR);
    });
  }

  #leave(s: RoomSession, name: string, id: number): void {
    if (name === ALL_ROOM) return this.#host.answer(s, name, id, Code.FORBIDDEN);
    const room = this.#rooms.get(name);
    if (room === undefined || !room.members.has(s.name)) {
      return this.#host.answer(s, name, id, Code.UNKNOWN_USER);
    }
    // An empty room goes with its history: rooms are few (at most MAX_ROOMS), and a name made
    // again later must not show the old room's messages.
    const last = room.members.size === 1;
    try {
      this.#host.begin();
      this.#store.removeRoomMember(name, s.name);
      if (last) this.#store.removeRoom(name);
    } catch (error) {
      this.#host.log("error", "room-failed", { room: name, user: s.name, error: String(error) });
      return this.#host.answer(s, name, id, Code.SERVER_ERROR);
    }
    room.members.delete(s.name);
    const others = this.#of.get(s.name);
    others?.delete(name);
    if (others?.size === 0) this.#of.delete(s.name);
    if (last) this.#rooms.delete(name);
    const user = s.name;
    this.#host.defer(() => {
      this.#host.answer(s, name, id, Code.DELIVERED);
      this.#notice(room, user, "left");
    }, () => this.#host.answer(s, name, id, Code.SERVER_ERROR));
  }

  #list(s: RoomSession, id: number): void {
    const names = [...this.#rooms.keys()].sort();
    const lines = names.map((name) => {
      const room = this.#rooms.get(name)!;
      return `${room.members.has(s.name) ? "+" : "-"}${name} ${room.members.size}`;
    });
    this.#lines(s, id, lines);
  }

  #members(s: RoomSession, name: string, id: number): void {
    const room = this.#rooms.get(name);
    if (room === undefined) return this.#host.answer(s, name, id, Code.UNKNOWN_USER);
    const online: string[] = [];
    const offline: string[] = [];
    for (const member of room.members.keys()) {
      const session = this.#host.session(member);
      (session !== undefined && !session.legacy ? online : offline).push(member);
    }
    this.#lines(s, id, [
      ...online.sort().map((n) => `+${n}`),
      ...offline.sort().map((n) => `-${n}`),
    ]);
  }

  /** ROOM frames (src "", dst the session, messageId `id`) of lines, then an empty one. */
  #lines(s: RoomSession, id: number, lines: string[]): void {
    const reply = (text: string) =>
      this.#host.send(
        s.conn,
        encodeFrame(
          { type: FrameType.ROOM, id, src: "", dst: s.name, payload: textEncoder.encode(text) },
          s.order,
        ),
      );
    for (const page of linePages(lines)) reply(page);
  }

  /** Whether `frame` comes from the session's own name; if not: "403" and closed. */
  #fromSelf(s: RoomSession, frame: Frame, now: number): boolean {
    if (frame.src === s.name) return true;
    this.#host.reject(s, Code.FORBIDDEN, frame.id, `src ${frame.src} is not ${s.name}`, now);
    return false;
  }

  /** A `joined` or `left` notice from `user` to the other online members of `room`. */
  #notice(room: Room, user: string, what: "joined" | "left"): void {
    const payload = textEncoder.encode(what);
    const encoded = new Map<ByteOrder, Uint8Array>();
    for (const member of room.members.keys()) {
      if (member === user) continue;
      const to = this.#host.session(member);
      if (to === undefined || to.legacy || to.closed) continue;
      let bytes = encoded.get(to.order);
      if (bytes === undefined) {
        bytes = encodeFrame(
          { type: FrameType.ROOM, id: 0, src: user, dst: room.name, payload },
          to.order,
        );
        encoded.set(to.order, bytes);
      }
      this.#host.send(to.conn, bytes);
    }
  }

  /** A committed room message to every online member (the sender too: its echo). */
  #fanOut(
    room: Room,
    m: { type: number; id: number; src: string; dst: string; payload: Uint8Array; sentAt: number },
  ): void {
    // One encoding per (byte order, timed): at most four per message.
    let beTimed: Uint8Array | undefined, be: Uint8Array | undefined;
    let leTimed: Uint8Array | undefined, le: Uint8Array | undefined;
    // `#all` holds every user ever seen: walk whichever is smaller, its members or who is online.
    const byMember = room.members.size <= this.#host.onlineCount();
    for (const item of byMember ? room.members.keys() : this.#host.sessions()) {
      const to = typeof item === "string" ? this.#host.session(item) : item;
      if (typeof item !== "string" && !room.members.has(item.name)) continue;
      // A draining session gets it from its catch-up, which reads up to `committed`.
      if (to === undefined || to.legacy || to.closed || to.draining) continue;
      let bytes: Uint8Array;
      if (to.order === "be") {
        bytes = to.timed
          ? (beTimed ??= encodeDelivery(m, "be", { legacy: false, timed: true }))
          : (be ??= encodeDelivery(m, "be", { legacy: false, timed: false }));
      } else {
        bytes = to.timed
          ? (leTimed ??= encodeDelivery(m, "le", { legacy: false, timed: true }))
          : (le ??= encodeDelivery(m, "le", { legacy: false, timed: false }));
      }
      this.#host.send(to.conn, bytes);
    }
  }

  /** History entries (text ones) to `s` as messages of `type`, id = seq. */
  #handOver(s: RoomSession, entries: HistoryEntry[], type: number, timed: boolean): void {
    for (const e of entries) {
      if (e.kind !== 0 || s.closed) continue;
      this.#host.send(
        s.conn,
        encodeDelivery(
          { type, id: e.seq, src: e.src, dst: e.dst, payload: e.payload, sentAt: e.sentAt },
          s.order,
          { legacy: s.legacy, timed },
        ),
      );
    }
  }

  /** Makes `name` a member of `#all` (at its first login), its cursor at the newest message. */
  #joinAll(name: string, now: number): void {
    const all = this.#rooms.get(ALL_ROOM)!;
    if (all.members.has(name)) return;
    try {
      this.#host.begin();
      this.#store.addRoomMember(ALL_ROOM, name, all.committed, now);
    } catch (error) {
      this.#host.log("error", "room-failed", { room: ALL_ROOM, user: name, error: String(error) });
      return;
    }
    all.members.set(name, all.committed);
  }

  /** The rooms of `name`, `#all` first if it is a member. */
  *#roomsWithAll(name: string): Iterable<string> {
    if (this.#rooms.get(ALL_ROOM)!.members.has(name)) yield ALL_ROOM;
    yield* this.#of.get(name) ?? NO_ROOMS;
  }

  #roomsOf(name: string): Set<string> {
    let rooms = this.#of.get(name);
    if (rooms === undefined) {
      rooms = new Set();
      this.#of.set(name, rooms);
    }
    return rooms;
  }

  /**
   * Counts an append to the conversation of `first` and `second` (in order; a room and ""); every
   * `#trimEvery` appends it is due for a trim. The counter used last is at hand: a sender's
   * messages to one recipient come in a row.
   */
  #counted(first: string, second: string): void {
    if (this.#keep === 0) return;
    let counter = this.#last;
    if (counter === undefined || first !== this.#lastFirst || second !== this.#lastSecond) {
      counter = this.#counter(first, second);
      if (counter === undefined) return;
    }
    if (++counter.appends < this.#trimEvery) return;
    this.#appends.get(first)?.delete(second);
    this.#last = undefined;
    this.#toTrim.add(second === "" ? first : conversationOf(first, second));
  }

  /** The append counter of a conversation, made at its first append; none when the table was full. */
  #counter(first: string, second: string): { appends: number } | undefined {
    this.#last = undefined;
    let of = this.#appends.get(first);
    if (of === undefined) {
      of = new Map();
      this.#appends.set(first, of);
    }
    let counter = of.get(second);
    if (counter === undefined) {
      if (++this.#countedConversations > MAX_COUNTED) {
        this.#appends.clear();
        this.#countedConversations = 0;
        return undefined;
      }
      counter = { appends: 0 };
      of.set(second, counter);
    }
    this.#last = counter;
    this.#lastFirst = first;
    this.#lastSecond = second;
    return counter;
  }
}

/** A non-negative integer option; `fallback` when absent, undefined when malformed. */
function readNumber(text: string | undefined, fallback: number): number | undefined {
  if (text === undefined) return fallback;
  if (!/^\d{1,15}$/.test(text)) return undefined;
  return Number(text);
}

/** The newest of `entries` (oldest first) whose payloads total at most `bytes`; at least one. */
function newestWithin(entries: HistoryEntry[], bytes: number): HistoryEntry[] {
  let total = 0;
  for (let i = entries.length - 1; i >= 0; i--) {
    total += entries[i]!.payload.length;
    if (total > bytes && i < entries.length - 1) return entries.slice(i + 1);
  }
  return entries;
}
