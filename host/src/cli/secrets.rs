//! `pbs secrets …`: set, list and remove secrets through a running host's
//! admin API; rotate the master key offline; make a new key.

use super::admin_host::AdminHost;
use crate::caps::secrets::crypto::{KeySource, MasterKey, KEY_ENV, KEY_FILE};
use crate::caps::secrets::store;
use crate::store::Db;
use anyhow::Context;
use clap::{Args, Subcommand};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The environment variable holding the new key of `rotate-key`.
pub const NEW_KEY_ENV: &str = "PB_SECRETS_NEW_KEY";

#[derive(Args)]
pub struct SecretsArgs {
    #[command(subcommand)]
    command: SecretsCommand,
}

#[derive(Subcommand)]
enum SecretsCommand {
    /// Set a secret: `pbs secrets set NAME VALUE`, or pipe the value with `--from-stdin`.
    Set(SetArgs),
    /// List an environment's secrets (values masked: `sk-…4f2a`).
    List(ListArgs),
    /// Remove a secret.
    Rm(RmArgs),
    /// Re-encrypt every secret of every environment with a new master key, in one transaction.
    ///
    /// With the key in `<dir>/secrets_key`: a new key is generated (or taken
    /// from PB_SECRETS_NEW_KEY) and replaces the file. With PB_SECRETS_KEY
    /// set: give the new key in PB_SECRETS_NEW_KEY (make one with `pbs
    /// secrets new-key`), then set PB_SECRETS_KEY to it on every host.
    /// Restart the hosts afterwards: a host keeps the key it started with.
    RotateKey(RotateArgs),
    /// Print a new random master key (base64 of 32 bytes), for PB_SECRETS_KEY.
    NewKey,
}

/// How to reach a running host's admin API.
#[derive(Args)]
struct Remote {
    #[command(flatten)]
    host: AdminHost,
    /// The environment (default: the one the host serves).
    #[arg(long = "env", env = "PB_ENV")]
    environment: Option<String>,
}

#[derive(Args)]
struct SetArgs {
    name: String,
    /// The value (it stays in your shell history: prefer `--from-stdin`).
    value: Option<String>,
    /// Read the value from standard input (one trailing newline dropped).
    #[arg(long, conflicts_with = "value")]
    from_stdin: bool,
    /// A host `{{secret:NAME}}` placeholders in outbound request headers may
    /// be filled in for (`api.openai.com`, `10.0.0.5:8080`); repeatable.
    /// Replaces the secret's bindings; without it they are kept.
    #[arg(long = "bind-host")]
    bind_hosts: Vec<String>,
    /// Remove every host binding.
    #[arg(long, conflicts_with = "bind_hosts")]
    no_bind: bool,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Args)]
struct ListArgs {
    #[command(flatten)]
    remote: Remote,
}

#[derive(Args)]
struct RmArgs {
    name: String,
    #[command(flatten)]
    remote: Remote,
}

#[derive(Args)]
struct RotateArgs {
    /// The data folder (holding the key file, and the SQLite database).
    #[arg(long, default_value = "pb_data", env = "PB_DATA_DIR")]
    dir: PathBuf,
    /// Database: `postgres://…` or a SQLite file (default `<dir>/data.db`).
    #[arg(long, env = "PB_DB")]
    db: Option<String>,
}

pub async fn run(args: SecretsArgs) -> anyhow::Result<()> {
    match args.command {
        SecretsCommand::Set(a) => set(a).await,
        SecretsCommand::List(a) => list(a).await,
        SecretsCommand::Rm(a) => rm(a).await,
        SecretsCommand::RotateKey(a) => rotate_key(a).await,
        SecretsCommand::NewKey => {
            let (_, text) = MasterKey::generate(KeySource::Env)?;
            println!("{text}");
            Ok(())
        }
    }
}

impl Remote {
    /// Sends a request to `secrets[/name]` and returns the JSON answer (none for 204).
    async fn call(
        &self,
        method: reqwest::Method,
        name: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<serde_json::Value> {
        let path = match name {
            Some(name) => format!("secrets/{name}"),
            None => "secrets".to_string(),
        };
        let query: Vec<(&str, &str)> = match &self.environment {
            Some(env) => vec![("env", env.as_str())],
            None => Vec::new(),
        };
        self.host.call(method, &path, &query, body.as_ref()).await
    }
}

async fn set(args: SetArgs) -> anyhow::Result<()> {
    let value = match (args.value, args.from_stdin) {
        (Some(v), _) => v,
        (None, true) => {
            let mut v = String::new();
            std::io::stdin()
                .read_to_string(&mut v)
                .context("read the value from standard input (it must be UTF-8)")?;
            if v.ends_with('\n') {
                v.pop();
                if v.ends_with('\r') {
                    v.pop();
                }
            }
            v
        }
        (None, false) => anyhow::bail!(
            "give the value: `pbs secrets set {} VALUE`, or pipe it with `--from-stdin`",
            args.name
        ),
    };
    let mut body = serde_json::json!({ "value": value });
    if args.no_bind {
        body["hosts"] = serde_json::json!([]);
    } else if !args.bind_hosts.is_empty() {
        body["hosts"] = serde_json::json!(args.bind_hosts);
    }
    let done = args
        .remote
        .call(reqwest::Method::PUT, Some(&args.name), Some(body))
        .await
        .context("set the secret")?;
    let hosts = strings(&done["hosts"]);
    println!(
        "set {} in {} ({}){}",
        args.name,
        done["environment"].as_str().unwrap_or("?"),
        done["masked"].as_str().unwrap_or("?"),
        if hosts.is_empty() {
            String::new()
        } else {
            format!(", bound to {}", hosts.join(", "))
        }
    );
    Ok(())
}

async fn list(args: ListArgs) -> anyhow::Result<()> {
    let listed = args
        .remote
        .call(reqwest::Method::GET, None, None)
        .await
        .context("list the secrets")?;
    let env = listed["environment"].as_str().unwrap_or("?");
    let items = listed["items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        println!("no secrets in environment {env}");
        return Ok(());
    }
    let rows: Vec<[String; 3]> = items
        .iter()
        .map(|i| {
            let value = match i["masked"].as_str() {
                Some(m) => m.to_string(),
                None => format!(
                    "(error: {})",
                    i["error"].as_str().unwrap_or("does not decrypt")
                ),
            };
            [
                i["name"].as_str().unwrap_or("?").to_string(),
                value,
                strings(&i["hosts"]).join(","),
            ]
        })
        .collect();
    let width = |k: usize, title: &str| {
        rows.iter()
            .map(|r| r[k].chars().count())
            .max()
            .unwrap_or(0)
            .max(title.len())
    };
    let (w0, w1) = (width(0, "NAME"), width(1, "VALUE"));
    println!("environment {env}");
    println!("{:w0$}  {:w1$}  HOSTS", "NAME", "VALUE");
    for [name, value, hosts] in rows {
        let pad = w1 - value.chars().count().min(w1);
        println!("{name:w0$}  {value}{}  {hosts}", " ".repeat(pad));
    }
    Ok(())
}

async fn rm(args: RmArgs) -> anyhow::Result<()> {
    args.remote
        .call(reqwest::Method::DELETE, Some(&args.name), None)
        .await
        .context("remove the secret")?;
    println!("removed {}", args.name);
    Ok(())
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The key the host would use now, without generating one.
fn current_key(dir: &Path) -> anyhow::Result<MasterKey> {
    if let Some(text) = std::env::var(KEY_ENV).ok().filter(|t| !t.trim().is_empty()) {
        return MasterKey::from_base64(&text, KeySource::Env);
    }
    let path = dir.join(KEY_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no master key: {KEY_ENV} is not set and {} cannot be read",
            path.display()
        )
    })?;
    MasterKey::from_base64(&text, KeySource::File(path))
}

async fn rotate_key(args: RotateArgs) -> anyhow::Result<()> {
    let old = current_key(&args.dir)?;
    let given = std::env::var(NEW_KEY_ENV)
        .ok()
        .filter(|t| !t.trim().is_empty());
    let (new, new_text) = match (&old.source, given) {
        (_, Some(text)) => (
            MasterKey::from_base64(&text, KeySource::Env)
                .map_err(|_| anyhow::anyhow!("{NEW_KEY_ENV} is not base64 of 32 bytes; make a key with `pbs secrets new-key`"))?,
            text.trim().to_string(),
        ),
        (KeySource::File(_), None) => MasterKey::generate(KeySource::Env)?,
        (KeySource::Env, None) => anyhow::bail!(
            "the key comes from {KEY_ENV}: give the new one in {NEW_KEY_ENV} (make one with `pbs secrets new-key` and keep it safe first)"
        ),
    };
    anyhow::ensure!(
        new.id() != old.id(),
        "the new key is the current one (key id {})",
        old.id()
    );
    let url = match &args.db {
        Some(url) => url.clone(),
        None => {
            let file = args.dir.join("data.db");
            anyhow::ensure!(
                file.exists(),
                "no database at {} (pass --db for another)",
                file.display()
            );
            file.to_string_lossy().into_owned()
        }
    };
    let db = Db::open(&url).await?;

    // The new key file is written (and flushed) before the database
    // changes, so the key of the committed values is never only in memory.
    let staged = match &old.source {
        KeySource::File(path) => {
            let staged = path.with_file_name(format!("{KEY_FILE}.new"));
            anyhow::ensure!(
                !staged.exists(),
                "{} exists: an earlier rotation was interrupted. If the secrets decrypt with it (the host logs key ids at start), move it over {KEY_FILE}; otherwise delete it. Then run this again.",
                staged.display()
            );
            crate::common::write_private(&staged, &new_text)?;
            Some((staged, path.clone()))
        }
        KeySource::Env => None,
    };
    let rotated = store::rotate(&db, &old, &new).await;
    db.close().await;
    let count = match rotated {
        Ok(n) => n,
        Err(e) => {
            if let Some((staged, _)) = &staged {
                let _ = std::fs::remove_file(staged);
            }
            return Err(anyhow::anyhow!("{e}")).context("nothing was changed");
        }
    };
    match staged {
        Some((staged, path)) => {
            std::fs::rename(&staged, &path).with_context(|| {
                format!(
                    "the secrets are re-encrypted with the key in {}, but it could not replace {}: move it there yourself",
                    staged.display(),
                    path.display()
                )
            })?;
            if let Some(parent) = path.parent() {
                if let Ok(d) = std::fs::File::open(parent) {
                    let _ = d.sync_all();
                }
            }
            println!(
                "re-encrypted {count} secrets with a new key (key id {}, was {}), stored in {}. Restart the hosts that use this data folder.",
                new.id(),
                old.id(),
                path.display()
            );
        }
        None => println!(
            "re-encrypted {count} secrets with the key in {NEW_KEY_ENV} (key id {}, was {}). Set {KEY_ENV} to it on every host and restart them.",
            new.id(),
            old.id()
        ),
    }
    Ok(())
}
