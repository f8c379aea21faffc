//! `pbs dev` previews (`pbs::deploy::preview`): an edit of a JS function
//! serves from the plain engine before its version is compiled, nothing is
//! stored until the deploy, its deploy replaces it (an overtaken edit's
//! does not, a deploy from elsewhere does), and a refused or dropped upload
//! brings back the stored version, never an older preview.

use pbs::common::sourcemap::SourceMapper;
use pbs::deploy::preview::Preview;
use pbs::deploy::{content_hash, Registry, Settings};
use pbs::engine::Runtime;
use pbs_tests::{guests, js, test_limits, Backend, TestHost};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// `tests/js/src/<file>` built as `pbs dev` builds it: the component, and
/// the preview made from the same build.
async fn build(file: &str) -> (Vec<u8>, Preview) {
    let runtime = Runtime::new(test_limits(), Vec::new()).unwrap();
    let entry = js::project_dir().join("src").join(file);
    let built = pbs::deploy::js::build(&runtime, &entry).await.unwrap();
    let preview = Preview {
        hash: content_hash(&built.component),
        bundle: built.code,
        exports: built.exports,
        source_map: Some(Arc::new(SourceMapper::new(built.map))),
    };
    (built.component, preview)
}

/// Previews `file` over `name` as `pbs dev` does (its upload queued);
/// returns the hash its version will have, and its component.
async fn preview(registry: &Registry, name: &str, file: &str) -> (String, Vec<u8>) {
    let (bytes, preview) = build(file).await;
    let hash = preview.hash.clone();
    registry.upload_queued(name, &hash);
    assert!(registry.preview(name, preview, &Settings::default()).await);
    (hash, bytes)
}

async fn text(host: &TestHost, name: &str) -> String {
    let resp = host.get(name).await;
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap()
}

async fn stored_version(host: &TestHost, name: &str) -> String {
    let (status, body) = host.admin_get(&format!("functions/{name}/versions")).await;
    assert_eq!(status, 200, "{body}");
    let items = body["items"].as_array().unwrap();
    let active: Vec<&Value> = items.iter().filter(|v| v["active"] == true).collect();
    assert_eq!(active.len(), 1, "{body}");
    active[0]["version"].as_str().unwrap().to_string()
}

const FRESH: &str = "\"counter\":1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_serves_before_its_deploy_which_replaces_it() {
    let host = TestHost::start(Backend::Sqlite).await;
    let registry = host.server.registry().unwrap().clone();
    let v1 = host.deploy_js("fn", "hello.ts").await;
    assert_eq!(text(&host, "fn").await, "hello from js\n");
    registry.prepare_previews().await;

    // An edit, then a later one: the later serves at once, from a fresh
    // evaluation of its bundle for each request (module state starts
    // over, as from a snapshot)…
    let (earlier, earlier_bytes) = preview(&registry, "fn", "kv.ts").await;
    let (v2, bytes) = preview(&registry, "fn", "fresh_state.ts").await;
    for _ in 0..2 {
        let state: Value = serde_json::from_str(&text(&host, "fn").await).unwrap();
        assert_eq!(
            (state["counter"].as_i64(), state["leak"].as_i64()),
            (Some(1), Some(1))
        );
    }
    // …while nothing is stored, and the registry's refresh (every 200 ms
    // here) does not take it back.
    assert_eq!(stored_version(&host, "fn").await, v1);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(text(&host, "fn").await.contains(FRESH));
    // A job it enqueued finds its code although nothing is stored yet.
    assert!(registry.preview_version(&v2).unwrap().init.is_some());

    // The deploy of the overtaken edit stores its version and leaves the
    // later edit's preview serving.
    assert_eq!(host.deploy("fn", earlier_bytes).await.status(), 201);
    assert_eq!(stored_version(&host, "fn").await, earlier);
    assert!(registry.get("fn").unwrap().preview);
    assert!(text(&host, "fn").await.contains(FRESH));

    // Its own deploy replaces it with the compiled version.
    assert_eq!(host.deploy("fn", bytes).await.status(), 201);
    let live = registry.get("fn").unwrap();
    assert!(!live.preview && live.version.init.is_none());
    assert_eq!(live.version.hash, v2);
    assert_eq!(stored_version(&host, "fn").await, v2);
    assert!(text(&host, "fn").await.contains(FRESH));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upload_brings_back_the_stored_version_and_components_are_not_previewed() {
    let host = TestHost::start(Backend::Sqlite).await;
    let registry = host.server.registry().unwrap().clone();
    let v1 = host.deploy_js("fn", "hello.ts").await;
    registry.prepare_previews().await;

    // A refused upload: the stored version serves again.
    let (h, _) = preview(&registry, "fn", "fresh_state.ts").await;
    assert!(text(&host, "fn").await.contains(FRESH));
    registry.upload_ended("fn", &h).await;
    assert_eq!(text(&host, "fn").await, "hello from js\n");
    assert_eq!(registry.get("fn").unwrap().version.hash, v1);

    // Two edits: the first's upload dropped (overtaken), the second
    // serving; then the second refused: the stored version, not the
    // first edit's preview, comes back.
    let (first, _) = preview(&registry, "fn", "kv.ts").await;
    let (second, _) = preview(&registry, "fn", "fresh_state.ts").await;
    registry.upload_ended("fn", &first).await;
    assert!(text(&host, "fn").await.contains(FRESH));
    registry.upload_ended("fn", &second).await;
    assert_eq!(text(&host, "fn").await, "hello from js\n");
    assert!(!registry.get("fn").unwrap().preview);

    // A deploy from elsewhere (not one of `pbs dev`'s uploads) replaces a
    // preview.
    preview(&registry, "fn", "fresh_state.ts").await;
    let v3 = host.deploy_js("fn", "kv.ts").await;
    let live = registry.get("fn").unwrap();
    assert!(!live.preview);
    assert_eq!(live.version.hash, v3);

    // A component that is not JS (or a function not deployed yet) is not
    // previewed: the edit waits for its deploy.
    host.deploy_ok("rust", guests::HELLO).await;
    let (_, p) = build("hello.ts").await;
    assert!(!registry.preview("rust", p, &Settings::default()).await);
    let (_, p) = build("hello.ts").await;
    assert!(!registry.preview("nobody", p, &Settings::default()).await);
}
