//! A component that imports every pb:* interface deploys and runs; the
//! capabilities not implemented yet answer with the typed `unavailable`
//! error (never a trap); pb:trace, pb:kv and pb:secrets work, and pb:data
//! answers (its collection `posts` does not exist: `not-found`).

use pbs_tests::{guests, on_both_backends, Backend, TestHost};

/// pb:data calls on a collection that does not exist.
const NOT_FOUND: &[&str] = &[
    "pb:data/records.get-one",
    "pb:data/records.get-list",
    "pb:data/records.get-first-list-item",
    "pb:data/records.create",
    "pb:data/records.update",
    "pb:data/records.delete",
    "pb:data/records.vector-search",
    // Read before the save: no such file yet.
    "pb:files/storage.read",
];

const UNAVAILABLE: &[&str] = &[];

const WORKING: &[&str] = &[
    "pb:data/records.begin",
    "pb:data/records.transaction.commit",
    "pb:kv/store.open",
    "pb:kv/store.bucket.set",
    "pb:kv/store.bucket.get",
    "pb:files/storage.save",
    "pb:files/storage.delete",
    "pb:files/storage.list",
    "pb:jobs/queue.status",
    "pb:secrets/store.get",
    "pb:trace/tracing.log",
    "pb:trace/tracing.span",
    "pb:trace/tracing.trace-id",
];

async fn every_pb_import_answers(backend: Backend) {
    let host = TestHost::start(backend).await;
    host.deploy_ok("imports", guests::PB_IMPORTS).await;
    let resp = host.get("imports").await;
    assert_eq!(resp.status(), 200);
    let report = resp.text().await.unwrap();
    let outcome = |name: &str| {
        report
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no outcome for {name} in:\n{report}"))
            .to_string()
    };
    for name in UNAVAILABLE {
        let o = outcome(name);
        assert!(
            o.contains("Unavailable(") && o.contains("not available on this host yet"),
            "{name}: {o}"
        );
    }
    for name in NOT_FOUND {
        let o = outcome(name);
        assert!(o.contains("NotFound("), "{name}: {o}");
    }
    for name in WORKING {
        assert_eq!(outcome(name), "ok", "{name}");
    }
    // pb:jobs works, and refuses a job this component cannot run.
    let o = outcome("pb:jobs/queue.enqueue");
    assert!(
        o.contains("Invalid(") && o.contains("does not export `pb:serverless/job-handler`"),
        "{o}"
    );
}

on_both_backends!(every_pb_import_answers);
