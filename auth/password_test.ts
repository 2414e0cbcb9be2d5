import assert from "node:assert/strict";
import { DECOY_HASH, DEFAULT_SCRYPT, hashPassword, parseHash, verifyPassword } from "./password.ts";

const CHEAP = { params: { N: 1024, r: 8, p: 1 } };

Deno.test("hashPassword() records scrypt, its parameters, a salt and the hash", async () => {
  const hash = await hashPassword("s3cret");
  assert.match(hash, /^scrypt\$N=16384,r=8,p=1\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=$/);
  const parsed = parseHash(hash)!;
  assert.deepEqual(parsed.params, DEFAULT_SCRYPT);
  assert.equal(parsed.salt.length, 16);
  assert.equal(parsed.key.length, 32);
});

Deno.test("hashPassword() salts: one password hashes differently each time", async () => {
  const [a, b] = await Promise.all([hashPassword("same", CHEAP), hashPassword("same", CHEAP)]);
  assert.notEqual(a, b);
  assert.equal(await verifyPassword("same", a), true);
  assert.equal(await verifyPassword("same", b), true);
});

Deno.test("verifyPassword() accepts the password and refuses any other", async () => {
  const hash = await hashPassword("correct horse", CHEAP);
  assert.equal(await verifyPassword("correct horse", hash), true);
  assert.equal(await verifyPassword("correct hors", hash), false);
  assert.equal(await verifyPassword("Correct horse", hash), false);
  assert.equal(await verifyPassword("", hash), false);
});

Deno.test("verifyPassword() reads the parameters recorded with the hash", async () => {
  const hash = await hashPassword("pw", { params: { N: 256, r: 4, p: 2 } });
  assert.match(hash, /^scrypt\$N=256,r=4,p=2\$/);
  assert.equal(await verifyPassword("pw", hash), true);
});

Deno.test("verifyPassword() compares Unicode passwords in NFC", async () => {
  const hash = await hashPassword("caf\u00e9 ёжик", CHEAP);
  assert.equal(await verifyPassword("cafe\u0301 ёжик", hash), true);
});

Deno.test("verifyPassword() is false for hashes it cannot read or that ask too much", async () => {
  const good = await hashPassword("pw", CHEAP);
  const [, , salt, key] = good.split("$");
  for (
    const bad of [
      "",
      "plain",
      `bcrypt$N=1024,r=8,p=1$${salt}$${key}`,
      `scrypt$N=1000,r=8,p=1$${salt}$${key}`, // not a power of two
      `scrypt$N=4194304,r=8,p=1$${salt}$${key}`, // 4 GiB of memory
      `scrypt$N=1024,r=99,p=1$${salt}$${key}`,
      `scrypt$N=1024,r=8,p=1$$${key}`,
      `scrypt$N=1024,r=8,p=1$${salt}$`,
      `scrypt$N=1024,r=8,p=1$${salt}$${key}$extra`,
    ]
  ) {
    assert.equal(parseHash(bad), undefined, bad);
    assert.equal(await verifyPassword("pw", bad), false, bad);
  }
});

Deno.test("hashPassword() rejects parameters it would not read back", async () => {
  await assert.rejects(hashPassword("pw", { params: { N: 1000, r: 8, p: 1 } }), RangeError);
});

Deno.test("hashPassword() leaves the event loop free while it works", async () => {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  try {
    await hashPassword("pw");
  } finally {
    clearInterval(timer);
  }
  // One hash takes tens of ms: a blocked loop would not have run the timer at all.
  assert.ok(ticks >= 2, `${ticks} ticks during a hash`);
});

Deno.test("parseHash() refuses more than 64 MiB (128·N·r) or p above 4, and accepts up to them", async () => {
  const good = await hashPassword("pw", CHEAP);
  const [, , salt, key] = good.split("$");
  for (
    const params of [
      "N=1048576,r=32,p=1", // 4 GiB per check
      "N=131072,r=8,p=1", // 128 MiB: OWASP's N=2^17
      "N=1048576,r=1,p=1", // 128 MiB
      "N=1024,r=8,p=5",
      "N=1024,r=8,p=16",
    ]
  ) {
    assert.equal(parseHash(`scrypt$${params}$${salt}$${key}`), undefined, params);
  }
  for (const params of ["N=65536,r=8,p=1", "N=524288,r=1,p=1", "N=1024,r=8,p=4"]) {
    assert.notEqual(parseHash(`scrypt$${params}$${salt}$${key}`), undefined, params);
  }
  await assert.rejects(hashPassword("pw", { params: { N: 131072, r: 8, p: 1 } }), RangeError);
  await assert.rejects(hashPassword("pw", { params: { N: 1024, r: 8, p: 5 } }), RangeError);
});

Deno.test("DECOY_HASH has the default parameters and matches no password", async () => {
  assert.deepEqual(parseHash(DECOY_HASH)?.params, DEFAULT_SCRYPT);
  for (const password of ["", "pw", "password", "decoy"]) {
    assert.equal(await verifyPassword(password, DECOY_HASH), false, password);
  }
});
