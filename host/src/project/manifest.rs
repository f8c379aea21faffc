//! `pb_serverless.json`: the functions of a project and what binds to them —
//! collections, cron schedules, job consumers, record hooks, and the hosts
//! each secret may be sent to (never secret values: the manifest is source).
//!
//! The CLI reads it; each section goes to the admin endpoint that owns it
//! (collections, cron, jobs bindings, hooks), which validates its own
//! entries in depth. What is checked here is what only the project knows:
//! unknown keys (a typo must not silently drop a schedule), entries naming
//! functions the manifest does not define, and which function a binding
//! means when the manifest has only one.

use anyhow::{bail, Context};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "pb_serverless.json";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Function name → how to build it.
    #[serde(default)]
    pub functions: BTreeMap<String, FunctionSpec>,
    /// Collection definitions, in the admin API's shape (validated by the host).
    #[serde(default)]
    pub collections: Vec<Value>,
    #[serde(default)]
    pub cron: Vec<CronSpec>,
    /// Job name → the function that consumes it. Without a binding, a job
    /// runs on the function that enqueued it.
    #[serde(default)]
    pub jobs: BTreeMap<String, String>,
    #[serde(default)]
    pub hooks: Vec<HookSpec>,
    /// Secret name → the hosts whose requests may carry it through a
    /// `{{secret:NAME}}` placeholder. The values are set apart
    /// (`pbs secrets set`).
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretSpec>,
    /// The JSON schema reference editors use; ignored.
    #[serde(default, rename = "$schema")]
    pub schema: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSpec {
    /// Exact hosts (`api.openai.com`, `api.example.com:8443`).
    pub hosts: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionSpec {
    /// A JS/TS entry (bundled and built) …
    pub entry: Option<PathBuf>,
    /// … or an already built component (`.wasm`).
    pub component: Option<PathBuf>,
    /// Hosts the function may call (`api.openai.com`, `*.example.com`, …).
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Invocations one instance may serve in turn, its globals
    /// persisting between them like a Cloudflare Worker's isolate; 0 (the
    /// default): a fresh instance per request.
    #[serde(default)]
    pub reuse: u32,
    /// For a component: the triggers it must serve (default: http, plus
    /// what the manifest binds to it). A JS function serves what it exports.
    pub triggers: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CronSpec {
    /// The export called on each tick.
    pub func: String,
    /// 5 fields (minute precision) or 6 (seconds first), UTC unless `timezone`.
    pub cron: String,
    /// The function holding `func` (may be left out when there is one function).
    pub function: Option<String>,
    pub timezone: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HookSpec {
    pub collection: String,
    /// `before_create`, `after_create`, `before_update`, `after_update`,
    /// `before_delete` or `after_delete`.
    pub event: String,
    /// The export called.
    pub func: String,
    /// The function holding `func` (may be left out when there is one function).
    pub function: Option<String>,
}

/// A manifest read from disk, with the folder its paths are relative to.
pub struct Project {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl Project {
    /// Reads `path`: a project folder or its `pb_serverless.json`.
    pub fn load(path: &Path) -> anyhow::Result<Project> {
        let file = if path.is_dir() {
            path.join(FILE_NAME)
        } else {
            path.to_path_buf()
        };
        let text =
            std::fs::read_to_string(&file).with_context(|| format!("read {}", file.display()))?;
        let mut manifest: Manifest = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid manifest", file.display()))?;
        manifest
            .resolve()
            .with_context(|| format!("in {}", file.display()))?;
        let dir = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        Ok(Project { dir, manifest })
    }

    /// Whether `path` names a project rather than a single entry or component.
    pub fn is_project(path: &Path) -> bool {
        path.is_dir() || path.file_name().is_some_and(|n| n == FILE_NAME)
    }
}

impl Manifest {
    /// Checks cross-references and fills in `function` where the manifest
    /// has a single function.
    pub fn resolve(&mut self) -> anyhow::Result<()> {
        for (name, f) in &self.functions {
            check_function_name(name)?;
            match (&f.entry, &f.component) {
                (Some(_), Some(_)) => {
                    bail!("function `{name}`: give `entry` or `component`, not both")
                }
                (None, None) => bail!(
                    "function `{name}`: give `entry` (a .ts/.js file) or `component` (a .wasm file)"
                ),
                _ => {}
            }
        }
        let only = (self.functions.len() == 1).then(|| self.functions.keys().next().cloned());
        let only = only.flatten();
        let names: Vec<&String> = self.functions.keys().collect();
        let pick = |what: String, given: &mut Option<String>| -> anyhow::Result<()> {
            match given {
                Some(f) if !self.functions.contains_key(f.as_str()) => bail!(
                    "{what}: no function `{f}` in `functions` (defined: {})",
                    list(&names)
                ),
                Some(_) => Ok(()),
                None => match &only {
                    Some(f) => {
                        *given = Some(f.clone());
                        Ok(())
                    }
                    None => bail!(
                        "{what}: say which function holds it (\"function\": one of {})",
                        list(&names)
                    ),
                },
            }
        };
        for c in &mut self.cron {
            pick(format!("cron entry `{}`", c.func), &mut c.function)?;
        }
        for h in &self.hooks {
            if crate::caps::data::hooks::Event::parse(&h.event).is_none() {
                bail!(
                    "hook `{}` on {}: unknown event `{}` (expected before_create, after_create, \
                     before_update, after_update, before_delete or after_delete)",
                    h.func,
                    h.collection,
                    h.event
                );
            }
        }
        for h in &mut self.hooks {
            pick(
                format!("hook `{}` on {} {}", h.func, h.collection, h.event),
                &mut h.function,
            )?;
        }
        for (job, f) in &self.jobs {
            if !self.functions.contains_key(f) {
                bail!(
                    "job `{job}`: no function `{f}` in `functions` (defined: {})",
                    list(&names)
                );
            }
        }
        Ok(())
    }

    /// The exports the manifest expects `function` to have, with what needs each.
    pub fn expected_exports(&self, function: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for c in &self.cron {
            if c.function.as_deref() == Some(function) {
                out.push((c.func.clone(), format!("cron `{}`", c.cron)));
            }
        }
        for h in &self.hooks {
            if h.function.as_deref() == Some(function) {
                out.push((
                    h.func.clone(),
                    format!("{} hook on {}", h.event, h.collection),
                ));
            }
        }
        for (job, f) in &self.jobs {
            if f == function {
                out.push((job.clone(), "its job binding".to_string()));
            }
        }
        out
    }

    /// The triggers besides HTTP that the manifest binds to `function`.
    pub fn bound_triggers(&self, function: &str) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.jobs.values().any(|f| f == function) {
            out.push("jobs");
        }
        if self
            .cron
            .iter()
            .any(|c| c.function.as_deref() == Some(function))
        {
            out.push("cron");
        }
        if self
            .hooks
            .iter()
            .any(|h| h.function.as_deref() == Some(function))
        {
            out.push("hooks");
        }
        out
    }
}

fn check_function_name(name: &str) -> anyhow::Result<()> {
    if !crate::deploy::valid_function_name(name) {
        bail!(
            "function name `{name}`: use 1-63 lowercase letters, digits, `-` or `_`, not starting with `-` or `_`"
        );
    }
    Ok(())
}

fn list(names: &[&String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names
            .iter()
            .map(|n| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<Manifest> {
        let mut m: Manifest = serde_json::from_str(text)?;
        m.resolve()?;
        Ok(m)
    }

    #[test]
    fn single_function_is_the_default_target() {
        let m = parse(
            r#"{"functions": {"app": {"entry": "src/index.ts"}},
                "cron": [{"func": "daily_report", "cron": "0 8 * * *"}],
                "hooks": [{"collection": "posts", "event": "before_create", "func": "check"}]}"#,
        )
        .unwrap();
        assert_eq!(m.cron[0].function.as_deref(), Some("app"));
        assert_eq!(m.hooks[0].function.as_deref(), Some("app"));
        assert_eq!(m.bound_triggers("app"), vec!["cron", "hooks"]);
        assert_eq!(m.expected_exports("app").len(), 2);
    }

    #[test]
    fn ambiguous_or_unknown_targets_are_refused() {
        let two = r#""functions": {"a": {"entry": "a.ts"}, "b": {"entry": "b.ts"}}"#;
        let e = parse(&format!(
            r#"{{{two}, "cron": [{{"func": "x", "cron": "* * * * *"}}]}}"#
        ))
        .unwrap_err();
        assert!(e.to_string().contains("say which function"), "{e}");
        let e = parse(&format!(r#"{{{two}, "jobs": {{"x": "c"}}}}"#)).unwrap_err();
        assert!(e.to_string().contains("no function `c`"), "{e}");
    }

    #[test]
    fn typos_and_bad_functions_are_refused() {
        assert!(parse(r#"{"crons": []}"#).is_err());
        assert!(parse(r#"{"functions": {"a": {"entry": "a.ts", "alowed_hosts": []}}}"#).is_err());
        assert!(parse(r#"{"functions": {"a": {}}}"#).is_err());
        assert!(
            parse(r#"{"functions": {"a": {"entry": "a.ts", "component": "a.wasm"}}}"#).is_err()
        );
        assert!(parse(r#"{"functions": {"a/b": {"entry": "a.ts"}}}"#).is_err());
        assert!(parse(r#"{"functions": {"_admin": {"entry": "a.ts"}}}"#).is_err());
    }
}
