// deno-lint-ignore-file no-console -- the tests record what runUser() prints
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

/** Runs `fn` in a fresh directory with its stderr lines (console.error) recorded. */
async function inTempDir(
  fn: (dir: string, stderr: string[]) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tinychat-user-test-" });
  const error = console.error;
  const stderr: string[] = [];
  console.error = (...args: unknown[]) => void stderr.push(args.join(" "));
  try {
    await fn(dir, stderr);
  } finally {
    console.error = error;
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs `fn` with the environment variables `vars` set (undefined: unset), then restores them. */
async function withEnv(
  vars: Record<string, string | undefined>,
  fn: () => Promise<void>,
): Promise<void> {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, Deno.env.get(k)]));
  const set = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      v === undefined ? Deno.env.delete(k) : Deno.env.set(k, v);
    }
  };
  set(vars);
  try {
    await fn();
  } finally {
    set(before);
  }
}

Deno.test("runUser() takes the new password from TINYCHAT_NEW_PASSWORD, never TINYCHAT_PASSWORD", async () => {
  await inTempDir(async (dir, stderr) => {
    const command = { help: false, dataDir: dir, passwordFile: undefined, name: "alice" };
    await withEnv({ TINYCHAT_PASSWORD: "current", TINYCHAT_NEW_PASSWORD: "new one" }, async () => {
      assert.equal(await runUser({ ...command, action: "add" }), 0);
    });
    assert.deepEqual(stderr, ["user: the new password of alice is from TINYCHAT_NEW_PASSWORD"]);
    const store = new SqliteStore(`${dir}/tinychat.db`);
    try {
      assert.equal(await verifyPassword("new one", store.account("alice")!.hash), true);
    } finally {
      store.close();
    }
  });
});

Deno.test("runUser() says the new password came from --password-file", async () => {
  await inTempDir(async (dir, stderr) => {
    await Deno.writeTextFile(`${dir}/pw`, "from file\n");
    const command = { help: false, dataDir: dir, passwordFile: `${dir}/pw`, name: "bob" };
    await withEnv({ TINYCHAT_NEW_PASSWORD: "from env" }, async () => {
      assert.equal(await runUser({ ...command, action: "add" }), 0);
    });
    assert.deepEqual(stderr, [`user: the new password of bob is from --password-file ${dir}/pw`]);
  });
});

Deno.test("runUser() add fails and changes nothing when the name got an account while it hashed", async () => {
  await inTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/pw`, "mine\n");
    const command = { help: false, dataDir: dir, passwordFile: `${dir}/pw`, name: "alice" };
    const path = `${dir}/tinychat.db`;
    // A login claims alice (--auth open) between the check and the insert.
    const hash = (password: string) => {
      const store = new SqliteStore(path);
      store.begin();
      store.setAccount("alice", "scrypt$claimed", 1);
      store.commit();
      store.close();
      return Promise.resolve(`scrypt$${password}`);
    };
    await assert.rejects(
      runUser({ ...command, action: "add" }, { hash }),
      /alice got an account meanwhile/,
    );
    const store = new SqliteStore(path);
    try {
      assert.equal(store.account("alice")?.hash, "scrypt$claimed");
    } finally {
      store.close();
    }
  });
});

Deno.test("runUser() passwd fails when the account was removed while it hashed", async () => {
  await inTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/pw`, "pw\n");
    const command = { help: false, dataDir: dir, passwordFile: `${dir}/pw`, name: "alice" };
    const path = `${dir}/tinychat.db`;
    assert.equal(await runUser({ ...command, action: "add" }), 0);
    const hash = (password: string) => {
      const store = new SqliteStore(path);
      store.begin();
      store.deleteAccount("alice");
      store.commit();
      store.close();
      return Promise.resolve(`scrypt$${password}`);
    };
    await assert.rejects(runUser({ ...command, action: "passwd" }, { hash }), /removed meanwhile/);
    const store = new SqliteStore(path);
    try {
      assert.equal(store.account("alice"), undefined);
    } finally {
      store.close();
    }
  });
});
