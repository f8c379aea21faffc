#!/usr/bin/env bash
# Tracing cost in CPU instructions, a measure this noisy 2-core machine
# cannot disturb: the Rust hello component under `pbs serve` in valgrind's
# callgrind, tracing off, on (bench/otlp_sink.py on loopback) and on with
# the collector down. Each server gets 300 requests to warm up, then its
# counters are zeroed, then N requests on one keep-alive connection (and a
# few seconds for the exporter's timer round to send what is queued); the
# instructions the host ran in that time, all threads, divided by N.
# Callgrind counts user-space instructions only: the kernel's share of
# sending batches is not in it (bench/otel.sh has the host's CPU time).
#
#   bash bench/otel-instructions.sh          # N=2000
#   N=5000 bash bench/otel-instructions.sh
#   PBS=/path/to/an/older/pbs bash bench/otel-instructions.sh   # another build
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
N=${N:-2000}
bash scripts/setup.sh --bench >/dev/null
command -v valgrind >/dev/null || { SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo; $SUDO apt-get install -y valgrind >/dev/null; }

echo "==> building (release)"
cargo build --release --locked -p pb-serverless 2>&1 | tail -1
cargo build --release --locked --target wasm32-wasip2 \
  --manifest-path tests/guests/Cargo.toml --target-dir target/guests 2>&1 | tail -1
PBS=${PBS:-$PWD/target/release/pbs}
RUST_HELLO=target/guests/wasm32-wasip2/release/hello.wasm
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

SINK=18330
python3 bench/otlp_sink.py $SINK >"$WORK/sink.log" 2>&1 & PIDS+=($!)

# requests PORT COUNT: COUNT GETs on one keep-alive connection.
requests() {
  python3 - "$1" "$2" <<'EOF'
import http.client, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=120)
for _ in range(int(sys.argv[2])):
    conn.request("GET", "/?name=bench")
    r = conn.getresponse(); r.read()
    assert r.status == 200, r.status
EOF
}

declare -A IR
port=18340
for mode in off on down; do
  port=$((port + 1))
  case $mode in
    off) endpoint= ;;
    on) endpoint=http://127.0.0.1:$SINK ;;
    down) endpoint=http://127.0.0.1:18331 ;; # nothing listens there
  esac
  # The pool's address-space reservation is sized by --max-instances;
  # valgrind cannot map the default's terabytes.
  OTEL_EXPORTER_OTLP_ENDPOINT=$endpoint OTEL_METRICS_EXPORTER=none \
    valgrind --tool=callgrind --callgrind-out-file="$WORK/$mode.out" \
    "$PBS" serve "$RUST_HELLO" --addr 127.0.0.1:$port --max-instances 4 \
    >"$WORK/$mode.log" 2>&1 & vg=$!; PIDS+=($vg)
  wait_up http://127.0.0.1:$port/ 300
  requests $port 300
  callgrind_control -z $vg >/dev/null 2>&1
  requests $port "$N"
  sleep 3
  callgrind_control -d $vg >/dev/null 2>&1
  kill $vg; wait $vg 2>/dev/null || true
  IR[$mode]=$(callgrind_annotate "$WORK/$mode.out.1" | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
done

printf "%-10s %18s\n" mode "instructions/req"
for mode in off on down; do
  awk -v m=$mode -v ir="${IR[$mode]}" -v n="$N" 'BEGIN{ printf "%-10s %18.0f\n", "rust-" m, ir / n }'
done
awk -v on="${IR[on]}" -v down="${IR[down]}" -v off="${IR[off]}" \
  'BEGIN{ printf "rust-hello c=1: instructions per request, tracing on / off %.3f, collector down / off %.3f\n", on/off, down/off }'
