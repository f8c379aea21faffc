//! JS/TS functions: built with the real pipeline (the project's esbuild,
//! QuickJS, Wizer), deployed, and run with the Web APIs and the real npm
//! packages (`ai`, `@ai-sdk/openai`, `openai`, `zod`).

use crate::cli::spawn_serve;
use futures::StreamExt;
use pbs_tests::fake_openai::{FakeOpenAi, CHUNKS};
use pbs_tests::{expect_error, js, Backend, TestHost};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn get_json(host: &TestHost, path: &str) -> Value {
    let resp = host.client.get(host.url(path)).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{path}");
    resp.json().await.unwrap()
}

/// Deploy, restart (the version comes back from the database with its
/// source map), and serve — on both backends.
async fn js_function_deploys_and_survives_a_restart(backend: Backend) {
    let host = TestHost::start(backend).await;
    host.deploy_js("hello", "hello.ts").await;
    let resp = host.get("hello").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "hello from js\n");
    let host = host.restart().await;
    let resp = host.get("hello").await;
    assert_eq!(resp.text().await.unwrap(), "hello from js\n");
}

pbs_tests::on_both_backends!(js_function_deploys_and_survives_a_restart);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_by_method_with_web_apis() {
    let host = TestHost::start(Backend::Sqlite).await;
    host.deploy_js("web", "web_apis.ts").await;
    let info = get_json(&host, "/api/pb_serverless/web/info?a=1&b=two").await;
    assert_eq!(info["method"], "GET");
    assert_eq!(info["path"], "/api/pb_serverless/web/info");
    assert_eq!(info["query"], "?a=1&b=two");
    let resp = host
        .client
        .post(host.function_url("web"))
        .json(&json!({"a": [1, 2], "s": "é✓"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"echo": {"a": [1, 2], "s": "é✓"}})
    );
    // No handler for DELETE: 405 naming what is there.
    let resp = host
        .client
        .delete(host.function_url("web"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405);
    let allow = resp.headers()["allow"].to_str().unwrap().to_string();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uncaught_error_is_a_500_with_json() {
    let host = TestHost::start(Backend::Sqlite).await;
    host.deploy_js("web", "web_apis.ts").await;
    let resp = host
        .client
        .get(host.url("/api/pb_serverless/web/throw"))
        .send()
        .await
        .unwrap();
    let body = expect_error(resp, 500, "boom from the handler").await;
    assert_eq!(body["status"], 500);
}

/// The log line of an uncaught error shows the stack at `.ts` positions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stack_traces_are_mapped_to_the_typescript_source() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("web.wasm");
    std::fs::write(&wasm, js::build("web_apis.ts").await).unwrap();
    let log = dir.path().join("stderr.log");
    let (mut child, base) = spawn_serve(
        wasm.to_str().unwrap(),
        std::fs::File::create(&log).unwrap().into(),
    )
    .await;
    let resp = pbs_tests::client()
        .get(format!("{base}/throw"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().unwrap();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    let source = std::fs::read_to_string(js::project_dir().join("src/web_apis.ts")).unwrap();
    let line = source
        .lines()
        .position(|l| l.contains("boom from the handler"))
        .unwrap()
        + 1;
    assert!(
        text.contains(&format!("web_apis.ts:{line}:")),
        "no mapped frame for line {line} in: {text}"
    );
    assert!(!text.contains("bundle.js:"), "unmapped frame in: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_errors_name_the_typescript_position() {
    let dir = tempfile::tempdir_in(js::project_dir()).unwrap();
    let top_level = dir.path().join("top_level_throw.ts");
    std::fs::write(
        &top_level,
        "const n: number = 1;\nfunction fail() {\n  throw new TypeError(\"top-level boom\");\n}\nfail();\nexport default { fetch() { return new Response(String(n)); } };\n",
    )
    .unwrap();
    let syntax = dir.path().join("syntax.ts");
    std::fs::write(&syntax, "export default {\n  fetch( { return 1 }\n};\n").unwrap();
    let runtime = pbs::engine::Runtime::new(pbs_tests::test_limits(), Vec::new()).unwrap();

    let err = pbs::deploy::js::build(&runtime, &top_level)
        .await
        .err()
        .unwrap();
    let text = format!("{err:#}");
    assert!(text.contains("TypeError: top-level boom"), "{text}");
    assert!(text.contains("top_level_throw.ts:3:"), "{text}");

    let err = pbs::deploy::js::build(&runtime, &syntax)
        .await
        .err()
        .unwrap();
    let text = format!("{err:#}");
    assert!(text.contains("syntax.ts:2:"), "{text}");

    // Randomness drawn at build time would be the same in every instance.
    let random = dir.path().join("random.ts");
    std::fs::write(
        &random,
        "const secret = crypto.randomUUID();\nexport default { fetch() { return new Response(secret); } };\n",
    )
    .unwrap();
    let err = pbs::deploy::js::build(&runtime, &random)
        .await
        .err()
        .unwrap();
    assert!(format!("{err:#}").contains("inside a handler"), "{err:#}");

    // Outside any npm project: say how to get esbuild.
    let bare = tempfile::tempdir().unwrap();
    let entry = bare.path().join("index.js");
    std::fs::write(
        &entry,
        "export default { fetch() { return new Response('x') } }",
    )
    .unwrap();
    let err = pbs::deploy::js::build(&runtime, &entry)
        .await
        .err()
        .unwrap();
    assert!(
        format!("{err:#}").contains("npm install --save-dev esbuild"),
        "{err:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promise_all_of_three_slow_fetches_overlaps() {
    let slow = slow_server(Duration::from_millis(600)).await;
    let host = TestHost::start_allowing(Backend::Sqlite, &[&slow]).await;
    host.deploy_js("web", "web_apis.ts").await;
    let started = Instant::now();
    let body = get_json(
        &host,
        &format!("/api/pb_serverless/web/fetch-all?target=http://{slow}/slow"),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(body["bodies"], json!(["slow 1", "slow 2", "slow 3"]));
    // One at a time would be 1.8 s.
    assert!(took < Duration::from_millis(1500), "took {took:?}: {body}");
}

/// A server answering after `delay` with `slow N` for `?n=N`.
async fn slow_server(delay: Duration) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| async move {
                        tokio::time::sleep(delay).await;
                        let n = req
                            .uri()
                            .query()
                            .unwrap_or("")
                            .trim_start_matches("n=")
                            .to_string();
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(
                            http_body_util::Full::new(bytes::Bytes::from(format!("slow {n}"))),
                        ))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_readable_stream_response_passes_through_chunk_by_chunk() {
    let host = TestHost::start(Backend::Sqlite).await;
    host.deploy_js("web", "web_apis.ts").await;
    let resp = host
        .client
        .get(host.url("/api/pb_serverless/web/stream?n=3&delay=400"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let started = Instant::now();
    let mut body = resp.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert_eq!(&first[..], b"chunk 0\n");
    // The rest is 800 ms away: the first chunk did not wait for it.
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    let mut rest = Vec::new();
    while let Some(chunk) = body.next().await {
        rest.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(rest, b"chunk 1\nchunk 2\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_state_leaks_between_invocations_and_randomness_differs() {
    let host = TestHost::start(Backend::Sqlite).await;
    host.deploy_js("fresh", "fresh_state.ts").await;
    let a = get_json(&host, "/api/pb_serverless/fresh").await;
    let b = get_json(&host, "/api/pb_serverless/fresh").await;
    assert_eq!(
        (a["counter"].clone(), b["counter"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!((a["leak"].clone(), b["leak"].clone()), (json!(1), json!(1)));
    // Evaluated once at build time: the same in every instance.
    assert_eq!(a["startedWith"], b["startedWith"]);
    assert_ne!(a["random"], b["random"]);
    assert_ne!(a["bytes"], b["bytes"]);
    assert_ne!(a["uuid"], b["uuid"]);
    let uuid = a["uuid"].as_str().unwrap();
    assert_eq!((uuid.len(), &uuid[14..15]), (36, "4"), "{uuid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pb_global_reaches_the_host_capabilities() {
    let host = TestHost::start(Backend::Sqlite).await;
    host.deploy_js("faces", "pb_faces.ts").await;
    let out = get_json(&host, "/api/pb_serverless/faces").await;
    assert_eq!(out["kv.get"]["ok"], json!({"stage": "step_2"}), "{out}");
    // Not set: null (tests/tests/e2e/secrets.rs covers the rest).
    assert_eq!(out["secrets.get"], json!({"ok": null}), "{out}");
    // No collection `posts` on this host.
    assert_eq!(out["collection.getOne"]["code"], "not-found", "{out}");
    // pb.jobs reaches the host, which refuses a job no export runs
    // (tests/tests/e2e/jobs.rs covers the rest).
    assert_eq!(out["jobs.enqueue"]["code"], "invalid", "{out}");
    // No files yet (tests/tests/e2e/files.rs covers pb.files).
    assert_eq!(out["files.list"], json!({"ok": []}), "{out}");
    let trace_id = out["trace.traceId"]["ok"].as_str().unwrap();
    assert_eq!(trace_id.len(), 32, "{out}");
    let uuid = out["utils.uuid"]["ok"].as_str().unwrap();
    assert_eq!((uuid.len(), &uuid[14..15]), (36, "7"), "{out}");
    assert_eq!(
        out["utils.hash"]["ok"],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

async fn ask(host: &TestHost, route: &str, fake: &FakeOpenAi, prompt: &str) -> reqwest::Response {
    host.client
        .post(host.url(&format!("/api/pb_serverless/ai/{route}")))
        .json(&json!({"baseURL": fake.base_url, "prompt": prompt}))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ai_sdk_generate_text() {
    let fake = FakeOpenAi::start(false).await;
    let host = TestHost::start_allowing(Backend::Sqlite, &[&fake.authority]).await;
    host.deploy_js("ai", "ai_sdk.ts").await;
    let resp = ask(&host, "generate", &fake, "Say hello").await;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["text"], CHUNKS.concat());
    assert_eq!(body["finishReason"], "stop");
    assert_eq!(body["usage"]["inputTokens"], 7, "{body}");
    let sent = fake.requests();
    assert_eq!(sent[0]["model"], "gpt-test");
    assert_eq!(sent[0]["messages"][0]["content"], "Say hello");
}

/// `streamText(...).toTextStreamResponse()`: the client has the first text
/// chunk while the fake model is still holding back the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ai_sdk_stream_text_reaches_the_client_before_the_model_finishes() {
    let fake = FakeOpenAi::start(true).await;
    let host = TestHost::start_allowing(Backend::Sqlite, &[&fake.authority]).await;
    host.deploy_js("ai", "ai_sdk.ts").await;
    let resp = ask(&host, "stream", &fake, "Say hello").await;
    assert_eq!(resp.status(), 200);
    let mut body = resp.bytes_stream();
    let first = tokio::time::timeout(Duration::from_secs(20), body.next())
        .await
        .expect("the first chunk came through while the model was held")
        .unwrap()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&first), CHUNKS[0]);
    assert!(!fake.finished(), "the model had already finished");
    fake.release();
    let mut text = String::from_utf8_lossy(&first).into_owned();
    while let Some(chunk) = body.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    assert_eq!(text, CHUNKS.concat());
    assert!(fake.finished());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ai_sdk_tool_call_with_zod_validated_input() {
    let fake = FakeOpenAi::start(false).await;
    let host = TestHost::start_allowing(Backend::Sqlite, &[&fake.authority]).await;
    host.deploy_js("ai", "ai_sdk.ts").await;
    let body: Value = ask(&host, "tool", &fake, "Weather in Paris?")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["calls"],
        json!([{"name": "weather", "input": {"city": "Paris"}, "invalid": false}]),
        "{body}"
    );
    assert_eq!(
        body["results"],
        json!([{"city": "Paris", "celsius": 21}]),
        "{body}"
    );
    assert!(
        body["text"].as_str().unwrap().contains("\"celsius\":21"),
        "{body}"
    );
    // The model sends `{"city": 42}`: zod refuses it and the tool never runs.
    let body: Value = ask(&host, "tool", &fake, "INVALID input please")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["results"], json!([]), "{body}");
    assert_eq!(body["calls"][0]["invalid"], true, "{body}");
    let error = body["errors"][0].as_str().unwrap();
    assert!(
        error.contains("Invalid input for tool weather") && error.contains("expected string"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_sdk_streamed_chat_completion() {
    let fake = FakeOpenAi::start(false).await;
    let host = TestHost::start_allowing(Backend::Sqlite, &[&fake.authority]).await;
    host.deploy_js("oai", "openai_sdk.ts").await;
    let resp = host
        .client
        .post(host.function_url("oai"))
        .json(&json!({"baseURL": fake.base_url, "prompt": "Say hello"}))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"text": CHUNKS.concat(), "chunks": CHUNKS.len()})
    );
    assert_eq!(fake.requests()[0]["stream"], true);
}

/// A JS function that spins, hoards memory, recurses without end, never
/// settles or returns garbage gets an error status; the host goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_js_cannot_hurt_the_host() {
    let host = TestHost::start(Backend::Sqlite).await;
    host.deploy_js("hostile", "hostile.ts").await;
    let get = |route: &str| {
        host.client
            .get(host.url(&format!("/api/pb_serverless/hostile/{route}")))
            .send()
    };
    expect_error(get("spin").await.unwrap(), 504, "").await;
    expect_error(get("hog").await.unwrap(), 500, "memory").await;
    expect_error(get("deep").await.unwrap(), 500, "").await;
    expect_error(
        get("never").await.unwrap(),
        500,
        "did not return a response",
    )
    .await;
    expect_error(get("not-a-response").await.unwrap(), 500, "Response").await;
    let resp = get("ok").await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "fine");
}

/// A server that counts connections and answers `ok` (or redirects to
/// `redirect_to` when given).
async fn counting_server(redirect_to: Option<String>) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            seen.fetch_add(1, Ordering::SeqCst);
            let redirect_to = redirect_to.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |_req: hyper::Request<hyper::body::Incoming>| {
                        let redirect_to = redirect_to.clone();
                        async move {
                            let resp = match redirect_to {
                                Some(to) => hyper::Response::builder()
                                    .status(302)
                                    .header("location", to),
                                None => hyper::Response::builder().status(200),
                            };
                            Ok::<_, std::convert::Infallible>(
                                resp.body(http_body_util::Full::new(bytes::Bytes::from("ok")))
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
    (addr, count)
}

async fn fetch_via(host: &TestHost, name: &str, url: &str) -> Value {
    let resp = host
        .client
        .get(host.function_url(name))
        .query(&[("url", url)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// `allowed_hosts` is per function, and a redirect is checked at each hop:
/// an allowed server redirecting to a loopback canary does not reach it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_hosts_are_per_function_and_checked_at_every_redirect() {
    let (canary, canary_hits) = counting_server(None).await;
    let (allowed, allowed_hits) = counting_server(Some(format!("http://{canary}/secret"))).await;
    let host = TestHost::start(Backend::Sqlite).await;
    let bytes = js::build("fetch_url.ts").await;
    let resp = host
        .deploy_with("open", bytes.clone(), &format!("?allowed_hosts={allowed}"))
        .await;
    assert_eq!(resp.status(), 201);
    let listed: Value = host.admin_get("functions").await.1;
    assert_eq!(
        listed["items"][0]["allowed_hosts"],
        json!([allowed]),
        "{listed}"
    );
    assert_eq!(host.deploy("closed", bytes.clone()).await.status(), 201);

    // The other function may not reach the same server.
    let out = fetch_via(&host, "closed", &format!("http://{allowed}/")).await;
    assert_eq!(out["error"], "TypeError", "{out}");
    assert!(
        out["message"].as_str().unwrap().contains("refused"),
        "{out}"
    );
    assert_eq!(allowed_hits.load(Ordering::SeqCst), 0);

    // The allowed one reaches it; its redirect to the canary is refused.
    let out = fetch_via(&host, "open", &format!("http://{allowed}/")).await;
    assert_eq!(out["error"], "TypeError", "{out}");
    assert_eq!(allowed_hits.load(Ordering::SeqCst), 1);
    assert_eq!(
        canary_hits.load(Ordering::SeqCst),
        0,
        "the redirect reached the canary"
    );

    // A malformed entry is refused at deploy.
    let resp = host
        .deploy_with("bad", bytes, "?allowed_hosts=https://x/")
        .await;
    expect_error(resp, 400, "allowed_hosts").await;
}

/// The README's TypeScript example builds and answers as documented.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_example_works() {
    let entry = js::project_dir().join("../../examples/hello-ts/src/index.ts");
    let bytes = js::build_entry(&entry).await.unwrap();
    let host = TestHost::start(Backend::Sqlite).await;
    assert_eq!(host.deploy("hello-ts", bytes).await.status(), 201);
    let body = get_json(&host, "/api/pb_serverless/hello-ts?name=you").await;
    assert_eq!(body["message"], "Hello, you!");
    assert_eq!(body["trace_id"].as_str().unwrap().len(), 32);
    let resp = host
        .client
        .post(host.function_url("hello-ts"))
        .body("one two three")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.text().await.unwrap(), "one\ntwo\nthree\n");
}

/// What a JS function serves is what its bundle exports: a bundle without an
/// HTTP handler is refused for the http trigger, and accepted for jobs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triggers_follow_the_bundle_exports() {
    let dir = tempfile::tempdir_in(js::project_dir()).unwrap();
    let entry = dir.path().join("worker.ts");
    std::fs::write(
        &entry,
        "export async function process_pdf(data: unknown) { return data; }\n",
    )
    .unwrap();
    let bytes = js::build_entry(&entry).await.unwrap();
    let host = TestHost::start(Backend::Sqlite).await;
    let resp = host.deploy("worker", bytes.clone()).await;
    let body = expect_error(resp, 400, "the http trigger needs").await;
    assert!(
        body["message"].as_str().unwrap().contains("process_pdf"),
        "{body}"
    );
    let resp = host.deploy_with("worker", bytes, "?triggers=jobs").await;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["triggers"], json!(["jobs", "cron", "hooks"]), "{body}");
    assert_eq!(body["exports"], json!(["process_pdf"]), "{body}");

    // Loaded again from the database (a restart, or another host), it
    // serves the same: not the engine's every trigger.
    let host = host.restart().await;
    let live = host.server.registry().unwrap().get("worker").unwrap();
    let triggers: Vec<&str> = live.version.triggers.iter().map(|t| t.name()).collect();
    assert_eq!(triggers, ["jobs", "cron", "hooks"]);
    assert_eq!(live.version.exports, ["process_pdf"]);
}

/// Minor page faults of process `pid` so far (`/proc/PID/stat`, field 10).
fn minor_faults(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name (field 2) is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    fields[7].parse().unwrap()
}

/// A fresh JS instance starts from a pool slot that kept the heap the last
/// instance wrote (`guest-js/src/resident.rs`). Without that, wasmtime's
/// reset decommitted the heap past its 32nd run of written pages and every
/// request took 35–45 copy-on-write faults for the hello alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_js_instance_takes_no_page_faults() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hello.wasm");
    std::fs::write(&path, js::build("hello.ts").await).unwrap();
    let (mut child, base) = spawn_serve(path.to_str().unwrap(), std::process::Stdio::null()).await;
    let client = reqwest::Client::new();
    let get = || async {
        let res = client.get(format!("{base}/")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.text().await.unwrap(), "hello from js\n");
    };
    // The first instances fault the heap into their slot once.
    for _ in 0..20 {
        get().await;
    }
    let before = minor_faults(child.id());
    const N: u64 = 200;
    for _ in 0..N {
        get().await;
    }
    let faults = minor_faults(child.id()) - before;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        faults < N * 5,
        "{faults} page faults over {N} requests: instances fault their heap in again"
    );
}

/// A handler that returns its Response without a promise is answered at
/// once (no await): the same statuses, headers, bodies, streams and
/// errors as an async one; an incoming Request reports the Fetch
/// standard's defaults; header names and values are still checked; the
/// runtime's own functions print as `[native code]`, the bundle's as
/// written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_synchronous_handler_answers_like_an_async_one() {
    let host = TestHost::start(Backend::Sqlite).await;
    host.deploy_js("sync", "sync_handler.ts").await;
    let url = host.function_url("sync/request?q=1");
    let resp = host
        .client
        .get(&url)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let info: Value = resp.json().await.unwrap();
    assert_eq!(
        info,
        json!({
            "method": "GET", "url": url, "accept": "text/csv",
            "cache": "default", "credentials": "same-origin", "integrity": "",
            "keepalive": false, "mode": "cors", "redirect": "follow",
            "referrer": "about:client", "referrerPolicy": "", "aborted": false,
            "clone": {"method": "GET", "url": url, "mode": "cors", "accept": "text/csv"},
        })
    );

    let resp = host.get("sync/headers").await;
    assert_eq!(resp.status(), 201);
    assert_eq!(resp.headers()["content-type"], "text/csv");
    assert_eq!(resp.headers()["x-request-id"], "r-1");
    assert_eq!(resp.text().await.unwrap(), "a,b\n");

    let resp = host.get("sync/stream").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), "one two three");
    let resp = host
        .client
        .head(host.function_url("sync/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap().len(), 0);

    assert_eq!(
        get_json(&host, "/api/pb_serverless/sync/bad-headers").await,
        json!(["TypeError", "TypeError", "none"])
    );
    let printed = get_json(&host, "/api/pb_serverless/sync/to-string").await;
    for builtin in ["fetch", "headersGet"] {
        let text = printed[builtin].as_str().unwrap();
        assert!(text.contains("[native code]"), "{builtin}: {text}");
    }
    let user = printed["user"].as_str().unwrap();
    assert!(user.contains("return n * 2"), "{user}");
    let resp = host.get("sync/empty").await;
    assert_eq!(resp.status(), 204);

    let resp = host.get("sync/throw").await;
    expect_error(resp, 500, "sync boom").await;
    let resp = host.get("sync/not-a-response").await;
    expect_error(resp, 500, "the GET handler returned string, not a Response").await;
    // The engine goes on.
    let resp = host.get("sync/headers").await;
    assert_eq!(resp.status(), 201);
}
