// Builds the engine's `pb` global: `node guest-js/ts/build.mjs OUT.js`.
// Type-checks pb.ts (against the layer generated from the WIT and the SDK's
// declarations) with tsc, then bundles it with esbuild into one plain script
// (an IIFE) that the engine evaluates before every bundle. A type error
// fails the build: the engine never runs an API its types do not describe.
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (!out) {
  console.error("usage: node build.mjs OUT.js");
  process.exit(2);
}
const bin = (pkg, file) => join(here, "node_modules", pkg, file);
const run = (args) => execFileSync(process.execPath, args, { stdio: "inherit", cwd: here });
try {
  run([bin("typescript", "bin/tsc"), "-p", join(here, "tsconfig.json")]);
  const esbuild = await import(join(here, "node_modules", "esbuild", "lib", "main.js"));
  await esbuild.build({
    entryPoints: [join(here, "pb.ts")],
    bundle: true,
    format: "iife",
    target: "es2023",
    charset: "utf8",
    legalComments: "none",
    outfile: out,
    logLevel: "warning",
  });
} catch {
  console.error("building the engine's pb global (guest-js/ts) failed; see above");
  process.exit(1);
}
