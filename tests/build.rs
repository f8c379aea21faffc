//! Builds the test components in `tests/guests/` for `wasm32-wasip2` and
//! writes `$OUT_DIR/guests.rs`: one constant per component (every folder of
//! `tests/guests/` with a `Cargo.toml`) holding its `.wasm` path, documented
//! by the component's `description`. A component no test uses is a build
//! error: every component needs a test.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds the workspace at `dir` for wasm32-wasip2 in release mode.
fn build_wasm(dir: &Path, target_dir: &Path) {
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

/// The test components: (name, description), by name.
fn guests(dir: &Path) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = std::fs::read_dir(dir)
        .expect("read tests/guests")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let manifest = std::fs::read_to_string(e.path().join("Cargo.toml")).ok()?;
            let name = e.file_name().to_string_lossy().into_owned();
            let description = manifest
                .lines()
                .find_map(|l| l.strip_prefix("description = "))
                .map(|d| d.trim().trim_matches('"').replace("\\\"", "\""))
                .unwrap_or_else(|| panic!("tests/guests/{name}/Cargo.toml has no description"));
            Some((name, description))
        })
        .collect();
    found.sort();
    found
}

/// The text of every test, benchmark and helper of this crate.
fn test_sources(root: &Path) -> String {
    let mut text = String::new();
    let mut dirs = vec![root.join("tests"), root.join("benches"), root.join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                text.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
            }
        }
    }
    text
}

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let guests_dir = manifest_dir.join("guests");
    let root = manifest_dir.parent().unwrap().to_path_buf();
    // Outside OUT_DIR on purpose: shared by debug and release test builds.
    let target_dir = root.join("target").join("guests");

    println!("cargo:rerun-if-changed={}", guests_dir.display());
    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    for watched in ["tests", "benches", "src"] {
        println!(
            "cargo:rerun-if-changed={}",
            manifest_dir.join(watched).display()
        );
    }

    let examples = root.join("examples");
    println!("cargo:rerun-if-changed={}", examples.display());
    // The Rust SDK the examples use.
    println!("cargo:rerun-if-changed={}", root.join("sdk-rust").display());
    build_wasm(&guests_dir, &target_dir);
    // The example the README deploys is tested too.
    let examples_target = root.join("target").join("examples");
    build_wasm(&examples, &examples_target);
    let example = examples_target.join("wasm32-wasip2/release/hello.wasm");
    println!("cargo:rustc-env=EXAMPLE_HELLO={}", example.display());
    let visits = examples_target.join("wasm32-wasip2/release/visits_rust.wasm");
    println!("cargo:rustc-env=EXAMPLE_VISITS_RUST={}", visits.display());

    let sources = test_sources(&manifest_dir);
    let mut consts = String::new();
    for (name, description) in guests(&guests_dir) {
        let wasm = target_dir
            .join("wasm32-wasip2/release")
            .join(format!("{name}.wasm"));
        assert!(wasm.exists(), "{} was not built", wasm.display());
        let constant = name.to_uppercase();
        assert!(
            sources.contains(&format!("guests::{constant}")),
            "test component `{name}` is used by no test (`guests::{constant}`): every component needs a test"
        );
        consts.push_str(&format!(
            "/// {description}\npub const {constant}: &str = {:?};\n",
            wasm.display().to_string()
        ));
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("guests.rs");
    std::fs::write(out, consts).expect("write guests.rs");
}
