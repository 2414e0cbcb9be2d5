/**
 * Makes sure the file at `path` exists and only its owner can read or write it (0600), before
 * SQLite opens it: it holds every stored message and the password hashes. SQLite gives the
 * files it adds beside it (-wal, -shm) the same permissions. No-op on Windows, which has no
 * such modes.
 */
export function makePrivateFile(path: string): void {
  if (path === ":memory:" || Deno.build.os === "windows") return;
  Deno.writeFileSync(path, new Uint8Array(), { append: true, mode: 0o600 });
  Deno.chmodSync(path, 0o600);
}
