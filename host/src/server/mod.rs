//! Starting and stopping a host: runtime, database, registry, admin token,
//! and the HTTP listener; which request goes where is [`routes`].

pub mod routes;

use crate::config::{HostConfig, Mode};
use crate::deploy::{inspect, Deployed, Registry, Trigger, Version};
use crate::engine::Runtime;
use crate::store::Db;
use anyhow::Context;
use hyper_util::rt::{TokioIo, TokioTimer};
use routes::{App, Target};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Time a client has to send a request's headers — counted, on a
/// keep-alive connection, from the end of the previous response, so it is
/// also how long an idle connection stays open. Every response says so
/// (`keep-alive: timeout=30`), for clients that pool connections.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Admin tokens shorter than this get a warning at start-up.
pub const MIN_TOKEN_LEN: usize = 16;
/// How long a shutdown waits for requests under way to finish.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// A running host. Dropping it stops accepting connections.
pub struct Server {
    addr: SocketAddr,
    admin_token: Option<String>,
    registry: Option<Arc<Registry>>,
    stop: watch::Sender<bool>,
    accepting: Option<tokio::task::JoinHandle<()>>,
    /// pb:jobs' dispatcher: on shutdown it puts the running jobs back.
    jobs: Option<tokio::task::JoinHandle<()>>,
    /// Writes the usage sums; on shutdown, once more.
    usage: Option<tokio::task::JoinHandle<()>>,
    telemetry: crate::telemetry::Telemetry,
    /// The `server_url` file this host wrote, and what it holds.
    server_url: Option<(PathBuf, String)>,
}

impl Server {
    pub async fn start(config: HostConfig) -> anyhow::Result<Server> {
        let runtime = Runtime::new(config.limits, config.allowed_hosts.clone())?;
        let telemetry = crate::telemetry::Telemetry::new(config.telemetry.clone());
        telemetry.set_max_host_calls(config.limits.max_host_calls);
        runtime.set_telemetry(telemetry.clone());
        let (target, registry, admin_token) = match &config.mode {
            Mode::Single { component, reuse } => {
                let deployed = load_single(&runtime, component, *reuse).await?;
                (Target::Single(deployed), None, None)
            }
            Mode::Host => {
                std::fs::create_dir_all(&config.dir)
                    .with_context(|| format!("create the data folder {}", config.dir.display()))?;
                crate::engine::compile_cache::shared().use_dir(&config.dir.join("cache/compile"));
                let url = config
                    .db
                    .clone()
                    .unwrap_or_else(|| config.dir.join("data.db").to_string_lossy().into_owned());
                let db = Db::open(&url).await?;
                tracing::info!(backend = db.backend(), "database ready");
                let (secrets_key, environment) = crate::caps::secrets::open(
                    &db,
                    &config.dir,
                    &config.secrets.environment,
                    config.secrets.key.as_deref(),
                )
                .await?;
                let files = crate::caps::files::Files::open(&config.files, &config.dir)?;
                runtime.set_services(crate::caps::services::Services::new(
                    db.clone(),
                    config.dir.clone(),
                    environment,
                    secrets_key,
                    Arc::new(files),
                ));
                let registry = Registry::open(db, runtime.clone()).await?;
                crate::triggers::hooks::install(&registry);
                crate::triggers::jobs::install(&registry);
                let token = admin_token(&config)?;
                (
                    Target::Host {
                        registry: registry.clone(),
                        admin_token: token.clone(),
                    },
                    Some(registry),
                    Some(token),
                )
            }
        };
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("listen on {}", config.addr))?;
        let addr = listener.local_addr()?;
        let server_url = registry
            .is_some()
            .then(|| write_server_url(&config.dir, addr))
            .flatten();
        let (stop, stopped) = watch::channel(false);
        let mut jobs = None;
        let mut usage = None;
        if let Some(registry) = &registry {
            // The cost ledger's hourly sums, and the job queue's depth for
            // the metrics pushed over OTLP.
            usage = Some(tokio::spawn(crate::telemetry::usage::flush_loop(
                telemetry.clone(),
                registry.db().clone(),
                stopped.clone(),
            )));
            if config.telemetry.metrics_endpoint().is_some() {
                tokio::spawn(queue_depth_loop(
                    telemetry.clone(),
                    registry.db().clone(),
                    stopped.clone(),
                ));
            }
            tokio::spawn(refresh_loop(
                registry.clone(),
                config.registry_refresh,
                stopped.clone(),
            ));
            // pb:kv: delete rows past their TTL now and then.
            tokio::spawn(crate::caps::kv::sweep_loop(
                registry.db().clone(),
                stopped.clone(),
            ));
            // pb:jobs' workers and the cron scheduler.
            jobs = crate::triggers::jobs::start(registry.clone(), config.jobs, stopped.clone());
            crate::triggers::cron::start(registry.clone(), stopped.clone());
        }
        let app = Arc::new(App { runtime, target });
        let accepting = tokio::spawn(accept_loop(listener, app, stopped));
        Ok(Server {
            addr,
            admin_token,
            registry,
            stop,
            accepting: Some(accepting),
            jobs,
            usage,
            telemetry,
            server_url,
        })
    }

    /// The host's telemetry: logs, metrics, usage, spans.
    pub fn telemetry(&self) -> &crate::telemetry::Telemetry {
        &self.telemetry
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn admin_token(&self) -> Option<&str> {
        self.admin_token.as_deref()
    }

    pub fn registry(&self) -> Option<&Arc<Registry>> {
        self.registry.as_ref()
    }

    /// Stops accepting connections; requests under way finish.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Stops accepting connections and waits (up to [`DRAIN_TIMEOUT`]) for
    /// the requests under way to finish; jobs under way are stopped and put
    /// back in the queue.
    pub async fn shutdown(mut self) {
        self.stop();
        if let Some(accepting) = self.accepting.take() {
            let _ = accepting.await;
        }
        if let Some(jobs) = self.jobs.take() {
            let _ = jobs.await;
        }
        if let Some(usage) = self.usage.take() {
            let _ = usage.await;
        }
        self.telemetry.flush(Duration::from_secs(5)).await;
        // Commands run beside the data folder go to the default address
        // again, unless another host wrote its own meanwhile.
        if let Some((file, url)) = self.server_url.take() {
            if std::fs::read_to_string(&file).is_ok_and(|held| held == url) {
                let _ = std::fs::remove_file(&file);
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn load_single(runtime: &Runtime, path: &Path, reuse: u32) -> anyhow::Result<Arc<Deployed>> {
    let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    let rt = runtime.clone();
    let checked = tokio::task::spawn_blocking(move || inspect(&rt, &bytes, &[Trigger::Http]))
        .await?
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "component".into());
    let settings = crate::deploy::Settings {
        allowed_hosts: Vec::new(),
        reuse,
    };
    Ok(Arc::new(Deployed::new(
        runtime,
        &name,
        Arc::new(Version::from(checked)),
        settings,
        runtime.outbound_policy(&[])?,
    )))
}

async fn accept_loop(listener: TcpListener, app: Arc<App>, mut stopped: watch::Receiver<bool>) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: back off, go on.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stopped.changed() => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |req| {
            let app = app.clone();
            async move {
                let mut resp = app.handle(req).await;
                resp.headers_mut()
                    .entry(KEEP_ALIVE)
                    .or_insert_with(keep_alive_hint);
                Ok::<_, std::convert::Infallible>(resp)
            }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("connection ended with an error: {e}");
            }
        });
    }
    // New connections are refused from now on; idle keep-alive ones close
    // now, busy ones after their request.
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still under way after {DRAIN_TIMEOUT:?}; stopping anyway");
    }
}

const KEEP_ALIVE: http::HeaderName = http::HeaderName::from_static("keep-alive");

/// `keep-alive: timeout=N`: when this host closes an idle connection, so a
/// client that honours it (Node's fetch, for one) stops reusing it before,
/// instead of racing the close.
fn keep_alive_hint() -> http::HeaderValue {
    http::HeaderValue::from_str(&format!("timeout={}", HEADER_READ_TIMEOUT.as_secs()))
        .expect("a valid header value")
}

/// Reads the job queue's depth by state every 15 s, for the metrics
/// pushed over OTLP (a Prometheus scrape reads it itself).
async fn queue_depth_loop(
    telemetry: crate::telemetry::Telemetry,
    db: Db,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        match crate::caps::jobs::queue_depth(&db).await {
            Ok(depth) => telemetry.metrics().set_queue_depth(depth),
            Err(e) => tracing::debug!("reading the job queue's depth failed: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(15)) => {}
            _ = stopped.changed() => return,
        }
    }
}

async fn refresh_loop(
    registry: Arc<Registry>,
    every: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stopped.changed() => return,
        }
        if let Err(e) = registry.refresh().await {
            tracing::warn!("registry refresh failed: {e:#}");
        }
    }
}

/// The file in a host's data folder that holds the URL it listens on, so
/// commands run beside it find a host started with another `--addr`.
pub const SERVER_URL_FILE: &str = "server_url";

/// Writes the URL this host answers on into `<dir>/server_url`, beside its
/// admin token, so `pbs versions`, `pbs logs`… run next to the data folder
/// reach a host started with any `--addr`; removed when it stops. A
/// wildcard address is written as loopback; a failed write only costs that
/// convenience.
fn write_server_url(dir: &Path, addr: SocketAddr) -> Option<(PathBuf, String)> {
    let mut reach = addr;
    if reach.ip().is_unspecified() {
        reach.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let file = dir.join(SERVER_URL_FILE);
    let url = format!("http://{reach}\n");
    match std::fs::write(&file, &url) {
        Ok(()) => Some((file, url)),
        Err(e) => {
            tracing::warn!("could not write {}: {e}", file.display());
            None
        }
    }
}

/// The admin token: given, `PB_ADMIN_TOKEN`, or generated at first start
/// into `<dir>/admin_token` (mode 0600) and printed once.
fn admin_token(config: &HostConfig) -> anyhow::Result<String> {
    let given = config
        .admin_token
        .clone()
        .or_else(|| std::env::var("PB_ADMIN_TOKEN").ok())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    if let Some(t) = given {
        if t.len() < MIN_TOKEN_LEN {
            tracing::warn!("the admin token is shorter than {MIN_TOKEN_LEN} characters; anyone who can reach the admin API may guess it");
        }
        return Ok(t);
    }
    let file = config.dir.join("admin_token");
    if let Ok(t) = std::fs::read_to_string(&file) {
        if !t.trim().is_empty() {
            return Ok(t.trim().to_string());
        }
    }
    let token = hex::encode(rand::random::<[u8; 32]>());
    // An empty or unreadable file from an interrupted first start is replaced.
    let _ = std::fs::remove_file(&file);
    crate::common::write_private(&file, &token)?;
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stdout(),
        "Generated an admin token (stored in {}, shown only this once):\n  {token}",
        file.display()
    );
    Ok(token)
}
