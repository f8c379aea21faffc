//! The examples of other toolchains, built the way their READMEs say, with
//! the pinned tools `scripts/setup.sh` installs from the registries:
//! `examples/visits-python` with componentize-py (PyPI) and
//! `examples/visits-js` with ComponentizeJS (npm). The Rust one is built by
//! `build.rs` with the other examples (`EXAMPLE_VISITS_RUST`).
//!
//! A build takes 10–40 s, so its result is kept in `target/toolchains/`
//! under a hash of every input (the example, the SDK, `wit/`, the tool's
//! version): a rerun with nothing changed builds nothing.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The componentize-py `scripts/setup.sh` installs.
pub const COMPONENTIZE_PY: &str = "0.25.1";
/// The ComponentizeJS `examples/visits-js/package-lock.json` pins.
pub const COMPONENTIZE_JS: &str = "0.23.0";

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// One example of another toolchain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Example {
    Python,
    Js,
}

impl Example {
    /// Its folder (a project: `pb_serverless.json` next to the sources).
    pub fn dir(self) -> PathBuf {
        root().join("examples").join(match self {
            Example::Python => "visits-python",
            Example::Js => "visits-js",
        })
    }

    /// The component, built (or found built) from the current sources.
    /// Panics with the tool's output when the build fails.
    pub fn component(self) -> PathBuf {
        static PYTHON: OnceLock<PathBuf> = OnceLock::new();
        static JS: OnceLock<PathBuf> = OnceLock::new();
        let cell = match self {
            Example::Python => &PYTHON,
            Example::Js => &JS,
        };
        cell.get_or_init(|| self.build()).clone()
    }

    fn build(self) -> PathBuf {
        let (tool, inputs): (String, Vec<PathBuf>) = match self {
            Example::Python => (
                componentize_py_version(),
                vec![self.dir().join("app.py"), root().join("sdk-python/pb_sdk")],
            ),
            Example::Js => (
                componentize_js_version(),
                vec![
                    self.dir().join("app.js"),
                    self.dir().join("package.json"),
                    self.dir().join("package-lock.json"),
                ],
            ),
        };
        let mut hash = Sha256::new();
        hash.update(tool.as_bytes());
        for input in inputs.iter().chain([&root().join("wit")]) {
            hash_path(&mut hash, input);
        }
        let out_dir = root().join("target/toolchains");
        std::fs::create_dir_all(&out_dir).unwrap();
        let name = format!("{self:?}").to_lowercase();
        let out = out_dir.join(format!(
            "visits-{name}-{}.wasm",
            &hex::encode(hash.finalize())[..16]
        ));
        if out.exists() {
            return out;
        }
        let partial = out.with_extension(format!("partial-{}", std::process::id()));
        let mut cmd = match self {
            // The README's command, with the output elsewhere.
            Example::Python => {
                let mut c = Command::new("componentize-py");
                c.args(["-d", "../../wit", "-w", "pb:serverless/http-function@0.1.0"])
                    .args([
                        "componentize",
                        "app",
                        "-p",
                        ".",
                        "-p",
                        "../../sdk-python",
                        "-o",
                    ])
                    .arg(&partial)
                    // No __pycache__ in the source tree.
                    .env("PYTHONDONTWRITEBYTECODE", "1");
                c
            }
            // `npm run build`; the last `--out` wins.
            Example::Js => {
                let mut c = Command::new("npm");
                c.args(["run", "--silent", "build", "--", "--out"])
                    .arg(&partial);
                c
            }
        };
        let started = std::time::Instant::now();
        let output = cmd
            .current_dir(self.dir())
            .output()
            .unwrap_or_else(|e| panic!("run the {name} toolchain ({e}); run scripts/setup.sh"));
        assert!(
            output.status.success() && partial.exists(),
            "building examples/visits-{name} failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::rename(&partial, &out).unwrap();
        eprintln!(
            "built examples/visits-{name} with {tool} in {:.1} s ({} bytes)",
            started.elapsed().as_secs_f64(),
            std::fs::metadata(&out).unwrap().len()
        );
        out
    }
}

/// `componentize-py 0.25.1`, checked to be the pinned version.
pub fn componentize_py_version() -> String {
    let out = Command::new("componentize-py")
        .arg("--version")
        .output()
        .expect("componentize-py is not installed: run scripts/setup.sh");
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(
        version,
        format!("componentize-py {COMPONENTIZE_PY}"),
        "run scripts/setup.sh"
    );
    version
}

/// `componentize-js 0.23.0` as installed in `examples/visits-js`, checked to
/// be the pinned version.
pub fn componentize_js_version() -> String {
    let manifest = Example::Js
        .dir()
        .join("node_modules/@bytecodealliance/componentize-js/package.json");
    let text = std::fs::read_to_string(&manifest)
        .unwrap_or_else(|e| panic!("{}: {e}; run scripts/setup.sh", manifest.display()));
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["version"], COMPONENTIZE_JS, "run scripts/setup.sh");
    format!("componentize-js {COMPONENTIZE_JS}")
}

/// Hashes a file, or every file under a folder (names and contents, in
/// order; `__pycache__` skipped).
fn hash_path(hash: &mut Sha256, path: &Path) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().is_some_and(|n| n != "__pycache__"))
            .collect();
        entries.sort();
        for entry in entries {
            hash_path(hash, &entry);
        }
    } else {
        hash.update(path.to_string_lossy().as_bytes());
        hash.update(std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
    }
}
