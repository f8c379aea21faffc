#!/usr/bin/env bash
# Noisy neighbour: a quiet tenant (the Rust hello, one client: wrk -c1)
# while other clients loop a JS CPU burner (~50 ms of JS per request) on
# another function of the same host. Prints the quiet tenant's req/s,
# p50 and p99 alone and next to 1, 2 and 4 burner clients, in one run.
#   bash bench/noisy.sh                 # target/release/pbs, 5 s per phase
#   PBS=/other/pbs DURATION=10 bash bench/noisy.sh
#   BURNERS="4 4 4" bash bench/noisy.sh  # one setting, three times
# Then the machine's floor: the same quiet tenant next to as many plain
# busy loops outside pbs at the kernel's lowest priority (SCHED_IDLE),
# which any other work preempts at once: what is left of the tail there
# comes from the machine (clients, kernel, VM), not from the host.
#   FLOOR="" bash bench/noisy.sh        # skip it
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${DURATION:-5}
PBS=${PBS:-$PWD/target/release/pbs}
PORT=${PORT:-18131}
HELLO=target/guests/wasm32-wasip2/release/hello.wasm
[ -x "$PBS" ] || { echo "no $PBS: cargo build --release -p pb-serverless" >&2; exit 1; }
[ -f "$HELLO" ] || cargo build --release --target wasm32-wasip2 \
  --manifest-path tests/guests/Cargo.toml --target-dir target/guests 2>&1 | tail -1
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

# A project of its own, for its esbuild.
"$PBS" init "$WORK/proj" --template hello >/dev/null
(cd "$WORK/proj" && npm install --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null)
cat >"$WORK/proj/src/burn.js" <<'JS'
export async function GET() {
  let x = 0;
  for (let i = 0; i < 6e5; i++) x = (x * 31 + i) % 1000003;
  return new Response(String(x));
}
JS
SERVER=http://127.0.0.1:$PORT
PB_ADMIN_TOKEN=bench "$PBS" serve --addr "127.0.0.1:$PORT" --dir "$WORK/pb_data" >"$WORK/log" 2>&1 & PIDS+=($!)
wait_up "$SERVER/api/health"
PB_ADMIN_TOKEN=bench "$PBS" deploy "$HELLO" --name hello --server "$SERVER" >/dev/null
PB_ADMIN_TOKEN=bench "$PBS" deploy "$WORK/proj/src/burn.js" --name burn --server "$SERVER" >/dev/null
wait_up "$SERVER/api/pb_serverless/hello"
wait_up "$SERVER/api/pb_serverless/burn"
start=$(date +%s%N); curl -sf -o /dev/null "$SERVER/api/pb_serverless/burn"
echo "one burner request: $(( ($(date +%s%N) - start) / 1000000 )) ms; load average $(cut -d' ' -f1-3 /proc/loadavg)"

printf "%-10s %10s %10s %10s %14s\n" burners "req/s" "p50 ms" "p99 ms" "burner req/s"
for burners in ${BURNERS:-0 1 2 4}; do
  burn=
  if [ "$burners" -gt 0 ]; then
    # wrk rather than a curl loop: a process spawned per request would
    # itself take a share of the cores.
    wrk -t1 -c"$burners" -d"$((DURATION + 1))s" "$SERVER/api/pb_serverless/burn" >"$WORK/burn.$burners" & burn=$!
    sleep 0.5
  fi
  out=$(wrk -t1 -c1 -d"${DURATION}s" --latency "$SERVER/api/pb_serverless/hello")
  burned=0
  if [ -n "$burn" ]; then
    wait "$burn"
    burned=$(awk '/Requests\/sec/ {print $2}' "$WORK/burn.$burners")
  fi
  printf "%-10s %10s %10s %10s %14s\n" "$burners" \
    "$(echo "$out" | awk '/Requests\/sec/ {print $2}')" \
    "$(to_ms "$(echo "$out" | awk '$1=="50%" {print $2}')")" \
    "$(to_ms "$(echo "$out" | awk '$1=="99%" {print $2}')")" \
    "$burned"
done

[ -n "${FLOOR-${BURNERS:-0 1 2 4}}" ] || exit 0
command -v chrt >/dev/null || { echo "(no chrt: the floor is skipped)"; exit 0; }
echo
echo "the floor: plain busy loops outside pbs at SCHED_IDLE instead of burner clients"
printf "%-10s %10s %10s %10s\n" loops "req/s" "p50 ms" "p99 ms"
for loops in ${FLOOR-${BURNERS:-0 1 2 4}}; do
  spun=()
  for _ in $(seq "$loops"); do
    chrt --idle 0 sh -c 'while :; do :; done' & spun+=($!)
  done
  [ "$loops" -gt 0 ] && sleep 0.5
  out=$(wrk -t1 -c1 -d"${DURATION}s" --latency "$SERVER/api/pb_serverless/hello")
  for p in "${spun[@]}"; do kill "$p" 2>/dev/null || true; done
  printf "%-10s %10s %10s %10s\n" "$loops" \
    "$(echo "$out" | awk '/Requests\/sec/ {print $2}')" \
    "$(to_ms "$(echo "$out" | awk '$1=="50%" {print $2}')")" \
    "$(to_ms "$(echo "$out" | awk '$1=="99%" {print $2}')")"
done
