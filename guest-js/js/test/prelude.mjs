// The files the engine evaluates before a bundle, in order: ../NN-*.js, and
// the `pb` global compiled from ../../ts (pb.ts over the WIT's generated
// layer) the way host/build.rs compiles it (../../ts/build.mjs).
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const JS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const TS_DIR = path.resolve(JS_DIR, "..", "ts");

/** [file name, source] of every prelude file, in evaluation order. */
export function preludeSources() {
  const pb = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "pbs-prelude-")), "70-pb.js");
  execFileSync(process.execPath, [path.join(TS_DIR, "build.mjs"), pb], { stdio: "inherit" });
  const files = fs
    .readdirSync(JS_DIR)
    .filter((name) => /^\d\d-.*\.js$/.test(name))
    .map((name) => [name, path.join(JS_DIR, name)]);
  files.push(["70-pb.js", pb]);
  files.sort(([a], [b]) => a.localeCompare(b));
  return files.map(([name, file]) => [name, fs.readFileSync(file, "utf8")]);
}
