// Fails when protocol/ or core/ reach for I/O: they must stay pure (no Deno.*, no console, no
// timers, no node: imports), so that tests can drive them without sockets or sleeping.
const forbidden =
  /\bDeno\.|\bconsole\.|\bsetTimeout\b|\bsetInterval\b|\bsetImmediate\b|from "node:/;
let failures = 0;
for (const dir of ["protocol", "core"]) {
  for (const entry of Deno.readDirSync(dir)) {
    if (!entry.name.endsWith(".ts") || entry.name.endsWith("_test.ts")) continue;
    const path = `${dir}/${entry.name}`;
    const lines = Deno.readTextFileSync(path).split("\n");
    lines.forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, "").replace(/^\s*\*.*$/, "");
      if (forbidden.test(code)) {
        failures++;
        Deno.stderr.writeSync(
          new TextEncoder().encode(`${path}:${i + 1}: I/O in a pure module: ${line.trim()}\n`),
        );
      }
    });
  }
}
if (failures > 0) Deno.exit(1);
