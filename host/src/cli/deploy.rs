use super::admin_host::AdminHost;
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct DeployArgs {
    /// The component (`.wasm`) to deploy, or a JS/TS entry file to build first.
    path: PathBuf,
    /// The function's name; it is served at `/api/pb_serverless/<name>`.
    #[arg(long)]
    name: String,
    #[command(flatten)]
    host: AdminHost,
    /// Triggers the component must serve: http, jobs, cron, hooks.
    #[arg(long, default_value = "http")]
    triggers: String,
    /// A host this function may call (`api.openai.com`, `*.example.com`,
    /// `10.0.0.5:8080`, `10.0.0.0/8`); repeat for more. Default: none.
    #[arg(long = "allow-host")]
    allow_hosts: Vec<String>,
}

pub async fn run(args: DeployArgs) -> anyhow::Result<()> {
    let bytes = if crate::deploy::js::is_js_entry(&args.path) {
        super::build::build_entry(&args.path).await?.component
    } else {
        std::fs::read(&args.path).with_context(|| format!("read {}", args.path.display()))?
    };
    let token = args.host.token()?;
    let url = args.host.url(&format!("functions/{}", args.name));
    let response = reqwest::Client::new()
        .put(&url)
        .query(&[
            ("triggers", args.triggers.as_str()),
            ("allowed_hosts", &args.allow_hosts.join(",")),
        ])
        .bearer_auth(token)
        .header("content-type", "application/wasm")
        .body(bytes)
        .send()
        .await
        .with_context(|| format!("reach the host at {}", args.host.server))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if !status.is_success() {
        let message = body["message"].as_str().unwrap_or("no message");
        anyhow::bail!("deploy refused ({status}): {message}");
    }
    let triggers: Vec<&str> = body["triggers"]
        .as_array()
        .map(|a| a.iter().filter_map(|t| t.as_str()).collect())
        .unwrap_or_default();
    println!(
        "deployed {} version {} ({} bytes, triggers: {})",
        args.name,
        body["version"].as_str().unwrap_or("?"),
        body["size"],
        triggers.join(", ")
    );
    Ok(())
}
