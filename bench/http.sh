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

wait_up() { for _ in $(seq 200); do curl -sf -o /dev/null "$1" && return 0; sleep 0.05; done; echo "not up: $1" >&2; return 1; }

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

# wrk --latency prints "50%  1.23ms"; convert to ms.
to_ms() { awk -v v="$1" 'BEGIN{ if (v ~ /us$/) {sub(/us$/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v+0} else if (v ~ /s$/) {sub(/s$/,"",v); print v*1000} else print v }'; }

declare -A RPS P50 P99
for c in 1 32; do
  t=$THREADS; [ "$c" -lt "$t" ] && t=$c
  for name in "${ORDER[@]}"; do
    out=$(wrk -t"$t" -c"$c" -d"${DURATION}s" --latency "${URLS[$name]}")
    if echo "$out" | grep -q "Non-2xx"; then echo "$name returned errors:"; echo "$out"; exit 1; fi
    RPS[$name,$c]=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    P50[$name,$c]=$(to_ms "$(echo "$out" | awk '$1=="50%" {print $2}')")
    P99[$name,$c]=$(to_ms "$(echo "$out" | awk '$1=="99%" {print $2}')")
  done
done

echo
printf "%-16s %5s %12s %10s %10s\n" server conc "req/s" "p50 ms" "p99 ms"
for c in 1 32; do
  for name in "${ORDER[@]}"; do
    printf "%-16s %5s %12s %10s %10s\n" "$name" "$c" "${RPS[$name,$c]}" "${P50[$name,$c]}" "${P99[$name,$c]}"
  done
done
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
