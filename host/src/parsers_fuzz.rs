//! Property tests of every parser a client or a project feeds: the filter
//! language (its own suite, `caps/data/filter/proptests.rs`), cron
//! expressions, the project manifest, collection definitions, multipart
//! bodies and outbound allowlist entries. Each runs [`CASES`] generated
//! inputs — mostly near-misses of valid input, where parsers break — and
//! the bound is: no panic, and an error is a message, never a crash. Each
//! prints its figure (`cargo test -p pb-serverless parsers_fuzz --
//! --nocapture`).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value};

/// Cases per parser.
pub const CASES: u32 = 10_000;

/// Runs `check` on `CASES` values of `strategy`; a panic fails the test
/// (proptest turns it into a failing case and shrinks it).
fn fuzz<S: Strategy>(
    name: &str,
    strategy: S,
    check: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let cases = std::cell::Cell::new(0u32);
    runner
        .run(&strategy, |v| {
            cases.set(cases.get() + 1);
            check(v)
        })
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    println!("{name}: {} cases, 0 panics", cases.get());
}

/// Text near `vocabulary`: its tokens glued with separators and noise.
fn near(vocabulary: &'static [&'static str], max: usize) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        6 => prop::sample::select(vocabulary).prop_map(str::to_string),
        2 => "[ ,;:/\\-*?.@#%_=\"'\\\\\r\n\t]{1,2}",
        1 => "[0-9]{1,12}",
        1 => "\\PC{1,4}",
    ];
    prop::collection::vec(piece, 0..max).prop_map(|parts| parts.concat())
}

/// Arbitrary JSON whose object keys are mostly from `keys`.
fn json(keys: &'static [&'static str], depth: u32) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        near(keys, 3).prop_map(Value::String),
        prop::sample::select(keys).prop_map(|k| Value::String(k.to_string())),
    ];
    leaf.prop_recursive(depth, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        4 => prop::sample::select(keys).prop_map(str::to_string),
                        1 => "\\PC{0,6}",
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

#[test]
fn cron_expressions() {
    const TOKENS: &[&str] = &[
        "*",
        "*/5",
        "0",
        "59",
        "60",
        "1-5",
        "5-1",
        "MON",
        "mon-fri",
        "JAN",
        "L",
        "W",
        "#",
        "?",
        "@daily",
        "@hourly",
        "@yearly",
        "@reboot",
        " ",
        ",",
        "/",
        "-",
        "0/0",
        "99999999999",
    ];
    const ZONES: &[&str] = &[
        "UTC",
        "Europe/Paris",
        "America/New_York",
        "Nowhere/City",
        "",
    ];
    let strategy = (
        near(TOKENS, 12),
        prop::option::of(prop::sample::select(ZONES)),
    );
    fuzz("cron expressions", strategy, |(expr, tz)| {
        if let Ok(spec) = crate::triggers::cron::schedule::parse(&expr, tz) {
            // A parsed schedule answers its next tick without panicking.
            let _ = spec.next_after(crate::store::now_ms());
        }
        Ok(())
    });
}

#[test]
fn project_manifests() {
    const KEYS: &[&str] = &[
        "functions",
        "entry",
        "component",
        "allowed_hosts",
        "triggers",
        "collections",
        "cron",
        "func",
        "function",
        "timezone",
        "jobs",
        "hooks",
        "collection",
        "event",
        "before_create",
        "after_delete",
        "secrets",
        "hosts",
        "name",
        "fields",
        "type",
        "$schema",
        "app",
        "src/app.ts",
    ];
    fuzz("project manifests", json(KEYS, 4), |value| {
        if let Ok(mut manifest) =
            serde_json::from_value::<crate::project::manifest::Manifest>(value)
        {
            let _ = manifest.resolve();
        }
        Ok(())
    });
}

#[test]
fn collection_definitions() {
    const KEYS: &[&str] = &[
        "name",
        "id",
        "fields",
        "type",
        "text",
        "number",
        "bool",
        "json",
        "date",
        "select",
        "relation",
        "file",
        "vector",
        "required",
        "unique",
        "min",
        "max",
        "onlyInt",
        "values",
        "maxSelect",
        "collectionId",
        "cascadeDelete",
        "maxSize",
        "mimeTypes",
        "dimensions",
        "listRule",
        "viewRule",
        "createRule",
        "updateRule",
        "deleteRule",
        "posts",
        "title",
        "id = 1",
    ];
    fuzz("collection definitions", json(KEYS, 4), |value| {
        if let Ok(def) = crate::caps::data::schema::parse_definition(&value) {
            // What parses also renders and migrates without panicking.
            let c = crate::caps::data::schema::Collection {
                id: def.id.unwrap_or_default(),
                name: def.name,
                fields: def.fields,
                rules: def.rules,
                created: String::new(),
                updated: String::new(),
            };
            let _ = c.to_json();
        }
        Ok(())
    });
}

#[test]
fn multipart_bodies() {
    const TOKENS: &[&str] = &[
        "--XX",
        "--XX--",
        "\r\n",
        "\r\n\r\n",
        "Content-Disposition: form-data; name=\"a\"",
        "; filename=\"f.txt\"",
        "Content-Type: text/plain",
        "name=",
        "\"",
        "hello",
        "--X",
    ];
    let strategy = (
        near(TOKENS, 16),
        prop::sample::select(&["XX", "X", "", "-"][..]),
    );
    fuzz("multipart bodies", strategy, |(body, boundary)| {
        let _ = crate::triggers::http::records::multipart::parse(body.as_bytes(), boundary);
        Ok(())
    });
}

#[test]
fn allowlist_entries() {
    const TOKENS: &[&str] = &[
        "api.openai.com",
        "*.example.com",
        "*",
        "10.0.0.5",
        "127.1",
        "0x7f000001",
        "[::1]",
        "[fe80::1%25eth0]",
        "::ffff:127.0.0.1",
        ":8080",
        ":0",
        ":99999",
        "localhost",
        "http://",
        "169.254.169.254",
        "metadata.google.internal",
        ".",
        "..",
        "-",
        "xn--",
        "%2e",
    ];
    fuzz(
        "allowlist entries",
        prop::collection::vec(near(TOKENS, 4), 1..4),
        |entries| {
            if let Ok(list) = crate::caps::http_out::allowlist::Allowlist::parse(&entries) {
                let _ = list.is_empty();
            }
            Ok(())
        },
    );
}
