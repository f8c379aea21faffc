#!/usr/bin/env bash
# Per-language benchmark: the same functions written with each toolchain,
# deployed on one `pbs serve` host (SQLite), wrk at concurrency 1 and 32.
#
#   hello   a plain answer, no host call: Rust (wit-bindgen, the `hello`
#           test component), Rust with pb-sdk, TypeScript on pb-serverless's
#           engine (`pbs build`), JavaScript with ComponentizeJS, Python with
#           componentize-py (the `…/hello` path of the visits examples).
#   visits  the visits examples (examples/visits-*): pb:kv incr, a pb:data
#           create and a pb:data list per request; the TypeScript one is the
#           same function with the `pb` API.
#
# Also prints each component's size, build time and deploy time (compile).
#
#   bash bench/langs.sh                 # 10 s per run
#   DURATION=30 bash bench/langs.sh
#   ONLY=python bash bench/langs.sh     # only the rows whose name contains it
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
DURATION=${DURATION:-10}
THREADS=${THREADS:-2}
ONLY=${ONLY:-}
bash scripts/setup.sh --bench >/dev/null

echo "==> building (release)"
cargo build --release --locked -p pb-serverless 2>&1 | tail -1
cargo build --release --locked --target wasm32-wasip2 \
  --manifest-path tests/guests/Cargo.toml --target-dir target/guests -p hello 2>&1 | tail -1
PBS=$PWD/target/release/pbs
WORK=$(mktemp -d)
GEN=$(mktemp -d tests/js/.bench-XXXX)
PIDS=()
cleanup() {
  local status=$?
  # On a failure, what the host logged about it.
  [ "$status" = 0 ] || sed 's/\x1b\[[0-9;]*m//g' "$WORK/host.log" 2>/dev/null | grep -E "WARN|ERROR" | tail -5
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK" "$GEN"
}
trap cleanup EXIT

declare -A SIZE BUILD DEPLOY
# timed NAME DIR CMD…: runs CMD in DIR, records its wall time in BUILD[NAME].
timed() {
  local name=$1 dir=$2; shift 2
  local t0; t0=$(date +%s%N)
  (cd "$dir" && "$@") >"$WORK/build-$name.log" 2>&1 || { cat "$WORK/build-$name.log"; exit 1; }
  BUILD[$name]=$(awk -v d=$(( $(date +%s%N) - t0 )) 'BEGIN{printf "%.1f", d/1e9}')
}
export PYTHONDONTWRITEBYTECODE=1

echo "==> building the functions (each with the command of its README)"
timed rust-sdk examples cargo build --release --locked --target wasm32-wasip2 \
  --target-dir ../target/examples -p visits-rust
cp target/examples/wasm32-wasip2/release/visits_rust.wasm "$WORK/visits-rust.wasm"
cp target/guests/wasm32-wasip2/release/hello.wasm "$WORK/hello-rust.wasm"
timed python examples/visits-python componentize-py -d ../../wit -w pb:serverless/http-function@0.1.0 \
  componentize app -p . -p ../../sdk-python -o "$WORK/visits-python.wasm"
timed componentize-js examples/visits-js npm run --silent build -- --out "$WORK/visits-js.wasm"
cp tests/js/src/hello.ts "$GEN/hello.ts"
cat >"$GEN/visits.ts" <<'EOF'
// examples/visits-* on pb-serverless's own JS engine, with the `pb` API.
export default {
  async fetch(req: Request): Promise<Response> {
    const url = new URL(req.url);
    if (url.pathname.endsWith("/hello")) return new Response("hello from ts\n");
    const who = url.searchParams.get("who") ?? "anonymous";
    if (!/^[A-Za-z0-9_-]{1,40}$/.test(who)) return Response.json({ status: 400, message: "bad `who`" }, { status: 400 });
    const n = await pb.kv.incr(`visits:${who}`);
    const visits = pb.collection("visits");
    const record = await visits.create({ who, n, lang: "ts" });
    const page = await visits.getList(1, 1, { filter: `who = "${who}" && lang = "ts"` });
    return Response.json({ lang: "ts", who, n, id: record.id, visits: page.totalItems });
  },
};
EOF
timed ts . "$PBS" build "$GEN/visits.ts" -o "$WORK/visits-ts.wasm"
"$PBS" build "$GEN/hello.ts" -o "$WORK/hello-ts.wasm" >/dev/null

# A free port: the machine may be shared.
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
HOST=http://127.0.0.1:$PORT
PBS_LOG=warn PB_ADMIN_TOKEN=bench "$PBS" serve --addr 127.0.0.1:$PORT --dir "$WORK/pb_data" >"$WORK/host.log" 2>&1 & PIDS+=($!)
wait_up $HOST/api/health || { cat "$WORK/host.log"; exit 1; }
# deploy NAME WASM: a project with the visits collection and one function.
deploy() {
  mkdir -p "$WORK/p-$1"
  sed "s#\"component\": \"[^\"]*\"#\"component\": \"$2\"#; s#\"visits-[a-z]*\"#\"$1\"#" \
    examples/visits-python/pb_serverless.json >"$WORK/p-$1/pb_serverless.json"
  local t0; t0=$(date +%s%N)
  PB_ADMIN_TOKEN=bench "$PBS" deploy "$WORK/p-$1" --server $HOST >/dev/null
  DEPLOY[$1]=$(awk -v d=$(( $(date +%s%N) - t0 )) 'BEGIN{printf "%.1f", d/1e9}')
  SIZE[$1]=$(stat -c %s "$2")
}
deploy rust "$WORK/hello-rust.wasm"
deploy rust-sdk "$WORK/visits-rust.wasm"
deploy ts "$WORK/visits-ts.wasm"
deploy ts-hello "$WORK/hello-ts.wasm"
deploy componentize-js "$WORK/visits-js.wasm"
deploy python "$WORK/visits-python.wasm"
BUILD[rust]=-; BUILD[ts-hello]=-

F=$HOST/api/pb_serverless
declare -A URLS=(
  [hello:rust]=$F/rust/hello
  [hello:rust-sdk]=$F/rust-sdk/hello
  [hello:ts]=$F/ts-hello/hello
  [hello:componentize-js]=$F/componentize-js/hello
  [hello:python]=$F/python/hello
  [visits:rust-sdk]="$F/rust-sdk?who=bench"
  [visits:ts]="$F/ts?who=bench"
  [visits:componentize-js]="$F/componentize-js?who=bench"
  [visits:python]="$F/python?who=bench"
)
ORDER=()
for name in hello:rust hello:rust-sdk hello:ts hello:componentize-js hello:python \
            visits:rust-sdk visits:ts visits:componentize-js visits:python; do
  [[ -z "$ONLY" || "$name" == *"$ONLY"* ]] || continue
  curl -sf -o /dev/null "${URLS[$name]}" || { echo "$name: ${URLS[$name]} fails"; curl -s "${URLS[$name]}"; exit 1; }
  ORDER+=("$name")
done

run_wrk
print_table function

echo
printf "%-16s %12s %10s %10s\n" toolchain "bytes" "build s" "deploy s"
for t in rust rust-sdk ts componentize-js python; do
  printf "%-16s %12s %10s %10s\n" "$t" "${SIZE[$t]}" "${BUILD[$t]}" "${DEPLOY[$t]}"
done
echo "(rust = tests/guests/hello, built with the test components; ts = pbs build, bundle + snapshot)"
