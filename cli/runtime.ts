/**
 * How tinychat is launched: the V8 flags of deno.json's `tinychat` and `start` tasks, of the
 * executable that `deno task compile` builds, and of the servers that `deno task bench` and the
 * tests start, so that what is measured and tested is what users run.
 *
 * @module
 */

/**
 * `--max-semi-space-size=4` caps each half of V8's young generation at 4 MiB. Left at its
 * default, a burst of logins grows it to tens of MiB that an idle server then keeps: about 4 KiB
 * more resident memory per connection with 10,000 logged in (docs/PERFORMANCE.md). The message
 * rates with the cap are those without it, within the noise of this machine.
 */
export const V8_FLAGS = "--v8-flags=--max-semi-space-size=4";
