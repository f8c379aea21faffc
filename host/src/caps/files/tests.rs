//! pb:files without Wasm: the name rules, and the store on a local folder
//! and in memory (the end-to-end suite, with S3, is tests/tests/e2e/files.rs).

use super::config::FilesConfig;
use super::name::{
    check_filename, check_id, filename_in, key, record_prefix, MAX_FILENAME_LEN, MAX_STORED_LEN,
};
use super::store::{FileError, Files};
use bytes::Bytes;
use std::sync::Arc;

#[test]
fn bad_file_names_are_refused_with_a_reason() {
    let long = "a".repeat(MAX_FILENAME_LEN + 1);
    let encoded_long = "#".repeat(100);
    let cases: &[(&str, &str)] = &[
        ("", "empty"),
        (".", "not a file name"),
        ("..", "not a file name"),
        ("../etc/passwd", "path separator"),
        ("/etc/passwd", "path separator"),
        ("a/b", "path separator"),
        ("a\\b", "path separator"),
        ("C:\\x", "path separator"),
        ("a\0b", "NUL"),
        ("a\nb", "U+000A"),
        ("a\u{7f}", "U+007F"),
        ("a\u{85}", "U+0085"),
        (&long, "256 bytes long"),
        (&encoded_long, "once encoded"),
        (&"a".repeat(MAX_STORED_LEN + 1), "once encoded"),
    ];
    for (name, why) in cases {
        let err = check_filename(name).expect_err(name).0;
        assert!(err.contains(why), "{name:?}: {err:?} should say {why:?}");
    }
    for ok in [
        "a.txt",
        "...",
        "..a",
        ".hidden",
        "report #2.pdf",
        "100%.txt",
        "x#1",
        "naïve 文件.md",
        &"a".repeat(MAX_STORED_LEN),
        &"é".repeat(MAX_STORED_LEN / 2),
        &"文件".repeat(MAX_STORED_LEN / 6),
    ] {
        check_filename(ok).unwrap_or_else(|e| panic!("{ok:?}: {e}"));
    }
}

#[test]
fn collections_and_record_ids_are_identifiers() {
    for ok in ["posts", "pbc_1234567890", "abc123def456ghi", "A-b_9"] {
        check_id("collection", ok).unwrap();
    }
    for bad in ["", "a b", "a/b", "..", "a.b", "é", &"a".repeat(101)] {
        assert!(check_id("record id", bad).is_err(), "{bad:?}");
    }
}

#[test]
fn keys_encode_what_stores_dislike_and_decode_back() {
    for name in ["a.txt", "x#1", "100%.txt", "q?.md", "naïve 文件.md", "a*b"] {
        let k = key("posts", "r1", name).unwrap();
        let prefix = record_prefix("posts", "r1").unwrap();
        assert_eq!(filename_in(&prefix, &k).as_deref(), Some(name), "{k}");
    }
    assert_eq!(
        key("posts", "r1", "x#1").unwrap().as_ref(),
        "posts/r1/x%231"
    );
    // Non-ASCII is kept as it is.
    assert_eq!(
        key("posts", "r1", "naïve 100%.md").unwrap().as_ref(),
        "posts/r1/naïve 100%25.md"
    );
    // Deeper keys and foreign names are not a record's files.
    let prefix = record_prefix("posts", "r1").unwrap();
    let deeper = object_store::path::Path::from("posts/r1/sub/f");
    assert_eq!(filename_in(&prefix, &deeper), None);
}

fn local(dir: &std::path::Path, max: u64) -> Files {
    let config = FilesConfig {
        max_file_size: max,
        ..Default::default()
    };
    Files::open(&config, dir).unwrap()
}

fn memory() -> Files {
    Files::with_store(
        Arc::new(object_store::memory::InMemory::new()),
        1 << 20,
        "memory".into(),
    )
}

async fn round_trip(files: &Files) {
    assert!(files.list("posts", "r1").await.unwrap().is_empty());
    let saved = files
        .save("posts", "r1", "b.txt", Bytes::from_static(b"hello"))
        .await
        .unwrap();
    assert_eq!((saved.filename.as_str(), saved.size), ("b.txt", 5));
    files
        .save("posts", "r1", "a #1.bin", Bytes::from(vec![0u8, 255, 7]))
        .await
        .unwrap();
    assert_eq!(
        &files.read("posts", "r1", "b.txt").await.unwrap()[..],
        b"hello"
    );
    // Replaced whole.
    files
        .save("posts", "r1", "b.txt", Bytes::from_static(b"bye"))
        .await
        .unwrap();
    let list = files.list("posts", "r1").await.unwrap();
    let names: Vec<_> = list.iter().map(|f| (f.filename.as_str(), f.size)).collect();
    assert_eq!(names, [("a #1.bin", 3), ("b.txt", 3)]);
    assert!(list.iter().all(|f| f.modified_ms > 1_600_000_000_000));
    assert!(matches!(
        files.read("posts", "r1", "nope").await,
        Err(FileError::NotFound(_))
    ));
    assert!(files.delete("posts", "r1", "b.txt").await.unwrap());
    assert!(!files.delete("posts", "r1", "b.txt").await.unwrap());
    assert_eq!(files.list("posts", "r1").await.unwrap().len(), 1);
}

async fn records_and_collections(files: &Files) {
    for (c, r, n) in [
        ("posts", "r1", "a"),
        ("posts", "r1", "b"),
        ("posts", "r2", "a"),
        ("posts2", "r1", "a"),
        ("users", "r1", "a"),
    ] {
        files.save(c, r, n, Bytes::from_static(b"x")).await.unwrap();
    }
    assert_eq!(files.delete_record("posts", "r1").await.unwrap(), 2);
    assert_eq!(files.delete_record("posts", "r1").await.unwrap(), 0);
    assert!(files.list("posts", "r1").await.unwrap().is_empty());
    assert_eq!(files.list("posts", "r2").await.unwrap().len(), 1);
    // `posts` is no prefix of `posts2`: segments, not text.
    assert_eq!(files.delete_collection("posts").await.unwrap(), 1);
    assert_eq!(files.list("posts2", "r1").await.unwrap().len(), 1);
    assert_eq!(files.list("users", "r1").await.unwrap().len(), 1);
    assert!(matches!(
        files.delete_record("posts", "..").await,
        Err(FileError::Invalid(_))
    ));
}

#[tokio::test]
async fn local_folder_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let files = local(dir.path(), 1 << 20);
    round_trip(&files).await;
    // The longest name fits the file system, temporary suffix included.
    let longest = "é".repeat(MAX_STORED_LEN / 2);
    files
        .save("posts", "r9", &longest, Bytes::from_static(b"x"))
        .await
        .unwrap();
    assert!(files.delete("posts", "r9", &longest).await.unwrap());
    // Stored under <dir>/storage/<collection>/<record>/, name encoded.
    assert!(dir.path().join("storage/posts/r1/a %231.bin").is_file());
    files
        .save("posts", "r1", "文件 ü.txt", Bytes::from_static(b"u"))
        .await
        .unwrap();
    assert!(dir.path().join("storage/posts/r1/文件 ü.txt").is_file());
    let names: Vec<_> = files.list("posts", "r1").await.unwrap();
    assert!(names.iter().any(|f| f.filename == "文件 ü.txt"));
    let dir = tempfile::tempdir().unwrap();
    records_and_collections(&local(dir.path(), 1 << 20)).await;
    // Emptied record and collection folders went with their last file.
    assert!(!dir.path().join("storage/posts").exists());
    assert!(dir.path().join("storage/posts2/r1/a").is_file());
}

#[tokio::test]
async fn memory_round_trip() {
    round_trip(&memory()).await;
    records_and_collections(&memory()).await;
}

#[tokio::test]
async fn bad_names_and_sizes_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let files = local(dir.path(), 10);
    for (c, r, n) in [
        ("posts", "r1", ".."),
        ("posts", "r1", "../x"),
        ("posts", "..", "x"),
        ("..", "r1", "x"),
        ("po/sts", "r1", "x"),
        ("posts", "r1", "/abs"),
    ] {
        let err = files.save(c, r, n, Bytes::from_static(b"x")).await;
        assert!(
            matches!(err, Err(FileError::Invalid(_))),
            "{c}/{r}/{n}: {err:?}"
        );
    }
    let err = files
        .save("posts", "r1", "big", Bytes::from(vec![0; 11]))
        .await;
    assert!(matches!(err, Err(FileError::Quota(_))), "{err:?}");
    files
        .save("posts", "r1", "fits", Bytes::from(vec![0; 10]))
        .await
        .unwrap();
    let mut found = Vec::new();
    for entry in walk(&dir.path().join("storage")) {
        found.push(entry);
    }
    assert_eq!(found, ["posts/r1/fits"]);
}

fn walk(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                let rel = e.path().strip_prefix(root).unwrap().to_path_buf();
                out.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// A save is a temporary file renamed into place; a temporary file left
/// by a crash is neither listed nor read.
#[tokio::test]
async fn temporary_files_are_invisible() {
    let dir = tempfile::tempdir().unwrap();
    let files = local(dir.path(), 1 << 20);
    files
        .save("posts", "r1", "a", Bytes::from_static(b"whole"))
        .await
        .unwrap();
    std::fs::write(dir.path().join("storage/posts/r1/a#1"), b"ha").unwrap();
    let list = files.list("posts", "r1").await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(&files.read("posts", "r1", "a").await.unwrap()[..], b"whole");
}
