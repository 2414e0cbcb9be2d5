const LETTERS = "abcdefghijklmnopqrstuvwxyz";

/**
 * A random two-letter prefix for the user names of one workload, not in `taken`; adds it there,
 * so that two workloads on one server never share a user. Two letters leave room in a name's 8
 * bytes for a role ("r", "os", "i") and an index.
 *
 * @example
 * ```ts
 * import { namePrefix } from "./name_prefix.ts";
 * const taken = new Set<string>();
 * namePrefix(taken) !== namePrefix(taken); // true
 * ```
 */
export function namePrefix(taken: Set<string>): string {
  if (taken.size >= LETTERS.length ** 2) {
    throw new RangeError(`Cannot pick a name prefix: all ${LETTERS.length ** 2} are taken`);
  }
  let prefix = randomPrefix();
  while (taken.has(prefix)) prefix = randomPrefix();
  taken.add(prefix);
  return prefix;
}

function randomPrefix(): string {
  const pick = () => LETTERS[Math.floor(Math.random() * LETTERS.length)]!;
  return pick() + pick();
}
