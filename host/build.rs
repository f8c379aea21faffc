//! Builds the JS engine component (`guest-js/`, QuickJS + our Web APIs) for
//! `wasm32-wasip2` and embeds it in `pbs`, so users need no Rust, QuickJS or
//! Javy of their own. QuickJS is C: `scripts/wasi-sdk.sh` provides the WASI
//! SDK it is compiled with (found through `.cargo/config.toml`).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    let guest = root.join("guest-js");
    // Outside OUT_DIR on purpose: shared by debug, release and test builds.
    let target_dir = root.join("target").join("guest-js");
    for watched in ["src", "js", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", guest.join(watched).display());
    }
    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    // Shared with the engine (the status of each pb:data error case).
    println!(
        "cargo:rerun-if-changed={}",
        manifest_dir.join("src/caps/data/status.rs").display()
    );
    println!("cargo:rerun-if-env-changed=WASI_SDK");

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--locked", "--target=wasm32-wasip2"])
        .arg("--manifest-path")
        .arg(guest.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_MAKEFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .status()
        .expect("run cargo to build guest-js");
    assert!(
        status.success(),
        "building guest-js for wasm32-wasip2 failed; run scripts/setup.sh first \
         (it installs the wasm32-wasip2 target and the WASI SDK QuickJS needs)"
    );
    let wasm = target_dir.join("wasm32-wasip2/release/pbs_guest_js.wasm");
    println!("cargo:rustc-env=PBS_JS_ENGINE={}", wasm.display());
}
