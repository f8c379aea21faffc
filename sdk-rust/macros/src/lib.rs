//! The handler attributes of `pb-sdk` (`#[pb_sdk::http_handler]`,
//! `#[pb_sdk::job_handler]`, `#[pb_sdk::cron_handler]`). Use them through
//! `pb-sdk`, which re-exports them; this crate is an implementation detail.
//!
//! Each attribute keeps the function as written and adds a module that
//! generates the component export for it (wit-bindgen, from this
//! repository's `wit/`) with every type it shares with the imports mapped to
//! `pb_sdk::bindings`, so a component has one set of bindings however many
//! handlers it exports.

use proc_macro::TokenStream;
use quote::{format_ident, quote};
use syn::{parse_macro_input, ItemFn};

/// The contract (`wit/` at the repository's root), found from this crate's
/// own folder when it is compiled.
const WIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../wit");

/// Checks the attribute is bare and the item a plain function with one
/// argument; the handler's types are checked by the compiler at the call.
fn handler(attr: TokenStream, item: &ItemFn, what: &str) -> Result<(), syn::Error> {
    if !attr.is_empty() {
        return Err(syn::Error::new(
            proc_macro2::Span::call_site(),
            format!("#[{what}] takes no arguments"),
        ));
    }
    if item.sig.asyncness.is_some() || !item.sig.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &item.sig,
            format!("#[{what}] needs a plain (not async, not generic) function"),
        ));
    }
    if item.sig.inputs.len() != 1 {
        return Err(syn::Error::new_spanned(
            &item.sig.inputs,
            format!("#[{what}] needs a function of one argument"),
        ));
    }
    Ok(())
}

/// Exports the function as the component's `wasi:http/incoming-handler`.
///
/// The function takes a [`pb_sdk::http::Request`] (method, path, query,
/// headers and the whole body) and returns anything that implements
/// `pb_sdk::http::IntoResponse`: a `Response`, a `String`, a
/// `Result<impl IntoResponse, pb_sdk::Error>` (errors become their HTTP
/// status with PocketBase's error body) …
///
/// ```ignore
/// #[pb_sdk::http_handler]
/// fn hello(req: pb_sdk::http::Request) -> pb_sdk::Result<pb_sdk::http::Response> {
///     let hits = pb_sdk::kv::open()?.incr("hits", 1)?;
///     pb_sdk::http::Response::json(&serde_json::json!({ "hits": hits }))
/// }
/// ```
#[proc_macro_attribute]
pub fn http_handler(attr: TokenStream, item: TokenStream) -> TokenStream {
    let func = parse_macro_input!(item as ItemFn);
    if let Err(e) = handler(attr, &func, "http_handler") {
        return e.to_compile_error().into();
    }
    let name = &func.sig.ident;
    let module = format_ident!("__pb_sdk_http_export_{}", name);
    quote! {
        #func

        #[doc(hidden)]
        #[allow(missing_docs, clippy::all)]
        mod #module {
            ::pb_sdk::__private::wit_bindgen::generate!({
                runtime_path: "::pb_sdk::__private::wit_bindgen::rt",
                path: #WIT,
                inline: "package pb-sdk:http-export;
                         world http-export { export wasi:http/incoming-handler@0.2.10; }",
                world: "pb-sdk:http-export/http-export",
                with: {
                    "wasi:http/types@0.2.10": ::pb_sdk::bindings::wasi::http::types,
                    "wasi:io/error@0.2.10": ::pb_sdk::bindings::wasi::io::error,
                    "wasi:io/poll@0.2.10": ::pb_sdk::bindings::wasi::io::poll,
                    "wasi:io/streams@0.2.10": ::pb_sdk::bindings::wasi::io::streams,
                    "wasi:clocks/monotonic-clock@0.2.10": ::pb_sdk::bindings::wasi::clocks::monotonic_clock,
                },
            });

            struct Handler;

            impl exports::wasi::http::incoming_handler::Guest for Handler {
                fn handle(
                    request: ::pb_sdk::bindings::wasi::http::types::IncomingRequest,
                    out: ::pb_sdk::bindings::wasi::http::types::ResponseOutparam,
                ) {
                    ::pb_sdk::http::__serve(request, out, super::#name);
                }
            }

            export!(Handler);
        }
    }
    .into()
}

/// Exports the function as the component's `pb:serverless/job-handler`: it
/// runs every job bound to the component (`job.name` says which).
///
/// The function takes a `pb_sdk::jobs::Job` and returns
/// `Result<(), E>` with `E: Display`; an error is retried with backoff until
/// the job's attempts run out.
#[proc_macro_attribute]
pub fn job_handler(attr: TokenStream, item: TokenStream) -> TokenStream {
    pb_export(
        attr,
        item,
        "job_handler",
        "job",
        quote! {
            use exports::pb::serverless::job_handler::{Guest, Job};

            impl Guest for Handler {
                fn run(job: Job) -> Result<(), String> {
                    let job = ::pb_sdk::jobs::Job {
                        id: job.id,
                        name: job.name,
                        payload: job.payload,
                        attempt: job.attempt,
                    };
                    handler(job).map_err(|e| e.to_string())
                }
            }
        },
    )
}

/// Exports the function as the component's `pb:serverless/cron-handler`: it
/// runs every cron schedule of the manifest bound to the component
/// (`tick.name` says which).
///
/// The function takes a `pb_sdk::cron::Tick` and returns `Result<(), E>`
/// with `E: Display`.
#[proc_macro_attribute]
pub fn cron_handler(attr: TokenStream, item: TokenStream) -> TokenStream {
    pb_export(
        attr,
        item,
        "cron_handler",
        "cron",
        quote! {
            use exports::pb::serverless::cron_handler::{Guest, Tick};

            impl Guest for Handler {
                fn run(tick: Tick) -> Result<(), String> {
                    let tick = ::pb_sdk::cron::Tick {
                        name: tick.name,
                        schedule: tick.schedule,
                        scheduled_ms: tick.scheduled_ms,
                    };
                    handler(tick).map_err(|e| e.to_string())
                }
            }
        },
    )
}

/// What the job and cron attributes share: the function kept as written,
/// and a module that generates the export of `pb:serverless/<kind>-handler`
/// and holds `guest` (which implements its `Guest` for `Handler` and calls
/// the function as `handler`).
fn pb_export(
    attr: TokenStream,
    item: TokenStream,
    what: &str,
    kind: &str,
    guest: proc_macro2::TokenStream,
) -> TokenStream {
    let func = parse_macro_input!(item as ItemFn);
    if let Err(e) = handler(attr, &func, what) {
        return e.to_compile_error().into();
    }
    let name = &func.sig.ident;
    let module = format_ident!("__pb_sdk_{}_export_{}", kind, name);
    let inline = format!(
        "package pb-sdk:{kind}-export;\n world {kind}-export {{ export pb:serverless/{kind}-handler@0.1.0; }}"
    );
    let world = format!("pb-sdk:{kind}-export/{kind}-export");
    quote! {
        #func

        #[doc(hidden)]
        #[allow(missing_docs, clippy::all)]
        mod #module {
            ::pb_sdk::__private::wit_bindgen::generate!({
                runtime_path: "::pb_sdk::__private::wit_bindgen::rt",
                path: #WIT,
                inline: #inline,
                world: #world,
            });

            use super::#name as handler;

            struct Handler;

            #guest

            export!(Handler);
        }
    }
    .into()
}
