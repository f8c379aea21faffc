#!/usr/bin/env bash
# Tracing cost: the Rust hello component and the JS hello
# (tests/js/src/hello.ts), each under `pbs serve` three ways — tracing off,
# on with a collector listening (bench/otlp_sink.py on loopback), and on
# with the collector down (a port nothing listens on) — wrk at concurrency
# 1 and 32, in one run. With tracing on, every request makes a server span
# and an invocation span, exported in batches over OTLP/HTTP (protobuf).
# Besides throughput it prints the host's CPU time per request: the sink
# shares this machine's cores, and a collector elsewhere would not, so
# the host's own CPU is what tracing costs a host.
#
#   bash bench/otel.sh            # 10 s per run
#   DURATION=30 bash bench/otel.sh
#   ROUNDS=5 DURATION=5 bash bench/otel.sh   # the median of 5 rounds
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${DURATION:-10}
THREADS=${THREADS:-2}
bash scripts/setup.sh --bench >/dev/null

echo "==> building (release)"
cargo build --release --locked -p pb-serverless 2>&1 | tail -1
cargo build --release --locked --target wasm32-wasip2 \
  --manifest-path tests/guests/Cargo.toml --target-dir target/guests 2>&1 | tail -1
PBS=$PWD/target/release/pbs
RUST_HELLO=target/guests/wasm32-wasip2/release/hello.wasm
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
"$PBS" build tests/js/src/hello.ts -o "$WORK/js-hello.wasm"

SINK=18310
python3 bench/otlp_sink.py $SINK >"$WORK/sink.log" 2>&1 & SINK_PID=$!; PIDS+=($SINK_PID)
# A port nothing listens on: the collector is down.
DOWN=18311

port=18300
declare -A URLS
ORDER=()
for fn in rust js; do
  component=$RUST_HELLO; [ $fn = js ] && component=$WORK/js-hello.wasm
  for mode in off on down; do
    port=$((port + 1))
    case $mode in
      off) endpoint= ;;
      on) endpoint=http://127.0.0.1:$SINK ;;
      down) endpoint=http://127.0.0.1:$DOWN ;;
    esac
    OTEL_EXPORTER_OTLP_ENDPOINT=$endpoint OTEL_METRICS_EXPORTER=none \
      "$PBS" serve "$component" --addr 127.0.0.1:$port >/dev/null 2>&1 & PIDS+=($!)
    PID[$fn-$mode]=$!
    URLS[$fn-$mode]=http://127.0.0.1:$port/
    ORDER+=($fn-$mode)
  done
done
for name in "${ORDER[@]}"; do wait_up "${URLS[$name]}"; done

run_rounds
print_table server
[ "${ROUNDS:-1}" -gt 1 ] && echo "(the median of ${ROUNDS} rounds per cell)"
echo
for fn in rust js; do
  for c in 1 32; do
    awk -v on="${RPS[$fn-on,$c]}" -v down="${RPS[$fn-down,$c]}" -v off="${RPS[$fn-off,$c]}" -v f=$fn -v c=$c \
      'BEGIN{ printf "%s-hello c=%s: throughput, tracing on / off %.2f, collector down / off %.2f\n", f, c, on/off, down/off }'
    awk -v on="${CPU[$fn-on,$c]}" -v down="${CPU[$fn-down,$c]}" -v off="${CPU[$fn-off,$c]}" -v f=$fn -v c=$c \
      'BEGIN{ printf "%s-hello c=%s: host CPU per request, tracing on / off %.2f, collector down / off %.2f\n", f, c, on/off, down/off }'
  done
done
kill "$SINK_PID"; wait "$SINK_PID" 2>/dev/null || true
cat "$WORK/sink.log"
