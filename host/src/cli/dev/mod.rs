//! `pbs dev [PROJECT] [--addr A]`: a host on SQLite inside the project
//! (`.pb/data`), the project deployed to it, and a watcher that rebuilds what
//! a saved file touches.
//!
//! - A saved source file rebuilds only the functions whose bundle read it
//!   (esbuild's metafile lists each bundle's inputs) and deploys each as a
//!   new version: the host switches new requests to it at once, requests
//!   under way finish on the old one. A light JS function serves the build
//!   as a preview while its version compiles (`crate::deploy::preview`,
//!   [`deployer`]).
//! - A saved `pb_serverless.json` applies collections, functions whose
//!   definition changed (new, changed, removed), job bindings, cron
//!   schedules, hooks and secret bindings.
//! - A build error prints its `file:line:col` and the last good version
//!   keeps serving.
//! - Every event of a function is printed as a line ([`logs`]).
//!
//! It deploys through the host's admin API like `pbs deploy`, so what runs
//! is what a deploy would run: the same checks, the same engine.

mod deployer;
mod logs;
mod watch;

use super::admin_host::{AdminHost, DEV_DATA_DIR};
use super::deploy_project::{apply_bindings, apply_collections, build_function};
use crate::config::{HostConfig, SecretsConfig, DEFAULT_ADDR};
use crate::deploy::Registry;
use crate::engine::Runtime;
use crate::project::{manifest::FILE_NAME, Project};
use crate::server::Server;
use anyhow::Context;
use clap::Args;
use deployer::{Deployer, Serving, Upload};
use reqwest::Method;
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long the watcher waits for a burst of file events to settle.
pub const DEBOUNCE: Duration = Duration::from_millis(50);
/// The environment whose secrets the dev host's functions read.
pub const DEV_ENVIRONMENT: &str = "dev";

#[derive(Args)]
pub struct DevArgs {
    /// The project folder (with `pb_serverless.json`); default: here.
    project: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = DEFAULT_ADDR)]
    addr: SocketAddr,
    /// Apply collection changes that lose data (a dropped field, a changed type).
    #[arg(long)]
    force: bool,
}

pub async fn run(args: DevArgs) -> anyhow::Result<()> {
    logs::install();
    let dir = args.project.unwrap_or_else(|| PathBuf::from("."));
    anyhow::ensure!(
        dir.join(FILE_NAME).is_file(),
        "{} has no {FILE_NAME}: create a project with `pbs init`",
        dir.display()
    );
    let dir = dir
        .canonicalize()
        .with_context(|| format!("open {}", dir.display()))?;
    crate::sdk::install(&dir)?;
    let project = Project::load(&dir)?;
    let data = dir.join(DEV_DATA_DIR);
    let config = HostConfig {
        addr: args.addr,
        dir: data.clone(),
        secrets: SecretsConfig {
            environment: DEV_ENVIRONMENT.into(),
            key: None,
        },
        ..HostConfig::default()
    };
    let server = Server::start(config).await?;
    let addr = server.addr();
    let token = server
        .admin_token()
        .context("the dev host has no admin token")?
        .to_string();
    say(&format!(
        "pbs dev: {} on http://{addr}/api/pb_serverless/<name> (data in {}; Ctrl-C stops)",
        dir.display(),
        data.display()
    ));
    let mut session = Session {
        dir: dir.clone(),
        registry: server.registry().cloned(),
        project,
        host: AdminHost::with_token(format!("http://{addr}"), token),
        runtime: super::build::build_runtime()?,
        functions: BTreeMap::new(),
        deployers: HashMap::new(),
        force: args.force,
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // Watching starts before the first deploy, so a save during it counts.
    let _watcher = watch::start(&dir, DEBOUNCE, tx)?;
    let stop = super::serve::shutdown_signal();
    tokio::pin!(stop);
    tokio::select! {
        _ = session.start() => {}
        _ = &mut stop => return finish(server).await,
    }
    say("watching for changes");
    loop {
        tokio::select! {
            batch = rx.recv() => {
                let Some(mut paths) = batch else { break };
                // Whatever else arrived meanwhile goes in the same round.
                while let Ok(more) = rx.try_recv() {
                    paths.extend(more);
                }
                tokio::select! {
                    _ = session.changed(paths) => {}
                    _ = &mut stop => break,
                }
            }
            _ = &mut stop => break,
        }
    }
    finish(server).await
}

async fn finish(server: Server) -> anyhow::Result<()> {
    say("stopping: waiting for requests under way");
    server.shutdown().await;
    say("stopped");
    Ok(())
}

/// One line on stdout (a closed stdout must not stop the loop).
fn say(line: &str) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// What dev knows about a function of the project.
struct Function {
    /// The files its last build read, with a hash of what each held when
    /// that build started; empty until one succeeded (then every change
    /// rebuilds it). A save that changes none of them rebuilds nothing.
    inputs: HashMap<PathBuf, u64>,
    /// Its definition in the manifest, to tell what a manifest change
    /// touched.
    definition: String,
    /// The version it serves (none until a deploy succeeded), kept up to
    /// date by its deploys.
    version: Serving,
}

impl Function {
    fn version(&self) -> Option<String> {
        self.version
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

struct Session {
    dir: PathBuf,
    /// The dev host's registry, in this process: edits preview on it.
    registry: Option<Arc<Registry>>,
    project: Project,
    host: AdminHost,
    /// The engine builds run on, kept across rebuilds.
    runtime: Runtime,
    functions: BTreeMap<String, Function>,
    /// Uploads behind previews, per function ([`deployer`]).
    deployers: HashMap<String, Deployer>,
    force: bool,
}

impl Session {
    /// Files changed: a manifest change applies the manifest (which rebuilds
    /// the functions its change touches); then every function that read a
    /// changed file is rebuilt.
    async fn changed(&mut self, paths: Vec<PathBuf>) {
        let paths: HashSet<PathBuf> = paths
            .into_iter()
            .filter(|p| !watch::ignored(&self.dir, p))
            .collect();
        if paths.is_empty() {
            return;
        }
        let manifest = self.dir.join(FILE_NAME);
        let mut rebuilt = HashSet::new();
        if paths.contains(&manifest) {
            match Project::load(&self.dir) {
                Ok(project) => {
                    self.project = project;
                    rebuilt = self.apply_manifest().await;
                }
                Err(e) => {
                    say(&format!(
                        "✗ {FILE_NAME}: {e:#}\n  (nothing applied; the host keeps what it had)"
                    ));
                    return;
                }
            }
        }
        let touched: Vec<String> = self
            .functions
            .iter()
            .filter(|(name, f)| {
                !rebuilt.contains(*name)
                    && (f.inputs.is_empty()
                        || paths
                            .iter()
                            .any(|p| f.inputs.get(p).is_some_and(|&hash| content_hash(p) != hash)))
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in touched {
            self.rebuild(&name, true).await;
        }
    }

    /// The engine that previews edits of JS functions (compiled once, it
    /// leaves its code in the compile cache for the first deploy), then the
    /// first deploy of the whole manifest.
    async fn start(&mut self) {
        let has_js = self
            .project
            .manifest
            .functions
            .values()
            .any(|f| f.entry.is_some());
        if let Some(registry) = self.registry.as_ref().filter(|_| has_js) {
            registry.prepare_previews().await;
        }
        self.apply_manifest().await;
    }

    /// Applies the whole manifest: secrets from the environment, collections,
    /// the functions whose definition is new or changed (and removes those
    /// gone), then job bindings, cron and hooks. Returns the functions it
    /// rebuilt.
    async fn apply_manifest(&mut self) -> HashSet<String> {
        match crate::project::typegen::write_from_manifest(&self.project) {
            Ok(true) => say("✓ pb-env.d.ts updated"),
            Ok(false) => {}
            Err(e) => say(&format!("✗ types: {e:#}")),
        }
        self.apply_secrets().await;
        if let Err(e) = apply_collections(&self.project, &self.host, self.force).await {
            say(&format!("✗ collections: {e:#}"));
            if !self.force {
                say("  (a change that loses data needs `pbs dev --force`)");
            }
        }
        let manifest = &self.project.manifest;
        let wanted: BTreeMap<String, String> = manifest
            .functions
            .iter()
            .map(|(name, spec)| {
                let definition = format!(
                    "{spec:?} {:?} {:?}",
                    manifest.bound_triggers(name),
                    manifest.expected_exports(name)
                );
                (name.clone(), definition)
            })
            .collect();
        let gone: Vec<String> = self
            .functions
            .keys()
            .filter(|n| !wanted.contains_key(*n))
            .cloned()
            .collect();
        for name in gone {
            self.functions.remove(&name);
            // An upload still under way would bring it back.
            if let Some(deployer) = self.deployers.remove(&name) {
                deployer.idle().await;
            }
            match self
                .host
                .call(Method::DELETE, &format!("functions/{name}"), &[], None)
                .await
            {
                Ok(_) => say(&format!("– {name} removed (requests under way finish)")),
                Err(e) => say(&format!("✗ {name}: could not remove it: {e:#}")),
            }
        }
        let mut rebuilt = HashSet::new();
        for (name, definition) in wanted {
            let known = self.functions.get(&name);
            if known.is_some_and(|f| f.definition == definition && f.version().is_some()) {
                continue;
            }
            let inputs = known.map(|f| f.inputs.clone()).unwrap_or_default();
            let version = known.map(|f| f.version.clone()).unwrap_or_default();
            self.functions.insert(
                name.clone(),
                Function {
                    inputs,
                    definition,
                    version,
                },
            );
            self.rebuild(&name, false).await;
            rebuilt.insert(name);
        }
        if let Err(e) = apply_bindings(&self.project, &self.host).await {
            say(&format!("✗ jobs, cron or hooks: {e:#}"));
        }
        rebuilt
    }

    /// Each secret the manifest binds: set from the environment variable of
    /// the same name when there is one, else bound if the dev host has it;
    /// a warning when it has not.
    async fn apply_secrets(&self) {
        for (name, spec) in &self.project.manifest.secrets {
            let path = format!("secrets/{name}");
            let outcome = match std::env::var(name).ok().filter(|v| !v.is_empty()) {
                Some(value) => self
                    .host
                    .call(
                        Method::PUT,
                        &path,
                        &[],
                        Some(&json!({ "value": value, "hosts": spec.hosts })),
                    )
                    .await
                    .map(|_| {
                        format!(
                            "secret {name}: from the environment, bound to {}",
                            spec.hosts.join(", ")
                        )
                    }),
                None => self
                    .host
                    .call(
                        Method::PATCH,
                        &path,
                        &[],
                        Some(&json!({ "hosts": spec.hosts })),
                    )
                    .await
                    .map(|_| format!("secret {name}: bound to {}", spec.hosts.join(", "))),
            };
            match outcome {
                Ok(line) => say(&line),
                Err(_) => say(&format!(
                    "! secret {name} is not set: requests carrying {{{{secret:{name}}}}} will be refused. \
                     Restart with {name}=… in the environment, or in another terminal: \
                     pbs secrets set {name} --server {} --bind-host {}",
                    self.host.server(),
                    spec.hosts.join(" --bind-host ")
                )),
            }
        }
    }

    /// Builds function `name` and deploys it; prints one line either way.
    /// A failed build leaves the version it served in place. With `preview`
    /// (a saved source file),
    /// a light JS function already serving previews the build at once, and
    /// the upload runs in the background ([`deployer`]); otherwise (the
    /// manifest's changes, whose bindings need the function deployed
    /// first) this waits for the deploy.
    async fn rebuild(&mut self, name: &str, preview: bool) {
        let Some(spec) = self.project.manifest.functions.get(name) else {
            return;
        };
        // A deploy of this function still under way lands first.
        if !preview {
            if let Some(deployer) = self.deployers.get(name) {
                deployer.idle().await;
            }
        }
        let started = Instant::now();
        // What the known inputs hold as the build starts (a save during the
        // build then differs, and rebuilds again).
        let before: HashMap<PathBuf, u64> = self
            .functions
            .get(name)
            .map(|f| {
                f.inputs
                    .keys()
                    .map(|p| (p.clone(), content_hash(p)))
                    .collect()
            })
            .unwrap_or_default();
        let built = build_function(&self.project, name, spec, &self.runtime).await;
        let build_time = started.elapsed();
        // The snapshot's compile ran in this process too.
        tokio::task::spawn_blocking(crate::engine::release_memory);
        let Some(function) = self.functions.get_mut(name) else {
            return;
        };
        let mut built = match built {
            Ok(b) => b,
            Err(e) => {
                let serving = function
                    .version()
                    .map(|v| format!("still serving {}", short(&v)))
                    .unwrap_or_else(|| "not serving yet".into());
                let report = format!("{e:#}");
                let mut lines = positions(&report);
                lines.push(report);
                say(&format!(
                    "✗ {name}: build failed after {:.2} s; {serving}\n{}",
                    build_time.as_secs_f64(),
                    indent(&lines.join("\n"))
                ));
                return;
            }
        };
        function.inputs = built
            .inputs
            .iter()
            .map(|p| {
                let hash = before.get(p).copied().unwrap_or_else(|| content_hash(p));
                (p.clone(), hash)
            })
            .collect();
        let hash = match &built.preview {
            Some(p) => p.hash.clone(),
            None => crate::deploy::content_hash(&built.bytes),
        };
        if !preview {
            let upload = Upload {
                built,
                hash,
                started,
                build_time,
                previewed: None,
            };
            deployer::upload(&self.host, None, upload, &function.version, || false).await;
            return;
        }
        // Serve the edit now from the plain engine; the deploy replaces the
        // preview with the compiled version. Uploads go in the order of
        // their builds, previewed or not.
        let mut previewed = None;
        if let Some(registry) = &self.registry {
            registry.upload_queued(name, &hash);
            if let Some(p) = built.preview.take() {
                if registry.preview(name, p, &built.settings).await {
                    previewed = Some(started.elapsed());
                }
            }
        }
        let upload = Upload {
            built,
            hash,
            started,
            build_time,
            previewed,
        };
        let (host, registry, serving) = (&self.host, &self.registry, &function.version);
        self.deployers
            .entry(name.to_string())
            .or_insert_with(|| Deployer::start(host.clone(), registry.clone(), serving.clone()))
            .send(upload);
    }
}

/// A hash of a file's contents (0 when it cannot be read: deleted).
fn content_hash(path: &std::path::Path) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::fs::read(path).unwrap_or_default().hash(&mut h);
    h.finish()
}

fn short(version: &str) -> &str {
    version.get(..12).unwrap_or(version)
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `file:line:col: message` of each error in esbuild's report, which
/// prints the position on a line of its own below the message.
fn positions(report: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut message: Option<&str> = None;
    for line in report.lines() {
        if let Some(m) = line.trim_start().strip_prefix("✘ [ERROR] ") {
            message = Some(m);
        } else if let (Some(m), Some(pos)) = (message, line.trim().strip_suffix(':')) {
            let mut parts = pos.rsplitn(3, ':');
            let (col, row) = (parts.next(), parts.next());
            if col.is_some_and(|c| c.parse::<u32>().is_ok())
                && row.is_some_and(|r| r.parse::<u32>().is_ok())
                && parts.next().is_some()
            {
                out.push(format!("{pos}: error: {m}"));
                message = None;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn esbuild_positions_are_read() {
        let report = "esbuild could not bundle src/index.ts:\n✘ [ERROR] Expected \";\" but found \"b\"\n\n    src/index.ts:1:6:\n      1 │ let a b\n        │       ^\n        ╵       ;\n\n1 error";
        assert_eq!(
            super::positions(report),
            vec!["src/index.ts:1:6: error: Expected \";\" but found \"b\"".to_string()]
        );
    }
}
