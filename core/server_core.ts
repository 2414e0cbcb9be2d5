import {
  type ByteOrder,
  Code,
  codePayload,
  decodeHelloOptions,
  encodeDelivery,
  encodeFrame,
  equalBytes,
  type Frame,
  frameSize,
  FrameType,
  hashBytes,
  HEADER_SIZE,
  isCodePayload,
  linePages,
  MAX_PAYLOAD_SIZE,
  nameProblem,
  Slabs,
  writeFrame,
} from "../protocol/mod.ts";
import type { Store, StoredMessage } from "../store/store.ts";
import {
  type Authenticator,
  type AuthMode,
  type AuthResult,
  LoginGate,
  type Verdict,
} from "./login_gate.ts";
import { AnswerWindow, ANY_PAYLOAD } from "./answer_window.ts";
import { LastKeyMap } from "./last_key_map.ts";
import { type PendingEntry, PendingTable } from "./pending_table.ts";
import { Tally } from "./tally.ts";
import { TurnSummary } from "./turn_summary.ts";
import { DEFAULT_MAX_MESSAGE, LongMessages } from "./long_messages.ts";
import { Rooms } from "./rooms.ts";
import { FileTransfers } from "./files.ts";
import type { FileStore } from "../store/file_store.ts";
import {
  type Activity,
  frameBurst,
  FREE_BULK_BYTES,
  ipOf,
  KeyedRateLimiter,
  type Limits,
  liveness,
  resolveLimits,
  TokenBucket,
} from "./limits.ts";

/** A connection's number, chosen by the I/O layer. */
export type ConnId = number;

/** How the core acts on connections: the only way out besides the store. */
export interface CoreOutbox {
  /**
   * Queues `bytes[start, end)` (one or more whole frames) for `conn`: often in a buffer shared
   * with other frames, whose bytes are never written again.
   */
  send(conn: ConnId, bytes: Uint8Array, start?: number, end?: number): void;
  /** Closes `conn` after what was queued for it; the core has already forgotten it. */
  close(conn: ConnId, reason: string): void;
}

/** Severity of a log event. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Receives the core's log events: an event name and its fields. */
export type CoreLogger = (
  level: LogLevel,
  event: string,
  fields: Record<string, string | number | boolean>,
) => void;

/** Options of `ServerCore`. */
export interface ServerCoreOptions {
  /** Where known users, stored messages and owed receipts live. */
  store: Store;
  /** Where frames and closes go. */
  outbox: CoreOutbox;
  /** How long a recipient has to acknowledge a live message, in ms. Default 3000. */
  ackTimeoutMs?: number;
  /** Stored messages per recipient; beyond it a sender gets "507". Default 100000. */
  maxQueue?: number;
  /** Stored messages handed over per step of a login drain. Default 512. */
  drainPage?: number;
  /**
   * Abuse limits applied by the core: logins per minute per address, message rate per user,
   * frame rate per connection, password checks, login and idle timeouts, stored bytes per
   * recipient (the connection counts are the I/O layer's).
   * Default: `DEFAULT_LIMITS`.
   */
  limits?: Partial<Limits>;
  /** Sink for log events. Default: none. */
  log?: CoreLogger;
  /**
   * Whether `log` keeps "debug" events. When false the core skips the per-message ones without
   * building their fields (default true: every event reaches `log`).
   */
  logDebug?: boolean;
  /** Who may log in as whom (see `AuthMode`). Default "open". */
  auth?: AuthMode;
  /** Checks passwords off the core; without one, logins that need a password get "401". */
  authenticator?: Authenticator;
  /** Messages a room join replays (`--room-replay`). Default 20. */
  roomReplay?: number;
  /** History older than this many days is deleted; 0: no age limit. Default 90. */
  historyDays?: number;
  /** History entries kept per conversation; 0: no limit. Default 10000. */
  historyCount?: number;
  /** Whether direct messages go into the history too (`--direct-history`). Default true. */
  directHistory?: boolean;
  /**
   * The largest message a client may send, in bytes (long ones come as CHUNK frames); beyond
   * it the sender gets "413". Default 65536, at most 16 MiB.
   */
  maxMessage?: number;
  /** Where uploaded files' bytes go; without one, FILE and DATA get "501". */
  files?: FileStore;
  /** The largest file accepted, in bytes (`--max-file`). Default 100 MiB. */
  maxFile?: number;
  /** Bytes of files waiting for one recipient (`--file-quota`). Default 1 GiB. */
  fileQuota?: number;
}

/**
 * A frame as the core receives it, and where its bytes lie as received when the I/O layer has
 * them: `bytes[at, at + size)`, in the sender's byte order, in a buffer never written again (for
 * forwarding unchanged, without a view of their own).
 */
export type InboundFrame =
  & Frame
  & ({ readonly bytes?: undefined } | {
    readonly bytes: Uint8Array;
    readonly at: number;
    readonly size: number;
  });

interface Session {
  conn: ConnId;
  peer: string;
  /** "" until the connection logs in (HELLO) or is bound by its first frame. */
  name: string;
  order: ByteOrder;
  /** Bound by its first frame (a seed-000 client): it never acknowledges type 2. */
  legacy: boolean;
  /** Asked in its HELLO for the receive time of stored messages (TIMED frames). */
  timed: boolean;
  closed: boolean;
  /** Frames that arrived behind a HELLO whose answer waits for its commit. */
  backlog: InboundFrame[] | undefined;
  /** Bytes held in `backlog`. */
  backlogBytes: number;
  /** Stored messages are still being handed over; live ones wait in `held`. */
  draining: boolean;
  drainAfter: number;
  waitingWritable: boolean;
  /**
   * Live messages that wait for the drain. Made at first use, as `handedOver` and `implicit`
   * are: an idle connection has none of them.
   */
  held: Pending[] | undefined;
  /** Live messages addressed to this session, not yet acknowledged. */
  pendingToMe: number;
  /**
   * Stored messages handed over as type 2 and not acknowledged yet: key -> seqs, oldest first
   * (a sender may reuse an id: a seed-000 client restarts at 0, or a different payload).
   */
  handedOver: Map<string, number[]> | undefined;
  /** Keys of `#implicitAcks` entries for this (legacy) session. */
  implicit: Set<string> | undefined;
  /** When the connection was accepted, and when its last frame came (ms). */
  opened: number;
  seen: number;
  /** When the server last sent it a PING (0: never). */
  pingedAt: number;
  /** Its frame rate bucket (every frame after login), made at its first such frame. */
  rate: TokenBucket | undefined;
  /** When its last "429" was logged (one line a second at most). */
  limitedLogAt: number;
  /** `#uid(name)` once bound, else 0. */
  uid: number;
  /**
   * The recipient of its last direct message, known to be a user while `#forgotten` was
   * `toForgotten`, and that user's session then (a sender writes to one partner in a row).
   */
  toName: string;
  to: Session | undefined;
  toForgotten: number;
  /** The sender of the last message it acknowledged, and that sender's `#uid`. */
  ackName: string;
  ackUid: number;
}

/** A live message awaiting its recipient's ACK. */
interface Pending extends PendingEntry<Pending> {
  /** The sender's `#uid`. */
  uid: number;
  src: string;
  dst: string;
  id: number;
  payload: Uint8Array;
  hash: number;
  receivedAt: number;
  deadline: number;
  to: Session;
  /** The sender's session then (a later one is `#byName`'s once this one is closed). */
  from: Session;
  sent: boolean;
}

/** `frame` with bytes of its own: it lies in a read buffer that must not stay pinned. */
function ownCopy(frame: InboundFrame): InboundFrame {
  const { type, id, src, dst } = frame;
  if (frame.bytes === undefined) return { type, id, src, dst, payload: frame.payload.slice() };
  const bytes = frame.bytes.slice(frame.at, frame.at + frame.size);
  return {
    type,
    id,
    src,
    dst,
    payload: bytes.subarray(HEADER_SIZE),
    bytes,
    at: 0,
    size: bytes.length,
  };
}

interface ImplicitAck {
  session: Session;
  key: string;
  src: string;
  id: number;
  deadline: number;
}

interface Deferred {
  ok(): void;
  fail(): void;
}

/** A committed batch and the answers that wait for it to be durable (`ServerCore.takeCommit`). */
export interface CommitTicket {
  /** False when the store failed to commit: the waiting senders get "500". */
  readonly committed: boolean;
  /** What to do once the batch is durable, or when it is not. */
  readonly actions: readonly Deferred[];
}

const RECENT_PER_SENDER = 1024;
/**
 * Bytes of frames a connection may send behind its HELLO before the answer (a password check is
 * slow): a client resends its unanswered messages after the login, so this is plenty.
 */
const MAX_BACKLOG_BYTES = 64 * 1024;
const TAKEOVER_REASON = "replaced by a new login";
/** Payload bytes of stored messages handed over per drain step, beyond the first message. */
const DRAIN_STEP_BYTES = 4 * 1024 * 1024;
/** How long a live message's payload stays a view into its read buffer (ms; #ownOldPayloads). */
export const PIN_MS = 50;
const EMPTY = new Uint8Array(0);
/** Shared empty lists: an idle login allocates none. */
const NO_MESSAGES: readonly StoredMessage[] = [];
const NO_PENDING: readonly Pending[] = [];
const textEncoder = new TextEncoder();

/**
 * The server's delivery logic as a state machine: events in (`open`, `frame`, `malformed`,
 * `closed`, `writable`, `tick`), actions out through the outbox and the store. It never reads a
 * clock: every event carries `now` (ms), so tests drive the 3-second rule without sleeping.
 *
 * Store writes made while handling events are one batch; `commit(now)` ends the turn: it makes
 * the batch durable, then releases the answers that waited for it (a "300" is sent only after
 * the message is on disk).
 *
 * @example
 * ```ts
 * import { ServerCore } from "./server_core.ts";
 * import { MemoryStore } from "../store/memory_store.ts";
 * const sent: Uint8Array[] = [];
 * const core = new ServerCore({
 *   store: new MemoryStore(),
 *   outbox: { send: (_conn, bytes) => sent.push(bytes), close: () => {} },
 * });
 * core.open(1, 0, "127.0.0.1:5000");
 * core.frame(1, { type: 3, id: 0, src: "alice", dst: "", payload: new Uint8Array() }, "be", 0);
 * core.commit(0); // sent now holds alice's "200"
 * ```
 */
export class ServerCore {
  #store: Store;
  #outbox: CoreOutbox;
  #ackTimeout: number;
  /** Where payloads kept until their ack and the frames the core encodes are cut from. */
  #slabs = new Slabs();
  #maxQueue: number;
  #drainPage: number;
  #log: CoreLogger;
  #logDebug: boolean;
  /** By connection; a read's frames come from one in a row (`LastKeyMap`). */
  #sessions = new LastKeyMap<ConnId, Session>();
  #byName = new Map<string, Session>();
  #users: Set<string>;
  /** Names taken out of `#users` so far: a session's cached recipient is known while unchanged. */
  #forgotten = 0;
  #counts: Tally;
  #owed: Tally;
  /** Live messages awaiting an ack, in deadline order (the timeout is constant). */
  #pending = new PendingTable<Pending>();
  /** A number for each name seen, for the keys of `#pending`. */
  #uids = new Map<string, number>();
  /** Type-2 frames handed to legacy sessions, in deadline order. */
  #implicitAcks = new Map<string, ImplicitAck>();
  #recent = new Map<string, AnswerWindow>();
  #gate: LoginGate;
  #deferred: Deferred[] = [];
  #dirty = false;
  /** Sessions whose drain waits for `writable()`. */
  #awaitingWritable = 0;
  #limits: Limits;
  /** Login attempts per IP address. */
  #logins: KeyedRateLimiter;
  /** Message rate per user name: a reconnect or a takeover does not start a new burst. */
  #rates: KeyedRateLimiter;
  /** Stored payload bytes per recipient, read from the store at the first message stored for it. */
  #bytes = new Map<string, number>();
  #pingId = 0;
  /** Messages stored, and stored ones delivered, this turn: one log line each per turn. */
  #storedLog = new TurnSummary();
  #storedDeliveredLog = new TurnSummary();
  /** Long messages being received (CHUNK frames), at most one per connection. */
  #long: LongMessages<Session>;
  /** Rooms, history and retention (core/rooms.ts). */
  #rooms: Rooms;
  /** File transfers (core/files.ts). */
  #files: FileTransfers;

  constructor(options: ServerCoreOptions) {
    this.#store = options.store;
    this.#outbox = options.outbox;
    this.#ackTimeout = options.ackTimeoutMs ?? 3000;
    this.#maxQueue = options.maxQueue ?? 100_000;
    this.#drainPage = options.drainPage ?? 512;
    this.#log = options.log ?? (() => {});
    this.#logDebug = options.logDebug ?? true;
    this.#gate = new LoginGate({
      store: this.#store,
      mode: options.auth ?? "open",
      authenticator: options.authenticator,
      limits: resolveLimits(options.limits),
    });
    this.#users = new Set(this.#store.users());
    this.#counts = new Tally(this.#store.counts());
    this.#owed = new Tally(this.#store.receiptCounts());
    this.#limits = resolveLimits(options.limits);
    const logins = this.#limits.loginsPerMinute;
    this.#logins = new KeyedRateLimiter(logins, logins / 60);
    this.#rates = new KeyedRateLimiter(this.#limits.msgBurst, this.#limits.msgRate);
    this.#rooms = new Rooms({
      store: this.#store,
      send: (conn, bytes) => this.#outbox.send(conn, bytes),
      session: (name) => this.#byName.get(name),
      sessions: () => this.#byName.values(),
      onlineCount: () => this.#byName.size,
      begin: () => {
        if (this.#dirty) return;
        this.#store.begin();
        this.#dirty = true;
      },
      defer: (ok, fail) => this.#defer(ok, fail),
      answer: (s, src, id, code) => this.#answerOn(s as Session, src, id, code),
      reject: (s, code, id, reason, now) => this.#reject(s as Session, code, id, reason, now),
      log: (level, event, fields) => this.#log(level, event, fields),
    }, {
      ...(options.roomReplay === undefined ? {} : { replay: options.roomReplay }),
      ...(options.historyDays === undefined ? {} : { historyDays: options.historyDays }),
      ...(options.historyCount === undefined ? {} : { historyCount: options.historyCount }),
      ...(options.directHistory === undefined ? {} : { directHistory: options.directHistory }),
    });
    this.#long = new LongMessages<Session>(options.maxMessage ?? DEFAULT_MAX_MESSAGE, {
      answer: (s, src, id, code) => this.#answerOn(s, src, id, code),
      reject: (s, code, id, reason, now) => this.#reject(s, code, id, reason, now),
      paced: (s, frame, now) => this.#withinFrameRate(s, frame, now),
      log: (event, fields) => this.#log("info", event, fields),
    });
    this.#files = this.#makeFiles(options);
  }

  /** Connections open now. */
  get connections(): number {
    return this.#sessions.size;
  }

  /** Names logged in now. */
  online(): string[] {
    return [...this.#byName.keys()];
  }

  /**
   * Whether a drain waits for its socket to take more: while none does, the I/O layer need not
   * tell `writable()` of every socket that took all it was given.
   */
  get awaitsWritable(): boolean {
    return this.#awaitingWritable > 0;
  }

  /** Whether a write batch or answers wait for `commit()`. */
  get needsCommit(): boolean {
    return this.#dirty || this.#deferred.length > 0;
  }

  /** The earliest deadline (ms) that `tick` must see, if any. */
  nextDeadline(): number | undefined {
    let next: number | undefined;
    // Asked after every event: no iterator when there is nothing to wait for.
    if (this.#pending.first !== undefined) next = this.#pending.first.deadline;
    if (this.#implicitAcks.size === 0) return next;
    for (const a of this.#implicitAcks.values()) {
      if (next === undefined || a.deadline < next) next = a.deadline;
      break;
    }
    return next;
  }

  /** A connection was accepted. */
  open(conn: ConnId, now: number, peer = ""): void {
    this.#sessions.set(conn, {
      conn,
      peer,
      name: "",
      order: "be",
      legacy: false,
      timed: false,
      closed: false,
      draining: false,
      drainAfter: 0,
      waitingWritable: false,
      held: undefined,
      pendingToMe: 0,
      handedOver: undefined,
      backlog: undefined,
      backlogBytes: 0,
      implicit: undefined,
      opened: now,
      seen: now,
      pingedAt: 0,
      rate: undefined,
      limitedLogAt: -Infinity,
      uid: 0,
      toName: "",
      to: undefined,
      toForgotten: 0,
      ackName: "",
      ackUid: 0,
    });
    this.#log("info", "connect", { conn, peer, at: now });
  }

  /** A whole, well-formed frame arrived on `conn`, whose byte order is `order`. */
  frame(conn: ConnId, frame: InboundFrame, order: ByteOrder, now: number): void {
    const s = this.#sessions.get(conn);
    if (s === undefined) return;
    s.order = order;
    s.seen = now;
    // Answers go out in the order of the frames they answer, the login's "200" first.
    if (s.backlog !== undefined) {
      const size = HEADER_SIZE + frame.payload.length;
      s.backlogBytes += size;
      if (s.backlogBytes > MAX_BACKLOG_BYTES) {
        return this.#reject(s, Code.BAD_REQUEST, frame.id, "too much sent before login", now);
      }
      s.backlog.push(ownCopy(frame));
      return;
    }
    if (s.name === "") {
      if (frame.type !== FrameType.PING && !this.#loginAllowed(s, frame.id, now)) return;
      if (frame.type === FrameType.HELLO) return this.#hello(s, frame, now);
      if (frame.type === FrameType.PING) return this.#pong(s, frame);
      if (!this.#bind(s, frame.src, frame.id, true, now)) return;
    } else if (frame.type === FrameType.HELLO) {
      return this.#reject(s, Code.BAD_REQUEST, frame.id, "second HELLO on one connection", now);
    }
    // DATA of an upload is bounded by its size and window, not the frame rate (core/files.ts);
    // so are the CHUNKs of a long message, by --max-message (core/long_messages.ts paces them).
    if (
      (frame.type !== FrameType.DATA || frame.payload.length < FREE_BULK_BYTES) &&
      frame.type !== FrameType.CHUNK && !this.#withinFrameRate(s, frame, now)
    ) return;
    switch (frame.type) {
      case FrameType.MSG:
        if (this.#long.size > 0) {
          // The final frame of a long message ends its assembly: the whole message goes on.
          const whole = this.#long.final(s, frame, now);
          return whole === undefined ? undefined : this.#message(s, whole, now);
        }
        return this.#message(s, frame, now);
      case FrameType.CHUNK:
        return this.#long.chunk(s, frame, now);
      case FrameType.ACK:
        return this.#ack(s, frame, now);
      case FrameType.PING:
        return this.#pong(s, frame);
      case FrameType.PONG:
        return;
      case FrameType.WHO:
        return this.#who(s, frame);
      case FrameType.ROOM:
        return this.#rooms.request(s, frame, now);
      case FrameType.HISTORY:
        return this.#rooms.history(s, frame, now);
      case FrameType.FILE:
        return this.#files.file(s, frame, now);
      case FrameType.DATA:
        return this.#files.data(s, frame, now);
      case FrameType.OFFLINE:
        return this.#reject(
          s,
          Code.BAD_REQUEST,
          frame.id,
          "type 2 is sent by the server only",
          now,
        );
      default:
        this.#answerOn(s, "", frame.id, Code.NOT_IMPLEMENTED);
        this.#log("info", "not-implemented", { conn, user: s.name, type: frame.type });
    }
  }

  /**
   * `conn` sent bytes that are not a frame: answer with `code` about messageId `id` (0 when the
   * frame's header could not be read) and close that connection.
   */
  malformed(conn: ConnId, code: string, reason: string, now: number, id = 0): void {
    const s = this.#sessions.get(conn);
    if (s === undefined) return;
    this.#reject(s, code, id, reason, now);
  }

  /** The peer closed `conn` or it failed. */
  closed(conn: ConnId, now: number, reason = "closed by peer"): void {
    const s = this.#sessions.get(conn);
    if (s !== undefined) this.#drop(s, reason, now, false);
  }

  /** Everything queued for `conn` has been written: continue a login drain. */
  writable(conn: ConnId, now: number): void {
    const s = this.#sessions.get(conn);
    if (s === undefined || !this.#stopAwaitingWritable(s)) return;
    this.#drainStep(s, now);
  }

  /** Time passed: apply every deadline at or before `now`. */
  tick(now: number): void {
    for (let p = this.#pending.first; p !== undefined && p.deadline <= now;) {
      this.#expire(p, now);
      p = this.#pending.first;
    }
    for (const a of this.#implicitAcks.values()) {
      if (a.deadline > now) break;
      this.#implicitAcks.delete(a.key);
      a.session.implicit?.delete(a.key);
      if (!a.session.closed) this.#storedAcked(a.session, `${a.src}\n${a.id}`, now);
    }
  }

  /**
   * The `Authenticator`'s answer to a check it was asked for by the HELLO on `conn`: that login
   * goes on ("200" once durable, the frames held behind it after) or is refused ("401").
   */
  authenticated(conn: ConnId, result: AuthResult, now: number): void {
    const answer = this.#gate.result(conn, result, now);
    const s = this.#sessions.get(conn);
    if (answer === undefined || s === undefined) return;
    this.#hello(s, answer.frame, now, answer.verdict);
  }

  /**
   * Applies the time limits at `now`: closes a connection that did not log in within the login
   * timeout ("408"), PINGs a HELLO session idle for the idle timeout and closes one that sent
   * nothing back within the ping timeout ("440"). Seed-000 sessions are never PINGed. The I/O
   * layer calls it from one server-wide interval (about once a second), not a timer per connection.
   */
  sweep(now: number): void {
    // Allocates nothing per session (one record for all, and forEach makes no iterator results
    // as a for-of loop does until optimised): an idle server's heap stays still between sweeps.
    const activity: Activity = { opened: 0, seen: 0, pingedAt: 0, loggedIn: false, legacy: false };
    for (const s of this.#sessions.values()) {
      activity.opened = s.opened;
      activity.seen = s.seen;
      activity.pingedAt = s.pingedAt;
      activity.loggedIn = s.name !== "";
      activity.legacy = s.legacy;
      const verdict = liveness(activity, now, this.#limits);
      if (verdict === "ok") continue;
      if (verdict === "ping") this.#ping(s, now);
      else if (verdict === "login-timeout") {
        this.#reject(s, Code.LOGIN_TIMEOUT, 0, "no login within the login timeout", now);
      } else this.#reject(s, Code.IDLE_TIMEOUT, 0, "idle, and no answer to PING", now);
    }
    this.#logins.prune(now);
    this.#rates.prune(now);
    this.#gate.prune(now);
    this.#rooms.sweep(now);
    this.#files.sweep(now);
  }

  /**
   * Ends a turn: makes the batch of store writes durable, then sends what waited for it. If the
   * store fails, the senders waiting on that batch get "500" instead.
   */
  commit(now: number): void {
    for (let round = 0; round < 8; round++) {
      const ticket = this.takeCommit(now);
      if (ticket === undefined) return;
      this.release(ticket, true);
    }
  }

  /**
   * The first half of `commit()`, for a store that syncs in the background (`Store.sync`): ends
   * the turn's batch (`store.commit()`) and takes what waits for it. Pass the ticket to
   * `release()` once `store.sync()` has made the batch durable; more turns may be taken meanwhile.
   * Undefined when nothing waits for a commit.
   */
  takeCommit(now: number): CommitTicket | undefined {
    if (!this.needsCommit) return undefined;
    const actions = this.#deferred;
    this.#deferred = [];
    let committed = true;
    if (this.#dirty) {
      this.#dirty = false;
      try {
        this.#store.commit();
      } catch (error) {
        committed = false;
        this.#store.rollback();
        this.#counts = new Tally(this.#store.counts());
        this.#bytes.clear();
        this.#owed = new Tally(this.#store.receiptCounts());
        this.#log("error", "store-commit-failed", { error: String(error), at: now });
      }
    }
    return { committed, actions };
  }

  /**
   * The second half of `commit()`: the batch of `ticket` is durable (or, `durable` false, its
   * sync failed): sends what waited for it, "500" instead of "300" when it is not durable.
   */
  release(ticket: CommitTicket, durable: boolean): void {
    const ok = ticket.committed && durable;
    for (const action of ticket.actions) ok ? action.ok() : action.fail();
    const stored = this.#storedLog.take();
    if (stored !== undefined) this.#log("info", "stored", stored);
    const delivered = this.#storedDeliveredLog.take();
    if (delivered !== undefined) this.#log("info", "stored-delivered", delivered);
  }

  #hello(
    s: Session,
    frame: InboundFrame,
    now: number,
    verdict: Verdict = this.#gate.hello(s.conn, frame, { address: ipOf(s.peer), now }),
  ): void {
    if (!this.#admit(s, frame, verdict, now)) return;
    const known = this.#users.has(frame.src);
    if (!this.#bind(s, frame.src, frame.id, false, now)) return;
    s.backlog ??= [];
    s.timed = frame.payload.length > 0 && decodeHelloOptions(frame.payload).has("timed");
    // Not the frame: it is a view into a read buffer, which need not wait for the commit.
    const { id, src } = frame;
    this.#defer(() => {
      if (s.closed) return;
      this.#answerOn(s, "", id, Code.DELIVERED);
      this.#startDrain(s, now);
      const backlog = s.backlog ?? [];
      s.backlog = undefined;
      for (const f of backlog) this.frame(s.conn, f, s.order, now);
    }, () => {
      if (!known) this.#forgetUser(src);
      this.#reject(s, Code.SERVER_ERROR, id, "could not record the login", now);
    });
  }

  /** Applies the login gate's verdict on the HELLO `frame`; true when the login goes on now. */
  #admit(s: Session, frame: InboundFrame, verdict: Verdict, now: number): boolean {
    const name = frame.src;
    switch (verdict.kind) {
      case "open":
        return true;
      case "wait":
        // Frames behind the HELLO wait with it; they are handled after its "200".
        s.backlog ??= [];
        return false;
      case "refuse":
        this.#reject(s, verdict.code, frame.id, verdict.reason, now, name);
        return false;
      case "change":
        s.backlog ??= [];
        if (!this.#tryWrite(() => this.#store.setAccount(name, verdict.hash, now))) {
          this.#reject(s, Code.SERVER_ERROR, frame.id, "could not store the password", now, name);
          return false;
        }
        this.#defer(() => {
          this.#answerOn(s, "", frame.id, Code.DELIVERED, name);
          this.#log("info", "password-changed", { conn: s.conn, user: name, peer: s.peer });
          this.#drop(s, "password changed", now, true);
        }, () => this.#reject(s, Code.SERVER_ERROR, frame.id, "could not store it", now, name));
        return false;
      case "register":
      case "login": {
        if (this.#byName.has(name)) this.tick(now);
        const holder = this.#byName.get(name);
        if (holder !== undefined && verdict.kind === "register") {
          // A first claim proves nothing about whoever holds the name: no takeover.
          this.#reject(s, Code.NAME_IN_USE, frame.id, `name ${name} in use`, now, name);
          return false;
        }
        if (
          verdict.kind === "register" &&
          !this.#tryWrite(() => this.#store.setAccount(name, verdict.hash, now))
        ) {
          this.#reject(s, Code.SERVER_ERROR, frame.id, "could not store the account", now, name);
          return false;
        }
        if (holder !== undefined) this.#takeOver(holder, now);
        this.#log("info", verdict.kind === "register" ? "account-registered" : "authenticated", {
          conn: s.conn,
          user: name,
          peer: s.peer,
        });
        return true;
      }
    }
  }

  /** A login that added `name` to the users failed: it is not one. */
  #forgetUser(name: string): void {
    this.#users.delete(name);
    this.#forgotten++;
  }

  /** Whether `name` got an account from the operator while we ran: it is a known user then. */
  #invited(name: string): boolean {
    if (this.#store.account(name) === undefined) return false;
    // `tinychat user add` recorded the user in the store too.
    this.#users.add(name);
    return true;
  }

  /** An authenticated login replaces `old`: it is told why, then closed as any lost connection. */
  #takeOver(old: Session, now: number): void {
    // A seed-000 client never sees types above 2; it is just closed.
    if (!old.legacy) {
      this.#outbox.send(
        old.conn,
        encodeFrame(
          {
            type: FrameType.TAKEOVER,
            id: 0,
            src: "",
            dst: old.name,
            payload: textEncoder.encode(TAKEOVER_REASON),
          },
          old.order,
        ),
      );
    }
    this.#log("info", "takeover", { conn: old.conn, user: old.name, peer: old.peer });
    this.#drop(old, TAKEOVER_REASON, now, true);
  }

  /** Binds `s` to `name`; on failure answers and closes, and returns false. */
  #bind(s: Session, name: string, id: number, legacy: boolean, now: number): boolean {
    const problem = nameProblem(name);
    if (problem !== undefined) {
      this.#reject(s, Code.BAD_REQUEST, id, `invalid username: ${problem}`, now);
      return false;
    }
    if (legacy && !this.#gate.legacyAllowed(name)) {
      this.#reject(s, Code.UNAUTHORIZED, id, `${name} needs a password (no HELLO)`, now, name);
      return false;
    }
    if (this.#byName.has(name)) this.tick(now);
    if (this.#byName.has(name)) {
      this.#reject(s, Code.NAME_IN_USE, id, `name ${name} in use`, now, name);
      return false;
    }
    const known = this.#users.has(name);
    if (!known && !this.#tryWrite(() => this.#store.addUser(name, now))) {
      this.#reject(s, Code.SERVER_ERROR, id, "could not record the login", now, name);
      return false;
    }
    s.name = name;
    s.uid = this.#uid(name);
    s.legacy = legacy;
    s.draining = true;
    this.#byName.set(name, s);
    if (!known) this.#users.add(name);
    // A seed-000 client counts its messageIds from 0 at every start.
    if (legacy) {
      this.#recent.delete(name);
      this.#defer(() => this.#startDrain(s, now), () => {
        if (!known) this.#forgetUser(name);
        this.#drop(s, "store failed", now, true);
      });
    }
    this.#log("info", "login", { conn: s.conn, user: name, legacy, peer: s.peer });
    return true;
  }

  #message(s: Session, frame: InboundFrame, now: number): void {
    if (!this.#withinRate(s, frame, now)) return;
    if (frame.src !== s.name) {
      return this.#reject(s, Code.FORBIDDEN, frame.id, `src ${frame.src} is not ${s.name}`, now);
    }
    const dst = frame.dst;
    if (dst === "") {
      return this.#reject(s, Code.BAD_REQUEST, frame.id, "message without recipient", now);
    }
    if (dst.charCodeAt(0) === 0x23) return this.#rooms.message(s, frame, now);
    let to: Session | undefined;
    if (dst === s.toName && s.toForgotten === this.#forgotten) {
      // A session that is not closed is its name's in `#byName`.
      to = s.to !== undefined && !s.to.closed ? s.to : this.#byName.get(dst);
    } else {
      if (!this.#users.has(dst) && !this.#invited(dst)) {
        this.#answerOn(s, dst, frame.id, Code.UNKNOWN_USER);
        this.#log("info", "unknown-recipient", { user: s.name, dst, id: frame.id });
        return;
      }
      to = this.#byName.get(dst);
      s.toName = dst;
      s.toForgotten = this.#forgotten;
    }
    s.to = to;
    const hash = hashBytes(frame.payload);
    const inFlight = this.#pending.get(s.uid, frame.id);
    if (inFlight !== undefined) {
      // A resend of a message still in flight: its answer is on its way.
      if (inFlight.dst === dst && equalBytes(inFlight.payload, frame.payload)) return;
    } else if (!s.legacy) {
      // A seed-000 client never resends, and counts its ids from 0 at every start: a repeated
      // (src, id) from it is a new message, so only our clients' resends are looked up.
      const code = this.#duplicateCode(s.name, dst, frame.id, hash, frame.payload);
      if (code !== undefined) {
        this.#answerOn(s, dst, frame.id, code);
        this.#log("debug", "duplicate", { user: s.name, dst, id: frame.id, code });
        return;
      }
    }
    this.#rooms.direct(s.name, dst, frame.id, frame.payload, now);
    if (to === undefined || inFlight !== undefined) {
      const message = {
        src: s.name,
        dst,
        id: frame.id,
        payload: frame.payload,
        hash,
        receivedAt: now,
      };
      return this.#storeMessage(message, now);
    }
    this.#ownOldPayloads(now);
    const p: Pending = {
      uid: s.uid,
      src: s.name,
      dst,
      id: frame.id,
      // A view into the read buffer while young (#ownOldPayloads); the received bytes go out
      // at once.
      payload: frame.payload,
      hash,
      receivedAt: now,
      deadline: now + this.#ackTimeout,
      to,
      from: s,
      sent: false,
      prev: undefined,
      next: undefined,
    };
    this.#pending.add(p);
    to.pendingToMe++;
    if (to.draining) (to.held ??= []).push(p);
    else this.#sendLive(p, frame, s.order);
  }

  /**
   * Gives the messages awaiting their acks for `PIN_MS` or more a copy of their payloads: until
   * then each is a view into the buffer it was read into, which is never written again but must
   * not stay pinned for seconds by a recipient slow to acknowledge. Nearly all are acknowledged
   * sooner and never copied (not copying made the live relay 7.5% faster: docs/PERFORMANCE.md).
   * Each message is looked at once, in order: one comparison per call while none is that old.
   */
  #ownOldPayloads(now: number): void {
    const pending = this.#pending;
    for (let p = pending.fresh; p !== undefined; p = pending.fresh) {
      // A clock that went back counts as time passed: nothing waits for it to catch up.
      if (now - p.receivedAt < PIN_MS && p.receivedAt <= now) return;
      p.payload = this.#slabs.copy(p.payload);
      pending.pass();
    }
  }

  /** The answer already given for a resent message, if it is one. */
  #duplicateCode(
    src: string,
    dst: string,
    id: number,
    hash: number,
    payload: Uint8Array,
  ): string | undefined {
    const recent = this.#recent.get(src)?.get(id);
    if (recent !== undefined && recent.dst === dst) {
      if (recent.hash === hash || recent.hash === ANY_PAYLOAD) return recent.code;
    }
    if (this.#counts.get(dst) > 0) {
      for (const m of this.#store.findMessages(src, id, dst)) {
        if (equalBytes(m.payload, payload)) return Code.STORED;
      }
    }
    if (this.#owed.get(src) > 0 && this.#store.hasReceipt(src, dst, id)) {
      return Code.DELIVERED;
    }
    return undefined;
  }

  /** Sends a live message; `received` in byte order `order` is it as it came, if it still is. */
  #sendLive(p: Pending, received?: InboundFrame, order?: ByteOrder): void {
    p.sent = true;
    const to = p.to;
    if (to.timed || p.payload.length > MAX_PAYLOAD_SIZE) return this.#sendTimedOrLong(p);
    if (received?.bytes !== undefined && order === to.order) {
      return this.#outbox.send(to.conn, received.bytes, received.at, received.at + received.size);
    }
    this.#outbox.send(
      to.conn,
      this.#encode(
        { type: FrameType.MSG, id: p.id, src: p.src, dst: p.dst, payload: p.payload },
        to.order,
      ),
    );
  }

  /** A live message as [TIMED] [CHUNK…] MSG: its receive time first, its pieces in order. */
  #sendTimedOrLong(p: Pending): void {
    const to = p.to;
    const m = { type: FrameType.MSG, id: p.id, src: p.src, dst: p.dst, payload: p.payload };
    const opts = { legacy: to.legacy, timed: to.timed };
    this.#outbox.send(to.conn, encodeDelivery({ ...m, sentAt: p.receivedAt }, to.order, opts));
  }

  #ack(s: Session, frame: InboundFrame, now: number): void {
    if (frame.src !== s.name) {
      return this.#reject(s, Code.FORBIDDEN, frame.id, `src ${frame.src} is not ${s.name}`, now);
    }
    if (frame.dst.charCodeAt(0) === 0x23) return this.#rooms.ack(s, frame.dst, frame.id);
    let uid = s.ackUid;
    if (frame.dst !== s.ackName) {
      uid = this.#uids.get(frame.dst) ?? 0;
      if (uid !== 0) {
        s.ackName = frame.dst;
        s.ackUid = uid;
      }
    }
    const p = uid === 0 ? undefined : this.#pending.get(uid, frame.id);
    if (p !== undefined && p.to === s) {
      this.#pending.delete(p);
      s.pendingToMe--;
      // Any ACK from the recipient means delivered: it cannot speak for the server ("300", …).
      const code = Code.DELIVERED;
      this.#remember(p.src, p.id, p.dst, p.hash, code);
      const sender = p.from.closed ? this.#byName.get(p.src) : p.from;
      // B's ACK is byte for byte what A gets when it carries just the code in A's byte order.
      if (
        sender !== undefined && frame.bytes !== undefined && sender.order === s.order &&
        isCodePayload(frame.bytes, code, frame.at + HEADER_SIZE, frame.at + frame.size)
      ) {
        if (!sender.closed) {
          this.#outbox.send(sender.conn, frame.bytes, frame.at, frame.at + frame.size);
        }
      } else if (sender !== undefined) this.#answerOn(sender, p.dst, p.id, code);
      if (this.#logDebug) {
        this.#log("debug", "delivered", { src: p.src, dst: p.dst, id: p.id, code });
      }
      return;
    }
    const key = `${frame.dst}\n${frame.id}`;
    if (s.handedOver?.has(key)) return this.#storedAcked(s, key, now);
    this.#log("debug", "stray-ack", { user: s.name, dst: frame.dst, id: frame.id });
  }

  /** The recipient of a stored message has it: delete it and owe its sender a receipt. */
  #storedAcked(s: Session, key: string, now: number): void {
    const seqs = s.handedOver?.get(key);
    const seq = seqs?.shift();
    if (seqs === undefined || seq === undefined) return;
    if (seqs.length === 0) s.handedOver?.delete(key);
    const newline = key.indexOf("\n");
    const src = key.slice(0, newline);
    const id = Number(key.slice(newline + 1));
    const freed = this.#write(() => this.#store.deleteMessage(seq));
    this.#counts.add(s.name, -1);
    const bytes = this.#bytes.get(s.name);
    if (bytes !== undefined) this.#bytes.set(s.name, Math.max(0, bytes - freed));
    this.#recent.get(src)?.update(id, s.name, Code.DELIVERED);
    if (this.#logDebug) this.#log("debug", "stored-delivered", { src, dst: s.name, id });
    this.#storedDeliveredLog.add(s.name);
    // The receipt is owed in the same batch as the delete: no crash can keep one without the other.
    this.#owe(src, s.name, id, now);
  }

  /** Records, in the turn's batch, that `owner` is owed a "200" from `from` about its `id`. */
  #owe(owner: string, from: string, id: number, now: number): void {
    const receipt = this.#write(() => this.#store.putReceipt(owner, from, id));
    this.#owed.add(owner, 1);
    this.#defer(() => this.#receipt(owner, from, id, receipt, now), () => {});
  }

  /** Once the receipt is durable: hands `owner` the late "200" now if online, else keeps it. */
  #receipt(owner: string, from: string, id: number, seq: number, now: number): void {
    const to = this.#byName.get(owner);
    if (to === undefined || to.draining) {
      this.#log("debug", "receipt-kept", { owner, from, id, at: now });
      return;
    }
    // A login drain since the ack may have handed it over already.
    if (!this.#store.hasReceipt(owner, from, id)) return;
    this.#answerOn(to, from, id, Code.DELIVERED);
    this.#write(() => this.#store.deleteReceipt(seq));
    this.#owed.add(owner, -1);
  }

  #storeMessage(
    m: {
      src: string;
      dst: string;
      id: number;
      payload: Uint8Array;
      hash: number;
      receivedAt: number;
    },
    now: number,
  ): void {
    const count = this.#counts.get(m.dst);
    if (count >= this.#maxQueue) {
      this.#answerUser(m.src, m.dst, m.id, Code.QUOTA_FULL);
      this.#log("warn", "quota-full", { src: m.src, dst: m.dst, id: m.id, stored: count });
      return;
    }
    let stored = this.#bytes.get(m.dst);
    if (stored === undefined) {
      stored = count === 0 ? 0 : this.#store.storedBytes(m.dst);
      this.#bytes.set(m.dst, stored);
    }
    const bytes = stored + m.payload.length;
    if (bytes > this.#limits.maxQueueBytes) {
      this.#answerUser(m.src, m.dst, m.id, Code.QUOTA_FULL);
      this.#log("warn", "quota-full", { src: m.src, dst: m.dst, id: m.id, bytes });
      return;
    }
    try {
      this.#write(() =>
        this.#store.putMessage({
          src: m.src,
          dst: m.dst,
          id: m.id,
          sentAt: m.receivedAt,
          payload: m.payload,
        })
      );
    } catch (error) {
      this.#answerUser(m.src, m.dst, m.id, Code.SERVER_ERROR);
      this.#log("error", "store-failed", {
        src: m.src,
        dst: m.dst,
        id: m.id,
        error: String(error),
      });
      return;
    }
    this.#counts.add(m.dst, 1);
    this.#bytes.set(m.dst, bytes);
    this.#defer(() => {
      this.#remember(m.src, m.id, m.dst, m.hash, Code.STORED);
      this.#answerUser(m.src, m.dst, m.id, Code.STORED);
      if (this.#logDebug) {
        this.#log("debug", "stored", { src: m.src, dst: m.dst, id: m.id, at: now });
      }
      this.#storedLog.add(m.dst);
    }, () => this.#answerUser(m.src, m.dst, m.id, Code.SERVER_ERROR));
  }

  /** A live message's deadline passed. */
  #expire(p: Pending, now: number): void {
    this.#pending.delete(p);
    p.to.pendingToMe--;
    this.#storeMessage(p, now);
    if (p.sent) {
      this.#log("info", "ack-timeout", { src: p.src, dst: p.dst, id: p.id });
      this.#drop(p.to, "no answer within the ack timeout", now, true);
    }
  }

  #startDrain(s: Session, now: number): void {
    if (s.closed) return;
    s.draining = true;
    this.#drainStep(s, now);
  }

  /** Hands over one page of stored messages; the next page follows when the socket drains. */
  #drainStep(s: Session, now: number): void {
    if (s.closed) return;
    // The count is exact: a login with nothing stored asks the store nothing.
    const page = this.#counts.get(s.name) > 0
      ? this.#store.messagesFor(s.name, s.drainAfter, this.#drainPage)
      : NO_MESSAGES;
    let bytes = 0;
    for (const m of page) {
      const key = `${m.src}\n${m.id}`;
      s.handedOver ??= new Map();
      const seqs = s.handedOver.get(key);
      if (seqs === undefined) s.handedOver.set(key, [m.seq]);
      else seqs.push(m.seq);
      s.drainAfter = m.seq;
      // [TIMED] [CHUNK…] OFFLINE; a short one without TIMED is one frame.
      this.#outbox.send(
        s.conn,
        encodeDelivery(
          {
            type: FrameType.OFFLINE,
            id: m.id,
            src: m.src,
            dst: m.dst,
            payload: m.payload,
            sentAt: m.sentAt,
          },
          s.order,
          { legacy: s.legacy, timed: s.timed },
        ),
      );
      // Sending may have closed it (a full send queue): what was not handed over stays stored.
      if (s.closed) return;
      if (s.legacy) {
        const ackKey = `${s.conn}\n${m.seq}`;
        this.#implicitAcks.set(ackKey, {
          session: s,
          key: ackKey,
          src: m.src,
          id: m.id,
          deadline: now + this.#ackTimeout,
        });
        (s.implicit ??= new Set()).add(ackKey);
      }
      // Long messages: a step queues a few MiB at most, the rest when the socket drained.
      bytes += m.payload.length;
      if (bytes > DRAIN_STEP_BYTES) {
        this.#awaitWritable(s);
        return;
      }
    }
    if (page.length === this.#drainPage) {
      this.#awaitWritable(s);
      return;
    }
    if (this.#owed.get(s.name) > 0) {
      for (const r of this.#store.receiptsFor(s.name)) {
        this.#answerOn(s, r.from, r.id, Code.DELIVERED);
        this.#write(() => this.#store.deleteReceipt(r.seq));
        // The receipt is gone from the store; a resend of that message must still not deliver.
        if (!s.legacy) this.#remember(s.name, r.id, r.from, ANY_PAYLOAD, Code.DELIVERED);
      }
      this.#owed.delete(s.name);
    }
    // Then the room messages missed, in pages as the stored ones.
    if (!this.#rooms.caughtUp(s, now)) {
      this.#awaitWritable(s);
      return;
    }
    this.#files.loggedIn(s);
    s.draining = false;
    const held = s.held ?? NO_PENDING;
    s.held = undefined;
    for (const p of held) {
      if (this.#pending.get(p.uid, p.id) !== p) continue;
      // Its clock starts when the recipient is handed the message.
      this.#pending.delete(p);
      p.deadline = now + this.#ackTimeout;
      this.#pending.add(p);
      this.#sendLive(p);
    }
  }

  /** Forgets `s`: its unacknowledged live messages are stored and their senders told "300". */
  #drop(s: Session, reason: string, now: number, closeSocket: boolean): void {
    if (s.closed) return;
    s.closed = true;
    this.#gate.cancel(s.conn);
    if (this.#long.size > 0) this.#long.forget(s);
    this.#files.closed(s.conn);
    this.#sessions.delete(s.conn);
    this.#stopAwaitingWritable(s);
    if (s.name !== "" && this.#byName.get(s.name) === s) this.#byName.delete(s.name);
    // Its live messages, oldest first: the walk ends at the last of them, and copies nothing.
    for (let p = this.#pending.first; p !== undefined && s.pendingToMe > 0;) {
      const next = p.next;
      if (p.to === s) {
        this.#pending.delete(p);
        s.pendingToMe--;
        this.#storeMessage(p, now);
      }
      p = next;
    }
    s.pendingToMe = 0;
    s.held = undefined;
    for (const key of s.implicit ?? []) this.#implicitAcks.delete(key);
    s.implicit = undefined;
    this.#log("info", "disconnect", { conn: s.conn, user: s.name, reason });
    if (closeSocket) this.#outbox.close(s.conn, reason);
  }

  /** `s`'s drain goes on at its `writable()`. */
  #awaitWritable(s: Session): void {
    if (s.waitingWritable) return;
    s.waitingWritable = true;
    this.#awaitingWritable++;
  }

  /** `s` no longer waits for `writable()`; whether it did. */
  #stopAwaitingWritable(s: Session): boolean {
    if (!s.waitingWritable) return false;
    s.waitingWritable = false;
    this.#awaitingWritable--;
    return true;
  }

  /** Answers `code` about frame `id` on `s` and closes it. */
  #reject(s: Session, code: string, id: number, reason: string, now: number, dst = s.name): void {
    this.#answerOn(s, "", id, code, dst);
    this.#log("warn", "rejected", { conn: s.conn, user: s.name, code, reason, peer: s.peer });
    this.#drop(s, `${code} ${reason}`, now, true);
  }

  #pong(s: Session, frame: InboundFrame): void {
    this.#outbox.send(
      s.conn,
      this.#encode(
        { type: FrameType.PONG, id: frame.id, src: "", dst: s.name, payload: frame.payload },
        s.order,
      ),
    );
  }

  /** Answers a presence query: online users first, then the known ones, in pages of lines. */
  #who(s: Session, frame: InboundFrame): void {
    const online = [...this.#byName.keys()].sort();
    const offline = [...this.#users].filter((name) => !this.#byName.has(name)).sort();
    const lines = [...online.map((n) => `+${n}`), ...offline.map((n) => `-${n}`)];
    const reply = (text: string) =>
      this.#outbox.send(
        s.conn,
        encodeFrame(
          {
            type: FrameType.WHO,
            id: frame.id,
            src: "",
            dst: s.name,
            payload: textEncoder.encode(text),
          },
          s.order,
        ),
      );
    for (const page of linePages(lines)) reply(page);
  }

  /** Sends ACK `code` about `owner`'s message `id` to `from`, if `owner` is online. */
  #answerUser(owner: string, from: string, id: number, code: string): void {
    const s = this.#byName.get(owner);
    if (s !== undefined) this.#answerOn(s, from, id, code);
  }

  #answerOn(s: Session, src: string, id: number, code: string, dst = s.name): void {
    if (s.closed) return;
    this.#outbox.send(
      s.conn,
      this.#encode(
        {
          type: FrameType.ACK,
          id,
          src,
          dst,
          payload: code === "" ? EMPTY : codePayload(code),
        },
        s.order,
      ),
    );
  }

  /** `frame` encoded into a slab: the outbox sends it or copies it, and lets it go. */
  #encode(frame: Frame, order: ByteOrder): Uint8Array {
    return writeFrame(this.#slabs.alloc(frameSize(frame)), frame, order);
  }

  #remember(src: string, id: number, dst: string, hash: number, code: string): void {
    let window = this.#recent.get(src);
    if (window === undefined) {
      window = new AnswerWindow(RECENT_PER_SENDER);
      this.#recent.set(src, window);
    }
    window.set(id, dst, hash, code);
  }

  #uid(name: string): number {
    let uid = this.#uids.get(name);
    if (uid === undefined) {
      uid = this.#uids.size + 1;
      this.#uids.set(name, uid);
    }
    return uid;
  }

  /** Counts a login attempt against its address's bucket; over it: "423" and closed. */
  #loginAllowed(s: Session, id: number, now: number): boolean {
    if (this.#logins.take(ipOf(s.peer), now)) return true;
    this.#reject(s, Code.TOO_MANY_LOGINS, id, "too many logins from this address", now);
    return false;
  }

  /** Takes a token of the sender's message rate; over it, the message is answered "429". */
  #withinRate(s: Session, frame: InboundFrame, now: number): boolean {
    const limits = this.#limits;
    if (this.#rates.take(s.name, now)) return true;
    this.#answerOn(s, frame.dst, frame.id, Code.RATE_LIMITED);
    if (now - s.limitedLogAt >= 1000) {
      s.limitedLogAt = now;
      this.#log("warn", "rate-limited", { conn: s.conn, user: s.name, rate: limits.msgRate });
    }
    return false;
  }

  /** Takes a token of the connection's frame rate; over it: "429" and closed. */
  #withinFrameRate(s: Session, frame: InboundFrame, now: number): boolean {
    s.rate ??= new TokenBucket(frameBurst(this.#limits), this.#limits.frameRate, now);
    if (s.rate.take(now)) return true;
    this.#reject(s, Code.RATE_LIMITED, frame.id, "too many frames on this connection", now);
    return false;
  }

  #ping(s: Session, now: number): void {
    s.pingedAt = now;
    this.#pingId = (this.#pingId + 1) >>> 0;
    this.#outbox.send(
      s.conn,
      this.#encode(
        { type: FrameType.PING, id: this.#pingId, src: "", dst: s.name, payload: EMPTY },
        s.order,
      ),
    );
  }

  /** The file transfers, acting through this core (core/files.ts). */
  #makeFiles(options: ServerCoreOptions): FileTransfers {
    return new FileTransfers({
      store: this.#store,
      files: options.files,
      send: (conn, bytes) => this.#outbox.send(conn, bytes),
      session: (name) => this.#byName.get(name),
      knownUser: (name) => this.#users.has(name) || this.#invited(name),
      roomMembers: (room) => this.#rooms.members(room),
      write: (fn) => this.#write(fn),
      defer: (ok, fail) => this.#defer(ok, fail),
      answer: (s, src, id, code) => this.#answerOn(s as Session, src, id, code),
      reject: (s, code, id, reason, now) => this.#reject(s as Session, code, id, reason, now),
      owe: (owner, from, id, now) => this.#owe(owner, from, id, now),
      log: (level, event, fields) => this.#log(level, event, fields),
    }, {
      ...(options.maxFile === undefined ? {} : { maxFile: options.maxFile }),
      ...(options.fileQuota === undefined ? {} : { fileQuota: options.fileQuota }),
    });
  }

  /** `#write`, reporting a store failure (a locked or full database) as false instead. */
  #tryWrite(fn: () => void): boolean {
    try {
      this.#write(fn);
      return true;
    } catch (error) {
      this.#log("error", "store-failed", { error: String(error) });
      return false;
    }
  }

  #write<T>(fn: () => T): T {
    if (!this.#dirty) {
      this.#store.begin();
      this.#dirty = true;
    }
    return fn();
  }

  #defer(ok: () => void, fail: () => void): void {
    this.#deferred.push({ ok, fail });
  }
}
