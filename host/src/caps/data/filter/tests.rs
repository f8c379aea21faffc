//! Parser and translator tests: the grammar, every error with its position,
//! golden SQL for both dialects, LIKE patterns and dates. The semantics run
//! on real databases in `semantics.rs`, property tests in `proptests.rs`.

use super::ast::{Comparison, Expr, Op, Operand, Value};
use super::sql::like_pattern;
use super::*;

/// A collection with every kind of field, system fields, and user fields
/// named like `json_each`'s columns (`value`, `key`, `type`). Columns are
/// unquoted-table, quoted names — the least forgiving form.
pub(super) struct TestSchema;

pub(super) const FIELDS: &[(&str, FieldKind)] = &[
    ("id", FieldKind::Text),
    ("created", FieldKind::Date),
    ("updated", FieldKind::Date),
    ("title", FieldKind::Text),
    ("body", FieldKind::Text),
    ("views", FieldKind::Number),
    ("score", FieldKind::Number),
    ("active", FieldKind::Bool),
    ("meta", FieldKind::Json),
    ("published", FieldKind::Date),
    ("status", FieldKind::Select),
    ("tags", FieldKind::Select),
    ("author", FieldKind::Relation),
    ("editors", FieldKind::Relation),
    ("avatar", FieldKind::File),
    ("value", FieldKind::Text),
    ("key", FieldKind::Text),
    ("type", FieldKind::Select),
    ("embedding", FieldKind::Vector),
];

impl Schema for TestSchema {
    fn field(&self, name: &str) -> Option<FieldKind> {
        FIELDS.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
    }
    fn column(&self, name: &str) -> String {
        format!("\"{name}\"")
    }
    fn multiple(&self, name: &str) -> bool {
        matches!(name, "tags" | "editors" | "type")
    }
    fn variable(&self, name: &str) -> Option<SqlValue> {
        match name {
            "@request.auth.id" => Some(SqlValue::Text("u1".into())),
            "@request.auth.verified" => Some(SqlValue::Bool(true)),
            "@request.auth.age" => Some(SqlValue::Int(42)),
            "@request.auth.none" => Some(SqlValue::Null),
            "@request.auth.nan" => Some(SqlValue::Float(f64::NAN)),
            _ => None,
        }
    }
}

/// 2024-05-06 07:08:09.010 UTC, a Monday.
const NOW_MS: i64 = 1_714_979_289_010;

pub(super) fn sql(input: &str, dialect: Dialect) -> Result<SqlFilter, FilterError> {
    to_sql_at(&parse(input)?, &TestSchema, dialect, 1, NOW_MS)
}

fn golden(input: &str, dialect: Dialect, want_sql: &str, want_params: &[SqlValue]) {
    let got = sql(input, dialect).unwrap_or_else(|e| panic!("{input}: {e}"));
    assert_eq!(got.sql, want_sql, "{input} ({dialect:?})");
    assert_eq!(got.params, want_params, "{input} ({dialect:?})");
}

fn text(s: &str) -> SqlValue {
    SqlValue::Text(s.into())
}

fn cmp(left: Value, op: &str, right: Value) -> Expr {
    Expr::Compare(Comparison {
        left: Operand {
            value: left,
            position: 0,
        },
        op: Op::parse(op).unwrap(),
        right: Operand {
            value: right,
            position: 0,
        },
        position: 0,
    })
}

/// The tree with every position zeroed, to compare shapes.
fn shape(e: Expr) -> Expr {
    match e {
        Expr::And(v) => Expr::And(v.into_iter().map(shape).collect()),
        Expr::Or(v) => Expr::Or(v.into_iter().map(shape).collect()),
        Expr::Compare(mut c) => {
            c.left.position = 0;
            c.right.position = 0;
            c.position = 0;
            Expr::Compare(c)
        }
    }
}

fn ident(s: &str) -> Value {
    Value::Identifier(s.into())
}
fn num(s: &str) -> Value {
    Value::Number(Number::parse(s).unwrap())
}

// ---------------------------------------------------------------- parser

#[test]
fn parses_operands_and_operators() {
    let e = parse(r#"title = 'a\'b' && views >= -1.5 && x ?!~ "q\"" && n = 12"#).unwrap();
    assert_eq!(
        shape(e),
        Expr::And(vec![
            cmp(ident("title"), "=", Value::Text("a'b".into())),
            cmp(ident("views"), ">=", num("-1.5")),
            cmp(ident("x"), "?!~", Value::Text("q\"".into())),
            cmp(ident("n"), "=", num("12")),
        ])
    );
    let e = parse("a = TRUE || b != false || c = Null").unwrap();
    assert_eq!(
        shape(e),
        Expr::Or(vec![
            cmp(ident("a"), "=", Value::Bool(true)),
            cmp(ident("b"), "!=", Value::Bool(false)),
            cmp(ident("c"), "=", Value::Null),
        ])
    );
    for op in [
        "=", "!=", ">", ">=", "<", "<=", "~", "!~", "?=", "?!=", "?>", "?>=", "?<", "?<=", "?~",
        "?!~",
    ] {
        let e = parse(&format!("a{op}1")).unwrap();
        let Expr::Compare(c) = e else { panic!() };
        assert_eq!(c.op.as_str(), op);
        assert_eq!(c.position, 1);
    }
}

#[test]
fn precedence_and_parentheses() {
    let e = parse("a=1 || b=2 && c=3").unwrap();
    assert_eq!(
        shape(e),
        Expr::Or(vec![
            cmp(ident("a"), "=", num("1")),
            Expr::And(vec![
                cmp(ident("b"), "=", num("2")),
                cmp(ident("c"), "=", num("3")),
            ]),
        ])
    );
    let e = parse("(a=1 || b=2) && c=3").unwrap();
    assert_eq!(
        shape(e),
        Expr::And(vec![
            Expr::Or(vec![
                cmp(ident("a"), "=", num("1")),
                cmp(ident("b"), "=", num("2")),
            ]),
            cmp(ident("c"), "=", num("3")),
        ])
    );
    // Same-kind groups are merged; redundant parentheses vanish.
    let e = parse("((a=1)) && (b=2 && (c=3))").unwrap();
    assert_eq!(
        shape(e),
        Expr::And(vec![
            cmp(ident("a"), "=", num("1")),
            cmp(ident("b"), "=", num("2")),
            cmp(ident("c"), "=", num("3")),
        ])
    );
    let deep = format!("{}a=1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    assert!(parse(&deep).is_ok());
}

#[test]
fn lexes_like_fexpr() {
    // Comments, tabs and newlines; identifiers with `@`, `_`, `#`, `.`, `:`.
    let e =
        parse("// a comment\n\t@request.auth.id != '' // trailing\n&& _x.y:lower = #z").unwrap();
    assert_eq!(
        shape(e),
        Expr::And(vec![
            cmp(ident("@request.auth.id"), "!=", Value::Text(String::new())),
            cmp(ident("_x.y:lower"), "=", ident("#z")),
        ])
    );
    // No spaces needed; a backslash not before the quote stays.
    let e = parse(r#"a!=-1&&b~"x\y""#).unwrap();
    assert_eq!(
        shape(e),
        Expr::And(vec![
            cmp(ident("a"), "!=", num("-1")),
            cmp(ident("b"), "~", Value::Text(r"x\y".into())),
        ])
    );
    // Unicode inside strings; positions are byte offsets.
    let e = parse("'日本' = title").unwrap();
    let Expr::Compare(c) = e else { panic!() };
    assert_eq!(c.left.value, Value::Text("日本".into()));
    assert_eq!((c.position, c.right.position), (9, 11));
    // Numbers: int, float, big.
    assert_eq!(
        Number::parse("9223372036854775807").unwrap().value,
        NumberValue::Int(i64::MAX)
    );
    assert_eq!(
        Number::parse("9223372036854775808").unwrap().value,
        NumberValue::Float(9223372036854775808.0)
    );
    assert_eq!(
        Number::parse("-0.25").unwrap().value,
        NumberValue::Float(-0.25)
    );
    for bad in ["", "-", "1.", ".5", "-.5", "1.2.3", "1e5", "0x10", "+1"] {
        assert!(Number::parse(bad).is_none(), "{bad}");
    }
}

#[test]
fn errors_point_at_the_problem() {
    let cases: &[(&str, usize, &str)] = &[
        ("", 0, "empty filter"),
        ("  \n ", 0, "empty filter"),
        ("// only a comment", 0, "empty filter"),
        ("a = 1 / 2", 6, "invalid comment (expected //)"),
        ("a = 'abc", 4, "unterminated string"),
        ("a = 'ab\0c'", 7, "strings may not contain NUL characters"),
        (r#"a = "abc\""#, 4, "unterminated string"),
        ("a = 1 & b = 2", 6, "invalid operator '&' (expected && or ||)"),
        ("a = 1 ||| b = 2", 6, "invalid operator '|||' (expected && or ||)"),
        ("a == 1", 2, "invalid operator '=='"),
        ("a =! 1", 2, "invalid operator '=!'"),
        ("a ?? 1", 2, "invalid operator '??'"),
        ("a = -", 4, "invalid number '-'"),
        ("a = 1.", 4, "invalid number '1.'"),
        ("a = 1.2.3", 7, "unexpected character '.'"),
        ("a = $1", 4, "unexpected character '$'"),
        ("a = é", 4, "unexpected character 'é'"),
        ("a. = 1", 0, "invalid identifier 'a.'"),
        ("a: = 1", 0, "invalid identifier 'a:'"),
        ("@ = 1", 0, "invalid identifier '@'"),
        ("_ = 1", 0, "invalid identifier '_'"),
        ("geoDistance(1,2) > 1", 0, "function calls are not supported ('geoDistance(…)')"),
        ("a", 1, "expected an operator (= != > >= < <= ~ !~ or their ?-forms), found the end of the filter"),
        ("a 1", 2, "expected an operator (= != > >= < <= ~ !~ or their ?-forms), found '1'"),
        ("a =", 3, "expected a right operand (a field, string or number), found the end of the filter"),
        ("= 1", 0, "expected a left operand (a field, string or number), found '='"),
        ("a = 1 b = 2", 6, "expected && or ||, found 'b'"),
        ("a = 1 &&", 8, "expected a left operand (a field, string or number), found the end of the filter"),
        ("&& a = 1", 0, "expected a left operand (a field, string or number), found '&&'"),
        ("a = 1)", 5, "unexpected ')'"),
        ("(a = 1", 0, "unclosed '('"),
        ("x=1 && (a = 1 b", 14, "expected && or || or ')', found 'b'"),
        ("()", 0, "empty parentheses"),
        ("a = (1)", 4, "expected a right operand (a field, string or number), found '('"),
    ];
    for (input, position, message) in cases {
        let err = parse(input).expect_err(input);
        assert_eq!(
            (err.position, err.message.as_str()),
            (*position, *message),
            "{input}"
        );
        assert!(err.position <= input.len());
    }
    let deep = format!(
        "{}a=1{}",
        "(".repeat(MAX_DEPTH + 1),
        ")".repeat(MAX_DEPTH + 1)
    );
    let err = parse(&deep).unwrap_err();
    assert_eq!(err.position, MAX_DEPTH);
    assert_eq!(err.message, "parentheses nest deeper than 32 levels");
    let long = format!("a = '{}'", "x".repeat(MAX_FILTER_LEN));
    let err = parse(&long).unwrap_err();
    assert_eq!(err.position, MAX_FILTER_LEN);
    assert_eq!(
        err.to_string(),
        "the filter is too long (3506 bytes, at most 3500) at position 3500"
    );
    assert!(parse(&format!("a = '{}'", "x".repeat(MAX_FILTER_LEN - 6))).is_ok());
}

#[test]
fn translation_errors_point_at_the_operand() {
    let cases: &[(&str, usize, &str)] = &[
        ("nope = 1", 0, "unknown field 'nope'"),
        ("title = 1 && x.y = 2", 13, "unknown field 'x'"),
        ("@nope = 1", 0, "unknown identifier '@nope'"),
        ("@collection.posts.title = 1", 0, "unknown identifier '@collection.posts.title'"),
        ("#x = 1", 0, "invalid field name '#x'"),
        ("a..b = 1", 0, "invalid field name 'a..b'"),
        ("embedding = 1", 0, "field 'embedding' is a vector and cannot be used in a filter"),
        ("author.name = 'x'", 0, "field 'author' is not a json field: only json fields take a path ('author.name')"),
        ("title:isset = true", 0, "unsupported modifier ':isset'"),
        ("title:lower:x = 1", 0, "unsupported modifier ':lower:x'"),
        ("views:lower = 1", 0, "the :lower modifier needs a text field (field 'views')"),
        ("title:length = 1", 0, "the :length modifier needs a multi-valued select, relation or file or a json field (field 'title')"),
        ("status:each = 'a'", 0, "the :each modifier needs a multi-valued select, relation or file or a json field (field 'status')"),
        ("views > 'abc'", 8, "field 'views' is a number field; the string 'abc' is not a number"),
        ("'abc' < views", 0, "field 'views' is a number field; the string 'abc' is not a number"),
        ("active = 'yes'", 9, "field 'active' is a bool field; the string 'yes' is not true or false"),
        ("active = 2", 9, "field 'active' is a bool field; the number 2 is not true or false"),
        ("title = true", 8, "field 'title' is a text field; true is not text"),
        ("published > false", 12, "field 'published' is a date field; false is not text"),
        ("active = title", 7, "cannot compare field 'active' (bool) with field 'title' (text)"),
        ("views < active", 6, "cannot compare field 'views' (number) with field 'active' (bool)"),
        ("true = 'x'", 7, "cannot compare the string 'x' with a bool"),
        ("active ~ 'x'", 0, "~ and !~ need text, field 'active' is a bool"),
        ("title !~ false", 9, "~ and !~ need text, false is a bool"),
        ("tags ?= editors", 5, "cannot compare two multi-valued operands (field 'tags' and field 'editors')"),
        ("@request.auth.nan = 1", 0, "'@request.auth.nan' is not a finite number"),
        (
            "title = 'x' && views > 'a very long string that goes on and on and on'",
            23,
            "field 'views' is a number field; the string 'a very long string that goes on and on a…' is not a number",
        ),
    ];
    for (input, position, message) in cases {
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            let err = sql(input, dialect).expect_err(input);
            assert_eq!(
                (err.position, err.message.as_str()),
                (*position, *message),
                "{input}"
            );
        }
    }
}

// ---------------------------------------------------------------- golden SQL

#[test]
fn golden_sqlite() {
    use Dialect::Sqlite as S;
    use SqlValue::*;
    golden("title = 'x'", S, r#"("title" = ?1)"#, &[text("x")]);
    golden("title != 'x'", S, r#"("title" IS NOT ?1)"#, &[text("x")]);
    golden(
        "title = ''",
        S,
        r#"(("title" IS NULL OR "title" = ''))"#,
        &[],
    );
    golden(
        "title = null",
        S,
        r#"(("title" IS NULL OR "title" = ''))"#,
        &[],
    );
    golden(
        "null != title",
        S,
        r#"(("title" IS NOT NULL AND "title" <> ''))"#,
        &[],
    );
    golden("views = null", S, r#"("views" IS NULL)"#, &[]);
    golden("active != ''", S, r#"("active" IS NOT NULL)"#, &[]);
    golden("views > 10", S, r#"("views" > ?1)"#, &[Int(10)]);
    golden("views <= '2.5'", S, r#"("views" <= ?1)"#, &[Float(2.5)]);
    golden("-3 < views", S, r#"(?1 < "views")"#, &[Int(-3)]);
    golden("views < null", S, "(1 = 0)", &[]);
    golden("active = true", S, r#"("active" = ?1)"#, &[Bool(true)]);
    golden("active != 0", S, r#"("active" IS NOT ?1)"#, &[Bool(false)]);
    golden("title = 12.50", S, r#"("title" = ?1)"#, &[text("12.50")]);
    golden(
        "title ~ 'a%b' || title !~ '50_\\%'",
        S,
        r#"(COALESCE("title", '') LIKE ?1 ESCAPE '\' OR COALESCE("title", '') NOT LIKE ?2 ESCAPE '\')"#,
        &[text("a%b"), text("%50\\_\\%%")],
    );
    golden(
        "'hello world' ~ title",
        S,
        r#"(?1 LIKE ('%' || COALESCE("title", '') || '%') ESCAPE '\')"#,
        &[text("hello world")],
    );
    golden(
        "views ~ 1",
        S,
        r#"(COALESCE((CASE WHEN "views" = CAST("views" AS INTEGER) THEN CAST(CAST("views" AS INTEGER) AS TEXT) ELSE CAST("views" AS TEXT) END), '') LIKE ?1 ESCAPE '\')"#,
        &[text("%1%")],
    );
    golden(
        "title = body",
        S,
        r#"(COALESCE("title", '') = COALESCE("body", ''))"#,
        &[],
    );
    golden(
        "title != views",
        S,
        r#"(COALESCE("title", '') <> COALESCE((CASE WHEN "views" = CAST("views" AS INTEGER) THEN CAST(CAST("views" AS INTEGER) AS TEXT) ELSE CAST("views" AS TEXT) END), ''))"#,
        &[],
    );
    golden("views = score", S, r#"("views" IS "score")"#, &[]);
    golden("views > score", S, r#"("views" > "score")"#, &[]);
    golden("1 = 1", S, "(?1 = ?2)", &[Int(1), Int(1)]);
    golden("'a' != 'b'", S, "(?1 IS NOT ?2)", &[text("a"), text("b")]);
    golden("'1' = 1", S, "(?1 = ?2)", &[Int(1), Int(1)]);
    golden("null = ''", S, "(1 = 1)", &[]);
    golden("'x' = null", S, "(1 = 0)", &[]);
    golden("'x' != null", S, "(1 = 1)", &[]);
    golden(
        "published >= '2024-01-02T03:04:05+02:00'",
        S,
        r#"("published" >= ?1)"#,
        &[text("2024-01-02 01:04:05.000Z")],
    );
    golden(
        "published > '2024-01'",
        S,
        r#"("published" > ?1)"#,
        &[text("2024-01")],
    );
    golden(
        "created > @todayStart && updated < @now && @weekday = 1",
        S,
        r#"("created" > ?1 AND "updated" < ?2 AND ?3 = ?4)"#,
        &[
            text("2024-05-06 00:00:00.000Z"),
            text("2024-05-06 07:08:09.010Z"),
            Int(1),
            Int(1),
        ],
    );
    golden(
        "author = @request.auth.id && active = @request.auth.verified",
        S,
        r#"("author" = ?1 AND "active" = ?2)"#,
        &[text("u1"), Bool(true)],
    );
    golden(
        "author = @request.auth.none",
        S,
        r#"(("author" IS NULL OR "author" = ''))"#,
        &[],
    );
    golden(
        "meta.a.b = 'x' && meta.list.0 != 1 && meta = null",
        S,
        r#"((json_extract("meta", '$.a.b') IS ?1 AND COALESCE(NULLIF(json_type("meta", '$.a.b'), 'null') = 'text', TRUE)) AND (json_extract("meta", '$.list[0]') IS NOT ?2 OR NOT COALESCE(NULLIF(json_type("meta", '$.list[0]'), 'null') IN ('integer', 'real'), TRUE)) AND json_extract("meta", '$') IS NULL)"#,
        &[text("x"), Int(1)],
    );
    golden(
        "meta.n > 2 && meta.s = '' && meta.f = true",
        S,
        r#"((json_extract("meta", '$.n') > ?1 AND NULLIF(json_type("meta", '$.n'), 'null') IN ('integer', 'real')) AND (json_extract("meta", '$.s') IS ?2 AND COALESCE(NULLIF(json_type("meta", '$.s'), 'null') = 'text', TRUE)) AND (json_extract("meta", '$.f') IS ?3 AND COALESCE(NULLIF(json_type("meta", '$.f'), 'null') IN ('true', 'false'), TRUE)))"#,
        &[Int(2), text(""), Bool(true)],
    );
    golden(
        "meta.a ~ 'x' && meta.a:lower = title",
        S,
        r#"(COALESCE(json_extract("meta", '$.a'), '') LIKE ?1 ESCAPE '\' AND COALESCE(LOWER(json_extract("meta", '$.a')), '') = COALESCE("title", ''))"#,
        &[text("%x%")],
    );
    golden(
        "title:lower = 'abc'",
        S,
        r#"(LOWER("title") = ?1)"#,
        &[text("abc")],
    );
    let tags = r#"(SELECT _pbf_e.value AS _pbf_v FROM (SELECT CASE WHEN json_array_length("tags") > 0 THEN "tags" ELSE '[null]' END AS _pbf_a) AS _pbf_s, json_each(_pbf_s._pbf_a) AS _pbf_e) AS _pbf"#;
    golden(
        "tags ?= 'a'",
        S,
        &format!("(EXISTS (SELECT 1 FROM {tags} WHERE _pbf._pbf_v = ?1))"),
        &[text("a")],
    );
    golden(
        "tags = 'a'",
        S,
        &format!("(NOT EXISTS (SELECT 1 FROM {tags} WHERE NOT COALESCE(_pbf._pbf_v = ?1, FALSE)))"),
        &[text("a")],
    );
    golden(
        "'a' ?!= tags",
        S,
        &format!("(EXISTS (SELECT 1 FROM {tags} WHERE ?1 IS NOT _pbf._pbf_v))"),
        &[text("a")],
    );
    golden(
        "tags:lower ?~ 'A'",
        S,
        &format!(
            "(EXISTS (SELECT 1 FROM {tags} WHERE COALESCE(LOWER(_pbf._pbf_v), '') LIKE ?1 ESCAPE '\\'))"
        ),
        &[text("%A%")],
    );
    golden(
        "tags:length >= 2",
        S,
        r#"(COALESCE(json_array_length("tags"), 0) >= ?1)"#,
        &[Int(2)],
    );
    golden(
        "meta.list:length = 0",
        S,
        r#"(COALESCE(json_array_length("meta", '$.list'), 0) = ?1)"#,
        &[Int(0)],
    );
    let list = r#"(SELECT _pbf_e.value AS _pbf_v, _pbf_e.type AS _pbf_t FROM (SELECT CASE json_type("meta", '$.list') WHEN 'array' THEN CASE json_array_length("meta", '$.list') WHEN 0 THEN '[null]' ELSE json_extract("meta", '$.list') END ELSE json_array(json_extract("meta", '$.list')) END AS _pbf_a) AS _pbf_s, json_each(_pbf_s._pbf_a) AS _pbf_e) AS _pbf"#;
    golden(
        "meta.list ?> 3",
        S,
        &format!(
            "(EXISTS (SELECT 1 FROM {list} WHERE (_pbf._pbf_v > ?1 AND NULLIF(_pbf._pbf_t, 'null') IN ('integer', 'real'))))"
        ),
        &[Int(3)],
    );
    golden(
        "meta.list:each != 'x'",
        S,
        &format!(
            "(NOT EXISTS (SELECT 1 FROM {list} WHERE NOT COALESCE((_pbf._pbf_v IS NOT ?1 OR NOT COALESCE(NULLIF(_pbf._pbf_t, 'null') = 'text', TRUE)), FALSE)))"
        ),
        &[text("x")],
    );
    // "any of" on a single-valued field is the plain operator.
    golden("status ?= 'a'", S, r#"("status" = ?1)"#, &[text("a")]);
    golden(
        "(title = 'a' || title = 'b') && (views > 1 || views < -1) && active = true",
        S,
        r#"(("title" = ?1 OR "title" = ?2) AND ("views" > ?3 OR "views" < ?4) AND "active" = ?5)"#,
        &[text("a"), text("b"), Int(1), Int(-1), Bool(true)],
    );
}

#[test]
fn golden_postgres() {
    use Dialect::Postgres as P;
    use SqlValue::*;
    golden("title = 'x'", P, r#"("title" = $1::text)"#, &[text("x")]);
    golden(
        "title != 'x'",
        P,
        r#"("title" IS DISTINCT FROM $1::text)"#,
        &[text("x")],
    );
    golden(
        "title = ''",
        P,
        r#"(("title" IS NULL OR "title" = ''))"#,
        &[],
    );
    golden("views = null", P, r#"("views" IS NULL)"#, &[]);
    golden("views > 10", P, r#"("views" > $1::bigint)"#, &[Int(10)]);
    golden("views > 0.5", P, r#"("views" > $1::float8)"#, &[Float(0.5)]);
    golden(
        "active = true",
        P,
        r#"("active" = $1::boolean)"#,
        &[Bool(true)],
    );
    golden(
        "title > 'b'",
        P,
        r#"("title" COLLATE "C" > $1::text)"#,
        &[text("b")],
    );
    golden(
        "published < @now",
        P,
        r#"("published" COLLATE "C" < $1::text)"#,
        &[text("2024-05-06 07:08:09.010Z")],
    );
    golden(
        "title ~ 'x' && title !~ 'y'",
        P,
        r#"(COALESCE("title", '') ILIKE $1::text ESCAPE '\' AND COALESCE("title", '') NOT ILIKE $2::text ESCAPE '\')"#,
        &[text("%x%"), text("%y%")],
    );
    golden(
        "title = body",
        P,
        r#"(COALESCE("title", '') = COALESCE("body", ''))"#,
        &[],
    );
    golden(
        "views = score",
        P,
        r#"("views" IS NOT DISTINCT FROM "score")"#,
        &[],
    );
    golden(
        "title < views",
        P,
        r#"("title" COLLATE "C" < CAST("views" AS TEXT))"#,
        &[],
    );
    golden(
        "1 = 1.5",
        P,
        "($1::bigint = $2::float8)",
        &[Int(1), Float(1.5)],
    );
    golden(
        "'a' < 'b'",
        P,
        r#"($1::text COLLATE "C" < $2::text)"#,
        &[text("a"), text("b")],
    );
    golden(
        "meta.a.b = 'x'",
        P,
        r#"(NULLIF(("meta")::jsonb #> '{a,b}', 'null'::jsonb) IS NOT DISTINCT FROM to_jsonb($1::text))"#,
        &[text("x")],
    );
    golden(
        "meta != 1 && meta.n >= 2.5 && meta.f = true && meta.z = null",
        P,
        r#"(NULLIF(("meta")::jsonb, 'null'::jsonb) IS DISTINCT FROM to_jsonb($1::bigint) AND (NULLIF(("meta")::jsonb #> '{n}', 'null'::jsonb) >= to_jsonb($2::float8) AND jsonb_typeof(NULLIF(("meta")::jsonb #> '{n}', 'null'::jsonb)) = 'number') AND NULLIF(("meta")::jsonb #> '{f}', 'null'::jsonb) IS NOT DISTINCT FROM to_jsonb($3::boolean) AND NULLIF(("meta")::jsonb #> '{z}', 'null'::jsonb) IS NULL)"#,
        &[Int(1), Float(2.5), Bool(true)],
    );
    golden(
        "meta.a = title",
        P,
        r#"(NULLIF(("meta")::jsonb #> '{a}', 'null'::jsonb) IS NOT DISTINCT FROM to_jsonb("title"))"#,
        &[],
    );
    golden(
        "meta.a ~ 'x'",
        P,
        r#"(COALESCE((NULLIF(("meta")::jsonb #> '{a}', 'null'::jsonb) #>> '{}'), '') ILIKE $1::text ESCAPE '\')"#,
        &[text("%x%")],
    );
    let tags = r#"jsonb_array_elements_text(CASE WHEN jsonb_typeof(("tags")::jsonb) = 'array' AND ("tags")::jsonb <> '[]'::jsonb THEN ("tags")::jsonb ELSE '[null]'::jsonb END) AS _pbf(_pbf_v)"#;
    golden(
        "tags ?= 'a'",
        P,
        &format!("(EXISTS (SELECT 1 FROM {tags} WHERE _pbf._pbf_v = $1::text))"),
        &[text("a")],
    );
    golden(
        "tags != 'a'",
        P,
        &format!(
            "(NOT EXISTS (SELECT 1 FROM {tags} WHERE NOT COALESCE(_pbf._pbf_v IS DISTINCT FROM $1::text, FALSE)))"
        ),
        &[text("a")],
    );
    golden(
        "tags:length > 1",
        P,
        r#"(COALESCE(jsonb_array_length(CASE WHEN jsonb_typeof(("tags")::jsonb) = 'array' THEN ("tags")::jsonb END), 0) > $1::bigint)"#,
        &[Int(1)],
    );
    let list = r#"jsonb_array_elements(CASE WHEN ("meta")::jsonb #> '{list}' = '[]'::jsonb THEN '[null]'::jsonb WHEN jsonb_typeof(("meta")::jsonb #> '{list}') = 'array' THEN ("meta")::jsonb #> '{list}' ELSE jsonb_build_array(("meta")::jsonb #> '{list}') END) AS _pbf(_pbf_v)"#;
    golden(
        "meta.list ?= 'p'",
        P,
        &format!(
            "(EXISTS (SELECT 1 FROM {list} WHERE NULLIF(_pbf._pbf_v, 'null'::jsonb) IS NOT DISTINCT FROM to_jsonb($1::text)))"
        ),
        &[text("p")],
    );
    golden(
        "meta.list ?~ 'p'",
        P,
        &format!(
            "(EXISTS (SELECT 1 FROM {list} WHERE COALESCE((NULLIF(_pbf._pbf_v, 'null'::jsonb) #>> '{{}}'), '') ILIKE $1::text ESCAPE '\\'))"
        ),
        &[text("%p%")],
    );
}

#[test]
fn placeholders_start_at_first_param() {
    let e = parse("title = 'a' && views > 1 && tags ?= 'x'").unwrap();
    let s = to_sql(&e, &TestSchema, Dialect::Postgres, 4).unwrap();
    assert!(
        s.sql.contains("$4::text") && s.sql.contains("$5::bigint") && s.sql.contains("$6::text")
    );
    assert!(!s.sql.contains("$1") && !s.sql.contains("$7"));
    let s = to_sql(&e, &TestSchema, Dialect::Sqlite, 0).unwrap();
    assert!(s.sql.contains("?1") && s.sql.contains("?3") && !s.sql.contains("?4"));
    assert_eq!(s.params.len(), 3);
}

#[test]
fn like_patterns() {
    assert_eq!(like_pattern("abc"), "%abc%");
    assert_eq!(like_pattern(""), "%%");
    assert_eq!(like_pattern("a_b"), "%a\\_b%");
    assert_eq!(like_pattern(r"a\b"), r"%a\\b%");
    assert_eq!(like_pattern(r"a\_b"), r"%a\_b%");
    assert_eq!(like_pattern(r"a\%b"), r"%a\%b%");
    assert_eq!(like_pattern(r"a\\"), r"%a\\%");
    assert_eq!(like_pattern(r"a\"), r"%a\\%");
    // An unescaped % makes it a pattern, used as written.
    assert_eq!(like_pattern("a%"), "a%");
    assert_eq!(like_pattern("%a_b"), "%a_b");
    assert_eq!(like_pattern(r"a%\"), r"a%\\");
    assert_eq!(like_pattern(r"a%\\"), r"a%\\");
}

#[test]
fn dates() {
    use super::date::{format_ms, macro_value, normalize, parse_datetime, MacroValue};
    assert_eq!(format_ms(0), "1970-01-01 00:00:00.000Z");
    assert_eq!(format_ms(NOW_MS), "2024-05-06 07:08:09.010Z");
    assert_eq!(format_ms(-1), "1969-12-31 23:59:59.999Z");
    assert_eq!(parse_datetime("2024-05-06 07:08:09.010Z"), Some(NOW_MS));
    for (input, want) in [
        ("2024-05-06T07:08:09Z", "2024-05-06 07:08:09.000Z"),
        ("2024-05-06 07:08", "2024-05-06 07:08:00.000Z"),
        ("2024-05-06t07:08:09.5", "2024-05-06 07:08:09.500Z"),
        ("2024-05-06 07:08:09.123456Z", "2024-05-06 07:08:09.123Z"),
        ("2024-05-06T01:00:00+02:00", "2024-05-05 23:00:00.000Z"),
        ("2024-05-06T23:30:00-0100", "2024-05-07 00:30:00.000Z"),
        ("2024-02-29 00:00:00Z", "2024-02-29 00:00:00.000Z"),
        // Not full date-times: kept.
        ("2024-05-06", "2024-05-06"),
        ("2023-02-29 00:00:00Z", "2023-02-29 00:00:00Z"),
        ("2024-05-06 24:00:00", "2024-05-06 24:00:00"),
        ("2024-05-06 07:08:09.Z", "2024-05-06 07:08:09.Z"),
        ("2024-05-06 07:08:09Zjunk", "2024-05-06 07:08:09Zjunk"),
        ("2024-05-06 07:08:09+2", "2024-05-06 07:08:09+2"),
        ("2024-05-06 07:08:09+02:00x", "2024-05-06 07:08:09+02:00x"),
        ("x", "x"),
        ("日本語日本語日本語日本語", "日本語日本語日本語日本語"),
    ] {
        assert_eq!(normalize(input), want, "{input}");
    }
    let text = |name| match macro_value(name, NOW_MS) {
        Some(MacroValue::Text(s)) => s,
        _ => panic!("{name}"),
    };
    let int = |name| match macro_value(name, NOW_MS) {
        Some(MacroValue::Int(i)) => i,
        _ => panic!("{name}"),
    };
    assert_eq!(text("@now"), "2024-05-06 07:08:09.010Z");
    assert_eq!(text("@yesterday"), "2024-05-05 07:08:09.010Z");
    assert_eq!(text("@tomorrow"), "2024-05-07 07:08:09.010Z");
    assert_eq!(text("@todayStart"), "2024-05-06 00:00:00.000Z");
    assert_eq!(text("@todayEnd"), "2024-05-06 23:59:59.999Z");
    assert_eq!(text("@monthStart"), "2024-05-01 00:00:00.000Z");
    assert_eq!(text("@monthEnd"), "2024-05-31 23:59:59.999Z");
    assert_eq!(text("@yearStart"), "2024-01-01 00:00:00.000Z");
    assert_eq!(text("@yearEnd"), "2024-12-31 23:59:59.999Z");
    assert_eq!(
        [
            int("@second"),
            int("@minute"),
            int("@hour"),
            int("@day"),
            int("@month"),
            int("@year"),
            int("@weekday")
        ],
        [9, 8, 7, 6, 5, 2024, 1]
    );
    assert!(macro_value("@later", NOW_MS).is_none());
}
