//! `pbs logs [NAME] [--follow] [--json] [--level L] [--trace ID]`: a
//! running host's recent function log lines, or a live stream of them
//! (like `wrangler tail`), through its admin API (`GET _admin/logs`). The
//! lines are the host's own: with several hosts on one database, point
//! `--server` at each.

use super::admin_host::AdminHost;
use anyhow::Context;
use clap::Args;
use futures::StreamExt;
use serde_json::Value;
use std::io::Write;

#[derive(Args)]
pub struct LogsArgs {
    /// Only this function's lines (default: every function's).
    name: Option<String>,
    /// Keep streaming new lines until interrupted.
    #[arg(long, short)]
    follow: bool,
    /// Print each line as the host's JSON (one object per line).
    #[arg(long)]
    json: bool,
    /// Only lines at this level or above: trace, debug, info, warn, error.
    #[arg(long)]
    level: Option<String>,
    /// Only the lines of this trace id.
    #[arg(long)]
    trace: Option<String>,
    /// How many recent lines to show first.
    #[arg(long, short = 'n', default_value_t = 100)]
    limit: u32,
    #[command(flatten)]
    host: AdminHost,
}

pub async fn run(args: LogsArgs) -> anyhow::Result<()> {
    if let Some(level) = &args.level {
        level
            .parse::<crate::telemetry::Level>()
            .map_err(anyhow::Error::msg)?;
    }
    let mut query: Vec<(&str, String)> = vec![("limit", args.limit.to_string())];
    if let Some(n) = &args.name {
        query.push(("function", n.clone()));
    }
    if let Some(l) = &args.level {
        query.push(("level", l.clone()));
    }
    if let Some(t) = &args.trace {
        query.push(("trace", t.clone()));
    }
    let out = std::io::stdout();
    if !args.follow {
        let q: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let body = args
            .host
            .call(reqwest::Method::GET, "logs", &q, None)
            .await?;
        let mut out = out.lock();
        for line in body["items"].as_array().into_iter().flatten() {
            writeln!(out, "{}", show(line, args.json))?;
        }
        return Ok(());
    }
    query.push(("follow", "1".into()));
    let resp = reqwest::Client::new()
        .get(args.host.url("logs"))
        .bearer_auth(args.host.token()?)
        .query(&query)
        .send()
        .await
        .with_context(|| format!("reach the host at {}", args.host.server()))?;
    let status = resp.status();
    if !status.is_success() {
        let body: Value = resp.json().await.unwrap_or_default();
        anyhow::bail!(
            "{status}: {}",
            body["message"].as_str().unwrap_or("no message")
        );
    }
    let mut stream = resp.bytes_stream();
    let mut pending: Vec<u8> = Vec::new();
    let mut event = String::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.context("the log stream broke off")?;
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let raw: Vec<u8> = pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&raw);
            let line = line.trim_end_matches(['\n', '\r']);
            if let Some(name) = line.strip_prefix("event: ") {
                event = name.to_string();
            } else if let Some(data) = line.strip_prefix("data: ") {
                let value: Value = serde_json::from_str(data).unwrap_or(Value::Null);
                let text = if event == "dropped" {
                    format!(
                        "… {} lines dropped (the reader fell behind)",
                        value["dropped"]
                    )
                } else if args.json {
                    // As the host wrote it (its key order).
                    data.to_string()
                } else {
                    show(&value, false)
                };
                let mut out = out.lock();
                writeln!(out, "{text}")?;
                out.flush()?;
            } else if line.is_empty() {
                event.clear();
            }
        }
    }
    Ok(())
}

/// Keys every line has, shown in their own places.
const SHOWN: &[&str] = &[
    "level",
    "msg",
    "trace_id",
    "component",
    "span_id",
    "function",
    "version",
    "time",
    "target",
];

/// A line as JSON, or as text: `time LEVEL function msg key=value… trace=…`.
fn show(line: &Value, json: bool) -> String {
    if json {
        return line.to_string();
    }
    let s = |k: &str| line[k].as_str().unwrap_or("").to_string();
    let time = s("time");
    let time = time.get(11..23).unwrap_or(&time);
    let mut text = format!(
        "{time} {:>5} {} {}",
        s("level").to_uppercase(),
        s("function"),
        s("msg")
    );
    if let Some(map) = line.as_object() {
        for (k, v) in map {
            if SHOWN.contains(&k.as_str()) {
                continue;
            }
            match v {
                Value::String(t) => text.push_str(&format!(" {k}={t}")),
                v => text.push_str(&format!(" {k}={v}")),
            }
        }
    }
    let trace = s("trace_id");
    if !trace.is_empty() {
        text.push_str(&format!(" trace={trace}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_as_text() {
        let line = serde_json::json!({"level":"info","msg":"Processing","userId":1,
            "trace_id":"abc","component":"wasm","function":"hello","time":"2026-01-02T03:04:05.678Z"});
        assert_eq!(
            show(&line, false),
            "03:04:05.678  INFO hello Processing userId=1 trace=abc"
        );
        assert_eq!(show(&line, true), line.to_string());
    }
}
