import assert from "node:assert/strict";
import { join } from "node:path";
import {
  MAX_FILE_NAME_BYTES,
  reservePath,
  safeFileName,
  splitExtension,
  uniquePath,
} from "./safe_name.ts";

const bytes = (text: string) => new TextEncoder().encode(text).length;

/** The rules every result must satisfy, whatever came in. */
function assertSafe(name: string): void {
  assert.notEqual(name, "");
  assert.ok(!/[/\\]/.test(name), `separator in ${JSON.stringify(name)}`);
  assert.ok(!name.includes(".."), `".." in ${JSON.stringify(name)}`);
  assert.ok(!name.startsWith("."), `leading dot in ${JSON.stringify(name)}`);
  // deno-lint-ignore no-control-regex -- checking for control characters
  assert.ok(!/[\u0000-\u001f\u007f-\u009f]/.test(name), `control in ${JSON.stringify(name)}`);
  assert.ok(!/[<>:"|?*]/.test(name), `reserved in ${JSON.stringify(name)}`);
  assert.ok(bytes(name) <= MAX_FILE_NAME_BYTES, `too long: ${bytes(name)}`);
}

Deno.test("safeFileName() keeps a plain name as it is", () => {
  assert.equal(safeFileName("photo.png"), "photo.png");
  assert.equal(safeFileName("Отчёт 2026.pdf"), "Отчёт 2026.pdf");
  assert.equal(safeFileName("a (1).txt"), "a (1).txt");
});

Deno.test("safeFileName() drops path traversal: ../../x, /etc/passwd, a/b\\c", () => {
  assert.equal(safeFileName("../../x"), "x");
  assert.equal(safeFileName("/etc/passwd"), "passwd");
  assert.equal(safeFileName("a/b\\c"), "c");
  assert.equal(safeFileName("..\\..\\Windows\\win.ini"), "win.ini");
  assert.equal(safeFileName("x/../.."), "x");
  for (const name of ["../../x", "/etc/passwd", "a/b\\c", "x/../.."]) {
    assertSafe(safeFileName(name));
  }
});

Deno.test("safeFileName() makes hidden names visible: .bashrc, ..., ' .x'", () => {
  assert.equal(safeFileName(".bashrc"), "bashrc");
  assert.equal(safeFileName("...ssh"), "ssh");
  assert.equal(safeFileName(" .profile"), "profile");
});

Deno.test("safeFileName() never returns an empty name: '', '..', '.', '/', '   '", () => {
  for (const name of ["", "..", ".", "/", "///", "   ", "../..", "\\"]) {
    assert.equal(safeFileName(name), "file", JSON.stringify(name));
  }
});

Deno.test("safeFileName() replaces control characters, direction overrides and newlines", () => {
  assert.equal(safeFileName("a\nb.txt"), "a_b.txt");
  assert.equal(safeFileName("a\x00b\x1b[31m.txt"), "a_b_[31m.txt");
  assert.equal(safeFileName("bad\u202egnp.exe"), "bad_gnp.exe");
  assert.equal(safeFileName("x\x7f\x85y"), "x__y");
  assert.equal(safeFileName("a\u200bb\u200fc"), "a_b_c");
  // Joiners are part of emoji sequences and of words in several scripts.
  assert.equal(safeFileName("👨\u200d👩\u200d👧.jpg"), "👨\u200d👩\u200d👧.jpg");
  assertSafe(safeFileName("\r\n\t.bashrc"));
});

Deno.test("safeFileName() replaces Windows-reserved characters and device names", () => {
  assert.equal(safeFileName('a<b>c:d"e|f?g*h.txt'), "a_b_c_d_e_f_g_h.txt");
  assert.equal(safeFileName("CON"), "_CON");
  assert.equal(safeFileName("nul.txt"), "_nul.txt");
  assert.equal(safeFileName("com1.log"), "_com1.log");
  assert.equal(safeFileName("console.log"), "console.log");
  assert.equal(safeFileName("name. . "), "name");
});

Deno.test("safeFileName() removes '..' inside a name", () => {
  assert.equal(safeFileName("a..b.txt"), "a.b.txt");
  assertSafe(safeFileName("a..b.txt"));
});

Deno.test("safeFileName() cuts a very long name to 200 bytes, keeping the extension", () => {
  const long = safeFileName("x".repeat(1000) + ".png");
  assert.equal(bytes(long), 200);
  assert.ok(long.endsWith(".png"));
  // Multi-byte characters are never cut in half.
  const wide = safeFileName("ж".repeat(300) + ".jpeg");
  assert.ok(bytes(wide) <= 200);
  assert.ok(wide.endsWith(".jpeg"));
  assert.ok(!wide.includes("\ufffd"));
  const emoji = safeFileName("😀".repeat(100));
  assert.ok(bytes(emoji) <= 200);
  assert.equal(emoji, "😀".repeat(50));
});

Deno.test("safeFileName() output is safe for hostile inputs", () => {
  const hostile = [
    "../../x",
    "/etc/passwd",
    ".bashrc",
    "a/b\\c",
    "",
    "..",
    "\x00",
    "\n",
    "....//....//x",
    "C:\\Windows\\System32\\..\\x.dll",
    "a\u202e..\u202d/..",
    ".".repeat(500),
    "/".repeat(500) + ".",
    "a".repeat(250) + "/..",
    "x".repeat(300) + "." + "y".repeat(100),
  ];
  for (const name of hostile) assertSafe(safeFileName(name));
});

Deno.test("splitExtension() splits stem and extension", () => {
  assert.deepEqual(splitExtension("a.png"), ["a", ".png"]);
  assert.deepEqual(splitExtension("a.tar.gz"), ["a", ".tar.gz"]);
  assert.deepEqual(splitExtension("README"), ["README", ""]);
  assert.deepEqual(splitExtension("my file.v2.txt"), ["my file.v2", ".txt"]);
});

Deno.test("uniquePath() picks name (1).ext, then (2), when the name exists", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinychat-names-" });
  try {
    assert.equal(await uniquePath(dir, "photo.png"), join(dir, "photo.png"));
    await Deno.writeTextFile(join(dir, "photo.png"), "first");
    assert.equal(await uniquePath(dir, "photo.png"), join(dir, "photo (1).png"));
    await Deno.writeTextFile(join(dir, "photo (1).png"), "second");
    assert.equal(await uniquePath(dir, "photo.png"), join(dir, "photo (2).png"));
    await Deno.writeTextFile(join(dir, "README"), "");
    assert.equal(await uniquePath(dir, "README"), join(dir, "README (1)"));
    assert.equal(await uniquePath(dir, "../../photo.png"), join(dir, "photo (2).png"));
    assert.equal(await Deno.readTextFile(join(dir, "photo.png")), "first");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("uniquePath() keeps name (n).ext within 200 bytes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinychat-names-" });
  try {
    const name = "y".repeat(400) + ".txt";
    const first = await uniquePath(dir, name);
    await Deno.writeTextFile(first, "");
    const second = await uniquePath(dir, name);
    assert.ok(second.endsWith(" (1).txt"));
    assert.ok(bytes(second.slice(dir.length + 1)) <= 200);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("reservePath() creates the file, so a second call gets the next name", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tinychat-names-" });
  try {
    const sub = join(dir, "new", "dir");
    const [a, b] = await Promise.all([reservePath(sub, "x.bin"), reservePath(sub, "x.bin")]);
    assert.deepEqual([a, b].sort(), [join(sub, "x (1).bin"), join(sub, "x.bin")]);
    assert.equal((await Deno.stat(a)).size, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
