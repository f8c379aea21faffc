#!/usr/bin/env bash
# Memory of a host across redeploys: `pbs serve` on SQLite, then N deploys
# (default 24) of one small TypeScript function, each a new version (what
# `pbs dev` does all day), each followed by a request; the server's RSS
# (ps -o rss) after each. Compare binaries with PBS=path/to/pbs.
#   bash bench/redeploy-rss.sh            # target/release/pbs, 24 deploys
#   PBS=/other/pbs N=48 bash bench/redeploy-rss.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
PBS=${PBS:-$PWD/target/release/pbs}
N=${N:-24}
PORT=${PORT:-18791}
[ -x "$PBS" ] || { echo "no $PBS: cargo build --release -p pb-serverless" >&2; exit 1; }
[ -d examples/hello-ts/node_modules ] || npm ci --prefix examples/hello-ts --no-audit --no-fund --loglevel=error

WORK=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/project/src"
ln -s "$PWD/examples/hello-ts/node_modules" "$WORK/project/node_modules"
"$PBS" serve --dir "$WORK/data" --addr "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1 &
SERVER=$!
wait_up "http://127.0.0.1:$PORT/api/health"
rss() { ps -o rss= -p "$SERVER" | awk '{printf "%.1f", $1/1024}'; }
echo "idle: $(rss) MB"
printf "%7s %10s %10s\n" deploy "deploy s" "RSS MB"
for i in $(seq "$N"); do
  cat >"$WORK/project/src/small.ts" <<TS
const VERSION = $i;
export async function GET(req: Request): Promise<Response> {
  const name = new URL(req.url).searchParams.get("name") ?? "world";
  return Response.json({ message: \`Hello, \${name}!\`, version: VERSION });
}
TS
  start=$(date +%s.%N)
  "$PBS" deploy "$WORK/project/src/small.ts" --name small --server "http://127.0.0.1:$PORT" \
    --dir "$WORK/data" >/dev/null
  took=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { print e - s }')
  got=$(curl -sf "http://127.0.0.1:$PORT/api/pb_serverless/small")
  case "$got" in *"\"version\":$i}"*) ;; *) echo "deploy $i not served: $got" >&2; exit 1;; esac
  sleep 1.5   # the registry's refresh (1 s) drops the previous version's compiled code
  printf "%7s %10.2f %10s\n" "$i" "$took" "$(rss)"
done
