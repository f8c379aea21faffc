//! Record hooks in Rust (`pb:serverless/hook-function`), for the hooks
//! suite: the same WIT a JS function's hooks go through, without the JS
//! engine. `stamp` (before-create/update) refuses a record whose JSON
//! mentions "forbidden" and otherwise writes it with `source` set to
//! "rust-hook" and `depth` to the hook's depth; `no_deletes` refuses every
//! delete; any other name keeps the record.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "pb:serverless/hook-function@0.1.0",
    generate_all,
});

use exports::pb::serverless::hook_handler::{Context, Guest, Outcome};

struct Guard;

impl Guest for Guard {
    fn handle(ctx: Context) -> Outcome {
        match ctx.name.as_str() {
            "stamp" if ctx.record.contains("forbidden") => {
                Outcome::Reject(format!("{} refused by a Rust hook", ctx.collection))
            }
            // The record is a JSON object: the stamp goes first, so the
            // record's own fields come after it (a JSON parser keeps the last
            // of two equal keys; these tests never send `source`).
            "stamp" => match ctx.record.strip_prefix('{') {
                Some(rest) if rest.trim_start() != "}" => Outcome::Replace(format!(
                    "{{\"source\":\"rust-hook\",\"depth\":{},{rest}",
                    ctx.depth
                )),
                _ => Outcome::Replace(format!(
                    "{{\"source\":\"rust-hook\",\"depth\":{}}}",
                    ctx.depth
                )),
            },
            "no_deletes" => Outcome::Reject("deletes are off".into()),
            _ => Outcome::Keep,
        }
    }
}

export!(Guard);
