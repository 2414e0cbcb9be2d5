import assert from "node:assert/strict";
import { type ByteOrder, encodeFrame, type Frame } from "../protocol/mod.ts";
import { assertPairChats } from "./_client.ts";
import { serverTest, start } from "./_server.ts";

const SEED = 0x7c1a7c1a;
const CONNECTIONS = 300;
const PARALLEL = 12;
const encoder = new TextEncoder();

/** mulberry32: a small seeded PRNG, so that a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMES = ["fa", "fb", "fc", "fd", "fe", "ff", "fg", "fh"];

/** The bytes one fuzz connection sends: random, or valid frames with some bytes flipped. */
function fuzzInput(random: () => number): Uint8Array {
  const int = (n: number) => Math.floor(random() * n);
  const kind = int(4);
  if (kind === 0) {
    const bytes = new Uint8Array(1 + int(1500));
    for (let i = 0; i < bytes.length; i++) bytes[i] = int(256);
    return bytes;
  }
  const order: ByteOrder = int(3) === 0 ? "le" : "be";
  const me = NAMES[int(NAMES.length)]!;
  const frames: Frame[] = [];
  // kind 1: a HELLO first; kind 2: seed style, the first frame binds; kind 3: anything goes.
  if (kind === 1) {
    frames.push({ type: 3, id: int(10), src: me, dst: "", payload: new Uint8Array() });
  }
  for (let n = 1 + int(6); n > 0; n--) {
    const payload = encoder.encode("x".repeat(int(int(4) === 0 ? 1000 : 40)));
    frames.push({
      type: int(5) === 0 ? int(16) : [0, 0, 1, 4][int(4)]!,
      id: int(20),
      src: int(8) === 0 ? NAMES[int(NAMES.length)]! : me,
      dst: NAMES[int(NAMES.length)]!,
      payload: kind === 3 ? payload.map(() => int(256)) : payload,
    });
  }
  const encoded = frames.map((f) => encodeFrame(f, order));
  // Mutate: flip bytes in the header (len, type, id, names) or the payload of some frames.
  for (const bytes of encoded) {
    if (int(2) === 0) continue;
    for (let flips = 1 + int(3); flips > 0; flips--) {
      const at = int(3) === 0 ? int(bytes.length) : int(24);
      bytes[at] = int(3) === 0 ? bytes[at]! ^ (1 << int(8)) : int(256);
    }
  }
  const total = encoded.reduce((sum, b) => sum + b.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const b of encoded) {
    out.set(b, offset);
    offset += b.length;
  }
  // Sometimes cut it short.
  return int(5) === 0 ? out.subarray(0, int(out.length) + 1) : out;
}

/** Sends `input`, half-closes, and reads until the server closes (or 3 s pass). */
async function fuzzConnection(port: number, input: Uint8Array): Promise<void> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    conn.close();
  };
  const timer = setTimeout(close, 3000);
  try {
    let offset = 0;
    while (offset < input.length) offset += await conn.write(input.subarray(offset));
    await conn.closeWrite();
    const buffer = new Uint8Array(4096);
    while (await conn.read(buffer) !== null) { /* drain */ }
  } catch {
    // The server may close (or reset) first: that is allowed.
  } finally {
    clearTimeout(timer);
    close();
  }
}

serverTest(
  "serve: survives 300 fuzzed connections (random and mutated frames) and still serves a pair",
  async () => {
    await using server = await start({ args: ["--ack-timeout", "1s"] });
    const random = prng(SEED);
    const inputs = Array.from({ length: CONNECTIONS }, () => fuzzInput(random));
    let next = 0;
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (next < inputs.length) await fuzzConnection(server.port, inputs[next++]!);
      }),
    );
    assert.equal(server.exited, false, "the server died under fuzzing");
    await assertPairChats(server.port, "normal1", "normal2");
    assert.equal(server.exited, false);
    const lines = server.stderr.split("\n");
    assert.ok(
      lines.filter((l) => / rejected /.test(l)).length >= 50,
      "fuzzing rejected too little",
    );
    const bad = lines.filter((l) => /^\S+ error |Uncaught|panicked/.test(l));
    assert.deepEqual(bad, [], "the server logged errors");
  },
);
