//! The HTTP trigger: one hyper server for deployed functions
//! (`/api/pb_serverless/<name>/…`), the admin API
//! (`/api/pb_serverless/_admin/…`), and single-component mode (`/`, like
//! `wasmtime serve`).

pub mod admin;
pub mod collections;
pub mod files;
pub mod invoke;
pub mod records;
pub mod reply;

use crate::deploy::{Deployed, Registry};
use crate::engine::Runtime;
use http::{Method, Request};
use hyper::body::Incoming;
use reply::{closing, error, has_body, Body};
use std::sync::Arc;

/// Prefix of every function route.
pub const FUNCTIONS_PREFIX: &str = "/api/pb_serverless/";
/// Prefix of the admin API.
pub const ADMIN_PREFIX: &str = "/api/pb_serverless/_admin/";

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
        match &self.target {
            Target::Single(deployed) => invoke::http(&self.runtime, deployed.clone(), req).await,
            Target::Host {
                registry,
                admin_token,
            } => {
                let path = req.uri().path();
                if path.starts_with(ADMIN_PREFIX) || path == ADMIN_PREFIX.trim_end_matches('/') {
                    return admin::handle(registry, admin_token, req).await;
                }
                if collections::matches(path) {
                    let services = registry.runtime().services();
                    return collections::handle(services, admin_token, req).await;
                }
                if files::matches(path) {
                    return files::handle(registry.runtime().services(), admin_token, req).await;
                }
                if let Some(rest) = path.strip_prefix(FUNCTIONS_PREFIX) {
                    let name = rest.split('/').next().unwrap_or_default();
                    let unread = has_body(&req);
                    let resp = match registry.get(name) {
                        Some(deployed) if deployed.version.proxy.is_some() => {
                            return invoke::http(&self.runtime, deployed, req).await
                        }
                        Some(_) => error(404, &format!("function `{name}` has no HTTP handler")),
                        None => error(404, &format!("no function named `{name}` is deployed")),
                    };
                    return if unread { closing(resp) } else { resp };
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
    }
}
