//! `pbs types`: the TypeScript types of one project (`pb-env.d.ts`), for
//! `@pb-serverless/sdk`'s `Collections`, `Secrets` and `Jobs`:
//!
//! - one record type per collection (text, date, relation, file →
//!   `string`, several → `string[]`; number → `number`; bool → `boolean`;
//!   json → a JSON value; select → the union of its values; vector →
//!   `number[]`; the system fields from `BaseRecord`), so that
//!   `pb.collection("notes").getOne(id)` is a `Promise<NotesRecord>` and an
//!   unknown collection or field is a type error;
//! - the secret names the manifest binds, for `pb.secrets.get`;
//! - the jobs the project's functions consume, each with the payload type
//!   of its handler's first parameter (TypeScript reads it from the
//!   function's entry);
//! - checks that every cron and hook `func` the manifest names is an export
//!   of its function's entry with the handler's shape: `tsc` fails on the
//!   line naming the manifest entry otherwise.

use super::manifest::Manifest;
use crate::caps::data::schema::{self, Collection, FieldType};
use anyhow::Context;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// The file `pbs types` writes in the project.
pub const FILE_NAME: &str = "pb-env.d.ts";

/// HTTP handler names: never jobs.
const HTTP_EXPORTS: [&str; 8] = [
    "default", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
];

/// A collection as types see it.
pub struct CollectionTypes {
    pub name: String,
    pub fields: Vec<schema::Field>,
}

impl CollectionTypes {
    /// From definitions in the admin API's shape (the manifest's
    /// `collections`, or a host's `/api/collections`); a bad one is an
    /// error naming its index and the key at fault.
    pub fn parse_all(defs: &[Value]) -> anyhow::Result<Vec<CollectionTypes>> {
        defs.iter()
            .enumerate()
            .map(|(i, v)| {
                let def = schema::parse_definition(v).map_err(|e| {
                    anyhow::anyhow!("collections[{i}]: {}", e.message().trim_end_matches('.'))
                })?;
                Ok(CollectionTypes {
                    name: def.name,
                    fields: def.fields,
                })
            })
            .collect()
    }
}

impl From<&Collection> for CollectionTypes {
    fn from(c: &Collection) -> Self {
        CollectionTypes {
            name: c.name.clone(),
            fields: c.fields.clone(),
        }
    }
}

/// `posts` → `PostsRecord`, `blog_posts` → `BlogPostsRecord`.
pub fn record_type_name(collection: &str) -> String {
    let mut out = String::new();
    for part in collection.split('_').filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out.push_str("Record");
    out
}

/// A field's TypeScript type.
fn field_type(ty: &FieldType) -> String {
    let many = |max: u32| max > 1;
    match ty {
        FieldType::Text { .. } | FieldType::Date => "string".into(),
        FieldType::Number { .. } => "number".into(),
        FieldType::Bool => "boolean".into(),
        FieldType::Json { .. } => "JsonValue".into(),
        FieldType::Select { values, max_select } => {
            let union = if values.is_empty() {
                "string".to_string()
            } else {
                values
                    .iter()
                    .map(|v| format!("{v:?}"))
                    .collect::<Vec<_>>()
                    .join(" | ")
            };
            if many(*max_select) {
                format!("Array<{union}>")
            } else if values.is_empty() {
                union
            } else {
                // An unset single select reads as "".
                format!("{union} | \"\"")
            }
        }
        FieldType::Relation { max_select, .. } | FieldType::File { max_select, .. } => {
            if many(*max_select) {
                "string[]".into()
            } else {
                "string".into()
            }
        }
        FieldType::Vector { .. } => "number[] | null".into(),
    }
}

/// A TypeScript property name for a field (quoted when it is not an identifier).
fn property(name: &str) -> String {
    let ident = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ident {
        name.to_string()
    } else {
        format!("{name:?}")
    }
}

/// The path of an entry as imported from `pb-env.d.ts` (beside the
/// manifest): `./src/notes` (no extension, forward slashes).
fn import_path(entry: &Path) -> String {
    let mut p = entry.to_string_lossy().replace('\\', "/");
    for ext in [".ts", ".tsx", ".mts", ".js", ".mjs", ".jsx"] {
        if let Some(stem) = p.strip_suffix(ext) {
            p = stem.to_string();
            break;
        }
    }
    if p.starts_with("./") || p.starts_with("../") {
        p
    } else {
        format!("./{p}")
    }
}

/// The text of `pb-env.d.ts` for `manifest` with `collections` (the
/// manifest's, or a host's) and the extra secret names a host knows.
pub fn render(
    manifest: &Manifest,
    collections: &[CollectionTypes],
    host_secrets: &[String],
) -> anyhow::Result<String> {
    let mut out = String::new();
    out.push_str(
        "// Generated by `pbs types` from pb_serverless.json: do not edit; run `pbs types` again\n\
         // after changing the manifest or the collections. Types for @pb-serverless/sdk: each\n\
         // collection's record, the secret names, the jobs and their payloads, and checks of the\n\
         // manifest's cron and hook handlers.\n\n",
    );
    out.push_str(
        "import type { BaseRecord, CronHandler, HookHandler, JobHandler, JsonValue } from \"@pb-serverless/sdk\";\n\n",
    );
    let mut names: Vec<&str> = Vec::new();
    for c in collections {
        if names.contains(&c.name.as_str()) {
            anyhow::bail!("collection `{}` is defined twice", c.name);
        }
        names.push(&c.name);
        let _ = writeln!(out, "/** A record of collection `{}`. */", c.name);
        let _ = writeln!(
            out,
            "export interface {} extends BaseRecord {{",
            record_type_name(&c.name)
        );
        for f in &c.fields {
            let _ = writeln!(out, "  {}: {};", property(&f.name), field_type(&f.ty));
        }
        out.push_str("}\n\n");
    }
    out.push_str(
        "/** The payload type of export `K` of module `M`: its handler's first parameter. */\n\
         type PayloadOf<M, K extends keyof M> = M[K] extends (payload: infer P, ...rest: any[]) => any ? P : unknown;\n\n",
    );
    // Which module holds each function's code.
    let modules: BTreeMap<&str, String> = manifest
        .functions
        .iter()
        .filter_map(|(name, f)| Some((name.as_str(), import_path(f.entry.as_ref()?))))
        .collect();
    let module_of = |function: &str| {
        modules
            .get(function)
            .map(|p| format!("typeof import({p:?})"))
    };
    // Jobs: the manifest's bindings; each function's other exports (but
    // HTTP, cron and hook handlers) are jobs it consumes itself.
    let mut jobs: BTreeMap<String, String> = BTreeMap::new();
    for (job, function) in &manifest.jobs {
        let payload = match module_of(function) {
            Some(m) => format!("PayloadOf<{m}, {job:?}>"),
            None => "unknown".into(),
        };
        jobs.insert(job.clone(), payload);
    }
    let handlers: Vec<&str> = manifest
        .cron
        .iter()
        .map(|c| c.func.as_str())
        .chain(manifest.hooks.iter().map(|h| h.func.as_str()))
        .chain(HTTP_EXPORTS)
        .collect();
    let excluded = handlers
        .iter()
        .map(|h| format!("{h:?}"))
        .collect::<Vec<_>>()
        .join(" | ");
    out.push_str("declare module \"@pb-serverless/sdk\" {\n  interface Collections {\n");
    for c in collections {
        let _ = writeln!(
            out,
            "    {}: {};",
            property(&c.name),
            record_type_name(&c.name)
        );
    }
    out.push_str("  }\n  interface Secrets {\n");
    let mut secrets: Vec<&String> = manifest.secrets.keys().chain(host_secrets).collect();
    secrets.sort();
    secrets.dedup();
    for s in secrets {
        let _ = writeln!(out, "    {}: true;", property(s));
    }
    out.push_str("  }\n");
    let own: Vec<String> = manifest
        .functions
        .keys()
        .filter_map(|f| module_of(f))
        .map(|m| format!("JobsOf<{m}>"))
        .collect();
    if own.is_empty() {
        out.push_str("  interface Jobs {\n");
    } else {
        let _ = writeln!(out, "  interface Jobs extends {} {{", own.join(", "));
    }
    for (job, payload) in &jobs {
        let _ = writeln!(out, "    {}: {payload};", property(job));
    }
    out.push_str("  }\n}\n\n");
    let _ = writeln!(
        out,
        "/** A module's exports that may be jobs (not its HTTP, cron and hook handlers), with their payloads. */\n\
         type JobsOf<M> = {{\n  [K in keyof M as K extends {excluded} ? never : M[K] extends (...args: any[]) => any ? K : never]: PayloadOf<M, K>;\n}};\n"
    );
    // The manifest's handlers must exist with the right shape.
    out.push_str("/** `true` when `F` is a `H`. */\ntype Is<F, H> = F extends H ? true : false;\n");
    out.push_str("type Check<T extends true> = T;\n");
    let mut checks = Vec::new();
    for c in &manifest.cron {
        let function = c.function.as_deref().unwrap_or_default();
        if let Some(m) = module_of(function) {
            checks.push((
                format!("cron `{}` ({}) of function `{function}`", c.func, c.cron),
                format!("Is<{m}[{:?}], CronHandler>", c.func),
            ));
        }
    }
    for h in &manifest.hooks {
        let function = h.function.as_deref().unwrap_or_default();
        let record = if names.contains(&h.collection.as_str()) {
            record_type_name(&h.collection)
        } else {
            "BaseRecord & { [field: string]: unknown }".into()
        };
        if let Some(m) = module_of(function) {
            checks.push((
                format!(
                    "hook `{}` ({} on {}) of function `{function}`",
                    h.func, h.event, h.collection
                ),
                format!("Is<{m}[{:?}], HookHandler<{record}>>", h.func),
            ));
        }
    }
    for (job, function) in &manifest.jobs {
        if let Some(m) = module_of(function) {
            checks.push((
                format!("job `{job}` bound to function `{function}`"),
                format!("Is<{m}[{job:?}], JobHandler<any>>"),
            ));
        }
    }
    for (i, (what, check)) in checks.iter().enumerate() {
        let _ = writeln!(
            out,
            "/** The manifest's {what} is an export with the handler's shape. */"
        );
        let _ = writeln!(out, "type _Check{i} = Check<{check}>;");
    }
    Ok(out)
}

/// Writes the `pb-env.d.ts` of `project` from its manifest alone (no
/// host's collections or secrets), when its text changed; whether it did.
/// `pbs init` and `pbs dev` call it so the editor knows a collection or job
/// as soon as the manifest names it.
pub fn write_from_manifest(project: &crate::project::Project) -> anyhow::Result<bool> {
    let collections = CollectionTypes::parse_all(&project.manifest.collections)
        .context("the manifest's `collections`")?;
    let text = render(&project.manifest, &collections, &[])?;
    write(&project.dir, &text)
}

/// Writes `pb-env.d.ts` into `dir` when its text changed; whether it did.
pub fn write(dir: &Path, text: &str) -> anyhow::Result<bool> {
    let path = dir.join(FILE_NAME);
    if std::fs::read_to_string(&path).is_ok_and(|t| t == text) {
        return Ok(false);
    }
    let tmp = dir.join(format!(".{FILE_NAME}.tmp"));
    std::fs::write(&tmp, text).with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("write {}", path.display()))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_and_field_types() {
        assert_eq!(record_type_name("posts"), "PostsRecord");
        assert_eq!(record_type_name("blog_posts"), "BlogPostsRecord");
        let cs = CollectionTypes::parse_all(&[json!({
            "name": "posts",
            "fields": [
                {"name": "title", "type": "text", "required": true},
                {"name": "views", "type": "number"},
                {"name": "status", "type": "select", "values": ["draft", "published"], "maxSelect": 1},
                {"name": "tags", "type": "select", "values": ["a", "b"], "maxSelect": 2},
                {"name": "meta", "type": "json"},
                {"name": "embedding", "type": "vector", "dimensions": 3},
            ]
        })])
        .unwrap();
        let manifest: Manifest = serde_json::from_value(json!({"functions": {}})).unwrap();
        let text = render(&manifest, &cs, &[]).unwrap();
        for want in [
            "export interface PostsRecord extends BaseRecord {",
            "  title: string;",
            "  views: number;",
            "  status: \"draft\" | \"published\" | \"\";",
            "  tags: Array<\"a\" | \"b\">;",
            "  meta: JsonValue;",
            "  embedding: number[] | null;",
            "    posts: PostsRecord;",
        ] {
            assert!(text.contains(want), "{want:?} not in\n{text}");
        }
    }

    #[test]
    fn a_bad_collection_names_its_key() {
        let err = CollectionTypes::parse_all(&[
            json!({"name": "x", "fields": [{"name": "a", "type": "nope"}]}),
        ])
        .err()
        .unwrap()
        .to_string();
        assert!(err.starts_with("collections[0]:"), "{err}");
    }
}
