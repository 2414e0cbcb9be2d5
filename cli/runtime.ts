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
 *
 * `--max-inlined-bytecode-size=920` and `--max-inlined-bytecode-size-cumulative=10000` (V8's
 * defaults: 460 and 920) let the optimizing compiler inline more into the hot path's functions,
 * whose many small calls (the core's handling of a message and its ack, the decoder, the tables)
 * the defaults left as calls. The server's cost per message fell by 7% at 10 pairs × 16, 2%
 * offline, 1-1.5% at window 1 (duel.sh). Larger ones did worse: 4,000 per function gained nothing.
 */
export const V8_FLAGS = "--v8-flags=--max-semi-space-size=4," +
  "--max-inlined-bytecode-size=920,--max-inlined-bytecode-size-cumulative=10000";
