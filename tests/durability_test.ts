import assert from "node:assert/strict";
import { encodeFrame, FrameType, readCode } from "../protocol/mod.ts";
import { isAck, login, text } from "./_client.ts";
import { cliCommand, serverTest, start, tempDir } from "./_server.ts";

const encoder = new TextEncoder();

serverTest(
  "serve: 200 messages answered 300 survive kill -9 and are delivered once each, in order",
  async () => {
    await using dir = await tempDir();
    const count = 200;
    {
      await using server = await start({ dataDir: dir.path });
      {
        await using _bob = await login(server.port, "bob");
      }
      await using alice = await login(server.port, "alice");
      await Promise.all(
        Array.from({ length: count }, (_, id) => alice.msg("bob", id, `durable ${id}`)),
      );
      const answers = await alice.nextMany(count, (f) => f.type === FrameType.ACK, 20_000, "300s");
      server.kill("SIGKILL");
      assert.ok(answers.every((f) => readCode(f.payload) === "300"));
      const status = await server.waitExit();
      assert.equal(status.signal, "SIGKILL");
    }
    await using server = await start({ dataDir: dir.path });
    await using alice = await login(server.port, "alice");
    await using bob = await login(server.port, "bob", { autoAck: true });
    const stored = await bob.nextMany(count, (f) => f.type === FrameType.OFFLINE, 20_000);
    assert.deepEqual(stored.map((f) => f.id), Array.from({ length: count }, (_, id) => id));
    assert.deepEqual(stored.map(text), Array.from({ length: count }, (_, id) => `durable ${id}`));
    await bob.sync();
    assert.equal(bob.received.filter((f) => f.type === FrameType.OFFLINE).length, count);
    // Acknowledged means gone: alice's late receipts go out only once the deletes are on disk,
    // so after another kill -9 the next login gets none of them.
    await alice.nextMany(count, (f) => f.type === FrameType.ACK && f.src === "bob", 20_000);
    server.kill("SIGKILL");
    await server.waitExit();
    await using again = await start({ dataDir: dir.path });
    await using bob2 = await login(again.port, "bob");
    await bob2.sync();
    assert.equal(bob2.received.filter((f) => f.type === FrameType.OFFLINE).length, 0);
  },
);

serverTest(
  "serve: kill -9 while a sender blasts an offline user loses no 300 and duplicates none",
  async () => {
    await using dir = await tempDir();
    const confirmed = new Set<number>();
    {
      await using server = await start({ dataDir: dir.path });
      for (const name of ["bob", "carol"]) {
        await using _c = await login(server.port, name);
      }
      await using alice = await login(server.port, "alice");
      let killed = false;
      const blast = (async () => {
        const batch = 25;
        for (let first = 0; first < 50_000 && !killed; first += batch) {
          const frames = new Uint8Array(batch * 40);
          for (let i = 0; i < batch; i++) {
            const id = first + i;
            const payload = encoder.encode(`blast ${String(id).padStart(10, "0")}`);
            frames.set(
              encodeFrame({ type: FrameType.MSG, id, src: "alice", dst: "bob", payload }),
              i * 40,
            );
          }
          await alice.write(frames).catch(() => killed = true);
        }
      })();
      const answers = await alice.nextMany(300, (f) => f.type === FrameType.ACK, 20_000, "300s");
      server.kill("SIGKILL");
      await server.waitExit();
      killed = true;
      await blast;
      await alice.waitClosed();
      // Every answer that arrived before the kill, including any after the first 300.
      for (const f of [...answers, ...alice.take((f) => f.type === FrameType.ACK)]) {
        assert.equal(readCode(f.payload), "300");
        confirmed.add(f.id);
      }
    }
    await using server = await start({ dataDir: dir.path });
    await using bob = await login(server.port, "bob", { autoAck: true });
    // A live message sent after bob's login comes after every stored one: the end marker.
    await using carol = await login(server.port, "carol");
    await carol.msg("bob", 1, "end");
    await bob.next((f) => f.type === FrameType.MSG && f.src === "carol", 30_000);
    const delivered = bob.received.filter((f) => f.type === FrameType.OFFLINE).map((f) => f.id);
    // Stored in order and committed in whole batches: exactly a prefix 0..k-1, each once.
    assert.deepEqual(delivered, Array.from({ length: delivered.length }, (_, id) => id));
    const seen = new Set(delivered);
    for (const id of confirmed) assert.ok(seen.has(id), `message ${id} got 300, then was lost`);
    assert.ok(delivered.length >= confirmed.size);
    for (const f of bob.received.filter((f) => f.type === FrameType.OFFLINE)) {
      assert.equal(text(f), `blast ${String(f.id).padStart(10, "0")}`);
    }
  },
);

serverTest(
  "serve: a receipt owed to an offline sender survives kill -9 and is handed over once",
  async () => {
    await using dir = await tempDir();
    {
      await using server = await start({ dataDir: dir.path });
      {
        await using _bob = await login(server.port, "bob");
      }
      {
        await using alice = await login(server.port, "alice");
        assert.equal(await alice.request("bob", 12, "ack me while I am away"), "300");
      }
      await using bob = await login(server.port, "bob");
      await bob.ack(await bob.next((f) => f.type === FrameType.OFFLINE));
      await server.waitForLog(/stored-delivered.*dst=bob/);
      // The ack's batch commits at the end of the turn that read it, before the server reads
      // anything else; the second PING is sent only after the first PONG, so its PONG proves it.
      await bob.sync();
      await bob.sync();
      server.kill("SIGKILL");
      await server.waitExit();
    }
    await using server = await start({ dataDir: dir.path });
    {
      await using alice = await login(server.port, "alice");
      const late = await alice.next((f) => f.type === FrameType.ACK && f.id === 12);
      assert.deepEqual([late.src, readCode(late.payload)], ["bob", "200"]);
      await alice.sync();
    }
    await using alice = await login(server.port, "alice");
    await alice.sync();
    assert.equal(alice.received.filter((f) => f.id === 12).length, 0);
    await using bob = await login(server.port, "bob");
    await bob.sync();
    assert.equal(bob.received.filter((f) => f.type === FrameType.OFFLINE).length, 0);
  },
);

serverTest(
  "serve: live messages' history goes to block files beside the log, and survives kill -9",
  async () => {
    await using dir = await tempDir();
    // 12 MB of history: a log that held it, or that no checkpoint sent back to its beginning,
    // would be larger than the bound below.
    const count = 12_000;
    const step = 500;
    const payload = new Uint8Array(1000).fill(0x61);
    // All of it is kept: with the default --history-count (10,000), a sweep that ran after the
    // 10,000th message trimmed the conversation, as it should, and the count below came up short.
    const args = ["--history-count", "0"];
    {
      await using server = await start({ dataDir: dir.path, args });
      await using _bob = await login(server.port, "bob", { autoAck: true });
      await using alice = await login(server.port, "alice");
      for (let first = 0; first < count; first += step) {
        await Promise.all(
          Array.from({ length: step }, (_, i) => alice.msg("bob", first + i, payload)),
        );
        const answers = await alice.nextMany(step, (f) => f.type === FrameType.ACK, 20_000, "200s");
        assert.ok(answers.every((f) => readCode(f.payload) === "200"));
      }
      // A history read writes what is queued (else the sweep does, about a second later).
      const options = encoder.encode("limit=1");
      await alice.send({
        type: FrameType.HISTORY,
        id: 1,
        src: "alice",
        dst: "bob",
        payload: options,
      });
      await alice.next(isAck(1, "200", "bob"));
      const wal = (await Deno.stat(`${dir.path}/tinychat.db-wal`)).size;
      assert.ok(wal < 8 * 1024 * 1024, `the log holds ${wal} bytes`);
      let inFiles = 0;
      for await (const e of Deno.readDir(`${dir.path}/tinychat.db-history`)) {
        inFiles += (await Deno.stat(`${dir.path}/tinychat.db-history/${e.name}`)).size;
      }
      assert.ok(inFiles > count * payload.length, `the block files hold ${inFiles} bytes`);
      assert.doesNotMatch(server.stderr, /checkpoint-failed|history-failed/);
      server.kill("SIGKILL");
      await server.waitExit();
    }
    {
      // Opened again after the kill (its files checked against its rows), and stopped.
      await using server = await start({ dataDir: dir.path, args });
      server.kill("SIGTERM");
      assert.equal((await server.waitExit()).code, 0);
    }
    const log = await cliCommand(["log", "--data", dir.path, "--user", "bob", "--json"]).output();
    assert.equal(log.code, 0, new TextDecoder().decode(log.stderr));
    const lines = new TextDecoder().decode(log.stdout).trimEnd().split("\n");
    assert.equal(lines.length, count);
    const a = "a".repeat(payload.length);
    assert.ok(lines.every((l) => JSON.parse(l).text === a && JSON.parse(l).from === "alice"));
  },
);
