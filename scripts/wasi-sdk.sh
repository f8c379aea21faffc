#!/usr/bin/env bash
# QuickJS (inside the `javy` crate, via rquickjs-sys) is C, so building
# guest-js for wasm32 needs a C compiler for WebAssembly. rquickjs-sys would
# download a WASI SDK when WASI_SDK is unset; that download is not possible
# everywhere, so we assemble an equivalent folder from Debian packages in
# target/wasi-sdk (.cargo/config.toml points WASI_SDK there). Safe to rerun.
set -euo pipefail
cd "$(dirname "$0")/.."
SDK="$PWD/target/wasi-sdk"
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
PKGS="clang-16 lld-16 llvm-16 wasi-libc libclang-rt-16-dev-wasm32 libclang-16-dev"

if ! dpkg -s $PKGS >/dev/null 2>&1; then
  echo "==> C toolchain for wasm32 ($PKGS)"
  $SUDO apt-get install -y $PKGS >/dev/null 2>&1 \
    || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y $PKGS >/dev/null; }
fi

mkdir -p "$SDK/bin" "$SDK/share/wasi-sysroot/include" "$SDK/share/wasi-sysroot/lib"
# Debian's wasi-libc knows the target as wasm32-wasi; Rust asks for -wasip1/-wasip2.
cat > "$SDK/bin/clang" <<'WRAP'
#!/bin/sh
for a in "$@"; do
  case "$a" in
    --target=wasm32-wasip1|--target=wasm32-wasip2) set -- "$@" --target=wasm32-wasi ;;
    *) set -- "$@" "$a" ;;
  esac
  shift
done
exec clang-16 "$@"
WRAP
chmod +x "$SDK/bin/clang"
ln -sfn "$(command -v llvm-ar-16)" "$SDK/bin/ar"
ln -sfn "$(command -v llvm-ar-16)" "$SDK/bin/llvm-ar"
for t in wasm32-wasi wasm32-wasip1 wasm32-wasip2; do
  ln -sfn /usr/include/wasm32-wasi "$SDK/share/wasi-sysroot/include/$t"
  ln -sfn /usr/lib/wasm32-wasi "$SDK/share/wasi-sysroot/lib/$t"
done
