//! `pbs deploy` of a project folder (`pb_serverless.json`), as a user runs it.

use crate::cli::pbs_bin;
use pbs_tests::{guests, js, Backend, TestHost};
use std::path::Path;
use std::process::{Command, Output};

fn write_project(dir: &Path, manifest: serde_json::Value) {
    std::fs::write(
        dir.join("pb_serverless.json"),
        serde_json::to_string_pretty(&manifest).unwrap(),
    )
    .unwrap();
}

fn entry(file: &str) -> String {
    js::project_dir()
        .join("src")
        .join(file)
        .to_string_lossy()
        .into_owned()
}

async fn deploy(host: &TestHost, dir: &Path) -> Output {
    let mut cmd = Command::new(pbs_bin());
    cmd.arg("deploy")
        .arg(dir)
        .args(["--server", &host.base, "--token", &host.token])
        .env_remove("PB_ADMIN_TOKEN");
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

async fn deployed_functions(host: &TestHost) -> Vec<String> {
    let (status, list) = host.admin_get("functions").await;
    assert_eq!(status, 200, "{list}");
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_deploys_every_function_and_its_bindings() {
    let host = TestHost::start(Backend::Sqlite).await;
    // The value is set apart; the manifest binds it to hosts.
    let resp = host
        .client
        .put(host.url("/api/pb_serverless/_admin/secrets/API_KEY"))
        .bearer_auth(&host.token)
        .json(&serde_json::json!({"value": "sk-test"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let dir = tempfile::tempdir().unwrap();
    write_project(
        dir.path(),
        serde_json::json!({
            "functions": {
                "greeter": {"entry": entry("hello.ts")},
                "worker": {"entry": entry("project_worker.ts")},
                "rusty": {"component": guests::HELLO, "reuse": 500},
            },
            "cron": [{"func": "nightly", "cron": "0 3 * * *", "function": "worker"}],
            "jobs": {"resize": "worker"},
            "secrets": {"API_KEY": {"hosts": ["api.example.com", "127.0.0.1:8443"]}},
        }),
    );
    let out = deploy(&host, dir.path()).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    for name in ["greeter", "worker", "rusty"] {
        assert!(
            stdout.contains(&format!("deployed {name} version")),
            "{stdout}"
        );
    }
    assert_eq!(
        host.get("greeter").await.text().await.unwrap(),
        "hello from js\n"
    );
    assert_eq!(
        host.get("rusty").await.text().await.unwrap(),
        "Hello, world!\n"
    );
    let (_, rusty) = host.admin_get("functions").await;
    let reuse: Vec<u64> = rusty["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["reuse"].as_u64())
        .collect();
    assert_eq!(reuse, [0, 500, 0], "greeter, rusty, worker: {rusty}");
    let (status, cron) = host.admin_get("cron").await;
    assert_eq!(status, 200, "{cron}");
    let cron = cron.to_string();
    assert!(
        cron.contains("nightly") && cron.contains("0 3 * * *"),
        "{cron}"
    );
    let (status, secret) = host.admin_get("secrets/API_KEY").await;
    assert_eq!(status, 200, "{secret}");
    assert_eq!(
        secret["hosts"],
        serde_json::json!(["api.example.com", "127.0.0.1:8443"])
    );
}

/// Every function is built and checked against the manifest before anything
/// is uploaded: a project with one broken binding changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_project_uploads_nothing() {
    let host = TestHost::start(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    write_project(
        dir.path(),
        serde_json::json!({
            "functions": {
                "greeter": {"entry": entry("hello.ts")},
                "worker": {"entry": entry("project_worker.ts")},
            },
            "cron": [{"func": "weekly", "cron": "0 3 * * 1", "function": "worker"}],
        }),
    );
    let out = deploy(&host, dir.path()).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("does not export `weekly`") && stderr.contains("nightly"),
        "{stderr}"
    );
    assert!(deployed_functions(&host).await.is_empty());

    // A typo in a key is an error, not a silently ignored section.
    write_project(
        dir.path(),
        serde_json::json!({
            "functions": {"greeter": {"entry": entry("hello.ts")}},
            "crons": [],
        }),
    );
    let out = deploy(&host, dir.path()).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown field `crons`"), "{stderr}");

    // A hook on an event that does not exist is refused before anything is built.
    write_project(
        dir.path(),
        serde_json::json!({
            "functions": {"greeter": {"entry": entry("hello.ts")}},
            "hooks": [{"collection": "posts", "event": "before_save", "func": "check"}],
        }),
    );
    let out = deploy(&host, dir.path()).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown event `before_save`"), "{stderr}");
    assert!(deployed_functions(&host).await.is_empty());

    // A secret bound in the manifest but never set: refused before any upload.
    write_project(
        dir.path(),
        serde_json::json!({
            "functions": {"greeter": {"entry": entry("hello.ts")}},
            "secrets": {"NEVER_SET": {"hosts": ["api.example.com"]}},
        }),
    );
    let out = deploy(&host, dir.path()).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("pbs secrets set NEVER_SET"), "{stderr}");
    assert!(deployed_functions(&host).await.is_empty());

    // A binding to a function the manifest does not define.
    write_project(
        dir.path(),
        serde_json::json!({
            "functions": {"greeter": {"entry": entry("hello.ts")}},
            "jobs": {"resize": "worker"},
        }),
    );
    let out = deploy(&host, dir.path()).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no function `worker`"), "{stderr}");
    assert!(deployed_functions(&host).await.is_empty());
}

/// The example project the README's first command deploys
/// (`examples/hello-ts`): a collection with a vector field, a function that
/// writes a note and enqueues a job in one transaction, searches by vector,
/// and a cron schedule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_project_deploys_and_works() {
    let host = TestHost::start(Backend::Sqlite).await;
    let dir = js::project_dir().join("../../examples/hello-ts");
    let out = deploy(&host, &dir).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let notes = host.function_url("notes");
    for text in [
        "buy oat milk and coffee",
        "the coffee grinder is broken",
        "  book flights\n to   Lisbon ",
    ] {
        let resp = host
            .client
            .post(&notes)
            .body(serde_json::json!({ "text": text }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    let resp = host.client.post(&notes).body("{}").send().await.unwrap();
    assert_eq!(resp.status(), 400);
    // The `tidy_note` hook refuses a long note, and tidies the others' spaces.
    let long = serde_json::json!({ "text": "word ".repeat(200) }).to_string();
    let resp = host.client.post(&notes).body(long).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let refused: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(refused["message"], "a note is at most 500 characters");
    let (status, hooks) = host.admin_get("hooks").await;
    assert_eq!(status, 200);
    assert_eq!(hooks["items"][0]["func"], "tidy_note", "{hooks}");

    let hits: serde_json::Value = host
        .client
        .get(format!("{notes}?q=coffee"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let texts: Vec<&str> = hits
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts.len(), 3, "{hits}");
    assert!(texts[2] == "book flights to Lisbon", "{hits}");

    // The queued job counts each note's words (it runs after the response).
    let url = host.url("/api/collections/notes/records?filter=words%3E0&skipTotal=1");
    let mut counted = 0;
    for _ in 0..100 {
        let page: serde_json::Value = host
            .client
            .get(&url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        counted = page["items"].as_array().unwrap().len();
        if counted == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(counted, 3);
    let (status, cron) = host.admin_get("cron").await;
    assert_eq!(status, 200);
    assert!(cron.to_string().contains("nightly"), "{cron}");
    let hello: serde_json::Value = host.get("hello-ts?name=you").await.json().await.unwrap();
    assert_eq!(hello["message"], "Hello, you!");
}
