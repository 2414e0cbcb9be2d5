import assert from "node:assert/strict";
import { LoginError } from "../client.ts";
import {
  givenPassword,
  loginWithPassword,
  PASSWORD_ENV,
  passwordFromEnv,
  readPasswordFile,
} from "./password.ts";
import { UsageError } from "./usage_error.ts";

async function withFile(content: string, fn: (path: string) => Promise<void>): Promise<void> {
  const path = await Deno.makeTempFile({ prefix: "tinychat-pw-" });
  try {
    await Deno.writeTextFile(path, content);
    await fn(path);
  } finally {
    await Deno.remove(path);
  }
}

Deno.test("readPasswordFile() reads the first line, without its CR or LF", async () => {
  await withFile("s3cret pass\r\nsecond line\n", async (path) => {
    assert.equal(await readPasswordFile(path), "s3cret pass");
  });
  await withFile("no newline", async (path) => {
    assert.equal(await readPasswordFile(path), "no newline");
  });
});

Deno.test("readPasswordFile() fails with a UsageError for an empty or missing file", async () => {
  await withFile("\nsecond", async (path) => {
    await assert.rejects(
      readPasswordFile(path),
      (e) => e instanceof UsageError && /empty/.test(e.message),
    );
  });
  await assert.rejects(
    readPasswordFile("/nonexistent/tinychat-pw"),
    (e) => e instanceof UsageError && /cannot read \/nonexistent/.test(e.message),
  );
});

Deno.test("passwordFromEnv() reads TINYCHAT_PASSWORD; unset or empty is none", () => {
  const before = Deno.env.get(PASSWORD_ENV);
  try {
    Deno.env.delete(PASSWORD_ENV);
    assert.equal(passwordFromEnv(), undefined);
    Deno.env.set(PASSWORD_ENV, "");
    assert.equal(passwordFromEnv(), undefined);
    Deno.env.set(PASSWORD_ENV, "from env");
    assert.equal(passwordFromEnv(), "from env");
  } finally {
    if (before === undefined) Deno.env.delete(PASSWORD_ENV);
    else Deno.env.set(PASSWORD_ENV, before);
  }
});

Deno.test("loginWithPassword() passes the file's password and does not retry a 401 with it", async () => {
  await withFile("pw\n", async (path) => {
    const tried: (string | undefined)[] = [];
    const ok = await loginWithPassword("alice", { file: path, prompt: false }, (password) => {
      tried.push(password);
      return Promise.resolve("session");
    });
    assert.equal(ok, "session");
    await assert.rejects(
      loginWithPassword("alice", { file: path, prompt: false }, (password) => {
        tried.push(password);
        return Promise.reject(new LoginError("401", `wrong password for "alice" (401)`));
      }),
      (e) => e instanceof LoginError && e.code === "401",
    );
    assert.deepEqual(tried, ["pw", "pw"]);
  });
});

Deno.test("loginWithPassword() lets other errors through untouched", async () => {
  await withFile("pw\n", async (path) => {
    const error = new LoginError("409", "in use");
    await assert.rejects(
      loginWithPassword("alice", { file: path, prompt: false }, () => Promise.reject(error)),
      (e) => e === error,
    );
  });
});

/** Runs `fn` with `TINYCHAT_PASSWORD` set to `value` and no terminal on standard input. */
async function withEnvNoTerminal(value: string, fn: () => Promise<void>): Promise<void> {
  const before = Deno.env.get(PASSWORD_ENV);
  const isTerminal = Deno.stdin.isTerminal;
  Deno.env.set(PASSWORD_ENV, value);
  Deno.stdin.isTerminal = () => false;
  try {
    await fn();
  } finally {
    Deno.stdin.isTerminal = isTerminal;
    if (before === undefined) Deno.env.delete(PASSWORD_ENV);
    else Deno.env.set(PASSWORD_ENV, before);
  }
}

Deno.test("givenPassword(): an explicit --password prompt wins over TINYCHAT_PASSWORD", async () => {
  await withEnvNoTerminal("from env", async () => {
    assert.equal(await givenPassword("alice", { file: undefined, prompt: false }), "from env");
    // It asks at the prompt (here: there is no terminal to ask on) rather than take the env's.
    await assert.rejects(
      givenPassword("alice", { file: undefined, prompt: true }),
      /no terminal to ask for the password/,
    );
  });
});

Deno.test("loginWithPassword() with --password does not use TINYCHAT_PASSWORD", async () => {
  await withEnvNoTerminal("from env", async () => {
    const tried: (string | undefined)[] = [];
    await assert.rejects(
      loginWithPassword("alice", { file: undefined, prompt: true }, (password) => {
        tried.push(password);
        return Promise.resolve("session");
      }),
      /no terminal/,
    );
    assert.deepEqual(tried, []);
  });
});
