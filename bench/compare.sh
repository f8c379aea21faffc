#!/usr/bin/env bash
# Two builds of `pbs` side by side, in one run: the Rust hello under `pbs
# serve COMPONENT` and under the full host, and the JS hello
# (tests/js/src/hello.ts), each served by build A and build B, measured
# interleaved (A, B, A, B …) with wrk at concurrency 1 and 32, so that both
# see the same machine. For "did this change make it slower?":
#
#   bash bench/compare.sh /tmp/pbs-before target/release/pbs
#   ROUNDS=3 DURATION=5 bash bench/compare.sh A B
#   HELLO=/old/hello.wasm bash bench/compare.sh A B
#
# Prints requests/s, p50/p99 and the server's CPU time per request per
# round, and the median B/A ratios of throughput and of CPU per request
# (the steadier figure when the machine is busy), with the load average.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
A=$(realpath "$1")
B=$(realpath "$2")
DURATION=${DURATION:-5}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
bash scripts/setup.sh --bench >/dev/null
cargo build --release --locked --target wasm32-wasip2 \
  --manifest-path tests/guests/Cargo.toml --target-dir target/guests 2>&1 | tail -1
# HELLO=path: another build of the Rust hello (one both builds accept,
# e.g. an older one when A predates a WASI version change).
HELLO=${HELLO:-$PWD/target/guests/wasm32-wasip2/release/hello.wasm}
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

port=18400
declare -A URLS
ORDER=()
for side in A B; do
  bin=${!side}
  "$bin" build tests/js/src/hello.ts -o "$WORK/js-$side.wasm" >/dev/null
  "$bin" serve "$HELLO" --addr 127.0.0.1:$port >/dev/null 2>&1 & PIDS+=($!)
  PID[rust-serve-$side]=$!
  URLS[rust-serve-$side]=http://127.0.0.1:$port/
  port=$((port + 1))
  PB_ADMIN_TOKEN=bench "$bin" serve --addr 127.0.0.1:$port --dir "$WORK/pb_data_$side" >/dev/null 2>&1 & PIDS+=($!)
  PID[rust-host-$side]=$!
  wait_up http://127.0.0.1:$port/api/health
  PB_ADMIN_TOKEN=bench "$bin" deploy "$HELLO" --name hello --server http://127.0.0.1:$port >/dev/null
  URLS[rust-host-$side]=http://127.0.0.1:$port/api/pb_serverless/hello
  port=$((port + 1))
  "$bin" serve "$WORK/js-$side.wasm" --addr 127.0.0.1:$port >/dev/null 2>&1 & PIDS+=($!)
  PID[js-serve-$side]=$!
  URLS[js-serve-$side]=http://127.0.0.1:$port/
  port=$((port + 1))
done
for name in "${!URLS[@]}"; do wait_up "${URLS[$name]}"; done

echo "A = $A"
echo "B = $B"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A RATIOS CPU_RATIOS
for round in $(seq "$ROUNDS"); do
  ORDER=()
  for row in rust-serve rust-host js-serve; do ORDER+=("$row-A" "$row-B"); done
  run_wrk
  echo
  echo "round $round (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  print_table server
  for row in rust-serve rust-host js-serve; do
    for c in 1 32; do
      RATIOS[$row,$c]+="$(awk -v a="${RPS[$row-A,$c]}" -v b="${RPS[$row-B,$c]}" 'BEGIN{printf "%.3f", b/a}') "
      CPU_RATIOS[$row,$c]+="$(awk -v a="${CPU[$row-A,$c]}" -v b="${CPU[$row-B,$c]}" 'BEGIN{printf "%.3f", b/a}') "
    done
  done
done
echo
median() { tr ' ' '\n' | grep . | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }
echo "median B/A over $ROUNDS rounds (throughput: above 1 is faster; CPU per request: below 1 is cheaper):"
printf "%-12s %-6s %11s %14s\n" row conc throughput "cpu/request"
for row in rust-serve rust-host js-serve; do
  for c in 1 32; do
    printf "%-12s c=%-4s %11s %14s\n" "$row" "$c" \
      "$(echo "${RATIOS[$row,$c]}" | median)" "$(echo "${CPU_RATIOS[$row,$c]}" | median)"
  done
done
