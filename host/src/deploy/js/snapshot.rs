//! Wizer: instantiate the embedded engine, call its `evaluate(bundle)`
//! (which evaluates our Web APIs and the bundle) and `wizer-initialize`, and
//! write the initialised memory back into the component. A request then starts with the module
//! already evaluated.

use crate::engine::{Deadline, Runtime};
use anyhow::{anyhow, bail};
use std::sync::Arc;
use std::time::Duration;
use wasmtime_wizer::Wizer;

/// Longest a bundle's top-level code may run at build time.
const INIT_TIME_LIMIT: Duration = Duration::from_secs(60);

pub struct Snapshot {
    pub component: Vec<u8>,
    pub exports: Vec<String>,
}

pub async fn snapshot(runtime: &Runtime, bundle: &str) -> anyhow::Result<Snapshot> {
    let mut wizer = Wizer::new();
    wizer.init_func("wizer-initialize");
    // The component lifts the export, so the core function must stay.
    wizer.keep_init_func(true);
    let deadline = Arc::new(Deadline::after(INIT_TIME_LIMIT));
    let mut store = runtime.new_store("pbs-build".into(), deadline.clone());
    let linker = runtime.linker().clone();
    // The bundle goes in through a typed call before Wizer's own (argument-
    // less) init call: Wizer's textual call syntax is no way to pass megabytes.
    let mut evaluated: Option<Result<Vec<String>, String>> = None;
    let result = wizer
        .run_component(&mut store, super::ENGINE, async |store, component| {
            let instance = linker.instantiate_async(&mut *store, component).await?;
            let evaluate = instance.get_typed_func::<(&str,), (Result<Vec<String>, String>,)>(
                &mut *store,
                "evaluate",
            )?;
            let (outcome,) = evaluate.call_async(&mut *store, (bundle,)).await?;
            let failed = outcome.is_err();
            evaluated = Some(outcome);
            // No snapshot of a bundle that failed to evaluate.
            wasmtime::ensure!(!failed, "the bundle failed to evaluate");
            Ok(instance)
        })
        .await;
    match (result, evaluated) {
        (_, Some(Err(message))) => bail!("{message}"),
        (Ok((component, _)), Some(Ok(exports))) => Ok(Snapshot { component, exports }),
        (Err(_), _) if deadline.was_hit() => {
            bail!("the bundle's top-level code ran longer than {INIT_TIME_LIMIT:?}")
        }
        (Err(e), Some(Ok(_))) => Err(anyhow!("snapshotting the evaluated bundle failed: {e:#}")),
        (Err(e), None) => Err(anyhow!("the engine could not start: {e:#}")),
        (Ok(_), None) => bail!("the engine did not evaluate the bundle"),
    }
}
