//! The TypeScript SDK (`sdk-ts/`, the npm package `@pb-serverless/sdk`),
//! embedded in `pbs` so that a project needs nothing but the binary: `pbs
//! init`, `pbs types` and `pbs dev` write it into the project's
//! `.pb/sdk/` ([`install`]), and the project's `package.json` depends on it
//! as [`DEPENDENCY`]. The declarations are always those of the engine in
//! this binary.

use anyhow::Context;
use std::path::{Path, PathBuf};

/// Every file of the package: (path inside it, contents).
pub const FILES: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/sdk_files.rs"));

/// The package's name and what a project's `package.json` lists for it.
pub const DEPENDENCY: (&str, &str) = ("@pb-serverless/sdk", "file:.pb/sdk");

/// Where [`install`] puts the package in a project.
pub fn dir(project: &Path) -> PathBuf {
    project.join(".pb").join("sdk")
}

/// Writes the package into `project`'s `.pb/sdk/`; files already there with
/// the same contents are left alone (an editor watching them sees no
/// change). Returns the folder.
pub fn install(project: &Path) -> anyhow::Result<PathBuf> {
    let dir = dir(project);
    for (name, contents) in FILES {
        let path = dir.join(name);
        if std::fs::read_to_string(&path).is_ok_and(|c| c == *contents) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("create {}", parent.display()))?;
        }
        std::fs::write(&path, contents).with_context(|| format!("write {}", path.display()))?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_package_is_embedded_and_installs() {
        assert!(super::FILES.iter().any(|(n, _)| *n == "package.json"));
        let dir = tempfile::tempdir().unwrap();
        let sdk = super::install(dir.path()).unwrap();
        let manifest = std::fs::read_to_string(sdk.join("package.json")).unwrap();
        assert!(manifest.contains(super::DEPENDENCY.0));
        // Again: nothing changes.
        super::install(dir.path()).unwrap();
    }
}
