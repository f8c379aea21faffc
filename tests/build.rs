//! Builds the test components in `tests/guests/` for `wasm32-wasip2` and
//! exposes each as an env var `GUEST_<NAME>` holding the `.wasm` path. A
//! component without a use in the tests is a build error (see `GUESTS`).

use std::path::PathBuf;
use std::process::Command;

/// Every test component; `src/lib.rs` has one constant per entry.
const GUESTS: &[&str] = &[
    "hello",
    "echo",
    "trap",
    "infinite_loop",
    "memory_hog",
    "pb_imports",
    "bad_import",
    "job_worker",
    "bad_job_worker",
    "stall_after_headers",
    "fetch_proxy",
    "jobs_tester",
    "hook_guard",
    "wasi_0_2_0",
    "wasi_0_2_12",
    "net_error_code",
    "sdk_handlers",
];

/// Builds the workspace at `dir` for wasm32-wasip2 in release mode.
fn build_wasm(dir: &std::path::Path, target_dir: &std::path::Path) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .arg("build")
        .arg("--release")
        .arg("--locked")
        .arg("--target=wasm32-wasip2")
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_MAKEFLAGS")
        // `cargo clippy` lints through a workspace wrapper; the components
        // are built the same way whatever runs this script.
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CLIPPY_ARGS")
        .status()
        .expect("run cargo to build the test components");
    assert!(
        status.success(),
        "building {} for wasm32-wasip2 failed (is the target installed? `rustup target add wasm32-wasip2`)",
        dir.display()
    );
}

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let guests = manifest_dir.join("guests");
    let root = manifest_dir.parent().unwrap().to_path_buf();
    // Outside OUT_DIR on purpose: shared by debug and release test builds.
    let target_dir = root.join("target").join("guests");

    println!("cargo:rerun-if-changed={}", guests.display());
    println!("cargo:rerun-if-changed={}", root.join("wit").display());

    let examples = root.join("examples");
    println!("cargo:rerun-if-changed={}", examples.display());
    // The Rust SDK the examples use.
    println!("cargo:rerun-if-changed={}", root.join("sdk-rust").display());
    build_wasm(&guests, &target_dir);
    // The example the README deploys is tested too.
    let examples_target = root.join("target").join("examples");
    build_wasm(&examples, &examples_target);
    let example = examples_target.join("wasm32-wasip2/release/hello.wasm");
    println!("cargo:rustc-env=EXAMPLE_HELLO={}", example.display());
    let visits = examples_target.join("wasm32-wasip2/release/visits_rust.wasm");
    println!("cargo:rustc-env=EXAMPLE_VISITS_RUST={}", visits.display());

    let lib = std::fs::read_to_string(manifest_dir.join("src/lib.rs")).unwrap();
    for name in GUESTS {
        let wasm = target_dir
            .join("wasm32-wasip2/release")
            .join(format!("{name}.wasm"));
        assert!(wasm.exists(), "{} was not built", wasm.display());
        let var = format!("GUEST_{}", name.to_uppercase());
        assert!(
            lib.contains(&format!("env!(\"{var}\")")),
            "test component `{name}` has no constant in tests/src/lib.rs: every component needs a test"
        );
        println!("cargo:rustc-env={var}={}", wasm.display());
    }
}
