#!/usr/bin/env bash
# WebCrypto speed inside a function next to Node on the same machine:
# HMAC-SHA256 of 1 KiB, ES256 (ECDSA P-256 + SHA-256) verify, and SHA-256 of
# 1 KiB, N operations in a loop on crypto.subtle (bench/webcrypto/ops.js, the
# same code in both), timed with performance.now() inside the engine and
# inside Node. One request runs the whole loop in one instance.
#
#   bash bench/webcrypto.sh            # N=20000 (ES256: N/10)
#   N=50000 bash bench/webcrypto.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
N=${N:-20000}
bash scripts/setup.sh --bench >/dev/null

echo "==> building (release)"
cargo build --release --locked -p pb-serverless 2>&1 | tail -1
PBS=$PWD/target/release/pbs
# Inside tests/js so esbuild resolves.
GEN=$(mktemp -d tests/js/.bench-XXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$GEN"; }
trap cleanup EXIT
cat >"$GEN/function.js" <<'JS'
import { run } from "../../../bench/webcrypto/ops.js";
export async function GET(req) {
  const params = new URL(req.url).searchParams;
  return Response.json(await run(params.get("op"), Number(params.get("n"))));
}
JS
"$PBS" build "$GEN/function.js" -o "$GEN/bench.wasm" >/dev/null
"$PBS" serve "$GEN/bench.wasm" --addr 127.0.0.1:18211 --timeout 300 --max-duration 300 >/dev/null 2>&1 & PIDS+=($!)
# Compiling the component can take a while on a busy machine.
for _ in $(seq 1500); do curl -sf -o /dev/null "http://127.0.0.1:18211/?op=sha256-1k&n=1" && break; sleep 0.2; done

printf "\n%-16s %8s %14s %14s %8s\n" operation n "engine ops/s" "node ops/s" "engine/node"
for op in hmac-sha256-1k es256-verify sha256-1k; do
  n=$N; [ "$op" = es256-verify ] && n=$((N / 10))
  ours=$(curl -s "http://127.0.0.1:18211/?op=$op&n=$n" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).perSecond))')
  node_rate=$(node bench/webcrypto/node.mjs "$op" "$n" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).perSecond))')
  awk -v op="$op" -v n="$n" -v a="$ours" -v b="$node_rate" 'BEGIN{ printf "%-16s %8d %14d %14d %8.2f\n", op, n, a, b, a/b }'
done
echo "(node $(node --version); engine: QuickJS + RustCrypto in wasm32-wasip2 under wasmtime)"
