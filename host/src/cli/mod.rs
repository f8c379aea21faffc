//! The `pbs` command line.

mod admin_host;
mod build;
mod check;
mod deploy;
mod deploy_project;
mod dev;
mod init;
mod jobs;
mod logs;
mod secrets;
mod serve;
mod types;
mod versions;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "pbs",
    version,
    about = "pb-serverless: serverless WebAssembly functions with records, state, files, jobs, secrets and tracing"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a project: `pbs init my-app [--template hello|ai-chat|rag]`.
    Init(init::InitArgs),
    /// Run a project on a local host and rebuild what changes on every save.
    Dev(dev::DevArgs),
    /// Run the host (or, given a component, serve it alone at `/` like `wasmtime serve`).
    Serve(Box<serve::ServeArgs>),
    /// Bundle a TypeScript/JavaScript entry and build it into a component.
    Build(build::BuildArgs),
    /// Upload a component to a running host as a new version of a function.
    Deploy(deploy::DeployArgs),
    /// Run the deploy-time checks on a component, offline.
    Check(check::CheckArgs),
    /// Manage secrets (pb:secrets): set, list, rm through the admin API; rotate-key offline.
    Secrets(secrets::SecretsArgs),
    /// Jobs (pb:jobs): list, retry, cancel through the admin API.
    Jobs(jobs::JobsArgs),
    /// Write the project's TypeScript types (pb-env.d.ts: collections, secrets, jobs) and the SDK.
    Types(types::TypesArgs),
    /// Show a running host's recent function logs, or follow them (like `wrangler tail`).
    Logs(logs::LogsArgs),
    /// The versions of a function (`pbs versions NAME`), or remove old ones (`pbs versions prune`).
    Versions(versions::VersionsArgs),
    /// Serve an earlier version of a function again (default: the previous one).
    Rollback(versions::RollbackArgs),
}

/// The HTTP client of the commands that call a host. It keeps no idle
/// connection: a host closes a connection idle for 30 s
/// (`server::HEADER_READ_TIMEOUT`), and a pooled one reused at that moment
/// — `pbs deploy` of a project idles while it builds its functions — fails
/// with "connection closed before message completed". Commands make a
/// handful of requests: a new connection each costs nothing worth the race.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap_or_default()
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = match &cli.command {
        Command::Serve(args) => args.log_format,
        _ => crate::telemetry::LogFormat::Text,
    };
    // `pbs dev` prints the log its own way.
    let log = (!matches!(cli.command, Command::Dev(_)))
        .then(|| init_logging(format))
        .flatten();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Init(args) => init::run(args).await,
            Command::Dev(args) => dev::run(args).await,
            Command::Serve(args) => serve::run(*args).await,
            Command::Build(args) => build::run(args).await,
            Command::Deploy(args) => deploy::run(args).await,
            Command::Check(args) => check::run(args).await,
            Command::Secrets(args) => secrets::run(args).await,
            Command::Jobs(args) => jobs::run(args).await,
            Command::Types(args) => types::run(args).await,
            Command::Logs(args) => logs::run(args).await,
            Command::Versions(args) => versions::run(args).await,
            Command::Rollback(args) => versions::rollback(args).await,
        }
    });
    drop(runtime);
    // The log's last lines before the error line.
    drop(log);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Installs the log: text or JSON lines on stderr, filtered by `PBS_LOG`.
///
/// Lines are formatted where they happen and written in batches by a
/// thread of its own ([`crate::telemetry::log_writer`]): `pbs serve` logs a
/// line per invocation, and a write per line from the request's thread
/// (under stderr's lock), or a wake-up per line of a writer thread, cost a
/// fifth of a trivial function's throughput. Nothing is dropped. The
/// returned guard writes what is buffered when dropped; `None` when the
/// thread could not start (the log then goes to stderr directly).
fn init_logging(
    format: crate::telemetry::LogFormat,
) -> Option<crate::telemetry::log_writer::Guard> {
    match crate::telemetry::log_writer::batch_writer(std::io::stderr(), "pbs-log") {
        Ok((writer, guard)) => {
            install_log(format, writer);
            Some(guard)
        }
        Err(_) => {
            install_log(format, std::io::stderr);
            None
        }
    }
}

fn install_log<W>(format: crate::telemetry::LogFormat, writer: W)
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = tracing_subscriber::EnvFilter::try_from_env("PBS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a terminal: a log file or a collector gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(writer);
    let _ = match format {
        crate::telemetry::LogFormat::Text => builder.try_init(),
        crate::telemetry::LogFormat::Json => builder
            .event_format(crate::telemetry::logs::JsonFormat)
            .try_init(),
    };
}
