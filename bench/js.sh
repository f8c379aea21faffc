#!/usr/bin/env bash
# JS benchmark: the JS hello (tests/js/src/hello.ts, built with `pbs build`)
# side by side with the Rust hello component and the same hello built with
# ComponentizeJS (SpiderMonkey; the version examples/visits-js pins), all
# under `pbs serve`, and the ComponentizeJS and Rust hellos under `wasmtime
# serve` when a `wasmtime` binary is on PATH (or WASMTIME=path); wrk at
# concurrency 1 and 32; then the time from `pbs deploy` of a 1 MB bundle to
# its first response, and the memory of one instance; then functions with
# the OpenAI SDK, the Stripe SDK and the AI SDK in their heap, with the
# page faults each request takes.
#
#   bash bench/js.sh            # 10 s per run
#   DURATION=30 bash bench/js.sh
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
PBS=${PBS:-$PWD/target/release/pbs}  # PBS=path: another build
WASMTIME=${WASMTIME:-$(command -v wasmtime || true)}
RUST_HELLO=target/guests/wasm32-wasip2/release/hello.wasm
WORK=$(mktemp -d)
# Inside tests/js so esbuild and the npm packages resolve.
GEN=$(mktemp -d tests/js/.bench-XXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK" "$GEN"; }
trap cleanup EXIT
"$PBS" build tests/js/src/hello.ts -o "$WORK/js-hello.wasm"
# The same hello for ComponentizeJS: plain wasi:http (a world of
# wasi:http/proxy only), so that `wasmtime serve` runs it too.
mkdir -p "$WORK/cjs/wit"
ln -s "$PWD/wit/deps" "$WORK/cjs/wit/deps"
cat >"$WORK/cjs/wit/world.wit" <<'WIT'
package bench:hello;

world hello {
  include wasi:http/proxy@0.2.10;
}
WIT
cat >"$WORK/cjs/app.js" <<'JS'
addEventListener("fetch", (event) =>
  event.respondWith(new Response("hello from js\n", { headers: { "content-type": "text/plain" } })),
);
JS
CJS_VERSION=$(node -p 'require("./examples/visits-js/node_modules/@bytecodealliance/componentize-js/package.json").version')
(cd "$WORK/cjs" && "$OLDPWD/examples/visits-js/node_modules/.bin/componentize-js" app.js \
  --wit wit --world-name bench:hello/hello --out "$WORK/cjs-hello.wasm" >/dev/null)

declare -A URLS
ORDER=()
serve rust-hello 18201 "$PBS" serve "$RUST_HELLO"
# (Its log gives the instance's memory, below.)
PBS_LOG=pbs::invoke=debug SERVE_LOG=$WORK/js.log serve js-hello 18202 "$PBS" serve "$WORK/js-hello.wasm"
serve cjs-hello 18204 "$PBS" serve "$WORK/cjs-hello.wasm"
if [ -n "$WASMTIME" ]; then
  echo "wasmtime: $("$WASMTIME" --version)"
  serve rust-hello:wasmtime 18205 "$WASMTIME" serve -Scli "$RUST_HELLO"
  serve cjs-hello:wasmtime 18206 "$WASMTIME" serve -Scli "$WORK/cjs-hello.wasm"
else
  echo "wasmtime not on PATH: no wasmtime serve rows (cargo install wasmtime-cli --version 48.0.8 --locked)"
fi
for name in "${ORDER[@]}"; do wait_up "${URLS[$name]}" 120; done
run_wrk
print_table function
echo "(cjs-hello: ComponentizeJS $CJS_VERSION; \":wasmtime\": under wasmtime serve, the rest under pbs serve)"
for c in 1 32; do
  ratio js-hello rust-hello $c
  ratio js-hello cjs-hello $c
  ratio js-hello cjs-hello:wasmtime $c
done

# Memory of one JS hello instance (its linear memory, as the limiter counts it).
mem=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/js.log" | grep -o 'memory_bytes=[0-9]*' | tail -1 | cut -d= -f2)
echo "js-hello instance memory: $((mem / 1024)) KiB linear memory ($(stat -c %s "$WORK/js-hello.wasm") bytes component)"

# A 1 MB bundle: deploy (bundle + snapshot + upload + precompile), then the
# first request.
node -e '
  let s = "const table = [\n";
  for (let i = 0; i < 12000; i++) s += `  { id: ${i}, name: "item-${i}", tags: ["a${i % 7}", "b${i % 11}"], weight: ${(i * 0.37).toFixed(2)} },\n`;
  s += "];\n";
  for (let i = 0; i < 1500; i++) s += `export function f${i}(x: number): number { return table[(x + ${i}) % table.length].weight * ${i}; }\n`;
  s += "export default { fetch(req: Request) { return Response.json({ n: table.length, v: f42(1) }); } };\n";
  require("fs").writeFileSync(process.argv[1], s);
' "$GEN/big.ts"
PB_ADMIN_TOKEN=bench "$PBS" serve --addr 127.0.0.1:18203 --dir "$WORK/pb_data" >/dev/null 2>&1 & PIDS+=($!)
wait_up http://127.0.0.1:18203/api/health
t0=$(date +%s%N)
PB_ADMIN_TOKEN=bench "$PBS" deploy "$GEN/big.ts" --name big --server http://127.0.0.1:18203 >"$WORK/deploy.out"
t1=$(date +%s%N)
first=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' http://127.0.0.1:18203/api/pb_serverless/big)
t2=$(date +%s%N)
echo "1 MB bundle: pbs deploy took $(( (t1 - t0) / 1000000 )) ms; first response $(echo "$first" | awk '{printf "%s in %.1f ms", $1, $2*1000}') after deploy; deploy → first response $(( (t2 - t0) / 1000000 )) ms"
PB_ADMIN_TOKEN=bench "$PBS" build "$GEN/big.ts" -o "$WORK/big.wasm" | sed 's/^/  /'

# Functions with an SDK in their heap: each answers a GET with a small JSON
# (no call goes out), so what is measured is the engine's cost per request
# for a heap of that size, and the page faults each request takes ("image
# KiB": the instance's memory snapshot, data and heap).
cat >"$GEN/openai-hello.ts" <<'TS'
import OpenAI from "openai";
const client = new OpenAI({ apiKey: "sk-bench", baseURL: "http://127.0.0.1:9/v1" });
export default { fetch() { return Response.json({ sdk: "openai", chat: typeof client.chat.completions.create }); } };
TS
cat >"$GEN/stripe-hello.ts" <<'TS'
import Stripe from "stripe";
const stripe = new Stripe("sk_test_bench", { httpClient: Stripe.createFetchHttpClient() });
export default { fetch() { return Response.json({ sdk: "stripe", webhooks: typeof stripe.webhooks.constructEventAsync }); } };
TS
cat >"$GEN/ai-hello.ts" <<'TS'
import { streamText } from "ai";
import { createOpenAI } from "@ai-sdk/openai";
const model = createOpenAI({ apiKey: "sk-bench", baseURL: "http://127.0.0.1:9/v1" }).chat("gpt-bench");
export default { fetch() { return Response.json({ sdk: "ai", model: model.modelId, stream: typeof streamText }); } };
TS
URLS=(); ORDER=()
port=18210
for name in openai-hello stripe-hello ai-hello; do
  port=$((port + 1))
  "$PBS" build "$GEN/$name.ts" -o "$WORK/$name.wasm" >/dev/null
  PBS_LOG=info,pbs::invocation=warn serve "$name" $port "$PBS" serve "$WORK/$name.wasm"
done
for name in "${ORDER[@]}"; do wait_up "${URLS[$name]}"; done
run_wrk
print_table "SDK bundle"
echo
printf "%-16s %14s %12s\n" "SDK bundle" "faults/request" "image KiB"
for name in "${ORDER[@]}"; do
  pid=${PID[$name]}
  read -r faults _ < <(faults_per_request "$pid" "${URLS[$name]}")
  range=$(awk '/memfd:wasm-memory-image/ { print $1; exit }' "/proc/$pid/maps")
  mem="?"
  [ -n "$range" ] && mem=$(( (0x${range#*-} - 0x${range%-*}) / 1024 ))
  printf "%-16s %14s %12s\n" "$name" "$faults" "$mem"
done
