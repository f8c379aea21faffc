//! Observability: one request's whole trace as a loopback OTLP receiver
//! decodes it (server → invocation → KV, records, fetch with its
//! traceparent seen downstream, a user span, a job linked to it), a
//! collector that is down, the usage ledger of a known workload, metrics
//! in Prometheus text, the log buffer and its stream, and — as processes —
//! `pbs serve --log-format json` and `pbs logs --follow`.

use crate::cli::pbs_bin;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::Span;
use pbs::telemetry::TelemetryConfig;
use pbs_tests::otlp::{hex, Downstream, Receiver};
use pbs_tests::{metric, on_both_backends, Backend, TestHost};
use reqwest::Method;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";

fn exporting_to(url: &str) -> TelemetryConfig {
    TelemetryConfig {
        endpoint: Some(url.to_string()),
        delay: Duration::from_millis(50),
        ..TelemetryConfig::default()
    }
}

async fn with_notes(host: &TestHost) {
    let (status, body) = host
        .admin(
            Method::POST,
            "/api/collections",
            Some(json!({"name": "notes", "fields": [{"name": "text", "type": "text"}]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

fn attr(span: &Span, key: &str) -> Option<String> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .map(|v| match v {
            V::StringValue(s) => s.clone(),
            V::IntValue(i) => i.to_string(),
            V::BoolValue(b) => b.to_string(),
            other => format!("{other:?}"),
        })
}

fn named<'a>(spans: &'a [Span], name: &str) -> Vec<&'a Span> {
    spans.iter().filter(|s| s.name == name).collect()
}

fn one<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    let found = named(spans, name);
    assert_eq!(found.len(), 1, "one span {name:?} expected, got {found:#?}");
    found[0]
}

async fn a_request_is_one_trace(backend: Backend) {
    let receiver = Receiver::start().await;
    let downstream = Downstream::start().await;
    let authority = downstream.url.trim_start_matches("http://").to_string();
    // A hosted collector's key (`OTEL_EXPORTER_OTLP_HEADERS=x-api-key=…`).
    let telemetry = TelemetryConfig {
        trace_headers: vec![("x-api-key".into(), "key one".into())],
        ..exporting_to(&receiver.url)
    };
    let host = TestHost::start_with_telemetry(backend, &[&authority], telemetry).await;
    with_notes(&host).await;
    host.deploy_js("observe", "observe.ts").await;

    let resp = host
        .client
        .get(format!(
            "{}?target={}/x",
            host.function_url("observe"),
            downstream.url
        ))
        .header("traceparent", format!("00-{TRACE}-{PARENT}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let answer: Value = resp.json().await.unwrap();
    assert_eq!(
        answer["traceId"], TRACE,
        "the client's trace is the function's"
    );
    assert_eq!(answer["text"], "downstream ok");

    // The job runs later, in a trace of its own linked to the enqueue.
    let spans = receiver
        .wait_for(|spans| {
            spans
                .iter()
                .any(|s| s.kind == SpanKind::Consumer as i32 && s.end_time_unix_nano > 0)
                && spans
                    .iter()
                    .any(|s| s.name == "GET /api/pb_serverless/observe")
        })
        .await;
    let ours: Vec<Span> = spans
        .iter()
        .filter(|s| hex(&s.trace_id) == TRACE)
        .cloned()
        .collect();

    let server = one(&ours, "GET /api/pb_serverless/observe");
    assert_eq!(server.kind, SpanKind::Server as i32);
    assert_eq!(
        hex(&server.parent_span_id),
        PARENT,
        "the incoming traceparent is the parent"
    );
    assert_eq!(
        attr(server, "http.response.status_code").as_deref(),
        Some("200")
    );

    let invocation = one(&ours, "observe");
    assert_eq!(invocation.parent_span_id, server.span_id);
    assert_eq!(attr(invocation, "faas.trigger").as_deref(), Some("http"));
    assert_eq!(attr(invocation, "pb.outcome").as_deref(), Some("ok"));
    assert_eq!(attr(invocation, "pb.cost.kv_ops").as_deref(), Some("2"));
    assert_eq!(attr(invocation, "pb.cost.fetches").as_deref(), Some("1"));

    let kv_set = one(&ours, "pb.kv.set");
    assert_eq!(kv_set.parent_span_id, invocation.span_id);
    let list = one(&ours, "pb.data.get-list");
    assert_eq!(list.parent_span_id, invocation.span_id);
    assert_eq!(attr(list, "db.collection.name").as_deref(), Some("notes"));
    assert_eq!(attr(list, "pb.rows").as_deref(), Some("0"));

    let fetch = ours
        .iter()
        .find(|s| s.kind == SpanKind::Client as i32)
        .expect("a client span for the fetch");
    assert_eq!(fetch.name, "GET");
    assert_eq!(fetch.parent_span_id, invocation.span_id);
    assert_eq!(
        attr(fetch, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(
        downstream.traceparents(),
        vec![Some(format!("00-{TRACE}-{}-01", hex(&fetch.span_id)))],
        "the server called continues the trace from the fetch's span"
    );

    let user = one(&ours, "user-work");
    assert_eq!(user.parent_span_id, invocation.span_id);
    let get = one(&ours, "pb.kv.get");
    assert_eq!(
        get.parent_span_id, user.span_id,
        "calls nest in the user span"
    );

    let enqueue = one(&ours, "pb.jobs.enqueue");
    assert_eq!(enqueue.parent_span_id, invocation.span_id);
    let job = spans
        .iter()
        .find(|s| s.kind == SpanKind::Consumer as i32)
        .expect("the job's run");
    assert_eq!(job.name, "observe");
    assert_ne!(
        hex(&job.trace_id),
        TRACE,
        "a job's run is a trace of its own"
    );
    assert_eq!(attr(job, "pb.job.name").as_deref(), Some("observe_job"));
    assert_eq!(job.links.len(), 1, "{job:#?}");
    assert_eq!(hex(&job.links[0].trace_id), TRACE);
    assert_eq!(
        job.links[0].span_id, enqueue.span_id,
        "linked to the enqueue"
    );
    assert!(receiver.service_names().iter().any(|n| n.contains("pbs")));
    let keys = receiver.api_keys();
    assert!(
        !keys.is_empty() && keys.iter().all(|k| k.as_deref() == Some("key one")),
        "every export carries the configured header: {keys:?}"
    );
}

async fn usage_sums_a_known_workload(backend: Backend) {
    let host = TestHost::start(backend).await;
    with_notes(&host).await;
    host.deploy_js("counted", "observe.ts").await;
    for _ in 0..3 {
        let resp = host
            .client
            .post(host.function_url("counted"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        resp.text().await.unwrap();
    }
    // An invocation is counted when it ends, just after its answer.
    let mut usage = Value::Null;
    for _ in 0..100 {
        let (status, body) = host.admin_get("functions/counted/usage").await;
        assert_eq!(status, 200, "{body}");
        usage = body;
        if usage["total"]["invocations"] == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let total = &usage["total"];
    assert_eq!(usage["function"], "counted");
    assert_eq!(usage["hours"].as_array().map(Vec::len), Some(1), "{usage}");
    assert_eq!(usage["hours"][0]["invocations"], 3);
    assert_eq!(total["invocations"], 3, "{usage}");
    assert_eq!(total["errors"], 0);
    assert_eq!(total["kv_ops"], 9, "2 sets and a get, three times");
    assert_eq!(total["rows_written"], 3);
    assert_eq!(total["rows_read"], 3);
    assert_eq!(total["fetches"], 0);
    assert_eq!(total["job_ops"], 0);
    assert_eq!(total["file_ops"], 0);
    for positive in ["wall_us", "cpu_us", "memory_peak_max"] {
        assert!(total[positive].as_i64().unwrap() > 0, "{positive}: {usage}");
    }
    assert!(total["cpu_us"].as_i64() <= total["wall_us"].as_i64());

    // What was written survives the host (it is in the database).
    let host = host.restart().await;
    let (_, again) = host.admin_get("functions/counted/usage?hours=2").await;
    assert_eq!(again["total"], usage["total"]);
    let (status, _) = host.admin_get("functions/counted/usage?hours=0").await;
    assert_eq!(status, 400);
    let (status, _) = host.admin_get("functions/counted/usage?from=x").await;
    assert_eq!(status, 400);
}

on_both_backends!(a_request_is_one_trace, usage_sums_a_known_workload);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_is_down_costs_only_spans() {
    // A port nothing listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let host = TestHost::start_with_telemetry(Backend::Sqlite, &[], exporting_to(&closed)).await;
    host.deploy_js("observe", "observe.ts").await;
    for _ in 0..20 {
        let resp = host.get("observe").await;
        assert_eq!(resp.status(), 200);
        let answer: Value = resp.json().await.unwrap();
        assert_eq!(answer["traceId"].as_str().map(str::len), Some(32));
    }
    let mut dropped = 0.0;
    for _ in 0..100 {
        dropped = metric(&host, "pbs_spans_dropped_total").await;
        if dropped >= 40.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        dropped >= 40.0,
        "two spans per request counted as dropped: {dropped}"
    );
    assert_eq!(
        metric(
            &host,
            "pbs_http_requests_total{function=\"observe\",status=\"200\"}"
        )
        .await,
        20.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_prometheus_text_behind_the_token() {
    let host = TestHost::start(Backend::Sqlite).await;
    host.deploy_js("observe", "observe.ts").await;
    for _ in 0..3 {
        let resp = host.get("observe").await;
        assert_eq!(resp.status(), 200);
        resp.text().await.unwrap();
    }
    assert_eq!(host.get("nothing-here").await.status(), 404);
    let resp = host
        .client
        .get(host.url("/api/pb_serverless/_admin/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // Counted when each invocation ends.
    let mut n = 0.0;
    for _ in 0..50 {
        n = metric(
            &host,
            "pbs_http_requests_total{function=\"observe\",status=\"200\"}",
        )
        .await;
        if n == 3.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(n, 3.0);
    let label = "{function=\"observe\",status=\"200\"";
    assert_eq!(
        metric(
            &host,
            &format!("pbs_http_request_duration_seconds_count{label}}}")
        )
        .await,
        3.0
    );
    assert_eq!(
        metric(
            &host,
            &format!("pbs_http_request_duration_seconds_bucket{label},le=\"+Inf\"}}")
        )
        .await,
        3.0
    );
    assert_eq!(
        metric(
            &host,
            "pbs_invocations_total{function=\"observe\",outcome=\"ok\",trigger=\"http\"}"
        )
        .await,
        3.0
    );
    let mut live = 1.0;
    for _ in 0..50 {
        live = metric(&host, "pbs_instances_in_use").await;
        if live == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(live, 0.0, "no instance alive once the requests are over");
    assert_eq!(metric(&host, "pbs_spans_dropped_total").await, 0.0);
    // The instances' slots are idle now, and keep the JS heap their last
    // guest wrote resident for the next one: hundreds of KiB (how much
    // depends on the pages that guest dirtied; 983,040 bytes in one loaded
    // run, over 1 MiB in most).
    assert!(metric(&host, "pbs_pool_warm_slots{kind=\"memory\"}").await >= 1.0);
    assert!(metric(&host, "pbs_pool_warm_slots{kind=\"stack\"}").await >= 1.0);
    let resident = metric(&host, "pbs_pool_resident_bytes{kind=\"memory\"}").await;
    assert!(resident >= 256.0 * 1024.0, "{resident} bytes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_buffer_lists_and_streams_a_functions_lines() {
    let host = TestHost::start(Backend::Sqlite).await;
    host.deploy_js("observe", "observe.ts").await;
    // Each answer is read to its end: a client that goes away before
    // that stops the function (its invocation ends `cancelled`).
    let traced = |trace: String| {
        let req = host
            .client
            .get(host.function_url("observe"))
            .header("traceparent", format!("00-{trace}-{PARENT}-01"));
        async move {
            let resp = req.send().await.unwrap();
            let status = resp.status();
            resp.text().await.unwrap();
            status
        }
    };
    assert_eq!(traced(TRACE.into()).await, 200);

    let mut mine = Vec::new();
    for _ in 0..50 {
        mine = log_lines(&host, "function=observe").await;
        if mine.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let console = &mine[0];
    assert_eq!(console["level"], "info");
    assert_eq!(console["msg"], "Processing");
    assert_eq!(console["userId"], 1, "a field keeps its JSON type");
    assert_eq!(console["trace_id"], TRACE);
    assert_eq!(console["component"], "wasm");
    assert_eq!(console["function"], "observe");
    let closing = &mine[1];
    assert_eq!(closing["msg"], "invocation finished");
    assert_eq!(closing["component"], "host");
    assert_eq!(closing["outcome"], "ok");
    assert_eq!(closing["status"], 200);
    assert_eq!(closing["trigger"], "http");
    assert!(closing["wall_us"].as_u64().unwrap() > 0);
    assert_eq!(
        log_lines(&host, "function=observe&level=warn").await.len(),
        0
    );
    assert_eq!(
        log_lines(&host, "trace=0000000000000000000000000000abcd")
            .await
            .len(),
        0
    );
    assert_eq!(log_lines(&host, "function=observe&limit=1").await.len(), 1);
    let (status, _) = host.admin_get("logs?level=loud").await;
    assert_eq!(status, 400);

    // Following: the kept lines, then new ones as they come.
    let mut stream = host
        .client
        .get(host.url("/api/pb_serverless/_admin/logs?function=observe&follow=1&limit=1"))
        .bearer_auth(&host.token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        stream.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let second = "aaaabbbbccccddddeeeeffff00001111";
    let mut got = String::new();
    let mut requested = false;
    while !got.contains(&format!("\"trace_id\":\"{second}\"")) {
        let chunk = tokio::time::timeout(Duration::from_secs(20), stream.chunk())
            .await
            .expect("a line within 20 s")
            .unwrap()
            .expect("the stream goes on");
        got.push_str(&String::from_utf8_lossy(&chunk));
        if !requested && got.contains("data: ") {
            requested = true;
            assert_eq!(traced(second.into()).await, 200);
        }
    }
    assert!(got.contains(&format!(
        "data: {{\"level\":\"info\",\"msg\":\"Processing\",\"userId\":1,\"trace_id\":\"{second}\",\"component\":\"wasm\","
    )), "{got}");
}

async fn log_lines(host: &TestHost, query: &str) -> Vec<Value> {
    let (status, body) = host.admin_get(&format!("logs?{query}")).await;
    assert_eq!(status, 200, "{body}");
    body["items"].as_array().cloned().unwrap_or_default()
}

/// The lines a process writes, collected by a thread.
#[derive(Clone, Default)]
struct Lines(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl Lines {
    fn of(reader: impl std::io::Read + Send + 'static) -> Lines {
        let lines = Lines::default();
        let shared = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines() {
                let Ok(line) = line else { return };
                shared.0.lock().unwrap().push(line);
            }
        });
        lines
    }

    fn find(&self, found: impl Fn(&str) -> bool) -> Option<String> {
        self.0.lock().unwrap().iter().find(|l| found(l)).cloned()
    }

    /// The first line satisfying `found`, waiting up to 20 s for it.
    async fn wait_for(&self, found: impl Fn(&str) -> bool) -> String {
        for _ in 0..400 {
            if let Some(line) = self.find(&found) {
                return line;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no such line in:\n{}", self.0.lock().unwrap().join("\n"));
    }
}

struct Killed(std::process::Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_lines_and_pbs_logs_follow_as_processes() {
    let dir = tempfile::tempdir().unwrap();
    let token = "observability-admin-token";
    let mut serve = Command::new(pbs_bin())
        .args(["serve", "--addr", "127.0.0.1:0", "--log-format", "json"])
        .arg("--dir")
        .arg(dir.path())
        .env("PB_ADMIN_TOKEN", token)
        .env("PBS_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = serve.stdout.take().unwrap();
    let stderr = serve.stderr.take().unwrap();
    let _serve = Killed(serve);
    let banner = Lines::of(stdout)
        .wait_for(|l| l.contains("listening on"))
        .await;
    let base = banner
        .split("listening on ")
        .nth(1)
        .unwrap()
        .trim()
        .to_string();
    let logged = Lines::of(stderr);

    let client = pbs_tests::client();
    let deployed = client
        .put(format!("{base}/api/pb_serverless/_admin/functions/observe"))
        .bearer_auth(token)
        .body(pbs_tests::js::build("observe.ts").await)
        .send()
        .await
        .unwrap();
    assert_eq!(deployed.status(), 201);
    let url = format!("{base}/api/pb_serverless/observe");
    let resp = client
        .get(&url)
        .header("traceparent", format!("00-{TRACE}-{PARENT}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap();

    // The seed's example, exactly, then the common fields.
    let line = logged
        .wait_for(|l| l.contains("\"msg\":\"Processing\""))
        .await;
    let prefix = format!(
        "{{\"level\":\"info\",\"msg\":\"Processing\",\"userId\":1,\"trace_id\":\"{TRACE}\",\"component\":\"wasm\","
    );
    assert!(line.starts_with(&prefix), "{line}");
    let parsed: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(parsed["function"], "observe");
    assert_eq!(parsed["version"].as_str().map(str::len), Some(12));
    // Tracing is off here: no span, so no `span_id` (not an empty one).
    assert!(parsed.get("span_id").is_none(), "{line}");
    assert!(parsed["time"].as_str().unwrap().ends_with('Z'));
    // The line closing the invocation carries its outcome and cost.
    let closing = logged
        .wait_for(|l| l.contains("\"msg\":\"invocation finished\"") && l.contains(TRACE))
        .await;
    let c: Value = serde_json::from_str(&closing).unwrap();
    assert_eq!(c["level"], "info", "{closing}");
    assert_eq!(c["component"], "host");
    assert_eq!(c["target"], "pbs::invocation");
    assert_eq!(c["function"], "observe");
    assert_eq!(c["trigger"], "http");
    assert_eq!(c["outcome"], "ok");
    assert_eq!(c["status"], 200);
    assert_eq!(c["kv_ops"], 0);
    assert!(c["wall_us"].as_u64().unwrap() > 0);
    assert!(c["memory_peak_bytes"].as_u64().unwrap() > 0);

    // `pbs logs --follow` shows the console.log of a request made while
    // it follows.
    let mut follow = Command::new(pbs_bin())
        .args([
            "logs", "observe", "--follow", "-n", "1", "--server", &base, "--token", token,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let followed = follow.stdout.take().unwrap();
    let _follow = Killed(follow);
    let second = "aaaabbbbccccddddeeeeffff00001111";
    let shown = Lines::of(followed);
    let wanted = |l: &str| l.contains("Processing userId=1") && l.contains(second);
    // Requests until the follower has connected and shows one.
    let mut printed = None;
    for _ in 0..40 {
        let resp = client
            .get(&url)
            .header("traceparent", format!("00-{second}-{PARENT}-01"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        if let Some(line) = shown.find(wanted) {
            printed = Some(line);
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let printed = printed.expect("pbs logs --follow printed the request's console.log");
    assert!(
        printed.contains(" INFO observe Processing userId=1"),
        "{printed}"
    );
}
