/**
 * Where the server keeps what survives a restart: the `Store` interface, a SQLite store and an
 * in-memory one.
 *
 * @module
 */
export * from "./memory_store.ts";
export * from "./sqlite_store.ts";
export * from "./store.ts";
