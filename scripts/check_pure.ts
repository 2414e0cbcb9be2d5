// Fails when protocol/ or core/ reach for I/O: they must stay pure (no Deno, no console, no
// clock, no timers, no node: imports, no dynamic imports, nothing from the I/O layers), so that
// tests can drive them without sockets, clocks or sleeping. JSDoc lines (" * …") are not code.
const forbidden = new RegExp(
  [
    String.raw`\bDeno\b`,
    String.raw`\bconsole\.`,
    String.raw`\b(setTimeout|setInterval|setImmediate|queueMicrotask)\b`,
    String.raw`\b(Date\.now|performance\.now)\b`,
    String.raw`\bimport\(`,
    String.raw`from "node:`,
    String.raw`from "\.\./(server|client|mod)\.ts"`,
    String.raw`from "\.\./cli/`,
  ].join("|"),
);
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
