//! The deploys of `pbs dev`: an upload to the dev host and its progress
//! line, run in the background behind a preview.
//!
//! An edit of a JS function serves as a preview as soon as it is built
//! (`crate::deploy::preview`); its upload (the host compiles it, ~0.8 s)
//! then runs here, so the next save is built and previewed at once instead
//! of waiting for it. A function's uploads go one at a time, the latest
//! build first: a build that a later one overtook before its upload started
//! is dropped, as its preview was.

use super::{indent, say, short};
use crate::cli::admin_host::AdminHost;
use crate::cli::deploy_project::{upload_built, Built};
use crate::deploy::{Deployed, Registry};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// A built function on its way to the host.
pub struct Upload {
    pub built: Built,
    pub started: Instant,
    pub build_time: Duration,
    /// The preview serving it, if any: the registry, what served before,
    /// and when (after `started`) the preview began.
    pub preview: Option<(Arc<Registry>, Arc<Deployed>, Duration)>,
}

/// The version a function serves, shared with its deployer.
pub type Serving = Arc<Mutex<Option<String>>>;

/// Uploads `upload`, prints its line, and records the version in `serving`.
pub async fn upload(host: &AdminHost, upload: Upload, serving: &Serving) {
    let Upload {
        built,
        started,
        build_time,
        preview,
    } = upload;
    let name = built.name.clone();
    match upload_built(host, built).await {
        Ok(answer) => {
            let version = answer["version"].as_str().unwrap_or_default().to_string();
            let took = started.elapsed().as_secs_f64();
            let build = build_time.as_secs_f64();
            say(&match &preview {
                Some((_, _, previewed)) => format!(
                    "✓ {name} {} serving, {:.2} s (build {build:.2} s, preview; compiled and deployed at {took:.2} s)",
                    short(&version),
                    previewed.as_secs_f64(),
                ),
                None => format!(
                    "✓ {name} {} serving, {took:.2} s (build {build:.2} s, deploy {:.2} s)",
                    short(&version),
                    took - build,
                ),
            });
            *serving.lock().unwrap_or_else(|e| e.into_inner()) = Some(version);
        }
        Err(e) => {
            if let Some((registry, previous, _)) = preview {
                registry.end_preview(&name, previous).await;
            }
            let still = match serving.lock().unwrap_or_else(|e| e.into_inner()).as_deref() {
                Some(v) => format!("still serving {}", short(v)),
                None => "not serving yet".into(),
            };
            say(&format!(
                "✗ {name}: the host refused it; {still}\n{}",
                indent(&format!("{e:#}"))
            ))
        }
    }
}

/// One function's uploads in the background.
pub struct Deployer {
    uploads: mpsc::UnboundedSender<Upload>,
    /// Uploads sent and not finished (or dropped) yet.
    pending: Arc<watch::Sender<usize>>,
}

impl Deployer {
    pub fn start(host: AdminHost, serving: Serving) -> Deployer {
        let (uploads, mut queue) = mpsc::unbounded_channel::<Upload>();
        let pending = Arc::new(watch::Sender::new(0usize));
        let done = pending.clone();
        tokio::spawn(async move {
            while let Some(mut next) = queue.recv().await {
                // Latest first: what it overtook is never uploaded.
                while let Ok(later) = queue.try_recv() {
                    next = later;
                    done.send_modify(|n| *n = n.saturating_sub(1));
                }
                upload(&host, next, &serving).await;
                done.send_modify(|n| *n = n.saturating_sub(1));
            }
        });
        Deployer { uploads, pending }
    }

    pub fn send(&self, upload: Upload) {
        self.pending.send_modify(|n| *n += 1);
        if self.uploads.send(upload).is_err() {
            self.pending.send_modify(|n| *n = n.saturating_sub(1));
        }
    }

    /// Waits until every upload sent so far is done.
    pub async fn idle(&self) {
        let _ = self.pending.subscribe().wait_for(|n| *n == 0).await;
    }
}
