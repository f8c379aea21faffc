#!/usr/bin/env bash
# Builds pb-serverless, starts `pbs serve` on SQLite (./pb_data) and deploys
# the examples (a Rust component and the TypeScript project). Extra
# arguments go to `pbs serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add wasm32-wasip2 >/dev/null
bash scripts/wasi-sdk.sh   # the C compiler QuickJS (the embedded JS engine) is built with
# The engine's `pb` global is TypeScript, type-checked and bundled by the
# build (host/build.rs): it needs its npm packages (typescript, esbuild).
npm ci --prefix guest-js/ts --no-audit --no-fund --loglevel=error
echo "==> building pbs (release) and the example"
# Cargo's target folder (`CARGO_TARGET_DIR` moves it).
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release --locked -p pb-serverless
cargo build --release --locked --target wasm32-wasip2 \
  --manifest-path examples/Cargo.toml --target-dir "$TARGET/examples"
PBS=$TARGET/release/pbs
ADDR=127.0.0.1:8090
"$PBS" serve --addr "$ADDR" "$@" &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 100); do
  curl -sf "http://$ADDR/api/health" >/dev/null 2>&1 && break
  sleep 0.1
done
"$PBS" deploy "$TARGET/examples/wasm32-wasip2/release/hello.wasm" --name hello --server "http://$ADDR"
# The TypeScript example project (examples/hello-ts/pb_serverless.json): its
# functions bundled with its own esbuild and snapshotted, its collection,
# job consumer, cron schedule and record hook.
npm ci --prefix examples/hello-ts --no-audit --no-fund --loglevel=error
"$PBS" deploy examples/hello-ts --server "http://$ADDR"
echo
echo "Try:  curl 'http://$ADDR/api/pb_serverless/hello?name=you'"
echo "      curl 'http://$ADDR/api/pb_serverless/hello-ts?name=you'"
echo "      curl -N -d 'one two three' 'http://$ADDR/api/pb_serverless/hello-ts'"
echo "      curl -d '{\"text\": \"buy oat milk and coffee\"}' 'http://$ADDR/api/pb_serverless/notes'"
echo "      curl 'http://$ADDR/api/pb_serverless/notes?q=coffee'"
echo "      curl -d '{\"text\": \"  tidied   by   a   hook  \"}' 'http://$ADDR/api/pb_serverless/notes'   # the tidy_note hook"
echo "      curl 'http://$ADDR/api/collections/notes/records?sort=-created'"
echo "Stop: Ctrl-C"
wait $PID
