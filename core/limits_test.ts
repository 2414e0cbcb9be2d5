import assert from "node:assert/strict";
import {
  ConnectionLimiter,
  DEFAULT_LIMITS,
  frameBurst,
  ipOf,
  KeyedRateLimiter,
  liveness,
  resolveLimits,
  TokenBucket,
} from "./limits.ts";

Deno.test("TokenBucket.take() lets a burst of `capacity` through at once, then refuses", () => {
  const bucket = new TokenBucket(20, 5, 1000);
  for (let i = 0; i < 20; i++) assert.ok(bucket.take(1000), `message ${i} of the burst`);
  assert.equal(bucket.take(1000), false);
});

Deno.test("TokenBucket.take() refills at `perSecond` with the injected clock", () => {
  const bucket = new TokenBucket(2, 5, 0);
  assert.ok(bucket.take(0));
  assert.ok(bucket.take(0));
  assert.equal(bucket.take(199), false); // 0.995 of a token
  assert.ok(bucket.take(200)); // 1 token after 200 ms at 5/s
  assert.equal(bucket.take(200), false);
  assert.ok(bucket.take(10_000)); // refilled to the capacity, not beyond
  assert.ok(bucket.take(10_000));
  assert.equal(bucket.take(10_000), false);
});

Deno.test("TokenBucket.take() refills nothing when the clock goes back", () => {
  const bucket = new TokenBucket(1, 1000, 5000);
  assert.ok(bucket.take(5000));
  assert.equal(bucket.take(4000), false);
  assert.equal(bucket.take(5000), false);
  assert.ok(bucket.take(5001));
});

Deno.test("TokenBucket: a pasted block of 20 lines passes a human-scale limit, a flood does not", () => {
  const bucket = new TokenBucket(20, 5, 0);
  let passed = 0;
  for (let i = 0; i < 20; i++) if (bucket.take(i)) passed++; // 20 lines within 20 ms
  assert.equal(passed, 20);
  // A flood: 1000 messages per second for 10 s lets about 5 per second through.
  let flood = 0;
  for (let t = 1000; t < 11_000; t++) if (bucket.take(t)) flood++;
  assert.ok(flood >= 50 && flood <= 75, `${flood} of 10,000 flood messages passed`);
});

Deno.test("TokenBucket.full() says when a bucket has refilled", () => {
  const bucket = new TokenBucket(10, 10, 0);
  assert.ok(bucket.full(0));
  bucket.take(0);
  assert.equal(bucket.full(0), false);
  assert.equal(bucket.full(99), false);
  assert.ok(bucket.full(100));
});

Deno.test("KeyedRateLimiter.take() keeps one bucket per key", () => {
  const limiter = new KeyedRateLimiter(2, 2 / 60);
  assert.ok(limiter.take("10.0.0.1", 0));
  assert.ok(limiter.take("10.0.0.1", 0));
  assert.equal(limiter.take("10.0.0.1", 0), false);
  assert.ok(limiter.take("10.0.0.2", 0), "another address has its own bucket");
  assert.equal(limiter.size, 2);
  assert.ok(limiter.take("10.0.0.1", 30_000), "one login per 30 s comes back");
});

Deno.test("KeyedRateLimiter.prune() forgets the buckets that are full again", () => {
  const limiter = new KeyedRateLimiter(60, 1);
  limiter.take("a", 0);
  limiter.take("b", 500);
  limiter.prune(500);
  assert.equal(limiter.size, 2);
  limiter.prune(1000); // "a" refilled its one token after 1 s
  assert.equal(limiter.size, 1);
  limiter.prune(1500);
  assert.equal(limiter.size, 0);
});

Deno.test("ConnectionLimiter.open() refuses with 421 per address and 503 in total", () => {
  const limiter = new ConnectionLimiter(3, 2);
  assert.equal(limiter.open("a"), undefined);
  assert.equal(limiter.open("a"), undefined);
  assert.equal(limiter.open("a"), "421");
  assert.equal(limiter.open("b"), undefined);
  assert.equal(limiter.open("c"), "503");
  assert.equal(limiter.total, 3);
  limiter.close("a");
  assert.equal(limiter.count("a"), 1);
  assert.equal(limiter.open("c"), undefined);
  limiter.close("zzz"); // never counted: ignored
  assert.equal(limiter.total, 3);
});

Deno.test("ConnectionLimiter forgets an address whose connections all closed", () => {
  const limiter = new ConnectionLimiter(10, 10);
  limiter.open("a");
  limiter.close("a");
  limiter.close("a");
  assert.equal(limiter.count("a"), 0);
  assert.equal(limiter.total, 0);
});

Deno.test("liveness() closes a connection that does not log in within loginTimeoutMs", () => {
  const limits = { loginTimeoutMs: 1000, idleTimeoutMs: 500, pingTimeoutMs: 200 };
  const a = { opened: 0, seen: 0, pingedAt: 0, loggedIn: false, legacy: false };
  assert.equal(liveness(a, 999, limits), "ok");
  assert.equal(liveness(a, 1000, limits), "login-timeout");
  // A PING before login does not extend the time to log in.
  assert.equal(liveness({ ...a, seen: 900 }, 1000, limits), "login-timeout");
});

Deno.test("liveness() PINGs an idle HELLO session and closes it when nothing comes back", () => {
  const limits = { loginTimeoutMs: 1000, idleTimeoutMs: 500, pingTimeoutMs: 200 };
  const a = { opened: 0, seen: 100, pingedAt: 0, loggedIn: true, legacy: false };
  assert.equal(liveness(a, 599, limits), "ok");
  assert.equal(liveness(a, 600, limits), "ping");
  const pinged = { ...a, pingedAt: 600 };
  assert.equal(liveness(pinged, 799, limits), "ok");
  assert.equal(liveness(pinged, 800, limits), "ping-timeout");
  // Any frame after the PING answers it; the session is idle again only after idleTimeoutMs.
  const answered = { ...pinged, seen: 650 };
  assert.equal(liveness(answered, 800, limits), "ok");
  assert.equal(liveness(answered, 1150, limits), "ping");
});

Deno.test("liveness() never PINGs nor idle-closes a seed-000 (legacy) session", () => {
  const limits = { loginTimeoutMs: 1000, idleTimeoutMs: 500, pingTimeoutMs: 200 };
  const a = { opened: 0, seen: 0, pingedAt: 0, loggedIn: true, legacy: true };
  assert.equal(liveness(a, 1e9, limits), "ok");
});

Deno.test("resolveLimits() applies overrides to the defaults and rejects values not above 0", () => {
  assert.deepEqual(resolveLimits(), { ...DEFAULT_LIMITS });
  assert.equal(resolveLimits({ msgRate: 5 }).msgRate, 5);
  assert.equal(resolveLimits({ msgRate: 5 }).msgBurst, 20, "a burst of at least 20");
  assert.equal(resolveLimits({ msgRate: 50 }).msgBurst, 50, "a burst of one second's worth");
  assert.equal(resolveLimits({ msgRate: 5, msgBurst: 8 }).msgBurst, 8);
  assert.throws(() => resolveLimits({ msgBurst: 0 }), RangeError);
});

Deno.test("DEFAULT_LIMITS let the benchmark's machine clients through", () => {
  assert.ok(
    DEFAULT_LIMITS.maxConnectionsPerIp > 10_000,
    "10,000 idle connections from one address",
  );
  assert.ok(DEFAULT_LIMITS.loginsPerMinute > 10_000, "10,000 logins within seconds");
  assert.ok(DEFAULT_LIMITS.msgRate >= 100_000, "a benchmark sender at 100,000 messages/s");
  assert.ok(DEFAULT_LIMITS.loginTimeoutMs >= 5 * 60_000, "a seed-000 user who types late");
});

Deno.test("ipOf() takes the address of a host:port peer", () => {
  assert.equal(ipOf("127.0.0.1:5000"), "127.0.0.1");
  assert.equal(ipOf("::1:5000"), "::1");
  assert.equal(ipOf("[::1]:5000"), "::1");
  assert.equal(ipOf(""), "");
});

Deno.test("ipOf() gives one key per client however its IPv6 address is written", () => {
  assert.equal(ipOf("2001:DB8::1:443"), "2001:db8::1");
  assert.equal(ipOf("[2001:db8::1]:443"), "2001:db8::1");
  assert.equal(ipOf("fe80::1%eth0:22"), "fe80::1%eth0");
  assert.equal(ipOf("[fe80::1%eth0]:22"), "fe80::1%eth0");
  // A dual-stack listener sees IPv4 clients as IPv4-mapped IPv6.
  assert.equal(ipOf("::ffff:10.0.0.1:5000"), "10.0.0.1");
  assert.equal(ipOf("[::FFFF:10.0.0.1]:5000"), "10.0.0.1");
  assert.equal(ipOf("0:0:0:0:0:ffff:10.0.0.1:5000"), "10.0.0.1");
  assert.equal(ipOf("::ffff:1:5000"), "::ffff:1", "not a mapped address");
  assert.equal(ipOf("10.0.0.1"), "10.0.0.1");
});

Deno.test("TokenBucket.available() and refund() peek and give back without passing the capacity", () => {
  const bucket = new TokenBucket(2, 1, 0);
  assert.ok(bucket.available(0));
  bucket.take(0);
  bucket.take(0);
  assert.equal(bucket.available(0), false);
  bucket.refund(0);
  assert.ok(bucket.available(0));
  assert.ok(bucket.take(0));
  bucket.refund(5000);
  bucket.refund(5000);
  assert.ok(bucket.full(5000));
  assert.ok(bucket.take(5000) && bucket.take(5000));
  assert.equal(bucket.take(5000), false, "refunds never pass the capacity");
});

Deno.test("KeyedRateLimiter.available() makes no bucket; refund() gives a token back", () => {
  const limiter = new KeyedRateLimiter(1, 1 / 60);
  assert.ok(limiter.available("alice", 0));
  assert.equal(limiter.size, 0);
  limiter.take("alice", 0);
  assert.equal(limiter.available("alice", 0), false);
  limiter.refund("alice", 0);
  assert.ok(limiter.available("alice", 0));
  limiter.refund("nobody", 0);
  assert.equal(limiter.size, 1);
});

Deno.test("DEFAULT_LIMITS: a benchmark sender at 50,000 messages/s for 10 s is never limited", () => {
  const limits = resolveLimits();
  const messages = new TokenBucket(limits.msgBurst, limits.msgRate, 0);
  // Per connection: its messages and the ACKs of what it receives, at 75,000 each.
  const frames = new TokenBucket(frameBurst(limits), limits.frameRate, 0);
  for (let i = 0; i < 500_000; i++) if (!messages.take(i / 50)) assert.fail(`message ${i}`);
  for (let i = 0; i < 1_500_000; i++) if (!frames.take(i / 150)) assert.fail(`frame ${i}`);
  assert.ok(limits.frameRate >= 2 * limits.msgRate, "looser than the message rate");
});

Deno.test("DEFAULT_LIMITS: password limits are per address and name, and small", () => {
  assert.equal(DEFAULT_LIMITS.passwordsPerMinute, 30);
  assert.equal(DEFAULT_LIMITS.passwordFailuresPerMinute, 10);
  assert.equal(DEFAULT_LIMITS.passwordChecksPerIp, 2);
  assert.ok(DEFAULT_LIMITS.maxPasswordChecks >= 2 * DEFAULT_LIMITS.passwordChecksPerIp);
});

Deno.test("frameBurst() is frameRate, and at least twice msgBurst", () => {
  assert.equal(frameBurst({ frameRate: 100, msgBurst: 20 }), 100);
  assert.equal(frameBurst({ frameRate: 10, msgBurst: 20 }), 40);
});
