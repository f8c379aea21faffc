use super::admin_host::AdminHost;
use crate::project::{manifest::FILE_NAME, Project};
use anyhow::Context;
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct DeployArgs {
    /// A project (a folder with `pb_serverless.json`, or that file), a
    /// component (`.wasm`), or a JS/TS entry to build first. Default: the
    /// project in the current folder.
    path: Option<PathBuf>,
    /// The function's name, for a single component or entry; it is served at
    /// `/api/pb_serverless/<name>`.
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    host: AdminHost,
    /// Triggers a single component must serve: http, jobs, cron, hooks.
    #[arg(long, default_value = "http")]
    triggers: String,
    /// A host a single function may call (`api.openai.com`, `*.example.com`,
    /// `10.0.0.5:8080`, `10.0.0.0/8`); repeat for more. Default: none.
    /// A project lists them per function in its manifest.
    #[arg(long = "allow-host")]
    allow_hosts: Vec<String>,
    /// Requests one instance of a single function may serve in turn (its
    /// globals persist between them, like a Cloudflare Worker's isolate);
    /// 0: a fresh instance per request. A project sets `reuse` per function.
    #[arg(long, default_value_t = 0)]
    reuse: u32,
    /// Apply collection changes that lose data (a dropped field, a changed type).
    #[arg(long)]
    force: bool,
}

pub async fn run(args: DeployArgs) -> anyhow::Result<()> {
    let path = args.path.clone().unwrap_or_else(|| PathBuf::from("."));
    if Project::is_project(&path) {
        if args.name.is_some() || !args.allow_hosts.is_empty() || args.reuse != 0 {
            anyhow::bail!(
                "--name, --allow-host and --reuse are for a single component or entry; a project sets them in {FILE_NAME}"
            );
        }
        return super::deploy_project::run(&Project::load(&path)?, &args.host, args.force).await;
    }
    let name = args.name.as_deref().with_context(|| {
        format!("say the function's name with --name (or deploy a project folder with {FILE_NAME})")
    })?;
    let bytes = if crate::deploy::js::is_js_entry(&path) {
        super::build::build_entry(&path).await?.component
    } else {
        read_component(&path)?
    };
    let settings = crate::deploy::Settings {
        allowed_hosts: args.allow_hosts,
        reuse: args.reuse,
    };
    upload(&args.host, name, bytes, &args.triggers, &settings).await
}

pub fn read_component(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("read {}", path.display()))
}

/// Uploads one version of a function and prints what the host answered.
pub async fn upload(
    host: &AdminHost,
    name: &str,
    bytes: Vec<u8>,
    triggers: &str,
    settings: &crate::deploy::Settings,
) -> anyhow::Result<()> {
    let body = upload_quietly(host, name, bytes, triggers, settings).await?;
    let triggers: Vec<&str> = body["triggers"]
        .as_array()
        .map(|a| a.iter().filter_map(|t| t.as_str()).collect())
        .unwrap_or_default();
    println!(
        "deployed {name} version {} ({} bytes, triggers: {})",
        body["version"].as_str().unwrap_or("?"),
        body["size"],
        triggers.join(", ")
    );
    Ok(())
}

/// Uploads one version of a function; the host's answer.
pub async fn upload_quietly(
    host: &AdminHost,
    name: &str,
    bytes: Vec<u8>,
    triggers: &str,
    settings: &crate::deploy::Settings,
) -> anyhow::Result<serde_json::Value> {
    let token = host.token()?;
    let response = super::http_client()
        .put(host.url(&format!("functions/{name}")))
        .query(&[
            ("triggers", triggers),
            ("allowed_hosts", &settings.allowed_hosts.join(",")),
            ("reuse", &settings.reuse.to_string()),
        ])
        .bearer_auth(token)
        .header("content-type", "application/wasm")
        .body(bytes)
        .send()
        .await
        .with_context(|| format!("reach the host at {}", host.server()))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if !status.is_success() {
        let message = body["message"].as_str().unwrap_or("no message");
        anyhow::bail!("deploy of {name} refused ({status}): {message}");
    }
    Ok(body)
}
