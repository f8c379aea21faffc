//! The generated files in the repository are what the WIT generates now.

#[test]
fn committed_files_match_a_fresh_generation() {
    let stale = pbs_witgen::stale(&pbs_witgen::repo_root()).expect("generate");
    assert!(
        stale.is_empty(),
        "generated from wit/ but not up to date: {stale:?}; run `cargo run -p pbs-witgen`"
    );
}
