//! `GET logs`: the recent log lines of the host's functions, or a stream
//! of them as they come (`follow`), like `wrangler tail` — what `pbs logs`
//! reads. The lines are this host's own (a buffer in memory, see
//! [`crate::telemetry::logs`]): hosts sharing a database each keep theirs.
//!
//! | query | what |
//! |---|---|
//! | `function=NAME` | one function's lines (default: all) |
//! | `level=warn` | that level and above (`trace`, `debug`, `info`, `warn`, `error`) |
//! | `trace=ID` | the lines of one trace |
//! | `limit=N` | the newest N kept lines (default 100, at most 10000) |
//! | `follow=1` | after the kept lines, new ones as server-sent events, until the client goes |
//!
//! Without `follow`: `{"items": [line, …]}`, oldest first, each line the
//! JSON of a log line (`level`, `msg`, fields, `trace_id`, `component`,
//! `function`, `version`, `time`). With it: `text/event-stream`, one
//! `data: <line>` event per line, a `: keep-alive` comment every
//! [`KEEP_ALIVE`], and an `event: dropped` (`data: {"dropped": N}`) when the
//! reader fell behind and lines were skipped.

use super::Ctx;
use crate::telemetry::logs::Filter;
use crate::telemetry::Level;
use crate::triggers::http::reply::{error, full, query_flag, query_param, Body};
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, StreamBody};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// Lines answered when no `limit` is given.
pub const DEFAULT_LIMIT: usize = 100;
/// Most lines one answer holds.
pub const MAX_LIMIT: usize = 10_000;
/// Time between two keep-alive comments of a followed stream.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub async fn get<B>(ctx: &Ctx<'_>, req: &Request<B>) -> http::Response<Body> {
    let level = match query_param(req, "level").map(|l| l.parse::<Level>()) {
        None => None,
        Some(Ok(l)) => Some(l),
        Some(Err(e)) => return error(400, &e),
    };
    let limit = match query_param(req, "limit").map(|l| l.parse::<usize>()) {
        None => DEFAULT_LIMIT,
        Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            return error(
                400,
                &format!("`limit` must be a number from 1 to {MAX_LIMIT}"),
            )
        }
    };
    let filter = Filter {
        function: query_param(req, "function").filter(|f| !f.is_empty()),
        level,
        trace_id: query_param(req, "trace")
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty()),
    };
    let logs = ctx.registry.runtime().telemetry().logs();
    if !query_flag(req, "follow") {
        // Each line as the host writes it (its keys in their order).
        let items: Vec<String> = logs
            .recent(&filter, limit)
            .iter()
            .map(|r| r.to_json())
            .collect();
        return http::Response::builder()
            .status(200)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(full(format!("{{\"items\":[{}]}}", items.join(","))))
            .expect("static response parts are valid");
    }
    // Subscribe before reading the kept lines: none falls in between (a
    // line may come twice; a reader can tell by time and trace).
    let mut live = logs.follow();
    let kept = logs.recent(&filter, limit);
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let send = |text: String| tx.send(Bytes::from(text));
        if send(": following\n\n".into()).await.is_err() {
            return;
        }
        for r in kept {
            if send(format!("data: {}\n\n", r.to_json())).await.is_err() {
                return;
            }
        }
        loop {
            let next = tokio::select! {
                r = live.recv() => r,
                _ = tokio::time::sleep(KEEP_ALIVE) => {
                    if send(": keep-alive\n\n".into()).await.is_err() {
                        return;
                    }
                    continue;
                }
                _ = tx.closed() => return,
            };
            let event = match next {
                Ok(r) if filter.admits(&r) => format!("data: {}\n\n", r.to_json()),
                Ok(_) => continue,
                Err(RecvError::Lagged(n)) => {
                    format!("event: dropped\ndata: {{\"dropped\":{n}}}\n\n")
                }
                Err(RecvError::Closed) => return,
            };
            if send(event).await.is_err() {
                return;
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        let chunk = rx.recv().await?;
        Some((Ok(http_body::Frame::data(chunk)), rx))
    });
    http::Response::builder()
        .status(200)
        .header(http::header::CONTENT_TYPE, "text/event-stream")
        .header(http::header::CACHE_CONTROL, "no-cache")
        .body(StreamBody::new(stream).boxed_unsync())
        .expect("static response parts are valid")
}
