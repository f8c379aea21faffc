// Makes the function entry for bench/wpt/run.sh:
//
//   node bench/wpt/prepare.mjs WPT_ROOT OUT.js DIR...
//
// Every `*.any.js` file under WPT_ROOT/DIR (what WPT runs in workers and
// shells too) with the scripts its `// META: script=` lines name, and
// resources/testharness.js, embedded as strings (one function for all the
// directories, so one component is compiled); prints the number of tests.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const [root, out, ...dirs] = process.argv.slice(2);
if (!root || !out || dirs.length === 0) {
  console.error("usage: node bench/wpt/prepare.mjs WPT_ROOT OUT.js DIR...");
  process.exit(2);
}

function walk(rel) {
  const full = path.join(root, rel);
  if (!fs.existsSync(full)) return [];
  return fs.readdirSync(full, { withFileTypes: true }).flatMap((entry) => {
    const child = path.posix.join(rel, entry.name);
    if (entry.isDirectory()) return entry.name === "resources" || entry.name === "support" ? [] : walk(child);
    return entry.name.endsWith(".any.js") ? [child] : [];
  });
}

// Globals a `.any.js` test may be limited to; we run those a worker or a
// shell would run (the default is window and dedicated worker).
const RUNNABLE = ["window", "worker", "dedicatedworker", "shadowrealm", "jsshell", "any"];

const files = { "resources/testharness.js": fs.readFileSync(path.join(root, "resources/testharness.js"), "utf8") };
const tests = [];
for (const testPath of dirs.flatMap((dir) => walk(dir).sort())) {
  const source = fs.readFileSync(path.join(root, testPath), "utf8");
  const meta = [...source.matchAll(/^\/\/ META: *(\w+)=(.*)$/gm)].map(([, key, value]) => [key, value.trim()]);
  const globals = meta.filter(([k]) => k === "global").flatMap(([, v]) => v.split(",").map((g) => g.trim()));
  if (globals.length > 0 && !globals.some((g) => RUNNABLE.includes(g))) continue;
  const scripts = meta
    .filter(([k]) => k === "script")
    .map(([, v]) => (v.startsWith("/") ? v.slice(1) : path.posix.normalize(path.posix.join(path.posix.dirname(testPath), v))));
  for (const script of scripts) {
    const full = path.join(root, script);
    if (files[script] === undefined && fs.existsSync(full)) files[script] = fs.readFileSync(full, "utf8");
  }
  files[testPath] = source;
  tests.push({ path: testPath, scripts, long: meta.some(([k, v]) => k === "timeout" && v === "long") });
}

const harness = path.relative(path.dirname(out), fileURLToPath(new URL("./harness.js", import.meta.url)));
fs.writeFileSync(
  out,
  `import { wptHandler } from ${JSON.stringify(harness.startsWith(".") ? harness : `./${harness}`)};\n` +
    `const FILES = ${JSON.stringify(files)};\nconst TESTS = ${JSON.stringify(tests)};\n` +
    `export const GET = wptHandler(FILES, TESTS);\n`,
);
console.log(tests.length);
