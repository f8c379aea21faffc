//! The visits example of three toolchains — Rust with `pb-sdk`
//! (wit-bindgen), Python with `pb_sdk` (componentize-py 0.25.1) and
//! JavaScript (ComponentizeJS 0.23) — each built against `wit/` as it is,
//! with the pinned tool from its registry, deployed as its README says
//! (`pbs deploy` of the example's project) and called: `pb:kv` counts, and
//! `pb:data` stores and counts records, on one host.

use crate::cli::pbs_bin;
use pbs_tests::toolchains::{root, Example};
use pbs_tests::{guests, Backend, TestHost};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (language, example folder, the built component).
fn examples() -> Vec<(&'static str, PathBuf, PathBuf)> {
    // The two slow builds run side by side.
    let (python, js) = std::thread::scope(|s| {
        let python = s.spawn(|| Example::Python.component());
        let js = s.spawn(|| Example::Js.component());
        (python.join().unwrap(), js.join().unwrap())
    });
    vec![
        (
            "rust",
            root().join("examples/visits-rust"),
            PathBuf::from(guests::EXAMPLE_VISITS_RUST),
        ),
        ("python", Example::Python.dir(), python),
        ("javascript", Example::Js.dir(), js),
    ]
}

/// The example's project with its component path pointing at `component`
/// (the example's own manifest otherwise, collections included), and the
/// name of its function.
fn project_copy(example: &Path, component: &Path) -> (tempfile::TempDir, String) {
    let text = std::fs::read_to_string(example.join("pb_serverless.json")).unwrap();
    let mut manifest: Value = serde_json::from_str(&text).unwrap();
    let functions = manifest["functions"].as_object_mut().unwrap();
    assert_eq!(functions.len(), 1, "{text}");
    let (name, function) = functions.iter_mut().next().unwrap();
    function["component"] = Value::String(component.to_string_lossy().into_owned());
    let name = name.clone();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pb_serverless.json"),
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();
    (dir, name)
}

async fn pbs_deploy(host: &TestHost, project: &Path) {
    let mut cmd = Command::new(pbs_bin());
    cmd.arg("deploy")
        .arg(project)
        .args(["--server", &host.base, "--token", &host.token])
        .env_remove("PB_ADMIN_TOKEN");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "pbs deploy {}:\n{}\n{}",
        project.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn get(host: &TestHost, path: &str) -> (u16, String) {
    let resp = host.client.get(host.url(path)).send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

/// A GET of the records API as the admin (the collection has no rules).
async fn admin_get(host: &TestHost, path: &str) -> (u16, String) {
    let resp = host
        .client
        .get(host.url(path))
        .bearer_auth(&host.token)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_of_three_toolchains_deploy_and_use_kv_and_data() {
    let examples = tokio::task::spawn_blocking(examples).await.unwrap();
    let host = TestHost::start(Backend::Sqlite).await;
    let mut functions = Vec::new();
    for (lang, dir, component) in &examples {
        // Each applies the same `visits` collection: the second and third
        // deploys find it as it is.
        let (project, name) = project_copy(dir, component);
        let started = std::time::Instant::now();
        pbs_deploy(&host, project.path()).await;
        eprintln!(
            "pbs deploy of the {lang} example: {:.1} s",
            started.elapsed().as_secs_f64()
        );
        functions.push((*lang, format!("/api/pb_serverless/{name}")));
    }
    for (lang, function) in &functions {
        // pb:kv counts per name; pb:data stores one record per visit and
        // counts them (get-list's totalItems).
        for n in 1..=3 {
            let (status, body) = get(&host, &format!("{function}?who=ana")).await;
            assert_eq!(status, 200, "{lang}: {body}");
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["lang"], *lang, "{body}");
            assert_eq!(
                (v["who"].as_str(), v["n"].as_i64()),
                (Some("ana"), Some(n)),
                "{lang}: {body}"
            );
            assert_eq!(v["visits"], n, "{lang}: {body}");
            let id = v["id"].as_str().unwrap_or_default();
            assert_eq!(id.len(), 15, "{lang}: a record id: {body}");
            // The record the function created, read back through the REST API.
            let (status, record) =
                admin_get(&host, &format!("/api/collections/visits/records/{id}")).await;
            assert_eq!(status, 200, "{record}");
            let record: Value = serde_json::from_str(&record).unwrap();
            assert_eq!(
                (&record["who"], &record["n"], &record["lang"]),
                (&Value::from("ana"), &Value::from(n), &Value::from(*lang))
            );
        }
        let (_, body) = get(&host, &format!("{function}?who=bo")).await;
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (v["n"].as_i64(), v["visits"].as_i64()),
            (Some(1), Some(1)),
            "{lang}: {body}"
        );
        // Bad input is the function's 400, in PocketBase's error shape.
        let (status, body) = get(&host, &format!("{function}?who=a%22b")).await;
        assert_eq!(status, 400, "{lang}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], 400, "{lang}: {body}");
        assert!(
            v["message"].as_str().unwrap().contains("`who`"),
            "{lang}: {body}"
        );
        // The hello path touches neither capability.
        let (status, body) = get(&host, &format!("{function}/hello")).await;
        assert_eq!(
            (status, body.as_str()),
            (200, format!("hello from {lang}\n").as_str())
        );
    }
    // Each function counted in its own pb:kv namespace, and all of them
    // wrote to the one collection: 4 records per language.
    let (status, body) = admin_get(&host, "/api/collections/visits/records?perPage=1").await;
    assert_eq!(status, 200, "{body}");
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list["totalItems"], 12, "{body}");
}
