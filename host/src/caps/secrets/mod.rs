//! `pb:secrets` — encrypted secrets, per environment.
//!
//! - **Storage** ([`store`]): table `pbs_secrets` on SQLite or PostgreSQL,
//!   one row per (environment, name), the value sealed with AES-256-GCM
//!   ([`crypto`]: a random nonce per value, the environment and name as
//!   associated data, so swapping two ciphertexts fails to decrypt).
//! - **Master key**: `PB_SECRETS_KEY` (base64 of 32 bytes), else
//!   `<data dir>/secrets_key`, generated with mode 0600 at first start.
//!   Hosts sharing one database must share the key (set `PB_SECRETS_KEY`).
//!   `pbs secrets rotate-key` re-encrypts everything with a new key.
//! - **Environments**: a host serves one (`pbs serve --env`, `PB_ENV`,
//!   default [`crate::config::DEFAULT_ENVIRONMENT`]); its functions read
//!   that environment's secrets and no other.
//! - **Guests**: `get(name)` answers the value or none; a value that does
//!   not decrypt (tampered with, or another key) is the `internal` error
//!   "cannot decrypt secret … wrong key or damaged value" — never garbage —
//!   with the details in the host's log. Values read are cached for the
//!   rest of the invocation (one query per name per invocation) and
//!   redacted from everything the invocation logs
//!   ([`crate::caps::trace::Redactor`]). Nothing is cached across
//!   invocations: a change is seen by the next invocation on every host,
//!   and no decrypted value outlives the invocation that read it.
//! - **Placeholders** ([`placeholder`]): `{{secret:NAME}}` in an outbound
//!   header is filled in by the host for the hosts the secret is bound to,
//!   so the guest never holds the value.
//! - **Operators**: the admin API (`crate::admin::secrets`) and `pbs secrets
//!   set/list/rm/rotate-key`; listings show masked values ([`mask`]) only.
//!   The host never logs a value.

#[cfg(test)]
mod attack_tests;
pub mod crypto;
pub mod placeholder;
pub mod store;

use crate::caps::bindings::secrets::store::{self as wit, Error, Host};
use crate::caps::error::{self as failure, Answer};
use crate::caps::services::Services;
use crate::caps::trace::Redactor;
use crate::engine::Invocation;
use crate::store::Db;
pub use crypto::MasterKey;
pub use placeholder::{has_placeholders, redact_response, substitute, Binding, SecretAccess};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use wasmtime::component::{HasData, Linker};

/// Longest secret name.
pub const MAX_NAME_LEN: usize = 128;
/// Longest environment name.
pub const MAX_ENVIRONMENT_LEN: usize = 64;
/// Largest value, in bytes.
pub const MAX_VALUE_LEN: usize = 64 * 1024;
/// Names one invocation keeps in its cache (more are read from the
/// database at each call).
pub const MAX_CACHED: usize = 256;
/// Shortest value whose mask shows its first 3 and last 4 characters;
/// shorter ones show only `••••`.
pub const MASK_MIN_LEN: usize = 24;

/// Why a secret operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{0}")]
    Invalid(String),
    #[error("cannot decrypt secret `{name}` (environment {environment}): wrong key or damaged value; {detail}")]
    Undecryptable {
        name: String,
        environment: String,
        detail: String,
    },
    #[error("{0:#}")]
    Internal(anyhow::Error),
}

impl SecretError {
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        SecretError::Internal(e.into())
    }
}

/// A secret name: 1–128 of `A-Z a-z 0-9 _ . -`, starting with a letter or
/// `_` (an environment variable's name fits).
pub fn valid_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid secret name {:?}: 1-{MAX_NAME_LEN} of A-Z a-z 0-9 _ . -, starting with a letter or _",
            clip(name)
        ))
    }
}

/// An environment name: 1–64 of `a-z 0-9 _ -`, starting with a letter or digit.
pub fn valid_environment(env: &str) -> Result<(), String> {
    let ok = !env.is_empty()
        && env.len() <= MAX_ENVIRONMENT_LEN
        && env
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && env
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid environment {:?}: 1-{MAX_ENVIRONMENT_LEN} of a-z 0-9 _ -, starting with a letter or digit",
            clip(env)
        ))
    }
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

/// What a listing shows of a value: `sk-…4f2a` (first 3 and last 4
/// characters) for values of [`MASK_MIN_LEN`] characters or more, so at
/// most 7 of 24 show; `••••` for shorter ones.
pub fn mask(value: &str) -> String {
    let n = value.chars().count();
    if n < MASK_MIN_LEN {
        return "••••".into();
    }
    let head: String = value.chars().take(3).collect();
    let tail: String = value.chars().skip(n - 4).collect();
    format!("{head}…{tail}")
}

/// Opens pb:secrets for a host at start-up: the environment (checked) and
/// the master key (see [`crypto::load_or_create`]). Values sealed with
/// another key are reported in the log (they fail to decrypt until the
/// right key is set); the host still starts, so the functions that do not
/// need them go on working and the operator can fix or remove them.
pub async fn open(
    db: &Db,
    dir: &Path,
    environment: &str,
    key: Option<&str>,
) -> anyhow::Result<(Arc<MasterKey>, Arc<str>)> {
    valid_environment(environment).map_err(anyhow::Error::msg)?;
    let key = crypto::load_or_create(dir, key)?;
    let foreign = store::foreign_keys(db, &key).await?;
    if !foreign.is_empty() {
        let counts: Vec<String> = foreign
            .iter()
            .map(|(id, n)| format!("{n} with key id {id}"))
            .collect();
        let interrupted = dir.join(format!("{}.new", crypto::KEY_FILE));
        let hint = if interrupted.exists() {
            format!(
                "; {} is there: an interrupted `pbs secrets rotate-key` — if it holds the key they were sealed with, move it over {}",
                interrupted.display(),
                crypto::KEY_FILE
            )
        } else {
            String::new()
        };
        tracing::error!(
            target: "pb.secrets",
            "secrets sealed with another master key than this host's (key id {}, from {}): {}. They cannot be decrypted until the host runs with that key (hosts sharing one database need the same {}){hint}",
            key.id(),
            key.source,
            counts.join(", "),
            crypto::KEY_ENV,
        );
    }
    tracing::info!(target: "pb.secrets", environment, key_id = key.id(), "secrets ready");
    Ok((Arc::new(key), environment.into()))
}

/// Per-invocation state of `pb:secrets`: the values read so far.
#[derive(Default)]
pub struct SecretsCtx {
    cache: HashMap<String, Option<String>>,
}

/// Per-call view of an invocation for `pb:secrets`.
pub struct SecretsView<'a> {
    services: Option<&'a Arc<Services>>,
    obs: &'a crate::telemetry::Scope,
    ctx: &'a mut SecretsCtx,
    redactor: &'a Redactor,
    function: &'a str,
}

struct HasSecretsView;
impl HasData for HasSecretsView {
    type Data<'a> = SecretsView<'a>;
}

pub fn add_to_linker(linker: &mut Linker<Invocation>) -> wasmtime::Result<()> {
    wit::add_to_linker::<_, HasSecretsView>(linker, |s| SecretsView {
        services: s.services.as_ref(),
        obs: &s.trace.scope,
        ctx: &mut s.secrets,
        redactor: &s.trace.redactor,
        function: &s.trace.function,
    })
}

impl Host for SecretsView<'_> {
    /// A `pb.secrets.get` host call: its span names the secret, never
    /// the value.
    async fn get(&mut self, name: String) -> Answer<Option<String>, Error> {
        let obs = self.obs;
        let mut call = obs.call("pb.secrets.get", crate::telemetry::CallKind::Secrets);
        if let Err(e) = failure::budget(&call)? {
            return Ok(Err(failure::refused(call, e)));
        }
        if call.recording() && valid_name(&name).is_ok() {
            call.attr_str("pb.secret.name", &name);
        }
        let answer = self.get_value(name).await;
        if let Ok(result) = &answer {
            call.end(failure::case(result));
        }
        answer
    }
}

impl SecretsView<'_> {
    async fn get_value(&mut self, name: String) -> Answer<Option<String>, Error> {
        let Some(services) = self.services else {
            return Ok(Err(failure::unavailable("pb:secrets")));
        };
        if let Some(hit) = self.ctx.cache.get(&name) {
            return Ok(Ok(hit.clone()));
        }
        if let Err(why) = valid_name(&name) {
            return Ok(Err(Error::Invalid(why)));
        }
        let env = &*services.environment;
        let read = store::get(&services.db, &services.secrets_key, env, &name).await;
        let value = match read {
            Ok(secret) => secret.map(|s| s.value),
            Err(e @ SecretError::Undecryptable { .. }) => {
                tracing::error!(target: "pb.secrets", function = self.function, "{e}");
                return Ok(Err(Error::Internal(format!(
                    "cannot decrypt secret `{name}`: wrong key or damaged value; see the host log"
                ))));
            }
            Err(e) => {
                let detail = format!("reading secret `{name}`: {e}");
                return Ok(Err(failure::internal(
                    "pb:secrets",
                    "get",
                    self.function,
                    detail,
                )));
            }
        };
        if let Some(v) = &value {
            self.redactor.add(v);
        }
        if self.ctx.cache.len() < MAX_CACHED {
            self.ctx.cache.insert(name, value.clone());
        }
        Ok(Ok(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_environments() {
        for ok in ["OPENAI_API_KEY", "_x", "a.b-c", &"A".repeat(128)] {
            assert!(valid_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1X", "a b", "a}}", "é", &"A".repeat(129)] {
            assert!(valid_name(bad).is_err(), "{bad}");
        }
        for ok in ["prod", "dev", "staging-2", "0"] {
            assert!(valid_environment(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Prod", "-x", "a b", "a\0b"] {
            assert!(valid_environment(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn masks_show_little() {
        assert_eq!(mask(""), "••••");
        assert_eq!(mask("short-password"), "••••");
        assert_eq!(mask("sk-proj-0123456789abcdef4f2a"), "sk-…4f2a");
        assert_eq!(mask(&"é".repeat(30)), "ééé…éééé");
    }
}
