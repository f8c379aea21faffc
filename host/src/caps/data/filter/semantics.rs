//! The filters' meaning, run for real: a small table on an in-memory SQLite
//! (and on PostgreSQL when `PBS_FILTER_PG_URL` names a database; the
//! records suite covers PostgreSQL in any case) and the rows each filter
//! must select.

use super::tests::sql;
use super::Dialect;

pub(super) mod db {
    //! The test table on SQLite (and PostgreSQL) and a way to run a filter.
    use super::super::{SqlFilter, SqlValue};

    pub const SQLITE_TABLE: &str = r#"CREATE TABLE t (
        "id" TEXT PRIMARY KEY, "created" TEXT, "updated" TEXT,
        "title" TEXT, "body" TEXT, "views" REAL, "score" INTEGER, "active" INTEGER,
        "meta" TEXT, "published" TEXT, "status" TEXT, "tags" TEXT, "author" TEXT,
        "editors" TEXT, "avatar" TEXT, "value" TEXT, "key" TEXT, "type" TEXT, "embedding" BLOB)"#;

    pub const PG_TABLE: &str = r#"CREATE TEMP TABLE t (
        "id" text PRIMARY KEY, "created" text, "updated" text,
        "title" text, "body" text, "views" double precision, "score" bigint, "active" boolean,
        "meta" jsonb, "published" text, "status" text, "tags" text, "author" text,
        "editors" jsonb, "avatar" text, "value" text, "key" text, "type" text, "embedding" bytea)"#;

    /// id, title, body, views, score, active, meta, published, status,
    /// tags, author, editors, value, key, type.
    #[allow(clippy::type_complexity)]
    pub const ROWS: &[(
        &str,
        Option<&str>,
        Option<&str>,
        Option<f64>,
        Option<i64>,
        Option<bool>,
        Option<&str>,
        Option<&str>,
        Option<&str>,
        Option<&str>,
        Option<&str>,
        Option<&str>,
        Option<&str>,
        Option<&str>,
        Option<&str>,
    )] = &[
        (
            "r1",
            Some("Hello World"),
            None,
            Some(10.0),
            Some(3),
            Some(true),
            Some(r#"{"a":"x","b":{"c":5},"list":["p","q"],"flag":true}"#),
            Some("2024-01-02 03:04:05.000Z"),
            Some("draft"),
            Some(r#"["a","b"]"#),
            Some("u1"),
            Some(r#"["u1","u2"]"#),
            Some("v"),
            Some("k"),
            Some(r#"["t1"]"#),
        ),
        (
            "r2",
            Some(""),
            Some(""),
            Some(0.0),
            None,
            Some(false),
            Some(r#"{"a":"y","list":[]}"#),
            None,
            Some(""),
            Some("[]"),
            Some(""),
            Some("[]"),
            Some(""),
            Some("b"),
            Some("[]"),
        ),
        (
            "r3", None, None, None, None, None, None, None, None, None, None, None, None, None,
            None,
        ),
        (
            "r4",
            Some(r"50% off_sale\path"),
            None,
            Some(2.5),
            Some(-1),
            Some(true),
            Some(r#"{"a":null,"b":{"c":"5"},"list":"p"}"#),
            Some("2024-06-30 23:59:59.999Z"),
            None,
            Some(r#"["b"]"#),
            None,
            None,
            None,
            Some("b"),
            None,
        ),
        (
            "r5",
            Some("hello"),
            Some("hello"),
            Some(100.0),
            None,
            Some(false),
            Some(r#"{"a":"X"}"#),
            Some("2023-12-31 23:00:00.000Z"),
            Some("published"),
            Some(r#"["a"]"#),
            Some("u2"),
            Some(r#"["u2"]"#),
            None,
            None,
            None,
        ),
    ];

    pub const INSERT: &str = r#"INSERT INTO t ("id", "title", "body", "views", "score",
        "active", "meta", "published", "status", "tags", "author", "editors", "value", "key",
        "type") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"#;

    /// PostgreSQL: `meta` and `editors` are jsonb, `tags` and `type` text
    /// holding JSON — both ways a records table may store them.
    pub const PG_INSERT: &str = r#"INSERT INTO t ("id", "title", "body", "views", "score",
        "active", "meta", "published", "status", "tags", "author", "editors", "value", "key",
        "type") VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11, $12::jsonb, $13,
        $14, $15)"#;

    macro_rules! bind_params {
        ($q:expr, $params:expr) => {{
            let mut q = $q;
            for p in $params {
                q = match p {
                    SqlValue::Null => q.bind(None::<String>),
                    SqlValue::Bool(b) => q.bind(*b),
                    SqlValue::Int(i) => q.bind(*i),
                    SqlValue::Float(f) => q.bind(*f),
                    SqlValue::Text(s) => q.bind(s.as_str()),
                };
            }
            q
        }};
    }

    macro_rules! insert_rows {
        ($conn:expr, $insert:expr) => {{
            for r in ROWS {
                sqlx::query($insert)
                    .bind(r.0)
                    .bind(r.1)
                    .bind(r.2)
                    .bind(r.3)
                    .bind(r.4)
                    .bind(r.5)
                    .bind(r.6)
                    .bind(r.7)
                    .bind(r.8)
                    .bind(r.9)
                    .bind(r.10)
                    .bind(r.11)
                    .bind(r.12)
                    .bind(r.13)
                    .bind(r.14)
                    .execute(&mut *$conn)
                    .await
                    .unwrap();
            }
        }};
    }

    pub async fn sqlite() -> sqlx::SqliteConnection {
        use sqlx::Connection;
        let mut c = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        sqlx::query(SQLITE_TABLE).execute(&mut c).await.unwrap();
        insert_rows!(&mut c, INSERT);
        c
    }

    pub async fn postgres(url: &str) -> sqlx::PgConnection {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(PG_TABLE).execute(&mut c).await.unwrap();
        insert_rows!(&mut c, PG_INSERT);
        c
    }

    /// The ids of the rows `f` selects, sorted.
    pub async fn ids_sqlite(
        c: &mut sqlx::SqliteConnection,
        f: &SqlFilter,
    ) -> Result<Vec<String>, sqlx::Error> {
        let q = format!("SELECT \"id\" FROM t WHERE {} ORDER BY \"id\"", f.sql);
        let q = bind_params!(sqlx::query_scalar::<_, String>(&q), &f.params);
        q.fetch_all(c).await
    }

    pub async fn ids_postgres(
        c: &mut sqlx::PgConnection,
        f: &SqlFilter,
    ) -> Result<Vec<String>, sqlx::Error> {
        let q = format!("SELECT \"id\" FROM t WHERE {} ORDER BY \"id\"", f.sql);
        let q = bind_params!(sqlx::query_scalar::<_, String>(&q), &f.params);
        q.fetch_all(c).await
    }
}

/// Filters and the rows they select, checked on SQLite (and PostgreSQL).
const SEMANTICS: &[(&str, &[&str])] = &[
    ("title = ''", &["r2", "r3"]),
    ("title = null", &["r2", "r3"]),
    ("title != ''", &["r1", "r4", "r5"]),
    ("title != 'hello'", &["r1", "r2", "r3", "r4"]),
    ("title ~ 'HELLO'", &["r1", "r5"]),
    ("title !~ 'hello'", &["r2", "r3", "r4"]),
    ("title ~ '50%'", &["r4"]),
    ("title ~ 'ff_s'", &["r4"]),
    ("title ~ 'o_f'", &[]),
    (r"title ~ 'e\path'", &["r4"]),
    ("title ~ '%world'", &["r1"]),
    ("'say hello!' ~ title", &["r2", "r3", "r5"]),
    ("title = body", &["r2", "r3", "r5"]),
    ("title != body", &["r1", "r4"]),
    ("title:lower = 'hello world'", &["r1"]),
    ("views > 5", &["r1", "r5"]),
    ("views >= 0", &["r1", "r2", "r4", "r5"]),
    ("views = null", &["r3"]),
    ("views != null", &["r1", "r2", "r4", "r5"]),
    ("views = '10'", &["r1"]),
    ("views != 10", &["r2", "r3", "r4", "r5"]),
    ("views < 2.6 && views > 2.4", &["r4"]),
    ("1 < views", &["r1", "r4", "r5"]),
    ("views > score", &["r1", "r4"]),
    ("views ~ '2.5'", &["r4"]),
    ("active = true", &["r1", "r4"]),
    ("active = false", &["r2", "r5"]),
    ("active != true", &["r2", "r3", "r5"]),
    ("active = 1 && active = 'true'", &["r1", "r4"]),
    ("active = null", &["r3"]),
    ("active = @request.auth.verified", &["r1", "r4"]),
    ("meta.a = 'x'", &["r1"]),
    ("meta.a = null", &["r3", "r4"]),
    ("meta.a != null", &["r1", "r2", "r5"]),
    ("meta.b.c = 5", &["r1"]),
    ("meta.b.c = '5'", &["r4"]),
    ("meta.b.c >= 5 && meta.b.c <= 5", &["r1"]),
    ("meta.b.c > 4", &["r1"]),
    ("meta.b.c > '4'", &["r4"]),
    ("meta.flag = 1", &[]),
    ("meta.flag != 1", &["r1", "r2", "r3", "r4", "r5"]),
    ("meta.a ~ 'x'", &["r1", "r5"]),
    ("meta.a:lower = 'x'", &["r1", "r5"]),
    ("meta.flag = true", &["r1"]),
    ("meta.list.1 = 'q'", &["r1"]),
    ("meta.list ?= 'p'", &["r1", "r4"]),
    ("meta.list ?= null", &["r2", "r3", "r5"]),
    ("meta.list:each = 'p'", &["r4"]),
    ("meta.list:length > 1", &["r1"]),
    ("meta.list:length = 0", &["r2", "r3", "r4", "r5"]),
    ("meta = null", &["r3"]),
    ("meta.a = title", &["r3"]),
    ("tags ?= 'a'", &["r1", "r5"]),
    ("tags = 'a'", &["r5"]),
    ("'a' = tags", &["r5"]),
    ("tags ?!= 'a'", &["r1", "r2", "r3", "r4"]),
    ("tags != 'a'", &["r2", "r3", "r4"]),
    ("tags = ''", &["r2", "r3"]),
    ("tags ?~ 'B'", &["r1", "r4"]),
    ("tags !~ 'a'", &["r2", "r3", "r4"]),
    ("tags ?> 'a'", &["r1", "r4"]),
    ("tags:length = 0", &["r2", "r3"]),
    ("tags:length = 2", &["r1"]),
    ("tags ?= key", &["r3", "r4"]),
    ("editors ?= @request.auth.id", &["r1"]),
    ("author = @request.auth.id", &["r1"]),
    ("value = 'v'", &["r1"]),
    ("type ?= 't1'", &["r1"]),
    ("key = 'b' && type = null", &["r2", "r4"]),
    ("published > '2024-01-01'", &["r1", "r4"]),
    ("published >= '2024-01-02T03:04:05Z'", &["r1", "r4"]),
    ("published < '2024-01-01 00:30:00+01:00'", &["r5"]),
    ("published < @now", &["r1", "r5"]),
    ("published = ''", &["r2", "r3"]),
    ("(title ~ 'hello' || views > 50) && active = true", &["r1"]),
    (
        "title ~ 'hello' || views > 50 && active = true",
        &["r1", "r5"],
    ),
    ("1 = 1", &["r1", "r2", "r3", "r4", "r5"]),
    ("'a' = 'b'", &[]),
    ("null = ''", &["r1", "r2", "r3", "r4", "r5"]),
    ("'1' = 1", &["r1", "r2", "r3", "r4", "r5"]),
    ("@request.auth.id = 'u1'", &["r1", "r2", "r3", "r4", "r5"]),
    (
        "@year > 2000 && @weekday = 1",
        &["r1", "r2", "r3", "r4", "r5"],
    ),
];

#[test]
fn semantics_on_sqlite() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c = db::sqlite().await;
        for (input, want) in SEMANTICS {
            let f = sql(input, Dialect::Sqlite).unwrap();
            let got = db::ids_sqlite(&mut c, &f)
                .await
                .unwrap_or_else(|e| panic!("{input}: {e}\n{}", f.sql));
            assert_eq!(got, *want, "{input}\n{}", f.sql);
        }
    });
}

/// The same on PostgreSQL when `PBS_FILTER_PG_URL` names a database (the
/// records suite runs these filters against PostgreSQL in any case).
#[test]
fn semantics_on_postgres() {
    let Ok(url) = std::env::var("PBS_FILTER_PG_URL") else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut c = db::postgres(&url).await;
        for (input, want) in SEMANTICS {
            let f = sql(input, Dialect::Postgres).unwrap();
            let got = db::ids_postgres(&mut c, &f)
                .await
                .unwrap_or_else(|e| panic!("{input}: {e}\n{}", f.sql));
            assert_eq!(got, *want, "{input}\n{}", f.sql);
        }
    });
}
