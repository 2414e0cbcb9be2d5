import assert from "node:assert/strict";
import { formatSize, mediaKind, mediaType } from "./media_type.ts";

Deno.test("mediaType() reads the extension, case-insensitively", () => {
  assert.equal(mediaType("photo.png"), "image/png");
  assert.equal(mediaType("dir/IMG_001.JPG"), "image/jpeg");
  assert.equal(mediaType("voice.ogg"), "audio/ogg");
  assert.equal(mediaType("note.opus"), "audio/opus");
  assert.equal(mediaType("clip.mp4"), "video/mp4");
  assert.equal(mediaType("a.tar.gz"), "application/gzip");
  assert.equal(mediaType("C:\\x\\report.pdf"), "application/pdf");
});

Deno.test("mediaType() falls back to application/octet-stream", () => {
  assert.equal(mediaType("README"), "application/octet-stream");
  assert.equal(mediaType("x.unknownext"), "application/octet-stream");
  assert.equal(mediaType(".png"), "application/octet-stream");
  assert.equal(mediaType(""), "application/octet-stream");
});

Deno.test("mediaKind() names images, voice messages, videos and files", () => {
  assert.equal(mediaKind("image/png"), "image");
  assert.equal(mediaKind("audio/ogg"), "voice message");
  assert.equal(mediaKind("video/webm"), "video");
  assert.equal(mediaKind("application/pdf"), "file");
  assert.equal(mediaKind(""), "file");
  assert.equal(mediaKind(mediaType("x.m4a")), "voice message");
});

Deno.test("formatSize() uses decimal units with one decimal", () => {
  assert.equal(formatSize(0), "0 B");
  assert.equal(formatSize(999), "999 B");
  assert.equal(formatSize(2100), "2.1 KB");
  assert.equal(formatSize(20_000_000), "20.0 MB");
  assert.equal(formatSize(3_500_000_000), "3.5 GB");
});
