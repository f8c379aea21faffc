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
    for watched in ["src", "js", "ts", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", guest.join(watched).display());
    }
    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    // Shared with the engine (the status of each pb:data error case).
    println!(
        "cargo:rerun-if-changed={}",
        manifest_dir.join("src/caps/data/status.rs").display()
    );
    println!("cargo:rerun-if-env-changed=WASI_SDK");

    // The `pb` global: TypeScript over the layer generated from the WIT,
    // type-checked and bundled (guest-js/ts/build.mjs), then compiled into
    // the engine like the other prelude files.
    let pb_js = target_dir.join("70-pb.js");
    std::fs::create_dir_all(&target_dir).expect("create target/guest-js");
    let built = Command::new("node")
        .arg(guest.join("ts/build.mjs"))
        .arg(&pb_js)
        .status()
        .expect("run node to build the engine's pb global (is Node installed?)");
    assert!(
        built.success(),
        "building guest-js/ts (the engine's `pb` global) failed: a type error above, or its \
         npm packages are missing (run scripts/setup.sh)"
    );

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
        .env("PBS_PB_JS", &pb_js)
        .status()
        .expect("run cargo to build guest-js");
    assert!(
        status.success(),
        "building guest-js for wasm32-wasip2 failed; run scripts/setup.sh first \
         (it installs the wasm32-wasip2 target and the WASI SDK QuickJS needs)"
    );
    embed_sdk(&root.join("sdk-ts"));

    let wasm = target_dir.join("wasm32-wasip2/release/pbs_guest_js.wasm");
    println!("cargo:rustc-env=PBS_JS_ENGINE={}", wasm.display());
}

/// Lists the files of the TypeScript SDK (`sdk-ts/`, but `node_modules`)
/// for `src/sdk.rs` to embed: `$OUT_DIR/sdk_files.rs`.
fn embed_sdk(sdk: &std::path::Path) {
    println!("cargo:rerun-if-changed={}", sdk.display());
    let mut files = Vec::new();
    let mut dirs = vec![sdk.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .filter_map(|e| e.ok())
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let name = e.file_name();
            if name == "node_modules" || name.to_string_lossy().starts_with('.') {
                continue;
            }
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut out = String::from("&[\n");
    for f in files {
        let rel = f
            .strip_prefix(sdk)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        out.push_str(&format!(
            "    ({rel:?}, include_str!({:?})),\n",
            f.display().to_string()
        ));
    }
    out.push(']');
    let dest = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("sdk_files.rs");
    std::fs::write(dest, out).expect("write sdk_files.rs");
}
