import assert from "node:assert/strict";
import { FIRST_PAUSE_MS, MAX_PAUSE_MS, SLOW_RUN, SLOW_SYNC_MS, SyncPace } from "./sync_pace.ts";

const SLOW = SLOW_SYNC_MS + 0.1;

Deno.test("SyncPace: quick syncs stay on the thread, and so do lone slow ones among them", () => {
  const pace = new SyncPace();
  for (let now = 0; now < 100; now++) {
    assert.equal(pace.onThread(now), true, `at ${now}`);
    pace.took(now % SLOW_RUN === 0 ? SLOW : SLOW_SYNC_MS, now);
  }
});

Deno.test("SyncPace: slow syncs in a row send the next ones off the thread for a second", () => {
  const pace = new SyncPace();
  for (let i = 1; i < SLOW_RUN; i++) pace.took(SLOW, 100);
  assert.equal(pace.onThread(100), true);
  pace.took(SLOW, 100);
  assert.equal(pace.onThread(100), false);
  assert.equal(pace.onThread(100 + FIRST_PAUSE_MS - 1), false);
  assert.equal(pace.onThread(100 + FIRST_PAUSE_MS), true);
});

Deno.test("SyncPace: each slow sync after a pause doubles it, up to a minute; a quick one starts over", () => {
  const pace = new SyncPace();
  let now = 0;
  for (let i = 1; i < SLOW_RUN; i++) pace.took(50, now);
  const pauses: number[] = [];
  for (let i = 0; i < 9; i++) {
    pace.took(50, now);
    let back = now + 1;
    while (!pace.onThread(back)) back++;
    pauses.push(back - now);
    now = back;
  }
  assert.deepEqual(pauses, [1000, 2000, 4000, 8000, 16000, 32000, MAX_PAUSE_MS, 60000, 60000]);
  pace.took(0.05, now);
  for (let i = 1; i < SLOW_RUN; i++) pace.took(50, now);
  assert.equal(pace.onThread(now), true);
  pace.took(50, now);
  assert.equal(pace.onThread(now + FIRST_PAUSE_MS - 1), false);
  assert.equal(pace.onThread(now + FIRST_PAUSE_MS), true);
});
