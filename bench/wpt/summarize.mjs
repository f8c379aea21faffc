// Sums the results bench/wpt/run.sh collected: one line per directory with
// test files run and subtests passed, then the total.
//
//   node bench/wpt/summarize.mjs RESULTS_DIR DIR...
import fs from "node:fs";
import path from "node:path";

const [resultsDir, ...dirs] = process.argv.slice(2);
const rows = [];
let all = { files: 0, harnessOk: 0, pass: 0, total: 0 };
for (const dir of dirs) {
  const name = dir.replaceAll("/", "_");
  const row = { dir, files: 0, harnessOk: 0, pass: 0, total: 0 };
  const folder = path.join(resultsDir, name);
  for (const file of fs.existsSync(folder) ? fs.readdirSync(folder) : []) {
    row.files++;
    let result;
    try {
      result = JSON.parse(fs.readFileSync(path.join(folder, file), "utf8"));
    } catch {
      continue; // no JSON: the instance died (a trap or a limit)
    }
    if (result.harness === "OK") row.harnessOk++;
    row.total += result.tests.length;
    row.pass += result.tests.filter((t) => t.status === "PASS").length;
  }
  rows.push(row);
  for (const k of Object.keys(all)) all[k] += row[k];
}
const pct = (r) => (r.total === 0 ? "-" : `${((100 * r.pass) / r.total).toFixed(1)}%`);
console.log(`${"directory".padEnd(36)} ${"files".padStart(5)} ${"ok".padStart(5)} ${"passed".padStart(7)} ${"subtests".padStart(8)} ${"rate".padStart(7)}`);
for (const r of [...rows, { dir: "total", ...all }]) {
  console.log(`${r.dir.padEnd(36)} ${String(r.files).padStart(5)} ${String(r.harnessOk).padStart(5)} ${String(r.pass).padStart(7)} ${String(r.total).padStart(8)} ${pct(r).padStart(7)}`);
}
