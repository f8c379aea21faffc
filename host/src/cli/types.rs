//! `pbs types [PROJECT]`: writes the project's `pb-env.d.ts` (see
//! `crate::project::typegen`) and the SDK it refers to (`.pb/sdk`).

use super::admin_host::AdminHost;
use crate::project::manifest::Project;
use crate::project::typegen::{self, CollectionTypes};
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct TypesArgs {
    /// The project folder (or its pb_serverless.json).
    #[arg(default_value = ".")]
    project: PathBuf,
    /// Read the collections (and secret names) from this running host
    /// instead of the manifest.
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// The host's admin token (default: `PB_ADMIN_TOKEN`, else `<dir>/admin_token`).
    #[arg(long, env = "PB_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The data folder of a local host, to find its admin token.
    #[arg(long, default_value = "pb_data", env = "PB_DATA_DIR")]
    dir: PathBuf,
}

pub async fn run(args: TypesArgs) -> anyhow::Result<()> {
    let project = Project::load(&args.project)?;
    let (collections, secrets) = match args.server {
        None => (
            CollectionTypes::parse_all(&project.manifest.collections)
                .context("the manifest's `collections`")?,
            Vec::new(),
        ),
        Some(server) => from_server(&AdminHost::new(Some(server), args.token, args.dir)).await?,
    };
    let text = typegen::render(&project.manifest, &collections, &secrets)?;
    crate::sdk::install(&project.dir)?;
    let changed = typegen::write(&project.dir, &text)?;
    println!(
        "{} {} ({} collections, {} secrets, types of @pb-serverless/sdk in {})",
        if changed { "wrote" } else { "unchanged:" },
        project.dir.join(typegen::FILE_NAME).display(),
        collections.len(),
        project.manifest.secrets.len() + secrets.len(),
        crate::sdk::dir(&project.dir).display()
    );
    Ok(())
}

/// The collections and secret names of a running host.
async fn from_server(host: &AdminHost) -> anyhow::Result<(Vec<CollectionTypes>, Vec<String>)> {
    let token = host.token()?;
    let url = format!(
        "{}/api/collections?perPage=1000",
        host.server().trim_end_matches('/')
    );
    let response = super::http_client()
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .with_context(|| format!("reach the host at {}", host.server()))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if !status.is_success() {
        anyhow::bail!(
            "{url}: {status}: {}",
            body["message"].as_str().unwrap_or("no message")
        );
    }
    let items = body["items"].as_array().cloned().unwrap_or_default();
    let collections = CollectionTypes::parse_all(&items).context("the host's collections")?;
    let secrets = host
        .call(reqwest::Method::GET, "secrets", &[], None)
        .await?["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    Ok((collections, secrets))
}
