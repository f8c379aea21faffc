//! TypeScript/JavaScript → component: bundle with esbuild, evaluate the
//! bundle inside the embedded QuickJS engine and snapshot it with Wizer, then
//! attach the source map. The result is an ordinary component that goes
//! through the same checks and registry as any other.

mod bundle;
mod snapshot;
use crate::common::sourcemap;

use crate::engine::Runtime;
use std::path::Path;

/// The QuickJS engine component (`guest-js/`), built by `host/build.rs`.
pub static ENGINE: &[u8] = include_bytes!(env!("PBS_JS_ENGINE"));

/// A built JS function.
pub struct JsComponent {
    /// The snapshotted component, with the source map in a custom section.
    pub component: Vec<u8>,
    /// The bundle's export names (`default.fetch` for `export default {fetch}`).
    pub exports: Vec<String>,
    pub bundle_size: usize,
    /// The files the bundle was made of (absolute paths).
    pub inputs: Vec<std::path::PathBuf>,
    /// The bundle and its source map, for a `pbs dev` preview
    /// ([`crate::deploy::preview`]).
    pub code: std::sync::Arc<str>,
    pub map: Vec<u8>,
    /// How long the engine took to evaluate the bundle.
    pub evaluated_in: std::time::Duration,
}

/// Whether `path` names a JS/TS entry file rather than a component.
pub fn is_js_entry(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("ts" | "mts" | "tsx" | "js" | "mjs" | "jsx")
    )
}

/// Builds `entry` into a component (blocking: runs esbuild and Wizer).
pub async fn build(runtime: &Runtime, entry: &Path) -> anyhow::Result<JsComponent> {
    let bundled = bundle::bundle(entry)?;
    let map = sourcemap::SourceMapper::new(bundled.map.clone());
    let snapshot = snapshot::snapshot(runtime, &bundled.code)
        .await
        .map_err(|e| anyhow::anyhow!("{}", map.map_text(&e.to_string())))?;
    let component = sourcemap::embed(snapshot.component, sourcemap::SECTION, &bundled.map);
    let exports = serde_json::to_vec(&snapshot.exports)?;
    let component = sourcemap::embed(component, sourcemap::EXPORTS_SECTION, &exports);
    Ok(JsComponent {
        component,
        exports: snapshot.exports,
        bundle_size: bundled.code.len(),
        inputs: bundled.inputs,
        evaluated_in: snapshot.evaluated_in,
        code: bundled.code.into(),
        map: bundled.map,
    })
}
