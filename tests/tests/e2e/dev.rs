//! The developer loop as a user runs it, as real processes: `pbs init` of
//! each template → `npm install` (the registry's packages) → `pbs dev` or
//! `pbs deploy`, then edits, a broken edit, a manifest edit, `pbs versions`
//! and `pbs rollback`.

use crate::cli::pbs_bin;
use pbs_tests::fake_openai::{FakeOpenAi, CHUNKS};
use pbs_tests::{Backend, TestHost};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a step may take before the test gives up (a debug build under
/// load compiles slowly; this bounds a hang, it measures nothing).
const PATIENCE: Duration = Duration::from_secs(600);

/// `pbs init DIR --template T` then `npm install` in it; the project folder.
fn init(parent: &Path, template: &str) -> PathBuf {
    let project = parent.join(format!("my-{template}"));
    let out = Command::new(pbs_bin())
        .arg("init")
        .arg(&project)
        .args(["--template", template])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("npm install"));
    let out = Command::new("npm")
        .args([
            "install",
            "--prefer-offline",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
        ])
        .current_dir(&project)
        .output()
        .unwrap();
    assert!(out.status.success(), "npm install: {}", text(&out));
    // The template type-checks as written, with the pb-env.d.ts `pbs init`
    // wrote from its manifest (its package.json's `typecheck`).
    let out = Command::new("npm")
        .args(["run", "--silent", "typecheck"])
        .current_dir(&project)
        .output()
        .unwrap();
    assert!(out.status.success(), "tsc: {}", text(&out));
    assert!(project.join("pb-env.d.ts").is_file());
    project
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn edit(path: &Path, from: &str, to: &str) {
    let old = std::fs::read_to_string(path).unwrap();
    assert!(old.contains(from), "{} has no {from:?}", path.display());
    std::fs::write(path, old.replace(from, to)).unwrap();
}

async fn deploy(project: &Path, host: &TestHost) {
    let mut cmd = Command::new(pbs_bin());
    cmd.arg("deploy")
        .arg(project)
        .args(["--server", &host.base, "--token", &host.token])
        .env_remove("PB_ADMIN_TOKEN");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(out.status.success(), "pbs deploy: {}", text(&out));
}

/// Polls `check` every 200 ms until it gives a value.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < PATIENCE, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ai_chat_template_streams_with_its_key_filled_in_by_the_host() {
    let fake = FakeOpenAi::start(false).await;
    let host = TestHost::start(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let project = init(dir.path(), "ai-chat");
    // What the template's README says to do for another OpenAI-compatible
    // provider: its base URL in the code, its host in the manifest.
    edit(
        &project.join("src/chat.ts"),
        "https://api.openai.com/v1",
        &fake.base_url,
    );
    let manifest = project.join("pb_serverless.json");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("api.openai.com", &fake.authority)).unwrap();
    let resp = host
        .client
        .put(host.url("/api/pb_serverless/_admin/secrets/OPENAI_API_KEY"))
        .bearer_auth(&host.token)
        .json(&json!({"value": "sk-from-the-host"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    deploy(&project, &host).await;

    let resp = host
        .client
        .post(host.function_url("chat"))
        .json(&json!({"prompt": "Say hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), CHUNKS.concat());
    assert_eq!(fake.authorizations(), vec!["Bearer sk-from-the-host"]);
    let sent = fake.requests();
    assert_eq!(sent[0]["model"], "gpt-4o-mini");
    assert_eq!(sent[0]["stream"], true);

    let resp = host
        .client
        .post(host.function_url("chat"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rag_template_embeds_new_documents_in_a_job_and_searches_them() {
    let host = TestHost::start(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let project = init(dir.path(), "rag");
    deploy(&project, &host).await;
    for text in [
        "oat milk goes well with coffee",
        "the train leaves at noon",
        "coffee beans from Ethiopia",
    ] {
        let resp = host
            .client
            .post(host.function_url("docs"))
            .json(&json!({ "text": text }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
    }
    // The `embed` jobs run after the responses; search finds documents once
    // their vectors are stored.
    let h = &host;
    let hits: Vec<Value> = eventually("the three documents embedded", || async move {
        let hits: Value = h
            .client
            .get(format!("{}?q=coffee", h.function_url("docs")))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let hits = hits.as_array()?.clone();
        (hits.len() == 3).then_some(hits)
    })
    .await;
    assert!(
        hits[0]["text"].as_str().unwrap().contains("coffee"),
        "{hits:?}"
    );
    assert!(hits[2]["text"] == "the train leaves at noon", "{hits:?}");
    assert!(hits[0]["score"].as_f64().unwrap() > hits[2]["score"].as_f64().unwrap());
}

/// Lines a child process prints, collected as they come.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    fn follow(&self, stream: impl std::io::Read + Send + 'static) {
        let lines = self.0.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
    }

    fn all(&self) -> String {
        self.0.lock().unwrap().join("\n")
    }

    fn count(&self, pred: impl Fn(&str) -> bool) -> usize {
        self.0.lock().unwrap().iter().filter(|l| pred(l)).count()
    }

    async fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            if let Some(l) = self.0.lock().unwrap().iter().find(|l| pred(l)) {
                return l.clone();
            }
            assert!(
                start.elapsed() < PATIENCE,
                "gave up waiting for {what}; printed:\n{}",
                self.all()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

struct Dev {
    /// Killed on drop (a failed test leaves no process behind).
    child: Option<Child>,
    out: Lines,
    err: Lines,
    base: String,
}

impl Drop for Dev {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn answer(client: &reqwest::Client, url: &str) -> (u16, Value) {
    let resp = client.get(url).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn message(client: &reqwest::Client, url: &str) -> String {
    let (_, body) = answer(client, url).await;
    body["message"].as_str().unwrap_or_default().to_string()
}

/// Runs `pbs ARGS` in `project` as a user would, with no `--server` or
/// token: the dev host (on a port of its own, not the default 8090) is
/// found through the URL and token it keeps in `.pb/data`.
async fn pbs_in(project: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(pbs_bin());
    cmd.args(args)
        .current_dir(project)
        .env_remove("PB_SERVER")
        .env_remove("PB_ADMIN_TOKEN")
        .env_remove("PB_DATA_DIR");
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_serves_edits_keeps_the_last_good_version_and_rolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let project = init(dir.path(), "hello");
    let mut child = Command::new(pbs_bin())
        .args(["dev", "--addr", "127.0.0.1:0"])
        .current_dir(&project)
        .env_remove("PBS_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (out, err) = (Lines::default(), Lines::default());
    out.follow(child.stdout.take().unwrap());
    err.follow(child.stderr.take().unwrap());
    let banner = out
        .wait_for("the banner", |l| l.starts_with("pbs dev: "))
        .await;
    let base = banner
        .split(" on ")
        .nth(1)
        .and_then(|s| s.split("/api/").next())
        .unwrap()
        .to_string();
    let mut dev = Dev {
        child: Some(child),
        out,
        err,
        base,
    };
    let client = pbs_tests::client();
    let url = format!("{}/api/pb_serverless/hello?name=you", dev.base);
    let (c, u) = (&client, url.as_str());

    // The first deploy, and a console.log with its trace id.
    dev.out
        .wait_for("the first deploy", |l| l.starts_with("✓ hello "))
        .await;
    let (status, body) = answer(&client, &url).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["message"], "Hello, you!");
    let trace = body["trace_id"].as_str().unwrap().to_string();
    let logged = dev
        .err
        .wait_for("the console.log line", |l| {
            l.contains("hello you (visit 1)")
        })
        .await;
    assert!(
        logged.contains(" hello ") && logged.contains(&format!("trace={trace}")),
        "{logged}"
    );
    // `pbs logs` in the project folder reads the dev host's buffer (its
    // token found in .pb/data).
    let out = pbs_in(&project, &["logs", "hello", "-n", "20"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("hello you (visit 1)"),
        "{}",
        text(&out)
    );

    // An edit is served without a restart.
    let source = project.join("src/index.ts");
    std::fs::write(
        &source,
        "export async function GET(req: Request): Promise<Response> {\n  \
           const name = new URL(req.url).searchParams.get(\"name\") ?? \"world\";\n  \
           if (name === \"boom\") throw new Error(\"boom at the source\");\n  \
           return Response.json({ message: `Howdy, ${name}!` });\n}\n",
    )
    .unwrap();
    eventually("the edit served", || async move {
        (message(c, u).await == "Howdy, you!").then_some(())
    })
    .await;

    // A runtime error: its stack shows the TypeScript position.
    let (status, _) = answer(
        &client,
        &format!("{}/api/pb_serverless/hello?name=boom", dev.base),
    )
    .await;
    assert_eq!(status, 500);
    dev.err
        .wait_for("the mapped stack", |l| l.contains("src/index.ts:3:"))
        .await;

    // A broken edit: the error with its position, and the last good
    // version keeps serving.
    std::fs::write(&source, "export const broken = ;\n").unwrap();
    let failed = dev
        .out
        .wait_for("the build error", |l| {
            l.starts_with("✗ hello: build failed")
        })
        .await;
    assert!(failed.contains("still serving"), "{failed}");
    dev.out
        .wait_for("the error's position", |l| {
            l.trim_start().starts_with("src/index.ts:1:") && l.contains(": error: ")
        })
        .await;
    assert_eq!(message(&client, &url).await, "Howdy, you!");

    // A manifest edit adds a collection.
    let manifest = project.join("pb_serverless.json");
    std::fs::write(
        &manifest,
        serde_json::to_string_pretty(&json!({
            "functions": {"hello": {"entry": "src/index.ts"}},
            "collections": [{"name": "notes", "fields": [{"name": "text", "type": "text"}]}],
        }))
        .unwrap(),
    )
    .unwrap();
    let token = std::fs::read_to_string(project.join(".pb/data/admin_token")).unwrap();
    let (token, base) = (token.trim(), dev.base.as_str());
    eventually("the collection", || async move {
        let resp = c
            .get(format!("{base}/api/collections/notes"))
            .bearer_auth(token)
            .send()
            .await
            .ok()?;
        (resp.status() == 200).then_some(())
    })
    .await;

    // Fixed: a third version; then back to the second with `pbs rollback`.
    std::fs::write(
        &source,
        "export async function GET(): Promise<Response> {\n  return Response.json({ message: \"Hey\" });\n}\n",
    )
    .unwrap();
    eventually("the fix served", || async move {
        (message(c, u).await == "Hey").then_some(())
    })
    .await;
    // It served as a preview at once; its version is stored when the
    // progress line says so (an upload a later save overtook says
    // "stored").
    let deployed = |l: &str| l.starts_with("✓ hello ") || l.starts_with("· hello ");
    let start = Instant::now();
    while dev.out.count(deployed) < 3 {
        assert!(
            start.elapsed() < PATIENCE,
            "gave up waiting for the fix deployed; printed:\n{}\n{}",
            dev.out.all(),
            dev.err.all()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = pbs_in(&project, &["versions", "hello"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let listing = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        listing.lines().filter(|l| l.contains(" js ")).count(),
        3,
        "{listing}"
    );
    assert_eq!(
        listing
            .lines()
            .filter(|l| l.starts_with('*') && l.contains(" js "))
            .count(),
        1,
        "{listing}"
    );
    let out = pbs_in(&project, &["rollback", "hello"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(message(&client, &url).await, "Howdy, you!");
    assert_eq!(
        dev.out.count(deployed),
        3,
        "one deploy per good save:\n{}",
        dev.out.all()
    );

    // Ctrl-C stops it cleanly.
    let mut child = dev.child.take().unwrap();
    // SAFETY: signals our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s;
            }
            assert!(start.elapsed() < PATIENCE, "pbs dev did not stop");
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
    .unwrap();
    assert!(status.success(), "{status:?}");
    dev.out.wait_for("the goodbye", |l| l == "stopped").await;
}
