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

declare -A URLS PIDOF
ORDER=()
port=18300
serve() { # name, command...
  local name=$1; shift
  port=$((port + 1))
  "$@" --addr 127.0.0.1:$port >/dev/null 2>&1 & PIDS+=($!)
  PIDOF[$name]=$!
  wait_up http://127.0.0.1:$port/
  URLS[$name]=http://127.0.0.1:$port/
  ORDER+=("$name")
}
serve rust:pbs "$PBS" serve "$HELLO"
serve rust:pbs-reuse "$PBS" serve "$HELLO" --reuse "$REUSE"
if [ -n "$WASMTIME" ]; then
  echo "wasmtime: $("$WASMTIME" --version)"
  serve rust:wasmtime "$WASMTIME" serve -Scli "$HELLO"
  serve rust:wasmtime-reuse "$WASMTIME" serve -Scli --max-instance-reuse-count "$REUSE" "$HELLO"
else
  echo "wasmtime not on PATH: skipping wasmtime serve (cargo install wasmtime-cli --version 48.0.8 --locked)"
fi
serve js:pbs "$PBS" serve "$WORK/js-hello.wasm"
serve js:pbs-reuse "$PBS" serve "$WORK/js-hello.wasm" --reuse "$REUSE"

run_wrk
print_table server
echo
ratio() { awk -v a="${RPS[$1,$3]:-0}" -v b="${RPS[$2,$3]:-0}" -v c="$3" -v x="$1" -v y="$2" \
  'BEGIN{ if (b > 0) printf "%s / %s at c=%s: %.2fx\n", x, y, c, a/b }'; }
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
  read -r faults n < <(faults_per_request "${PIDOF[$name]}" "${URLS[$name]}")
  printf "%-20s %14s %10d\n" "$name" "$faults" "$n"
done
