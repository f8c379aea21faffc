//! `pb:data` from a TypeScript function (`tests/js/src/records.ts`, which
//! calls `pb.collection(…)`), on SQLite and PostgreSQL: CRUD with typed
//! errors, and vector search — order, scores, filters, `top`, and the typed
//! `invalid` errors.

use crate::records::{create_collection, create_record};
use pbs_tests::{js, on_both_backends, Backend, TestHost};
use serde_json::{json, Value};

/// A deployed `records.ts`.
struct Records<'a> {
    host: &'a TestHost,
}

impl<'a> Records<'a> {
    async fn deploy(host: &'a TestHost) -> Records<'a> {
        let resp = host.deploy("records", js::build("records.ts").await).await;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, 201, "deploy records.ts: {body}");
        Records { host }
    }

    async fn ok(&self, request: Value) -> Value {
        self.host.call_ok("records", request).await
    }

    /// A call that must reject with `PbError` code `code`: its message.
    async fn fails(&self, request: Value, code: &str) -> String {
        let error = &self.host.call_fails("records", request.clone(), code).await;
        // As the pocketbase SDK's errors: the records API's status.
        let status = match code {
            "not-found" => 404,
            "invalid" | "conflict" => 400,
            _ => 0,
        };
        if status != 0 {
            assert_eq!(error["status"], status, "{request}: {error}");
        }
        error["message"].as_str().unwrap().to_string()
    }
}

async fn records_from_js(backend: Backend) {
    let host = TestHost::start(backend).await;
    // No rules at all: functions act with full rights regardless.
    create_collection(
        &host,
        json!({"name": "tasks", "fields": [
            {"name": "title", "type": "text", "required": true},
            {"name": "slug", "type": "text", "unique": true},
            {"name": "n", "type": "number"},
        ]}),
    )
    .await;
    let r = Records::deploy(&host).await;
    let created = r
        .ok(json!({"op": "create", "collection": "tasks", "data": {"title": "one", "n": 1}}))
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["collectionName"], "tasks");
    assert_eq!(created["title"], "one");
    for i in 2..=5 {
        r.ok(json!({"op": "create", "collection": "tasks", "data": {"title": format!("t{i}"), "n": i}})).await;
    }
    let got = r
        .ok(json!({"op": "getOne", "collection": "tasks", "id": id}))
        .await;
    assert_eq!(got, created);
    let got = r
        .ok(json!({"op": "getOne", "collection": "tasks", "id": id, "options": {"fields": "id,n"}}))
        .await;
    assert_eq!(got, json!({"id": id, "n": 1}));

    let page = r
        .ok(
            json!({"op": "getList", "collection": "tasks", "page": 1, "perPage": 2,
        "options": {"sort": "-n", "filter": "n >= 2"}}),
        )
        .await;
    assert_eq!(page["page"], 1);
    assert_eq!(page["perPage"], 2);
    assert_eq!(page["totalItems"], 4);
    assert_eq!(page["totalPages"], 2);
    let ns: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["n"].as_i64().unwrap())
        .collect();
    assert_eq!(ns, [5, 4]);
    let page = r
        .ok(
            json!({"op": "getList", "collection": "tasks", "page": 1, "perPage": 10,
        "options": {"skipTotal": true, "fields": "title"}}),
        )
        .await;
    assert_eq!(
        (page["totalItems"].clone(), page["totalPages"].clone()),
        (json!(-1), json!(-1))
    );
    assert_eq!(page["items"][0], json!({"title": "one"}));
    let all = r.ok(json!({"op": "getFullList", "collection": "tasks", "options": {"sort": "n", "batch": 2}})).await;
    assert_eq!(all.as_array().unwrap().len(), 5);
    let first = r
        .ok(json!({"op": "getFirstListItem", "collection": "tasks", "filter": "n > 3"}))
        .await;
    assert_eq!(first["n"], 4);

    let updated = r.ok(json!({"op": "update", "collection": "tasks", "id": id, "data": {"n": 10, "slug": "s"}})).await;
    assert_eq!(
        (updated["n"].clone(), updated["title"].clone()),
        (json!(10), json!("one"))
    );
    assert_eq!(
        r.ok(json!({"op": "delete", "collection": "tasks", "id": id}))
            .await,
        true
    );

    // Typed errors.
    r.fails(
        json!({"op": "getOne", "collection": "tasks", "id": id}),
        "not-found",
    )
    .await;
    r.fails(
        json!({"op": "getOne", "collection": "nope", "id": id}),
        "not-found",
    )
    .await;
    r.fails(
        json!({"op": "getFirstListItem", "collection": "tasks", "filter": "n > 100"}),
        "not-found",
    )
    .await;
    r.fails(
        json!({"op": "delete", "collection": "tasks", "id": id}),
        "not-found",
    )
    .await;
    let m = r
        .fails(
            json!({"op": "create", "collection": "tasks", "data": {"n": 1}}),
            "invalid",
        )
        .await;
    assert!(
        m.contains("title") && m.contains("validation_required"),
        "{m}"
    );
    r.ok(json!({"op": "create", "collection": "tasks", "data": {"title": "x", "slug": "dup"}}))
        .await;
    let m = r
        .fails(
            json!({"op": "create", "collection": "tasks", "data": {"title": "y", "slug": "dup"}}),
            "conflict",
        )
        .await;
    assert!(m.contains("slug"), "{m}");
    let m = r
        .fails(
            json!({"op": "getList", "collection": "tasks", "page": 1, "perPage": 5,
        "options": {"filter": "n >"}}),
            "invalid",
        )
        .await;
    assert!(m.contains("position"), "{m}");
    r.fails(
        json!({"op": "getList", "collection": "tasks", "page": 1, "perPage": 5,
        "options": {"sort": "nope"}}),
        "invalid",
    )
    .await;
}

/// `docs`: 3-dim embeddings around three directions, one category each.
async fn vector_fixture(host: &TestHost) -> Vec<(String, [f32; 3], &'static str)> {
    create_collection(
        host,
        json!({"name": "docs", "fields": [
            {"name": "title", "type": "text"},
            {"name": "category", "type": "select", "values": ["x", "y"]},
            {"name": "embedding", "type": "vector", "dimensions": 3},
        ]}),
    )
    .await;
    let vectors: [([f32; 3], &str); 7] = [
        ([1.0, 0.0, 0.0], "x"),
        ([0.9, 0.1, 0.0], "y"),
        ([0.7, 0.7, 0.0], "x"),
        ([0.0, 1.0, 0.0], "y"),
        ([0.0, 0.0, 1.0], "x"),
        ([-1.0, 0.0, 0.0], "y"),
        ([0.5, 0.0, 0.5], "x"),
    ];
    let mut out = Vec::new();
    for (i, (v, cat)) in vectors.iter().enumerate() {
        let r = create_record(
            host,
            "docs",
            json!({"title": format!("d{i}"), "category": cat, "embedding": v}),
        )
        .await;
        let stored: Vec<f64> = r["embedding"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let sent: Vec<f64> = v.iter().map(|x| x.to_string().parse().unwrap()).collect();
        assert_eq!(stored, sent, "vectors come back as stored");
        out.push((r["id"].as_str().unwrap().to_string(), *v, *cat));
    }
    // One record without an embedding: never a result.
    create_record(host, "docs", json!({"title": "none", "category": "x"})).await;
    out
}

fn cosine(a: &[f32; 3], b: &[f32; 3]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x * y)).sum();
    let na: f64 = a.iter().map(|x| f64::from(x * x)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(x * x)).sum::<f64>().sqrt();
    dot / (na * nb)
}

async fn vector_search(backend: Backend) {
    let host = TestHost::start(backend).await;
    let docs = vector_fixture(&host).await;
    let r = Records::deploy(&host).await;
    let query = [1.0f32, 0.2, 0.0];
    let search = |filter: Value, top: u32| {
        let r = &r;
        async move {
            r.ok(json!({"op": "vectorSearch", "collection": "docs",
                "query": {"field": "embedding", "vector": query, "filter": filter, "top": top}}))
                .await
        }
    };

    // Every record, best first, with its cosine similarity.
    let found = search(Value::Null, 100).await;
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 7, "the record without a vector is left out");
    let mut expected: Vec<(String, f64)> = docs
        .iter()
        .map(|(id, v, _)| (id.clone(), cosine(&query, v)))
        .collect();
    expected.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap());
    for (got, (id, score)) in found.iter().zip(&expected) {
        assert_eq!(got["record"]["id"], id.as_str(), "{found:?}");
        let s = got["score"].as_f64().unwrap();
        assert!((s - score).abs() < 1e-3, "{id}: {s} vs {score}");
        assert_eq!(got["record"]["collectionName"], "docs");
    }
    assert!(
        found[6]["score"].as_f64().unwrap() < -0.9,
        "opposite direction last"
    );

    // top.
    let top2 = search(Value::Null, 2).await;
    let ids: Vec<&str> = top2
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["record"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [expected[0].0.as_str(), expected[1].0.as_str()]);

    // A filter applies before ranking.
    let only_x = search(json!("category = 'x'"), 3).await;
    let only_x = only_x.as_array().unwrap();
    assert_eq!(only_x.len(), 3);
    let x_ranked: Vec<&String> = expected
        .iter()
        .filter(|(id, _)| docs.iter().any(|(d, _, c)| d == id && *c == "x"))
        .map(|(id, _)| id)
        .take(3)
        .collect();
    for (got, id) in only_x.iter().zip(x_ranked) {
        assert_eq!(got["record"]["id"], id.as_str());
        assert_eq!(got["record"]["category"], "x");
    }
    let none = search(json!("title = 'nothing'"), 5).await;
    assert_eq!(none, json!([]));

    // Typed errors: all `invalid`, except an unknown collection.
    let bad = |query: Value, code: &'static str| {
        let r = &r;
        async move {
            r.fails(
                json!({"op": "vectorSearch", "collection": "docs", "query": query}),
                code,
            )
            .await
        }
    };
    let m = bad(
        json!({"field": "embedding", "vector": [1, 0], "top": 3}),
        "invalid",
    )
    .await;
    assert!(m.contains("dimensions"), "{m}");
    let m = bad(
        json!({"field": "embedding", "vector": [1, "NaN", 0], "top": 3}),
        "invalid",
    )
    .await;
    assert!(m.contains("NaN"), "{m}");
    bad(
        json!({"field": "embedding", "vector": [1, "Infinity", 0], "top": 3}),
        "invalid",
    )
    .await;
    bad(
        json!({"field": "embedding", "vector": [0, 0, 0], "top": 3}),
        "invalid",
    )
    .await;
    let m = bad(
        json!({"field": "nope", "vector": [1, 0, 0], "top": 3}),
        "invalid",
    )
    .await;
    assert!(m.contains("nope"), "{m}");
    let m = bad(
        json!({"field": "title", "vector": [1, 0, 0], "top": 3}),
        "invalid",
    )
    .await;
    assert!(m.contains("not a vector"), "{m}");
    bad(
        json!({"field": "embedding", "vector": [1, 0, 0], "top": 1001}),
        "invalid",
    )
    .await;
    bad(
        json!({"field": "embedding", "vector": [1, 0, 0], "top": 0}),
        "invalid",
    )
    .await;
    let m = bad(
        json!({"field": "embedding", "vector": [1, 0, 0], "top": 3, "filter": "category ="}),
        "invalid",
    )
    .await;
    assert!(m.contains("position"), "{m}");
    r.fails(
        json!({"op": "vectorSearch", "collection": "nope",
        "query": {"field": "embedding", "vector": [1, 0, 0], "top": 3}}),
        "not-found",
    )
    .await;

    // Through the REST API a vector must have the field's dimension.
    let (s, body) = crate::records::call(
        &host,
        reqwest::Method::POST,
        "/api/collections/docs/records",
        Some(json!({"embedding": [1, 2]})),
        true,
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        body["data"]["embedding"]["code"],
        "validation_invalid_vector"
    );
}

/// Many vectors with 384 dimensions: the index path on PostgreSQL (HNSW),
/// the scan on SQLite, and both agree on the nearest one.
async fn vector_search_at_384_dimensions(backend: Backend) {
    let host = TestHost::start(backend).await;
    create_collection(
        &host,
        json!({"name": "emb", "fields": [
            {"name": "k", "type": "number"},
            {"name": "v", "type": "vector", "dimensions": 384},
        ]}),
    )
    .await;
    let vec_of = |seed: u32| -> Vec<f32> {
        (0..384u32)
            .map(|i| (((seed * 7919 + i * 104_729) % 1000) as f32 / 500.0) - 1.0)
            .collect()
    };
    for seed in 0..60u32 {
        create_record(&host, "emb", json!({"k": seed % 3, "v": vec_of(seed)})).await;
    }
    let r = Records::deploy(&host).await;
    let target = vec_of(42);
    let found = r
        .ok(json!({"op": "vectorSearch", "collection": "emb",
        "query": {"field": "v", "vector": target, "top": 5}}))
        .await;
    let best = &found[0];
    assert!(
        (best["score"].as_f64().unwrap() - 1.0).abs() < 1e-4,
        "{best}"
    );
    assert_eq!(best["record"]["k"], 0);
    let filtered = r
        .ok(json!({"op": "vectorSearch", "collection": "emb",
        "query": {"field": "v", "vector": target, "top": 5, "filter": "k = 1"}}))
        .await;
    let filtered = filtered.as_array().unwrap();
    assert_eq!(filtered.len(), 5);
    assert!(filtered.iter().all(|f| f["record"]["k"] == 1));
    let scores: Vec<f64> = filtered
        .iter()
        .map(|f| f["score"].as_f64().unwrap())
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
}

on_both_backends!(
    records_from_js,
    vector_search,
    vector_search_at_384_dimensions
);
