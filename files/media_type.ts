/**
 * Media types of files by their extension, and what a person calls them ("image", "voice
 * message", …).
 *
 * @module
 */
import { splitExtension } from "./safe_name.ts";

/** The media type of a file whose kind is not known. */
export const DEFAULT_MEDIA_TYPE = "application/octet-stream";

const TYPES: Record<string, string> = {
  // Images
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  avif: "image/avif",
  heic: "image/heic",
  heif: "image/heif",
  bmp: "image/bmp",
  svg: "image/svg+xml",
  tif: "image/tiff",
  tiff: "image/tiff",
  ico: "image/vnd.microsoft.icon",
  // Voice and other sound
  ogg: "audio/ogg",
  oga: "audio/ogg",
  opus: "audio/opus",
  mp3: "audio/mpeg",
  m4a: "audio/mp4",
  aac: "audio/aac",
  wav: "audio/wav",
  flac: "audio/flac",
  amr: "audio/amr",
  weba: "audio/webm",
  // Video
  mp4: "video/mp4",
  m4v: "video/mp4",
  mov: "video/quicktime",
  webm: "video/webm",
  mkv: "video/x-matroska",
  avi: "video/x-msvideo",
  // Documents and archives
  txt: "text/plain",
  md: "text/markdown",
  csv: "text/csv",
  html: "text/html",
  json: "application/json",
  pdf: "application/pdf",
  zip: "application/zip",
  gz: "application/gzip",
  "tar.gz": "application/gzip",
  tar: "application/x-tar",
};

/** What a person calls a file of some media type. */
export type MediaKind = "image" | "voice message" | "video" | "file";

/**
 * The media type of `path` from its extension (case-insensitive), else
 * "application/octet-stream".
 *
 * @example
 * ```ts
 * import { mediaType } from "./media_type.ts";
 * mediaType("holiday/photo.JPG"); // "image/jpeg"
 * ```
 */
export function mediaType(path: string): string {
  const name = path.split(/[/\\]/).at(-1) ?? "";
  const ext = splitExtension(name)[1].slice(1).toLowerCase();
  return TYPES[ext] ?? TYPES[ext.split(".").at(-1) ?? ""] ?? DEFAULT_MEDIA_TYPE;
}

/**
 * What a person calls a file of media type `type`: "image", "voice message" (any audio),
 * "video", else "file".
 *
 * @example
 * ```ts
 * import { mediaKind } from "./media_type.ts";
 * mediaKind("audio/ogg"); // "voice message"
 * ```
 */
export function mediaKind(type: string): MediaKind {
  const top = type.split("/")[0]?.trim().toLowerCase();
  if (top === "image") return "image";
  if (top === "audio") return "voice message";
  if (top === "video") return "video";
  return "file";
}

/**
 * A size in words: "512 B", "2.1 KB", "20.0 MB" (decimal units, one decimal).
 */
export function formatSize(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}
