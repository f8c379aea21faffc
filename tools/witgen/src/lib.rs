//! What follows the `pb:*` WIT packages (`wit/`) mechanically, generated
//! here so that it cannot drift from them:
//!
//! | file | what | for |
//! |---|---|---|
//! | `guest-js/ts/wit.generated.ts` | every `pb:*` import as typed TypeScript over the engine's bridge (`__pbs.pb(op, args)`): records → interfaces, enums → string unions, `option` → `T \| undefined`, `result` → the value (the error is thrown as a `PbError` whose `code` is one of the interface's error cases), resources → classes, docs carried over | the engine's `pb` API (`guest-js/ts/pb.ts`) is written against it, so a WIT change it does not follow fails `tsc` |
//! | `guest-js/src/bridge/ops.rs` | [`Op`](ops): one variant per `pb:*` function, with its op name | the bridge's `match` must cover every variant, so a WIT function without a bridge entry (or the reverse) fails `cargo build` |
//! | `sdk-ts/wit.d.ts` | the same interfaces as jco and ComponentizeJS see them (`declare module "pb:kv/store@0.1.0"`, `u64` → `bigint`, variants → `{tag, val}`) | components written with ComponentizeJS |
//! | `sdk-ts/errors.d.ts` | each interface's error cases as a string union | the SDK's `PbError` |
//!
//! Run `cargo run -p pbs-witgen` after changing `wit/`; the test suite fails
//! when a committed file differs from a fresh generation.

mod names;
mod rust;
mod ts;

use anyhow::Context;
use std::path::{Path, PathBuf};
use wit_parser::{Function, FunctionKind, InterfaceId, Resolve, Type, TypeDefKind, TypeId};

/// One generated file: its path from the repository's root and its text.
pub struct Output {
    pub path: &'static str,
    pub text: String,
}

/// The repository's root (this crate is `tools/witgen`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tools/witgen is two levels down")
        .to_path_buf()
}

/// Every generated file, from the WIT in `root/wit`.
pub fn generate(root: &Path) -> anyhow::Result<Vec<Output>> {
    let wit = Wit::load(&root.join("wit"))?;
    Ok(vec![
        Output {
            path: "guest-js/ts/wit.generated.ts",
            text: ts::engine_layer(&wit),
        },
        Output {
            path: "guest-js/src/bridge/ops.rs",
            text: rust::ops(&wit),
        },
        Output {
            path: "sdk-ts/wit.d.ts",
            text: ts::component_declarations(&wit),
        },
        Output {
            path: "sdk-ts/errors.d.ts",
            text: ts::error_codes(&wit),
        },
    ])
}

/// The files under `root` that differ from a fresh generation.
pub fn stale(root: &Path) -> anyhow::Result<Vec<&'static str>> {
    Ok(generate(root)?
        .into_iter()
        .filter(|o| std::fs::read_to_string(root.join(o.path)).ok().as_deref() != Some(&o.text))
        .map(|o| o.path)
        .collect())
}

/// The resolved WIT and the `pb:*` interfaces in it.
pub struct Wit {
    pub resolve: Resolve,
    /// `pb:*` interfaces a function imports (every package but
    /// `pb:serverless`), in package then declaration order.
    pub imports: Vec<Iface>,
    /// `pb:serverless`'s handler interfaces (what a component exports).
    pub exports: Vec<Iface>,
}

/// One interface: `pb:<package>/<name>@<version>`.
pub struct Iface {
    pub id: InterfaceId,
    pub package: String,
    pub name: String,
    pub version: String,
}

impl Iface {
    /// `pb:kv/store@0.1.0`.
    pub fn qualified(&self) -> String {
        format!("pb:{}/{}@{}", self.package, self.name, self.version)
    }

    /// The prefix of its op names: `kv/store`.
    pub fn op_prefix(&self) -> String {
        format!("{}/{}", self.package, self.name)
    }
}

impl Wit {
    pub fn load(dir: &Path) -> anyhow::Result<Wit> {
        let mut resolve = Resolve::default();
        resolve
            .push_dir(dir)
            .with_context(|| format!("parse the WIT in {}", dir.display()))?;
        let mut imports = Vec::new();
        let mut exports = Vec::new();
        let mut packages: Vec<_> = resolve
            .packages
            .iter()
            .filter(|(_, p)| p.name.namespace == "pb")
            .collect();
        packages.sort_by(|a, b| a.1.name.name.cmp(&b.1.name.name));
        for (_, package) in packages {
            for (name, &id) in &package.interfaces {
                let iface = Iface {
                    id,
                    package: package.name.name.clone(),
                    name: name.clone(),
                    version: package
                        .name
                        .version
                        .as_ref()
                        .map(|v| v.to_string())
                        .unwrap_or_default(),
                };
                if package.name.name == "serverless" {
                    exports.push(iface);
                } else {
                    imports.push(iface);
                }
            }
        }
        anyhow::ensure!(
            !imports.is_empty(),
            "no pb:* interfaces in {}",
            dir.display()
        );
        Ok(Wit {
            resolve,
            imports,
            exports,
        })
    }

    /// The functions of an interface, each with its op name
    /// (`kv/store.open`, `kv/store.bucket.get`, `trace/tracing.span.new`).
    pub fn functions<'a>(&'a self, iface: &Iface) -> Vec<(String, &'a Function)> {
        self.resolve.interfaces[iface.id]
            .functions
            .values()
            .map(|f| (format!("{}.{}", iface.op_prefix(), op_name(f)), f))
            .collect()
    }

    /// The interface a type is declared in, if any.
    pub fn owner(&self, id: TypeId) -> Option<&Iface> {
        let owner = match self.resolve.types[id].owner {
            wit_parser::TypeOwner::Interface(i) => i,
            _ => return None,
        };
        self.imports
            .iter()
            .chain(&self.exports)
            .find(|i| i.id == owner)
    }

    /// Follows `type a = b` aliases (and `use`) to the defining type.
    pub fn resolved(&self, ty: &Type) -> Type {
        let mut ty = *ty;
        while let Type::Id(id) = ty {
            match &self.resolve.types[id].kind {
                TypeDefKind::Type(inner) => ty = *inner,
                _ => break,
            }
        }
        ty
    }

    /// The error cases of `iface`'s `error` variant (none when it has none).
    pub fn error_cases(&self, iface: &Iface) -> Vec<String> {
        let types = &self.resolve.interfaces[iface.id].types;
        let Some(&id) = types.get("error") else {
            return Vec::new();
        };
        match &self.resolve.types[id].kind {
            TypeDefKind::Variant(v) => v.cases.iter().map(|c| c.name.clone()).collect(),
            _ => Vec::new(),
        }
    }
}

/// A function's name inside its interface: `open`, `bucket.get`,
/// `span.new` (the constructor), `thing.make` (a static function).
pub fn op_name(f: &Function) -> String {
    match &f.kind {
        FunctionKind::Constructor(_) => {
            format!("{}.new", f.name.trim_start_matches("[constructor]"))
        }
        FunctionKind::Method(_) | FunctionKind::AsyncMethod(_) => f
            .name
            .trim_start_matches("[method]")
            .trim_start_matches("[async method]")
            .to_string(),
        FunctionKind::Static(_) | FunctionKind::AsyncStatic(_) => f
            .name
            .trim_start_matches("[static]")
            .trim_start_matches("[async static]")
            .to_string(),
        FunctionKind::Freestanding | FunctionKind::AsyncFreestanding => f.name.clone(),
    }
}

/// The docs of a WIT item, lines without their `///`.
pub fn doc_lines(docs: &wit_parser::Docs) -> Vec<String> {
    docs.contents
        .as_deref()
        .unwrap_or("")
        .lines()
        .map(|l| l.trim_end().to_string())
        .collect::<Vec<_>>()
        .into_iter()
        .skip_while(|l| l.is_empty())
        .collect()
}
