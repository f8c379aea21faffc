//! Test support: the test components, a throwaway PostgreSQL, and hosts
//! started in-process on loopback for either backend.

pub mod fake_openai;
pub mod js;
pub mod load;
pub mod otlp;
pub mod pg;
pub mod s3;
pub mod toolchains;

use pbs::config::{HostConfig, Limits, Mode};
use pbs::server::Server;
use std::path::PathBuf;
use std::time::Duration;

/// The test components (built by `build.rs` from `tests/guests/`: one
/// constant per component, its `.wasm` path).
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));

    /// The example function of `examples/hello` (the README's tutorial).
    pub const EXAMPLE_HELLO: &str = env!("EXAMPLE_HELLO");
    /// The visits example in Rust (`examples/visits-rust`, with `pb-sdk`).
    pub const EXAMPLE_VISITS_RUST: &str = env!("EXAMPLE_VISITS_RUST");

    pub fn bytes(path: &str) -> Vec<u8> {
        std::fs::read(path).unwrap_or_else(|e| panic!("read {path}: {e}"))
    }
}

/// The smallest valid core module: `\0asm` version 1, no sections.
pub const CORE_MODULE: &[u8] = b"\0asm\x01\0\0\0";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A host running in-process on a loopback port, with its own data folder
/// and database.
pub struct TestHost {
    pub server: Server,
    pub dir: tempfile::TempDir,
    pub db: String,
    pub base: String,
    pub token: String,
    pub client: reqwest::Client,
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(64)
        .build()
        .expect("http client")
}

/// Limits for tests: short timeouts so hostile guests are stopped quickly.
pub fn test_limits() -> Limits {
    Limits {
        memory: 64 << 20,
        headers_timeout: Duration::from_secs(2),
        max_duration: Duration::from_secs(60),
        fuel: None,
        max_instances: 200,
        max_per_function: 100,
        memory_budget: 4 << 30,
        ..Limits::default()
    }
}

/// A new, empty database of `backend`: a fresh SQLite file or a fresh
/// database in the shared throwaway PostgreSQL cluster.
pub async fn new_database(backend: Backend, dir: &std::path::Path) -> String {
    match backend {
        Backend::Sqlite => dir.join("data.db").to_string_lossy().into_owned(),
        Backend::Postgres => pg::fresh_database().await,
    }
}

impl TestHost {
    pub async fn start(backend: Backend) -> TestHost {
        Self::start_with(backend, test_limits()).await
    }

    pub async fn start_with(backend: Backend, limits: Limits) -> TestHost {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = new_database(backend, dir.path()).await;
        Self::start_on(dir, db, limits).await
    }

    /// Starts a host over an existing data folder and database.
    pub async fn start_on(dir: tempfile::TempDir, db: String, limits: Limits) -> TestHost {
        Self::start_full(dir, db, limits, Vec::new(), Default::default()).await
    }

    /// Starts a host with `telemetry` (an OTLP endpoint, …) whose functions
    /// may reach `allowed_hosts`.
    pub async fn start_with_telemetry(
        backend: Backend,
        allowed_hosts: &[&str],
        telemetry: pbs::telemetry::TelemetryConfig,
    ) -> TestHost {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = new_database(backend, dir.path()).await;
        let hosts = allowed_hosts.iter().map(|h| h.to_string()).collect();
        Self::start_full(dir, db, test_limits(), hosts, telemetry).await
    }

    /// Starts a host whose functions may all reach `allowed_hosts`.
    pub async fn start_allowing(backend: Backend, allowed_hosts: &[&str]) -> TestHost {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = new_database(backend, dir.path()).await;
        let hosts = allowed_hosts.iter().map(|h| h.to_string()).collect();
        Self::start_full(dir, db, test_limits(), hosts, Default::default()).await
    }

    async fn start_full(
        dir: tempfile::TempDir,
        db: String,
        limits: Limits,
        allowed_hosts: Vec<String>,
        telemetry: pbs::telemetry::TelemetryConfig,
    ) -> TestHost {
        let config = HostConfig {
            mode: Mode::Host,
            addr: "127.0.0.1:0".parse().unwrap(),
            dir: dir.path().to_path_buf(),
            db: Some(db.clone()),
            admin_token: Some("test-admin-token".into()),
            limits,
            allowed_hosts,
            registry_refresh: Duration::from_millis(200),
            secrets: Default::default(),
            jobs: Default::default(),
            files: Default::default(),
            telemetry,
        };
        let server = Server::start(config).await.expect("start host");
        let base = format!("http://{}", server.addr());
        TestHost {
            server,
            dir,
            db,
            base,
            token: "test-admin-token".into(),
            client: client(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn function_url(&self, name: &str) -> String {
        self.url(&format!("/api/pb_serverless/{name}"))
    }

    /// Deploys `bytes` as `name` through the admin API.
    pub async fn deploy(&self, name: &str, bytes: Vec<u8>) -> reqwest::Response {
        self.deploy_with(name, bytes, "").await
    }

    pub async fn deploy_with(&self, name: &str, bytes: Vec<u8>, query: &str) -> reqwest::Response {
        self.client
            .put(self.url(&format!(
                "/api/pb_serverless/_admin/functions/{name}{query}"
            )))
            .bearer_auth(&self.token)
            .body(bytes)
            .send()
            .await
            .expect("deploy request")
    }

    /// Deploys and asserts success; returns the response JSON.
    pub async fn deploy_ok(&self, name: &str, path: &str) -> serde_json::Value {
        let resp = self.deploy(name, guests::bytes(path)).await;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(status, 201, "deploy {name} failed: {body}");
        body
    }

    /// Builds `tests/js/src/<file>` with the real pipeline and deploys it as
    /// `name` (with `query`, e.g. `?allowed_hosts=…`), asserting success;
    /// returns its version.
    pub async fn deploy_js_with(&self, name: &str, file: &str, query: &str) -> String {
        let resp = self.deploy_with(name, js::build(file).await, query).await;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.expect("json");
        assert_eq!(status, 201, "deploy {file} as {name}: {body}");
        body["version"].as_str().expect("a version").to_string()
    }

    /// [`Self::deploy_js_with`] without a query.
    pub async fn deploy_js(&self, name: &str, file: &str) -> String {
        self.deploy_js_with(name, file, "").await
    }

    /// `GET /api/pb_serverless/<name>`.
    pub async fn get(&self, name: &str) -> reqwest::Response {
        self.client
            .get(self.function_url(name))
            .send()
            .await
            .expect("function request")
    }

    /// Stops this host and starts another on the same data folder and
    /// database, as a restart would.
    pub async fn restart(self) -> TestHost {
        let TestHost {
            server, dir, db, ..
        } = self;
        server.stop();
        drop(server);
        TestHost::start_on(dir, db, test_limits()).await
    }

    /// A request to the admin API with the admin token: `path` under
    /// `/api/pb_serverless/_admin/` (or, starting with `/`, any path such as
    /// `/api/collections`), `body` sent as JSON. The status and the JSON
    /// answer (null when it is not JSON).
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let url = match path.strip_prefix('/') {
            Some(_) => self.url(path),
            None => self.url(&format!("/api/pb_serverless/_admin/{path}")),
        };
        let mut req = self.client.request(method, url).bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("admin request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or_default())
    }

    /// `GET` through [`Self::admin`].
    pub async fn admin_get(&self, path: &str) -> (u16, serde_json::Value) {
        self.admin(reqwest::Method::GET, path, None).await
    }

    /// POSTs `request` to function `name`, which answers 200 with JSON
    /// (the test functions answer `{ok}` or `{error}`): that JSON.
    pub async fn call_fn(&self, name: &str, request: serde_json::Value) -> serde_json::Value {
        let resp = self
            .client
            .post(self.function_url(name))
            .json(&request)
            .send()
            .await
            .expect("function request");
        assert_eq!(resp.status(), 200, "{name}: {request}");
        resp.json().await.expect("JSON answer")
    }

    /// [`Self::call_fn`] that must succeed: its `ok`.
    pub async fn call_ok(&self, name: &str, request: serde_json::Value) -> serde_json::Value {
        let out = self.call_fn(name, request.clone()).await;
        assert!(out.get("error").is_none(), "{request} failed: {out}");
        out["ok"].clone()
    }

    /// [`Self::call_fn`] that must fail with a `PbError` of code `code`:
    /// the error (`{name, code, message, …}`).
    pub async fn call_fails(
        &self,
        name: &str,
        request: serde_json::Value,
        code: &str,
    ) -> serde_json::Value {
        let out = self.call_fn(name, request.clone()).await;
        let error = &out["error"];
        assert_eq!(error["name"], "PbError", "{request}: {out}");
        assert_eq!(error["code"], code, "{request}: {out}");
        error.clone()
    }
}

/// The Prometheus text of the host at `base` (`GET _admin/metrics`).
pub async fn metrics_text(client: &reqwest::Client, base: &str, token: &str) -> String {
    client
        .get(format!("{base}/api/pb_serverless/_admin/metrics"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of the sample `name` (with its labels) in the host's
/// Prometheus text (`GET _admin/metrics`).
pub async fn metric(host: &TestHost, name: &str) -> f64 {
    let text = metrics_text(&host.client, &host.base, &host.token).await;
    sample(&text, name)
}

/// The value of the sample `name` (with its labels) in Prometheus `text`.
pub fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

/// Asserts a host error reply: the status, PocketBase's error shape, and a
/// message containing `needle`. Returns the body.
pub async fn expect_error(resp: reqwest::Response, status: u16, needle: &str) -> serde_json::Value {
    assert_eq!(resp.status().as_u16(), status);
    let body: serde_json::Value = resp.json().await.expect("a JSON error body");
    assert_eq!(body["status"], status, "{body}");
    let message = body["message"].as_str().expect("a message");
    assert!(
        message.contains(needle),
        "{message:?} does not contain {needle:?}"
    );
    body
}

/// A request body the test feeds chunk by chunk through the returned sender
/// (dropping the sender ends the body).
pub fn streaming_body(
    capacity: usize,
) -> (
    tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>,
    reqwest::Body,
) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(capacity);
    let body = reqwest::Body::wrap_stream(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)));
    (tx, body)
}

/// Starts `pbs serve COMPONENT` in-process on a loopback port (single mode).
pub async fn serve_single(component: &str, limits: Limits) -> anyhow::Result<(Server, String)> {
    let config = HostConfig {
        mode: Mode::Single {
            component: PathBuf::from(component),
            reuse: 0,
        },
        addr: "127.0.0.1:0".parse().unwrap(),
        limits,
        ..HostConfig::default()
    };
    let server = Server::start(config).await?;
    let base = format!("http://{}", server.addr());
    Ok((server, base))
}

/// What `pb_imports` reports for `import` (the line after `"<import> "`)
/// when served alone, in single-component mode (no database).
pub async fn single_mode_import_outcome(import: &str) -> String {
    let (_server, base) = serve_single(guests::PB_IMPORTS, test_limits())
        .await
        .expect("serve pb_imports");
    let report = client()
        .get(format!("{base}/"))
        .send()
        .await
        .expect("request")
        .text()
        .await
        .expect("body");
    let prefix = format!("{import} ");
    report
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {import} outcome in:\n{report}"))
        .to_string()
}

/// Generates one test per backend for each named `async fn(Backend)`, so
/// every behaviour is checked on SQLite and on PostgreSQL alike.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Postgres).await
                }
            )*
        }
    };
}
