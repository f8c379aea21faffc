//! esbuild, from the user's own `node_modules`: one ESM file for an edge
//! runtime (browser platform, `edge-light`/`worker` export conditions — with
//! `neutral` the AI SDK pulls in Node's `fs`), plus its source map.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Bundle {
    pub code: String,
    pub map: Vec<u8>,
    /// Every file esbuild read (from its metafile), absolute: what `pbs
    /// dev` watches to know which functions a saved file touches.
    pub inputs: Vec<PathBuf>,
}

/// `node_modules/.bin/esbuild` in the entry's folder or the nearest folder
/// above it that has one.
fn find_esbuild(entry: &Path) -> Option<PathBuf> {
    let parent = entry.parent().filter(|p| !p.as_os_str().is_empty());
    let start = parent.unwrap_or(Path::new(".")).canonicalize().ok()?;
    start
        .ancestors()
        .map(|dir| dir.join("node_modules/.bin/esbuild"))
        .find(|p| p.is_file())
}

pub fn bundle(entry: &Path) -> anyhow::Result<Bundle> {
    if !entry.is_file() {
        bail!("{} does not exist", entry.display());
    }
    let Some(esbuild) = find_esbuild(entry) else {
        bail!(
            "esbuild is not installed for {}: run `npm install --save-dev esbuild` in the project folder \
             (pbs bundles TypeScript/JavaScript with the esbuild of your project)",
            entry.display()
        );
    };
    let dir = tempfile::tempdir().context("create a temporary folder for the bundle")?;
    let out = dir.path().join(crate::common::sourcemap::BUNDLE_NAME);
    let output = Command::new(&esbuild)
        .arg(entry)
        .args([
            "--bundle",
            "--format=esm",
            "--platform=browser",
            "--conditions=edge-light,worker,browser",
            "--target=es2022",
            "--sourcemap=external",
            "--sources-content=true",
            // The bundle stays ASCII (esbuild escapes the rest): QuickJS
            // counts columns in bytes, source maps in UTF-16 units.
            "--log-level=error",
        ])
        .arg(format!("--outfile={}", out.display()))
        .arg(format!(
            "--metafile={}",
            dir.path().join("meta.json").display()
        ))
        .output()
        .with_context(|| format!("run {}", esbuild.display()))?;
    if !output.status.success() {
        bail!(
            "esbuild could not bundle {}:\n{}",
            entry.display(),
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    let code = std::fs::read_to_string(&out).context("read the bundle")?;
    let map = std::fs::read(out.with_extension("js.map")).context("read the source map")?;
    // The map's `sources` are relative to the temporary folder; make them
    // relative to the working directory so stack traces name real files.
    let inputs = std::fs::read(dir.path().join("meta.json"))
        .ok()
        .map(|meta| inputs(&meta))
        .unwrap_or_default();
    Ok(Bundle {
        code,
        map: rebase_sources(&map, dir.path()),
        inputs,
    })
}

/// The `inputs` of an esbuild metafile (paths relative to the working
/// directory), made absolute.
fn inputs(meta: &[u8]) -> Vec<PathBuf> {
    let cwd = std::env::current_dir().unwrap_or_default();
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(meta) else {
        return Vec::new();
    };
    json.get("inputs")
        .and_then(|i| i.as_object())
        .map(|inputs| {
            inputs
                .keys()
                // Virtual modules (`<stdin>`, plugin namespaces) have a `:`.
                .filter(|k| !k.contains(':') || Path::new(k).is_absolute())
                .map(|k| normalize(&cwd.join(k)))
                .collect()
        })
        .unwrap_or_default()
}

fn rebase_sources(map: &[u8], bundle_dir: &Path) -> Vec<u8> {
    let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(map) else {
        return map.to_vec();
    };
    let cwd = std::env::current_dir().unwrap_or_default();
    if let Some(sources) = json.get_mut("sources").and_then(|s| s.as_array_mut()) {
        for source in sources.iter_mut() {
            if let Some(rel) = source.as_str() {
                let abs = normalize(&bundle_dir.join(rel));
                let shown = abs.strip_prefix(&cwd).unwrap_or(&abs);
                *source = serde_json::Value::String(shown.display().to_string());
            }
        }
    }
    serde_json::to_vec(&json).unwrap_or_else(|_| map.to_vec())
}

/// `a/b/../c` → `a/c` without touching the filesystem.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
