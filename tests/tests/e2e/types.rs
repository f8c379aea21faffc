//! `pbs types`: a project's TypeScript types, from its manifest or from a
//! running host, written as a user runs the command.

use crate::cli::pbs_bin;
use pbs::project::typegen::{self, CollectionTypes};
use pbs::project::Project;
use pbs_tests::{Backend, TestHost};
use reqwest::Method;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// The committed `pb-env.d.ts` of the example project and of the type
/// tests are what `pbs types` writes now (so the `tsc` run of the test
/// script checks the current generator).
#[test]
fn committed_project_types_are_up_to_date() {
    for dir in ["examples/hello-ts", "tests/js/types"] {
        let project = Project::load(&repo(dir)).unwrap();
        let collections = CollectionTypes::parse_all(&project.manifest.collections).unwrap();
        let fresh = typegen::render(&project.manifest, &collections, &[]).unwrap();
        let committed = std::fs::read_to_string(repo(dir).join(typegen::FILE_NAME)).unwrap();
        assert!(
            committed == fresh,
            "{dir}/pb-env.d.ts is stale: run `pbs types {dir}`"
        );
    }
}

fn run(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(pbs_bin())
        .args(args)
        .current_dir(dir)
        .env_remove("PB_ADMIN_TOKEN")
        .output()
        .unwrap()
}

/// From the manifest: the record types, secrets and checks land in
/// pb-env.d.ts, and the SDK in .pb/sdk; a bad manifest is refused with the
/// key at fault and nothing is written.
#[test]
fn types_from_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = json!({
        "functions": {"app": {"entry": "src/app.ts"}},
        "collections": [{"name": "blog_posts", "fields": [
            {"name": "title", "type": "text"},
            {"name": "author", "type": "relation", "collectionId": "blog_posts", "maxSelect": 1}
        ]}],
        "secrets": {"API_KEY": {"hosts": ["api.example.com"]}},
        "hooks": [{"collection": "blog_posts", "event": "after_create", "func": "announce"}]
    });
    std::fs::write(dir.path().join("pb_serverless.json"), manifest.to_string()).unwrap();
    let out = run(&["types"], dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.path().join("pb-env.d.ts")).unwrap();
    for want in [
        "export interface BlogPostsRecord extends BaseRecord {",
        "  title: string;",
        "  author: string;",
        "    blog_posts: BlogPostsRecord;",
        "    API_KEY: true;",
        "typeof import(\"./src/app\")[\"announce\"], HookHandler<BlogPostsRecord>",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    assert!(dir.path().join(".pb/sdk/index.d.ts").exists());

    // A field of an unknown type: the error names the collection and key.
    let bad = json!({
        "functions": {"app": {"entry": "src/app.ts"}},
        "collections": [{"name": "x", "fields": [{"name": "when", "type": "datetime"}]}]
    });
    std::fs::write(dir.path().join("pb_serverless.json"), bad.to_string()).unwrap();
    let out = run(&["types"], dir.path());
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("collections[0]"), "{stderr}");
    assert!(stderr.contains("datetime"), "{stderr}");
    // The earlier file is intact.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("pb-env.d.ts")).unwrap(),
        text
    );
}

/// `--server`: the collections and secret names of a running host.
async fn types_from_a_running_host(backend: Backend) {
    let host = TestHost::start(backend).await;
    let (status, body) = host
        .admin(
            Method::POST,
            "/api/collections",
            Some(json!({"name": "tasks", "fields": [
                {"name": "done", "type": "bool"},
                {"name": "priority", "type": "select", "values": ["low", "high"]}
            ]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = host
        .admin(
            Method::PUT,
            "secrets/GITHUB_TOKEN",
            Some(json!({"value": "ghp_x"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pb_serverless.json"),
        json!({"functions": {}}).to_string(),
    )
    .unwrap();
    let (base, token) = (host.base.clone(), host.token.clone());
    let path = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        run(&["types", "--server", &base, "--token", &token], &path)
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.path().join("pb-env.d.ts")).unwrap();
    for want in [
        "export interface TasksRecord extends BaseRecord {",
        "  done: boolean;",
        "  priority: \"low\" | \"high\" | \"\";",
        "    GITHUB_TOKEN: true;",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    assert!(!text.contains("ghp_x"));
}

pbs_tests::on_both_backends!(types_from_a_running_host);
