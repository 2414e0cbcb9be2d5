/**
 * CPU and memory figures of processes, from Linux /proc; `undefined` elsewhere.
 *
 * @module
 */
import process from "node:process";

/** Kernel clock ticks per second, as /proc/PID/stat counts them (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/** VmRSS of process `pid` in KiB, or `undefined` (no pid, not Linux, not allowed). */
export async function vmRssKiB(pid: number | undefined): Promise<number | undefined> {
  const status = await procFile(pid, "status");
  return status === undefined ? undefined : parseVmRssKiB(status);
}

/** User + system CPU seconds of process `pid`, or `undefined` (no pid, not Linux, not allowed). */
export async function cpuSeconds(pid: number | undefined): Promise<number | undefined> {
  const stat = await procFile(pid, "stat");
  return stat === undefined ? undefined : parseCpuSeconds(stat);
}

/** User + system CPU seconds of this process. */
export function selfCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

/**
 * The VmRSS line of a /proc/PID/status text, in KiB.
 *
 * @example
 * ```ts
 * import { parseVmRssKiB } from "./proc.ts";
 * parseVmRssKiB("Name:\tdeno\nVmRSS:\t   45556 kB\n"); // 45556
 * ```
 */
export function parseVmRssKiB(status: string): number | undefined {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  return match === null ? undefined : Number(match[1]);
}

/**
 * utime + stime of a /proc/PID/stat line, in seconds.
 *
 * @example
 * ```ts
 * import { parseCpuSeconds } from "./proc.ts";
 * parseCpuSeconds("42 (deno) S 1 42 42 0 -1 4194560 1 0 0 0 150 25 0 0 20 0 4 0"); // 1.75
 * ```
 */
export function parseCpuSeconds(stat: string): number | undefined {
  // The command may hold spaces and parentheses: fields count from its last ")". After it, the
  // state is field 3; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? ticks / TICKS_PER_SECOND : undefined;
}

/**
 * A file of /proc/PID. Deno reads /proc only with --allow-all; with --allow-run, `cat` reads it.
 */
async function procFile(pid: number | undefined, name: string): Promise<string | undefined> {
  if (pid === undefined) return undefined;
  const path = `/proc/${pid}/${name}`;
  try {
    return await Deno.readTextFile(path);
  } catch {
    // Not allowed, or not Linux: try the subprocess below.
  }
  try {
    const out = await new Deno.Command("cat", { args: [path], stdout: "piped", stderr: "null" })
      .output();
    return out.success ? new TextDecoder().decode(out.stdout) : undefined;
  } catch {
    return undefined;
  }
}
