//! The file watcher of `pbs dev` (the `notify` crate), debounced: the
//! project folder itself and each of its folders but `node_modules`, `.pb`
//! and hidden ones, so a project with a large `node_modules` costs a
//! handful of watches. Only changes count: a file that is merely opened or
//! read (esbuild reading the sources) is no event.

use notify::event::{AccessKind, AccessMode, EventKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc::{unbounded_channel, UnboundedSender};

/// Folders of a project never watched.
const SKIPPED: &[&str] = &["node_modules", "target", "dist"];

pub type Watcher = RecommendedWatcher;

/// Starts watching `dir`; each burst of changes, once no new one came for
/// `quiet`, is sent as the paths that changed.
pub fn start(
    dir: &Path,
    quiet: Duration,
    tx: UnboundedSender<Vec<PathBuf>>,
) -> anyhow::Result<Watcher> {
    let (raw_tx, mut raw) = unbounded_channel::<Vec<PathBuf>>();
    let mut watcher =
        notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
            Ok(event) if is_change(&event.kind) => {
                let _ = raw_tx.send(event.paths);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("watching the project failed: {e}"),
        })?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    for entry in std::fs::read_dir(dir)?.flatten() {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) && !skipped_dir(&entry.file_name()) {
            watcher.watch(&path, RecursiveMode::Recursive)?;
        }
    }
    tokio::spawn(async move {
        while let Some(mut paths) = raw.recv().await {
            // Settle: an editor's save is several events (write, rename,
            // attributes) within a few milliseconds.
            while let Ok(Some(more)) = tokio::time::timeout(quiet, raw.recv()).await {
                paths.extend(more);
            }
            paths.sort();
            paths.dedup();
            if tx.send(paths).is_err() {
                return;
            }
        }
    });
    Ok(watcher)
}

fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

fn skipped_dir(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy();
    name.starts_with('.') || SKIPPED.contains(&name.as_ref())
}

/// Whether a change of `path` is none of dev's business: inside a skipped
/// folder, or an editor's temporary file.
pub fn ignored(dir: &Path, path: &Path) -> bool {
    let Ok(rel) = path.strip_prefix(dir) else {
        return false;
    };
    let mut parts = rel.components().peekable();
    while let Some(part) = parts.next() {
        let name = part.as_os_str();
        if parts.peek().is_some() && skipped_dir(name) {
            return true;
        }
        if parts.peek().is_none() {
            let name = name.to_string_lossy();
            // vim's swap and probe files, emacs' lock and backup files.
            return name.ends_with('~')
                || name.ends_with(".swp")
                || name.ends_with(".swx")
                || name.starts_with(".#")
                || name == "4913";
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::ignored;
    use std::path::Path;

    #[test]
    fn editor_files_and_skipped_folders_are_ignored() {
        let dir = Path::new("/p");
        assert!(!ignored(dir, Path::new("/p/src/index.ts")));
        assert!(!ignored(dir, Path::new("/p/pb_serverless.json")));
        assert!(ignored(dir, Path::new("/p/node_modules/ai/index.js")));
        assert!(ignored(dir, Path::new("/p/.pb/data/data.db")));
        assert!(ignored(dir, Path::new("/p/src/.index.ts.swp")));
        assert!(ignored(dir, Path::new("/p/src/index.ts~")));
        assert!(ignored(dir, Path::new("/p/src/4913")));
    }

    #[test]
    fn reading_a_file_is_no_change() {
        use notify::event::{AccessKind, AccessMode, CreateKind, EventKind, ModifyKind};
        assert!(!super::is_change(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(!super::is_change(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(super::is_change(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
        assert!(super::is_change(&EventKind::Modify(ModifyKind::Any)));
        assert!(super::is_change(&EventKind::Create(CreateKind::File)));
    }
}
