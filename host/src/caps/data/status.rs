// The HTTP status of each `pb:data` error case: what the records REST API
// answers, and the `status` of a `PbError` thrown by the JS
// `pb.collection(…)` methods (like the PocketBase SDK's errors).
//
// The one table of it: this file is compiled into the host
// (`caps::data::error`) and into the JS engine (`guest-js/src/bridge/pb.rs`
// includes it), so the two faces cannot disagree. Plain Rust, no imports.

/// `(case, status)` for every case of `pb:data`'s `error` variant.
pub const ERROR_STATUS: [(&str, u16); 7] = [
    ("not-found", 404),
    ("invalid", 400),
    ("denied", 403),
    ("conflict", 400),
    ("quota", 400),
    ("unavailable", 503),
    ("internal", 500),
];

/// The status of error case `case` (500 for a case the table lacks).
pub fn error_status(case: &str) -> u16 {
    ERROR_STATUS
        .iter()
        .find(|(c, _)| *c == case)
        .map_or(500, |(_, status)| *status)
}
