//! The `pbs` command line.

mod admin_host;
mod build;
mod check;
mod deploy;
mod deploy_project;
mod dev;
mod init;
mod jobs;
mod secrets;
mod serve;
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
    Serve(serve::ServeArgs),
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
    /// The versions of a function (`pbs versions NAME`), or remove old ones (`pbs versions prune`).
    Versions(versions::VersionsArgs),
    /// Serve an earlier version of a function again (default: the previous one).
    Rollback(versions::RollbackArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // `pbs dev` prints the log its own way.
    if !matches!(cli.command, Command::Dev(_)) {
        init_logging();
    }
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
            Command::Serve(args) => serve::run(args).await,
            Command::Build(args) => build::run(args).await,
            Command::Deploy(args) => deploy::run(args).await,
            Command::Check(args) => check::run(args).await,
            Command::Secrets(args) => secrets::run(args).await,
            Command::Jobs(args) => jobs::run(args).await,
            Command::Versions(args) => versions::run(args).await,
            Command::Rollback(args) => versions::rollback(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PBS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
