//! Calls every pb:* import once and answers with one line per call:
//! `<interface>.<function> <outcome>`, where the outcome is `ok` or the
//! typed error's case and message. Proves that capabilities a host does not
//! implement yet answer with a typed error and never trap. It also prints
//! to stdout and stderr (`?flood`: a megabyte), which the host logs, and
//! the secret `OPENAI_API_KEY` when it is set (the host redacts it).

wit_bindgen::generate!({
    path: "../../../wit",
    world: "pb:serverless/http-function@0.1.0",
    generate_all,
});

#[path = "../../common/http.rs"]
mod http;

use exports::wasi::http::incoming_handler::Guest;
use pb::data::records;
use pb::data::types::{ListOptions, VectorQuery};
use pb::files::storage;
use pb::jobs::queue;
use pb::kv::store as kv;
use pb::secrets::store as secrets;
use pb::trace::tracing;
use wasi::http::types::{IncomingRequest, ResponseOutparam};

struct Imports;

fn outcome<T, E: core::fmt::Debug>(r: Result<T, E>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => format!("{e:?}"),
    }
}

impl Guest for Imports {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        // Output becomes host log lines; `?flood` tries to drown the log.
        println!("hello from stdout");
        eprintln!("hello from stderr");
        if request.path_with_query().unwrap_or_default().contains("flood") {
            let line = "x".repeat(1000);
            for _ in 0..1000 {
                println!("{line}");
            }
        }
        let mut lines: Vec<String> = Vec::new();
        let mut report = |name: &str, result: String| lines.push(format!("{name} {result}"));

        let options = ListOptions {
            filter: None,
            sort: None,
            page: None,
            per_page: None,
            fields: None,
            skip_total: false,
        };
        let query = VectorQuery {
            field: "embedding".into(),
            vector: vec![0.1, 0.2],
            filter: None,
            top: 3,
        };
        report("pb:data/records.get-one", outcome(records::get_one("posts", "abc")));
        report("pb:data/records.get-list", outcome(records::get_list("posts", &options)));
        report(
            "pb:data/records.get-first-list-item",
            outcome(records::get_first_list_item("posts", "title = 'x'")),
        );
        report("pb:data/records.create", outcome(records::create("posts", "{}")));
        report("pb:data/records.update", outcome(records::update("posts", "abc", "{}")));
        report("pb:data/records.delete", outcome(records::delete("posts", "abc")));
        report("pb:data/records.vector-search", outcome(records::vector_search("posts", &query)));
        match records::begin() {
            Ok(tx) => {
                report("pb:data/records.begin", "ok".into());
                report("pb:data/records.transaction.commit", outcome(tx.commit()));
            }
            Err(e) => report("pb:data/records.begin", format!("{e:?}")),
        }

        match kv::open(None) {
            Ok(bucket) => {
                report("pb:kv/store.open", "ok".into());
                report("pb:kv/store.bucket.set", outcome(bucket.set("k", b"v", None)));
                report(
                    "pb:kv/store.bucket.get",
                    match bucket.get("k") {
                        Ok(Some(v)) if v == b"v" => "ok".into(),
                        other => format!("{other:?}"),
                    },
                );
            }
            Err(e) => report("pb:kv/store.open", format!("{e:?}")),
        }

        report("pb:files/storage.read", outcome(storage::read("posts", "abc", "a.txt")));
        report("pb:files/storage.save", outcome(storage::save("posts", "abc", "a.txt", b"hi")));
        report("pb:files/storage.delete", outcome(storage::delete("posts", "abc", "a.txt")));
        report("pb:files/storage.list", outcome(storage::list("posts", "abc")));

        let job_options = queue::EnqueueOptions {
            delay_ms: None,
            max_attempts: None,
            dedupe_key: None,
            priority: None,
        };
        report("pb:jobs/queue.enqueue", outcome(queue::enqueue("work", "{}", &job_options)));
        report("pb:jobs/queue.status", outcome(queue::status("job-1")));

        let secret = secrets::get("OPENAI_API_KEY");
        if let Ok(Some(value)) = &secret {
            // The host redacts the value from this log line.
            println!("OPENAI_API_KEY is {value}");
        }
        report("pb:secrets/store.get", outcome(secret));

        let field = tracing::Field {
            key: "k".into(),
            value: "v".into(),
        };
        tracing::log(tracing::Level::Info, "hello from pb_imports", std::slice::from_ref(&field));
        report("pb:trace/tracing.log", "ok".into());
        let span = tracing::Span::new("work", &[field]);
        span.set_attribute("step", "1");
        span.record_error("nothing really");
        span.end();
        report("pb:trace/tracing.span", "ok".into());
        let id = tracing::trace_id();
        report(
            "pb:trace/tracing.trace-id",
            if id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                "ok".into()
            } else {
                format!("bad trace id {id:?}")
            },
        );

        let body = lines.join("\n") + "\n";
        http::respond(out, 200, &[("content-type", "text/plain")], body.as_bytes());
    }
}

export!(Imports);
