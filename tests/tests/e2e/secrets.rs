//! `pb:secrets` on both backends: the admin API and the JS face, masked
//! listings, environments, AES-GCM's refusals (swapped, tampered, wrong
//! key), the key file, key rotation, redaction of logged values, and
//! `{{secret:NAME}}` placeholders filled in only for bound hosts.

use crate::cli::pbs_bin;
use pbs::caps::secrets::crypto::{KeySource, MasterKey};
use pbs::config::{HostConfig, Mode, SecretsConfig};
use pbs::server::Server;
use pbs_tests::{guests, js, on_both_backends, Backend, TestHost};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "test-admin-token";
/// Long enough to be masked as `sk-…cdef`.
const LONG: &str = "sk-proj-0123456789-abcdef-0123456789abcdef";

/// A host over `dir` and `db` with these secrets settings.
async fn start(dir: tempfile::TempDir, db: String, secrets: SecretsConfig) -> TestHost {
    let config = HostConfig {
        mode: Mode::Host,
        addr: "127.0.0.1:0".parse().unwrap(),
        dir: dir.path().to_path_buf(),
        db: Some(db.clone()),
        admin_token: Some(TOKEN.into()),
        limits: pbs_tests::test_limits(),
        secrets,
        ..HostConfig::default()
    };
    let server = Server::start(config).await.expect("start host");
    let base = format!("http://{}", server.addr());
    TestHost {
        server,
        dir,
        db,
        base,
        token: TOKEN.into(),
        client: pbs_tests::client(),
    }
}

fn with_key(key: &str) -> SecretsConfig {
    SecretsConfig {
        key: Some(key.into()),
        ..SecretsConfig::default()
    }
}

fn new_key() -> String {
    MasterKey::generate(KeySource::Env).unwrap().1
}

/// Stops `host` and hands back its data folder and database.
fn stop(host: TestHost) -> (tempfile::TempDir, String) {
    let TestHost {
        server, dir, db, ..
    } = host;
    server.stop();
    drop(server);
    (dir, db)
}

async fn set(host: &TestHost, path: &str, body: Value) -> Value {
    let (status, out) = host.admin(reqwest::Method::PUT, path, Some(body)).await;
    assert_eq!(status, 200, "{out}");
    out
}

/// `GET /api/pb_serverless/sec/<route>` → its JSON.
async fn call(host: &TestHost, route: &str) -> Value {
    let resp = host
        .client
        .get(host.url(&format!("/api/pb_serverless/sec/{route}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn js_get(host: &TestHost, name: &str) -> Value {
    call(host, &format!("get?name={name}")).await
}

fn assert_undecryptable(out: &Value, name: &str) {
    assert_eq!(out["code"], "internal", "{out}");
    let message = out["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("cannot decrypt secret `{name}`"))
            && message.contains("wrong key or damaged value"),
        "{message}"
    );
}

/// Set, read from JS, list masked, update, remove — through the admin API.
async fn set_get_list_and_remove(backend: Backend) {
    let host = TestHost::start(backend).await;
    host.deploy_js_with("sec", "secrets.ts", "").await;
    assert_eq!(
        js_get(&host, "OPENAI_API_KEY").await,
        json!({"value": null})
    );

    let out = set(
        &host,
        "secrets/OPENAI_API_KEY",
        json!({"value": LONG, "hosts": ["API.openai.com", "api.openai.com"]}),
    )
    .await;
    assert_eq!(
        out,
        json!({"name": "OPENAI_API_KEY", "environment": "prod", "masked": "sk-…cdef", "hosts": ["api.openai.com"]})
    );
    set(&host, "secrets/SHORT", json!({"value": "hunter2"})).await;
    assert_eq!(
        js_get(&host, "OPENAI_API_KEY").await,
        json!({"value": LONG})
    );
    assert_eq!(js_get(&host, "SHORT").await, json!({"value": "hunter2"}));

    // Listings show masks, never values.
    let resp = host
        .client
        .get(host.url("/api/pb_serverless/_admin/secrets"))
        .bearer_auth(&host.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(!text.contains(LONG) && !text.contains("hunter2"), "{text}");
    let listed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(listed["environment"], "prod");
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{listed}");
    assert_eq!(items[0]["name"], "OPENAI_API_KEY");
    assert_eq!(items[0]["masked"], "sk-…cdef");
    assert_eq!(items[0]["hosts"], json!(["api.openai.com"]));
    assert!(items[0]["updated_ms"].as_i64().unwrap() > 0);
    assert_eq!(items[1]["masked"], "••••");
    let (status, one) = host.admin_get("secrets/SHORT").await;
    assert_eq!((status, &one["masked"]), (200, &json!("••••")), "{one}");

    // A new value keeps the bindings unless `hosts` is given.
    let out = set(&host, "secrets/OPENAI_API_KEY", json!({"value": "sk-2"})).await;
    assert_eq!(out["hosts"], json!(["api.openai.com"]));
    assert_eq!(
        js_get(&host, "OPENAI_API_KEY").await,
        json!({"value": "sk-2"})
    );
    let out = set(
        &host,
        "secrets/OPENAI_API_KEY",
        json!({"value": "sk-3", "hosts": []}),
    )
    .await;
    assert_eq!(out["hosts"], json!([]));

    // Remove.
    let (status, _) = host
        .admin(reqwest::Method::DELETE, "secrets/SHORT", None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(js_get(&host, "SHORT").await, json!({"value": null}));
    let (status, out) = host
        .admin(reqwest::Method::DELETE, "secrets/SHORT", None)
        .await;
    assert_eq!(status, 404, "{out}");
    assert_eq!(host.admin_get("secrets/SHORT").await.0, 404);

    // Bad input: clear errors, nothing stored, values never echoed.
    let (status, out) = host
        .admin(
            reqwest::Method::PUT,
            "secrets/bad%20name",
            Some(json!({"value": "x"})),
        )
        .await;
    assert_eq!(status, 400, "{out}");
    assert!(out["message"]
        .as_str()
        .unwrap()
        .contains("invalid secret name"));
    let (status, out) = host
        .admin(
            reqwest::Method::PUT,
            "secrets/X",
            Some(json!({"value": 12345678})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(!out.to_string().contains("12345678"), "{out}");
    let (status, _) = host
        .admin(
            reqwest::Method::PUT,
            "secrets/X",
            Some(json!({"value": "x", "hosts": ["*.openai.com"]})),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = host
        .admin(
            reqwest::Method::PUT,
            "secrets/X",
            Some(json!({"value": "x".repeat(64 * 1024 + 1)})),
        )
        .await;
    assert_eq!(status, 413);
    assert_eq!(host.admin_get("secrets?env=Prod").await.0, 400);
    assert_eq!(js_get(&host, "X").await, json!({"value": null}));
    let out = js_get(&host, "bad%20name").await;
    assert_eq!(out["code"], "invalid", "{out}");
    // The admin API needs the token.
    let resp = host
        .client
        .get(host.url("/api/pb_serverless/_admin/secrets"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

/// A host reads its own environment's secrets and no other's.
async fn environments_are_isolated(backend: Backend) {
    let key = new_key();
    let dir = tempfile::tempdir().unwrap();
    let db = pbs_tests::new_database(backend, dir.path()).await;
    let prod = start(dir, db.clone(), with_key(&key)).await;
    let dev = start(
        tempfile::tempdir().unwrap(),
        db,
        SecretsConfig {
            environment: "dev".into(),
            key: Some(key),
        },
    )
    .await;
    prod.deploy_js_with("sec", "secrets.ts", "").await;

    set(&prod, "secrets/API_KEY", json!({"value": "prod-value"})).await;
    set(
        &prod,
        "secrets/API_KEY?env=dev",
        json!({"value": "dev-value"}),
    )
    .await;
    set(&dev, "secrets/DEV_ONLY", json!({"value": "dev-only"})).await;

    assert_eq!(
        js_get(&prod, "API_KEY").await,
        json!({"value": "prod-value"})
    );
    assert_eq!(js_get(&prod, "DEV_ONLY").await, json!({"value": null}));
    // The other host sees the deploy within its refresh interval.
    let mut out = Value::Null;
    for _ in 0..50 {
        let resp = dev
            .client
            .get(dev.url("/api/pb_serverless/sec/get?name=API_KEY"))
            .send()
            .await
            .unwrap();
        if resp.status() == 200 {
            out = resp.json().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(out, json!({"value": "dev-value"}));
    assert_eq!(js_get(&dev, "DEV_ONLY").await, json!({"value": "dev-only"}));

    let names = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, listed) = prod.admin_get("secrets").await;
    assert_eq!(names(&listed), ["API_KEY"]);
    let (_, listed) = prod.admin_get("secrets?env=dev").await;
    assert_eq!(listed["environment"], "dev");
    assert_eq!(names(&listed), ["API_KEY", "DEV_ONLY"]);

    // Removing in one environment leaves the other alone.
    let (status, _) = dev
        .admin(reqwest::Method::DELETE, "secrets/API_KEY", None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        js_get(&prod, "API_KEY").await,
        json!({"value": "prod-value"})
    );
    // A prod ciphertext copied into dev does not decrypt there.
    let db = pbs::store::Db::open(&prod.db).await.unwrap();
    db.query(
        "INSERT INTO pbs_secrets (environment, name, sealed, key_id, hosts, updated_ms) \
         SELECT 'dev', name, sealed, key_id, hosts, updated_ms FROM pbs_secrets \
         WHERE environment = 'prod' AND name = 'API_KEY'",
    )
    .execute()
    .await
    .unwrap();
    db.close().await;
    assert_undecryptable(&js_get(&dev, "API_KEY").await, "API_KEY");
}

/// The stored ciphertext of `name` (environment prod).
async fn sealed_of(url: &str, name: &str) -> Vec<u8> {
    let db = pbs::store::Db::open(url).await.unwrap();
    let sealed: Vec<u8> = db
        .query("SELECT sealed FROM pbs_secrets WHERE environment = 'prod' AND name = $1")
        .bind(name)
        .scalar()
        .await
        .unwrap();
    db.close().await;
    sealed
}

async fn write_sealed(url: &str, name: &str, sealed: &[u8]) {
    let db = pbs::store::Db::open(url).await.unwrap();
    db.query("UPDATE pbs_secrets SET sealed = $1 WHERE environment = 'prod' AND name = $2")
        .bind(sealed)
        .bind(name)
        .execute()
        .await
        .unwrap();
    db.close().await;
}

/// Swapping two ciphertexts fails to decrypt (the name is associated
/// data), and so does a tampered one: a clear error, never garbage.
async fn swapped_or_tampered_ciphertexts_do_not_decrypt(backend: Backend) {
    let host = TestHost::start(backend).await;
    host.deploy_js_with("sec", "secrets.ts", "").await;
    set(&host, "secrets/A", json!({"value": "value-of-a"})).await;
    set(&host, "secrets/B", json!({"value": "value-of-b"})).await;
    set(&host, "secrets/C", json!({"value": "value-of-c"})).await;

    let a = sealed_of(&host.db, "A").await;
    let b = sealed_of(&host.db, "B").await;
    write_sealed(&host.db, "A", &b).await;
    write_sealed(&host.db, "B", &a).await;
    assert_undecryptable(&js_get(&host, "A").await, "A");
    assert_undecryptable(&js_get(&host, "B").await, "B");
    let (status, out) = host.admin_get("secrets/A").await;
    assert_eq!(status, 500, "{out}");
    let message = out["message"].as_str().unwrap();
    assert!(
        message.contains("wrong key or damaged value") && message.contains("does not authenticate"),
        "{message}"
    );
    // The listing still answers, flagging them.
    let (status, listed) = host.admin_get("secrets").await;
    assert_eq!(status, 200);
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items[0]["masked"], Value::Null, "{listed}");
    assert!(items[0]["error"]
        .as_str()
        .unwrap()
        .contains("cannot decrypt"));
    assert_eq!(items[2]["masked"], "••••");

    // One bit flipped in the middle of C's ciphertext.
    let mut bad = sealed_of(&host.db, "C").await;
    let mid = bad.len() / 2;
    bad[mid] ^= 0x01;
    write_sealed(&host.db, "C", &bad).await;
    assert_undecryptable(&js_get(&host, "C").await, "C");
    // Setting it again repairs it.
    set(&host, "secrets/C", json!({"value": "value-of-c"})).await;
    assert_eq!(js_get(&host, "C").await, json!({"value": "value-of-c"}));
}

/// The key file is generated at first start (mode 0600, base64 of 32
/// bytes) and used again; a host started with another key cannot decrypt,
/// and says so.
async fn the_key_file_and_a_wrong_key(backend: Backend) {
    let host = TestHost::start(backend).await;
    let file = host.dir.path().join("secrets_key");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let text = std::fs::read_to_string(&file).unwrap();
    let key = MasterKey::from_base64(&text, KeySource::Env).unwrap();
    host.deploy_js_with("sec", "secrets.ts", "").await;
    set(&host, "secrets/API_KEY", json!({"value": "the-value"})).await;

    // Restarted with the key file: the same key.
    let host = host.restart().await;
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    assert_eq!(
        js_get(&host, "API_KEY").await,
        json!({"value": "the-value"})
    );

    // As with a wrong PB_SECRETS_KEY.
    let (dir, db) = stop(host);
    let wrong = new_key();
    let host = start(dir, db, with_key(&wrong)).await;
    let out = js_get(&host, "API_KEY").await;
    assert_undecryptable(&out, "API_KEY");
    assert!(!out.to_string().contains("the-value"));
    let (status, out) = host.admin_get("secrets/API_KEY").await;
    assert_eq!(status, 500);
    let message = out["message"].as_str().unwrap();
    let wrong_id = MasterKey::from_base64(&wrong, KeySource::Env).unwrap();
    assert!(
        message.contains("wrong key or damaged value")
            && message.contains(key.id())
            && message.contains(wrong_id.id()),
        "{message}"
    );
    // A bad PB_SECRETS_KEY stops the start with a clear error.
    let (dir, db) = stop(host);
    let config = HostConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        dir: dir.path().to_path_buf(),
        db: Some(db.clone()),
        admin_token: Some(TOKEN.into()),
        secrets: with_key("c2hvcnQ="),
        ..HostConfig::default()
    };
    let err = Server::start(config)
        .await
        .err()
        .expect("a bad key refused");
    assert!(format!("{err:#}").contains("5 bytes"), "{err:#}");
    // And the right key works again.
    let host = start(dir, db, SecretsConfig::default()).await;
    assert_eq!(
        js_get(&host, "API_KEY").await,
        json!({"value": "the-value"})
    );
}

fn cli(args: &[&str]) -> Command {
    let mut cmd = Command::new(pbs_bin());
    cmd.args(args)
        .env_remove("PB_SECRETS_KEY")
        .env_remove("PB_SECRETS_NEW_KEY")
        .env_remove("PB_ADMIN_TOKEN")
        .env_remove("PB_ENV")
        .env_remove("PB_DB");
    cmd
}

async fn output(mut cmd: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `pbs secrets rotate-key` re-encrypts every secret of every environment
/// with a new key; the values read back, and the old key no longer works.
async fn rotating_the_key_re_encrypts_everything(backend: Backend) {
    let host = TestHost::start(backend).await;
    host.deploy_js_with("sec", "secrets.ts", "").await;
    set(
        &host,
        "secrets/A",
        json!({"value": "value-a", "hosts": ["x.example"]}),
    )
    .await;
    set(&host, "secrets/A?env=dev", json!({"value": "value-a-dev"})).await;
    let key_file = host.dir.path().join("secrets_key");
    let old_text = std::fs::read_to_string(&key_file).unwrap();
    let (dir, db) = stop(host);

    let out = output({
        let mut c = cli(&["secrets", "rotate-key", "--db", &db, "--dir"]);
        c.arg(dir.path());
        c
    })
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("re-encrypted 2 secrets"),
        "{}",
        text(&out)
    );
    let new_text = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(new_text, old_text);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(!dir.path().join("secrets_key.new").exists());

    let host = start(dir, db, SecretsConfig::default()).await;
    assert_eq!(js_get(&host, "A").await, json!({"value": "value-a"}));
    let (_, listed) = host.admin_get("secrets?env=dev").await;
    assert_eq!(listed["items"][0]["masked"], "••••", "{listed}");
    let (_, listed) = host.admin_get("secrets").await;
    assert_eq!(listed["items"][0]["hosts"], json!(["x.example"]));
    let (dir, db) = stop(host);

    // The old key no longer opens anything.
    let host = start(dir, db, with_key(old_text.trim())).await;
    assert_undecryptable(&js_get(&host, "A").await, "A");
    let (dir, db) = stop(host);

    // With PB_SECRETS_KEY, the new key must be given.
    let out = output({
        let mut c = cli(&["secrets", "rotate-key", "--db", &db, "--dir"]);
        c.arg(dir.path()).env("PB_SECRETS_KEY", new_text.trim());
        c
    })
    .await;
    assert!(!out.status.success());
    assert!(text(&out).contains("PB_SECRETS_NEW_KEY"), "{}", text(&out));
    let third = new_key();
    let out = output({
        let mut c = cli(&["secrets", "rotate-key", "--db", &db, "--dir"]);
        c.arg(dir.path())
            .env("PB_SECRETS_KEY", new_text.trim())
            .env("PB_SECRETS_NEW_KEY", &third);
        c
    })
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains(&third), "the key was printed");
    // The key file is the operator's business in this mode: untouched.
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), new_text);
    let host = start(dir, db, with_key(&third)).await;
    assert_eq!(js_get(&host, "A").await, json!({"value": "value-a"}));
    // A rotation that cannot decrypt something changes nothing.
    let (dir, db) = stop(host);
    let out = output({
        let mut c = cli(&["secrets", "rotate-key", "--db", &db, "--dir"]);
        c.arg(dir.path())
            .env("PB_SECRETS_KEY", new_text.trim())
            .env("PB_SECRETS_NEW_KEY", new_key());
        c
    })
    .await;
    assert!(!out.status.success());
    assert!(
        text(&out).contains("cannot decrypt") && text(&out).contains("nothing was changed"),
        "{}",
        text(&out)
    );
    let host = start(dir, db, with_key(&third)).await;
    assert_eq!(js_get(&host, "A").await, json!({"value": "value-a"}));
}

/// A child process, killed when the test ends (also when it fails).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `pbs serve` as a process with `PB_SECRETS_KEY`; `pbs secrets
/// set/list/rm` against it; a guest that logs a secret (JS console, a span,
/// and a Rust guest's stdout) finds it redacted in the host's log.
async fn cli_and_redaction_of_logged_values(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("pb_data");
    let db = pbs_tests::new_database(backend, dir.path()).await;
    let key = new_key();
    let log = dir.path().join("stderr.log");
    let mut child = KillOnDrop(
        cli(&["serve", "--addr", "127.0.0.1:0", "--db", &db, "--dir"])
            .arg(&data)
            .env("PB_SECRETS_KEY", &key)
            .env("PB_ADMIN_TOKEN", TOKEN)
            .env("PBS_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let base = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| {
                l.strip_prefix("pb-serverless listening on ")
                    .map(|b| b.trim().to_string())
            })
    })
    .await
    .unwrap()
    .expect("the banner");
    assert!(
        !data.join("secrets_key").exists(),
        "a key file was made despite PB_SECRETS_KEY"
    );

    // `pbs secrets set` from stdin, then list and rm.
    let remote = ["--server", &base, "--token", TOKEN];
    let mut setter = cli(&[
        "secrets",
        "set",
        "API_KEY",
        "--from-stdin",
        "--bind-host",
        "api.openai.com",
    ]);
    setter
        .args(remote)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = tokio::task::spawn_blocking(move || {
        let mut child = setter.spawn().unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{LONG}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("set API_KEY in prod (sk-…cdef), bound to api.openai.com"),
        "{}",
        text(&out)
    );
    let mut c = cli(&[
        "secrets",
        "set",
        "OPENAI_API_KEY",
        "rust-guest-secret-value",
    ]);
    c.args(remote);
    let out = output(c).await;
    assert!(out.status.success(), "{}", text(&out));
    let mut c = cli(&["secrets", "set", "GONE", "x", "--env", "dev"]);
    c.args(remote);
    assert!(output(c).await.status.success());
    let mut c = cli(&["secrets", "list"]);
    c.args(remote);
    let out = output(c).await;
    let listing = text(&out);
    assert!(out.status.success(), "{listing}");
    assert!(
        listing.contains("API_KEY")
            && listing.contains("sk-…cdef")
            && listing.contains("api.openai.com"),
        "{listing}"
    );
    assert!(!listing.contains(LONG) && !listing.contains("rust-guest-secret-value"));
    assert!(
        !listing.contains("GONE"),
        "another environment listed: {listing}"
    );
    let mut c = cli(&["secrets", "rm", "GONE", "--env", "dev"]);
    c.args(remote);
    assert!(output(c).await.status.success());
    let mut c = cli(&["secrets", "rm", "GONE", "--env", "dev"]);
    c.args(remote);
    let out = output(c).await;
    assert!(!out.status.success());
    assert!(text(&out).contains("404"), "{}", text(&out));

    // Deploy and call: a JS function logs the value, a Rust guest prints it.
    // (`sec` may reach 127.0.0.1:9, where API_KEY is not bound.)
    let client = pbs_tests::client();
    for (name, bytes) in [
        ("sec", js::build("secrets.ts").await),
        ("imports", guests::bytes(guests::PB_IMPORTS)),
    ] {
        let resp = client
            .put(format!(
                "{base}/api/pb_serverless/_admin/functions/{name}?allowed_hosts=127.0.0.1:9"
            ))
            .bearer_auth(TOKEN)
            .body(bytes)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    let out: Value = client
        .get(format!(
            "{base}/api/pb_serverless/sec/log?name=API_KEY&marker=m4rk"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(out, json!({"logged": true}));
    let report = client
        .get(format!("{base}/api/pb_serverless/imports"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(report.contains("pb:secrets/store.get ok"), "{report}");
    let out: Value = client
        .get(format!(
            "{base}/api/pb_serverless/sec/fetch?name=API_KEY&url=http://127.0.0.1:9/"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(out["error"], "TypeError", "{out}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(child);

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(LONG), "a value in the log:\n{text}");
    assert!(
        !text.contains("rust-guest-secret-value"),
        "a value in the log:\n{text}"
    );
    let lines =
        |needle: &str| -> Vec<&str> { text.lines().filter(|l| l.contains(needle)).collect() };
    let logged = lines("m4rk");
    assert!(
        logged.len() >= 3,
        "console.log, console.error, span: {text}"
    );
    for line in &logged {
        assert!(line.contains("[redacted]"), "{line}");
    }
    assert!(
        lines("pb.guest.stdout")
            .iter()
            .any(|l| l.contains("OPENAI_API_KEY is [redacted]")),
        "{text}"
    );
    // The refusal is logged with the secret's name and the host.
    let refused = lines("outbound request refused");
    assert!(
        refused.iter().any(|l| l.contains("API_KEY")
            && l.contains("127.0.0.1:9")
            && l.contains("not bound to this host")),
        "{text}"
    );
}

/// A server that records the `authorization` header of each request and
/// echoes it back (body and `x-echo-authorization`); counts connections.
async fn echo_server() -> (String, Arc<Mutex<Vec<String>>>, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let connections = Arc::new(AtomicUsize::new(0));
    let (seen2, connections2) = (seen.clone(), connections.clone());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            connections2.fetch_add(1, Ordering::SeqCst);
            let seen = seen2.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let auth = req
                            .headers()
                            .get("authorization")
                            .map(|v| v.to_str().unwrap_or("").to_string())
                            .unwrap_or_default();
                        seen.lock().unwrap().push(auth.clone());
                        async move {
                            Ok::<_, std::convert::Infallible>(
                                hyper::Response::builder()
                                    .header("x-echo-authorization", auth.clone())
                                    .body(http_body_util::Full::new(bytes::Bytes::from(format!(
                                        "you sent {auth}; again: {auth}"
                                    ))))
                                    .unwrap(),
                            )
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    (addr, seen, connections)
}

/// `{{secret:NAME}}` in an outbound header: filled in by the host for a
/// bound host (the server sees the value, the guest never does), refused
/// for any other host (the server sees no connection).
async fn placeholders_are_filled_only_for_bound_hosts(backend: Backend) {
    let (addr, seen, connections) = echo_server().await;
    let host = TestHost::start(backend).await;
    host.deploy_js_with("sec", "secrets.ts", &format!("?allowed_hosts={addr}"))
        .await;
    set(
        &host,
        "secrets/API_KEY",
        json!({"value": LONG, "hosts": [addr]}),
    )
    .await;
    set(
        &host,
        "secrets/OTHER",
        json!({"value": "other-value", "hosts": ["api.openai.com"]}),
    )
    .await;
    let url = format!("http://{addr}/v1/chat");

    let out = call(&host, &format!("fetch?name=API_KEY&url={url}")).await;
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        [format!("Bearer {LONG}")],
        "the server got the value"
    );
    assert_eq!(
        out["body"],
        "you sent Bearer [redacted]; again: Bearer [redacted]"
    );
    assert_eq!(out["echoed"], "Bearer [redacted]");
    assert!(!out.to_string().contains(LONG));

    // Bound to another host: refused before any connection.
    let before = connections.load(Ordering::SeqCst);
    for name in ["OTHER", "NOT_SET"] {
        let out = call(&host, &format!("fetch?name={name}&url={url}")).await;
        assert_eq!(out["error"], "TypeError", "{name}: {out}");
        assert!(
            out["message"].as_str().unwrap().contains("refused"),
            "{out}"
        );
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        before,
        "a refused request connected"
    );
    assert_eq!(seen.lock().unwrap().len(), 1);

    // Binding by another spelling of the same address still matches
    // (the host is read the way the allowlist reads it) …
    let port = addr.rsplit_once(':').unwrap().1;
    set(
        &host,
        "secrets/API_KEY",
        json!({"value": LONG, "hosts": [format!("127.1:{port}")]}),
    )
    .await;
    let out = call(&host, &format!("fetch?name=API_KEY&url={url}")).await;
    assert_eq!(out["status"], 200, "{out}");
    // … but another port does not.
    set(
        &host,
        "secrets/API_KEY",
        json!({"value": LONG, "hosts": ["127.0.0.1:1"]}),
    )
    .await;
    let out = call(&host, &format!("fetch?name=API_KEY&url={url}")).await;
    assert_eq!(out["error"], "TypeError", "{out}");
    assert_eq!(seen.lock().unwrap().len(), 2);

    // Bound without touching the value (PATCH, what `pbs deploy` sends from
    // the manifest's `secrets`): OTHER now goes to this host.
    let (status, out) = host
        .admin(
            reqwest::Method::PATCH,
            "secrets/OTHER",
            Some(json!({"hosts": [addr]})),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["hosts"], json!([addr]));
    let out = call(&host, &format!("fetch?name=OTHER&url={url}")).await;
    assert_eq!(out["status"], 200, "{out}");
    assert_eq!(seen.lock().unwrap().last().unwrap(), "Bearer other-value");
    for (name, hosts, status) in [
        ("NOT_SET", json!([addr]), 404),
        ("OTHER", json!(["*.example.com"]), 400),
    ] {
        let (s, out) = host
            .admin(
                reqwest::Method::PATCH,
                &format!("secrets/{name}"),
                Some(json!({ "hosts": hosts })),
            )
            .await;
        assert_eq!(s, status, "{name}: {out}");
    }
}

/// A canary value no test prints elsewhere (long enough to be masked).
const CANARY: &str = "canary-5e0d1b7a-c0ffee-never-in-clear-9d41";

/// Every file under `dir`, with the offsets where `needle` occurs.
fn files_holding(dir: &std::path::Path, needle: &[u8]) -> (usize, u64, Vec<String>) {
    let (mut files, mut bytes, mut found) = (0, 0, Vec::new());
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let Ok(data) = std::fs::read(&path) else {
                continue;
            };
            files += 1;
            bytes += data.len() as u64;
            if data.windows(needle.len()).any(|w| w == needle) {
                found.push(path.display().to_string());
            }
        }
    }
    (files, bytes, found)
}

/// Bound: a canary secret that a JS function logs (console.log,
/// console.error, pb.trace.log and its fields), puts in a span attribute
/// and throws (uncaught) appears 0 times in clear in the host's log buffer,
/// the exported spans, the 500 body the client gets, and the database
/// (SQLite: every byte of every file of the data folder, WAL included;
/// PostgreSQL: every row of every table, bytea as hex).
async fn a_canary_secret_never_appears_in_clear(backend: Backend) {
    use prost::Message as _;
    let receiver = pbs_tests::otlp::Receiver::start().await;
    let telemetry = pbs::telemetry::TelemetryConfig {
        endpoint: Some(receiver.url.clone()),
        delay: Duration::from_millis(50),
        ..Default::default()
    };
    let host = TestHost::start_with_telemetry(backend, &[], telemetry).await;
    host.deploy_js("sec", "secrets.ts").await;
    set(&host, "secrets/CANARY", json!({"value": CANARY})).await;
    const CALLS: usize = 5;
    let mut leaks = 0;
    for i in 0..CALLS {
        let resp = host
            .client
            .get(host.url(&format!(
                "/api/pb_serverless/sec/leak?name=CANARY&marker=c4n{i}"
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 500);
        let body = resp.text().await.unwrap();
        leaks += body.matches(CANARY).count();
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            body["message"],
            format!("Error: leak c4n{i}: failed with [redacted]"),
            "{body}"
        );
    }
    let error_body_leaks = leaks;

    // The log buffer: every line the function wrote is there, redacted.
    let (status, logs) = host
        .admin_get("/api/pb_serverless/_admin/logs?function=sec&limit=10000")
        .await;
    assert_eq!(status, 200, "{logs}");
    let text = logs.to_string();
    let log_leaks = text.matches(CANARY).count();
    let lines: Vec<String> = logs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.to_string())
        .filter(|l| l.contains("leak c4n"))
        .collect();
    // console.log, console.error, pb.trace.log and the uncaught error, per
    // call, each with the value redacted.
    let redacted = lines.iter().filter(|l| l.contains("[redacted]")).count();
    assert!(redacted >= 4 * CALLS, "{text}");

    // The exported spans, as the collector decoded them, re-encoded.
    let spans = receiver
        .wait_for(|spans| {
            (0..CALLS).all(|i| spans.iter().any(|s| s.name == format!("leak c4n{i}")))
        })
        .await;
    let span_bytes: Vec<u8> = spans.iter().flat_map(|s| s.encode_to_vec()).collect();
    let span_leaks = span_bytes
        .windows(CANARY.len())
        .filter(|w| *w == CANARY.as_bytes())
        .count();
    let leak_span = spans.iter().find(|s| s.name == "leak c4n0").unwrap();
    assert!(
        format!("{:?}", leak_span.attributes).contains("[redacted]"),
        "{leak_span:?}"
    );

    // The database.
    let (scanned, db_leaks) = match backend {
        Backend::Sqlite => {
            let (files, bytes, found) = files_holding(host.dir.path(), CANARY.as_bytes());
            assert!(files >= 2 && bytes > 0);
            (format!("{files} files, {bytes} bytes"), found.len())
        }
        Backend::Postgres => {
            let db = pbs::store::Db::open(&host.db).await.unwrap();
            let tables: Vec<(String,)> = db
                .query(
                    "SELECT table_name::text FROM information_schema.tables \
                     WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
                )
                .fetch_all_as()
                .await
                .unwrap();
            let (mut rows, mut found) = (0, 0);
            let hexed = hex::encode(CANARY);
            for (table,) in &tables {
                let dump: Vec<(String,)> = db
                    .query(&format!("SELECT to_jsonb(t)::text FROM \"{table}\" t"))
                    .fetch_all_as()
                    .await
                    .unwrap();
                rows += dump.len();
                found += dump
                    .iter()
                    .filter(|(row,)| row.contains(CANARY) || row.contains(&hexed))
                    .count();
            }
            let secrets: Vec<(Vec<u8>,)> = db
                .query("SELECT sealed FROM pbs_secrets WHERE name = 'CANARY'")
                .fetch_all_as()
                .await
                .unwrap();
            assert_eq!(secrets.len(), 1);
            db.close().await;
            (format!("{} tables, {rows} rows", tables.len()), found)
        }
    };
    println!(
        "canary ({backend:?}): {CALLS} leaking calls; in clear in error bodies {error_body_leaks}, \
         log lines {log_leaks} ({} lines checked), spans {span_leaks} ({} spans), database {db_leaks} ({scanned})",
        lines.len(),
        spans.len()
    );
    assert_eq!(
        (error_body_leaks, log_leaks, span_leaks, db_leaks),
        (0, 0, 0, 0)
    );
}

on_both_backends!(
    a_canary_secret_never_appears_in_clear,
    set_get_list_and_remove,
    environments_are_isolated,
    swapped_or_tampered_ciphertexts_do_not_decrypt,
    the_key_file_and_a_wrong_key,
    rotating_the_key_re_encrypts_everything,
    cli_and_redaction_of_logged_values,
    placeholders_are_filled_only_for_bound_hosts,
);

/// In single-component mode there is no database: `unavailable`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_component_mode_has_no_secrets() {
    let line = pbs_tests::single_mode_import_outcome("pb:secrets/store.get").await;
    assert!(
        line.contains("Unavailable(") && line.contains("single-component mode"),
        "{line}"
    );
}
