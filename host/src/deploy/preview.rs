//! `pbs dev` previews: a saved edit of a JS function serves before its
//! version is compiled.
//!
//! Every JS version is the same engine code with a different snapshot of
//! memory, yet each one is compiled whole (~0.7 s of a redeploy, even with
//! Cranelift's cache; see `engine::compile_cache`). A preview skips that:
//! the plain engine, compiled once per host, evaluates the new bundle in
//! each fresh instance (what the snapshot would have held) and then serves
//! the request. `pbs dev` switches the function to the preview as soon as
//! the bundle is built, then deploys the real version as always; that
//! deploy replaces the preview (the deploy of an earlier, overtaken edit
//! does not), and a refused one brings the stored version back
//! ([`Registry::upload_ended`]). So an edit answers in about the time of
//! esbuild, and a fraction of a second later runs from its snapshot like
//! any deployed version. Previews exist only in the memory of the dev host:
//! nothing is stored, and a host sharing the database never sees one.

use super::check::{inspect, js_serves_http, Trigger};
use super::registry::{Deployed, Registry, Settings, Version};
use crate::common::sourcemap::SourceMapper;
use crate::engine::Invocation;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use wasmtime::component::{Instance, InstancePre};
use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

/// The longest a bundle may take to evaluate to be previewed: a preview
/// evaluates it on every request (a hello with our Web APIs takes 30–100
/// ms, the AI SDK's ~1.8 MB bundle 0.3–0.6 s), so a heavy one waits for
/// its deploy, which is as soon.
pub const MAX_EVALUATION: std::time::Duration = std::time::Duration::from_millis(200);

/// A built JS function that is not deployed yet.
pub struct Preview {
    /// The hash its component will be stored under (its version to be), so
    /// a job enqueued by the preview runs on that version.
    pub hash: String,
    pub bundle: Arc<str>,
    /// The bundle's export names, as the snapshot reported them.
    pub exports: Vec<String>,
    pub source_map: Option<Arc<SourceMapper>>,
}

/// The plain engine (`deploy::js::ENGINE`), compiled for the host's runtime.
struct PlainEngine {
    pre: InstancePre<Invocation>,
    proxy: Option<ProxyPre<Invocation>>,
}

/// Previews kept for jobs they enqueued, newest last.
const RECENT_PREVIEWS: usize = 16;

/// A registry's previews: the plain engine (compiled once, when `pbs dev`
/// asks for it; until then there are no previews) and, per function, the
/// uploads `pbs dev` has in flight.
#[derive(Default)]
pub(super) struct Previews {
    engine: OnceLock<Option<PlainEngine>>,
    uploads: Mutex<HashMap<String, Uploads>>,
    /// Recent preview versions, so a job one enqueued runs on its code
    /// even if its upload was overtaken by a later save.
    recent: Mutex<VecDeque<Arc<Version>>>,
}

#[derive(Default)]
struct Uploads {
    /// The hash of the latest build queued for upload.
    latest: Option<String>,
    /// Builds a later one overtook: their deploy stores the version but
    /// leaves a preview serving (it is of newer code).
    overtaken: HashSet<String>,
}

impl Previews {
    fn engine(&self) -> Option<&PlainEngine> {
        self.engine.get().and_then(Option::as_ref)
    }

    fn uploads(&self) -> std::sync::MutexGuard<'_, HashMap<String, Uploads>> {
        self.uploads.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the deploy of `hash` should leave a preview of `name`
    /// serving; the upload is done either way.
    pub(super) fn deployed(&self, name: &str, hash: &str) -> bool {
        let mut uploads = self.uploads();
        let Some(u) = uploads.get_mut(name) else {
            return false;
        };
        if u.latest.as_deref() == Some(hash) {
            u.latest = None;
        }
        u.overtaken.remove(hash)
    }
}

impl Registry {
    /// Compiles the plain engine (once), so edits can preview. `pbs dev`
    /// awaits it before its first deploy, which then finds the engine's
    /// code in the compile cache.
    pub async fn prepare_previews(self: &Arc<Self>) {
        let registry = self.clone();
        let compile = move || {
            registry.previews.engine.get_or_init(|| {
                let compiled = inspect(registry.runtime(), super::js::ENGINE, &[])
                    .map(|checked| PlainEngine {
                        pre: checked.pre,
                        proxy: checked.proxy,
                    })
                    .map_err(|e| tracing::warn!("no dev previews: the engine did not compile: {e}"))
                    .ok();
                crate::engine::release_memory();
                compiled
            });
        };
        let _ = tokio::task::spawn_blocking(compile).await;
    }

    /// Serves `preview` for `name`, with `settings` (the manifest's), until
    /// its deploy replaces it. False when there is nothing to preview over
    /// (a new function, or one that is not JS) or the plain engine is not
    /// ready: then the edit waits for its deploy as usual.
    pub async fn preview(&self, name: &str, preview: Preview, settings: &Settings) -> bool {
        let Some(engine) = self.previews.engine() else {
            return false;
        };
        let Ok(outbound) = self.runtime().outbound_policy(&settings.allowed_hosts) else {
            return false;
        };
        let _switch = self.switch.lock().await;
        // Only JS replaces JS: over a component it would serve something
        // else entirely.
        let Some(current) = self
            .get(name)
            .filter(|d| crate::caps::jobs::is_js_bundle(&d.version.exports))
        else {
            return false;
        };
        let http = js_serves_http(&preview.exports);
        let mut triggers: Vec<Trigger> = current
            .version
            .triggers
            .iter()
            .copied()
            .filter(|t| *t != Trigger::Http)
            .collect();
        if http {
            triggers.insert(0, Trigger::Http);
        }
        let version = Arc::new(Version {
            hash: preview.hash,
            pre: engine.pre.clone(),
            proxy: engine.proxy.clone().filter(|_| http),
            exports: preview.exports,
            triggers,
            source_map: preview.source_map,
            init: Some(preview.bundle),
        });
        {
            let mut recent = self
                .previews
                .recent
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if recent.len() == RECENT_PREVIEWS {
                recent.pop_front();
            }
            recent.push_back(version.clone());
        }
        let mut deployed = Deployed::new(self.runtime(), name, version, settings.clone(), outbound);
        deployed.preview = true;
        if let Ok(mut live) = self.live.write() {
            live.insert(name.to_string(), Arc::new(deployed));
        }
        true
    }

    /// `pbs dev` queued the upload of `hash` for `name`: the build queued
    /// before it (if still in flight) is overtaken.
    pub fn upload_queued(&self, name: &str, hash: &str) {
        let mut uploads = self.previews.uploads();
        let u = uploads.entry(name.to_string()).or_default();
        if let Some(earlier) = u.latest.replace(hash.to_string()) {
            if earlier != hash {
                u.overtaken.insert(earlier);
            }
        }
    }

    /// The upload of `hash` was dropped (a later one overtook it before it
    /// started) or refused. A preview of it, or one with nothing left to
    /// deploy behind it, gives way to the function's stored version.
    pub async fn upload_ended(&self, name: &str, hash: &str) {
        let nothing_pending = {
            let mut uploads = self.previews.uploads();
            let u = uploads.entry(name.to_string()).or_default();
            u.overtaken.remove(hash);
            if u.latest.as_deref() == Some(hash) {
                u.latest = None;
            }
            u.latest.is_none()
        };
        let stale = |d: &Deployed| d.preview && (d.version.hash == hash || nothing_pending);
        if !self.get(name).is_some_and(|d| stale(&d)) {
            return;
        }
        let stored = match self.stored_deployed(name).await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::warn!(
                    function = name,
                    "the preview stays: the stored version cannot load: {e:#}"
                );
                return;
            }
        };
        let _switch = self.switch.lock().await;
        if let Ok(mut live) = self.live.write() {
            if live.get(name).is_some_and(|d| stale(d)) {
                match stored {
                    Some(d) => live.insert(name.to_string(), d),
                    None => live.remove(name),
                };
            }
        }
    }

    /// A recent preview's version by its hash (a job it enqueued runs on
    /// it when the version itself is not stored).
    pub fn preview_version(&self, hash: &str) -> Option<Arc<Version>> {
        let recent = self
            .previews
            .recent
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        recent.iter().rev().find(|v| v.hash == hash).cloned()
    }
}

/// Instantiates `pre` for a call of `version`: a preview's instance first
/// evaluates its bundle, as its snapshot would have at build time.
pub async fn instantiate(
    store: &mut Store<Invocation>,
    pre: &InstancePre<Invocation>,
    version: &Version,
) -> wasmtime::Result<Instance> {
    let instance = pre.instantiate_async(&mut *store).await?;
    if let Some(bundle) = &version.init {
        let evaluate = instance
            .get_typed_func::<(&str,), (Result<Vec<String>, String>,)>(&mut *store, "evaluate")?;
        let (outcome,) = evaluate.call_async(&mut *store, (bundle,)).await?;
        outcome.map_err(|message| wasmtime::format_err!("{message}"))?;
    }
    Ok(instance)
}
