// deno-lint-ignore-file no-console -- a yardstick prints its figures
/**
 * A yardstick, not part of tinychat: the server's hot path without sockets, for work on its cost
 * per message (docs/PERFORMANCE.md). P senders each send W messages of 100 bytes in one read, their
 * receivers acknowledge them in the next, all through the frame decoder into the core, with the
 * server's store (SQLite, synced in the background) and one commit a round, as at 10 pairs × 16.
 * Prints the CPU a message costs there, the median and the least over the reps; the frames are
 * encoded once, before anything is timed. Run it pinned to one core, and compare two versions by
 * alternating them: this machine's noise is ±20% from one run to the next.
 *
 *   deno run -A scripts/perf/core_bench.ts [--pairs 10] [--window 16] [--rounds 1000] [--reps 12]
 *     [--no-history]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ServerCore } from "../../core/server_core.ts";
import {
  concatBytes,
  encodeFrame,
  type Frame,
  FrameDecoder,
  FrameType,
} from "../../protocol/mod.ts";
import { SqliteStore } from "../../store/sqlite_store.ts";

const PAYLOAD = new Uint8Array(100).fill(0x78);
const ACK = new TextEncoder().encode("200");

function usage(message: string): never {
  console.error(`core_bench: ${message}`);
  Deno.exit(2);
}

let parsed;
try {
  parsed = parseArgs({
    options: {
      pairs: { type: "string", default: "10" },
      window: { type: "string", default: "16" },
      rounds: { type: "string", default: "1000" },
      reps: { type: "string", default: "12" },
      "no-history": { type: "boolean", default: false },
    },
  });
} catch (error) {
  usage(error instanceof Error ? error.message : String(error));
}
const { values } = parsed;
const pairs = Number(values.pairs);
const window = Number(values.window);
const rounds = Number(values.rounds);
const reps = Number(values.reps);
if (![pairs, window, rounds, reps].every((n) => Number.isInteger(n) && n > 0) || reps < 3) {
  usage("--pairs, --window and --rounds must be integers above 0, --reps at least 3");
}

const dir = Deno.makeTempDirSync({ prefix: "tinychat-core-bench-" });
const store = new SqliteStore(`${dir}/tinychat.db`, { syncInBackground: true });
let sentBytes = 0;
const core = new ServerCore({
  store,
  outbox: { send: (_conn, bytes) => void (sentBytes += bytes.length), close: () => {} },
  log: () => {},
  directHistory: !values["no-history"],
});
const name = (conn: number) => conn < pairs ? `s${conn}` : `r${conn - pairs}`;
const decoders: FrameDecoder[] = [];
let now = Date.now();
for (let conn = 0; conn < 2 * pairs; conn++) {
  const decoder = new FrameDecoder({ views: true });
  decoders.push(decoder);
  core.open(conn, now, `127.0.0.1:${40000 + conn}`);
  const hello = {
    type: FrameType.HELLO,
    id: 0,
    src: name(conn),
    dst: "",
    payload: ACK.subarray(0, 0),
  };
  decoder.push(encode([hello]), (frame) => core.frame(conn, frame, "be", now));
}
core.commit(now);

/** Frames one after another in a buffer of their own, as one read brings them. */
function encode(frames: Frame[]): Uint8Array {
  return concatBytes(frames.map((frame) => encodeFrame(frame)));
}

// The reads of `rounds` rounds, each sender's window and then each receiver's acks, made once;
// every rep moves their ids on in place, so that timing makes no garbage of its own.
const chunks: Uint8Array[] = [];
for (let round = 0; round < rounds; round++) {
  for (const type of [FrameType.MSG, FrameType.ACK]) {
    for (let p = 0; p < pairs; p++) {
      chunks.push(encode(Array.from({ length: window }, (_, k) => ({
        type,
        id: round * window + k + 1,
        src: type === FrameType.MSG ? name(p) : name(pairs + p),
        dst: type === FrameType.MSG ? name(pairs + p) : name(p),
        payload: type === FrameType.MSG ? PAYLOAD : ACK,
      }))));
    }
  }
}

function moveIds(by: number): void {
  for (const chunk of chunks) {
    const view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (let at = 0; at < chunk.length; at += view.getUint16(at)) {
      view.setUint32(at + 4, view.getUint32(at + 4) + by);
    }
  }
}

const perMessage: number[] = [];
for (let rep = 0; rep < reps; rep++) {
  if (rep > 0) moveIds(rounds * window);
  const start = performance.now();
  let next = 0;
  for (let round = 0; round < rounds; round++) {
    now++;
    for (let conn = 0; conn < 2 * pairs; conn++) {
      decoders[conn]!.push(chunks[next++]!, (frame) => core.frame(conn, frame, "be", now));
    }
    core.commit(now);
  }
  // The first two reps warm the JIT up.
  if (rep >= 2) perMessage.push((performance.now() - start) * 1000 / (rounds * pairs * window));
  // As the server's group commit does: the block files written are synced, and closed.
  await store.sync();
}
store.close();
Deno.removeSync(dir, { recursive: true });
perMessage.sort((a, b) => a - b);
console.log(
  `${pairs} pairs x ${window}, history ${values["no-history"] ? "off" : "on"}: ` +
    `median ${perMessage[perMessage.length >> 1]!.toFixed(3)} µs a message, ` +
    `least ${perMessage[0]!.toFixed(3)} (${perMessage.length} reps of ${rounds} rounds; ` +
    `${(sentBytes / 1e6).toFixed(0)} MB out)`,
);
