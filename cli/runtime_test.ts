import assert from "node:assert/strict";
import { V8_FLAGS } from "./runtime.ts";
import { compileArgs } from "../scripts/compile.ts";

const config = JSON.parse(
  await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
) as { tasks: Record<string, string> };

Deno.test("runtime: the tasks users run tinychat with carry the V8 flags", () => {
  for (const task of ["tinychat", "start"]) {
    const words = config.tasks[task]?.split(" ") ?? [];
    assert.equal(words[0], "deno", task);
    assert.equal(words[1], "run", task);
    assert.ok(words.includes(V8_FLAGS), `${task}: ${config.tasks[task]}`);
  }
});

Deno.test("runtime: the compiled executable is built with the V8 flags", () => {
  const args = compileArgs({ target: undefined, output: "dist/tinychat" }, "mod.ts");
  assert.equal(args[0], "compile");
  assert.ok(args.includes(V8_FLAGS), args.join(" "));
  assert.equal(args.at(-1), "mod.ts");
});
