//! `pbs deploy` of a project: builds every function of `pb_serverless.json`,
//! then hands each section to the admin endpoint that owns it.
//!
//! Everything is built (and its exports checked against the manifest) before
//! anything is uploaded, so a project that does not build changes nothing on
//! the host. The uploads themselves are one request per section; each is
//! all-or-nothing on the host, and they run in dependency order: collections
//! (hooks name them), functions (bindings name them), then job bindings,
//! cron schedules and hooks, which replace the host's previous sets, and the
//! hosts of each secret the manifest names (which must be set already).
//!
//! `pbs dev` (`super::dev`) uses the same steps one by one.

use super::admin_host::AdminHost;
use super::deploy::{read_component, upload, upload_quietly};
use crate::common::sourcemap::SourceMapper;
use crate::deploy::preview::Preview;
use crate::deploy::{js_serves_http, Settings};
use crate::engine::Runtime;
use crate::project::{manifest::FunctionSpec, Project};
use anyhow::Context;
use reqwest::Method;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

/// A function built and checked against the manifest, ready to upload.
pub struct Built {
    pub name: String,
    pub bytes: Vec<u8>,
    pub triggers: Vec<String>,
    /// Its allowlist and reuse, from the manifest.
    pub settings: Settings,
    /// The files it was made of (absolute): a JS bundle's inputs, or the
    /// component file.
    pub inputs: Vec<PathBuf>,
    /// For a JS function: what a `pbs dev` host can serve before the
    /// component is compiled.
    pub preview: Option<Preview>,
}

pub async fn run(project: &Project, host: &AdminHost, force: bool) -> anyhow::Result<()> {
    let manifest = &project.manifest;
    if manifest.functions.is_empty() && manifest.collections.is_empty() {
        anyhow::bail!("the manifest defines no functions and no collections: nothing to deploy");
    }
    let runtime = super::build::build_runtime()?;
    let mut built = Vec::new();
    for (name, spec) in &manifest.functions {
        built.push(build_function(project, name, spec, &runtime).await?);
    }
    // Every secret the manifest binds must be set on the host, checked
    // before anything is uploaded.
    for name in manifest.secrets.keys() {
        host.call(Method::GET, &format!("secrets/{name}"), &[], None)
            .await
            .with_context(|| {
                format!("secret `{name}` (bound to hosts in the manifest): set it first with `pbs secrets set {name}`")
            })?;
    }
    apply_collections(project, host, force).await?;
    for f in built {
        upload(host, &f.name, f.bytes, &f.triggers.join(","), &f.settings).await?;
    }
    apply_bindings(project, host).await?;
    bind_secrets(project, host).await?;
    Ok(())
}

/// Builds function `name` of the project (a JS/TS entry with `runtime`'s
/// engine, or reads its component) and checks that it has every export the
/// manifest binds to it.
pub async fn build_function(
    project: &Project,
    name: &str,
    spec: &FunctionSpec,
    runtime: &Runtime,
) -> anyhow::Result<Built> {
    let manifest = &project.manifest;
    let bound: Vec<String> = manifest
        .bound_triggers(name)
        .into_iter()
        .map(String::from)
        .collect();
    let mut preview = None;
    let (bytes, triggers, inputs) = match (&spec.entry, &spec.component) {
        (Some(entry), _) => {
            let component =
                super::build::build_entry_with(runtime, &project.dir.join(entry)).await?;
            for (export, needed_by) in manifest.expected_exports(name) {
                if !component.exports.contains(&export) {
                    anyhow::bail!(
                        "function `{name}` ({}) does not export `{export}`, which {needed_by} calls; it exports: {}",
                        entry.display(),
                        component.exports.join(", ")
                    );
                }
            }
            // A JS function serves whatever its bundle exports; ask for
            // HTTP only when it has a handler, so a worker-only bundle
            // deploys.
            let mut triggers = bound;
            if js_serves_http(&component.exports) || triggers.is_empty() {
                triggers.insert(0, "http".to_string());
            }
            preview =
                (component.evaluated_in <= crate::deploy::preview::MAX_EVALUATION).then(|| {
                    Preview {
                        hash: crate::deploy::content_hash(&component.component),
                        bundle: component.code,
                        exports: component.exports,
                        source_map: Some(Arc::new(SourceMapper::new(component.map))),
                    }
                });
            (component.component, triggers, component.inputs)
        }
        (None, Some(component)) => {
            let path = project.dir.join(component);
            let bytes = read_component(&path)?;
            let triggers = match &spec.triggers {
                Some(t) => t.clone(),
                None => std::iter::once("http".to_string()).chain(bound).collect(),
            };
            let absolute = std::path::absolute(&path).unwrap_or(path);
            (bytes, triggers, vec![absolute])
        }
        (None, None) => unreachable!("Manifest::resolve refuses a function without a source"),
    };
    Ok(Built {
        name: name.to_string(),
        bytes,
        triggers,
        settings: Settings {
            allowed_hosts: spec.allowed_hosts.clone(),
            reuse: spec.reuse,
        },
        inputs,
        preview,
    })
}

/// Uploads a built function as its new version; the host's answer.
pub async fn upload_built(host: &AdminHost, f: Built) -> anyhow::Result<serde_json::Value> {
    upload_quietly(host, &f.name, f.bytes, &f.triggers.join(","), &f.settings).await
}

/// The manifest's collections, in one transaction (`force`: also changes
/// that lose data).
pub async fn apply_collections(
    project: &Project,
    host: &AdminHost,
    force: bool,
) -> anyhow::Result<()> {
    let manifest = &project.manifest;
    if manifest.collections.is_empty() {
        return Ok(());
    }
    let body = json!({ "collections": manifest.collections, "force": force });
    host.call(Method::PUT, "collections", &[], Some(&body))
        .await
        .context("collections refused")?;
    println!("collections: {} applied", manifest.collections.len());
    Ok(())
}

/// Job bindings, cron schedules and record hooks: each replaces the host's
/// set (a manifest without hooks removes the host's).
pub async fn apply_bindings(project: &Project, host: &AdminHost) -> anyhow::Result<()> {
    let manifest = &project.manifest;
    let bindings = json!({ "bindings": manifest.jobs });
    host.call(Method::PUT, "jobs/bindings", &[], Some(&bindings))
        .await
        .context("job bindings refused")?;
    let schedules: Vec<_> = manifest
        .cron
        .iter()
        .map(|c| {
            json!({ "function": c.function, "func": c.func, "cron": c.cron, "timezone": c.timezone })
        })
        .collect();
    host.call(
        Method::PUT,
        "cron",
        &[],
        Some(&json!({ "schedules": schedules })),
    )
    .await
    .context("cron schedules refused")?;
    if !manifest.cron.is_empty() {
        println!("cron: {} schedules", manifest.cron.len());
    }
    let hooks: Vec<_> = manifest
        .hooks
        .iter()
        .map(|h| {
            json!({ "collection": h.collection, "event": h.event, "function": h.function, "func": h.func })
        })
        .collect();
    host.call(Method::PUT, "hooks", &[], Some(&json!({ "hooks": hooks })))
        .await
        .context("record hooks refused")?;
    if !hooks.is_empty() {
        println!("hooks: {}", hooks.len());
    }
    Ok(())
}

/// Binds each secret the manifest names to its hosts (only the bindings:
/// values never live in the manifest).
pub async fn bind_secrets(project: &Project, host: &AdminHost) -> anyhow::Result<()> {
    let manifest = &project.manifest;
    for (name, spec) in &manifest.secrets {
        let path = format!("secrets/{name}");
        let body = json!({ "hosts": spec.hosts });
        host.call(Method::PATCH, &path, &[], Some(&body))
            .await
            .with_context(|| {
                format!(
                    "binding secret `{name}` to its hosts failed (set it first: `pbs secrets set {name}`)"
                )
            })?;
    }
    if !manifest.secrets.is_empty() {
        println!("secrets bound to hosts: {}", manifest.secrets.len());
    }
    Ok(())
}
