#!/usr/bin/env bash
# The whole test suite, set-up included: installs what the tests need, then
# builds the host and the test components and runs every test on SQLite and
# on a throwaway PostgreSQL (which the tests start and stop themselves).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "==> cargo test"
mkdir -p target
cargo test --workspace --locked "$@" 2>&1 | tee target/test-output.log
# One closing line for the whole run (cargo prints one per test binary).
sum() { grep "^test result:" target/test-output.log | grep -Eo "[0-9]+ $1" | awk '{s += $1} END {print s + 0}'; }
echo "tests: $(sum passed) passed, $(sum failed) failed"
