//! Where a request goes: a deployed function (`/api/pb_serverless/<name>/…`),
//! the admin API (`/api/pb_serverless/_admin/…`, [`crate::admin`]),
//! PocketBase's collections, records and files APIs, `GET /api/health` — or,
//! in single-component mode, the one component (`/`, like `wasmtime serve`).

use crate::admin;
use crate::deploy::{Deployed, Registry};
use crate::engine::Runtime;
use crate::triggers::http::reply::{self, closing, error, has_body, unread, Body};
use crate::triggers::http::{files, invoke, records, FUNCTIONS_PREFIX};
use http::{Method, Request};
use hyper::body::Incoming;
use std::sync::Arc;

/// What the server routes to.
pub enum Target {
    /// One component answers every request.
    Single(Arc<Deployed>),
    /// Deployed functions + the admin API.
    Host {
        registry: Arc<Registry>,
        admin_token: String,
    },
}

pub struct App {
    pub runtime: Runtime,
    pub target: Target,
}

impl App {
    pub async fn handle(self: Arc<Self>, req: Request<Incoming>) -> http::Response<Body> {
        let (registry, admin_token) = match &self.target {
            Target::Single(deployed) => {
                return invoke::http(&self.runtime, deployed.clone(), req).await
            }
            Target::Host {
                registry,
                admin_token,
            } => (registry, admin_token),
        };
        let path = req.uri().path();
        if admin::matches(path) {
            return admin::handle(registry, admin_token, req).await;
        }
        if admin::collections::matches(path) {
            let segments = admin::collections::segments(path);
            let Some(services) = registry.runtime().services() else {
                return unread(
                    &req,
                    error(
                        503,
                        "records need the full host (`pbs serve` with a data folder)",
                    ),
                );
            };
            if segments.get(1).is_some_and(|s| s == "records") {
                let admin = admin::is_admin(&req, admin_token);
                let telemetry = registry.runtime().telemetry();
                if !telemetry.tracing() {
                    return records::handle(&services.data, admin, &segments, req).await;
                }
                // A server span, with the record hooks the write runs under it.
                let server = crate::telemetry::ServerSpan::start(
                    telemetry,
                    req.headers(),
                    || format!("{} /api/collections/{{collection}}/records", req.method()),
                    || {
                        let c = segments.first().cloned().unwrap_or_default();
                        vec![opentelemetry::KeyValue::new("db.collection.name", c)]
                    },
                );
                let handled = records::handle(&services.data, admin, &segments, req);
                let resp = crate::telemetry::scope::run_in(server.parent(), handled).await;
                server.end(resp.status().as_u16());
                return resp;
            }
            return admin::collections::handle(services, admin_token, &segments, req).await;
        }
        if files::matches(path) {
            return files::handle(registry.runtime().services(), admin_token, req).await;
        }
        if let Some(rest) = path.strip_prefix(FUNCTIONS_PREFIX) {
            let name = rest.split('/').next().unwrap_or_default();
            let unread_body = has_body(&req);
            let resp = match registry.get(name) {
                Some(deployed) if deployed.version.proxy.is_some() => {
                    return invoke::http(&self.runtime, deployed, req).await
                }
                Some(_) => error(404, &format!("function `{name}` has no HTTP handler")),
                None => error(404, &format!("no function named `{name}` is deployed")),
            };
            return if unread_body { closing(resp) } else { resp };
        }
        if path == "/api/health" && req.method() == Method::GET {
            return reply::json(
                200,
                &serde_json::json!({"code": 200, "message": "API is healthy.", "data": {}}),
            );
        }
        error(404, "the requested resource wasn't found")
    }
}
