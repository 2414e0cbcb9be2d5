import assert from "node:assert/strict";
import { join } from "node:path";
import { ClientState, type LogEntry } from "./state.ts";

async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "tinychat-state-" });
  try {
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("ClientState.open() starts a new user at a random id in DIR/HOST_PORT/USER", async () => {
  await withRoot(async (root) => {
    await withRoot(async (elsewhere) => {
      const state = await ClientState.open(root, "127.0.0.1", 9000, "alice");
      const fresh = await ClientState.open(elsewhere, "127.0.0.1", 9000, "alice");
      try {
        assert.equal(state.dir, join(root, "127.0.0.1_9000", "alice"));
        assert.ok(state.firstId >= 0 && state.firstId < 2 ** 31);
        // Two runs without shared state (two machines, a lost directory) do not repeat ids.
        assert.notEqual(state.firstId, fresh.firstId);
      } finally {
        await state.close(state.firstId);
        await fresh.close(fresh.firstId);
      }
    });
  });
});

Deno.test("ClientState.close() records the exact next id for the next run", async () => {
  await withRoot(async (root) => {
    const first = await ClientState.open(root, "127.0.0.1", 9000, "alice");
    await first.used(17);
    await first.close(17);
    assert.equal(await Deno.readTextFile(join(first.dir, "next_id")), "17\n");
    const second = await ClientState.open(root, "127.0.0.1", 9000, "alice");
    assert.equal(second.firstId, 17);
    await second.close(42);
    const third = await ClientState.open(root, "127.0.0.1", 9000, "alice");
    assert.equal(third.firstId, 42);
    await third.close(42);
  });
});

Deno.test("ClientState keeps ids unique across a reopen after a run that never closed", async () => {
  await withRoot(async (root) => {
    // A run that "crashes": it uses 1500 ids (crossing a reserved block) and never calls close().
    const crashed = await ClientState.open(root, "127.0.0.1", 9000, "alice");
    const used = new Set<number>();
    let next = crashed.firstId;
    for (let i = 0; i < 1500; i++) {
      used.add(next++);
      await crashed.used(next);
    }
    const after = await ClientState.open(root, "127.0.0.1", 9000, "alice");
    try {
      assert.ok(after.firstId >= next, `firstId ${after.firstId} reuses an id below ${next}`);
      assert.ok(!used.has(after.firstId));
    } finally {
      await after.close(after.firstId);
      // Only now release the crashed run's file handle; its state no longer matters.
      await crashed.close(after.firstId);
    }
  });
});

Deno.test("ClientState keeps ids unique across runs that alternate clean and unclean ends", async () => {
  await withRoot(async (root) => {
    const seen = new Set<number>();
    const leaked: ClientState[] = [];
    try {
      for (let run = 0; run < 6; run++) {
        const state = await ClientState.open(root, "127.0.0.1", 9000, "alice");
        let next = state.firstId;
        for (let i = 0; i < 3; i++) {
          assert.ok(!seen.has(next), `run ${run} reuses id ${next}`);
          seen.add(next++);
          await state.used(next);
        }
        if (run % 2 === 0) await state.close(next);
        else leaked.push(state);
      }
    } finally {
      for (const state of leaked) await state.close(0);
    }
  });
});

Deno.test("ClientState keeps separate ids per user and per server", async () => {
  await withRoot(async (root) => {
    const alice = await ClientState.open(root, "127.0.0.1", 9000, "alice");
    await alice.close(5);
    const bob = await ClientState.open(root, "127.0.0.1", 9000, "bob");
    const other = await ClientState.open(root, "127.0.0.1", 9001, "alice");
    const again = await ClientState.open(root, "127.0.0.1", 9000, "alice");
    try {
      assert.equal(again.firstId, 5);
      assert.notEqual(bob.firstId, 5);
      assert.notEqual(other.firstId, 5);
      assert.notEqual(bob.dir, other.dir);
    } finally {
      await bob.close(bob.firstId);
      await other.close(other.firstId);
      await again.close(5);
    }
  });
});

Deno.test("ClientState.history() filters by peer and keeps the last N in order", async () => {
  await withRoot(async (root) => {
    const state = await ClientState.open(root, "127.0.0.1", 9000, "alice");
    try {
      const entries: LogEntry[] = [
        { t: 1, dir: "out", peer: "bob", id: 0, text: "b1", fate: "delivered" },
        { t: 2, dir: "in", peer: "carol", id: 7, text: "c1" },
        { t: 3, dir: "in", peer: "bob", id: 9, text: "b2", stored: true },
        { t: 4, dir: "receipt", peer: "bob", id: 0, text: "" },
        { t: 5, dir: "out", peer: "carol", id: 1, text: "c2", fate: "stored" },
      ];
      for (const entry of entries) await state.append(entry);
      assert.deepEqual(await state.history("bob", 10), [entries[0], entries[2], entries[3]]);
      assert.deepEqual(await state.history("carol", 1), [entries[4]]);
      assert.deepEqual(await state.history(undefined, 2), [entries[3], entries[4]]);
      assert.deepEqual(await state.history(undefined, 100), entries);
      assert.deepEqual(await state.history("dave", 10), []);
      assert.deepEqual((await state.peers()).sort(), ["bob", "carol"]);
    } finally {
      await state.close(0);
    }
  });
});

Deno.test("ClientState.history() skips a line cut short by a crash", async () => {
  await withRoot(async (root) => {
    const state = await ClientState.open(root, "127.0.0.1", 9000, "alice");
    try {
      await state.append({ t: 1, dir: "in", peer: "bob", id: 1, text: "whole" });
      await Deno.writeTextFile(join(state.dir, "log.jsonl"), '{"t":2,"dir":"in","pe', {
        append: true,
      });
      const history = await state.history(undefined, 10);
      assert.deepEqual(history.map((e) => e.text), ["whole"]);
    } finally {
      await state.close(0);
    }
  });
});

Deno.test("ClientState keeps the log across runs", async () => {
  await withRoot(async (root) => {
    const first = await ClientState.open(root, "127.0.0.1", 9000, "alice");
    await first.append({ t: 1, dir: "in", peer: "bob", id: 1, text: "one" });
    await first.close(1);
    const second = await ClientState.open(root, "127.0.0.1", 9000, "alice");
    try {
      await second.append({ t: 2, dir: "in", peer: "bob", id: 2, text: "two" });
      assert.deepEqual((await second.history("bob", 10)).map((e) => e.text), ["one", "two"]);
    } finally {
      await second.close(1);
    }
  });
});

Deno.test("ClientState.close() leaves a later reservation of another run with the same state", async () => {
  await withRoot(async (root) => {
    const first = await ClientState.open(root, "127.0.0.1", 9000, "alice");
    const second = await ClientState.open(root, "127.0.0.1", 9000, "alice");
    assert.ok(second.firstId > first.firstId, "the second run starts past the first one's block");
    await second.close(second.firstId + 1);
    // The first run ends last: it must not take next_id back below what the second one used.
    await first.close(first.firstId + 3);
    const third = await ClientState.open(root, "127.0.0.1", 9000, "alice");
    await third.close(third.firstId);
    assert.equal(third.firstId, second.firstId + 1);
  });
});
