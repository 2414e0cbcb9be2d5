/**
 * File names that are safe to create on the receiving side: a name chosen by a remote sender
 * never leaves the save directory, never hides, never overwrites.
 *
 * @module
 */
import { join } from "node:path";

/** The longest name `safeFileName` returns, in bytes of UTF-8. */
export const MAX_FILE_NAME_BYTES = 200;

/** What an empty or wholly unusable name becomes. */
const FALLBACK = "file";
/** How many `name (n).ext` candidates `uniquePath` tries before giving up. */
const MAX_CANDIDATES = 10_000;

const encoder = new TextEncoder();

/**
 * Characters no name keeps: C0 and C1 controls, DEL, the Unicode direction marks, overrides
 * and isolates (they make `gpj.exe` read as `exe.jpg`), the zero-width space and BOM, line and
 * paragraph separators, and the characters Windows reserves. Zero-width (non-)joiners stay:
 * emoji sequences and several scripts need them.
 */
const UNSAFE =
  // deno-lint-ignore no-control-regex -- matching control characters is the point
  /[\u0000-\u001f\u007f-\u009f\u200b\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff<>:"|?*]/g;
/** Device names Windows reserves whatever the extension (`CON`, `nul.txt`, `COM1.log`). */
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)(\.|$)/i;

/**
 * Turns a name a sender chose into a plain file name for this machine: the last component of
 * any path (both `/` and `\` separate), no control, direction-override or Windows-reserved
 * characters, no leading dots or spaces (no hidden files), no `..`, no trailing dots or spaces,
 * not a Windows device name, at most 200 bytes of UTF-8 (the extension kept), never empty.
 *
 * @example
 * ```ts
 * import { safeFileName } from "./safe_name.ts";
 * safeFileName("../../etc/passwd"); // "passwd"
 * safeFileName(".bashrc"); // "bashrc"
 * safeFileName(""); // "file"
 * ```
 */
export function safeFileName(name: string): string {
  let base = name.normalize("NFC").replace(UNSAFE, "_");
  base = base.split(/[/\\]/).filter((part) => !/^[.\s]*$/.test(part)).at(-1) ?? "";
  base = base.replace(/\.{2,}/g, ".").replace(/^[.\s]+/, "").replace(/[.\s]+$/, "");
  if (base === "") base = FALLBACK;
  if (WINDOWS_DEVICE.test(base)) base = `_${base}`;
  return truncate(base, MAX_FILE_NAME_BYTES);
}

/**
 * A path in `dir` for a file called `name` (made safe with `safeFileName`) where nothing exists
 * yet: `name.ext`, else `name (1).ext`, `name (2).ext`, …  It only looks: `reservePath` also
 * creates the file, so that a second writer cannot take the same name in between.
 *
 * @example
 * ```ts
 * import { uniquePath } from "./safe_name.ts";
 * await uniquePath("/tmp", "photo.png"); // "/tmp/photo (1).png" if /tmp/photo.png exists
 * ```
 */
export async function uniquePath(dir: string, name: string): Promise<string> {
  for (const candidate of candidates(name)) {
    const path = join(dir, candidate);
    try {
      await Deno.lstat(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return path;
      throw error;
    }
  }
  throw new Error(`Cannot find a free name for "${name}" in ${dir}`);
}

/**
 * Like `uniquePath`, but creates the (empty) file exclusively, so that the name is ours: the
 * caller then renames or writes over it. Creates `dir` if needed.
 */
export async function reservePath(dir: string, name: string): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  for (const candidate of candidates(name)) {
    const path = join(dir, candidate);
    try {
      const file = await Deno.open(path, { write: true, createNew: true });
      file.close();
      return path;
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
  }
  throw new Error(`Cannot find a free name for "${name}" in ${dir}`);
}

/** `name`, then `name (1)`, `name (2)`, … (the number before the extension), all safe. */
function* candidates(name: string): Generator<string> {
  const safe = safeFileName(name);
  yield safe;
  const [stem, ext] = splitExtension(safe);
  for (let n = 1; n < MAX_CANDIDATES; n++) {
    const suffix = ` (${n})${ext}`;
    yield truncate(stem, MAX_FILE_NAME_BYTES - byteLength(suffix), false) + suffix;
  }
}

/**
 * Splits `name` into stem and extension (with its dot): "a.png" → ["a", ".png"], "a.tar.gz" →
 * ["a", ".tar.gz"], "README" → ["README", ""]. An extension is short and has no spaces.
 */
export function splitExtension(name: string): [string, string] {
  const match = /^(.+?)((?:\.tar)?\.[^.\s]{1,16})$/i.exec(name);
  return match === null ? [name, ""] : [match[1]!, match[2]!];
}

function byteLength(text: string): number {
  return encoder.encode(text).length;
}

/**
 * Cuts `name` to at most `max` bytes at a character boundary, keeping the extension when
 * `keepExtension` and it is short.
 */
function truncate(name: string, max: number, keepExtension = true): string {
  if (byteLength(name) <= max) return name;
  const [stem, ext] = keepExtension ? splitExtension(name) : [name, ""];
  const keep = byteLength(ext) <= max / 4 ? ext : "";
  let out = "";
  let bytes = byteLength(keep);
  for (const char of keepExtension && keep === "" ? name : stem) {
    const size = byteLength(char);
    if (bytes + size > max) break;
    out += char;
    bytes += size;
  }
  out = out.replace(/[.\s]+$/, "");
  return (out === "" ? FALLBACK : out) + keep;
}
