import assert from "node:assert/strict";
import { FrameDecoder } from "./decoder.ts";
import { encodeFrame, HEADER_SIZE, MAX_FRAME_SIZE } from "./frame.ts";
import { FrameError } from "./frame_error.ts";

/** A small deterministic PRNG (mulberry32), so a failure can be replayed from its seed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A stream of frames, some valid, some with bytes flipped, some plain noise. */
function stream(next: () => number): Uint8Array {
  const parts: Uint8Array[] = [];
  const count = 1 + Math.floor(next() * 6);
  for (let i = 0; i < count; i++) {
    const kind = next();
    if (kind < 0.2) {
      parts.push(
        Uint8Array.from({ length: Math.floor(next() * 64) }, () => Math.floor(next() * 256)),
      );
      continue;
    }
    const payload = Uint8Array.from(
      { length: Math.floor(next() * 120) },
      () => 97 + Math.floor(next() * 26),
    );
    const frame = encodeFrame(
      {
        type: Math.floor(next() * 7),
        id: Math.floor(next() * 2 ** 32),
        src: "alice",
        dst: "bob",
        payload,
      },
      next() < 0.5 ? "be" : "le",
    );
    if (kind < 0.6) {
      const flips = 1 + Math.floor(next() * 3);
      for (let f = 0; f < flips; f++) {
        frame[Math.floor(next() * frame.length)] = Math.floor(next() * 256);
      }
    }
    parts.push(frame);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

Deno.test("FrameDecoder.push() on random and mutated input yields valid frames or throws FrameError, nothing else", () => {
  const next = random(20261122);
  let frames = 0;
  let errors = 0;
  for (let run = 0; run < 3000; run++) {
    const bytes = stream(next);
    const decoder = new FrameDecoder({ views: next() < 0.5 });
    try {
      let offset = 0;
      while (offset < bytes.length) {
        const size = 1 + Math.floor(next() * 80);
        decoder.push(bytes.subarray(offset, offset + size), (frame) => {
          frames++;
          assert.ok(frame.size >= HEADER_SIZE && frame.size <= MAX_FRAME_SIZE);
          assert.equal(frame.payload.length, frame.size - HEADER_SIZE);
          assert.ok(frame.type >= 0 && frame.type <= 15, `type ${frame.type}`);
        });
        assert.ok(decoder.buffered < MAX_FRAME_SIZE, `holds ${decoder.buffered} bytes`);
        offset += size;
      }
    } catch (error) {
      if (!(error instanceof FrameError)) throw new Error(`run ${run}: ${error}`, { cause: error });
      assert.ok(error.code === "400" || error.code === "413");
      errors++;
    }
  }
  // Both outcomes happened: the input exercised the decoder's paths, not one of them.
  assert.ok(frames > 1000, `frames ${frames}`);
  assert.ok(errors > 500, `errors ${errors}`);
});
