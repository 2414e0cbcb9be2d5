/**
 * tinychat's logic as pure state machines: events in, actions out.
 *
 * @module
 */
export * from "./login_gate.ts";
export * from "./server_core.ts";
