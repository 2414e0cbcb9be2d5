import { Code, encodeFrame, FrameType, HEADER_SIZE, readCode } from "../protocol/mod.ts";
import { Connection } from "./connection.ts";
import type { Meter } from "./meter.ts";
import { Fate, fateKey, type OfflineState } from "./offline_state.ts";
import { benchPayload } from "./payload.ts";

/** How a `Sender` sends. */
export interface SenderOptions {
  /** Recipients, used round robin (offline: receiver 0 only up to the state's cap). */
  targets: string[];
  /** Messages in flight at most. */
  window: number;
  /** The answer that completes a message: "200" live, "300" offline. */
  expect: string;
  /** Shared by the senders of a workload: while `sending`, windows are kept full. */
  control: { sending: boolean };
  /** Offline workload: where messages to receiver 0 are tracked. */
  offline?: OfflineState;
  /** This sender's index (offline: its name is PREFIX + "os" + index). */
  index?: number;
}

/** Keeps `window` messages in flight and times each one's answer. */
export class Sender extends Connection {
  /** Messages sent and not answered yet. */
  inflight = 0;
  #templates: Uint8Array[];
  #window: number;
  #expect0: number;
  #expect1: number;
  #expect2: number;
  #control: { sending: boolean };
  #offline: OfflineState | undefined;
  #index: number;
  #mask: number;
  #slotId: Uint32Array;
  #slotAt: Float64Array;
  #slotTarget: Int32Array;
  #nextId = 1;
  #turn: number;

  constructor(name: string, meter: Meter, options: SenderOptions) {
    super(name, meter, 64 * 1024);
    const payload = benchPayload();
    this.#templates = options.targets.map((dst) =>
      encodeFrame({ type: FrameType.MSG, id: 0, src: name, dst, payload })
    );
    this.#window = options.window;
    this.#expect0 = options.expect.charCodeAt(0);
    this.#expect1 = options.expect.charCodeAt(1);
    this.#expect2 = options.expect.charCodeAt(2);
    this.#control = options.control;
    this.#offline = options.offline;
    this.#index = options.index ?? 0;
    this.#turn = this.#index;
    let size = 64;
    while (size < options.window * 8) size *= 2;
    this.#mask = size - 1;
    this.#slotId = new Uint32Array(size);
    this.#slotAt = new Float64Array(size);
    this.#slotTarget = new Int32Array(size).fill(-1);
  }

  /** Fills the window (when sending is on) and writes. */
  kick(now: number): void {
    this.#fill(now);
    this.flush();
  }

  protected override afterRead(now: number): void {
    this.#fill(now);
  }

  #fill(now: number): void {
    const targets = this.#templates.length;
    while (this.#control.sending && this.inflight < this.#window) {
      let id = this.#nextId++;
      let tries = 0;
      while (this.#slotTarget[id & this.#mask] !== -1) {
        if (++tries > this.#mask) return;
        id = this.#nextId++;
      }
      let target = this.#turn % targets;
      const offline = this.#offline;
      if (offline !== undefined && target === 0 && offline.issued0 >= offline.cap) {
        if (targets === 1) return;
        target = 1;
        this.#turn++;
      }
      this.#turn++;
      if (offline !== undefined && target === 0) {
        offline.issued0++;
        offline.fate.set(fateKey(this.#index, id), Fate.SENT);
      }
      const slot = id & this.#mask;
      this.#slotId[slot] = id;
      this.#slotAt[slot] = now;
      this.#slotTarget[slot] = target;
      this.inflight++;
      this.setId(this.put(this.#templates[target]!), id);
    }
  }

  protected onFrame(
    bytes: Uint8Array,
    off: number,
    len: number,
    type: number,
    id: number,
    now: number,
  ): void {
    if (type !== FrameType.ACK) return this.meter.error(`unexpected type ${type} at sender`);
    const slot = id & this.#mask;
    const target = this.#slotTarget[slot]!;
    if (target === -1 || this.#slotId[slot] !== id) return this.#stray(bytes, off, len, id);
    this.#slotTarget[slot] = -1;
    this.inflight--;
    const c = off + HEADER_SIZE;
    if (
      len >= HEADER_SIZE + 3 && bytes[c] === this.#expect0 && bytes[c + 1] === this.#expect1 &&
      bytes[c + 2] === this.#expect2 && (len === HEADER_SIZE + 3 || bytes[c + 3] === 0)
    ) {
      this.meter.complete(now, this.#slotAt[slot]!);
      const offline = this.#offline;
      if (offline !== undefined && target === 0) {
        offline.stored0++;
        offline.fate.set(fateKey(this.#index, id), Fate.STORED);
      }
      return;
    }
    this.meter.error(`code ${readCode(bytes.subarray(c, off + len))}`);
  }

  /** An answer for no message in flight: a late receipt after a drain, or an error. */
  #stray(bytes: Uint8Array, off: number, len: number, id: number): void {
    const offline = this.#offline;
    const code = readCode(bytes.subarray(off + HEADER_SIZE, off + len));
    if (
      offline !== undefined && code === Code.DELIVERED &&
      offline.fate.get(fateKey(this.#index, id)) === Fate.DRAINED
    ) {
      offline.receipts++;
      return;
    }
    this.meter.error(`answer ${code} for no message in flight`);
  }
}
