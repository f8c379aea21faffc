//! `pb:files` conformance: the same cases on local storage (with SQLite and
//! with PostgreSQL as the host's database) and on a real S3-compatible
//! server (moto, `tests/src/s3.rs`), through the JS face
//! (`tests/js/src/files.ts`, which calls `pb.files`), the HTTP route
//! `GET /api/files/…`, and the functions pb:data calls when records go
//! (`delete_record_files`, `delete_collection_files`). The Rust guest
//! `pb_imports` covers the raw WIT calls (imports.rs).

use futures::TryStreamExt;
use pbs::caps::files::config::FilesConfig;
use pbs::caps::files::object_store::ObjectStore;
use pbs::config::{HostConfig, Mode};
use pbs::server::Server;
use pbs_tests::{js, new_database, on_both_backends, test_limits, Backend, TestHost};
use serde_json::{json, Value};
use std::time::Duration;

/// The size limit of the test hosts.
const MAX_FILE: u64 = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Storage {
    Local,
    S3,
}

/// A host with `files.ts` deployed as `files`.
struct FilesHost {
    host: TestHost,
    storage: Storage,
    files: FilesConfig,
}

impl FilesHost {
    async fn start(backend: Backend, storage: Storage) -> FilesHost {
        let dir = tempfile::tempdir().unwrap();
        let db = new_database(backend, dir.path()).await;
        let files = match storage {
            Storage::Local => FilesConfig::default(),
            Storage::S3 => pbs_tests::s3::files_config("pb/files").await,
        };
        let files = FilesConfig {
            max_file_size: MAX_FILE,
            ..files
        };
        let config = HostConfig {
            mode: Mode::Host,
            addr: "127.0.0.1:0".parse().unwrap(),
            dir: dir.path().to_path_buf(),
            db: Some(db.clone()),
            admin_token: Some("test-admin-token".into()),
            limits: test_limits(),
            registry_refresh: Duration::from_millis(200),
            files: files.clone(),
            ..HostConfig::default()
        };
        let server = Server::start(config).await.expect("start host");
        let base = format!("http://{}", server.addr());
        let host = TestHost {
            server,
            dir,
            db,
            base,
            token: "test-admin-token".into(),
            client: pbs_tests::client(),
        };
        let resp = host.deploy("files", js::build("files.ts").await).await;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, 201, "deploy files.ts: {body}");
        FilesHost {
            host,
            storage,
            files,
        }
    }

    /// One `pb.files` call: {ok} or {error}.
    async fn call(&self, request: Value) -> Value {
        self.host.call_fn("files", request).await
    }

    async fn ok(&self, request: Value) -> Value {
        self.host.call_ok("files", request).await
    }

    /// A call that must fail with `PbError` code `code`: its message.
    async fn fails(&self, request: Value, code: &str) -> String {
        let error = &self.host.call_fails("files", request, code).await;
        error["message"].as_str().unwrap().to_string()
    }

    async fn save(&self, record: &str, filename: &str, data: &str, how: &str) -> Value {
        self.ok(
            json!({"op": "save", "collection": "posts", "record": record,
                       "filename": filename, "data": data, "as": how}),
        )
        .await
    }

    async fn read(&self, record: &str, filename: &str) -> Value {
        self.ok(
            json!({"op": "read", "collection": "posts", "record": record, "filename": filename}),
        )
        .await
    }

    async fn list(&self, collection: &str, record: &str) -> Vec<(String, u64)> {
        let out = self
            .ok(json!({"op": "list", "collection": collection, "record": record}))
            .await;
        out.as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["filename"].as_str().unwrap().to_string(),
                    f["size"].as_u64().unwrap(),
                )
            })
            .collect()
    }

    /// Every key in the store, temporary files included on local storage
    /// (the folder is walked, not listed through object_store).
    async fn stored(&self) -> Vec<String> {
        match self.storage {
            Storage::Local => walk(&self.host.dir.path().join("storage")),
            Storage::S3 => {
                let (store, _) =
                    pbs::caps::files::config::open(&self.files, self.host.dir.path()).unwrap();
                let mut keys: Vec<String> = store
                    .list(None)
                    .map_ok(|m| m.location.to_string())
                    .try_collect()
                    .await
                    .unwrap();
                keys.sort();
                keys
            }
        }
    }

    fn services(&self) -> &std::sync::Arc<pbs::caps::services::Services> {
        let registry = self.host.server.registry().unwrap();
        registry.runtime().services().unwrap()
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.host
            .client
            .get(self.host.url(path))
            .send()
            .await
            .unwrap()
    }
}

fn walk(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                let rel = e.path().strip_prefix(root).unwrap().to_path_buf();
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

async fn round_trip(h: &FilesHost) {
    assert_eq!(h.list("posts", "r1").await, []);
    let info = h.save("r1", "a.txt", "hello", "string").await;
    assert_eq!(info["filename"], "a.txt");
    assert_eq!(info["size"], 5);
    let saved_ms = info["modifiedMs"].as_f64().unwrap();
    assert!(saved_ms > 1.6e12, "{info}");
    let read = h.read("r1", "a.txt").await;
    assert_eq!(read["text"], "hello");
    assert_eq!(
        read["isArrayBuffer"], true,
        "read resolves with an ArrayBuffer"
    );
    assert_eq!(h.stored().await, ["posts/r1/a.txt"]);
    // Every kind of data pb.files.save takes.
    for how in ["buffer", "bytes", "view", "blob"] {
        let name = format!("{how}.txt");
        let info = h.save("r1", &name, "héllo ✓", how).await;
        assert_eq!(info["size"], "héllo ✓".len(), "{how}");
        assert_eq!(h.read("r1", &name).await["text"], "héllo ✓", "{how}");
    }
    h.save("r1", "u16.bin", "abcd", "u16").await;
    assert_eq!(h.read("r1", "u16.bin").await["text"], "abcd");
    // Missing data is the JS face's TypeError, before the host.
    let out = h
        .call(json!({"op": "save", "collection": "posts", "record": "r1", "filename": "x", "as": "none"}))
        .await;
    assert_eq!(out["error"]["name"], "TypeError", "{out}");
    // So is a missing file name (not a file called "undefined").
    let out = h
        .call(json!({"op": "save", "collection": "posts", "record": "r1", "data": "x"}))
        .await;
    assert_eq!(out["error"]["name"], "TypeError", "{out}");
    assert!(
        out["error"]["message"]
            .as_str()
            .unwrap()
            .contains("filename"),
        "{out}"
    );
    // A name with characters object stores dislike comes back as given.
    h.save("r1", "naïve #1 100%?.txt", "odd", "string").await;
    assert_eq!(h.read("r1", "naïve #1 100%?.txt").await["text"], "odd");
    // The longest name, on every store.
    let longest = "é".repeat(125);
    h.save("r2", &longest, "long", "string").await;
    assert_eq!(h.list("posts", "r2").await, [(longest.clone(), 4)]);
    let del = json!({"op": "delete", "collection": "posts", "record": "r2", "filename": longest});
    assert_eq!(h.ok(del).await, true);
    // Replaced whole.
    h.save("r1", "a.txt", "bye", "string").await;
    assert_eq!(h.read("r1", "a.txt").await["text"], "bye");
    let list = h
        .ok(json!({"op": "list", "collection": "posts", "record": "r1"}))
        .await;
    let a = list
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["filename"] == "a.txt")
        .unwrap();
    assert_eq!(a["size"], 3);
    let listed_ms = a["modifiedMs"].as_f64().unwrap();
    assert!((listed_ms - saved_ms).abs() < 60_000.0, "{a}");
    assert_eq!(
        h.list("posts", "r1").await,
        [
            ("a.txt".to_string(), 3),
            ("blob.txt".into(), 10),
            ("buffer.txt".into(), 10),
            ("bytes.txt".into(), 10),
            ("naïve #1 100%?.txt".into(), 3),
            ("u16.bin".into(), 4),
            ("view.txt".into(), 10),
        ]
    );
    // Other records and collections are apart.
    assert_eq!(h.list("posts", "r2").await, []);
    assert_eq!(h.list("users", "r1").await, []);
    let del = json!({"op": "delete", "collection": "posts", "record": "r1", "filename": "a.txt"});
    assert_eq!(h.ok(del.clone()).await, true);
    assert_eq!(h.ok(del).await, false);
    let msg = h
        .fails(
            json!({"op": "read", "collection": "posts", "record": "r1", "filename": "a.txt"}),
            "not-found",
        )
        .await;
    assert!(msg.contains("a.txt"), "{msg}");
    assert!(!h.stored().await.contains(&"posts/r1/a.txt".to_string()));
}

async fn bad_names_are_refused_and_nothing_is_written(h: &FilesHost) {
    let long = "a".repeat(256);
    let cases: &[(&str, &str, &str, &str)] = &[
        ("posts", "r1", "", "empty"),
        ("posts", "r1", ".", "not a file name"),
        ("posts", "r1", "..", "not a file name"),
        ("posts", "r1", "../../../etc/passwd", "path separator"),
        ("posts", "r1", "/etc/passwd", "path separator"),
        ("posts", "r1", "a/b", "path separator"),
        ("posts", "r1", "..\\x", "path separator"),
        ("posts", "r1", "C:\\x", "path separator"),
        ("posts", "r1", "a\0b", "NUL"),
        ("posts", "r1", "a\nb", "control character U+000A"),
        ("posts", "r1", "a\u{1b}[31m", "control character U+001B"),
        ("posts", "r1", &long, "256 bytes long"),
        ("posts", "r1", &"a".repeat(251), "once encoded"),
        ("posts", "r1", &"#".repeat(84), "once encoded"),
        ("..", "r1", "a.txt", "collection"),
        ("po/sts", "r1", "a.txt", "collection"),
        ("", "r1", "a.txt", "collection is empty"),
        ("posts", "..", "a.txt", "record id"),
        ("posts", "a b", "a.txt", "record id"),
        ("posts", "", "a.txt", "record id is empty"),
    ];
    for (c, r, f, why) in cases {
        for op in ["save", "read", "delete"] {
            let msg = h
                .fails(
                    json!({"op": op, "collection": c, "record": r, "filename": f, "data": "x"}),
                    "invalid",
                )
                .await;
            assert!(
                msg.contains(why),
                "{op} {c}/{r}/{f:?}: {msg:?} should say {why:?}"
            );
        }
    }
    for (c, r) in [("..", "r1"), ("posts", "../x")] {
        h.fails(
            json!({"op": "list", "collection": c, "record": r}),
            "invalid",
        )
        .await;
    }
    assert_eq!(h.stored().await, Vec::<String>::new());
}

async fn the_size_limit_is_a_quota_error(h: &FilesHost) {
    let msg = h
        .fails(
            json!({"op": "save", "collection": "posts", "record": "r1", "filename": "big",
                   "as": format!("fill:{}", MAX_FILE + 1)}),
            "quota",
        )
        .await;
    assert!(msg.contains(&MAX_FILE.to_string()), "{msg}");
    let info = h
        .ok(
            json!({"op": "save", "collection": "posts", "record": "r1", "filename": "fits",
                   "as": format!("fill:{MAX_FILE}")}),
        )
        .await;
    assert_eq!(info["size"], MAX_FILE);
    assert_eq!(h.read("r1", "fits").await["size"], MAX_FILE);
    assert_eq!(h.stored().await, ["posts/r1/fits"]);
}

async fn files_are_served_over_http(h: &FilesHost) {
    // A file is served when its record is visible to the requester: a
    // record of a public collection, and (below) one of an admin-only one.
    let posts = crate::records::create_collection(
        &h.host,
        json!({"name": "posts", "fields": [{"name": "title", "type": "text"}], "viewRule": ""}),
    )
    .await;
    crate::records::create_record(&h.host, "posts", json!({"id": R1})).await;
    h.save(R1, "a b.txt", "hello", "string").await;
    h.save(R1, "page.html", "<script>alert(1)</script>", "string")
        .await;
    h.ok(
        json!({"op": "save", "collection": "posts", "record": R1, "filename": "big.png",
                "as": format!("fill:{MAX_FILE}")}),
    )
    .await;

    let resp = h.get(&format!("/api/files/posts/{R1}/a%20b.txt")).await;
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    assert_eq!(headers["content-type"], "text/plain");
    assert_eq!(headers["content-length"], "5");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let disposition = headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("inline;"), "{disposition}");
    assert!(
        disposition.contains("filename=\"a b.txt\""),
        "{disposition}"
    );
    assert_eq!(resp.text().await.unwrap(), "hello");
    // ?download=1 → an attachment.
    let resp = h
        .get(&format!("/api/files/posts/{R1}/a%20b.txt?download=1"))
        .await;
    let disposition = resp.headers()["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    // HTML never renders as a page of this origin.
    let resp = h.get(&format!("/api/files/posts/{R1}/page.html")).await;
    assert_eq!(resp.headers()["content-type"], "text/html");
    let disposition = resp.headers()["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
    assert!(resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("sandbox"));

    // A large file arrives whole (streamed, in chunks).
    let resp = h.get(&format!("/api/files/posts/{R1}/big.png")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    assert_eq!(resp.headers()["content-length"], MAX_FILE.to_string());
    let etag = resp.headers()["etag"].to_str().unwrap().to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let body = resp.bytes().await.unwrap();
    assert_eq!(body.len() as u64, MAX_FILE);
    assert!(body.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));

    // The same ETag → 304, no body.
    let resp = h
        .host
        .client
        .get(h.host.url(&format!("/api/files/posts/{R1}/big.png")))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 304);
    assert_eq!(resp.headers()["etag"], etag.as_str());
    // Another → the file.
    let resp = h
        .host
        .client
        .get(h.host.url(&format!("/api/files/posts/{R1}/big.png")))
        .header("if-none-match", "\"other\"")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // HEAD: the headers alone.
    let resp = h
        .host
        .client
        .head(h.host.url(&format!("/api/files/posts/{R1}/a%20b.txt")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-length"], "5");

    // Errors in PocketBase's shape.
    for path in [
        format!("/api/files/posts/{R1}/nope.txt"),
        "/api/files/posts/r2/a%20b.txt".to_string(),
        format!("/api/files/posts/{R1}"),
        format!("/api/files/posts/{R1}/a/b"),
    ] {
        let body = pbs_tests::expect_error(h.get(&path).await, 404, "wasn't found").await;
        assert_eq!(body["data"], json!({}), "{path}");
    }
    for (path, why) in [
        (format!("/api/files/posts/{R1}/a%5Cb"), "path separator"),
        (format!("/api/files/posts/{R1}/a%00b"), "NUL"),
    ] {
        pbs_tests::expect_error(h.get(&path).await, 400, why).await;
    }
    let resp = h
        .host
        .client
        .post(h.host.url(&format!("/api/files/posts/{R1}/a%20b.txt")))
        .body("x")
        .send()
        .await
        .unwrap();
    pbs_tests::expect_error(resp, 405, "GET").await;

    // The SDK's `files.getURL` names the collection by id.
    let by_id = format!(
        "/api/files/{}/{R1}/a%20b.txt",
        posts["id"].as_str().unwrap()
    );
    assert_eq!(h.get(&by_id).await.text().await.unwrap(), "hello");
    // An admin-only collection's files: 404 without the token, 200 with it.
    crate::records::create_collection(&h.host, json!({"name": "secret", "fields": []})).await;
    crate::records::create_record(&h.host, "secret", json!({"id": R1})).await;
    h.ok(json!({"op": "save", "collection": "secret", "record": R1, "filename": "s.txt", "data": "x"}))
        .await;
    let path = format!("/api/files/secret/{R1}/s.txt");
    pbs_tests::expect_error(h.get(&path).await, 404, "wasn't found").await;
    let resp = h
        .host
        .client
        .get(h.host.url(&path))
        .bearer_auth(&h.host.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.text().await.unwrap(), "x");
}

/// A record id (PocketBase's 15 characters) for the served files.
const R1: &str = "servedfilerec01";

/// What pb:data calls when a record (or a collection) is deleted.
async fn deleting_a_record_deletes_its_files(h: &FilesHost) {
    for (c, r, f) in [
        ("posts", "r1", "a"),
        ("posts", "r1", "b"),
        ("posts", "r2", "a"),
        ("posts2", "r1", "a"),
        ("users", "r1", "a"),
    ] {
        h.ok(json!({"op": "save", "collection": c, "record": r, "filename": f, "data": "x"}))
            .await;
    }
    let services = h.services();
    let n = services.files.delete_record("posts", "r1").await.unwrap();
    assert_eq!(n, 2);
    assert_eq!(h.list("posts", "r1").await, []);
    assert_eq!(h.list("posts", "r2").await.len(), 1);
    // Nothing left to delete: fine.
    let n = services.files.delete_record("posts", "r1").await.unwrap();
    assert_eq!(n, 0);
    // A bad name never reaches the store.
    assert!(services.files.delete_record("posts", "..").await.is_err());
    let n = services.files.delete_collection("posts").await.unwrap();
    assert_eq!(n, 1);
    assert_eq!(h.stored().await, ["posts2/r1/a", "users/r1/a"]);
}

/// Generates each case on local storage, with SQLite and with PostgreSQL
/// as the database (`files::local::{sqlite,postgres}::…`), and on S3
/// (`files::s3::…`, with SQLite).
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod local {
            use super::*;
            $(
                async fn $case(backend: Backend) {
                    super::$case(&FilesHost::start(backend, Storage::Local).await).await
                }
            )*
            on_both_backends!($($case),*);
        }
        mod s3 {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(&FilesHost::start(Backend::Sqlite, Storage::S3).await).await
                }
            )*
        }
    };
}

conformance!(
    round_trip,
    bad_names_are_refused_and_nothing_is_written,
    the_size_limit_is_a_quota_error,
    files_are_served_over_http,
    deleting_a_record_deletes_its_files,
);

/// Served alone (`pbs serve COMPONENT`), there is no file store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_component_mode_has_no_files() {
    let o = pbs_tests::single_mode_import_outcome("pb:files/storage.save").await;
    assert!(o.contains("Unavailable(") && o.contains("full host"), "{o}");
}

/// pb:files stores in a folder or S3, nowhere else: a host configured
/// otherwise does not start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_storage_scheme_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = HostConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        dir: dir.path().to_path_buf(),
        admin_token: Some("test-admin-token".into()),
        files: FilesConfig {
            location: Some("gs://bucket".into()),
            ..FilesConfig::default()
        },
        ..HostConfig::default()
    };
    let err = Server::start(config).await.err().expect("refused");
    assert!(format!("{err:#}").contains("s3://"), "{err:#}");
}
