import assert from "node:assert/strict";
import { verifyPassword } from "../auth/password.ts";
import { SqliteStore } from "../store/sqlite_store.ts";
import { parseUserArgs, runUser } from "./user.ts";
import { UsageError } from "./usage_error.ts";

Deno.test("parseUserArgs() reads an action, a name and the options", () => {
  assert.deepEqual(parseUserArgs(["add", "alice", "--data", "/d", "--password-file", "/p"]), {
    help: false,
    action: "add",
    name: "alice",
    dataDir: "/d",
    passwordFile: "/p",
  });
  assert.deepEqual(parseUserArgs(["list"]), {
    help: false,
    action: "list",
    name: "",
    dataDir: "./tinychat-data",
    passwordFile: undefined,
  });
  assert.equal(parseUserArgs(["--help"]).help, true);
});

Deno.test("parseUserArgs() refuses a missing or unknown action, a missing or bad name", () => {
  for (
    const args of [[], ["delete", "a"], ["add"], ["remove"], ["add", "a b"], ["list", "x"], [
      "add",
      "a",
      "b",
    ]]
  ) {
    assert.throws(() => parseUserArgs(args), UsageError, JSON.stringify(args));
  }
});

Deno.test("runUser() add, passwd, list and remove work on the data directory's store", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinychat-user-test-" });
  try {
    const file = `${dir}/pw`;
    const data = `${dir}/data`;
    await Deno.writeTextFile(file, "first\n");
    const command = { help: false, dataDir: data, passwordFile: file, name: "alice" };
    assert.equal(await runUser({ ...command, action: "add" }), 0);
    await assert.rejects(runUser({ ...command, action: "add" }), /already has an account/);
    await Deno.writeTextFile(file, "second\n");
    assert.equal(await runUser({ ...command, action: "passwd" }), 0);
    const store = new SqliteStore(`${data}/tinychat.db`);
    try {
      assert.equal(await verifyPassword("second", store.account("alice")!.hash), true);
      assert.deepEqual(store.users(), ["alice"]);
    } finally {
      store.close();
    }
    assert.equal(await runUser({ ...command, action: "remove" }), 0);
    await assert.rejects(runUser({ ...command, action: "remove" }), /alice has no account/);
    await assert.rejects(runUser({ ...command, action: "passwd" }), /alice has no account/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
