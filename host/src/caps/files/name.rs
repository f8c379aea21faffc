//! What a file may be called, checked before anything touches storage, and
//! the storage key of a file: `<collection>/<record-id>/<filename>`.
//!
//! - **Collection and record id**: 1 to [`MAX_ID_LEN`] bytes of
//!   `A-Z a-z 0-9 _ -` (PocketBase's collection names and record ids fit).
//! - **File name**: 1 to [`MAX_FILENAME_LEN`] bytes of UTF-8; not `.` or
//!   `..`; no `/` or `\` (so no path, absolute or relative), no NUL, no
//!   control character.
//!
//! In the key the file name is percent-encoded where object stores advise
//! against an ASCII character ([`ENCODED`]: `#`, `%`, `?`, `<`, …, the set
//! `object_store` encodes), so a name is stored alike on every backend and
//! the local store's temporary files (`<name>#<n>`) never collide with a
//! real name. Other characters, non-ASCII ones included, are kept as they
//! are. The stored name must fit a file system's name limit (255 bytes)
//! with the local store's temporary suffix: at most [`MAX_STORED_LEN`]
//! bytes, where an encoded character counts three.

use object_store::path::{Path, PathPart};

/// ASCII characters a stored file name carries percent-encoded: those
/// `object_store` encodes (AWS and Google advise against them in keys).
pub const ENCODED: &[u8] = b"#%?<>[]{}|^~`\"*";

/// Longest collection name or record id, in bytes.
pub const MAX_ID_LEN: usize = 100;
/// Longest file name, in bytes, as given.
pub const MAX_FILENAME_LEN: usize = 255;
/// Longest file name as stored (encoded), in bytes: a file system's 255
/// less room for the `#<n>` of the local store's temporary files.
pub const MAX_STORED_LEN: usize = 250;

/// A name the guest (or an HTTP client) may not use; the message says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadName(pub String);

/// At most 64 characters of `text`, for messages.
fn shown(text: &str) -> String {
    let mut s: String = text.chars().take(64).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    format!("{s:?}")
}

/// A collection name or record id (`what` names it in the message).
pub fn check_id(what: &str, id: &str) -> Result<(), BadName> {
    if id.is_empty() {
        return Err(BadName(format!("the {what} is empty")));
    }
    if id.len() > MAX_ID_LEN {
        return Err(BadName(format!(
            "the {what} is {} bytes long; at most {MAX_ID_LEN} are allowed",
            id.len()
        )));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(BadName(format!(
            "the {what} {} contains {c:?}; only letters A-Z a-z, digits, `_` and `-` are allowed",
            shown(id)
        )));
    }
    Ok(())
}

/// A file name.
pub fn check_filename(name: &str) -> Result<(), BadName> {
    if name.is_empty() {
        return Err(BadName("the file name is empty".into()));
    }
    if name.len() > MAX_FILENAME_LEN {
        return Err(BadName(format!(
            "the file name is {} bytes long; at most {MAX_FILENAME_LEN} are allowed",
            name.len()
        )));
    }
    if name == "." || name == ".." {
        return Err(BadName(format!(
            "{name:?} is not a file name (no path may leave the record's folder)"
        )));
    }
    if name.contains('/') || name.contains('\\') {
        return Err(BadName(format!(
            "the file name {} contains a path separator (`/` or `\\`); a file name is one name, not a path",
            shown(name)
        )));
    }
    if name.contains('\0') {
        return Err(BadName(format!(
            "the file name {} contains a NUL character",
            shown(name)
        )));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(BadName(format!(
            "the file name {} contains the control character U+{:04X}",
            shown(name),
            c as u32
        )));
    }
    let stored = stored_len(name);
    if stored > MAX_STORED_LEN {
        return Err(BadName(format!(
            "the file name is {stored} bytes long once encoded for storage; at most {MAX_STORED_LEN} are allowed (each of `#%?<>[]{{}}|^~\"*` and the backtick counts three)"
        )));
    }
    Ok(())
}

fn stored_len(name: &str) -> usize {
    name.len() + 2 * name.bytes().filter(|b| ENCODED.contains(b)).count()
}

/// A checked file name as stored: [`ENCODED`] characters as `%XX`.
fn encode(name: &str) -> String {
    let mut out = String::with_capacity(stored_len(name));
    for c in name.chars() {
        match u8::try_from(c) {
            Ok(b) if ENCODED.contains(&b) => out.push_str(&format!("%{b:02X}")),
            _ => out.push(c),
        }
    }
    out
}

/// The key of every file of a collection: `<collection>`.
pub fn collection_prefix(collection: &str) -> Result<Path, BadName> {
    check_id("collection", collection)?;
    Ok(Path::from_iter([collection]))
}

/// The key of every file of a record: `<collection>/<record-id>`.
pub fn record_prefix(collection: &str, record_id: &str) -> Result<Path, BadName> {
    check_id("collection", collection)?;
    check_id("record id", record_id)?;
    Ok(Path::from_iter([collection, record_id]))
}

/// The key of a file: `<collection>/<record-id>/<filename>` (the file name
/// encoded, see the module's docs).
pub fn key(collection: &str, record_id: &str, filename: &str) -> Result<Path, BadName> {
    let prefix = record_prefix(collection, record_id)?;
    check_filename(filename)?;
    let stored = encode(filename);
    // Checked: not `.` or `..`, no `/`, no control character.
    let part = PathPart::parse(&stored).map_err(|e| BadName(e.to_string()))?;
    Ok(prefix.join(part))
}

/// The file name of a key directly under `prefix` (a record's), decoded;
/// none for anything else found there (deeper keys, names that do not
/// decode: not written by this host).
pub fn filename_in(prefix: &Path, key: &Path) -> Option<String> {
    let mut rest = key.prefix_match(prefix)?;
    let part = rest.next()?;
    if rest.next().is_some() {
        return None;
    }
    let name = percent_encoding::percent_decode_str(part.as_ref())
        .decode_utf8()
        .ok()?
        .into_owned();
    check_filename(&name).ok().map(|_| name)
}
