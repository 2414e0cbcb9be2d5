/**
 * Files on the receiving machine: safe names that never overwrite, media types and their names,
 * and the default folders for saved and partial downloads.
 *
 * @module
 */
export * from "./media_type.ts";
export * from "./safe_name.ts";
export * from "./save_dir.ts";
