//! `pbs init [DIR] [--template hello|ai-chat|rag]`: a new project that builds
//! and deploys as it is. The templates live in `host/templates/` and are
//! embedded in the binary; `__NAME__` in them becomes the project's name.

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct InitArgs {
    /// The folder to create the project in (default: here).
    dir: Option<PathBuf>,
    /// What the project starts with.
    #[arg(long, short, value_enum, default_value_t = Template::Hello)]
    template: Template,
    /// Write into a folder that is not empty (files of the template are overwritten).
    #[arg(long)]
    force: bool,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum Template {
    /// One HTTP function that greets and counts visits in pb.kv.
    Hello,
    /// A streaming chat on the AI SDK, the API key as a secret bound to the provider's host.
    AiChat,
    /// Documents with vector search: a collection, a hook and a job that embeds, a search endpoint.
    Rag,
}

/// (path in the project, contents).
type Files = &'static [(&'static str, &'static str)];

macro_rules! template {
    ($($path:literal => $file:literal),* $(,)?) => {
        &[
            ("tsconfig.json", include_str!("../../templates/common/tsconfig.json")),
            (".gitignore", include_str!("../../templates/common/gitignore")),
            $(($path, include_str!(concat!("../../templates/", $file))),)*
        ]
    };
}

impl Template {
    pub fn files(self) -> Files {
        match self {
            Template::Hello => template! {
                "package.json" => "hello/package.json",
                "pb_serverless.json" => "hello/pb_serverless.json",
                "README.md" => "hello/README.md",
                "src/index.ts" => "hello/src/index.ts",
            },
            Template::AiChat => template! {
                "package.json" => "ai-chat/package.json",
                "pb_serverless.json" => "ai-chat/pb_serverless.json",
                "README.md" => "ai-chat/README.md",
                "src/chat.ts" => "ai-chat/src/chat.ts",
            },
            Template::Rag => template! {
                "package.json" => "rag/package.json",
                "pb_serverless.json" => "rag/pb_serverless.json",
                "README.md" => "rag/README.md",
                "src/docs.ts" => "rag/src/docs.ts",
                "src/vectorize.ts" => "rag/src/vectorize.ts",
            },
        }
    }

    fn name(self) -> &'static str {
        match self {
            Template::Hello => "hello",
            Template::AiChat => "ai-chat",
            Template::Rag => "rag",
        }
    }
}

pub async fn run(args: InitArgs) -> anyhow::Result<()> {
    let dir = args.dir.unwrap_or_else(|| PathBuf::from("."));
    let written = create(&dir, args.template, args.force)?;
    println!(
        "created a {} project in {} ({} files)",
        args.template.name(),
        dir.display(),
        written
    );
    println!("next:");
    if dir != Path::new(".") {
        println!("  cd {}", dir.display());
    }
    println!("  npm install");
    if args.template == Template::AiChat {
        println!("  OPENAI_API_KEY=sk-… pbs dev");
    } else {
        println!("  pbs dev");
    }
    Ok(())
}

/// Writes `template` into `dir` (created if needed) and installs the SDK
/// into its `.pb/sdk`. Refuses a folder with anything in it unless `force`.
/// Returns how many files of the template were written.
pub fn create(dir: &Path, template: Template, force: bool) -> anyhow::Result<usize> {
    if dir.exists() {
        if !dir.is_dir() {
            bail!("{} exists and is not a folder", dir.display());
        }
        let mut entries =
            std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))?;
        if entries.next().is_some() && !force {
            bail!(
                "{} is not empty: choose a new folder, or pass --force to write the template into it (its files are overwritten)",
                dir.display()
            );
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let name = package_name(dir);
    for (path, contents) in template.files() {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("create {}", parent.display()))?;
        }
        std::fs::write(&target, contents.replace("__NAME__", &name))
            .with_context(|| format!("write {}", target.display()))?;
    }
    crate::sdk::install(dir)?;
    crate::project::typegen::write_from_manifest(&crate::project::Project::load(dir)?)?;
    Ok(template.files().len())
}

/// An npm package name from the folder's name: lowercase letters, digits,
/// `-`, `_` and `.`, not starting with `.` or `_`.
fn package_name(dir: &Path) -> String {
    let folder = std::path::absolute(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let mut name: String = folder
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    name = name.trim_start_matches(['.', '_', '-']).to_string();
    name.truncate(214);
    if name.is_empty() {
        "pbs-project".into()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::Project;

    #[test]
    fn every_template_is_a_valid_project() {
        for t in [Template::Hello, Template::AiChat, Template::Rag] {
            let dir = tempfile::tempdir().unwrap();
            let project = dir.path().join("My App");
            create(&project, t, false).unwrap();
            let loaded = Project::load(&project).unwrap();
            assert!(!loaded.manifest.functions.is_empty(), "{t:?}");
            for spec in loaded.manifest.functions.values() {
                let entry = spec.entry.as_ref().expect("a TS entry");
                assert!(project.join(entry).is_file(), "{t:?}: {}", entry.display());
            }
            let package: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(project.join("package.json")).unwrap(),
            )
            .unwrap();
            assert_eq!(package["name"], "my-app");
            let (sdk, spec) = crate::sdk::DEPENDENCY;
            assert_eq!(package["devDependencies"][sdk], spec, "{t:?}");
            assert!(crate::sdk::dir(&project).join("package.json").is_file());
            assert!(project.join("pb-env.d.ts").is_file(), "{t:?}");
            let ignored = std::fs::read_to_string(project.join(".gitignore")).unwrap();
            assert!(ignored.lines().any(|l| l == ".pb/"), "{ignored}");
        }
    }

    #[test]
    fn a_folder_with_files_needs_force() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        let err = create(dir.path(), Template::Hello, false).unwrap_err();
        assert!(err.to_string().contains("--force"), "{err}");
        assert!(!dir.path().join("package.json").exists());
        create(dir.path(), Template::Hello, true).unwrap();
        assert!(dir.path().join("pb_serverless.json").is_file());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
            "mine"
        );
    }
}
