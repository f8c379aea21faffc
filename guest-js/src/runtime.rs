//! The QuickJS runtime: created and loaded once, at build time, then kept in
//! the snapshot.

use std::cell::OnceCell;

use javy::quickjs::{Ctx, Function, Module, Object, Promise, Value};
use javy::{Config, Runtime};

use crate::bridge;

/// The Web APIs, in evaluation order (see `../js/BRIDGE.md`).
const PRELUDE: &[(&str, &str)] = &[
    ("00-internal.js", include_str!("../js/00-internal.js")),
    ("10-base.js", include_str!("../js/10-base.js")),
    ("20-abort.js", include_str!("../js/20-abort.js")),
    ("30-encoding.js", include_str!("../js/30-encoding.js")),
    ("35-streams.js", include_str!("../js/35-streams.js")),
    ("36-compression.js", include_str!("../js/36-compression.js")),
    ("40-url.js", include_str!("../js/40-url.js")),
    ("42-urlpattern.js", include_str!("../js/42-urlpattern.js")),
    ("45-crypto.js", include_str!("../js/45-crypto.js")),
    ("50-http.js", include_str!("../js/50-http.js")),
    ("60-serve.js", include_str!("../js/60-serve.js")),
    // Compiled from ../ts (pb.ts) by host/build.rs.
    ("70-pb.js", include_str!(env!("PBS_PB_JS"))),
];

/// The name the bundle's positions refer to; the host maps `bundle.js:L:C`
/// through the bundle's source map.
pub const BUNDLE_NAME: &str = "bundle.js";

/// Bytes allocated between two garbage collections.
const GC_THRESHOLD: usize = 8 << 20;

thread_local! {
    static RUNTIME: OnceCell<Runtime> = const { OnceCell::new() };
}

/// Runs `f` with the context of the runtime made by [`initialize`].
pub fn with_ctx<R>(f: impl FnOnce(Ctx<'_>) -> R) -> R {
    RUNTIME.with(|cell| {
        let rt = cell
            .get()
            .expect("the JS engine runs only as a snapshot made by `pbs build`");
        rt.context().with(f)
    })
}

/// Runs queued promise jobs. An error thrown by a job (a finalizer, say) is
/// logged with its stack, not fatal: the other promise chains go on.
pub fn run_jobs() {
    RUNTIME.with(|cell| {
        let rt = cell.get().expect("initialized");
        let qrt = rt.context().runtime();
        loop {
            match qrt.execute_pending_job() {
                Ok(true) => continue,
                Ok(false) => break,
                Err(job) => {
                    let message = job.0.with(|ctx| describe_value(&ctx, ctx.catch()));
                    bridge::log_error(&format!("uncaught error in a promise job: {message}"));
                }
            }
        }
    })
}

/// Collects garbage so the snapshot holds only live objects.
pub fn before_snapshot() {
    RUNTIME.with(|cell| {
        if let Some(rt) = cell.get() {
            rt.context().runtime().run_gc();
        }
    })
}

/// The `__pbsInternal` object of the prelude.
pub fn internal<'js>(ctx: &Ctx<'js>) -> Object<'js> {
    ctx.globals()
        .get("__pbsInternal")
        .expect("the prelude defines __pbsInternal")
}

/// Drives the event loop until nothing is pending: promise jobs, then one
/// `turn` of timers and host I/O, again and again.
pub fn run_event_loop() {
    loop {
        run_jobs();
        let more = with_ctx(|ctx| {
            internal(&ctx)
                .get::<_, Function>("turn")
                .and_then(|turn| turn.call::<_, bool>(()))
                .map_err(|e| describe_error(&ctx, e))
        });
        match more {
            Ok(true) => continue,
            Ok(false) => break,
            Err(e) => {
                bridge::log_error(&format!("the event loop failed: {e}"));
                break;
            }
        }
    }
}

/// The build-time entry: evaluates the prelude and the bundle and returns the
/// bundle's export names.
pub fn initialize(bundle: &str) -> Result<Vec<String>, String> {
    let mut config = Config::default();
    // WeakRef/FinalizationRegistry: the AI SDK uses them.
    config.weak_ref(true);
    // javy never collects cycles by default (short-lived programs); a long
    // streaming invocation would grow until its memory limit.
    config.gc_threshold(GC_THRESHOLD);
    let rt = Runtime::new(config).map_err(|e| format!("cannot start QuickJS: {e}"))?;
    RUNTIME.with(|cell| {
        cell.set(rt)
            .map_err(|_| "the engine was already initialized".to_string())
    })?;
    bridge::set_initializing(true);
    let result = load(bundle);
    bridge::set_initializing(false);
    result
}

fn load(bundle: &str) -> Result<Vec<String>, String> {
    with_ctx(|ctx| {
        bridge::register(&ctx).map_err(|e| describe_error(&ctx, e))?;
        for (name, source) in PRELUDE {
            eval_without_source(&ctx, source, &format!("pbs:{name}"))
                .map_err(|e| describe_error(&ctx, e))?;
        }
        Ok::<_, String>(())
    })?;

    let promise = with_ctx(|ctx| {
        let (module, promise) = Module::declare(ctx.clone(), BUNDLE_NAME, bundle)
            .and_then(|m| m.eval())
            .map_err(|e| describe_error(&ctx, e))?;
        let namespace = module.namespace().map_err(|e| describe_error(&ctx, e))?;
        internal(&ctx)
            .set("module", namespace)
            .map_err(|e| describe_error(&ctx, e))?;
        Ok::<_, String>(javy::quickjs::Persistent::save(&ctx, promise))
    })?;
    // Top-level await may chain promises, but at build time nothing waits on
    // timers or host I/O: a timer must not keep the build running.
    run_jobs();
    with_ctx(|ctx| {
        let promise: Promise = promise.restore(&ctx).map_err(|e| describe_error(&ctx, e))?;
        match promise.state() {
            javy::quickjs::promise::PromiseState::Rejected => {
                return Err(match promise.result::<Value>() {
                    Some(Err(e)) => describe_error(&ctx, e),
                    _ => "the module's evaluation was rejected".into(),
                });
            }
            javy::quickjs::promise::PromiseState::Pending => {
                return Err(
                    "the module's top-level await waits on a timer or I/O, which \
                            cannot run at build time; do that inside a handler"
                        .into(),
                )
            }
            javy::quickjs::promise::PromiseState::Resolved => {}
        }
        export_names(&ctx).map_err(|e| describe_error(&ctx, e))
    })
}

/// Evaluates `source` (a global script, not strict) with its functions'
/// source text left out. QuickJS keeps the text of every function for
/// `toString`, and a nested function's again inside each enclosing one's: for
/// the prelude, 196 KiB of the JS hello's 1,961 KiB snapshot heap, which a
/// fresh instance restores on every request. Compiled, written without the text and read
/// back, the prelude's functions print as `[native code]`, as built-ins do
/// elsewhere; their line numbers (stack traces) stay. The user's bundle keeps
/// its text: libraries may read their own functions' source.
fn eval_without_source(ctx: &Ctx<'_>, source: &str, filename: &str) -> javy::quickjs::Result<()> {
    use javy::quickjs::qjs;
    use std::ffi::CString;
    let code = CString::new(source)?;
    let name = CString::new(filename)?;
    let raw = ctx.as_raw().as_ptr();
    // SAFETY: `raw` is the live context of `ctx`; `code` is NUL-terminated
    // as JS_Eval requires; every JSValue made here is freed once (JS_EvalFunction
    // frees the function it runs), and the buffer JS_WriteObject returns is
    // the context's allocation, freed with js_free.
    unsafe {
        let compiled = qjs::JS_Eval(
            raw,
            code.as_ptr(),
            source.len() as _,
            name.as_ptr(),
            (qjs::JS_EVAL_TYPE_GLOBAL | qjs::JS_EVAL_FLAG_COMPILE_ONLY) as i32,
        );
        if qjs::JS_IsException(compiled) {
            return Err(javy::quickjs::Error::Exception);
        }
        let mut len = 0;
        let bytes = qjs::JS_WriteObject(
            raw,
            &mut len,
            compiled,
            (qjs::JS_WRITE_OBJ_BYTECODE | qjs::JS_WRITE_OBJ_STRIP_SOURCE) as i32,
        );
        qjs::JS_FreeValue(raw, compiled);
        if bytes.is_null() {
            return Err(javy::quickjs::Error::Exception);
        }
        let function = qjs::JS_ReadObject(raw, bytes, len, qjs::JS_READ_OBJ_BYTECODE as i32);
        qjs::js_free(raw, bytes.cast());
        if qjs::JS_IsException(function) {
            return Err(javy::quickjs::Error::Exception);
        }
        let result = qjs::JS_EvalFunction(raw, function);
        if qjs::JS_IsException(result) {
            return Err(javy::quickjs::Error::Exception);
        }
        qjs::JS_FreeValue(raw, result);
    }
    Ok(())
}

/// `default.fetch` stands for `export default { fetch }`.
fn export_names(ctx: &Ctx<'_>) -> javy::quickjs::Result<Vec<String>> {
    let module: Object = internal(ctx).get("module")?;
    let mut names = Vec::new();
    for key in module.keys::<String>() {
        let key = key?;
        if key == "default" {
            if let Some(default) = module.get::<_, Value>("default")?.as_object() {
                if default.get::<_, Value>("fetch")?.is_function() {
                    names.push("default.fetch".to_string());
                }
            }
        }
        names.push(key);
    }
    Ok(names)
}

/// The message and stack of a JS exception (or the Rust-side error).
pub fn describe_error(ctx: &Ctx<'_>, e: javy::quickjs::Error) -> String {
    if !matches!(e, javy::quickjs::Error::Exception) {
        return e.to_string();
    }
    describe_value(ctx, ctx.catch())
}

/// `Name: message\n    at …` for an Error, `String(value)` otherwise.
pub fn describe_value<'js>(ctx: &Ctx<'js>, value: Value<'js>) -> String {
    if let Some(obj) = value.as_object() {
        let name: Option<String> = obj.get("name").ok();
        let message: Option<String> = obj.get("message").ok();
        let stack: Option<String> = obj.get("stack").ok();
        if let Some(message) = message {
            let mut text = format!("{}: {message}", name.unwrap_or_else(|| "Error".into()));
            if let Some(stack) = stack.filter(|s| !s.is_empty()) {
                text.push('\n');
                text.push_str(stack.trim_end());
            }
            return text;
        }
    }
    javy::val_to_string(ctx, value).unwrap_or_else(|_| "(an unprintable value)".into())
}
