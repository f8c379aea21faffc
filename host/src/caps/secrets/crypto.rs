//! The master key and the sealing of values: AES-256-GCM (ring), a fresh
//! random 96-bit nonce per value, and the secret's environment and name as
//! associated data, so a ciphertext moved to another row (or environment)
//! fails to decrypt instead of answering for the wrong name.
//!
//! A stored value is `FORMAT_V1 ‖ nonce (12) ‖ ciphertext ‖ tag (16)`; the
//! associated data is `"pb:secrets\0" ‖ FORMAT_V1 ‖ environment ‖ "\0" ‖
//! name` (names and environments cannot hold `\0`, so it is unambiguous).
//! Each row also stores the [`MasterKey::id`] it was sealed with, so "this
//! value was sealed with another key" and "this value is damaged" are told
//! apart in the error.
//!
//! The key also authenticates what the hosts sharing a database must trust
//! but the database cannot vouch for — precompiled code
//! ([`MasterKey::artifact_tag`]): an HMAC-SHA256 under a key derived from
//! the master key (HKDF, its own label), which the database never holds.

use crate::common::write_private;
use anyhow::Context;
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{hkdf, hmac};
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

/// Bytes of a master key.
pub const KEY_LEN: usize = 32;
/// The first byte of every stored value.
pub const FORMAT_V1: u8 = 1;
/// The file a generated master key lives in, inside the data folder.
pub const KEY_FILE: &str = "secrets_key";
/// The environment variable holding the master key (base64 of 32 bytes).
pub const KEY_ENV: &str = "PB_SECRETS_KEY";

const TAG_LEN: usize = 16;
/// The HKDF label of the artifact key.
const ARTIFACT_LABEL: &[u8] = b"pbs precompiled artifact v1";
const ARTIFACT_TAG_PREFIX: &str = "hmac-sha256:";

fn artifact_message(engine: &str, version: &str, artifact: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(artifact.len() + engine.len() + version.len() + 24);
    for part in [engine.as_bytes(), version.as_bytes(), artifact] {
        m.extend_from_slice(&(part.len() as u64).to_le_bytes());
        m.extend_from_slice(part);
    }
    m
}

/// Where the master key came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// `PB_SECRETS_KEY` (or the host configuration).
    Env,
    /// The key file in the data folder.
    File(PathBuf),
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Env => write!(f, "{KEY_ENV}"),
            KeySource::File(p) => write!(f, "the key file {}", p.display()),
        }
    }
}

/// The AES-256-GCM master key. Its `Debug` shows the key id only.
pub struct MasterKey {
    key: LessSafeKey,
    /// HMAC key for precompiled artifacts, derived from the master key.
    artifacts: hmac::Key,
    id: String,
    pub source: KeySource,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey(id {}, from {})", self.id, self.source)
    }
}

/// A value that does not decrypt: tampered with, moved to another
/// name/environment, or sealed with another key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Undecryptable;

impl MasterKey {
    pub fn from_bytes(bytes: &[u8; KEY_LEN], source: KeySource) -> MasterKey {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).expect("a 32-byte AES-256 key");
        let artifacts = hkdf::Salt::new(hkdf::HKDF_SHA256, b"pb-serverless")
            .extract(bytes)
            .expand(&[ARTIFACT_LABEL], hmac::HMAC_SHA256)
            .expect("an HMAC-SHA256 key length HKDF can give")
            .into();
        MasterKey {
            key: LessSafeKey::new(unbound),
            artifacts,
            id: key_id(bytes),
            source,
        }
    }

    /// Reads base64 (standard alphabet, padded; surrounding whitespace
    /// ignored) of exactly 32 bytes. The error never contains the text.
    pub fn from_base64(text: &str, source: KeySource) -> anyhow::Result<MasterKey> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| {
                anyhow::anyhow!(
                    "{source} is not valid base64; make a key with `pbs secrets new-key` (or `openssl rand -base64 32`)"
                )
            })?;
        let bytes: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
            anyhow::anyhow!(
                "{source} holds {} bytes, a key is {KEY_LEN}; make one with `pbs secrets new-key` (or `openssl rand -base64 32`)",
                bytes.len()
            )
        })?;
        Ok(MasterKey::from_bytes(&bytes, source))
    }

    /// A new random key, and its base64 text.
    pub fn generate(source: KeySource) -> anyhow::Result<(MasterKey, String)> {
        let mut bytes = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| anyhow::anyhow!("the system's random source failed"))?;
        let text = base64::engine::general_purpose::STANDARD.encode(bytes);
        Ok((MasterKey::from_bytes(&bytes, source), text))
    }

    /// A short fingerprint of the key (16 hex digits of a SHA-256 over a
    /// domain tag and the key): tells keys apart, reveals nothing of them.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The tag that authenticates precompiled code: HMAC-SHA256 over the
    /// engine's configuration, the version it was compiled from and the
    /// artifact's bytes (each length-prefixed), as `hmac-sha256:<hex>`.
    pub fn artifact_tag(&self, engine: &str, version: &str, artifact: &[u8]) -> String {
        let tag = hmac::sign(
            &self.artifacts,
            &artifact_message(engine, version, artifact),
        );
        format!("{ARTIFACT_TAG_PREFIX}{}", hex::encode(tag.as_ref()))
    }

    /// Whether `tag` is [`MasterKey::artifact_tag`] of these (compared in
    /// constant time).
    pub fn artifact_tag_valid(
        &self,
        engine: &str,
        version: &str,
        artifact: &[u8],
        tag: &str,
    ) -> bool {
        let Some(tag) = tag
            .strip_prefix(ARTIFACT_TAG_PREFIX)
            .and_then(|h| hex::decode(h).ok())
        else {
            return false;
        };
        hmac::verify(
            &self.artifacts,
            &artifact_message(engine, version, artifact),
            &tag,
        )
        .is_ok()
    }

    /// Seals `value` for (`environment`, `name`).
    pub fn seal(&self, environment: &str, name: &str, value: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| anyhow::anyhow!("the system's random source failed"))?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + value.len() + TAG_LEN);
        sealed.push(FORMAT_V1);
        sealed.extend_from_slice(&nonce);
        let mut body = value.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(associated_data(environment, name)),
                &mut body,
            )
            .map_err(|_| anyhow::anyhow!("AES-GCM sealing failed"))?;
        sealed.extend_from_slice(&body);
        Ok(sealed)
    }

    /// Opens a value sealed by [`MasterKey::seal`] for the same
    /// (`environment`, `name`) with this key; anything else is
    /// [`Undecryptable`], never garbage.
    pub fn open(
        &self,
        environment: &str,
        name: &str,
        sealed: &[u8],
    ) -> Result<Vec<u8>, Undecryptable> {
        if sealed.len() < 1 + NONCE_LEN + TAG_LEN || sealed[0] != FORMAT_V1 {
            return Err(Undecryptable);
        }
        let nonce: [u8; NONCE_LEN] = sealed[1..1 + NONCE_LEN]
            .try_into()
            .map_err(|_| Undecryptable)?;
        let mut body = sealed[1 + NONCE_LEN..].to_vec();
        let plain_len = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(associated_data(environment, name)),
                &mut body,
            )
            .map_err(|_| Undecryptable)?
            .len();
        body.truncate(plain_len);
        Ok(body)
    }
}

fn associated_data(environment: &str, name: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(12 + environment.len() + name.len());
    aad.extend_from_slice(b"pb:secrets\0");
    aad.push(FORMAT_V1);
    aad.extend_from_slice(environment.as_bytes());
    aad.push(0);
    aad.extend_from_slice(name.as_bytes());
    aad
}

fn key_id(bytes: &[u8; KEY_LEN]) -> String {
    let mut h = Sha256::new();
    h.update(b"pb:secrets key id\0");
    h.update(bytes);
    hex::encode(&h.finalize()[..8])
}

/// The host's master key: `given` (the configuration), else
/// `PB_SECRETS_KEY`, else `<dir>/secrets_key` — generated (mode 0600) when
/// it does not exist yet.
pub fn load_or_create(dir: &Path, given: Option<&str>) -> anyhow::Result<MasterKey> {
    let env = std::env::var(KEY_ENV).ok();
    if let Some(text) = given.or(env.as_deref()).filter(|t| !t.trim().is_empty()) {
        return MasterKey::from_base64(text, KeySource::Env);
    }
    let path = dir.join(KEY_FILE);
    let source = KeySource::File(path.clone());
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => {
            warn_if_readable_by_others(&path);
            return MasterKey::from_base64(&text, source);
        }
        // An empty file from an interrupted first start is replaced.
        Ok(_) => std::fs::remove_file(&path)
            .with_context(|| format!("replace the empty {}", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
    }
    let (key, text) = MasterKey::generate(source)?;
    write_private(&path, &text)?;
    tracing::info!(
        target: "pb.secrets",
        key_id = key.id(),
        "generated the secrets master key into {} (mode 0600); keep a copy, or set {KEY_ENV} — without it the secrets cannot be read",
        path.display()
    );
    Ok(key)
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(
                    target: "pb.secrets",
                    "{} is readable by other users; `chmod 600` it",
                    path.display()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> MasterKey {
        MasterKey::from_bytes(&[byte; KEY_LEN], KeySource::Env)
    }

    #[test]
    fn artifact_tags_bind_key_engine_version_and_bytes() {
        let k = key(7);
        let tag = k.artifact_tag("engine-1", "v1", b"code");
        assert!(tag.starts_with("hmac-sha256:"));
        assert!(k.artifact_tag_valid("engine-1", "v1", b"code", &tag));
        assert!(!k.artifact_tag_valid("engine-1", "v1", b"codf", &tag));
        assert!(!k.artifact_tag_valid("engine-1", "v2", b"code", &tag));
        assert!(!k.artifact_tag_valid("engine-2", "v1", b"code", &tag));
        assert!(!key(8).artifact_tag_valid("engine-1", "v1", b"code", &tag));
        // A plain SHA-256 of the bytes (what a writer of the database can
        // compute) is no tag.
        let sha = hex::encode(Sha256::digest(b"code"));
        assert!(!k.artifact_tag_valid("engine-1", "v1", b"code", &sha));
        assert!(!k.artifact_tag_valid("engine-1", "v1", b"code", &format!("hmac-sha256:{sha}")));
        // Parts are length-prefixed: moving bytes across them changes the tag.
        assert_ne!(
            k.artifact_tag("e", "v1", b"x"),
            k.artifact_tag("ev", "1", b"x")
        );
    }

    #[test]
    fn round_trip_with_a_fresh_nonce_each_time() {
        let k = key(7);
        let a = k.seal("prod", "API_KEY", b"sk-123").unwrap();
        let b = k.seal("prod", "API_KEY", b"sk-123").unwrap();
        assert_ne!(a, b, "same nonce twice");
        assert_eq!(k.open("prod", "API_KEY", &a).unwrap(), b"sk-123");
        assert_eq!(k.open("prod", "API_KEY", &b).unwrap(), b"sk-123");
    }

    #[test]
    fn wrong_name_environment_key_or_bytes_do_not_decrypt() {
        let k = key(7);
        let sealed = k.seal("prod", "A", b"value").unwrap();
        assert_eq!(k.open("prod", "B", &sealed), Err(Undecryptable));
        assert_eq!(k.open("dev", "A", &sealed), Err(Undecryptable));
        assert_eq!(key(8).open("prod", "A", &sealed), Err(Undecryptable));
        // The boundary between environment and name is part of the data.
        let s2 = k.seal("ab", "c", b"v").unwrap();
        assert_eq!(k.open("a", "bc", &s2), Err(Undecryptable));
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert_eq!(k.open("prod", "A", &bad), Err(Undecryptable), "byte {i}");
        }
        assert_eq!(k.open("prod", "A", &sealed[..10]), Err(Undecryptable));
        assert_eq!(k.open("prod", "A", &[]), Err(Undecryptable));
    }

    #[test]
    fn base64_keys_are_checked_and_never_echoed() {
        let err = MasterKey::from_base64("c2hvcnQ=", KeySource::Env).unwrap_err();
        assert!(err.to_string().contains("5 bytes"), "{err}");
        let err = MasterKey::from_base64("not base64 at all!", KeySource::Env).unwrap_err();
        assert!(!err.to_string().contains("not base64 at all"), "{err}");
        let (k, text) = MasterKey::generate(KeySource::Env).unwrap();
        let again = MasterKey::from_base64(&format!(" {text}\n"), KeySource::Env).unwrap();
        assert_eq!(k.id(), again.id());
        assert_eq!(k.id().len(), 16);
        assert!(!format!("{k:?}").contains(&text));
    }

    #[test]
    fn the_key_file_is_generated_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        // PB_SECRETS_KEY is not set in the unit tests.
        if std::env::var(KEY_ENV).is_ok() {
            return;
        }
        let a = load_or_create(dir.path(), None).unwrap();
        let b = load_or_create(dir.path(), None).unwrap();
        assert_eq!(a.id(), b.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (_, text) = MasterKey::generate(KeySource::Env).unwrap();
        let given = load_or_create(dir.path(), Some(&text)).unwrap();
        assert_ne!(given.id(), a.id());
        assert_eq!(given.source, KeySource::Env);
    }
}
