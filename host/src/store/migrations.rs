//! The schema migrations of both backends (`migrations/{sqlite,postgres}/`),
//! embedded in the binary and run by sqlx's migrator. Listed here by hand
//! rather than with `sqlx::migrate!`, whose proc-macro would compile a
//! second copy of sqlx and SQLite into every build; a test checks the list
//! against the folders. Each migration's checksum (SHA-384 of its SQL) is
//! computed as `migrate!` computes it, so databases it migrated stay valid.

use sqlx::migrate::{Migration, MigrationType, Migrator};
use std::borrow::Cow;

macro_rules! migrations {
    ($backend:literal: $($version:literal $name:literal),* $(,)?) => {
        &[$(($version, $name, include_str!(concat!("migrations/", $backend, "/", $name, ".sql")))),*]
    };
}

/// (version, file stem, SQL).
type Files = &'static [(i64, &'static str, &'static str)];

pub const SQLITE: Files = migrations!("sqlite":
    1 "0001_registry", 2 "0002_artifact_hash", 3 "0003_js_functions", 4 "0004_kv",
    5 "0005_secrets", 6 "0006_collections", 7 "0007_jobs", 8 "0008_hooks",
    9 "0009_observability", 10 "0010_reuse",
);

pub const POSTGRES: Files = migrations!("postgres":
    1 "0001_registry", 2 "0002_artifact_hash", 3 "0003_js_functions", 4 "0004_kv",
    5 "0005_secrets", 6 "0006_collections", 7 "0007_jobs", 8 "0008_hooks",
    9 "0009_observability", 10 "0010_reuse",
);

/// The migrator of one backend's files.
pub fn migrator(files: Files) -> Migrator {
    let migrations = files
        .iter()
        .map(|(version, stem, sql)| {
            let description = stem
                .split_once('_')
                .map_or(*stem, |(_, d)| d)
                .replace('_', " ");
            Migration::new(
                *version,
                Cow::Owned(description),
                MigrationType::Simple,
                Cow::Borrowed(*sql),
                sql.starts_with("-- no-transaction"),
            )
        })
        .collect::<Vec<_>>();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_listed_in_order() {
        for (backend, files) in [("sqlite", SQLITE), ("postgres", POSTGRES)] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("src/store/migrations")
                .join(backend);
            let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            on_disk.sort();
            let listed: Vec<String> = files.iter().map(|(_, s, _)| format!("{s}.sql")).collect();
            assert_eq!(
                listed,
                on_disk,
                "{backend}: list every file of {}",
                dir.display()
            );
            for (version, stem, _) in files {
                let prefix: i64 = stem.split('_').next().unwrap().parse().unwrap();
                assert_eq!(prefix, *version, "{stem}");
            }
        }
    }
}
