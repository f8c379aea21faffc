//! `pbs versions NAME`, `pbs versions prune [--keep N]` and `pbs rollback
//! NAME [VERSION]`, through a running host's admin API.

use super::admin_host::AdminHost;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct VersionsArgs {
    #[command(subcommand)]
    command: Option<VersionsCommand>,
    /// The function whose versions to list.
    name: Option<String>,
    /// Print the admin API's JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    host: AdminHost,
}

#[derive(Subcommand)]
enum VersionsCommand {
    /// Remove old versions: each function keeps its newest N, the one it
    /// serves and every version an unfinished job is pinned to.
    Prune(PruneArgs),
}

#[derive(Args)]
struct PruneArgs {
    /// Versions each function keeps.
    #[arg(long, default_value_t = crate::deploy::versions::DEFAULT_KEEP)]
    keep: usize,
    #[command(flatten)]
    host: AdminHost,
}

#[derive(Args)]
pub struct RollbackArgs {
    /// The function.
    name: String,
    /// The version to serve (a unique prefix of at least 6 digits, as `pbs
    /// versions` shows); default: the one served before the current one.
    version: Option<String>,
    #[command(flatten)]
    host: AdminHost,
}

pub async fn run(args: VersionsArgs) -> anyhow::Result<()> {
    match args.command {
        Some(VersionsCommand::Prune(p)) => prune(p).await,
        None => {
            let Some(name) = args.name else {
                anyhow::bail!("say which function: `pbs versions NAME` (or `pbs versions prune`)");
            };
            list(&args.host, &name, args.json).await
        }
    }
}

async fn list(host: &AdminHost, name: &str, as_json: bool) -> anyhow::Result<()> {
    let body = host
        .call(
            Method::GET,
            &format!("functions/{name}/versions"),
            &[],
            None,
        )
        .await?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    let items = body["items"].as_array().cloned().unwrap_or_default();
    println!(
        "   {:<12}  {:<19}  {:<19}  {:>9}  {:<9}  {:<10}  jobs",
        "version", "created (UTC)", "deployed (UTC)", "size", "kind", "source map"
    );
    for v in &items {
        println!(
            "{} {:<12}  {:<19}  {:<19}  {:>9}  {:<9}  {:<10}  {}",
            if v["active"] == json!(true) { "*" } else { " " },
            v["version"]
                .as_str()
                .unwrap_or_default()
                .get(..12)
                .unwrap_or_default(),
            time(&v["created_ms"]),
            time(&v["deployed_ms"]),
            size(v["size"].as_i64().unwrap_or(0)),
            v["kind"].as_str().unwrap_or_default(),
            if v["source_map"] == json!(true) {
                "yes"
            } else {
                "no"
            },
            v["pinned_jobs"],
        );
    }
    println!("* serving now; `pbs rollback {name} [VERSION]` switches back");
    Ok(())
}

async fn prune(a: PruneArgs) -> anyhow::Result<()> {
    let body = a
        .host
        .call(
            Method::POST,
            "versions/prune",
            &[],
            Some(&json!({ "keep": a.keep })),
        )
        .await?;
    let removed = body["removed"].as_array().cloned().unwrap_or_default();
    for v in &removed {
        println!("removed {}", v.as_str().unwrap_or_default());
    }
    println!("{} versions removed, {} kept", removed.len(), body["kept"]);
    Ok(())
}

pub async fn rollback(a: RollbackArgs) -> anyhow::Result<()> {
    let body = match &a.version {
        Some(v) => json!({ "version": v }),
        None => json!({}),
    };
    let info = a
        .host
        .call(
            Method::POST,
            &format!("functions/{}/rollback", a.name),
            &[],
            Some(&body),
        )
        .await?;
    println!(
        "{} serves version {} again",
        a.name,
        info["version"].as_str().unwrap_or("?")
    );
    Ok(())
}

fn time(ms: &Value) -> String {
    ms.as_i64()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

fn size(bytes: i64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}
