//! The deploys of `pbs dev`: an upload to the dev host and its progress
//! line, run in the background behind a preview.
//!
//! An edit of a JS function serves as a preview as soon as it is built
//! (`crate::deploy::preview`); its upload (the host compiles it, ~0.8 s)
//! then runs here, so the next save is built and previewed at once instead
//! of waiting for it. A function's uploads go one at a time, the latest
//! build first: a build that a later one overtook before its upload started
//! is dropped (its preview was replaced already), and the registry is told
//! of each upload queued, dropped or refused, so the deploy of an
//! overtaken edit never replaces a later edit's preview.

use super::{indent, say, short};
use crate::cli::admin_host::AdminHost;
use crate::cli::deploy_project::{upload_built, Built};
use crate::deploy::Registry;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// A built function on its way to the host.
pub struct Upload {
    pub built: Built,
    /// The hash its version will have.
    pub hash: String,
    pub started: Instant,
    pub build_time: Duration,
    /// When (after `started`) its preview began serving, if it had one.
    pub previewed: Option<Duration>,
}

/// The version a function serves, shared with its deployer.
pub type Serving = Arc<Mutex<Option<String>>>;

fn serving_now(serving: &Serving) -> String {
    match serving.lock().unwrap_or_else(|e| e.into_inner()).as_deref() {
        Some(v) => format!("still serving {}", short(v)),
        None => "not serving yet".into(),
    }
}

/// Uploads `upload` and prints its line (`overtaken`: a later save is on
/// its way, so this one is only stored); records the version in `serving`.
/// A refused upload is reported to `registry`, which ends its preview.
pub async fn upload(
    host: &AdminHost,
    registry: Option<&Registry>,
    upload: Upload,
    serving: &Serving,
    overtaken: impl Fn() -> bool,
) {
    let Upload {
        built,
        hash,
        started,
        build_time,
        previewed,
    } = upload;
    let name = built.name.clone();
    match upload_built(host, built).await {
        Ok(answer) => {
            let version = answer["version"].as_str().unwrap_or_default().to_string();
            let took = started.elapsed().as_secs_f64();
            let build = build_time.as_secs_f64();
            if overtaken() {
                say(&format!(
                    "· {name} {} stored; a later save follows",
                    short(&version)
                ));
                return;
            }
            say(&match previewed {
                Some(previewed) => format!(
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
            if let Some(registry) = registry {
                registry.upload_ended(&name, &hash).await;
            }
            say(&format!(
                "✗ {name}: the host refused it; {}\n{}",
                serving_now(serving),
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

/// Counts one upload done when dropped, so a panic cannot leave `idle`
/// waiting for ever.
struct Done(Arc<watch::Sender<usize>>);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Deployer {
    pub fn start(host: AdminHost, registry: Option<Arc<Registry>>, serving: Serving) -> Deployer {
        let (uploads, mut queue) = mpsc::unbounded_channel::<Upload>();
        let pending = Arc::new(watch::Sender::new(0usize));
        let count = pending.clone();
        tokio::spawn(async move {
            while let Some(mut next) = queue.recv().await {
                let mut done = vec![Done(count.clone())];
                // Latest first: what it overtook is never uploaded.
                while let Ok(later) = queue.try_recv() {
                    let dropped = std::mem::replace(&mut next, later);
                    if let Some(registry) = &registry {
                        registry
                            .upload_ended(&dropped.built.name, &dropped.hash)
                            .await;
                    }
                    done.push(Done(count.clone()));
                }
                let later = || !queue.is_empty();
                upload(&host, registry.as_deref(), next, &serving, later).await;
                drop(done);
            }
        });
        Deployer { uploads, pending }
    }

    pub fn send(&self, upload: Upload) {
        self.pending.send_modify(|n| *n += 1);
        if let Err(e) = self.uploads.send(upload) {
            self.pending.send_modify(|n| *n = n.saturating_sub(1));
            say(&format!(
                "✗ {}: not deployed (the deployer stopped)",
                e.0.built.name
            ));
        }
    }

    /// Waits until every upload sent so far is done.
    pub async fn idle(&self) {
        let _ = self.pending.subscribe().wait_for(|n| *n == 0).await;
    }
}
