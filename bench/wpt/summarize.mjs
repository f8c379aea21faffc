// Sums the results bench/wpt/run.sh collected: one line per directory with
// test files run and subtests passed, then the total.
//
//   node bench/wpt/summarize.mjs RESULTS_DIR DIR...
import fs from "node:fs";
import path from "node:path";

const [resultsDir, ...dirs] = process.argv.slice(2);
const rows = [];
let all = { files: 0, harnessOk: 0, pass: 0, total: 0 };
// The test list (index -> path) comes from the function itself, so a test
// whose instance died (no JSON) still counts as a file that ran.
const listing = JSON.parse(fs.readFileSync(path.join(resultsDir, "tests.json"), "utf8")).tests;
const rowOf = new Map(dirs.map((dir) => [dir, { dir, files: 0, harnessOk: 0, pass: 0, total: 0 }]));
listing.forEach((testPath, i) => {
  const dir = dirs.filter((d) => testPath.startsWith(`${d}/`)).sort((a, b) => b.length - a.length)[0];
  const row = rowOf.get(dir);
  if (row === undefined) return;
  row.files++;
  let result;
  try {
    result = JSON.parse(fs.readFileSync(path.join(resultsDir, `${i}.json`), "utf8"));
  } catch {
    return; // no JSON: the instance died (a trap or a limit)
  }
  if (!Array.isArray(result.tests)) return; // an error answer (a 500), not a harness report
  if (result.harness === "OK") row.harnessOk++;
  row.total += result.tests.length;
  row.pass += result.tests.filter((t) => t.status === "PASS").length;
});
for (const row of rowOf.values()) {
  rows.push(row);
  for (const k of Object.keys(all)) all[k] += row[k];
}
const pct = (r) => (r.total === 0 ? "-" : `${((100 * r.pass) / r.total).toFixed(1)}%`);
console.log(`${"directory".padEnd(36)} ${"files".padStart(5)} ${"ok".padStart(5)} ${"passed".padStart(7)} ${"subtests".padStart(8)} ${"rate".padStart(7)}`);
for (const r of [...rows, { dir: "total", ...all }]) {
  console.log(`${r.dir.padEnd(36)} ${String(r.files).padStart(5)} ${String(r.harnessOk).padStart(5)} ${String(r.pass).padStart(7)} ${String(r.total).padStart(8)} ${pct(r).padStart(7)}`);
}
