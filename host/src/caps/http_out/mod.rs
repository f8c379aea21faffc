//! Outbound HTTP (`wasi:http/outgoing-handler`) policy: a guest may only
//! reach the hosts on its allowlist. The default allowlist is empty, so a
//! function cannot call out unless its operator says so.

use http_body_util::BodyExt;
use std::future::Future;
use std::sync::Arc;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// Outbound policy of one invocation.
#[derive(Clone, Default)]
pub struct OutboundPolicy {
    /// `host` or `host:port` entries; empty = nothing allowed.
    pub allowed_hosts: Arc<[String]>,
}

impl OutboundPolicy {
    /// Whether `authority` (`host[:port]`) is on the allowlist.
    pub fn allows(&self, authority: &str) -> bool {
        let host = authority
            .rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map(|(h, _)| h)
            .unwrap_or(authority);
        self.allowed_hosts
            .iter()
            .any(|a| a.eq_ignore_ascii_case(authority) || a.eq_ignore_ascii_case(host))
    }
}

impl WasiHttpHooks for OutboundPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<WasiBody>,
                        Box<dyn Future<Output = Result<(), Error>> + Send>,
                    ),
                    Error,
                >,
            > + Send,
    > {
        let authority = request
            .uri()
            .authority()
            .map(|a| a.as_str().to_string())
            .unwrap_or_default();
        if !self.allows(&authority) {
            tracing::info!(target: "pb.http_out", %authority, "outbound request refused: host not on the allowlist");
            return Box::new(async move { Err(Error::HttpRequestDenied) });
        }
        Box::new(async move {
            let (res, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                res.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}
