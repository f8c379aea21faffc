//! Files only their owner may read: the admin token, the secrets master
//! key.

use anyhow::Context;
use std::path::Path;

/// Writes `contents` + newline to a new file (it must not exist) readable
/// by its owner only, flushed to disk.
pub fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .with_context(|| format!("create {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
        .with_context(|| format!("flush {}", path.display()))?;
    Ok(())
}
