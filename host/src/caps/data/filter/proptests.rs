//! Property tests: (a) any input either parses or fails with a position
//! inside it, never a panic, and what translates also runs on SQLite;
//! (b) generated valid filters translate into SQL that contains none of
//! their literal values (each is a placeholder) with placeholders numbered
//! from `first_param`; (c) that SQL runs on an in-memory SQLite (and on
//! PostgreSQL when `PBS_FILTER_PG_URL` is set), numbered from 1 or later.

use super::semantics::db;
use super::tests::TestSchema;
use super::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        // No regression files in the source tree.
        failure_persistence: None,
        ..Config::default()
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The placeholder numbers in `sql`, in order of appearance.
fn placeholders(sql: &str, dialect: Dialect) -> Vec<usize> {
    let mark = match dialect {
        Dialect::Sqlite => '?',
        Dialect::Postgres => '$',
    };
    let mut out = Vec::new();
    let mut rest = sql;
    while let Some(i) = rest.find(mark) {
        rest = &rest[i + 1..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        out.push(digits.parse().unwrap_or(0));
    }
    out
}

/// Placeholders are exactly `first ..first + params.len()`, once each.
fn check_numbering(f: &SqlFilter, dialect: Dialect, first: usize) -> Result<(), TestCaseError> {
    let mut got = placeholders(&f.sql, dialect);
    got.sort_unstable();
    let want: Vec<usize> = (first..first + f.params.len()).collect();
    prop_assert_eq!(got, want, "{}", f.sql);
    Ok(())
}

// ------------------------------------------------------------ (a) any input

fn noise() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        prop::sample::select(vec![
            "(",
            ")",
            "'",
            "\"",
            "\\",
            "&&",
            "||",
            "&",
            "|",
            "=",
            "!=",
            "?",
            "~",
            "<",
            ">=",
            "!",
            " ",
            "\n",
            "\t",
            "//",
            "/",
            "-",
            ".",
            ":",
            "@",
            "#",
            "_",
            "title",
            "meta.a.b",
            "tags",
            "views",
            "active",
            "null",
            "true",
            "@now",
            "@request.auth.id",
            "tags:length",
            "meta:each",
            "published",
            "'2024-01-02 03:04:05Z'",
            "embedding",
            "0",
            "1.5",
        ])
        .prop_map(String::from),
        "[0-9]{1,4}",
        "\\PC{0,3}",
        any::<char>().prop_map(String::from),
    ];
    prop_oneof![
        4 => prop::collection::vec(piece, 0..40).prop_map(|v| v.concat()),
        1 => any::<String>(),
        1 => (0..80usize, 0..80usize).prop_map(|(open, close)| {
            format!("{}title = 'x'{}", "(".repeat(open), ")".repeat(close))
        }),
    ]
}

#[test]
fn any_input_parses_or_fails_with_a_position() {
    let rt = runtime();
    let conn = std::cell::RefCell::new(rt.block_on(db::sqlite()));
    let cases = std::cell::Cell::new(0u32);
    runner(crate::parsers_fuzz::CASES)
        .run(&noise(), |input| {
            cases.set(cases.get() + 1);
            let expr = match parse(&input) {
                Ok(expr) => expr,
                Err(e) => {
                    prop_assert!(e.position <= input.len(), "{e} in {input:?}");
                    return Ok(());
                }
            };
            for dialect in [Dialect::Sqlite, Dialect::Postgres] {
                match to_sql(&expr, &TestSchema, dialect, 1) {
                    Ok(f) => {
                        check_numbering(&f, dialect, 1)?;
                        if dialect == Dialect::Sqlite {
                            let run = rt.block_on(db::ids_sqlite(&mut conn.borrow_mut(), &f));
                            prop_assert!(run.is_ok(), "{input:?}\n{}\n{run:?}", f.sql);
                        }
                    }
                    Err(e) => prop_assert!(e.position <= input.len(), "{e} in {input:?}"),
                }
            }
            Ok(())
        })
        .unwrap();
    println!("filter expressions: {} cases, 0 panics", cases.get());
}

#[test]
fn long_and_deep_inputs_fail_cleanly() {
    for input in [
        "(".repeat(100_000),
        ")".repeat(100_000),
        "a=1&&".repeat(10_000),
        "'".repeat(5000),
        "\\".repeat(3000) + "'",
        format!("{}a=1{}", "(".repeat(1000), ")".repeat(1000)),
    ] {
        let e = parse(&input).unwrap_err();
        assert!(e.position <= input.len());
    }
    // The widest filter within the limit: ~580 comparisons, one level.
    let wide = "a=1&&".repeat(MAX_FILTER_LEN / 5 - 1) + "a=1";
    assert!(wide.len() <= MAX_FILTER_LEN);
    let Expr::And(items) = parse(&wide).unwrap() else {
        panic!()
    };
    assert_eq!(items.len(), MAX_FILTER_LEN / 5);
}

// ------------------------------------------------------- (b), (c) valid input

/// Every string literal starts with this and every number literal with
/// 7777: neither ever occurs in the SQL text unless a value leaked into it.
const MARK: char = 'Ξ';

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Text,
    Num,
    Bool,
    Date,
    Json,
    Multi,
}

fn fields(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Text => &[
            "title",
            "body",
            "status",
            "author",
            "id",
            "value",
            "key",
            "avatar",
            "title:lower",
        ],
        Kind::Num => &["views", "score", "tags:length", "meta.list:length"],
        Kind::Bool => &["active"],
        Kind::Date => &["created", "updated", "published"],
        Kind::Json => &[
            "meta",
            "meta.a",
            "meta.b.c",
            "meta.list",
            "meta.list.0",
            "meta.list:each",
        ],
        Kind::Multi => &["tags", "editors", "type", "tags:lower"],
    }
}

fn field(kind: Kind) -> impl Strategy<Value = String> {
    prop::sample::select(fields(kind)).prop_map(String::from)
}

/// A string literal holding `MARK` and characters that matter to SQL, LIKE
/// and the lexer, quoted with `'` or `"`.
fn string_lit() -> impl Strategy<Value = String> {
    let chars: Vec<char> = "aZ09 '\";%_\\()=|&<>!~?@.:,-$日\t\n".chars().collect();
    (
        prop::collection::vec(prop::sample::select(chars), 0..12),
        any::<bool>(),
    )
        .prop_map(|(chars, double)| {
            let mut value: String = std::iter::once(MARK).chain(chars).collect();
            if value.ends_with('\\') {
                value.push('x');
            }
            let q = if double { '"' } else { '\'' };
            let escaped = value.replace(q, &format!("\\{q}"));
            format!("{q}{escaped}{q}")
        })
}

fn number_lit() -> impl Strategy<Value = String> {
    (any::<bool>(), 0..100u32, prop::option::of(0..100u32)).prop_map(|(neg, n, frac)| {
        let sign = if neg { "-" } else { "" };
        match frac {
            Some(f) => format!("{sign}7777{n}.{f}"),
            None => format!("{sign}7777{n}"),
        }
    })
}

fn literal(kind: Kind) -> BoxedStrategy<String> {
    let null = || prop::sample::select(vec!["null", "''", "\"\""]).prop_map(String::from);
    match kind {
        Kind::Text | Kind::Multi => prop_oneof![
            4 => string_lit(),
            1 => number_lit(),
            1 => null(),
            1 => Just("@request.auth.id".to_string()),
        ]
        .boxed(),
        Kind::Num => prop_oneof![
            4 => number_lit(),
            1 => number_lit().prop_map(|n| format!("'{n}'")),
            1 => null(),
        ]
        .boxed(),
        Kind::Bool => prop::sample::select(vec![
            "true", "false", "null", "1", "0", "'true'", "\"0\"", "''",
        ])
        .prop_map(String::from)
        .boxed(),
        Kind::Date => prop_oneof![
            3 => string_lit(),
            2 => prop::sample::select(vec![
                "'2024-01-02T03:04:05Z'", "'2024-01-02 03:04:05.123+02:00'", "'2024-01'",
                "@now", "@todayStart", "@yearEnd",
            ])
            .prop_map(String::from),
            1 => null(),
        ]
        .boxed(),
        Kind::Json => prop_oneof![
            3 => string_lit(),
            2 => number_lit(),
            1 => prop::sample::select(vec!["true", "false", "null", "''"]).prop_map(String::from),
        ]
        .boxed(),
    }
}

fn op(kind: Kind) -> impl Strategy<Value = &'static str> {
    let mut ops = vec![
        "=", "!=", ">", ">=", "<", "<=", "?=", "?!=", "?>", "?>=", "?<", "?<=",
    ];
    if kind != Kind::Bool {
        ops.extend(["~", "!~", "?~", "?!~"]);
    }
    prop::sample::select(ops)
}

const KINDS: [Kind; 6] = [
    Kind::Text,
    Kind::Num,
    Kind::Bool,
    Kind::Date,
    Kind::Json,
    Kind::Multi,
];

/// Field-to-field pairs that translate (never two multi-valued operands).
const PAIRS: [(Kind, Kind); 9] = [
    (Kind::Text, Kind::Text),
    (Kind::Num, Kind::Num),
    (Kind::Date, Kind::Date),
    (Kind::Date, Kind::Text),
    (Kind::Text, Kind::Num),
    (Kind::Json, Kind::Text),
    (Kind::Json, Kind::Num),
    (Kind::Multi, Kind::Text),
    (Kind::Bool, Kind::Bool),
];

fn comparison() -> impl Strategy<Value = String> {
    let field_lit = prop::sample::select(KINDS.to_vec()).prop_flat_map(|k| {
        (field(k), op(k), literal(k), any::<bool>())
            .prop_filter("~ takes no bool", |(_, op, lit, _)| {
                !(op.contains('~') && matches!(lit.as_str(), "true" | "false"))
            })
            .prop_map(|(f, op, lit, swap)| {
                if swap {
                    format!("{lit} {op} {f}")
                } else {
                    format!("{f} {op} {lit}")
                }
            })
    });
    let field_field = prop::sample::select(PAIRS.to_vec()).prop_flat_map(|(a, b)| {
        let ops = if a == Kind::Bool {
            op(a).boxed()
        } else {
            op(Kind::Text).boxed()
        };
        (field(a), ops, field(b)).prop_map(|(a, op, b)| format!("{a} {op} {b}"))
    });
    let lit_lit = (
        prop_oneof![string_lit(), number_lit()],
        op(Kind::Text),
        prop_oneof![string_lit(), number_lit()],
    )
        .prop_map(|(a, op, b)| format!("{a} {op} {b}"));
    prop_oneof![6 => field_lit, 2 => field_field, 1 => lit_lit]
}

fn filter() -> impl Strategy<Value = String> {
    comparison().prop_recursive(4, 24, 4, |inner| {
        (
            prop::collection::vec(inner, 2..4),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(items, or, extra_parens)| {
                let joined = items
                    .iter()
                    .map(|i| format!("({i})"))
                    .collect::<Vec<_>>()
                    .join(if or { " || " } else { "\n&& " });
                if extra_parens {
                    format!("({joined})")
                } else {
                    joined
                }
            })
    })
}

/// Translates a valid filter and checks (b); returns the SQLite form
/// numbered from 1 and from 3, and the PostgreSQL form from 1.
fn translate_valid(input: &str) -> Result<[SqlFilter; 3], TestCaseError> {
    let expr = parse(input).map_err(|e| TestCaseError::fail(format!("{e} in {input}")))?;
    let mut out = Vec::new();
    for (dialect, first) in [
        (Dialect::Sqlite, 1),
        (Dialect::Sqlite, 3),
        (Dialect::Postgres, 1),
    ] {
        let f = to_sql(&expr, &TestSchema, dialect, first)
            .map_err(|e| TestCaseError::fail(format!("{e} in {input}")))?;
        prop_assert!(!f.sql.contains(MARK), "a string leaked: {input}\n{}", f.sql);
        prop_assert!(
            !f.sql.contains("7777"),
            "a number leaked: {input}\n{}",
            f.sql
        );
        check_numbering(&f, dialect, first)?;
        out.push(f);
    }
    let marked = input.matches(MARK).count();
    let bound = out[0]
        .params
        .iter()
        .filter(|p| matches!(p, SqlValue::Text(s) if s.contains(MARK)))
        .count();
    prop_assert!(bound <= marked);
    Ok(out.try_into().expect("three"))
}

#[test]
fn valid_filters_bind_every_literal_and_run_on_sqlite() {
    let rt = runtime();
    let conn = std::cell::RefCell::new(rt.block_on(db::sqlite()));
    runner(384)
        .run(&filter(), |input| {
            let [from1, from3, _] = translate_valid(&input)?;
            let plain = rt.block_on(db::ids_sqlite(&mut conn.borrow_mut(), &from1));
            prop_assert!(plain.is_ok(), "{input}\n{}\n{plain:?}", from1.sql);
            // Numbered from 3 behind two parameters of the caller's own.
            let mut shifted = from3.clone();
            shifted.sql = format!("?1 = 1 AND ?2 = 'two' AND {}", from3.sql);
            shifted.params = [SqlValue::Int(1), SqlValue::Text("two".into())]
                .into_iter()
                .chain(from3.params)
                .collect();
            let shifted = rt.block_on(db::ids_sqlite(&mut conn.borrow_mut(), &shifted));
            prop_assert_eq!(plain.unwrap(), shifted.unwrap(), "{}", input);
            Ok(())
        })
        .unwrap();
}

/// The generated SQL also runs on PostgreSQL when `PBS_FILTER_PG_URL` names
/// a database (the records suite covers PostgreSQL in any case).
#[test]
fn valid_filters_run_on_postgres() {
    let Ok(url) = std::env::var("PBS_FILTER_PG_URL") else {
        return;
    };
    let rt = runtime();
    let conn = std::cell::RefCell::new(rt.block_on(db::postgres(&url)));
    runner(384)
        .run(&filter(), |input| {
            let [_, _, pg] = translate_valid(&input)?;
            let run = rt.block_on(db::ids_postgres(&mut conn.borrow_mut(), &pg));
            prop_assert!(run.is_ok(), "{input}\n{}\n{run:?}", pg.sql);
            Ok(())
        })
        .unwrap();
}

/// SQLite and PostgreSQL select the same rows for generated filters (when
/// `PBS_FILTER_PG_URL` is set): the dialects differ in SQL, not meaning.
#[test]
fn sqlite_and_postgres_agree() {
    let Ok(url) = std::env::var("PBS_FILTER_PG_URL") else {
        return;
    };
    let rt = runtime();
    let lite = std::cell::RefCell::new(rt.block_on(db::sqlite()));
    let pg = std::cell::RefCell::new(rt.block_on(db::postgres(&url)));
    runner(512)
        .run(&filter(), |input| {
            let [sqlite_sql, _, pg_sql] = translate_valid(&input)?;
            let a = rt.block_on(db::ids_sqlite(&mut lite.borrow_mut(), &sqlite_sql));
            let b = rt.block_on(db::ids_postgres(&mut pg.borrow_mut(), &pg_sql));
            prop_assert_eq!(a.unwrap(), b.unwrap(), "{}", input);
            Ok(())
        })
        .unwrap();
}
