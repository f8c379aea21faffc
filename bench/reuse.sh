#!/usr/bin/env bash
# Instance reuse: the same components with a fresh instance per request (the
# default) and with one instance serving many requests in turn (`pbs serve
# --reuse N`, a function's `reuse` in the manifest), side by side with
# `wasmtime serve` and its `--max-instance-reuse-count` when a `wasmtime`
# binary is on PATH (or WASMTIME=path). Rust hello (tests/guests/hello) and
# the JS hello (tests/js/src/hello.ts); wrk at concurrency 1 and 32. pbs
# runs with PBS_LOG=info,pbs::invocation=warn (no line per successful
# invocation: `wasmtime serve` writes none either); PBS_LOG=info puts them
# back.
#
#   bash bench/reuse.sh            # 10 s per run
#   DURATION=5 REUSE=100000 bash bench/reuse.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${DURATION:-10}
THREADS=${THREADS:-2}
REUSE=${REUSE:-100000}
WASMTIME=${WASMTIME:-$(command -v wasmtime || true)}
export PBS_LOG=${PBS_LOG:-info,pbs::invocation=warn}
bash scripts/setup.sh --bench >/dev/null

echo "==> building (release)"
cargo build --release --locked -p pb-serverless 2>&1 | tail -1
cargo build --release --locked --target wasm32-wasip2 \
  --manifest-path tests/guests/Cargo.toml --target-dir target/guests 2>&1 | tail -1
PBS=$PWD/target/release/pbs
HELLO=target/guests/wasm32-wasip2/release/hello.wasm
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
"$PBS" build tests/js/src/hello.ts -o "$WORK/js-hello.wasm" >/dev/null

declare -A URLS
ORDER=()
port=18300
next_port() { port=$((port + 1)); }
next_port; serve rust:pbs $port "$PBS" serve "$HELLO"
next_port; serve rust:pbs-reuse $port "$PBS" serve "$HELLO" --reuse "$REUSE"
if [ -n "$WASMTIME" ]; then
  echo "wasmtime: $("$WASMTIME" --version)"
  next_port; serve rust:wasmtime $port "$WASMTIME" serve -Scli "$HELLO"
  next_port; serve rust:wasmtime-reuse $port "$WASMTIME" serve -Scli --max-instance-reuse-count "$REUSE" "$HELLO"
else
  echo "wasmtime not on PATH: skipping wasmtime serve (cargo install wasmtime-cli --version 48.0.8 --locked)"
fi
next_port; serve js:pbs $port "$PBS" serve "$WORK/js-hello.wasm"
next_port; serve js:pbs-reuse $port "$PBS" serve "$WORK/js-hello.wasm" --reuse "$REUSE"
for name in "${ORDER[@]}"; do wait_up "${URLS[$name]}"; done

run_wrk
print_table server
echo
for c in 1 32; do
  ratio rust:pbs-reuse rust:pbs "$c"
  [ -n "$WASMTIME" ] && ratio rust:pbs-reuse rust:wasmtime-reuse "$c"
  ratio js:pbs-reuse js:pbs "$c"
  ratio js:pbs-reuse rust:pbs-reuse "$c"
done

# Page faults per request (minor faults of the server process over a 3 s
# run at c=1, divided by the requests served): what a fresh instance's
# copy-on-write pages cost, and what reuse saves.
echo
printf "%-20s %14s %10s\n" server "faults/request" requests
for name in "${ORDER[@]}"; do
  read -r faults n < <(faults_per_request "${PID[$name]}" "${URLS[$name]}")
  printf "%-20s %14s %10d\n" "$name" "$faults" "$n"
done
