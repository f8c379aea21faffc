//! `pbs jobs …`: list, retry and cancel jobs (pb:jobs) through a running
//! host's admin API.

use super::admin_host::AdminHost;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::Value;

#[derive(Args)]
pub struct JobsArgs {
    #[command(subcommand)]
    command: JobsCommand,
}

#[derive(Subcommand)]
enum JobsCommand {
    /// List jobs, newest first.
    List(ListArgs),
    /// Run a dead, failed or cancelled job again now, with fresh attempts.
    Retry(IdArgs),
    /// Cancel a queued, failed or running job.
    Cancel(IdArgs),
}

#[derive(Args)]
struct ListArgs {
    /// Only jobs in this state: queued, running, completed, failed, dead, cancelled.
    #[arg(long)]
    state: Option<String>,
    /// Only jobs of this name.
    #[arg(long)]
    name: Option<String>,
    /// Only jobs consumed by this function.
    #[arg(long)]
    function: Option<String>,
    #[arg(long, default_value_t = 1)]
    page: u32,
    #[arg(long, default_value_t = 30)]
    per_page: u32,
    /// Print the admin API's JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    host: AdminHost,
}

#[derive(Args)]
struct IdArgs {
    /// The job id.
    id: String,
    #[command(flatten)]
    host: AdminHost,
}

pub async fn run(args: JobsArgs) -> anyhow::Result<()> {
    match args.command {
        JobsCommand::List(a) => list(a).await,
        JobsCommand::Retry(a) => act(a, "retry").await,
        JobsCommand::Cancel(a) => act(a, "cancel").await,
    }
}

async fn list(a: ListArgs) -> anyhow::Result<()> {
    let page = a.page.to_string();
    let per_page = a.per_page.to_string();
    let mut query = vec![("page", page.as_str()), ("perPage", per_page.as_str())];
    for (key, value) in [
        ("state", &a.state),
        ("name", &a.name),
        ("function", &a.function),
    ] {
        if let Some(v) = value {
            query.push((key, v.as_str()));
        }
    }
    let body = a.host.call(Method::GET, "jobs", &query, None).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    let items = body["items"].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        println!("no jobs");
        return Ok(());
    }
    println!(
        "{:<36}  {:<9}  {:<20}  {:<20}  {:>8}  last error",
        "id", "state", "function", "name", "attempts"
    );
    for j in &items {
        println!(
            "{:<36}  {:<9}  {:<20}  {:<20}  {:>8}  {}",
            text(&j["id"]),
            text(&j["state"]),
            text(&j["function"]),
            text(&j["name"]),
            format!("{}/{}", j["attempts"], j["max_attempts"]),
            text(&j["last_error"]).chars().take(80).collect::<String>(),
        );
    }
    println!(
        "page {} of {} ({} jobs)",
        body["page"], body["totalPages"], body["totalItems"]
    );
    Ok(())
}

async fn act(a: IdArgs, action: &str) -> anyhow::Result<()> {
    let job = a
        .host
        .call(Method::POST, &format!("jobs/{}/{action}", a.id), &[], None)
        .await?;
    println!("job {} is {}", text(&job["id"]), text(&job["state"]));
    Ok(())
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}
