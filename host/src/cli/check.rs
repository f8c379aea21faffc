use crate::config::Limits;
use crate::deploy::{inspect, Trigger};
use crate::engine::Runtime;
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct CheckArgs {
    /// The component (`.wasm`) to check.
    path: PathBuf,
    /// Triggers the component must serve: http, jobs, cron, hooks.
    #[arg(long, default_value = "http")]
    triggers: String,
}

pub async fn run(args: CheckArgs) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(&args.path).with_context(|| format!("read {}", args.path.display()))?;
    let triggers = Trigger::parse_list(&args.triggers).map_err(|e| anyhow::anyhow!("{e}"))?;
    let limits = Limits {
        max_instances: 1,
        ..Limits::default()
    };
    let runtime = Runtime::new(limits, Vec::new())?;
    let checked = tokio::task::spawn_blocking(move || inspect(&runtime, &bytes, &triggers))
        .await?
        .map_err(|e| anyhow::anyhow!("{} is refused: {e}", args.path.display()))?;
    println!(
        "{}: ok, version {}, exports: {}, triggers: {}",
        args.path.display(),
        checked.hash,
        checked.exports.join(", "),
        checked
            .triggers
            .iter()
            .map(|t| t.name())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}
