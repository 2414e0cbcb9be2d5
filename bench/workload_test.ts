import assert from "node:assert/strict";
import {
  DRAIN_CAP,
  OFFLINE_RECEIVERS,
  STARTUP_MESSAGES,
  STARTUP_RUNS,
  workloadLabel,
} from "./workload.ts";

Deno.test("workloadLabel() names each kind of workload as the table shows it", () => {
  assert.equal(workloadLabel({ kind: "live", pairs: 10, window: 16 }), "10x16");
  assert.equal(
    workloadLabel({
      kind: "offline",
      senders: 10,
      window: 1,
      receivers: OFFLINE_RECEIVERS,
      drainCap: DRAIN_CAP,
    }),
    "offline 10x1",
  );
  assert.equal(workloadLabel({ kind: "idle", connections: 2000 }), "idle 2000");
  assert.equal(
    workloadLabel({ kind: "startup", messages: STARTUP_MESSAGES, runs: STARTUP_RUNS }),
    "startup 100000",
  );
});
