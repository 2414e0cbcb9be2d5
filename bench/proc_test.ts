import assert from "node:assert/strict";
import { parseCpuSeconds, parseVmRssKiB } from "./proc.ts";

Deno.test("parseVmRssKiB() reads the VmRSS line of /proc/PID/status", () => {
  const status = "Name:\tdeno\nVmPeak:\t  99000 kB\nVmRSS:\t   45556 kB\nThreads:\t12\n";
  assert.equal(parseVmRssKiB(status), 45556);
});

Deno.test("parseVmRssKiB() returns undefined without a VmRSS line (a kernel thread)", () => {
  assert.equal(parseVmRssKiB("Name:\tkthreadd\nState:\tS (sleeping)\n"), undefined);
});

Deno.test("parseCpuSeconds() adds utime and stime of /proc/PID/stat at 100 ticks/s", () => {
  const stat = "42 (deno) S 1 42 42 0 -1 4194560 1 0 0 0 150 25 3 4 20 0 4 0 100 0 0\n";
  assert.equal(parseCpuSeconds(stat), 1.75);
});

Deno.test("parseCpuSeconds() counts fields after the last ')' of a command with spaces", () => {
  const stat = "42 (tiny (chat) x) R 1 42 42 0 -1 4194560 1 0 0 0 1000 250 0 0 20 0 4 0";
  assert.equal(parseCpuSeconds(stat), 12.5);
});

Deno.test("parseCpuSeconds() returns undefined for a truncated line", () => {
  assert.equal(parseCpuSeconds("42 (deno) S 1 42"), undefined);
});
