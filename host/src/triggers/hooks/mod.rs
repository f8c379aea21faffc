//! Record hooks as a trigger: the [`Runner`] the records store calls
//! (`caps::data::hooks`), which runs a hook export of a deployed function
//! (`pb:serverless/hook-handler.handle`) in a fresh instance under the
//! request limits (memory, fuel, outbound allowlist, `--max-duration`), and
//! admin API that binds hooks is `crate::admin::hooks`.
//!
//! The hook's invocation carries its [`Origin`]: the depth of the write
//! that ran it plus one, and for a before-hook that write's transaction —
//! so what the hook reads and writes through `pb:data` happens inside it.

use crate::caps::data::hooks::{self, Call, Event, Origin, Outcome, RunFuture};
use crate::deploy::handlers::hook::{self, HookExports};
use crate::deploy::Registry;
use crate::triggers::invoke_export::{self, CallError, Target};
use hook::exports::pb::serverless::hook_handler::{self as wit, Context};
use std::sync::{Arc, Weak};

/// Runs hooks on the functions `registry` serves.
pub struct Runner {
    registry: Weak<Registry>,
}

/// Makes the records store of `registry`'s host run hooks through it.
pub fn install(registry: &Arc<Registry>) {
    if let Some(services) = registry.runtime().services() {
        services.data.hooks.set_runner(Arc::new(Runner {
            registry: Arc::downgrade(registry),
        }));
    }
}

impl hooks::Runner for Runner {
    fn run(&self, call: Call) -> RunFuture {
        let registry = self.registry.clone();
        Box::pin(async move {
            let registry = registry
                .upgrade()
                .ok_or_else(|| "the host is shutting down".to_string())?;
            run(&registry, call).await
        })
    }
}

async fn run(registry: &Arc<Registry>, call: Call) -> Result<Outcome, String> {
    let b = &call.binding;
    let deployed = registry
        .get(&b.function)
        .ok_or_else(|| format!("function `{}` is not deployed", b.function))?;
    let target =
        Target::new(registry, &b.function, deployed.version.clone()).map_err(|e| e.to_string())?;
    hook::HookExportsPre::new(target.version.pre.clone()).map_err(|e| {
        format!(
            "function `{}` does not export `pb:serverless/hook-handler`: {e}",
            b.function
        )
    })?;
    let ctx = Context {
        name: b.func.clone(),
        collection: b.collection.clone(),
        event: match b.event {
            Event::BeforeCreate => wit::Event::BeforeCreate,
            Event::AfterCreate => wit::Event::AfterCreate,
            Event::BeforeUpdate => wit::Event::BeforeUpdate,
            Event::AfterUpdate => wit::Event::AfterUpdate,
            Event::BeforeDelete => wit::Event::BeforeDelete,
            Event::AfterDelete => wit::Event::AfterDelete,
        },
        record: call.record,
        old_record: call.old_record,
        depth: call.depth,
    };
    // What the hook writes is one level deeper, inside the write's
    // transaction for a before-hook.
    let origin = Origin {
        depth: call.depth + 1,
        scope: call.scope,
    };
    let runtime = registry.runtime();
    let limit = runtime.limits().max_duration;
    // Nested inside the write that ran it (the pb:data call's span, or the
    // records request's).
    let start = crate::telemetry::Start {
        parent: crate::telemetry::scope::current_span(),
        attributes: Some(Box::new({
            let (collection, event, func) = (
                b.collection.clone(),
                format!("{:?}", b.event),
                b.func.clone(),
            );
            move || {
                vec![
                    opentelemetry::KeyValue::new("db.collection.name", collection),
                    opentelemetry::KeyValue::new("pb.hook.event", event),
                    opentelemetry::KeyValue::new("pb.hook.func", func),
                ]
            }
        })),
        ..crate::telemetry::Start::new(b.function.as_str().into(), crate::telemetry::Trigger::Hook)
    };
    let answered = invoke_export::call(
        runtime,
        &target,
        limit,
        "hook",
        start,
        |_| None,
        move |store, instance| {
            store.data_mut().hook = origin;
            Box::pin(async move {
                HookExports::new(&mut *store, &instance)?
                    .pb_serverless_hook_handler()
                    .call_handle(&mut *store, &ctx)
                    .await
            })
        },
    )
    .await;
    match answered {
        Ok(wit::Outcome::Keep) => Ok(Outcome::Keep),
        Ok(wit::Outcome::Replace(json)) => Ok(Outcome::Replace(json)),
        Ok(wit::Outcome::Reject(message)) => Ok(Outcome::Reject(message)),
        Err(CallError::NoHandler(m) | CallError::Busy(m) | CallError::Failed(m)) => Err(m),
    }
}
