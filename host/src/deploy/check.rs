//! What a component must be to deploy, and the errors that say why not.

use crate::common::sourcemap::{
    extract as extract_section, SourceMapper, EXPORTS_SECTION, SECTION as SOURCE_MAP_SECTION,
};
use crate::engine::{Invocation, Runtime};
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::Arc;
use wasmtime::component::{types::ComponentItem, Component, InstancePre};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

/// The world a function should be built against, named in every refusal.
pub const TARGET_WORLDS: &str = "build it against `pb:serverless/http-function@0.1.0` (or \
     `pb:serverless/function@0.1.0` for every handler) from this host's `wit/` folder; a plain \
     `wasi:http/proxy@0.2.x` component is accepted too";

/// How a function is invoked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Trigger {
    Http,
    Jobs,
    Cron,
    Hooks,
}

impl Trigger {
    /// The export a trigger needs, without its version.
    pub fn export(self) -> &'static str {
        match self {
            Trigger::Http => "wasi:http/incoming-handler",
            Trigger::Jobs => "pb:serverless/job-handler",
            Trigger::Cron => "pb:serverless/cron-handler",
            Trigger::Hooks => "pb:serverless/hook-handler",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Trigger::Http => "http",
            Trigger::Jobs => "jobs",
            Trigger::Cron => "cron",
            Trigger::Hooks => "hooks",
        }
    }

    pub fn parse(s: &str) -> Option<Trigger> {
        Some(match s.trim() {
            "http" => Trigger::Http,
            "jobs" => Trigger::Jobs,
            "cron" => Trigger::Cron,
            "hooks" => Trigger::Hooks,
            _ => return None,
        })
    }

    /// Parses a comma separated list such as `http,jobs`.
    pub fn parse_list(s: &str) -> Result<Vec<Trigger>, DeployError> {
        let mut out = Vec::new();
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            let t = Trigger::parse(part).ok_or_else(|| {
                DeployError::BadRequest(format!(
                    "unknown trigger `{}`: expected http, jobs, cron or hooks",
                    part.trim()
                ))
            })?;
            if !out.contains(&t) {
                out.push(t);
            }
        }
        if out.is_empty() {
            out.push(Trigger::Http);
        }
        Ok(out)
    }
}

/// Why a component was refused. Each maps to one HTTP status.
#[derive(Debug)]
pub enum DeployError {
    /// Larger than the configured maximum (413).
    TooLarge { size: usize, max: usize },
    /// Not a WebAssembly binary, a core module, or invalid (400).
    NotAComponent(String),
    /// An import the host does not provide, or of the wrong type (400).
    Imports(String),
    /// Exports do not serve the requested triggers (400).
    Exports(String),
    /// Bad name or options (400).
    BadRequest(String),
    /// The host failed (500); details in the log.
    Internal(anyhow::Error),
}

impl DeployError {
    pub fn status(&self) -> u16 {
        match self {
            DeployError::TooLarge { .. } => 413,
            DeployError::Internal(_) => 500,
            _ => 400,
        }
    }
}

impl fmt::Display for DeployError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeployError::TooLarge { size, max } => {
                write!(f, "the component is {size} bytes; the limit is {max} bytes")
            }
            DeployError::NotAComponent(m)
            | DeployError::Imports(m)
            | DeployError::Exports(m)
            | DeployError::BadRequest(m) => f.write_str(m),
            DeployError::Internal(_) => {
                f.write_str("internal error while deploying; see the host log")
            }
        }
    }
}

impl std::error::Error for DeployError {}

/// A component that passed every check.
pub struct Checked {
    /// Lowercase hex SHA-256 of the component's bytes: its version.
    pub hash: String,
    pub component: Component,
    pub pre: InstancePre<Invocation>,
    /// Present when the component exports `wasi:http/incoming-handler`.
    pub proxy: Option<ProxyPre<Invocation>>,
    /// Names of the component's exports.
    pub exports: Vec<String>,
    /// The triggers it serves (all that its exports allow).
    pub triggers: Vec<Trigger>,
    /// The source map of a component built from JS/TS.
    pub source_map: Option<Arc<SourceMapper>>,
    /// The compiled code, serialized (empty unless [`inspect`] compiled it).
    pub artifact: Vec<u8>,
}

pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Runs every check on `bytes` and compiles them. Blocking (compilation):
/// call it from a blocking thread.
pub fn inspect(
    runtime: &Runtime,
    bytes: &[u8],
    required: &[Trigger],
) -> Result<Checked, DeployError> {
    let max = crate::config::DEFAULT_MAX_COMPONENT_SIZE;
    if bytes.len() > max {
        return Err(DeployError::TooLarge {
            size: bytes.len(),
            max,
        });
    }
    classify(bytes)?;
    let (component, artifact) = runtime.compile_with_artifact(bytes).map_err(|e| {
        DeployError::NotAComponent(format!("the component is not valid: {}", root_message(&e)))
    })?;
    let js_exports = extract_section(bytes, EXPORTS_SECTION)
        .and_then(|json| serde_json::from_slice::<Vec<String>>(&json).ok());
    let engine_required: &[Trigger] = if js_exports.is_some() { &[] } else { required };
    let mut checked = check_component(runtime, component, content_hash(bytes), engine_required)?;
    checked.source_map =
        extract_section(bytes, SOURCE_MAP_SECTION).map(|m| Arc::new(SourceMapper::new(m)));
    checked.artifact = artifact;
    if let Some(names) = js_exports {
        js_triggers(&mut checked, names, required)?;
    }
    Ok(checked)
}

/// The HTTP method handlers a JS bundle may export.
const JS_METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// Whether a bundle exporting `names` has an HTTP handler.
pub fn js_serves_http(names: &[String]) -> bool {
    names
        .iter()
        .any(|n| n == "default.fetch" || JS_METHODS.contains(&n.as_str()))
}

/// A JS function's engine exports every handler interface; what it serves
/// is what its bundle exports: HTTP with `export default { fetch }` or a
/// method handler, the other triggers through named exports.
pub(super) fn js_triggers(
    checked: &mut Checked,
    names: Vec<String>,
    required: &[Trigger],
) -> Result<(), DeployError> {
    let http = js_serves_http(&names);
    let named = names
        .iter()
        .any(|n| !n.starts_with("default") && !JS_METHODS.contains(&n.as_str()));
    let serves = |t: Trigger| if t == Trigger::Http { http } else { named };
    for t in required {
        if !serves(*t) {
            let how = if *t == Trigger::Http {
                "`export default { fetch(request) { … } }` or `export async function GET(request)` (or POST, …)"
            } else {
                "a named export per handler"
            };
            return Err(DeployError::Exports(format!(
                "the {} trigger needs {how}; the bundle exports: {}",
                t.name(),
                if names.is_empty() {
                    "nothing".to_string()
                } else {
                    names.join(", ")
                }
            )));
        }
    }
    checked.triggers.retain(|t| serves(*t));
    checked.exports = names;
    Ok(())
}

/// The import and export checks, on an already compiled component.
pub fn check_component(
    runtime: &Runtime,
    component: Component,
    hash: String,
    required: &[Trigger],
) -> Result<Checked, DeployError> {
    let pre = runtime
        .linker()
        .instantiate_pre(&component)
        .map_err(|e| DeployError::Imports(import_message(&error_chain(&e))))?;

    let exports: Vec<String> = component
        .component_type()
        .exports(runtime.engine())
        .filter(|(_, item)| matches!(item.ty, ComponentItem::ComponentInstance(_)))
        .map(|(name, _)| name.to_string())
        .collect();
    let exported = |t: Trigger| {
        exports
            .iter()
            .any(|e| e.split('@').next() == Some(t.export()))
    };
    let proxy = if exported(Trigger::Http) {
        Some(ProxyPre::new(pre.clone()).map_err(|e| {
            DeployError::Exports(format!(
                "the export `wasi:http/incoming-handler` does not have the type of \
                 `wasi:http/incoming-handler@0.2.x`: {}; {TARGET_WORLDS}",
                error_chain(&e)
            ))
        })?)
    } else {
        None
    };
    typed_handler_exports(runtime, &component, &exported)?;
    for t in required {
        if !exported(*t) {
            let found = if exports.is_empty() {
                "none".to_string()
            } else {
                exports.join(", ")
            };
            return Err(DeployError::Exports(format!(
                "the {} trigger needs the export `{}` and the component does not export it \
                 (its exports: {found}); {TARGET_WORLDS}",
                t.name(),
                t.export(),
            )));
        }
    }
    let triggers = [Trigger::Http, Trigger::Jobs, Trigger::Cron, Trigger::Hooks]
        .into_iter()
        .filter(|t| exported(*t))
        .collect();
    Ok(Checked {
        hash,
        component,
        pre,
        proxy,
        exports,
        triggers,
        source_map: None,
        artifact: Vec::new(),
    })
}

/// Checks the types of the job, cron and hook handler exports present.
///
/// The generated `*Pre` types find the exports but check their function
/// types only when an instance is loaded; so each function is checked here
/// against the generated Rust types, with the same (doc-hidden, pinned by
/// `wasmtime = "=48.0.8"`) `typecheck` that wasmtime's bindgen output uses.
fn typed_handler_exports(
    runtime: &Runtime,
    component: &Component,
    exported: &dyn Fn(Trigger) -> bool,
) -> Result<(), DeployError> {
    use super::handlers::{cron, hook, job};
    use wasmtime::component::types::ComponentFunc;
    type Check =
        fn(&ComponentFunc, &wasmtime::component::__internal::InstanceType) -> wasmtime::Result<()>;
    let checks: [(Trigger, &str, Check); 3] = [
        (Trigger::Jobs, "run", |f, cx| {
            f.typecheck::<(job::exports::pb::serverless::job_handler::Job,), (Result<(), String>,)>(
                cx,
            )
        }),
        (Trigger::Cron, "run", |f, cx| {
            f.typecheck::<(cron::exports::pb::serverless::cron_handler::Tick,), (Result<(), String>,)>(cx)
        }),
        (Trigger::Hooks, "handle", |f, cx| {
            use hook::exports::pb::serverless::hook_handler::{Context, Outcome};
            f.typecheck::<(Context,), (Outcome,)>(cx)
        }),
    ];
    let engine = runtime.engine();
    let ty = component.component_type();
    let cx = ty.instance_type();
    for (trigger, func, check) in checks {
        if !exported(trigger) {
            continue;
        }
        let mismatch = |detail: String| {
            DeployError::Exports(format!(
                "the export `{}` does not have the type of `{}@0.1.0`: {detail}; {TARGET_WORLDS}",
                trigger.export(),
                trigger.export(),
            ))
        };
        let instance = ty
            .exports(engine)
            .find(|(name, _)| name.split('@').next() == Some(trigger.export()))
            .and_then(|(_, e)| match e.ty {
                ComponentItem::ComponentInstance(i) => Some(i),
                _ => None,
            })
            .ok_or_else(|| mismatch("it is not an instance".into()))?;
        let f = match instance.get_export(engine, func).map(|e| e.ty) {
            Some(ComponentItem::ComponentFunc(f)) => f,
            _ => return Err(mismatch(format!("it has no function `{func}`"))),
        };
        check(&f, &cx).map_err(|e| mismatch(format!("`{func}`: {}", error_chain(&e))))?;
    }
    Ok(())
}

/// Version and layer bytes after `\0asm` (binary format spec).
const CORE_MODULE_VERSION: [u8; 4] = [1, 0, 0, 0];
const COMPONENT_VERSION: [u8; 4] = [0x0d, 0, 1, 0];

/// Refuses what is not a component, saying what it is instead.
fn classify(bytes: &[u8]) -> Result<(), DeployError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(DeployError::NotAComponent(
            "this is not a WebAssembly binary (it does not start with `\\0asm`)".into(),
        ));
    }
    if bytes[4..8] == CORE_MODULE_VERSION {
        return Err(DeployError::NotAComponent(
            "this is a core WebAssembly module, not a component: build for `wasm32-wasip2`, \
             or wrap a `wasm32-wasip1` module with `wasm-tools component new` and the WASI \
             preview1 adapter"
                .into(),
        ));
    }
    if bytes[4..8] != COMPONENT_VERSION {
        return Err(DeployError::NotAComponent(
            "this WebAssembly binary is of an unknown version or layer; expected a component"
                .into(),
        ));
    }
    Ok(())
}

/// Names the offending import first, then wasmtime's detail.
fn import_message(detail: &str) -> String {
    let name = detail
        .split('`')
        .nth(1)
        .filter(|_| detail.contains("imports"));
    match name {
        Some(name) => format!(
            "the component imports `{name}`, which this host does not provide with that type \
             ({detail}); {TARGET_WORLDS}"
        ),
        None => format!("import check failed: {detail}; {TARGET_WORLDS}"),
    }
}

fn root_message(e: &wasmtime::Error) -> String {
    e.root_cause().to_string()
}

fn error_chain(e: &wasmtime::Error) -> String {
    let mut parts: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    parts.dedup();
    parts.join(": ")
}
