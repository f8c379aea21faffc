use crate::config::{HostConfig, Limits, Mode, SecretsConfig, DEFAULT_ADDR, DEFAULT_ENVIRONMENT};
use crate::server::Server;
use clap::Args;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args)]
pub struct ServeArgs {
    /// A component to serve alone at `/`, like `wasmtime serve`. Without it,
    /// the full host runs: deployed functions, admin API, database.
    component: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = DEFAULT_ADDR)]
    addr: SocketAddr,
    /// The data folder.
    #[arg(long, default_value = "pb_data", env = "PB_DATA_DIR")]
    dir: PathBuf,
    /// Database: `postgres://…` or a SQLite file (default `<dir>/data.db`).
    #[arg(long, env = "PB_DB")]
    db: Option<String>,
    /// Memory limit per instance, in MiB.
    #[arg(long, default_value_t = (crate::config::DEFAULT_MEMORY_LIMIT >> 20) as u64)]
    memory_mb: u64,
    /// Seconds a function has to send its response headers.
    #[arg(long, default_value_t = crate::config::DEFAULT_HEADERS_TIMEOUT.as_secs_f64())]
    timeout: f64,
    /// Seconds a function may keep streaming its body after the headers.
    #[arg(long, default_value_t = crate::config::DEFAULT_MAX_DURATION.as_secs_f64())]
    max_duration: f64,
    /// Instruction budget (wasmtime fuel) per invocation; unmetered when absent.
    #[arg(long)]
    fuel: Option<u64>,
    /// Instances alive at once; further requests get 503.
    #[arg(long, default_value_t = crate::config::DEFAULT_MAX_INSTANCES)]
    max_instances: u32,
    /// Instances of one function alive at once; its further requests get 503.
    #[arg(long, default_value_t = crate::config::DEFAULT_MAX_PER_FUNCTION)]
    max_per_function: u32,
    /// With a component: requests one instance serves in turn, like
    /// `wasmtime serve --max-instance-reuse-count` (0: a fresh instance per
    /// request). Deployed functions set theirs with `reuse` in the manifest.
    #[arg(long, default_value_t = 0)]
    reuse: u32,
    /// The most requests any instance serves in turn (caps each function's
    /// `reuse`); 0 turns reuse off on this host.
    #[arg(long, default_value_t = crate::engine::warm::DEFAULT_MAX_REUSE)]
    max_reuse: u32,
    /// Idle instances kept for reuse, host-wide.
    #[arg(long, default_value_t = crate::engine::warm::DEFAULT_MAX_WARM)]
    max_warm: u32,
    /// `pb:*` host calls (pb.kv.get, pb.data …) one invocation may make; the
    /// first call past it gets a `quota` error, a later one stops the guest.
    #[arg(long, default_value_t = crate::config::DEFAULT_MAX_HOST_CALLS)]
    max_host_calls: u64,
    /// Linear memory all instances together may hold, in MiB (default: half of the machine's).
    #[arg(long)]
    memory_budget_mb: Option<u64>,
    /// A host (`name` or `name:port`) functions may call out to; repeatable. Default: none.
    #[arg(long = "allow-host")]
    allow_hosts: Vec<String>,
    /// The environment (`dev`, `prod`, …) whose secrets functions read. The
    /// secrets' master key comes from `PB_SECRETS_KEY` (base64 of 32 bytes),
    /// else from `<dir>/secrets_key`, generated at first start.
    #[arg(long = "env", env = "PB_ENV", default_value = DEFAULT_ENVIRONMENT)]
    environment: String,
    /// Jobs (pb:jobs) this host runs at once; 0 = it runs none (it may still enqueue).
    #[arg(long, default_value_t = crate::triggers::jobs::DEFAULT_WORKERS)]
    job_workers: usize,
    /// Seconds a worker's claim on a job lasts unless its heartbeat extends
    /// it: how soon a job whose host died is run again.
    #[arg(long, default_value_t = crate::triggers::jobs::DEFAULT_LEASE.as_secs_f64())]
    job_lease: f64,
    /// Seconds one run of a job may take.
    #[arg(long, default_value_t = crate::triggers::jobs::DEFAULT_TIMEOUT.as_secs_f64())]
    job_timeout: f64,
    #[command(flatten)]
    files: crate::caps::files::config::FilesArgs,
    /// How log lines are written: `text`, or `json` (one object per line:
    /// level, msg, fields, trace_id, span_id, function, version, time).
    #[arg(long, env = "PBS_LOG_FORMAT", default_value = "text")]
    pub log_format: crate::telemetry::LogFormat,
    /// Export traces and metrics over OTLP/HTTP (protobuf) to this
    /// collector (`http://localhost:4318`); default `OTEL_EXPORTER_OTLP_ENDPOINT`,
    /// else none. The other standard `OTEL_*` variables apply.
    #[arg(long)]
    otlp_endpoint: Option<String>,
    /// The service name on traces and metrics (default `OTEL_SERVICE_NAME`, else `pbs`).
    #[arg(long)]
    service_name: Option<String>,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let seconds = |flag: &str, v: f64| {
        Duration::try_from_secs_f64(v)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| anyhow::anyhow!("{flag} must be a positive number of seconds"))
    };
    let headers_timeout = seconds("--timeout", args.timeout)?;
    let max_duration = seconds("--max-duration", args.max_duration)?;
    let job_lease = seconds("--job-lease", args.job_lease)?;
    let job_timeout = seconds("--job-timeout", args.job_timeout)?;
    anyhow::ensure!(
        (1..=65536).contains(&args.memory_mb),
        "--memory-mb must be between 1 and 65536"
    );
    let mut telemetry = crate::telemetry::TelemetryConfig::from_env()?;
    if let Some(endpoint) = args.otlp_endpoint {
        anyhow::ensure!(
            endpoint.starts_with("http://") || endpoint.starts_with("https://"),
            "--otlp-endpoint must be an http:// or https:// URL"
        );
        telemetry.endpoint = Some(endpoint);
        telemetry.traces_endpoint = None;
        telemetry.metrics_endpoint = None;
    }
    if let Some(name) = args.service_name {
        telemetry.service_name = name;
    }
    if let Some(endpoint) = telemetry.traces_endpoint() {
        tracing::info!("exporting traces over OTLP to {endpoint}");
    }
    let config = HostConfig {
        mode: match args.component {
            Some(component) => Mode::Single {
                component,
                reuse: args.reuse,
            },
            None => Mode::Host,
        },
        addr: args.addr,
        dir: args.dir,
        db: args.db,
        admin_token: None,
        limits: Limits {
            memory: (args.memory_mb as usize) << 20,
            headers_timeout,
            max_duration,
            fuel: args.fuel,
            max_instances: args.max_instances,
            max_per_function: args.max_per_function,
            memory_budget: args
                .memory_budget_mb
                .map(|mb| (mb as usize) << 20)
                .unwrap_or_else(crate::config::default_memory_budget),
            max_reuse: args.max_reuse,
            max_warm: args.max_warm,
            max_host_calls: args.max_host_calls,
        },
        allowed_hosts: args.allow_hosts,
        secrets: SecretsConfig {
            environment: args.environment,
            key: None,
        },
        jobs: crate::triggers::jobs::JobsConfig {
            workers: args.job_workers,
            lease: job_lease,
            timeout: job_timeout,
            ..Default::default()
        },
        files: args.files.config()?,
        telemetry,
        ..HostConfig::default()
    };
    let single = matches!(config.mode, Mode::Single { .. });
    let server = Server::start(config).await?;
    let addr = server.addr();
    let banner = if single {
        format!("Serving HTTP on http://{addr}/")
    } else {
        format!(
            "pb-serverless listening on http://{addr}\n  functions: http://{addr}/api/pb_serverless/<name>\n  admin API: http://{addr}/api/pb_serverless/_admin/"
        )
    };
    // A closed stdout must not take the server down: write, don't print.
    let _ = writeln!(std::io::stdout(), "{banner}");
    shutdown_signal().await?;
    tracing::info!("shutting down: waiting for requests under way");
    server.shutdown().await;
    Ok(())
}

/// Ctrl-C, or SIGTERM (what service managers send).
pub(crate) async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
