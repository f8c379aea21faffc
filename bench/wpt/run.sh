#!/usr/bin/env bash
# web-platform-tests against the JS engine. The suite stays outside this
# repository: pass the path of a checkout (https://github.com/web-platform-tests/wpt).
#
#   bash bench/wpt/run.sh /path/to/wpt                 # the directories below
#   bash bench/wpt/run.sh /path/to/wpt url streams     # some of them
#   PBS=target/debug/pbs bash bench/wpt/run.sh …      # an already built pbs
#
# Every `*.any.js` test of the directories (with its `META: script=`
# dependencies and resources/testharness.js) goes into a function built with
# `pbs build` and served alone with `pbs serve`; each test file then runs in
# its own fresh instance (one request each). A static file server over the
# checkout answers the tests' fetches of their resources; WPT's own server
# (wptserve, with its Python handlers) is not run, so tests needing it fail.
# All directories go into one function (one component to compile). Prints,
# per directory: test files, files whose harness completed, subtests passed
# of subtests run.
set -euo pipefail
[ $# -ge 1 ] || { sed -n 2,15p "$0"; exit 2; }
WPT=$(cd "$1" && pwd); shift
cd "$(dirname "$0")/../.."
source bench/lib.sh
DIRS=("$@")
[ ${#DIRS[@]} -gt 0 ] || DIRS=(url encoding streams fetch/api/headers fetch/api/request fetch/api/response
  fetch/api/body FileAPI/blob WebCryptoAPI compression urlpattern html/webappapis/structured-clone
  dom/events dom/abort hr-time)
JOBS=${JOBS:-2}

if [ -z "${PBS:-}" ]; then
  echo "==> building pbs (release)" >&2
  cargo build --release --locked -p pb-serverless 2>&1 | tail -1 >&2
  PBS=$PWD/target/release/pbs
fi
# Inside tests/js so that `pbs build` finds esbuild.
WORK=$(mktemp -d tests/js/.wpt-XXXX)
RESULTS=${RESULTS:-$WORK/results}
mkdir -p "$RESULTS"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK/entries"; }
trap cleanup EXIT

STATIC_PORT=${STATIC_PORT:-18301}
SERVE_PORT=${SERVE_PORT:-18302}
python3 -m http.server "$STATIC_PORT" --bind 127.0.0.1 --directory "$WPT" >/dev/null 2>&1 & PIDS+=($!)
wait_up "http://127.0.0.1:$STATIC_PORT/resources/testharness.js"
mkdir -p "$WORK/entries"

entry="$WORK/entries/wpt.js"
count=$(node bench/wpt/prepare.mjs "$WPT" "$entry" "${DIRS[@]}")
echo "==> $count test files in ${#DIRS[@]} directories; building" >&2
"$PBS" build "$entry" -o "$WORK/entries/wpt.wasm" >/dev/null
"$PBS" serve "$WORK/entries/wpt.wasm" --addr "127.0.0.1:$SERVE_PORT" --timeout 60 --max-duration 60 \
  --allow-host "127.0.0.1:$STATIC_PORT" >"$WORK/entries/serve.log" 2>&1 &
PIDS+=($!)
# Compiling a large component can take minutes on a busy machine.
for _ in $(seq 3000); do curl -sf -o /dev/null "http://127.0.0.1:$SERVE_PORT/" && break; sleep 0.2; done
curl -sf -o /dev/null "http://127.0.0.1:$SERVE_PORT/" || { echo "pbs serve did not start:"; cat "$WORK/entries/serve.log"; exit 1; }
echo "==> running" >&2
curl -s "http://127.0.0.1:$SERVE_PORT/" >"$RESULTS/tests.json"
seq 0 $((count - 1)) | xargs -P "$JOBS" -I{} sh -c \
  "curl -s -m 70 -o '$RESULTS/{}.json' 'http://127.0.0.1:$SERVE_PORT/?test={}&base=http://127.0.0.1:$STATIC_PORT' || true"

echo
echo "web-platform-tests: $(cat "$WPT/PROVENANCE.txt" 2>/dev/null || git -C "$WPT" log -1 --format='%H %cs' 2>/dev/null || echo "$WPT")"
node bench/wpt/summarize.mjs "$RESULTS" "${DIRS[@]}"
echo "(results per test file: $RESULTS)"
