//! Outbound HTTP (`wasi:http/outgoing-handler`) policy: the SSRF defence.
//!
//! A guest may only reach the destinations on its allowlist (default: none,
//! see [`allowlist`] for the entry syntax), and never a loopback, private,
//! link-local, CGNAT, metadata or other special-purpose address unless an
//! entry names that address. For every request, before anything is sent:
//!
//! 1. the per-invocation request budget is charged;
//! 2. the authority is read the way a resolver would read it
//!    ([`address::parse_authority`]: `127.1`, `0x7f000001`,
//!    `[::ffff:127.0.0.1]` are all 127.0.0.1; `user@host` is refused);
//! 3. the name or address literal must match the allowlist;
//! 4. a name is resolved once (`localhost` is loopback without asking DNS)
//!    and every address it resolves to is classified ([`address::classify`],
//!    including IPv4 inside NAT64 and 6to4); one special address not listed
//!    refuses the request;
//! 5. the connection goes to those checked addresses and nowhere else
//!    ([`dial`]), so a DNS answer that changes after the check (rebinding)
//!    is never dialled.
//!
//! wasi:http does not follow redirects: a guest (and the JS `fetch`, which
//! follows them in the guest) sends each hop as a new request, so each hop
//! passes through this check and counts against the budget.
//!
//! A refusal is logged (`pb.http_out`, info, with the reason) and reaches the
//! guest as `HTTP-request-denied` (not on the allowlist, userinfo, metadata
//! name), `destination-IP-prohibited` (a special-purpose address) or
//! `connection-limit-reached` (budget spent); no connection is opened.
//!
//! A request that passed these checks and carries `{{secret:NAME}}`
//! placeholders in header values has them filled in by the host when the
//! secret is bound to the request's host, and is refused otherwise
//! ([`crate::caps::secrets::substitute`]); its response comes back with
//! the values redacted.

pub mod allowlist;
pub mod dial;
mod traced;

use crate::caps::secrets::{self, SecretAccess};
use crate::common::address::{self, BadAuthority, Host, Special};
use crate::config::OutboundLimits;
use allowlist::{Allowlist, NameMatch};
use dial::{Resolve, SystemResolver, Timeouts};
use http::uri::Scheme;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use tokio_rustls::rustls::pki_types::ServerName;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// Outbound policy of one invocation: the allowlist, the limits, and the
/// requests made so far.
#[derive(Clone)]
pub struct OutboundPolicy {
    allowlist: Arc<Allowlist>,
    limits: OutboundLimits,
    resolver: Arc<dyn Resolve>,
    /// For log lines.
    function: Option<Arc<str>>,
    /// Requests made by this invocation (refused ones included).
    requests: u32,
    /// For `{{secret:NAME}}` placeholders (none: a placeholder is refused).
    secrets: Option<SecretAccess>,
    /// The invocation's telemetry: each request counted, with a client span.
    obs: Option<Arc<crate::telemetry::Scope>>,
}

impl Default for OutboundPolicy {
    /// Allows nothing.
    fn default() -> Self {
        OutboundPolicy::with_allowlist(Allowlist::default())
    }
}

impl OutboundPolicy {
    /// A policy allowing `allowed` (see [`allowlist`] for the syntax) with
    /// the default [`OutboundLimits`]. A malformed entry is logged and
    /// ignored; use [`OutboundPolicy::try_new`] to refuse it instead.
    pub fn new(allowed: Arc<[String]>) -> Self {
        Self::with_allowlist(Allowlist::parse_lenient(&allowed))
    }

    /// Like [`OutboundPolicy::new`], but a malformed entry is an error
    /// naming every bad entry.
    pub fn try_new(allowed: Arc<[String]>) -> anyhow::Result<Self> {
        let allowlist = Allowlist::parse(&allowed).map_err(anyhow::Error::msg)?;
        Ok(Self::with_allowlist(allowlist))
    }

    fn with_allowlist(allowlist: Allowlist) -> Self {
        OutboundPolicy {
            allowlist: Arc::new(allowlist),
            limits: OutboundLimits::default(),
            resolver: Arc::new(SystemResolver),
            function: None,
            requests: 0,
            secrets: None,
            obs: None,
        }
    }

    pub fn with_limits(mut self, limits: OutboundLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Replaces the system resolver (tests play DNS with it).
    pub fn with_resolver(mut self, resolver: Arc<dyn Resolve>) -> Self {
        self.resolver = resolver;
        self
    }

    /// The policy for one invocation of `function`, with a full budget.
    pub fn for_invocation(&self, function: Arc<str>) -> Self {
        OutboundPolicy {
            function: Some(function),
            requests: 0,
            ..self.clone()
        }
    }

    /// Counts this invocation's requests in `scope` (and traces them).
    pub fn with_telemetry(mut self, scope: Arc<crate::telemetry::Scope>) -> Self {
        self.obs = Some(scope);
        self
    }

    /// Gives the policy access to secrets, for placeholders.
    pub fn with_secrets(mut self, secrets: SecretAccess) -> Self {
        self.secrets = Some(secrets);
        self
    }

    /// Everything decided before any I/O: budget, authority, allowlist.
    fn check(&mut self, request: &http::Request<WasiBody>) -> Result<Plan, Refusal> {
        self.requests = self.requests.saturating_add(1);
        if self.requests > self.limits.max_requests {
            return Err(Refusal::Budget(self.limits.max_requests));
        }
        let uri = request.uri();
        let scheme = uri.scheme().ok_or(Refusal::Scheme)?;
        let (default_port, tls) = if *scheme == Scheme::HTTP {
            (80, false)
        } else if *scheme == Scheme::HTTPS {
            (443, true)
        } else {
            return Err(Refusal::Scheme);
        };
        let authority = uri
            .authority()
            .ok_or(Refusal::Authority(BadAuthority::Empty))?;
        let target = address::parse_authority(authority.as_str(), default_port)
            .map_err(Refusal::Authority)?;
        let port = target.port;
        match target.host {
            Host::Ip(ip) => {
                if !self.allowlist.covers_ip(ip, port) {
                    return Err(Refusal::NotAllowed);
                }
                if let Some(special) = address::classify(ip) {
                    if !self.allowlist.admits(ip, port, Some(&special)) {
                        return Err(Refusal::Address(ip, special));
                    }
                }
                Ok(Plan {
                    lookup: Lookup::Addrs(vec![ip]),
                    host: Host::Ip(ip),
                    port,
                    tls: tls.then(|| ServerName::from(ip)),
                })
            }
            Host::Name(name) => {
                let matched = self.allowlist.match_name(&name, port);
                if matched == NameMatch::None {
                    return Err(Refusal::NotAllowed);
                }
                if address::is_metadata_name(&name) && matched != NameMatch::Exact {
                    return Err(Refusal::MetadataName);
                }
                let tls = match tls {
                    false => None,
                    true => Some(
                        ServerName::try_from(name.as_str())
                            .map_err(|_| Refusal::Authority(BadAuthority::Name))?
                            .to_owned(),
                    ),
                };
                let lookup = if address::is_localhost_name(&name) {
                    Lookup::Addrs(vec![
                        IpAddr::V4(Ipv4Addr::LOCALHOST),
                        IpAddr::V6(Ipv6Addr::LOCALHOST),
                    ])
                } else {
                    Lookup::Dns(name.clone())
                };
                Ok(Plan {
                    lookup,
                    host: Host::Name(name),
                    port,
                    tls,
                })
            }
        }
    }
}

/// What a request that passed [`OutboundPolicy::check`] will dial.
struct Plan {
    lookup: Lookup,
    /// The host as the allowlist read it (what secrets are bound to).
    host: Host,
    port: u16,
    tls: Option<ServerName<'static>>,
}

enum Lookup {
    Addrs(Vec<IpAddr>),
    Dns(String),
}

/// Why a request is refused.
#[derive(Debug)]
enum Refusal {
    Budget(u32),
    Scheme,
    Authority(BadAuthority),
    NotAllowed,
    MetadataName,
    Address(IpAddr, Special),
}

impl Refusal {
    fn error(&self) -> Error {
        match self {
            Refusal::Budget(_) => Error::ConnectionLimitReached,
            Refusal::Scheme => Error::HttpProtocolError,
            Refusal::Authority(BadAuthority::Userinfo) => Error::HttpRequestDenied,
            Refusal::Authority(_) => Error::HttpRequestUriInvalid,
            Refusal::NotAllowed | Refusal::MetadataName => Error::HttpRequestDenied,
            Refusal::Address(..) => Error::DestinationIpProhibited,
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Budget(n) => write!(f, "over the budget of {n} requests per invocation"),
            Refusal::Scheme => f.write_str("scheme is neither http nor https"),
            Refusal::Authority(why) => write!(f, "{why}"),
            Refusal::NotAllowed => f.write_str("not on the allowlist"),
            Refusal::MetadataName => {
                f.write_str("metadata service name, matched only by a wildcard entry")
            }
            Refusal::Address(ip, special) => write!(
                f,
                "{ip} is a {special} address; list the address to allow it"
            ),
        }
    }
}

fn log_refusal(function: Option<&str>, authority: &str, refusal: &Refusal) {
    tracing::info!(
        target: "pb.http_out",
        function = function.unwrap_or(""),
        authority,
        reason = %refusal,
        "outbound request refused"
    );
}

/// The addresses a name resolved to, as they will be dialled, or the first
/// one that may not be.
fn check_resolved(
    allowlist: &Allowlist,
    resolved: impl IntoIterator<Item = IpAddr>,
    port: u16,
) -> Result<Vec<SocketAddr>, Refusal> {
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for ip in resolved {
        let ip = address::canonical(ip);
        if let Some(special) = address::classify(ip) {
            if !allowlist.admits(ip, port, Some(&special)) {
                return Err(Refusal::Address(ip, special));
            }
        }
        let addr = SocketAddr::new(ip, port);
        if !addrs.contains(&addr) {
            addrs.push(addr);
        }
    }
    Ok(addrs)
}

impl WasiHttpHooks for OutboundPolicy {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
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
        let plan = match self.check(&request) {
            Ok(plan) => plan,
            Err(refusal) => {
                log_refusal(self.function.as_deref(), &authority, &refusal);
                return Box::new(std::future::ready(Err(refusal.error())));
            }
        };
        let obs = self.obs.clone();
        let span = obs.as_ref().and_then(|o| traced::start(o, &mut request));
        let allowlist = self.allowlist.clone();
        let resolver = self.resolver.clone();
        let function = self.function.clone();
        let timeouts = Timeouts::new(&self.limits, options);
        let secrets = secrets::has_placeholders(request.headers()).then(|| {
            self.secrets.clone().unwrap_or_else(|| SecretAccess {
                services: None,
                redactor: Default::default(),
            })
        });
        let sending = async move {
            // Secrets go in before anything is resolved or dialled.
            let substituted = match &secrets {
                None => Vec::new(),
                Some(access) => {
                    secrets::substitute(access, request.headers_mut(), &plan.host, plan.port)
                        .await
                        .map_err(|refusal| {
                            tracing::info!(
                                target: "pb.http_out",
                                function = function.as_deref().unwrap_or(""),
                                authority,
                                secret = refusal.secret(),
                                reason = %refusal,
                                "outbound request refused"
                            );
                            refusal.error()
                        })?
                }
            };
            let deadline = tokio::time::Instant::now() + timeouts.connect;
            let ips = match plan.lookup {
                Lookup::Addrs(ips) => ips,
                Lookup::Dns(name) => dial::resolve(&*resolver, &name, plan.port, deadline)
                    .await?
                    .into_iter()
                    .map(|a| a.ip())
                    .collect(),
            };
            let addrs = check_resolved(&allowlist, ips, plan.port).map_err(|refusal| {
                log_refusal(function.as_deref(), &authority, &refusal);
                refusal.error()
            })?;
            let (response, io) = dial::send(request, addrs, plan.tls, timeouts, deadline).await?;
            Ok((secrets::redact_response(response, &substituted), io))
        };
        Box::new(async move {
            let Some(obs) = obs else {
                return sending.await;
            };
            match sending.await {
                Ok((response, io)) => Ok((traced::finish(&obs, span, response), io)),
                Err(e) => {
                    traced::fail(span, &e);
                    Err(e)
                }
            }
        })
    }
}

#[cfg(test)]
mod tests;
