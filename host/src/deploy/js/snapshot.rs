//! Wizer: instantiate the embedded engine, call its `evaluate(bundle)`
//! (which evaluates our Web APIs and the bundle) and `wizer-initialize`, and
//! write the initialised memory back into the component. A request then starts with the module
//! already evaluated.

use crate::engine::{Deadline, Runtime};
use anyhow::{anyhow, bail};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::component::Component;
use wasmtime_wizer::{ComponentContext, WasmtimeWizerComponent, Wizer};

/// Longest a bundle's top-level code may run at build time.
const INIT_TIME_LIMIT: Duration = Duration::from_secs(60);
/// The engine's export that Wizer calls before the snapshot.
const INIT_FUNC: &str = "wizer-initialize";

pub struct Snapshot {
    pub component: Vec<u8>,
    pub exports: Vec<String>,
    /// How long evaluating the bundle took (what a `pbs dev` preview would
    /// pay on each request).
    pub evaluated_in: Duration,
}

/// The engine, instrumented by Wizer and compiled. It is the same for every
/// bundle, so a process that builds many (`pbs dev` all day, `pbs deploy`
/// of a project) compiles it once: a rebuild then only evaluates the bundle
/// and writes the snapshot, which is most of what made `pbs dev`'s
/// save-to-serving time.
struct Prepared {
    engine: wasmtime::Engine,
    context: ComponentContext<'static>,
    component: Component,
}

fn prepared(runtime: &Runtime, wizer: &Wizer) -> anyhow::Result<Arc<Prepared>> {
    static PREPARED: Mutex<Option<Arc<Prepared>>> = Mutex::new(None);
    let mut slot = PREPARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = slot.as_ref() {
        if wasmtime::Engine::same(&p.engine, runtime.engine()) {
            return Ok(p.clone());
        }
    }
    let (context, instrumented) = wizer
        .instrument_component(super::ENGINE)
        .map_err(|e| anyhow!("the engine could not be instrumented: {e:#}"))?;
    let component = runtime
        .compile(&instrumented)
        .map_err(|e| anyhow!("the engine could not be compiled: {e:#}"))?;
    let p = Arc::new(Prepared {
        engine: runtime.engine().clone(),
        context,
        component,
    });
    *slot = Some(p.clone());
    Ok(p)
}

fn wizer() -> Wizer {
    let mut wizer = Wizer::new();
    wizer.init_func(INIT_FUNC);
    // The component lifts the export, so the core function must stay.
    wizer.keep_init_func(true);
    wizer
}

pub async fn snapshot(runtime: &Runtime, bundle: &str) -> anyhow::Result<Snapshot> {
    let wizer = wizer();
    let engine = prepared(runtime, &wizer)?;
    let deadline = Arc::new(Deadline::after(INIT_TIME_LIMIT));
    let mut store = runtime.new_store("pbs-build".into(), deadline.clone());
    let linker = runtime.linker().clone();
    // The bundle goes in through a typed call before Wizer's own (argument-
    // less) init call: Wizer's textual call syntax is no way to pass megabytes.
    let mut evaluated: Option<Result<Vec<String>, String>> = None;
    let mut evaluated_in = Duration::ZERO;
    let result: anyhow::Result<Vec<u8>> = async {
        let instance = linker
            .instantiate_async(&mut store, &engine.component)
            .await?;
        let evaluate = instance
            .get_typed_func::<(&str,), (Result<Vec<String>, String>,)>(&mut store, "evaluate")?;
        let evaluating = std::time::Instant::now();
        let (outcome,) = evaluate.call_async(&mut store, (bundle,)).await?;
        evaluated_in = evaluating.elapsed();
        let failed = outcome.is_err();
        evaluated = Some(outcome);
        // No snapshot of a bundle that failed to evaluate.
        anyhow::ensure!(!failed, "the bundle failed to evaluate");
        let init = instance.get_typed_func::<(), ()>(&mut store, INIT_FUNC)?;
        init.call_async(&mut store, ()).await?;
        let mut state = WasmtimeWizerComponent {
            store: &mut store,
            instance,
        };
        Ok(wizer
            .snapshot_component(&engine.context, &mut state)
            .await?)
    }
    .await;
    match (result, evaluated) {
        (_, Some(Err(message))) => bail!("{message}"),
        (Ok(component), Some(Ok(exports))) => Ok(Snapshot {
            component,
            exports,
            evaluated_in,
        }),
        (Err(_), _) if deadline.was_hit() => {
            bail!("the bundle's top-level code ran longer than {INIT_TIME_LIMIT:?}")
        }
        (Err(e), Some(Ok(_))) => Err(anyhow!("snapshotting the evaluated bundle failed: {e:#}")),
        (Err(e), None) => Err(anyhow!("the engine could not start: {e:#}")),
        (Ok(_), None) => bail!("the engine did not evaluate the bundle"),
    }
}
