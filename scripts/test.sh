#!/usr/bin/env bash
# The whole test suite, set-up included: installs what the tests need, then
# builds the host and the test components and runs every test on SQLite and
# on a throwaway PostgreSQL (which the tests start and stop themselves).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "==> cargo test"
cargo test --workspace --locked "$@"
