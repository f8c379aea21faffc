//! The versioned registry: immutable versions (content hash) in the
//! database, a current version per function, and in memory the compiled
//! `InstancePre` of each live version.
//!
//! A redeploy swaps the `Arc<Deployed>` a name points to; requests already
//! running hold the old `Arc` and finish on the old version.

use super::check::{
    check_component, content_hash, inspect, js_triggers, Checked, DeployError, Trigger,
};
use crate::caps::http_out::OutboundPolicy;
use crate::common::sourcemap::SourceMapper;
use crate::engine::{Invocation, Runtime};
use crate::store::{now_ms, Db};
use anyhow::Context;
use serde::Serialize;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, RwLock};
use wasmtime::component::{Component, InstancePre};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

/// A version this recent whose precompiled code is not stored yet is
/// probably being stored by the host that deployed it (see
/// [`Registry::deploy`]): another host waits up to
/// `ARTIFACT_WAIT_ROUNDS × ARTIFACT_WAIT_STEP` for it before compiling.
const ARTIFACT_WAIT_RECENT: std::time::Duration = std::time::Duration::from_secs(10);
const ARTIFACT_WAIT_ROUNDS: u32 = 20;
const ARTIFACT_WAIT_STEP: std::time::Duration = std::time::Duration::from_millis(100);

/// A compiled version, shared by every function that serves it.
pub struct Version {
    pub hash: String,
    /// The instantiate-pre of the whole component (for the job, cron and
    /// hook handler exports: `triggers::invoke_export`).
    pub pre: InstancePre<Invocation>,
    pub proxy: Option<ProxyPre<Invocation>>,
    pub exports: Vec<String>,
    pub triggers: Vec<Trigger>,
    /// Maps `bundle.js` positions in logged stack traces to the `.ts` source.
    pub source_map: Option<Arc<SourceMapper>>,
    /// A `pbs dev` preview's bundle: `pre` is the plain JS engine, and each
    /// new instance evaluates this before it serves ([`super::preview`]).
    pub init: Option<Arc<str>>,
}

impl From<Checked> for Version {
    fn from(checked: Checked) -> Self {
        Version {
            hash: checked.hash,
            pre: checked.pre,
            proxy: checked.proxy,
            exports: checked.exports,
            triggers: checked.triggers,
            source_map: checked.source_map,
            init: None,
        }
    }
}

/// What a deploy sets for a function besides its code; kept across
/// rollbacks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// The function's own outbound allowlist entries.
    pub allowed_hosts: Vec<String>,
    /// Invocations one instance may serve in turn; 0 or 1: a fresh
    /// instance for each, the default ([`crate::engine::warm`]).
    pub reuse: u32,
}

/// An instance kept for the next invocation of a function with reuse on.
pub type WarmInstance = (wasmtime::Store<Invocation>, wasmtime::component::Instance);

/// What a function name serves now.
pub struct Deployed {
    pub name: Arc<str>,
    pub version: Arc<Version>,
    /// One permit per live instance of this function, so one busy function
    /// cannot take every instance slot of the host.
    pub slots: Arc<tokio::sync::Semaphore>,
    /// Its allowlist and reuse, as deployed.
    pub settings: Settings,
    /// Its outbound policy (host-wide + own list); each invocation gets a
    /// copy with a fresh request budget.
    pub outbound: OutboundPolicy,
    /// Idle instances of this version, when it is deployed with reuse.
    pub warm: Option<Arc<crate::engine::warm::WarmPool<WarmInstance>>>,
    /// Whether its last invocation (of any trigger) was long-running: the
    /// next one starts in the long lane (`engine::lanes::Hint`).
    pub long_running: Arc<crate::engine::lanes::Hint>,
    /// A `pbs dev` preview, serving until its version is deployed
    /// ([`super::preview`]).
    pub preview: bool,
}

impl Deployed {
    pub fn new(
        runtime: &Runtime,
        name: &str,
        version: Arc<Version>,
        settings: Settings,
        outbound: OutboundPolicy,
    ) -> Self {
        let max_concurrency = runtime.limits().max_per_function;
        Deployed {
            name: name.into(),
            version,
            slots: Arc::new(tokio::sync::Semaphore::new(max_concurrency.max(1) as usize)),
            warm: runtime.warm_pool(settings.reuse),
            settings,
            outbound,
            long_running: Default::default(),
            preview: false,
        }
    }
}

/// A function as the admin API lists it.
#[derive(Serialize, Debug, Clone)]
pub struct FunctionInfo {
    pub name: String,
    pub version: String,
    pub triggers: Vec<String>,
    pub exports: Vec<String>,
    pub allowed_hosts: Vec<String>,
    /// Requests one instance serves in turn (0: a fresh one per request).
    pub reuse: u32,
    pub size: i64,
    pub updated_ms: i64,
}

pub struct Registry {
    db: Db,
    runtime: Runtime,
    /// Identifies the engine configuration artifacts were compiled for.
    engine_key: String,
    pub(super) live: RwLock<HashMap<String, Arc<Deployed>>>,
    versions: Mutex<HashMap<String, Arc<Version>>>,
    /// Serialises changes of `live` (deploy, remove, refresh), so a refresh
    /// that read the table before a deploy cannot undo it.
    pub(super) switch: tokio::sync::Mutex<()>,
    /// `pbs dev`'s previews and their uploads ([`super::preview`]).
    pub(super) previews: super::preview::Previews,
}

impl Registry {
    /// Opens the registry and loads every function's current version.
    pub async fn open(db: Db, runtime: Runtime) -> anyhow::Result<Arc<Registry>> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        runtime
            .engine()
            .precompile_compatibility_hash()
            .hash(&mut h);
        let registry = Arc::new(Registry {
            db,
            runtime,
            engine_key: format!("wasmtime-48-{:016x}", h.finish()),
            live: RwLock::new(HashMap::new()),
            versions: Mutex::new(HashMap::new()),
            switch: tokio::sync::Mutex::new(()),
            previews: Default::default(),
        });
        registry.refresh().await?;
        Ok(registry)
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// The version `name` serves now.
    pub fn get(&self, name: &str) -> Option<Arc<Deployed>> {
        self.live.read().ok()?.get(name).cloned()
    }

    /// Checks, compiles and stores `bytes` as the new version of `name`,
    /// then switches new requests to it. All or nothing.
    pub async fn deploy(
        &self,
        name: &str,
        bytes: Vec<u8>,
        triggers: &[Trigger],
        settings: &Settings,
    ) -> Result<FunctionInfo, DeployError> {
        let allowed_hosts = &settings.allowed_hosts;
        if !super::valid_function_name(name) {
            return Err(DeployError::BadRequest(format!(
                "invalid function name `{name}`: use 1-63 lowercase letters, digits, `-` or `_`, \
                 not starting with `_` or `-`"
            )));
        }
        let outbound = self
            .runtime
            .outbound_policy(allowed_hosts)
            .map_err(|e| DeployError::BadRequest(format!("invalid allowed_hosts: {e}")))?;
        let runtime = self.runtime.clone();
        let required = triggers.to_vec();
        let (mut checked, bytes) = tokio::task::spawn_blocking(move || {
            inspect(&runtime, &bytes, &required).map(|c| (c, bytes))
        })
        .await
        .map_err(|e| DeployError::Internal(e.into()))??;
        let artifact = std::mem::take(&mut checked.artifact);
        let version = self.remember(checked);
        let triggers_text = join_triggers(&version.triggers);
        let switch = self.switch.lock().await;
        self.store_deploy(name, &version, &bytes, &triggers_text, settings)
            .await
            .map_err(DeployError::Internal)?;
        let deployed = Arc::new(Deployed::new(
            &self.runtime,
            name,
            version.clone(),
            settings.clone(),
            outbound,
        ));
        if let Ok(mut live) = self.live.write() {
            // The deploy of an edit that `pbs dev` saw overtaken leaves the
            // later edit's preview serving; its own deploy follows.
            let overtaken = self.previews.deployed(name, &version.hash);
            let later_preview = overtaken && live.get(name).is_some_and(|d| d.preview);
            if !later_preview {
                live.insert(name.to_string(), deployed);
            }
        }
        drop(switch);
        tracing::info!(function = name, version = %version.hash, "deployed");
        // The precompiled code is stored once the version serves (it is a
        // cache: without it a restart, or another host, compiles the stored
        // component), which takes writing ~10 MB off save-to-serving.
        self.store_artifact(&version.hash, &artifact, false).await;
        drop(artifact); // before the trim below gives its pages back
        tokio::task::spawn_blocking(crate::engine::release_memory);
        Ok(FunctionInfo {
            name: name.to_string(),
            version: version.hash.clone(),
            triggers: version
                .triggers
                .iter()
                .map(|t| t.name().to_string())
                .collect(),
            exports: version.exports.clone(),
            allowed_hosts: allowed_hosts.to_vec(),
            reuse: settings.reuse,
            size: bytes.len() as i64,
            updated_ms: now_ms(),
        })
    }

    async fn store_deploy(
        &self,
        name: &str,
        version: &Version,
        bytes: &[u8],
        triggers: &str,
        settings: &Settings,
    ) -> anyhow::Result<()> {
        let now = now_ms();
        let exports = serde_json::to_string(&version.exports)?;
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        conn.query(
            "INSERT INTO pbs_versions (hash, component, size, exports, created_ms, source_map) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (hash) DO NOTHING",
        )
        .bind(&version.hash)
        .bind(bytes)
        .bind(bytes.len() as i64)
        .bind(&exports)
        .bind(now)
        .bind(version.source_map.as_ref().map(|m| m.raw()))
        .execute()
        .await?;
        conn.query(
            "INSERT INTO pbs_functions (name, version, triggers, updated_ms, allowed_hosts, reuse) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO UPDATE \
             SET version = excluded.version, triggers = excluded.triggers, \
             updated_ms = excluded.updated_ms, allowed_hosts = excluded.allowed_hosts, \
             reuse = excluded.reuse",
        )
        .bind(name)
        .bind(&version.hash)
        .bind(triggers)
        .bind(now)
        .bind(settings.allowed_hosts.join(","))
        .bind(settings.reuse as i64)
        .execute()
        .await?;
        conn.query("INSERT INTO pbs_deployments (name, version, created_ms) VALUES ($1, $2, $3)")
            .bind(name)
            .bind(&version.hash)
            .bind(now)
            .execute()
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Version `hash`'s precompiled code for this engine and its tag, if
    /// stored.
    async fn stored_artifact(
        &self,
        hash: &str,
    ) -> anyhow::Result<Option<(Vec<u8>, Option<String>)>> {
        Ok(self
            .db
            .query("SELECT artifact, sha256 FROM pbs_artifacts WHERE version = $1 AND engine = $2")
            .bind(hash)
            .bind(&self.engine_key)
            .fetch_optional_as()
            .await?)
    }

    /// Whether version `hash` was stored less than [`ARTIFACT_WAIT_RECENT`]
    /// ago (so its code may be on its way).
    async fn just_deployed(&self, hash: &str) -> anyhow::Result<bool> {
        let created: Option<(i64,)> = self
            .db
            .query("SELECT created_ms FROM pbs_versions WHERE hash = $1")
            .bind(hash)
            .fetch_optional_as()
            .await?;
        let recent = ARTIFACT_WAIT_RECENT.as_millis() as i64;
        Ok(created.is_some_and(|(ms,)| now_ms() - ms < recent))
    }

    /// Stores `artifact` as version `hash`'s code for this engine; with
    /// `replace`, over what is there (damaged or forged: see
    /// [`Self::load`]), else a deploy of stored bytes rewrites nothing. A
    /// failure only costs a later compile, so it is logged, not returned.
    async fn store_artifact(&self, hash: &str, artifact: &[u8], replace: bool) {
        let stored = self
            .db
            .query(if replace {
                "INSERT INTO pbs_artifacts (version, engine, artifact, sha256) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (version, engine) DO UPDATE \
                 SET artifact = excluded.artifact, sha256 = excluded.sha256"
            } else {
                "INSERT INTO pbs_artifacts (version, engine, artifact, sha256) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (version, engine) DO NOTHING"
            })
            .bind(hash)
            .bind(&self.engine_key)
            .bind(artifact)
            .bind(self.artifact_tag(hash, artifact))
            .execute()
            .await;
        if let Err(e) = stored {
            tracing::warn!(version = hash, "storing the precompiled code failed: {e:#}");
        }
    }

    fn remember(&self, checked: Checked) -> Arc<Version> {
        let version = Arc::new(Version::from(checked));
        if let Ok(mut versions) = self.versions.lock() {
            versions.insert(version.hash.clone(), version.clone());
        }
        version
    }

    /// Re-reads which version each function serves (another host sharing
    /// the database may have deployed) and loads what changed.
    pub async fn refresh(&self) -> anyhow::Result<()> {
        let _switch = self.switch.lock().await;
        let rows: Vec<(String, String, String, i64)> = self
            .db
            .query("SELECT name, version, allowed_hosts, reuse FROM pbs_functions")
            .fetch_all_as()
            .await?;
        let mut next = HashMap::new();
        for (name, hash, hosts, reuse) in rows {
            let settings = Settings {
                allowed_hosts: split_list(&hosts),
                reuse: reuse.clamp(0, u32::MAX as i64) as u32,
            };
            let hosts = settings.allowed_hosts.clone();
            // A preview stays until a deploy (or `upload_ended`) replaces it.
            if let Some(current) = self
                .get(&name)
                .filter(|d| d.preview || (d.version.hash == hash && d.settings == settings))
            {
                next.insert(name, current);
                continue;
            }
            let loaded = async {
                // Entries were checked at deploy; one this host cannot parse
                // (another host's `--allow-host` differs) is skipped, not fatal.
                let outbound = self
                    .runtime
                    .outbound_policy(&hosts)
                    .unwrap_or_else(|_| OutboundPolicy::new(hosts.clone().into()));
                anyhow::Ok((self.load_version(&hash).await?, outbound))
            };
            match loaded.await {
                Ok((version, outbound)) => {
                    next.insert(
                        name.clone(),
                        Arc::new(Deployed::new(
                            &self.runtime,
                            &name,
                            version,
                            settings,
                            outbound,
                        )),
                    );
                }
                Err(e) => {
                    tracing::error!(function = %name, version = %hash, "cannot load version: {e:#}");
                    if let Some(current) = self.get(&name) {
                        next.insert(name, current);
                    }
                }
            }
        }
        if let Ok(mut live) = self.live.write() {
            *live = next;
        }
        // Forget compiled versions no function serves any more (requests
        // still running on one hold their own reference).
        if let (Ok(live), Ok(mut versions)) = (self.live.read(), self.versions.lock()) {
            versions.retain(|hash, _| live.values().any(|d| &d.version.hash == hash));
        }
        Ok(())
    }

    /// Any stored version by its hash, current or not (a job runs on the
    /// version that enqueued it); none when the version is not stored.
    pub async fn load(&self, hash: &str) -> anyhow::Result<Option<Arc<Version>>> {
        let stored = self
            .db
            .query("SELECT 1 FROM pbs_versions WHERE hash = $1")
            .bind(hash)
            .fetch_optional()
            .await?;
        match stored {
            Some(_) => Ok(Some(self.load_version(hash).await?)),
            None => Ok(None),
        }
    }

    async fn load_version(&self, hash: &str) -> anyhow::Result<Arc<Version>> {
        if let Some(v) = self.versions.lock().ok().and_then(|m| m.get(hash).cloned()) {
            return Ok(v);
        }
        let mut artifact = self.stored_artifact(hash).await?;
        if artifact.is_none() && self.just_deployed(hash).await? {
            // Its host stores the code just after the version starts
            // serving: wait for it rather than compile (seconds for JS)
            // and write the same ~10 MB again.
            for _ in 0..ARTIFACT_WAIT_ROUNDS {
                tokio::time::sleep(ARTIFACT_WAIT_STEP).await;
                artifact = self.stored_artifact(hash).await?;
                if artifact.is_some() {
                    break;
                }
            }
        }
        let artifact = artifact.and_then(|(bytes, tag)| {
            let authentic = self.artifact_authentic(hash, &bytes, tag.as_deref());
            if !authentic {
                tracing::warn!(
                    version = hash,
                    "stored artifact is not authenticated by this host's key (damaged, forged, \
                     or written under another PB_SECRETS_KEY); recompiling from the component"
                );
            }
            authentic.then_some(bytes)
        });
        let runtime = self.runtime.clone();
        let compiled = match artifact {
            // SAFETY: the bytes carry a tag only a holder of the hosts'
            // master key can make (`artifact_authentic`), over this engine
            // configuration, the version and the bytes: they were
            // serialized by `deploy` of a host sharing our key and engine
            // settings. A writer of the database alone cannot forge it; an
            // artifact it damaged or replaced is recompiled from the
            // validated component instead.
            Some(bytes) => tokio::task::spawn_blocking(move || unsafe {
                Component::deserialize(runtime.engine(), &bytes)
            })
            .await?
            .ok(),
            None => None,
        };
        let component = match compiled {
            Some(c) => c,
            None => {
                let bytes: Vec<u8> = self
                    .db
                    .query("SELECT component FROM pbs_versions WHERE hash = $1")
                    .bind(hash)
                    .scalar()
                    .await?;
                anyhow::ensure!(
                    content_hash(&bytes) == hash,
                    "stored component does not match its hash"
                );
                let runtime = self.runtime.clone();
                let (component, artifact) =
                    tokio::task::spawn_blocking(move || runtime.compile_with_artifact(&bytes))
                        .await??;
                self.store_artifact(hash, &artifact, true).await;
                component
            }
        };
        let mut checked = check_component(&self.runtime, component, hash.to_string(), &[])
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let stored: Option<(Option<Vec<u8>>, String)> = self
            .db
            .query("SELECT source_map, exports FROM pbs_versions WHERE hash = $1")
            .bind(hash)
            .fetch_optional_as()
            .await?;
        let (source_map, exports) = stored.unwrap_or_default();
        checked.source_map = source_map.map(|m| Arc::new(SourceMapper::new(m)));
        // A JS function's exports are its bundle's (stored at deploy), and
        // its triggers what they serve, as when it was deployed; the
        // component alone shows the engine's, which serve every trigger.
        let names: Vec<String> = serde_json::from_str(&exports).unwrap_or_default();
        if !names.is_empty() && crate::caps::jobs::is_js_bundle(&names) {
            js_triggers(&mut checked, names, &[]).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        tokio::task::spawn_blocking(crate::engine::release_memory);
        Ok(self.remember(checked))
    }

    /// Every function, by name.
    pub async fn list(&self) -> anyhow::Result<Vec<FunctionInfo>> {
        let sql = "SELECT f.name, f.version, f.triggers, f.updated_ms, f.allowed_hosts, f.reuse, v.size, v.exports \
                   FROM pbs_functions f JOIN pbs_versions v ON v.hash = f.version ORDER BY f.name";
        let rows = self.db.query(sql).fetch_all().await?;
        let list = rows
            .iter()
            .map(|r| {
                Ok(FunctionInfo {
                    name: r.get("name")?,
                    version: r.get("version")?,
                    triggers: split_list(&r.get::<String>("triggers")?),
                    exports: serde_json::from_str(&r.get::<String>("exports")?).unwrap_or_default(),
                    allowed_hosts: split_list(&r.get::<String>("allowed_hosts")?),
                    reuse: r.get::<i64>("reuse")?.clamp(0, u32::MAX as i64) as u32,
                    size: r.get("size")?,
                    updated_ms: r.get("updated_ms")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(list)
    }

    /// The deploy history of `name`, newest first: (version, created_ms).
    pub async fn history(&self, name: &str) -> anyhow::Result<Vec<(String, i64)>> {
        Ok(self
            .db
            .query(
                "SELECT version, created_ms FROM pbs_deployments WHERE name = $1 \
                 ORDER BY id DESC LIMIT 100",
            )
            .bind(name)
            .fetch_all_as()
            .await?)
    }

    /// Stops serving `name`; its versions stay stored. False if unknown.
    pub async fn remove(&self, name: &str) -> anyhow::Result<bool> {
        let _switch = self.switch.lock().await;
        let n = self
            .db
            .query("DELETE FROM pbs_functions WHERE name = $1")
            .bind(name)
            .execute()
            .await
            .context("delete function")?;
        if let Ok(mut live) = self.live.write() {
            live.remove(name);
        }
        Ok(n > 0)
    }
}

impl Registry {
    /// The tag stored with an artifact (column `sha256`, named before
    /// artifacts were authenticated): an HMAC under the hosts' master key.
    /// Without one (no database: never stored), a plain hash.
    fn artifact_tag(&self, version: &str, artifact: &[u8]) -> String {
        match self.runtime.services() {
            Some(s) => s
                .secrets_key
                .artifact_tag(&self.engine_key, version, artifact),
            None => content_hash(artifact),
        }
    }

    /// Whether a stored artifact's tag authenticates it (see
    /// [`Self::artifact_tag`]).
    fn artifact_authentic(&self, version: &str, artifact: &[u8], tag: Option<&str>) -> bool {
        match (self.runtime.services(), tag) {
            (Some(s), Some(tag)) => {
                s.secrets_key
                    .artifact_tag_valid(&self.engine_key, version, artifact, tag)
            }
            _ => false,
        }
    }

    /// Switches `name` to `hash`, a version already stored (a rollback): the
    /// same atomic switch as a deploy — new requests get `hash`, requests
    /// under way finish on the version they started with. The function keeps
    /// its allowlist. Recorded in the deploy history like a deploy.
    pub async fn activate(&self, name: &str, hash: &str) -> anyhow::Result<FunctionInfo> {
        let version = self.load_version(hash).await?;
        let _switch = self.switch.lock().await;
        let (hosts, reuse): (String, i64) = self
            .db
            .query("SELECT allowed_hosts, reuse FROM pbs_functions WHERE name = $1")
            .bind(name)
            .fetch_optional_as()
            .await?
            .with_context(|| format!("no function named `{name}` is deployed"))?;
        let settings = Settings {
            allowed_hosts: split_list(&hosts),
            reuse: reuse.clamp(0, u32::MAX as i64) as u32,
        };
        let hosts = settings.allowed_hosts.clone();
        let outbound = self
            .runtime
            .outbound_policy(&hosts)
            .unwrap_or_else(|_| OutboundPolicy::new(hosts.clone().into()));
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        let mut conn = tx.conn();
        conn.query(
            "UPDATE pbs_functions SET version = $1, triggers = $2, updated_ms = $3 WHERE name = $4",
        )
        .bind(&version.hash)
        .bind(join_triggers(&version.triggers))
        .bind(now)
        .bind(name)
        .execute()
        .await?;
        conn.query("INSERT INTO pbs_deployments (name, version, created_ms) VALUES ($1, $2, $3)")
            .bind(name)
            .bind(&version.hash)
            .bind(now)
            .execute()
            .await?;
        tx.commit().await?;
        let size: i64 = self
            .db
            .query("SELECT size FROM pbs_versions WHERE hash = $1")
            .bind(hash)
            .scalar()
            .await?;
        let deployed = Arc::new(Deployed::new(
            &self.runtime,
            name,
            version.clone(),
            settings.clone(),
            outbound,
        ));
        if let Ok(mut live) = self.live.write() {
            live.insert(name.to_string(), deployed);
        }
        tracing::info!(function = name, version = %version.hash, "rolled back");
        Ok(FunctionInfo {
            name: name.to_string(),
            version: version.hash.clone(),
            triggers: version
                .triggers
                .iter()
                .map(|t| t.name().to_string())
                .collect(),
            exports: version.exports.clone(),
            allowed_hosts: hosts,
            reuse: settings.reuse,
            size,
            updated_ms: now,
        })
    }
}

impl Registry {
    /// What `name` serves as stored (its current version and settings);
    /// none when it is not deployed.
    pub(super) async fn stored_deployed(
        &self,
        name: &str,
    ) -> anyhow::Result<Option<Arc<Deployed>>> {
        let row: Option<(String, String, i64)> = self
            .db
            .query("SELECT version, allowed_hosts, reuse FROM pbs_functions WHERE name = $1")
            .bind(name)
            .fetch_optional_as()
            .await?;
        let Some((hash, hosts, reuse)) = row else {
            return Ok(None);
        };
        let settings = Settings {
            allowed_hosts: split_list(&hosts),
            reuse: reuse.clamp(0, u32::MAX as i64) as u32,
        };
        let outbound = self
            .runtime
            .outbound_policy(&settings.allowed_hosts)
            .unwrap_or_else(|_| OutboundPolicy::new(settings.allowed_hosts.clone().into()));
        let version = self.load_version(&hash).await?;
        Ok(Some(Arc::new(Deployed::new(
            &self.runtime,
            name,
            version,
            settings,
            outbound,
        ))))
    }

    /// The version function `name` serves now, as stored (another host may
    /// have deployed it since this one last refreshed).
    pub async fn current_version(&self, name: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .db
            .query("SELECT version FROM pbs_functions WHERE name = $1")
            .bind(name)
            .optional_scalar()
            .await?)
    }

    /// The exports a stored version declares (for a JS function: its
    /// bundle's export names); none when it is not stored.
    pub async fn version_exports(&self, hash: &str) -> anyhow::Result<Option<Vec<String>>> {
        let text: Option<String> = self
            .db
            .query("SELECT exports FROM pbs_versions WHERE hash = $1")
            .bind(hash)
            .optional_scalar()
            .await?;
        Ok(text.map(|t| serde_json::from_str(&t).unwrap_or_default()))
    }
}

fn join_triggers(t: &[Trigger]) -> String {
    t.iter().map(|t| t.name()).collect::<Vec<_>>().join(",")
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}
