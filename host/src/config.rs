//! Host configuration: where data lives, how it is served, and the limits
//! every instance runs under. Every default is a documented constant.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Memory one instance may use, across all its linear memories.
pub const DEFAULT_MEMORY_LIMIT: usize = 128 << 20;
/// Time a function has to send its response headers.
pub const DEFAULT_HEADERS_TIMEOUT: Duration = Duration::from_secs(30);
/// Time a function may go on streaming its body after the headers.
pub const DEFAULT_MAX_DURATION: Duration = Duration::from_secs(15 * 60);
/// Instances alive at once; past this, requests get 503.
pub const DEFAULT_MAX_INSTANCES: u32 = 1000;
/// Instances of one function alive at once; past this, its requests get
/// 503 while other functions keep their share of the pool.
pub const DEFAULT_MAX_PER_FUNCTION: u32 = 500;
/// `pb:*` host calls one invocation may make (the budget is counted in
/// `telemetry`, which every host call passes through).
pub use crate::telemetry::DEFAULT_MAX_HOST_CALLS;
/// Largest component accepted by deploy.
pub const DEFAULT_MAX_COMPONENT_SIZE: usize = 64 << 20;
/// Memory all instances together may hold, when the machine's memory
/// cannot be read: see [`default_memory_budget`].
pub const FALLBACK_MEMORY_BUDGET: usize = 4 << 30;

/// Half of the machine's memory (Linux `MemTotal`), so guests at their
/// limits cannot take the host down with them.
pub fn default_memory_budget() -> usize {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let line = m.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024 / 2)
        })
        .unwrap_or(FALLBACK_MEMORY_BUDGET)
}

/// Time an outbound request (`wasi:http/outgoing-handler`) has to resolve
/// its host, connect and finish the TLS handshake. A guest's own
/// `connect-timeout` may only shorten it.
pub const DEFAULT_OUTBOUND_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time an outbound request waits for the response headers once sent.
pub const DEFAULT_OUTBOUND_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(60);
/// Time an outbound response body may stay idle between two chunks.
pub const DEFAULT_OUTBOUND_BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(60);
/// Outbound requests one invocation may make (refused ones included).
pub const DEFAULT_OUTBOUND_MAX_REQUESTS: u32 = 100;

/// Limits of outbound HTTP, per invocation. The guest's `request-options`
/// may shorten the timeouts, never lengthen them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutboundLimits {
    pub connect_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub between_bytes_timeout: Duration,
    pub max_requests: u32,
}

impl Default for OutboundLimits {
    fn default() -> Self {
        OutboundLimits {
            connect_timeout: DEFAULT_OUTBOUND_CONNECT_TIMEOUT,
            first_byte_timeout: DEFAULT_OUTBOUND_FIRST_BYTE_TIMEOUT,
            between_bytes_timeout: DEFAULT_OUTBOUND_BETWEEN_BYTES_TIMEOUT,
            max_requests: DEFAULT_OUTBOUND_MAX_REQUESTS,
        }
    }
}

/// Default listen address, PocketBase's port.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8090";

/// Limits applied to every instance.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub memory: usize,
    pub headers_timeout: Duration,
    pub max_duration: Duration,
    /// Instruction budget per invocation (wasmtime fuel); none = unmetered.
    pub fuel: Option<u64>,
    pub max_instances: u32,
    /// Instances of one function alive at once.
    pub max_per_function: u32,
    /// Linear memory all instances together may hold (503 beyond).
    pub memory_budget: usize,
    /// The most requests one instance of a function deployed with reuse
    /// may serve (a function's own `reuse` is capped to it); 0 turns reuse
    /// off on this host.
    pub max_reuse: u32,
    /// Idle instances kept for reuse on the whole host.
    pub max_warm: u32,
    /// `pb:*` host calls per invocation ([`DEFAULT_MAX_HOST_CALLS`]).
    pub max_host_calls: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: DEFAULT_MEMORY_LIMIT,
            headers_timeout: DEFAULT_HEADERS_TIMEOUT,
            max_duration: DEFAULT_MAX_DURATION,
            fuel: None,
            max_instances: DEFAULT_MAX_INSTANCES,
            max_per_function: DEFAULT_MAX_PER_FUNCTION,
            memory_budget: default_memory_budget(),
            max_reuse: crate::engine::warm::DEFAULT_MAX_REUSE,
            max_warm: crate::engine::warm::DEFAULT_MAX_WARM,
            max_host_calls: DEFAULT_MAX_HOST_CALLS,
        }
    }
}

/// The environment whose secrets a host's functions read, when none is
/// given (`pbs serve --env`, `PB_ENV`).
pub const DEFAULT_ENVIRONMENT: &str = "prod";

/// pb:secrets' settings of a host.
#[derive(Clone)]
pub struct SecretsConfig {
    /// The environment (`dev`, `prod`, …) whose secrets functions read.
    pub environment: String,
    /// The master key, base64 of 32 bytes; none = `PB_SECRETS_KEY`, else
    /// the key file `<dir>/secrets_key` (generated at first start).
    pub key: Option<String>,
}

impl Default for SecretsConfig {
    fn default() -> Self {
        SecretsConfig {
            environment: DEFAULT_ENVIRONMENT.into(),
            key: None,
        }
    }
}

impl std::fmt::Debug for SecretsConfig {
    /// Never shows the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsConfig")
            .field("environment", &self.environment)
            .field("key", &self.key.as_ref().map(|_| "…"))
            .finish()
    }
}

/// What `pbs serve` serves.
#[derive(Clone, Debug)]
pub enum Mode {
    /// One component at `/`, like `wasmtime serve`; `reuse`: requests one
    /// instance serves in turn (0: a fresh instance per request).
    Single { component: PathBuf, reuse: u32 },
    /// The full host: deployed functions, admin API, database.
    Host,
}

#[derive(Clone, Debug)]
pub struct HostConfig {
    pub mode: Mode,
    pub addr: SocketAddr,
    /// The data folder (`pb_data`).
    pub dir: PathBuf,
    /// `sqlite://…`, `postgres://…`, or none for `<dir>/data.db`.
    pub db: Option<String>,
    /// The admin token; none = `PB_ADMIN_TOKEN` or the generated one.
    pub admin_token: Option<String>,
    pub limits: Limits,
    /// Outbound hosts (`host` or `host:port`) guests may call; default none.
    pub allowed_hosts: Vec<String>,
    /// How often the function table is re-read, so hosts sharing one
    /// database pick up each other's deploys.
    pub registry_refresh: Duration,
    /// pb:secrets: the environment and the master key.
    pub secrets: SecretsConfig,
    /// pb:jobs: the worker pool.
    pub jobs: crate::triggers::jobs::JobsConfig,
    /// pb:files: where files are kept and the largest accepted.
    pub files: crate::caps::files::FilesConfig,
    /// Traces, metrics and logs (`OTEL_*`, `--otlp-endpoint`); off by
    /// default.
    pub telemetry: crate::telemetry::TelemetryConfig,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            mode: Mode::Host,
            addr: DEFAULT_ADDR.parse().expect("valid default address"),
            dir: PathBuf::from("pb_data"),
            db: None,
            admin_token: None,
            limits: Limits::default(),
            allowed_hosts: Vec::new(),
            registry_refresh: Duration::from_secs(1),
            secrets: SecretsConfig::default(),
            jobs: Default::default(),
            files: Default::default(),
            telemetry: Default::default(),
        }
    }
}
