//! `Hello` on WASI 0.2.12 exactly: see `common/versioned_hello.rs`.

const VERSION: &str = "0.2.12";

include!("../../common/versioned_hello.rs");
