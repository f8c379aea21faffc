//! How a command reaches a running host's admin API: its URL (`--server`,
//! `PB_SERVER`, or the `server_url` a local host wrote beside its token) and
//! the admin token (`--token`, `PB_ADMIN_TOKEN`, or `<dir>/admin_token`).

use crate::server::SERVER_URL_FILE;
use anyhow::Context;
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Args, Clone)]
pub struct AdminHost {
    /// The host's URL (default: the address a local host wrote into its
    /// data folder, else http://127.0.0.1:8090).
    #[arg(long, env = "PB_SERVER")]
    server: Option<String>,
    /// The admin token (default: `PB_ADMIN_TOKEN`, else `<dir>/admin_token`).
    #[arg(long, env = "PB_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The data folder of a local host, to find its admin token.
    #[arg(long, default_value = "pb_data", env = "PB_DATA_DIR")]
    dir: PathBuf,
}

/// Where `pbs dev` keeps its host's data, inside the project.
pub const DEV_DATA_DIR: &str = ".pb/data";

const DEFAULT_SERVER: &str = "http://127.0.0.1:8090";

impl AdminHost {
    /// A host at `server`, its token given or found as the flags would.
    pub fn new(server: Option<String>, token: Option<String>, dir: PathBuf) -> AdminHost {
        AdminHost { server, token, dir }
    }

    /// A host at `server` with a known token (`pbs dev`'s own).
    pub fn with_token(server: String, token: String) -> AdminHost {
        AdminHost {
            server: Some(server),
            token: Some(token),
            dir: PathBuf::from(DEV_DATA_DIR),
        }
    }

    /// The data folder of the local host this command talks to: `<dir>`,
    /// else (in a project folder where `pbs dev` runs) `.pb/data`; the
    /// first that holds an admin token.
    fn local_dir(&self) -> Option<&Path> {
        [self.dir.as_path(), Path::new(DEV_DATA_DIR)]
            .into_iter()
            .find(|dir| dir.join("admin_token").is_file())
    }

    /// The host's URL: given, else the one the local host wrote beside its
    /// token (a `pbs dev --addr …` in this project), else the default.
    pub fn server(&self) -> String {
        if let Some(server) = &self.server {
            return server.clone();
        }
        self.local_dir()
            .and_then(|dir| std::fs::read_to_string(dir.join(SERVER_URL_FILE)).ok())
            .map(|url| url.trim().to_string())
            .filter(|url| !url.is_empty())
            .unwrap_or_else(|| DEFAULT_SERVER.to_string())
    }

    /// The token: given, else `<dir>/admin_token`, else (in a project
    /// folder where `pbs dev` runs) `.pb/data/admin_token`.
    pub fn token(&self) -> anyhow::Result<String> {
        if let Some(t) = &self.token {
            return Ok(t.clone());
        }
        self.local_dir()
            .and_then(|dir| std::fs::read_to_string(dir.join("admin_token")).ok())
            .map(|t| t.trim().to_string())
            .with_context(|| {
                format!(
                    "no admin token: pass --token, set PB_ADMIN_TOKEN, or run next to the host's data folder ({} has no admin_token)",
                    self.dir.display()
                )
            })
    }

    /// `<server>/api/pb_serverless/_admin/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!(
            "{}/api/pb_serverless/_admin/{path}",
            self.server().trim_end_matches('/')
        )
    }

    /// Sends `method` to `<admin>/<path>` with `query` and an optional JSON
    /// body; returns the JSON answer (`null` for 204), or the host's error
    /// message with the status.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> anyhow::Result<serde_json::Value> {
        let mut request = super::http_client()
            .request(method, self.url(path))
            .bearer_auth(self.token()?)
            .query(query);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("reach the host at {}", self.server()))?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        if !status.is_success() {
            let message = body["message"].as_str().unwrap_or("no message");
            anyhow::bail!("{status}: {message}");
        }
        Ok(body)
    }
}
