#!/usr/bin/env bash
# HTTP benchmark: the same hello component under `pbs serve` (single
# component and full host), under `wasmtime serve` when a `wasmtime` binary
# is on PATH, and a native hyper hello-world as the physical reference.
# Same load generator (wrk), concurrency 1 and 32, one after the other on
# this machine. Prints requests/s, p50 and p99 per server and the ratios.
#
#   bash bench/http.sh            # 10 s per run
#   DURATION=30 bash bench/http.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${DURATION:-10}
THREADS=${THREADS:-2}
bash scripts/setup.sh --bench >/dev/null

echo "==> building (release)"
cargo build --release --locked -p pb-serverless -p native-hello 2>&1 | tail -1
cargo build --release --locked --target wasm32-wasip2 \
  --manifest-path tests/guests/Cargo.toml --target-dir target/guests 2>&1 | tail -1
HELLO=target/guests/wasm32-wasip2/release/hello.wasm
PBS=target/release/pbs
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT


"$PBS" serve "$HELLO" --addr 127.0.0.1:18101 >/dev/null 2>&1 & PIDS+=($!)
PB_ADMIN_TOKEN=bench "$PBS" serve --addr 127.0.0.1:18102 --dir "$WORK/pb_data" >/dev/null 2>&1 & PIDS+=($!)
target/release/native-hello 127.0.0.1:18104 >/dev/null 2>&1 & PIDS+=($!)
wait_up http://127.0.0.1:18101/
wait_up http://127.0.0.1:18102/api/health
PB_ADMIN_TOKEN=bench "$PBS" deploy "$HELLO" --name hello --server http://127.0.0.1:18102 >/dev/null
wait_up http://127.0.0.1:18102/api/pb_serverless/hello
wait_up http://127.0.0.1:18104/

declare -A URLS=(
  [pbs-serve]=http://127.0.0.1:18101/
  [pbs-host]=http://127.0.0.1:18102/api/pb_serverless/hello
  [native-hyper]=http://127.0.0.1:18104/
)
ORDER=(pbs-serve pbs-host)
if command -v wasmtime >/dev/null; then
  wasmtime serve -Scli "$HELLO" --addr 127.0.0.1:18103 >/dev/null 2>&1 & PIDS+=($!)
  wait_up http://127.0.0.1:18103/
  URLS[wasmtime-serve]=http://127.0.0.1:18103/
  ORDER+=(wasmtime-serve)
  echo "wasmtime: $(wasmtime --version)"
else
  echo "wasmtime not on PATH: skipping wasmtime serve (cargo install wasmtime-cli --version 48.0.8 --locked)"
fi
ORDER+=(native-hyper)

run_wrk

print_table server
if [ -n "${URLS[wasmtime-serve]:-}" ]; then
  echo
  for c in 1 32; do
    for name in pbs-serve pbs-host; do
      awk -v a="${RPS[$name,$c]}" -v b="${RPS[wasmtime-serve,$c]}" -v n="$name" -v c="$c" \
        'BEGIN{ printf "%s / wasmtime-serve throughput at c=%s: %.2fx\n", n, c, a/b }'
    done
  done
fi
echo
for c in 1 32; do
  awk -v a="${RPS[pbs-serve,$c]}" -v b="${RPS[native-hyper,$c]}" -v c="$c" \
    'BEGIN{ printf "pbs-serve / native-hyper throughput at c=%s: %.2fx\n", c, a/b }'
done
