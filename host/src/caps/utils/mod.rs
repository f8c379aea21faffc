//! `pb:utils` — UUIDs (v7) and digests, computed in the host.

use crate::caps::bindings::utils::helpers::{self as wit, Host};
use crate::engine::Invocation;
use sha2::Digest;
use wasmtime::component::{HasData, Linker};

pub struct UtilsView;

struct HasUtilsView;
impl HasData for HasUtilsView {
    type Data<'a> = UtilsView;
}

pub fn add_to_linker(linker: &mut Linker<Invocation>) -> wasmtime::Result<()> {
    wit::add_to_linker::<_, HasUtilsView>(linker, |_| UtilsView)
}

/// The digest of `data` as lowercase hex.
pub fn hash(data: &[u8], algorithm: &str) -> Result<String, String> {
    Ok(
        match algorithm.to_ascii_lowercase().replace('-', "").as_str() {
            "sha256" => hex::encode(sha2::Sha256::digest(data)),
            "sha384" => hex::encode(sha2::Sha384::digest(data)),
            "sha512" => hex::encode(sha2::Sha512::digest(data)),
            _ => {
                return Err(format!(
                    "unknown hash algorithm {algorithm:?}: use sha256, sha384 or sha512"
                ))
            }
        },
    )
}

impl Host for UtilsView {
    fn uuid(&mut self) -> wasmtime::Result<String> {
        Ok(uuid::Uuid::now_v7().to_string())
    }

    fn hash(
        &mut self,
        data: Vec<u8>,
        algorithm: String,
    ) -> wasmtime::Result<Result<String, String>> {
        Ok(hash(&data, &algorithm))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_digests() {
        assert_eq!(
            super::hash(b"abc", "SHA-256").unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(super::hash(b"abc", "md5").unwrap_err().contains("sha256"));
    }
}
