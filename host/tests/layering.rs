//! The layering of `host/src`, checked on the source (see `src/lib.rs`):
//!
//! - `common/` imports nothing of ours; `store/` only `common/`;
//!   `telemetry/` only `store/` and `common/`;
//! - a capability (`caps/<name>/`) never imports `triggers`, `deploy`,
//!   `server`, `admin`, `cli` or `project`, nor another capability's
//!   submodules — only what that capability offers at its root
//!   (`crate::caps::data::Transaction`, not `crate::caps::data::tx::…`).
//!
//! Comments are not code: a doc link may name any module.

use std::path::{Path, PathBuf};

/// Modules of `crate::` each layer may not name.
const FORBIDDEN: &[(&str, &[&str])] = &[
    (
        "common",
        &[
            "admin", "caps", "cli", "config", "deploy", "engine", "project", "server", "store",
            "triggers",
        ],
    ),
    (
        "store",
        &[
            "admin", "caps", "cli", "config", "deploy", "engine", "project", "server", "triggers",
        ],
    ),
    (
        "caps",
        &["admin", "cli", "deploy", "project", "server", "triggers"],
    ),
    (
        "telemetry",
        &[
            "admin", "caps", "cli", "config", "deploy", "engine", "project", "server", "triggers",
        ],
    ),
];

/// Files of `caps/` that are shared by every capability, not one of them.
const SHARED_CAPS: &[&str] = &["bindings", "error", "services"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its comments (line comments only: the code
/// base uses no block comments around imports).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths `crate::a::b::…` named in `code`, as their segments.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let tail = &rest[i + "crate::".len()..];
        let mut path: Vec<String> = Vec::new();
        for segment in tail.split("::") {
            let ident: String = segment
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let whole = ident.len() == segment.len();
            if !ident.is_empty() {
                path.push(ident);
            }
            // The path ends where a segment holds more than a name.
            if !whole || path.is_empty() {
                break;
            }
        }
        // `crate::caps::{a, b}` names `caps`; good enough for the rules.
        out.push(path);
        rest = tail;
    }
    out
}

/// The submodules of capability `cap` (its files and folders).
fn submodules(src: &Path, cap: &str) -> Vec<String> {
    std::fs::read_dir(src.join("caps").join(cap))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let name = name.strip_suffix(".rs").unwrap_or(&name).to_string();
            (name != "mod").then_some(name)
        })
        .collect()
}

/// Every import under `src` that breaks the layering: "file: why".
fn violations(src: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for (layer, forbidden) in FORBIDDEN {
        let mut files = Vec::new();
        rust_files(&src.join(layer), &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let shown = file
                .strip_prefix(src)
                .unwrap_or(&file)
                .display()
                .to_string();
            // caps/<name>/… (or caps/<file>.rs, shared by all of them).
            let own_cap = shown
                .strip_prefix("caps/")
                .and_then(|p| p.split_once('/'))
                .map(|(cap, _)| cap.to_string());
            for path in crate_paths(&code(&text)) {
                let Some(first) = path.first() else { continue };
                if forbidden.contains(&first.as_str()) {
                    found.push(format!("{shown}: imports crate::{}", path.join("::")));
                    continue;
                }
                let (Some(own), [_, cap, sub, ..]) = (&own_cap, path.as_slice()) else {
                    continue;
                };
                if first == "caps"
                    && cap != own
                    && !SHARED_CAPS.contains(&cap.as_str())
                    && submodules(src, cap).contains(sub)
                {
                    found.push(format!(
                        "{shown}: imports crate::caps::{cap}::{sub}, a submodule of another \
                         capability (use what `caps::{cap}` offers at its root)"
                    ));
                }
            }
        }
    }
    found
}

#[test]
fn the_layers_point_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = violations(&src);
    assert!(
        found.is_empty(),
        "imports that break the layering (see host/src/lib.rs):\n{}",
        found.join("\n")
    );
}

/// The check finds what it is meant to find (so a green run means
/// something).
#[test]
fn a_forbidden_import_is_found() {
    let dir = tempfile_dir();
    let write = |path: &str, text: &str| {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    };
    write("caps/kv/mod.rs", "use crate::caps::data::Transaction;\n");
    write("caps/data/mod.rs", "pub mod tx;\n");
    write(
        "caps/data/tx.rs",
        "// crate::triggers in a comment is fine\n",
    );
    write("store/mod.rs", "use crate::common::address;\n");
    assert_eq!(violations(&dir), Vec::<String>::new());

    write(
        "caps/kv/mod.rs",
        "use crate::caps::data::tx::Transaction;\nuse crate::triggers::http::reply;\n",
    );
    write("store/mod.rs", "use crate::caps::services::Services;\n");
    let found = violations(&dir);
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(found.iter().any(|f| f.contains("crate::caps::data::tx")));
    assert!(found
        .iter()
        .any(|f| f.contains("crate::triggers::http::reply")));
    assert!(found.iter().any(|f| f.starts_with("store/mod.rs")));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "pbs-layering-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
