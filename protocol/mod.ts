/**
 * The pure codec of tinychat protocol v1: frame types, answer codes, usernames, encoding and an
 * incremental decoder. See docs/PROTOCOL.md.
 *
 * @module
 */
export * from "./bytes.ts";
export * from "./code.ts";
export * from "./decoder.ts";
export * from "./delivery.ts";
export * from "./frame.ts";
export * from "./frame_error.ts";
export * from "./frame_type.ts";
export * from "./hello.ts";
export * from "./line_pages.ts";
export * from "./password.ts";
export * from "./slabs.ts";
export * from "./timed.ts";
export * from "./username.ts";
