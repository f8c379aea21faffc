//! The records REST API, PocketBase-compatible, on SQLite and PostgreSQL:
//! CRUD, pages, sort, fields, skipTotal, filters, error shapes, unique and
//! required fields, access rules — and the real `pocketbase` npm SDK run by
//! node against a host (`tests/js/pocketbase_sdk.mjs`).

use pbs_tests::{on_both_backends, Backend, TestHost};
use reqwest::Method;
use serde_json::{json, Value};

/// One request to the host: `admin` sends the admin token. Returns the
/// status and the JSON body (null when empty).
pub async fn call(
    host: &TestHost,
    method: Method,
    path: &str,
    body: Option<Value>,
    admin: bool,
) -> (u16, Value) {
    let mut req = host.client.request(method.clone(), host.url(path));
    if admin {
        req = req.bearer_auth(&host.token);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"))
    };
    (status, value)
}

/// Admin request that must answer `status`.
pub async fn admin(
    host: &TestHost,
    method: Method,
    path: &str,
    body: Option<Value>,
    status: u16,
) -> Value {
    let (s, v) = call(host, method.clone(), path, body, true).await;
    assert_eq!(s, status, "{method} {path}: {v}");
    v
}

/// Creates a collection through the admin API.
pub async fn create_collection(host: &TestHost, def: Value) -> Value {
    admin(host, Method::POST, "/api/collections", Some(def), 200).await
}

/// Creates a record as admin; returns it.
pub async fn create_record(host: &TestHost, collection: &str, record: Value) -> Value {
    admin(
        host,
        Method::POST,
        &format!("/api/collections/{collection}/records"),
        Some(record),
        200,
    )
    .await
}

/// Asserts PocketBase's error shape and returns its `data`.
pub fn error_data(body: &Value, status: u16) -> Value {
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(body["data"].is_object(), "{body}");
    body["data"].clone()
}

fn posts() -> Value {
    json!({
        "name": "posts",
        "fields": [
            {"name": "title", "type": "text", "required": true, "max": 100},
            {"name": "slug", "type": "text", "unique": true},
            {"name": "views", "type": "number"},
            {"name": "done", "type": "bool"},
            {"name": "tags", "type": "select", "values": ["a", "b", "c"], "maxSelect": 3},
            {"name": "status", "type": "select", "values": ["draft", "published"]},
            {"name": "meta", "type": "json"},
            {"name": "published", "type": "date"},
        ],
        "listRule": "", "viewRule": "", "createRule": "", "updateRule": "", "deleteRule": "",
    })
}

async fn crud(backend: Backend) {
    let host = TestHost::start(backend).await;
    let c = create_collection(&host, posts()).await;
    let collection_id = c["id"].as_str().unwrap().to_string();

    let (s, created) = call(
        &host,
        Method::POST,
        "/api/collections/posts/records",
        Some(
            json!({"title": "Hello", "views": 3, "done": true, "tags": ["b", "a"],
                    "status": "draft", "meta": {"k": [1, 2]}, "published": "2024-05-06T07:08:09Z"}),
        ),
        false,
    )
    .await;
    assert_eq!(s, 200, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 15);
    assert!(id
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
    assert_eq!(created["collectionId"], collection_id.as_str());
    assert_eq!(created["collectionName"], "posts");
    assert_eq!(created["title"], "Hello");
    assert_eq!(created["slug"], "");
    assert_eq!(created["views"], 3);
    assert_eq!(created["done"], true);
    assert_eq!(created["tags"], json!(["b", "a"]));
    assert_eq!(created["meta"], json!({"k": [1, 2]}));
    assert_eq!(created["published"], "2024-05-06 07:08:09.000Z");
    let stamp = created["created"].as_str().unwrap();
    assert_eq!(stamp.len(), 24, "{stamp}");
    assert!(stamp.ends_with('Z') && &stamp[10..11] == " ", "{stamp}");
    assert_eq!(created["created"], created["updated"]);

    let path = format!("/api/collections/posts/records/{id}");
    let (s, got) = call(&host, Method::GET, &path, None, false).await;
    assert_eq!((s, &got), (200, &created));
    // By collection id too, as PocketBase allows.
    let (s, _) = call(
        &host,
        Method::GET,
        &format!("/api/collections/{collection_id}/records/{id}"),
        None,
        false,
    )
    .await;
    assert_eq!(s, 200);

    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let (s, updated) = call(
        &host,
        Method::PATCH,
        &path,
        Some(json!({"views": "4", "meta": null})),
        false,
    )
    .await;
    assert_eq!(s, 200, "{updated}");
    assert_eq!(updated["views"], 4);
    assert_eq!(updated["meta"], Value::Null);
    assert_eq!(updated["title"], "Hello");
    assert_eq!(updated["created"], created["created"]);
    assert!(updated["updated"].as_str() > created["updated"].as_str());

    // A given id.
    let given = create_record(
        &host,
        "posts",
        json!({"id": "abcdefghij12345", "title": "x"}),
    )
    .await;
    assert_eq!(given["id"], "abcdefghij12345");
    let (s, body) = call(
        &host,
        Method::POST,
        "/api/collections/posts/records",
        Some(json!({"id": "abcdefghij12345", "title": "again"})),
        true,
    )
    .await;
    assert_eq!(
        error_data(&body, 400)["id"]["code"],
        "validation_not_unique",
        "{s} {body}"
    );
    let (s, body) = call(
        &host,
        Method::POST,
        "/api/collections/posts/records",
        Some(json!({"id": "BAD", "title": "x"})),
        true,
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        error_data(&body, 400)["id"]["code"],
        "validation_invalid_id"
    );

    let (s, body) = call(&host, Method::DELETE, &path, None, false).await;
    assert_eq!((s, body), (204, Value::Null));
    let (s, body) = call(&host, Method::GET, &path, None, false).await;
    assert_eq!(s, 404);
    error_data(&body, 404);
    let (s, _) = call(&host, Method::DELETE, &path, None, false).await;
    assert_eq!(s, 404);
    let (s, body) = call(
        &host,
        Method::GET,
        "/api/collections/nope/records",
        None,
        false,
    )
    .await;
    assert_eq!(s, 404);
    error_data(&body, 404);
    let (s, _) = call(
        &host,
        Method::GET,
        "/api/collections/posts/records/short",
        None,
        false,
    )
    .await;
    assert_eq!(s, 404);
}

async fn validation_errors(backend: Backend) {
    let host = TestHost::start(backend).await;
    create_collection(&host, posts()).await;
    let url = "/api/collections/posts/records";
    // Required.
    let (s, body) = call(&host, Method::POST, url, Some(json!({"views": 1})), false).await;
    assert_eq!(s, 400);
    assert_eq!(body["message"], "Failed to create record.");
    assert_eq!(
        error_data(&body, 400)["title"],
        json!({"code": "validation_required", "message": "Cannot be blank."})
    );
    // Several fields at once, each with its code.
    let (s, body) = call(&host, Method::POST, url,
        Some(json!({"title": "x".repeat(101), "views": "many", "tags": ["z"], "published": "soon", "done": "maybe"})), false).await;
    assert_eq!(s, 400);
    let data = error_data(&body, 400);
    assert_eq!(
        data["title"]["code"], "validation_max_text_constraint",
        "{data}"
    );
    assert_eq!(data["views"]["code"], "validation_not_a_number", "{data}");
    assert_eq!(data["tags"]["code"], "validation_invalid_value", "{data}");
    assert_eq!(
        data["published"]["code"], "validation_invalid_date",
        "{data}"
    );
    assert_eq!(data["done"]["code"], "validation_invalid_value", "{data}");
    // Unique: empty values never conflict, equal ones do (create and update).
    create_record(&host, "posts", json!({"title": "a"})).await;
    create_record(&host, "posts", json!({"title": "b"})).await;
    let first = create_record(&host, "posts", json!({"title": "c", "slug": "hello"})).await;
    let (s, body) = call(
        &host,
        Method::POST,
        url,
        Some(json!({"title": "d", "slug": "hello"})),
        false,
    )
    .await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(
        error_data(&body, 400)["slug"],
        json!({"code": "validation_not_unique", "message": "Value must be unique."})
    );
    let other = create_record(&host, "posts", json!({"title": "e", "slug": "other"})).await;
    let (s, body) = call(
        &host,
        Method::PATCH,
        &format!("{url}/{}", other["id"].as_str().unwrap()),
        Some(json!({"slug": "hello"})),
        false,
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        error_data(&body, 400)["slug"]["code"],
        "validation_not_unique"
    );
    // Clearing a required field on update.
    let (s, body) = call(
        &host,
        Method::PATCH,
        &format!("{url}/{}", first["id"].as_str().unwrap()),
        Some(json!({"title": ""})),
        false,
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        error_data(&body, 400)["title"]["code"],
        "validation_required"
    );
    // Bodies that are not records.
    let resp = host
        .client
        .post(host.url(url))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let (s, _) = call(&host, Method::POST, url, Some(json!([1, 2])), false).await;
    assert_eq!(s, 400);
    // An url-encoded form works too.
    let resp = host
        .client
        .post(host.url(url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("title=formed&views=7&tags=a&tags=c")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let r: Value = resp.json().await.unwrap();
    assert_eq!(
        (r["title"].clone(), r["views"].clone(), r["tags"].clone()),
        (json!("formed"), json!(7), json!(["a", "c"]))
    );
}

async fn pages_sort_fields_and_filters(backend: Backend) {
    let host = TestHost::start(backend).await;
    create_collection(&host, posts()).await;
    for i in 0..25 {
        let status = if i % 2 == 0 { "published" } else { "draft" };
        let tags: Vec<&str> = if i % 3 == 0 {
            vec!["a", "b"]
        } else {
            vec!["c"]
        };
        create_record(
            &host,
            "posts",
            json!({"title": format!("post {i:02}"), "views": i, "status": status,
            "tags": tags, "meta": {"n": i, "kind": if i < 5 { "small" } else { "big" }},
            "published": format!("2024-01-{:02} 10:00:00.000Z", i + 1), "done": i % 5 == 0}),
        )
        .await;
    }
    let list = |q: &str| {
        let path = format!("/api/collections/posts/records{q}");
        let host = &host;
        async move { admin(host, Method::GET, &path, None, 200).await }
    };
    let views = |page: &Value| -> Vec<i64> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["views"].as_i64().unwrap())
            .collect()
    };

    let page = list("").await;
    assert_eq!(
        (
            page["page"].clone(),
            page["perPage"].clone(),
            page["totalItems"].clone(),
            page["totalPages"].clone()
        ),
        (json!(1), json!(30), json!(25), json!(1))
    );
    let mut all = views(&page);
    all.sort();
    assert_eq!(all, (0..25).collect::<Vec<_>>());

    let page = list("?page=2&perPage=10&sort=-views").await;
    assert_eq!(
        (
            page["page"].clone(),
            page["perPage"].clone(),
            page["totalItems"].clone(),
            page["totalPages"].clone()
        ),
        (json!(2), json!(10), json!(25), json!(3))
    );
    assert_eq!(views(&page), (5..15).rev().collect::<Vec<_>>());
    let page = list("?page=3&perPage=10&sort=-views").await;
    assert_eq!(views(&page), (0..5).rev().collect::<Vec<_>>());
    let page = list("?page=9&perPage=10").await;
    assert_eq!(views(&page), Vec::<i64>::new());

    // Several sort keys, `+`.
    let page = list("?sort=status,+views&perPage=3").await;
    assert_eq!(views(&page), vec![1, 3, 5]);
    let page = list("?sort=-status,-views&perPage=3").await;
    assert_eq!(views(&page), vec![24, 22, 20]);
    let page = list("?sort=@random&perPage=100").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 25);
    let (s, body) = call(
        &host,
        Method::GET,
        "/api/collections/posts/records?sort=nope",
        None,
        true,
    )
    .await;
    assert_eq!(s, 400, "{body}");

    // skipTotal.
    let page = list("?perPage=5&skipTotal=true").await;
    assert_eq!(
        (page["totalItems"].clone(), page["totalPages"].clone()),
        (json!(-1), json!(-1))
    );
    assert_eq!(views(&page).len(), 5);

    // fields.
    let page = list("?perPage=2&fields=id,views").await;
    for item in page["items"].as_array().unwrap() {
        let mut keys: Vec<&String> = item.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["id", "views"], "{item}");
    }
    // Sorted by `views` (post NN has NN views): records created in the same
    // millisecond have no order by `created`.
    let page = list("?perPage=1&sort=views&fields=*,title:excerpt(4,true)").await;
    assert_eq!(page["items"][0]["title"], "post...");
    assert!(page["items"][0]["meta"].is_object());
    let one = admin(
        &host,
        Method::GET,
        &format!(
            "/api/collections/posts/records/{}?fields=title",
            page["items"][0]["id"].as_str().unwrap()
        ),
        None,
        200,
    )
    .await;
    assert_eq!(one, json!({"title": "post 00"}));

    // Filters.
    let count = |filter: &str| {
        let q = format!("?perPage=100&filter={}", urlencode(filter));
        let list = &list;
        async move { list(&q).await["totalItems"].as_i64().unwrap() }
    };
    assert_eq!(count("views > 20").await, 4);
    assert_eq!(count("views >= 10 && views < 20").await, 10);
    assert_eq!(
        count("(views < 2 || views > 22) && status = 'published'").await,
        2
    );
    assert_eq!(count("title ~ 'post 1'").await, 10);
    assert_eq!(count("title !~ 'post 1'").await, 15);
    assert_eq!(count("status != \"draft\"").await, 13);
    assert_eq!(count("done = true").await, 5);
    assert_eq!(count("tags ?= 'a'").await, 9);
    assert_eq!(count("meta.kind = 'small'").await, 5);
    assert_eq!(count("meta.n > 22").await, 2);
    assert_eq!(count("published >= '2024-01-20 00:00:00.000Z'").await, 6);
    assert_eq!(count("created <= @now").await, 25);
    assert_eq!(count("slug = ''").await, 25);
    assert_eq!(count("slug = null").await, 25);
    let page = list(&format!(
        "?filter={}&sort=-views&perPage=2",
        urlencode("views < 10")
    ))
    .await;
    assert_eq!(views(&page), vec![9, 8]);
    assert_eq!(page["totalItems"], 10);

    // A bad filter: 400 with the position.
    for (filter, pos) in [("views >", 7), ("nope = 1", 0), ("views = 1 && (", 14)] {
        let (s, body) = call(
            &host,
            Method::GET,
            &format!(
                "/api/collections/posts/records?filter={}",
                urlencode(filter)
            ),
            None,
            true,
        )
        .await;
        assert_eq!(s, 400, "{filter}: {body}");
        error_data(&body, 400);
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("position {pos}")),
            "{filter}: {message}"
        );
    }
    // Injection attempts are values, never SQL.
    assert_eq!(count("title = \"x' OR 1=1 --\"").await, 0);
    assert_eq!(count("title ~ \"%'; DROP TABLE c_posts; --\"").await, 0);
    assert_eq!(count("views >= 0").await, 25);
}

async fn access_rules(backend: Backend) {
    let host = TestHost::start(backend).await;
    // No rules: admin only.
    create_collection(
        &host,
        json!({"name": "secret", "fields": [{"name": "t", "type": "text"}]}),
    )
    .await;
    let rec = create_record(&host, "secret", json!({"t": "x"})).await;
    let id = rec["id"].as_str().unwrap();
    for (method, path, body) in [
        (
            Method::GET,
            "/api/collections/secret/records".to_string(),
            None,
        ),
        (
            Method::GET,
            format!("/api/collections/secret/records/{id}"),
            None,
        ),
        (
            Method::POST,
            "/api/collections/secret/records".to_string(),
            Some(json!({"t": "y"})),
        ),
        (
            Method::PATCH,
            format!("/api/collections/secret/records/{id}"),
            Some(json!({"t": "y"})),
        ),
        (
            Method::DELETE,
            format!("/api/collections/secret/records/{id}"),
            None,
        ),
    ] {
        let (s, body) = call(&host, method.clone(), &path, body, false).await;
        assert_eq!(s, 403, "{method} {path}: {body}");
        assert_eq!(body["message"], "Only superusers can perform this action.");
    }
    // A wrong token is no token.
    let resp = host
        .client
        .get(host.url("/api/collections/secret/records"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    // The bare token, as the PocketBase SDK sends it, is the admin.
    let resp = host
        .client
        .get(host.url("/api/collections/secret/records"))
        .header("authorization", &host.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    // Public reads, expression writes.
    create_collection(&host, json!({
        "name": "notes",
        "fields": [{"name": "title", "type": "text"}, {"name": "status", "type": "select", "values": ["draft", "published"]},
                   {"name": "n", "type": "number"}],
        "listRule": "status = 'published'",
        "viewRule": "status = 'published'",
        "createRule": "n < 10",
        "updateRule": "n < 5",
        "deleteRule": "status = 'draft'",
    })).await;
    let draft = create_record(
        &host,
        "notes",
        json!({"title": "d", "status": "draft", "n": 1}),
    )
    .await;
    let published = create_record(
        &host,
        "notes",
        json!({"title": "p", "status": "published", "n": 7}),
    )
    .await;
    let (draft, published) = (
        draft["id"].as_str().unwrap(),
        published["id"].as_str().unwrap(),
    );
    let (s, page) = call(
        &host,
        Method::GET,
        "/api/collections/notes/records",
        None,
        false,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(page["totalItems"], 1);
    assert_eq!(page["items"][0]["id"], published);
    // The client's filter is ANDed with the rule.
    let (_, page) = call(
        &host,
        Method::GET,
        "/api/collections/notes/records?filter=status%3D'draft'",
        None,
        false,
    )
    .await;
    assert_eq!(page["totalItems"], 0);
    let (_, page) = call(
        &host,
        Method::GET,
        "/api/collections/notes/records",
        None,
        true,
    )
    .await;
    assert_eq!(page["totalItems"], 2);
    let (s, _) = call(
        &host,
        Method::GET,
        &format!("/api/collections/notes/records/{draft}"),
        None,
        false,
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = call(
        &host,
        Method::GET,
        &format!("/api/collections/notes/records/{published}"),
        None,
        false,
    )
    .await;
    assert_eq!(s, 200);
    // Create: the new record must match.
    let (s, body) = call(
        &host,
        Method::POST,
        "/api/collections/notes/records",
        Some(json!({"title": "big", "n": 20})),
        false,
    )
    .await;
    assert_eq!(s, 400, "{body}");
    let (_, page) = call(
        &host,
        Method::GET,
        "/api/collections/notes/records",
        None,
        true,
    )
    .await;
    assert_eq!(page["totalItems"], 2, "the refused record was rolled back");
    let (s, _) = call(
        &host,
        Method::POST,
        "/api/collections/notes/records",
        Some(json!({"title": "ok", "n": 2})),
        false,
    )
    .await;
    assert_eq!(s, 200);
    // Update and delete: 404 unless the record matches.
    let (s, _) = call(
        &host,
        Method::PATCH,
        &format!("/api/collections/notes/records/{published}"),
        Some(json!({"n": 1})),
        false,
    )
    .await;
    assert_eq!(s, 404);
    let (s, body) = call(
        &host,
        Method::PATCH,
        &format!("/api/collections/notes/records/{draft}"),
        Some(json!({"title": "d2"})),
        false,
    )
    .await;
    assert_eq!((s, body["title"].clone()), (200, json!("d2")));
    let (s, _) = call(
        &host,
        Method::DELETE,
        &format!("/api/collections/notes/records/{published}"),
        None,
        false,
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = call(
        &host,
        Method::DELETE,
        &format!("/api/collections/notes/records/{draft}"),
        None,
        false,
    )
    .await;
    assert_eq!(s, 204);
    // The admin token passes every rule.
    let (s, _) = call(
        &host,
        Method::DELETE,
        &format!("/api/collections/notes/records/{published}"),
        None,
        true,
    )
    .await;
    assert_eq!(s, 204);

    // Rules are checked when saved.
    let (s, body) = call(
        &host,
        Method::POST,
        "/api/collections",
        Some(json!({"name": "bad", "fields": [], "listRule": "nope = 1"})),
        true,
    )
    .await;
    assert_eq!(s, 400);
    assert!(error_data(&body, 400)["listRule"].is_object(), "{body}");
    let (s, body) = call(
        &host,
        Method::POST,
        "/api/collections",
        Some(json!({"name": "bad", "listRule": "@request.auth.id != ''"})),
        true,
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        body["message"].as_str().unwrap().contains("@request"),
        "{body}"
    );
}

/// Deleting a record deletes its files (pb:files); deleting a collection
/// deletes all of its records' files.
async fn deletes_take_the_files_along(backend: Backend) {
    let host = TestHost::start(backend).await;
    create_collection(
        &host,
        json!({"name": "docs", "fields": [{"name": "f", "type": "file", "maxSelect": 2}]}),
    )
    .await;
    let services = host
        .server
        .registry()
        .unwrap()
        .runtime()
        .services()
        .unwrap()
        .clone();
    let files = &services.files;
    let a = create_record(&host, "docs", json!({"f": ["a.txt"]})).await;
    let b = create_record(&host, "docs", json!({"f": ["b.txt"]})).await;
    let (a, b) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    for (id, name) in [(a, "a.txt"), (b, "b.txt")] {
        files
            .save("docs", id, name, bytes::Bytes::from_static(b"x"))
            .await
            .unwrap();
    }
    let (s, _) = call(
        &host,
        Method::DELETE,
        &format!("/api/collections/docs/records/{a}"),
        None,
        true,
    )
    .await;
    assert_eq!(s, 204);
    assert!(files.list("docs", a).await.unwrap().is_empty());
    assert_eq!(files.list("docs", b).await.unwrap().len(), 1);
    let (s, _) = call(&host, Method::DELETE, "/api/collections/docs", None, true).await;
    assert_eq!(s, 204);
    assert!(files.list("docs", b).await.unwrap().is_empty());
}

/// The official `pocketbase` npm SDK, run by node, against this host: its
/// assertions failing make this test fail.
async fn pocketbase_sdk(backend: Backend) {
    let host = TestHost::start(backend).await;
    let script = pbs_tests::js::project_dir().join("pocketbase_sdk.mjs");
    let out = tokio::process::Command::new("node")
        .arg(&script)
        .env("PB_URL", &host.base)
        .env("PB_TOKEN", &host.token)
        .current_dir(pbs_tests::js::project_dir())
        .output()
        .await
        .expect("run node (tests/js/pocketbase_sdk.mjs)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the SDK script failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("pocketbase sdk: all checks passed"),
        "{stdout}\n{stderr}"
    );
}

/// Minimal percent-encoding of a query value.
pub fn urlencode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

on_both_backends!(
    crud,
    validation_errors,
    pages_sort_fields_and_filters,
    access_rules,
    deletes_take_the_files_along,
    pocketbase_sdk
);
