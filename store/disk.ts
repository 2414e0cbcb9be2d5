/**
 * Two file-system steps the stores share.
 *
 * @module
 */

/** Deletes the file at `path`; one that is not there is fine. */
export function removeIfPresent(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/** Makes the entries of directory `path` (files made, renamed or deleted) survive power loss. */
export function syncDir(path: string): void {
  const dir = Deno.openSync(path, { read: true });
  try {
    dir.syncSync();
  } finally {
    dir.close();
  }
}
