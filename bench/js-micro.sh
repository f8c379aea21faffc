#!/usr/bin/env bash
# The cost of single Web API operations inside the JS engine (QuickJS, our
# Web APIs): builds bench/js-micro/ops.ts, serves it and prints the table it
# measures with performance.now(). For work on the engine's Web API layer
# (guest-js/js/*.js); the end-to-end figures are bench/js.sh and bench/reuse.sh.
#
#   bash bench/js-micro.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
cargo build --release --locked -p pb-serverless 2>&1 | tail -1
PBS=target/release/pbs
bash scripts/setup.sh --bench >/dev/null
WORK=$(mktemp -d)
# Inside tests/js, so the build finds its esbuild.
GEN=$(mktemp -d tests/js/.bench-XXXX)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$WORK" "$GEN"; }
trap cleanup EXIT
cp bench/js-micro/ops.ts "$GEN/"
"$PBS" build "$GEN/ops.ts" -o "$WORK/ops.wasm" >/dev/null
"$PBS" serve "$WORK/ops.wasm" --addr 127.0.0.1:18390 >/dev/null 2>&1 & PID=$!
wait_up http://127.0.0.1:18390/
curl -s http://127.0.0.1:18390/ >/dev/null # the first instance warms the code
curl -s http://127.0.0.1:18390/
