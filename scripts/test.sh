#!/usr/bin/env bash
# The whole test suite, set-up included: installs what the tests need, then
# builds the host and the test components and runs every test on SQLite and
# on a throwaway PostgreSQL (which the tests start and stop themselves).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p target
# A from-scratch build gains nothing from incremental caches but their disk
# space (gigabytes); the disk left is printed because running out of it is the
# likeliest way for a fresh machine to fail.
export CARGO_INCREMENTAL=0
df -h . | tail -1 | awk '{print "==> disk: " $4 " free"}'
echo "==> JS runtime tests (guest-js/js in a Node vm with a fake host)"
{ node guest-js/js/test/run.mjs && node guest-js/js/test/http.mjs && node guest-js/js/test/web.mjs; } 2>&1 | tee target/test-output.log
echo "==> TypeScript: tsc --strict over the example, the JS test functions and the SDK's type tests"
for project in examples/hello-ts tests/js tests/js/types; do
  tests/js/node_modules/.bin/tsc -p "$project"
  echo "1 passed, 0 failed (tsc -p $project)" | tee -a target/test-output.log
done
echo "==> cargo test"
cargo test --workspace --locked "$@" 2>&1 | tee -a target/test-output.log
# One closing line for the whole run (cargo prints one per test binary, the
# JS runtime tests one per file).
sum() {
  grep -E "^(test result:|[0-9]+ passed, )" target/test-output.log \
    | grep -Eo "[0-9]+ $1" | awk '{s += $1} END {print s + 0}'
}
echo "tests: $(sum passed) passed, $(sum failed) failed"
