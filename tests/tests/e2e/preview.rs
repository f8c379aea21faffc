//! `pbs dev` previews (`pbs::deploy::preview`): an edit of a JS function
//! serves from the plain engine before its version is compiled, nothing is
//! stored until the deploy, the deploy replaces it (but not a preview of a
//! later edit), and a failed deploy puts the previous version back.

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

/// Previews `file` over `name`; what served before.
async fn preview(registry: &Registry, name: &str, file: &str) -> Arc<pbs::deploy::Deployed> {
    let (_, preview) = build(file).await;
    registry
        .preview(name, preview, &Settings::default())
        .await
        .expect("a preview")
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_serves_before_its_deploy_which_replaces_it() {
    let host = TestHost::start(Backend::Sqlite).await;
    let registry = host.server.registry().unwrap().clone();
    let v1 = host.deploy_js("fn", "hello.ts").await;
    assert_eq!(text(&host, "fn").await, "hello from js\n");
    registry.prepare_previews().await;

    // The edit serves at once, from a fresh evaluation of its bundle for
    // each request (module state starts over, as from a snapshot)…
    let (bytes, edit) = build("fresh_state.ts").await;
    let v2 = edit.hash.clone();
    let previous = registry
        .preview("fn", edit, &Settings::default())
        .await
        .expect("a preview");
    assert_eq!(previous.version.hash, v1);
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
    assert!(text(&host, "fn").await.contains("\"counter\":1"));

    // The deploy of an earlier edit stores its version but leaves the
    // preview of the later one serving.
    let earlier = host.deploy_js("fn", "kv.ts").await;
    assert_eq!(stored_version(&host, "fn").await, earlier);
    assert!(registry.get("fn").unwrap().preview);
    assert!(text(&host, "fn").await.contains("\"counter\":1"));

    // Its own deploy replaces it with the compiled version.
    let resp = host.deploy("fn", bytes).await;
    assert_eq!(resp.status(), 201);
    let live = registry.get("fn").unwrap();
    assert!(!live.preview && live.version.init.is_none());
    assert_eq!(live.version.hash, v2);
    assert_eq!(stored_version(&host, "fn").await, v2);
    assert!(text(&host, "fn").await.contains("\"counter\":1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_deploy_brings_back_what_served_and_components_are_not_previewed() {
    let host = TestHost::start(Backend::Sqlite).await;
    let registry = host.server.registry().unwrap().clone();
    let v1 = host.deploy_js("fn", "hello.ts").await;
    registry.prepare_previews().await;
    let previous = preview(&registry, "fn", "fresh_state.ts").await;
    assert!(text(&host, "fn").await.contains("\"counter\":1"));

    // The deploy failed (say, refused): the previous version serves again.
    registry.end_preview("fn", previous.clone()).await;
    assert_eq!(text(&host, "fn").await, "hello from js\n");
    assert_eq!(registry.get("fn").unwrap().version.hash, v1);
    // Ending it again once something else serves changes nothing.
    host.deploy_js("fn", "fresh_state.ts").await;
    registry.end_preview("fn", previous).await;
    assert!(text(&host, "fn").await.contains("\"counter\":1"));

    // A later edit built without a preview releases the one serving: the
    // next deploy replaces it, whichever version it is.
    preview(&registry, "fn", "hello.ts").await;
    assert_eq!(text(&host, "fn").await, "hello from js\n");
    registry.release_preview("fn");
    let v3 = host.deploy_js("fn", "kv.ts").await;
    let live = registry.get("fn").unwrap();
    assert!(!live.preview);
    assert_eq!(live.version.hash, v3);

    // A component that is not JS (or a function not deployed yet) is not
    // previewed: the edit waits for its deploy.
    host.deploy_ok("rust", guests::HELLO).await;
    let (_, preview) = build("hello.ts").await;
    assert!(registry
        .preview("rust", preview, &Settings::default())
        .await
        .is_none());
    let (_, preview) = build("hello.ts").await;
    assert!(registry
        .preview("nobody", preview, &Settings::default())
        .await
        .is_none());
}
