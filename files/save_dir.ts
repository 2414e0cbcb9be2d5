/**
 * Where received files go, and where partial downloads wait.
 *
 * @module
 */
import { join } from "node:path";

/**
 * The folder received files are saved in by default: the platform's download folder plus
 * `tinychat`. Linux and other Unix: `$XDG_DOWNLOAD_DIR`, else the `XDG_DOWNLOAD_DIR` line of
 * `~/.config/user-dirs.dirs` (or `$XDG_CONFIG_HOME`), else `~/Downloads`. macOS: `~/Downloads`.
 * Windows: `%USERPROFILE%\Downloads`.
 *
 * @example
 * ```ts
 * import { defaultSaveDir } from "./save_dir.ts";
 * defaultSaveDir(); // "/home/alice/Downloads/tinychat"
 * ```
 */
export function defaultSaveDir(): string {
  const env = (name: string) => {
    const value = Deno.env.get(name);
    return value === undefined || value === "" ? undefined : value;
  };
  if (Deno.build.os === "windows") {
    return join(env("USERPROFILE") ?? env("HOMEPATH") ?? ".", "Downloads", "tinychat");
  }
  const home = env("HOME") ?? ".";
  if (Deno.build.os === "darwin") return join(home, "Downloads", "tinychat");
  const xdg = env("XDG_DOWNLOAD_DIR") ??
    userDirsDownload(join(env("XDG_CONFIG_HOME") ?? join(home, ".config"), "user-dirs.dirs"), home);
  return join(xdg ?? join(home, "Downloads"), "tinychat");
}

/** The XDG_DOWNLOAD_DIR that `xdg-user-dirs` wrote into `path`, if any. */
function userDirsDownload(path: string, home: string): string | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
  const match = /^\s*XDG_DOWNLOAD_DIR\s*=\s*"([^"]*)"/m.exec(text);
  if (match === null) return undefined;
  const dir = match[1]!.replace(/^\$HOME(?=\/|$)/, home);
  // "$HOME/" alone means "not set" to xdg-user-dirs; a relative path is not meant either.
  return dir.startsWith("/") && dir.replace(/\/+$/, "") !== home ? dir : undefined;
}

/**
 * Where partial downloads wait by default, outside any save folder: the platform's state
 * directory for tinychat (as `tinychat connect` uses) plus `partial`. The CLI passes its own
 * per-server state directory instead.
 */
export function defaultPartialDir(): string {
  const env = (name: string) => {
    const value = Deno.env.get(name);
    return value === undefined || value === "" ? undefined : value;
  };
  if (Deno.build.os === "windows") {
    return join(env("LOCALAPPDATA") ?? env("APPDATA") ?? ".", "tinychat", "state", "partial");
  }
  const home = env("HOME") ?? ".";
  if (Deno.build.os === "darwin") {
    return join(home, "Library", "Application Support", "tinychat", "partial");
  }
  return join(env("XDG_STATE_HOME") ?? join(home, ".local", "state"), "tinychat", "partial");
}
