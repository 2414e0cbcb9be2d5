import { Code, codePayload, encodeFrame, FrameType, HEADER_SIZE } from "../protocol/mod.ts";
import { Connection } from "./connection.ts";
import type { Meter } from "./meter.ts";
import { Fate, fateKey, type OfflineState } from "./offline_state.ts";
import { benchPayload, PAYLOAD_SIZE } from "./payload.ts";

/** How a `Receiver` receives. */
export interface ReceiverOptions {
  /** Offline workload: this is the user who drains; its stored messages are checked here. */
  offline?: OfflineState;
  /** Bytes of the read buffer. Default 64 KiB. */
  readSize?: number;
}

/**
 * Acknowledges every message with "200". With an `OfflineState`, it is the user who drains:
 * it checks every stored message (type 2) against what was answered "300".
 */
export class Receiver extends Connection {
  #ack: Uint8Array;
  #offline: OfflineState | undefined;
  #payload: Uint8Array;

  constructor(name: string, meter: Meter, options: ReceiverOptions = {}) {
    super(name, meter, options.readSize ?? 64 * 1024);
    this.#ack = encodeFrame({
      type: FrameType.ACK,
      id: 0,
      src: name,
      dst: "",
      payload: codePayload(Code.DELIVERED),
    });
    this.#offline = options.offline;
    this.#payload = benchPayload();
  }

  protected onFrame(
    bytes: Uint8Array,
    off: number,
    len: number,
    type: number,
    id: number,
    now: number,
  ): void {
    if (type === FrameType.MSG) {
      if (len !== HEADER_SIZE + PAYLOAD_SIZE) this.meter.error("message of a wrong length");
    } else if (type === FrameType.OFFLINE) {
      if (this.#offline === undefined) this.meter.error("unexpected stored message");
      else this.#drained(bytes, off, len, id, now);
    } else {
      return this.meter.error(`unexpected type ${type} at receiver`);
    }
    const at = this.put(this.#ack);
    this.setId(at, id);
    this.copyName(bytes, off + 8, at + 16);
  }

  #drained(bytes: Uint8Array, off: number, len: number, id: number, now: number): void {
    const state = this.#offline!;
    let intact = len === HEADER_SIZE + PAYLOAD_SIZE;
    for (let i = 0; intact && i < PAYLOAD_SIZE; i++) {
      intact = bytes[off + HEADER_SIZE + i] === this.#payload[i];
    }
    if (!intact) this.meter.error("stored message altered");
    // The sender's index from its name: PREFIX "os" DIGITS.
    let index = 0;
    let digits = 0;
    for (let i = off + 8 + state.prefix.length + 2; i < off + 16 && bytes[i] !== 0; i++) {
      index = index * 10 + bytes[i]! - 0x30;
      digits++;
    }
    const key = fateKey(index, id);
    const fate = digits > 0 ? state.fate.get(key) : undefined;
    if (fate === Fate.STORED) {
      state.drained++;
      if (state.drained === state.expected) state.drainedAt = now;
    } else if (fate === Fate.SENT) {
      state.extra++;
    } else {
      this.meter.error(
        fate === Fate.DRAINED ? "stored message handed over twice" : "unknown stored message",
      );
      return;
    }
    state.fate.set(key, Fate.DRAINED);
  }
}
