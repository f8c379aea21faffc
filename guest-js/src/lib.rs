//! The JavaScript engine component (QuickJS through the `javy` crate +
//! wit-bindgen, targeting the `pb:serverless/function` world), built for
//! `wasm32-wasip2`, snapshotted with the user's bundle, and embedded in
//! `pbs`. This crate is a skeleton until the JS pipeline lands; the host
//! side it will plug into (deploy checks, versions, the HTTP trigger) is in
//! `host/`.
