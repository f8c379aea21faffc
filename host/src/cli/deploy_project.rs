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

use super::admin_host::AdminHost;
use super::deploy::{read_component, upload};
use crate::deploy::js_serves_http;
use crate::project::Project;
use anyhow::Context;
use reqwest::Method;
use serde_json::json;

struct Built {
    name: String,
    bytes: Vec<u8>,
    triggers: Vec<String>,
    allowed_hosts: Vec<String>,
}

pub async fn run(project: &Project, host: &AdminHost, force: bool) -> anyhow::Result<()> {
    let manifest = &project.manifest;
    if manifest.functions.is_empty() && manifest.collections.is_empty() {
        anyhow::bail!("the manifest defines no functions and no collections: nothing to deploy");
    }
    let mut built = Vec::new();
    for (name, spec) in &manifest.functions {
        let bound: Vec<String> = manifest
            .bound_triggers(name)
            .into_iter()
            .map(String::from)
            .collect();
        let (bytes, triggers) = match (&spec.entry, &spec.component) {
            (Some(entry), _) => {
                let component = super::build::build_entry(&project.dir.join(entry)).await?;
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
                (component.component, triggers)
            }
            (None, Some(component)) => {
                let bytes = read_component(&project.dir.join(component))?;
                let triggers = match &spec.triggers {
                    Some(t) => t.clone(),
                    None => std::iter::once("http".to_string()).chain(bound).collect(),
                };
                (bytes, triggers)
            }
            (None, None) => unreachable!("Manifest::resolve refuses a function without a source"),
        };
        built.push(Built {
            name: name.clone(),
            bytes,
            triggers,
            allowed_hosts: spec.allowed_hosts.clone(),
        });
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

    if !manifest.collections.is_empty() {
        let body = json!({ "collections": manifest.collections, "force": force });
        host.call(Method::PUT, "collections", &[], Some(&body))
            .await
            .context("collections refused")?;
        println!("collections: {} applied", manifest.collections.len());
    }
    for f in built {
        upload(
            host,
            &f.name,
            f.bytes,
            &f.triggers.join(","),
            &f.allowed_hosts,
        )
        .await?;
    }
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
    // Always sent: a manifest without hooks removes the host's.
    host.call(Method::PUT, "hooks", &[], Some(&json!({ "hooks": hooks })))
        .await
        .context("record hooks refused")?;
    if !hooks.is_empty() {
        println!("hooks: {}", hooks.len());
    }
    // Only the bindings: values never live in the manifest.
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
