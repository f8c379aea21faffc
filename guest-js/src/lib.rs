//! pb-serverless's JS engine: QuickJS (through the `javy` crate) plus our Web
//! APIs (`../js/*.js`) on the `pb:serverless/js-engine` world.
//!
//! At build time `pbs build` calls `evaluate(bundle)`, which creates the
//! runtime and evaluates the Web APIs and the user's bundle; then Wizer calls
//! `wizer-initialize` (a garbage collection) and snapshots the memory. Every invocation then starts from that
//! snapshot in a fresh instance, so no JS state leaks between requests.

mod bridge;
mod handlers;
mod resident;
mod runtime;

wit_bindgen::generate!({
    path: "../wit",
    world: "pb:serverless/js-engine",
    generate_all,
});

struct Engine;

impl Guest for Engine {
    fn evaluate(bundle: String) -> Result<Vec<String>, String> {
        runtime::initialize(&bundle)
    }

    fn wizer_initialize() {
        runtime::before_snapshot();
        resident::note_heap_end();
    }
}

export!(Engine);
