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
//! deploy replaces the preview, a failed one puts the previous version back
//! ([`Registry::end_preview`]). So an edit answers in about the time of
//! esbuild, and a fraction of a second later runs from its snapshot like
//! any deployed version. Previews exist only in the memory of the dev host:
//! nothing is stored, and a host sharing the database never sees one.

use super::check::{inspect, Trigger};
use super::registry::{Deployed, Registry, Settings, Version};
use crate::common::sourcemap::SourceMapper;
use crate::engine::Invocation;
use std::sync::{Arc, OnceLock};
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
pub(super) struct PlainEngine {
    pre: InstancePre<Invocation>,
    proxy: Option<ProxyPre<Invocation>>,
}

/// The host's plain engine: compiled once, when `pbs dev` asks for it
/// (until then there are no previews).
#[derive(Default)]
pub(super) struct PlainEngineSlot {
    engine: OnceLock<Option<PlainEngine>>,
}

impl PlainEngineSlot {
    pub(super) fn get(&self) -> Option<&PlainEngine> {
        self.engine.get().and_then(Option::as_ref)
    }
}

impl Registry {
    /// Compiles the plain engine (once), so edits can preview. `pbs dev`
    /// awaits it before its first deploy, which then finds the engine's
    /// code in the compile cache.
    pub async fn prepare_previews(self: &Arc<Self>) {
        let registry = self.clone();
        let compile = move || {
            registry.plain_engine.engine.get_or_init(|| {
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
    /// its deploy replaces it. Returns
    /// what served before (for [`Registry::end_preview`]), or none when
    /// there is nothing to preview over (a new function) or the plain engine
    /// is not ready: then the edit waits for its deploy as usual.
    pub async fn preview(
        &self,
        name: &str,
        preview: Preview,
        settings: &Settings,
    ) -> Option<Arc<Deployed>> {
        let engine = self.plain_engine.get()?;
        let outbound = self
            .runtime()
            .outbound_policy(&settings.allowed_hosts)
            .ok()?;
        let _switch = self.switch.lock().await;
        let current = self.get(name)?;
        // A preview over a component that is not JS would serve something
        // else entirely: only JS replaces JS.
        if current.version.source_map.is_none() && current.version.init.is_none() {
            return None;
        }
        let triggers: Vec<Trigger> = current.version.triggers.clone();
        let version = Arc::new(Version {
            hash: preview.hash,
            pre: engine.pre.clone(),
            proxy: engine.proxy.clone(),
            exports: preview.exports,
            triggers,
            source_map: preview.source_map,
            init: Some(preview.bundle),
        });
        let mut deployed = Deployed::new(self.runtime(), name, version, settings.clone(), outbound);
        deployed.preview = true;
        deployed.held = true.into();
        self.live
            .write()
            .ok()?
            .insert(name.to_string(), Arc::new(deployed));
        Some(current)
    }

    /// A later edit of `name` was built without a preview: the deploy of
    /// any version may replace the preview serving now (the earlier edit's,
    /// or this one's).
    pub fn release_preview(&self, name: &str) {
        if let Some(d) = self.get(name).filter(|d| d.preview) {
            d.held.store(false, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// The deploy of a preview failed: `previous` serves again, unless
    /// something else replaced the preview meanwhile.
    pub async fn end_preview(&self, name: &str, previous: Arc<Deployed>) {
        let _switch = self.switch.lock().await;
        if let Ok(mut live) = self.live.write() {
            if live.get(name).is_some_and(|d| d.preview) {
                live.insert(name.to_string(), previous);
            }
        }
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
