#!/usr/bin/env bash
# Save-to-serving time of `pbs dev`: a project from `pbs init`, `pbs dev`
# running, then N edits (default 20) of its function, each timed from the
# file's write to the first response that carries the edit (curl every
# 20 ms). Two projects: the hello template, and the ai-chat template (its
# bundle carries the AI SDK, ~1.8 MB) with a GET handler added to read the
# edit back. Each edit rewrites a PUT handler that answers the edit's
# marker. Prints p50 and max per project.
#   bash bench/dev.sh                    # target/release/pbs
#   PBS=/other/pbs N=10 bash bench/dev.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PBS=${PBS:-$PWD/target/release/pbs}
N=${N:-20}
PORT=${PORT:-18792}
[ -x "$PBS" ] || { echo "no $PBS: cargo build --release -p pb-serverless" >&2; exit 1; }
WORK=$(mktemp -d)
DEV=
trap '[ -n "$DEV" ] && kill -INT $DEV 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"' EXIT

now_ms() { date +%s%3N; }

HANDLER='export async function PUT() { return new Response("MARK"); }'

# $1 template, $2 its entry file, $3 its function.
run() {
  local template=$1 entry=$2 handler=$HANDLER dir="$WORK/$1"
  "$PBS" init "$dir" --template "$template" >/dev/null
  (cd "$dir" && npm install --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null)
  cp "$dir/$entry" "$dir/$entry.orig"
  mark() { { cat "$dir/$entry.orig"; echo "${handler//MARK/$1}"; } >"$dir/$entry.tmp"; mv "$dir/$entry.tmp" "$dir/$entry"; }
  mark "edit-0"
  (cd "$dir" && exec "$PBS" dev --addr "127.0.0.1:$PORT" >"$WORK/$template.out" 2>"$WORK/$template.err") &
  DEV=$!
  local url="http://127.0.0.1:$PORT/api/pb_serverless/$3"
  for _ in $(seq 1200); do curl -sf -X PUT "$url" 2>/dev/null | grep -q "edit-0" && break; sleep 0.1; done
  curl -sf -X PUT "$url" | grep -q "edit-0" || { echo "$template: never served"; cat "$WORK/$template.out"; exit 1; }
  local times=()
  for i in $(seq "$N"); do
    sleep 0.3
    local start; start=$(now_ms)
    mark "edit-$i"
    until curl -sf -X PUT "$url" 2>/dev/null | grep -q "edit-$i\b"; do
      sleep 0.02
      [ $(( $(now_ms) - start )) -lt 120000 ] || { echo "$template: edit $i not served"; tail "$WORK/$template.out"; exit 1; }
    done
    times+=($(( $(now_ms) - start )))
  done
  kill -INT $DEV; wait $DEV || true; DEV=
  printf '%s\n' "${times[@]}" | sort -n | awk -v t="$template" -v n="$N" '
    { v[NR] = $1 } END { printf "%-8s  edits %3d   p50 %6.3f s   max %6.3f s\n", t, n, v[int((NR + 1) / 2)] / 1000, v[NR] / 1000 }'
}

run hello src/index.ts hello
run ai-chat src/chat.ts chat   # the bundle keeps the AI SDK: POST uses it
