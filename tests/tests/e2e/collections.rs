//! Collections on SQLite and PostgreSQL: the admin API (PocketBase's
//! `/api/collections` and the set import the project deploy uses), table
//! migrations, lossy changes refused unless forced, and hosts sharing one
//! database seeing each other's collections.

use crate::records::{admin, call, create_collection, create_record, error_data};
use pbs_tests::{on_both_backends, test_limits, Backend, TestHost};
use reqwest::Method;
use serde_json::{json, Value};

fn field<'a>(c: &'a Value, name: &str) -> &'a Value {
    c["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no field {name} in {c}"))
}

fn field_names(c: &Value) -> Vec<String> {
    c["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect()
}

async fn record(host: &TestHost, c: &str, id: &str) -> Value {
    admin(
        host,
        Method::GET,
        &format!("/api/collections/{c}/records/{id}"),
        None,
        200,
    )
    .await
}

async fn create_and_read(backend: Backend) {
    let host = TestHost::start(backend).await;
    // The admin token is required.
    let (s, body) = call(
        &host,
        Method::POST,
        "/api/collections",
        Some(json!({"name": "posts"})),
        false,
    )
    .await;
    assert_eq!(s, 401);
    error_data(&body, 401);
    let (s, _) = call(&host, Method::GET, "/api/collections", None, false).await;
    assert_eq!(s, 401);

    let c = create_collection(
        &host,
        json!({
            "name": "posts",
            "fields": [
                {"name": "title", "type": "text", "required": true},
                {"name": "embedding", "type": "vector", "dimensions": 4},
                {"name": "kind", "type": "select", "values": ["a", "b"], "maxSelect": 1},
            ],
            "listRule": "",
            "viewRule": null,
        }),
    )
    .await;
    assert_eq!(c["name"], "posts");
    assert_eq!(c["type"], "base");
    assert!(c["id"].as_str().unwrap().starts_with("pbc_"), "{c}");
    assert_eq!(
        field_names(&c),
        ["id", "title", "embedding", "kind", "created", "updated"]
    );
    assert_eq!(field(&c, "embedding")["dimensions"], 4);
    assert_eq!(field(&c, "title")["required"], true);
    assert_eq!(c["listRule"], "");
    assert_eq!(c["viewRule"], Value::Null);
    assert_eq!(c["createRule"], Value::Null);

    let got = admin(&host, Method::GET, "/api/collections/posts", None, 200).await;
    assert_eq!(got, c);
    let by_id = admin(
        &host,
        Method::GET,
        &format!("/api/collections/{}", c["id"].as_str().unwrap()),
        None,
        200,
    )
    .await;
    assert_eq!(by_id, c);
    let page = admin(&host, Method::GET, "/api/collections", None, 200).await;
    assert_eq!(page["totalItems"], 1);
    assert_eq!(page["items"][0], c);
    // What GET answers can be sent back unchanged.
    let again = admin(
        &host,
        Method::PATCH,
        "/api/collections/posts",
        Some(c.clone()),
        200,
    )
    .await;
    assert_eq!(field_names(&again), field_names(&c));

    // Names are unique (any case) and validated; definitions too.
    let (s, body) = call(
        &host,
        Method::POST,
        "/api/collections",
        Some(json!({"name": "POSTS"})),
        true,
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        error_data(&body, 400)["name"]["code"],
        "validation_collection_name_exists"
    );
    for bad in [
        json!({"name": "bad name"}),
        json!({"name": "x", "fields": [{"name": "v", "type": "vector"}]}),
        json!({"name": "x", "fields": [{"name": "v", "type": "vector", "dimensions": 5000}]}),
        json!({"name": "x", "fields": [{"name": "a", "type": "text"}, {"name": "a", "type": "text"}]}),
        json!({"name": "x", "fields": [{"name": "created", "type": "number"}]}),
        json!({"name": "x", "fields": [{"name": "r", "type": "relation", "collectionId": "nope"}]}),
        json!({"name": "x", "fields": [{"name": "s", "type": "select"}]}),
        json!({"name": "x", "fields": [{"name": "q", "type": "geoPoint"}]}),
    ] {
        let (s, body) = call(
            &host,
            Method::POST,
            "/api/collections",
            Some(bad.clone()),
            true,
        )
        .await;
        assert_eq!(s, 400, "{bad}: {body}");
        error_data(&body, 400);
    }
    let page = admin(&host, Method::GET, "/api/collections", None, 200).await;
    assert_eq!(page["totalItems"], 1, "nothing half-created");

    // Relations name a collection by name or id; they store the target's id.
    let tags = create_collection(
        &host,
        json!({"name": "tags", "fields": [{"name": "label", "type": "text"}],
        "listRule": "", "viewRule": "", "createRule": ""}),
    )
    .await;
    let items = create_collection(
        &host,
        json!({"name": "items", "fields": [
            {"name": "tag", "type": "relation", "collectionId": "tags"},
            {"name": "more", "type": "relation", "collectionId": tags["id"], "maxSelect": 5},
            {"name": "parent", "type": "relation", "collectionId": "items"},
        ]}),
    )
    .await;
    assert_eq!(field(&items, "tag")["collectionId"], tags["id"]);
    assert_eq!(field(&items, "parent")["collectionId"], items["id"]);
    let t = create_record(&host, "tags", json!({"label": "x"})).await;
    let tid = t["id"].as_str().unwrap();
    let it = create_record(&host, "items", json!({"tag": tid, "more": [tid]})).await;
    assert_eq!(
        (it["tag"].clone(), it["more"].clone()),
        (json!(tid), json!([tid]))
    );
    let (s, body) = call(
        &host,
        Method::POST,
        "/api/collections/items/records",
        Some(json!({"tag": "zzzzzzzzzzzzzzz"})),
        true,
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        error_data(&body, 400)["tag"]["code"],
        "validation_missing_rel_records"
    );
    // A referenced collection cannot be deleted.
    let (s, body) = call(&host, Method::DELETE, "/api/collections/tags", None, true).await;
    assert_eq!(s, 400, "{body}");
    let (s, _) = call(&host, Method::DELETE, "/api/collections/items", None, true).await;
    assert_eq!(s, 204);
    let (s, _) = call(
        &host,
        Method::GET,
        "/api/collections/items/records",
        None,
        true,
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = call(&host, Method::DELETE, "/api/collections/tags", None, true).await;
    assert_eq!(s, 204);
    let (s, _) = call(&host, Method::GET, "/api/collections/tags", None, true).await;
    assert_eq!(s, 404);
}

async fn alter_refuses_lossy_changes_unless_forced(backend: Backend) {
    let host = TestHost::start(backend).await;
    let c = create_collection(
        &host,
        json!({"name": "posts", "fields": [
            {"name": "title", "type": "text"},
            {"name": "views", "type": "number"},
            {"name": "body", "type": "text"},
            {"name": "emb", "type": "vector", "dimensions": 2},
        ]}),
    )
    .await;
    let r = create_record(
        &host,
        "posts",
        json!({"title": "t", "views": 5, "emb": [1, 0]}),
    )
    .await;
    let id = r["id"].as_str().unwrap().to_string();
    let fields = |c: &Value| c["fields"].as_array().unwrap().clone();
    let patch = |body: Value, force: bool| {
        let host = &host;
        async move {
            let q = if force { "?force=true" } else { "" };
            call(
                host,
                Method::PATCH,
                &format!("/api/collections/posts{q}"),
                Some(body),
                true,
            )
            .await
        }
    };
    let user_fields = |c: &Value| -> Vec<Value> {
        fields(c)
            .into_iter()
            .filter(|f| f["system"] != true)
            .collect()
    };

    // Adding a field: existing records get its empty value.
    let mut next = user_fields(&c);
    next.push(json!({"name": "extra", "type": "bool"}));
    let (s, c2) = patch(json!({"fields": next}), false).await;
    assert_eq!(s, 200, "{c2}");
    assert_eq!(record(&host, "posts", &id).await["extra"], false);

    // Dropping a field with data: refused, nothing changes; forced: gone.
    let without_views: Vec<Value> = user_fields(&c2)
        .into_iter()
        .filter(|f| f["name"] != "views")
        .collect();
    let (s, body) = patch(json!({"fields": without_views}), false).await;
    assert_eq!(s, 400, "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("\"views\"") && message.contains("force"),
        "{message}"
    );
    assert_eq!(record(&host, "posts", &id).await["views"], 5);
    let (s, c3) = patch(json!({"fields": without_views}), true).await;
    assert_eq!(s, 200, "{c3}");
    assert!(record(&host, "posts", &id).await.get("views").is_none());

    // Dropping a field without data needs no force.
    let without_body: Vec<Value> = user_fields(&c3)
        .into_iter()
        .filter(|f| f["name"] != "body")
        .collect();
    let (s, c4) = patch(json!({"fields": without_body}), false).await;
    assert_eq!(s, 200, "{c4}");

    // Renaming (same field id) keeps the values.
    let renamed: Vec<Value> = user_fields(&c4)
        .into_iter()
        .map(|mut f| {
            if f["name"] == "title" {
                f["name"] = json!("headline");
            }
            f
        })
        .collect();
    let (s, c5) = patch(json!({"fields": renamed}), false).await;
    assert_eq!(s, 200, "{c5}");
    assert_eq!(record(&host, "posts", &id).await["headline"], "t");

    // Changing a type of a field with data, or a vector's dimensions: lossy.
    let retyped: Vec<Value> = user_fields(&c5)
        .into_iter()
        .map(|mut f| {
            if f["name"] == "emb" {
                f["dimensions"] = json!(3);
            }
            f
        })
        .collect();
    let (s, body) = patch(json!({"fields": retyped.clone()}), false).await;
    assert_eq!(s, 400, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("vector(2) to vector(3)"),
        "{body}"
    );
    let (s, _) = patch(json!({"fields": retyped}), true).await;
    assert_eq!(s, 200);
    assert_eq!(record(&host, "posts", &id).await["emb"], Value::Null);
    create_record(&host, "posts", json!({"headline": "v", "emb": [1, 2, 3]})).await;

    // Making a field required while records lack it: lossy.
    let c6 = admin(&host, Method::GET, "/api/collections/posts", None, 200).await;
    let required: Vec<Value> = user_fields(&c6)
        .into_iter()
        .map(|mut f| {
            if f["name"] == "extra" {
                f["required"] = json!(true);
            }
            f
        })
        .collect();
    let (s, body) = patch(json!({"fields": required}), false).await;
    assert_eq!(s, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("required"),
        "{body}"
    );
    // Adding a required field to a table with records: lossy too.
    let mut added = user_fields(&c6);
    added.push(json!({"name": "must", "type": "text", "required": true}));
    let (s, _) = patch(json!({"fields": added.clone()}), false).await;
    assert_eq!(s, 400);
    let (s, _) = patch(json!({"fields": added}), true).await;
    assert_eq!(s, 200);

    // Unique over duplicates: refused even when forced.
    create_record(&host, "posts", json!({"headline": "same", "must": "x"})).await;
    create_record(&host, "posts", json!({"headline": "same", "must": "x"})).await;
    let c7 = admin(&host, Method::GET, "/api/collections/posts", None, 200).await;
    let unique: Vec<Value> = user_fields(&c7)
        .into_iter()
        .map(|mut f| {
            if f["name"] == "headline" {
                f["unique"] = json!(true);
            }
            f
        })
        .collect();
    let (s, body) = patch(json!({"fields": unique.clone()}), true).await;
    assert_eq!(s, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("more than once"),
        "{body}"
    );
    // Single → multiple select keeps the value as a list.
    let c8 = create_collection(
        &host,
        json!({"name": "sel", "fields": [
        {"name": "s", "type": "select", "values": ["a", "b"]}]}),
    )
    .await;
    let r = create_record(&host, "sel", json!({"s": "a"})).await;
    let empty = create_record(&host, "sel", json!({})).await;
    let mut multi = c8["fields"].as_array().unwrap().clone();
    for f in &mut multi {
        if f["name"] == "s" {
            f["maxSelect"] = json!(2);
        }
    }
    let (s, body) = call(
        &host,
        Method::PATCH,
        "/api/collections/sel",
        Some(json!({"fields": multi})),
        true,
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        record(&host, "sel", r["id"].as_str().unwrap()).await["s"],
        json!(["a"])
    );
    assert_eq!(
        record(&host, "sel", empty["id"].as_str().unwrap()).await["s"],
        json!([])
    );

    // Rules and the name change without touching data.
    let (s, renamed) = patch(json!({"name": "articles", "listRule": ""}), false).await;
    assert_eq!(s, 200, "{renamed}");
    let (s, page) = call(
        &host,
        Method::GET,
        "/api/collections/articles/records",
        None,
        false,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(page["totalItems"], 4);
    let (s, _) = call(
        &host,
        Method::GET,
        "/api/collections/posts/records",
        None,
        true,
    )
    .await;
    assert_eq!(s, 404);
}

async fn import_a_set(backend: Backend) {
    let host = TestHost::start(backend).await;
    let set = json!({"collections": [
        {"name": "authors", "fields": [{"name": "name", "type": "text", "required": true}], "listRule": ""},
        {"name": "books", "fields": [
            {"name": "title", "type": "text"},
            {"name": "author", "type": "relation", "collectionId": "authors"},
            {"name": "embedding", "type": "vector", "dimensions": 3},
        ]},
    ], "force": false});
    let url = "/api/pb_serverless/_admin/collections";
    let (s, body) = call(&host, Method::PUT, url, Some(set.clone()), false).await;
    assert_eq!(s, 401, "{body}");
    let out = admin(&host, Method::PUT, url, Some(set.clone()), 200).await;
    let list = out["collections"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(field(&list[1], "author")["collectionId"], list[0]["id"]);
    let a = create_record(&host, "authors", json!({"name": "Ann"})).await;
    create_record(
        &host,
        "books",
        json!({"title": "B", "author": a["id"], "embedding": [1, 2, 3]}),
    )
    .await;

    // The same set again changes nothing.
    let again = admin(&host, Method::PUT, url, Some(set.clone()), 200).await;
    assert_eq!(again["collections"][0]["id"], list[0]["id"]);
    assert_eq!(
        field(&again["collections"][1], "title")["id"],
        field(&list[1], "title")["id"]
    );
    let page = admin(
        &host,
        Method::GET,
        "/api/collections/books/records",
        None,
        200,
    )
    .await;
    assert_eq!(page["totalItems"], 1);

    // A set whose second change is lossy: refused as a whole.
    let lossy = json!({"collections": [
        {"name": "authors", "fields": [{"name": "name", "type": "text", "required": true},
                                       {"name": "bio", "type": "text"}], "listRule": ""},
        {"name": "books", "fields": [{"name": "author", "type": "relation", "collectionId": "authors"}]},
    ]});
    let (s, body) = call(&host, Method::PUT, url, Some(lossy.clone()), true).await;
    assert_eq!(s, 400, "{body}");
    let authors = admin(&host, Method::GET, "/api/collections/authors", None, 200).await;
    assert!(
        !field_names(&authors).contains(&"bio".to_string()),
        "rolled back: {authors}"
    );
    let mut forced = lossy.clone();
    forced["force"] = json!(true);
    admin(&host, Method::PUT, url, Some(forced), 200).await;
    let books = admin(&host, Method::GET, "/api/collections/books", None, 200).await;
    assert_eq!(field_names(&books), ["id", "author", "created", "updated"]);
    // Collections not listed are left alone; PocketBase's import path works too.
    let only = json!({"collections": [{"name": "extra", "fields": []}]});
    admin(
        &host,
        Method::PUT,
        "/api/collections/import",
        Some(only),
        200,
    )
    .await;
    let page = admin(&host, Method::GET, "/api/collections", None, 200).await;
    assert_eq!(page["totalItems"], 3);
    // A bad definition names its place in the set.
    let (s, body) = call(
        &host,
        Method::PUT,
        url,
        Some(json!({"collections": [{"name": "ok"}, {"name": "b d"}]})),
        true,
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        error_data(&body, 400)["collections.1.name"].is_object(),
        "{body}"
    );
}

/// Two hosts on one database: a collection created through one is served
/// by the other at once.
async fn hosts_sharing_a_database_see_new_collections(backend: Backend) {
    let a = TestHost::start(backend).await;
    let dir = tempfile::tempdir().unwrap();
    let b = TestHost::start_on(dir, a.db.clone(), test_limits()).await;
    // b has read the (empty) catalogue.
    let (s, _) = call(&b, Method::GET, "/api/collections/late/records", None, true).await;
    assert_eq!(s, 404);
    create_collection(
        &a,
        json!({"name": "late", "fields": [{"name": "n", "type": "number"}], "listRule": ""}),
    )
    .await;
    create_record(&a, "late", json!({"n": 1})).await;
    let (s, page) = call(
        &b,
        Method::GET,
        "/api/collections/late/records",
        None,
        false,
    )
    .await;
    assert_eq!((s, page["totalItems"].clone()), (200, json!(1)), "{page}");
    // A change made through a is seen by b within the refresh interval.
    admin(
        &a,
        Method::PATCH,
        "/api/collections/late",
        Some(json!({"listRule": null})),
        200,
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (s, _) = call(
        &b,
        Method::GET,
        "/api/collections/late/records",
        None,
        false,
    )
    .await;
    assert_eq!(s, 403);
}

on_both_backends!(
    create_and_read,
    alter_refuses_lossy_changes_unless_forced,
    import_a_set,
    hosts_sharing_a_database_see_new_collections
);
