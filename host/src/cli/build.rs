use crate::config::Limits;
use crate::deploy::js;
use crate::engine::Runtime;
use anyhow::Context;
use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Args)]
pub struct BuildArgs {
    /// The entry file (`.ts`, `.js`, …); bundled with the project's esbuild.
    entry: PathBuf,
    /// Where to write the component (default: `<entry name>.wasm` here).
    #[arg(short, long)]
    out: Option<PathBuf>,
}

pub async fn run(args: BuildArgs) -> anyhow::Result<()> {
    let stem = args.entry.file_stem().unwrap_or_default();
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from(stem).with_extension("wasm"));
    let started = Instant::now();
    let built = build_entry(&args.entry).await?;
    std::fs::write(&out, &built.component).with_context(|| format!("write {}", out.display()))?;
    println!(
        "built {} → {} ({} KiB bundle, {} KiB component, exports: {}) in {:.1} s",
        args.entry.display(),
        out.display(),
        built.bundle_size / 1024,
        built.component.len() / 1024,
        summary(&built.exports),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Bundles and snapshots `entry` with a throwaway engine.
pub async fn build_entry(entry: &Path) -> anyhow::Result<js::JsComponent> {
    build_entry_with(&build_runtime()?, entry).await
}

/// The engine builds run on: one instance at a time.
pub fn build_runtime() -> anyhow::Result<Runtime> {
    let limits = Limits {
        max_instances: 1,
        ..Limits::default()
    };
    Runtime::new(limits, Vec::new())
}

/// Bundles and snapshots `entry` on `runtime` (several builds may share one).
pub async fn build_entry_with(runtime: &Runtime, entry: &Path) -> anyhow::Result<js::JsComponent> {
    js::build(runtime, entry)
        .await
        .with_context(|| format!("cannot build {}", entry.display()))
}

/// The first few export names, and how many more there are.
fn summary(names: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut text = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" … ({} more)", names.len() - SHOWN));
    }
    text
}
