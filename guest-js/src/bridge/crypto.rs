//! The primitives under `crypto.subtle` (`../js/45-crypto.js`), from
//! RustCrypto's pure-Rust crates. The JS side does what the WebCrypto
//! specification asks of the API (algorithm normalisation, usages, key
//! objects, JWK members, the DOMException names); this file only computes.
//!
//! Keys cross as DER: a private key as PKCS #8, a public key as SPKI, a
//! secret key as its raw bytes. Every import returns the canonical DER of
//! the key it parsed, so a later operation parses a document this file wrote.
//! Nothing is kept between calls, so there is nothing to free and nothing
//! that could leak from one invocation to the next.
//!
//! Errors are thrown as plain `Error`s with a message; the JS side gives
//! them the DOMException name the specification asks for at that step.
//! Randomness comes from `wasi:random` on every call (never from state kept
//! in the snapshot).

use aes::cipher::{BlockEncrypt, KeyInit};
use aes_gcm::aead::AeadInPlace;
use javy::quickjs::{Ctx, Exception, Function, Object, Result, TypedArray, Value};
use pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::BigUint;
use sha2::Digest;
use spki::{DecodePublicKey, EncodePublicKey};

use crate::wasi::random::random;

type Bytes<'js> = TypedArray<'js, u8>;

pub fn register<'js>(ctx: &Ctx<'js>, pbs: &Object<'js>) -> Result<()> {
    let crypto = Object::new(ctx.clone())?;
    crypto.set("digest", Function::new(ctx.clone(), digest)?)?;
    crypto.set("hmac", Function::new(ctx.clone(), hmac_sign)?)?;
    crypto.set("hmacVerify", Function::new(ctx.clone(), hmac_verify)?)?;
    crypto.set("aesEncrypt", Function::new(ctx.clone(), aes_encrypt)?)?;
    crypto.set("aesDecrypt", Function::new(ctx.clone(), aes_decrypt)?)?;
    crypto.set("pbkdf2", Function::new(ctx.clone(), pbkdf2_bits)?)?;
    crypto.set("hkdf", Function::new(ctx.clone(), hkdf_bits)?)?;
    crypto.set("generate", Function::new(ctx.clone(), generate)?)?;
    crypto.set("import", Function::new(ctx.clone(), import)?)?;
    crypto.set("exportRaw", Function::new(ctx.clone(), export_raw)?)?;
    crypto.set("jwkImport", Function::new(ctx.clone(), jwk_import)?)?;
    crypto.set("jwkExport", Function::new(ctx.clone(), jwk_export)?)?;
    crypto.set("sign", Function::new(ctx.clone(), sign)?)?;
    crypto.set("verify", Function::new(ctx.clone(), verify)?)?;
    crypto.set("rsaOaep", Function::new(ctx.clone(), rsa_oaep)?)?;
    crypto.set("derive", Function::new(ctx.clone(), derive)?)?;
    pbs.set("crypto", crypto)?;
    Ok(())
}

fn fail(ctx: &Ctx<'_>, message: impl AsRef<str>) -> javy::quickjs::Error {
    Exception::throw_message(ctx, message.as_ref())
}

fn bytes<'a>(array: &'a Bytes<'_>) -> &'a [u8] {
    array.as_bytes().unwrap_or(&[])
}

fn out<'js>(ctx: &Ctx<'js>, data: impl Into<Vec<u8>>) -> Result<Bytes<'js>> {
    TypedArray::new(ctx.clone(), data.into())
}

/// A `rand_core` generator over `wasi:random`: each call asks the host, so
/// a snapshot holds no generator state.
struct WasiRng;

impl rand_core::RngCore for WasiRng {
    fn next_u32(&mut self) -> u32 {
        random::get_random_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        random::get_random_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        let mut filled = 0;
        while filled < dest.len() {
            let want = (dest.len() - filled).min(1 << 16);
            let chunk = random::get_random_bytes(want as u64);
            let n = chunk.len().min(want);
            dest[filled..filled + n].copy_from_slice(&chunk[..n]);
            filled += n;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> std::result::Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for WasiRng {}

/// Key generation at build time would freeze one key into every instance.
fn no_build_time(ctx: &Ctx<'_>) -> Result<()> {
    super::forbid_at_build_time(ctx, "crypto.subtle.generateKey")
}

// ---------------------------------------------------------------------------
// Digests and MACs

/// Runs `$body` with `$D` bound to the digest type named by `$name`.
macro_rules! with_hash {
    ($ctx:expr, $name:expr, $D:ident => $body:expr) => {
        with_hash!($name, $D => $body, else return Err(fail($ctx, format!("unsupported hash {:?}", $name))))
    };
    ($name:expr, $D:ident => $body:expr, else $other:expr) => {
        match $name {
            "SHA-1" => {
                type $D = sha1::Sha1;
                $body
            }
            "SHA-256" => {
                type $D = sha2::Sha256;
                $body
            }
            "SHA-384" => {
                type $D = sha2::Sha384;
                $body
            }
            "SHA-512" => {
                type $D = sha2::Sha512;
                $body
            }
            _ => $other,
        }
    };
}

fn hash_of(ctx: &Ctx<'_>, name: &str, data: &[u8]) -> Result<Vec<u8>> {
    Ok(with_hash!(ctx, name, D => D::digest(data).to_vec()))
}

/// `hash_of` for code that reports errors as text.
fn hashed(name: &str, data: &[u8]) -> std::result::Result<Vec<u8>, String> {
    Ok(
        with_hash!(name, D => D::digest(data).to_vec(), else return Err(format!("unsupported hash {name:?}"))),
    )
}

fn digest<'js>(ctx: Ctx<'js>, alg: String, data: Bytes<'js>) -> Result<Bytes<'js>> {
    let hash = hash_of(&ctx, &alg, bytes(&data))?;
    out(&ctx, hash)
}

fn hmac_sign<'js>(
    ctx: Ctx<'js>,
    hash: String,
    key: Bytes<'js>,
    data: Bytes<'js>,
) -> Result<Bytes<'js>> {
    use hmac::Mac;
    let tag = with_hash!(&ctx, hash.as_str(), D => {
        let mut mac = <hmac::Hmac<D> as hmac::Mac>::new_from_slice(bytes(&key)).map_err(|e| fail(&ctx, e.to_string()))?;
        mac.update(bytes(&data));
        mac.finalize().into_bytes().to_vec()
    });
    out(&ctx, tag)
}

/// Constant time in the tag; a tag of another length is simply not equal.
fn hmac_verify<'js>(
    ctx: Ctx<'js>,
    hash: String,
    key: Bytes<'js>,
    data: Bytes<'js>,
    signature: Bytes<'js>,
) -> Result<bool> {
    use hmac::Mac;
    Ok(with_hash!(&ctx, hash.as_str(), D => {
        let mut mac = <hmac::Hmac<D> as hmac::Mac>::new_from_slice(bytes(&key)).map_err(|e| fail(&ctx, e.to_string()))?;
        mac.update(bytes(&data));
        mac.verify_slice(bytes(&signature)).is_ok()
    }))
}

// ---------------------------------------------------------------------------
// AES

/// One AES operation. `iv` is the IV (GCM, CBC) or the counter block (CTR);
/// `extra` the additional data (GCM); `n` the tag length in bits (GCM) or
/// the counter length in bits (CTR).
fn aes_encrypt<'js>(
    ctx: Ctx<'js>,
    mode: String,
    key: Bytes<'js>,
    iv: Bytes<'js>,
    extra: Bytes<'js>,
    n: u32,
    data: Bytes<'js>,
) -> Result<Bytes<'js>> {
    aes_op(ctx, &mode, true, key, iv, extra, n, data)
}

fn aes_decrypt<'js>(
    ctx: Ctx<'js>,
    mode: String,
    key: Bytes<'js>,
    iv: Bytes<'js>,
    extra: Bytes<'js>,
    n: u32,
    data: Bytes<'js>,
) -> Result<Bytes<'js>> {
    aes_op(ctx, &mode, false, key, iv, extra, n, data)
}

#[allow(clippy::too_many_arguments)]
fn aes_op<'js>(
    ctx: Ctx<'js>,
    mode: &str,
    encrypt: bool,
    key: Bytes<'js>,
    iv: Bytes<'js>,
    extra: Bytes<'js>,
    n: u32,
    data: Bytes<'js>,
) -> Result<Bytes<'js>> {
    let (key, iv, extra, data) = (bytes(&key), bytes(&iv), bytes(&extra), bytes(&data));
    let result = match key.len() {
        16 => aes_with::<aes::Aes128>(mode, encrypt, key, iv, extra, n, data),
        24 => aes_with::<aes::Aes192>(mode, encrypt, key, iv, extra, n, data),
        32 => aes_with::<aes::Aes256>(mode, encrypt, key, iv, extra, n, data),
        other => Err(format!(
            "an AES key has 128, 192 or 256 bits, not {}",
            other * 8
        )),
    };
    match result {
        Ok(v) => out(&ctx, v),
        Err(message) => Err(fail(&ctx, message)),
    }
}

type AesResult = std::result::Result<Vec<u8>, String>;

fn aes_with<C>(
    mode: &str,
    encrypt: bool,
    key: &[u8],
    iv: &[u8],
    extra: &[u8],
    n: u32,
    data: &[u8],
) -> AesResult
where
    C: aes::cipher::BlockCipher
        + aes::cipher::BlockSizeUser<BlockSize = aes::cipher::consts::U16>
        + BlockEncrypt
        + aes::cipher::BlockDecrypt
        + KeyInit
        + Clone,
{
    let cipher = C::new_from_slice(key).map_err(|e| e.to_string())?;
    match mode {
        "AES-GCM" => aes_gcm_op(cipher, encrypt, iv, extra, n, data),
        "AES-CBC" => aes_cbc_op(cipher, encrypt, iv, data),
        "AES-CTR" => aes_ctr_op(&cipher, iv, n, data),
        "AES-KW" => aes_kw_op(key, encrypt, data),
        other => Err(format!("unknown AES mode {other:?}")),
    }
}

/// GCM with a 96-bit IV (what the crate supports). Tags shorter than 128
/// bits are prefixes of the full tag (NIST SP 800-38D), so decryption
/// recovers the plaintext, recomputes the full tag and compares the prefix.
fn aes_gcm_op<C>(
    cipher: C,
    encrypt: bool,
    iv: &[u8],
    aad: &[u8],
    tag_bits: u32,
    data: &[u8],
) -> AesResult
where
    C: aes::cipher::BlockCipher
        + aes::cipher::BlockSizeUser<BlockSize = aes::cipher::consts::U16>
        + BlockEncrypt
        + KeyInit,
{
    use aes_gcm::aead::generic_array::GenericArray;
    if iv.len() != 12 {
        return Err("AES-GCM here takes a 96-bit IV only".into());
    }
    let tag_len = (tag_bits / 8) as usize;
    let gcm = aes_gcm::AesGcm::<C, aes::cipher::consts::U12>::from(cipher);
    let nonce = GenericArray::from_slice(iv);
    if encrypt {
        let mut buf = data.to_vec();
        let tag = gcm
            .encrypt_in_place_detached(nonce, aad, &mut buf)
            .map_err(|_| "AES-GCM encryption failed")?;
        buf.extend_from_slice(&tag[..tag_len]);
        return Ok(buf);
    }
    if data.len() < tag_len {
        return Err("the data is shorter than the tag".into());
    }
    let (ciphertext, tag) = data.split_at(data.len() - tag_len);
    if tag_len == 16 {
        let mut buf = ciphertext.to_vec();
        gcm.decrypt_in_place_detached(nonce, aad, &mut buf, GenericArray::from_slice(tag))
            .map_err(|_| "the data or the tag is not authentic")?;
        return Ok(buf);
    }
    // CTR is its own inverse: "encrypting" the ciphertext yields the
    // plaintext (the tag of that pass is meaningless and dropped).
    let mut plain = ciphertext.to_vec();
    gcm.encrypt_in_place_detached(nonce, aad, &mut plain)
        .map_err(|_| "AES-GCM decryption failed")?;
    let mut again = plain.clone();
    let full = gcm
        .encrypt_in_place_detached(nonce, aad, &mut again)
        .map_err(|_| "AES-GCM decryption failed")?;
    let mut diff = 0u8;
    for (a, b) in full[..tag_len].iter().zip(tag) {
        diff |= a ^ b;
    }
    if diff != 0 {
        return Err("the data or the tag is not authentic".into());
    }
    Ok(plain)
}

fn aes_cbc_op<C>(cipher: C, encrypt: bool, iv: &[u8], data: &[u8]) -> AesResult
where
    C: aes::cipher::BlockCipher
        + aes::cipher::BlockSizeUser<BlockSize = aes::cipher::consts::U16>
        + BlockEncrypt
        + aes::cipher::BlockDecrypt
        + Clone,
{
    use aes::cipher::block_padding::Pkcs7;
    use aes::cipher::{BlockDecryptMut, BlockEncryptMut, InnerIvInit};
    if iv.len() != 16 {
        return Err("the AES-CBC IV has 16 bytes".into());
    }
    if encrypt {
        let enc =
            cbc::Encryptor::<C>::inner_iv_slice_init(cipher, iv).map_err(|e| e.to_string())?;
        Ok(enc.encrypt_padded_vec_mut::<Pkcs7>(data))
    } else {
        let dec =
            cbc::Decryptor::<C>::inner_iv_slice_init(cipher, iv).map_err(|e| e.to_string())?;
        dec.decrypt_padded_vec_mut::<Pkcs7>(data)
            .map_err(|_| "the data is not a whole number of blocks or its padding is wrong".into())
    }
}

/// CTR where the rightmost `length` bits of the counter block count (and
/// wrap), as WebCrypto defines it; the rest is a fixed nonce.
fn aes_ctr_op<C>(cipher: &C, counter: &[u8], length: u32, data: &[u8]) -> AesResult
where
    C: BlockEncrypt + aes::cipher::BlockSizeUser<BlockSize = aes::cipher::consts::U16>,
{
    if counter.len() != 16 {
        return Err("the AES-CTR counter has 16 bytes".into());
    }
    if length == 0 || length > 128 {
        return Err("the AES-CTR length is 1 to 128 bits".into());
    }
    let blocks = data.len().div_ceil(16) as u128;
    if length < 128 && blocks > (1u128 << length) {
        return Err("the data is longer than the counter can count without repeating".into());
    }
    let start = u128::from_be_bytes(counter.try_into().expect("16 bytes"));
    let mask = if length == 128 {
        u128::MAX
    } else {
        (1u128 << length) - 1
    };
    let mut result = Vec::with_capacity(data.len());
    for (i, chunk) in data.chunks(16).enumerate() {
        let count = (start & mask).wrapping_add(i as u128) & mask;
        let block_value = (start & !mask) | count;
        let mut block = aes::Block::from(block_value.to_be_bytes());
        cipher.encrypt_block(&mut block);
        result.extend(chunk.iter().zip(block.iter()).map(|(a, b)| a ^ b));
    }
    Ok(result)
}

fn aes_kw_op(key: &[u8], wrap: bool, data: &[u8]) -> AesResult {
    let kek = aes_kw::KekAes256::try_from(key).ok();
    let result = match (key.len(), wrap) {
        (16, true) => aes_kw::KekAes128::try_from(key)
            .map_err(|e| e.to_string())?
            .wrap_vec(data),
        (16, false) => aes_kw::KekAes128::try_from(key)
            .map_err(|e| e.to_string())?
            .unwrap_vec(data),
        (24, true) => aes_kw::KekAes192::try_from(key)
            .map_err(|e| e.to_string())?
            .wrap_vec(data),
        (24, false) => aes_kw::KekAes192::try_from(key)
            .map_err(|e| e.to_string())?
            .unwrap_vec(data),
        (_, true) => kek.ok_or("bad AES-KW key")?.wrap_vec(data),
        (_, false) => kek.ok_or("bad AES-KW key")?.unwrap_vec(data),
    };
    result.map_err(|e| format!("AES-KW: {e}"))
}

// ---------------------------------------------------------------------------
// Key derivation

fn pbkdf2_bits<'js>(
    ctx: Ctx<'js>,
    hash: String,
    password: Bytes<'js>,
    salt: Bytes<'js>,
    iterations: u32,
    bits: u32,
) -> Result<Bytes<'js>> {
    let mut result = vec![0u8; (bits / 8) as usize];
    with_hash!(&ctx, hash.as_str(), D => pbkdf2::pbkdf2_hmac::<D>(bytes(&password), bytes(&salt), iterations, &mut result));
    out(&ctx, result)
}

fn hkdf_bits<'js>(
    ctx: Ctx<'js>,
    hash: String,
    ikm: Bytes<'js>,
    salt: Bytes<'js>,
    info: Bytes<'js>,
    bits: u32,
) -> Result<Bytes<'js>> {
    let mut result = vec![0u8; (bits / 8) as usize];
    with_hash!(&ctx, hash.as_str(), D => {
        hkdf::Hkdf::<D>::new(Some(bytes(&salt)), bytes(&ikm))
            .expand(bytes(&info), &mut result)
            .map_err(|_| fail(&ctx, "the HKDF length is too large for this hash"))?
    });
    out(&ctx, result)
}

// ---------------------------------------------------------------------------
// Asymmetric keys. `kind` is "P-256", "P-384", "Ed25519", "X25519" or "RSA".

const OID_ED25519: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.3.101.112");
const OID_X25519: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.3.101.110");

/// PKCS #8 / SPKI for the 32-byte keys of RFC 8410 (Ed25519, X25519).
mod okp {
    use pkcs8::der::asn1::OctetStringRef;
    use pkcs8::der::{Decode, Encode};
    use pkcs8::{AlgorithmIdentifierRef, ObjectIdentifier, PrivateKeyInfo};
    use spki::SubjectPublicKeyInfoRef;

    pub fn private_der(oid: ObjectIdentifier, seed: &[u8; 32]) -> Vec<u8> {
        let inner = OctetStringRef::new(seed)
            .and_then(|o| o.to_der())
            .expect("32 bytes encode");
        let info = PrivateKeyInfo::new(
            AlgorithmIdentifierRef {
                oid,
                parameters: None,
            },
            &inner,
        );
        info.to_der().expect("a private key info encodes")
    }

    pub fn public_der(oid: ObjectIdentifier, public: &[u8; 32]) -> Vec<u8> {
        let info = SubjectPublicKeyInfoRef {
            algorithm: AlgorithmIdentifierRef {
                oid,
                parameters: None,
            },
            subject_public_key: spki::der::asn1::BitStringRef::from_bytes(public)
                .expect("32 bytes"),
        };
        info.to_der().expect("a public key info encodes")
    }

    pub fn parse_private(oid: ObjectIdentifier, der: &[u8]) -> Result<[u8; 32], String> {
        let info = PrivateKeyInfo::from_der(der).map_err(|e| format!("not a PKCS #8 key: {e}"))?;
        if info.algorithm.oid != oid || info.algorithm.parameters.is_some() {
            return Err("the PKCS #8 key is for another algorithm".into());
        }
        let inner = OctetStringRef::from_der(info.private_key)
            .map_err(|e| format!("bad private key: {e}"))?;
        inner
            .as_bytes()
            .try_into()
            .map_err(|_| "the private key does not have 32 bytes".into())
    }

    pub fn parse_public(oid: ObjectIdentifier, der: &[u8]) -> Result<[u8; 32], String> {
        let info =
            SubjectPublicKeyInfoRef::from_der(der).map_err(|e| format!("not an SPKI key: {e}"))?;
        if info.algorithm.oid != oid || info.algorithm.parameters.is_some() {
            return Err("the SPKI key is for another algorithm".into());
        }
        let key = info
            .subject_public_key
            .as_bytes()
            .ok_or("bad public key bits")?;
        key.try_into()
            .map_err(|_| "the public key does not have 32 bytes".into())
    }
}

fn x25519_public(seed: &[u8; 32]) -> [u8; 32] {
    x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(*seed)).to_bytes()
}

fn ed25519_public(seed: &[u8; 32]) -> [u8; 32] {
    ed25519_dalek::SigningKey::from_bytes(seed)
        .verifying_key()
        .to_bytes()
}

/// Runs `$body` with `$C` bound to the curve type named by `$kind`.
macro_rules! with_curve {
    ($kind:expr, $C:ident => $body:expr, else $other:expr) => {
        match $kind {
            "P-256" => {
                type $C = p256::NistP256;
                $body
            }
            "P-384" => {
                type $C = p384::NistP384;
                $body
            }
            _ => $other,
        }
    };
}

type KeyResult = std::result::Result<Vec<u8>, String>;

/// `[pkcs8, spki]` of a new key pair.
fn generate<'js>(
    ctx: Ctx<'js>,
    kind: String,
    modulus_bits: u32,
    exponent: Bytes<'js>,
) -> Result<Vec<Bytes<'js>>> {
    no_build_time(&ctx)?;
    let pair: std::result::Result<(Vec<u8>, Vec<u8>), String> = match kind.as_str() {
        "Ed25519" | "X25519" => {
            let mut seed = [0u8; 32];
            rand_core::RngCore::fill_bytes(&mut WasiRng, &mut seed);
            let (oid, public) = if kind == "Ed25519" {
                (OID_ED25519, ed25519_public(&seed))
            } else {
                (OID_X25519, x25519_public(&seed))
            };
            Ok((okp::private_der(oid, &seed), okp::public_der(oid, &public)))
        }
        "RSA" => {
            let e = BigUint::from_bytes_be(bytes(&exponent));
            rsa::RsaPrivateKey::new_with_exp(&mut WasiRng, modulus_bits as usize, &e)
                .map_err(|e| e.to_string())
                .and_then(|key| {
                    let private = key
                        .to_pkcs8_der()
                        .map_err(|e| e.to_string())?
                        .as_bytes()
                        .to_vec();
                    let public = key
                        .to_public_key()
                        .to_public_key_der()
                        .map_err(|e| e.to_string())?
                        .into_vec();
                    Ok((private, public))
                })
        }
        other => with_curve!(other, C => {
            let secret = elliptic_curve::SecretKey::<C>::random(&mut WasiRng);
            ec_pair(&secret)
        }, else Err(format!("unsupported key type {other:?}"))),
    };
    let (private, public) = pair.map_err(|e| fail(&ctx, e))?;
    Ok(vec![out(&ctx, private)?, out(&ctx, public)?])
}

fn ec_pair<C>(
    secret: &elliptic_curve::SecretKey<C>,
) -> std::result::Result<(Vec<u8>, Vec<u8>), String>
where
    C: elliptic_curve::CurveArithmetic
        + pkcs8::AssociatedOid
        + elliptic_curve::point::PointCompression,
    elliptic_curve::AffinePoint<C>:
        elliptic_curve::sec1::FromEncodedPoint<C> + elliptic_curve::sec1::ToEncodedPoint<C>,
    elliptic_curve::FieldBytesSize<C>: elliptic_curve::sec1::ModulusSize,
{
    let private = secret
        .to_pkcs8_der()
        .map_err(|e| e.to_string())?
        .as_bytes()
        .to_vec();
    let public = secret
        .public_key()
        .to_public_key_der()
        .map_err(|e| e.to_string())?
        .into_vec();
    Ok((private, public))
}

/// Parses a key in `format` ("raw", "spki", "pkcs8") and returns its
/// canonical DER, plus for RSA the modulus length in bits and the public
/// exponent: `[der, bits?, exponent?]`.
fn import<'js>(
    ctx: Ctx<'js>,
    kind: String,
    format: String,
    data: Bytes<'js>,
) -> Result<Vec<Value<'js>>> {
    let data = bytes(&data);
    let result: std::result::Result<Vec<Value<'js>>, String> = (|| {
        let der = match (kind.as_str(), format.as_str()) {
            ("Ed25519" | "X25519", "raw") => {
                let key: [u8; 32] = data
                    .try_into()
                    .map_err(|_| "the raw key does not have 32 bytes")?;
                let oid = if kind == "Ed25519" {
                    OID_ED25519
                } else {
                    OID_X25519
                };
                okp::public_der(oid, &key)
            }
            ("Ed25519" | "X25519", "spki") => {
                let oid = if kind == "Ed25519" {
                    OID_ED25519
                } else {
                    OID_X25519
                };
                okp::public_der(oid, &okp::parse_public(oid, data)?)
            }
            ("Ed25519" | "X25519", "pkcs8") => {
                let oid = if kind == "Ed25519" {
                    OID_ED25519
                } else {
                    OID_X25519
                };
                okp::private_der(oid, &okp::parse_private(oid, data)?)
            }
            ("RSA", "spki") => {
                let key =
                    rsa::RsaPublicKey::from_public_key_der(data).map_err(|e| e.to_string())?;
                return rsa_described(
                    &ctx,
                    key.to_public_key_der()
                        .map_err(|e| e.to_string())?
                        .into_vec(),
                    &key,
                );
            }
            ("RSA", "pkcs8") => {
                let key = rsa::RsaPrivateKey::from_pkcs8_der(data).map_err(|e| e.to_string())?;
                key.validate().map_err(|e| e.to_string())?;
                let der = key
                    .to_pkcs8_der()
                    .map_err(|e| e.to_string())?
                    .as_bytes()
                    .to_vec();
                return rsa_described(&ctx, der, &key);
            }
            (curve, format) => {
                with_curve!(curve, C => ec_import::<C>(format, data)?, else return Err(format!("cannot import a {curve} key as {format}")))
            }
        };
        Ok(vec![out(&ctx, der)
            .map_err(|e| e.to_string())?
            .into_value()])
    })();
    result.map_err(|e| fail(&ctx, e))
}

fn rsa_described<'js>(
    ctx: &Ctx<'js>,
    der: Vec<u8>,
    key: &impl PublicKeyParts,
) -> std::result::Result<Vec<Value<'js>>, String> {
    let der = out(ctx, der).map_err(|e| e.to_string())?.into_value();
    let bits = Value::new_number(ctx.clone(), key.n().bits() as f64);
    let exponent = out(ctx, key.e().to_bytes_be())
        .map_err(|e| e.to_string())?
        .into_value();
    Ok(vec![der, bits, exponent])
}

fn ec_import<C>(format: &str, data: &[u8]) -> KeyResult
where
    C: elliptic_curve::CurveArithmetic
        + pkcs8::AssociatedOid
        + elliptic_curve::point::PointCompression,
    elliptic_curve::AffinePoint<C>:
        elliptic_curve::sec1::FromEncodedPoint<C> + elliptic_curve::sec1::ToEncodedPoint<C>,
    elliptic_curve::FieldBytesSize<C>: elliptic_curve::sec1::ModulusSize,
{
    match format {
        "raw" => {
            let key = elliptic_curve::PublicKey::<C>::from_sec1_bytes(data)
                .map_err(|_| "not a point on the curve")?;
            Ok(key
                .to_public_key_der()
                .map_err(|e| e.to_string())?
                .into_vec())
        }
        "spki" => {
            let key = elliptic_curve::PublicKey::<C>::from_public_key_der(data)
                .map_err(|e| e.to_string())?;
            Ok(key
                .to_public_key_der()
                .map_err(|e| e.to_string())?
                .into_vec())
        }
        "pkcs8" => {
            let key =
                elliptic_curve::SecretKey::<C>::from_pkcs8_der(data).map_err(|e| e.to_string())?;
            Ok(key
                .to_pkcs8_der()
                .map_err(|e| e.to_string())?
                .as_bytes()
                .to_vec())
        }
        other => Err(format!("cannot import an EC key as {other}")),
    }
}

/// The raw public key: the uncompressed point (EC) or the 32 bytes (OKP).
fn export_raw<'js>(ctx: Ctx<'js>, kind: String, spki: Bytes<'js>) -> Result<Bytes<'js>> {
    let data = bytes(&spki);
    let raw: KeyResult = match kind.as_str() {
        "Ed25519" => okp::parse_public(OID_ED25519, data).map(|k| k.to_vec()),
        "X25519" => okp::parse_public(OID_X25519, data).map(|k| k.to_vec()),
        curve => with_curve!(curve, C => {
            elliptic_curve::PublicKey::<C>::from_public_key_der(data)
                .map(|k| elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&k, false).as_bytes().to_vec())
                .map_err(|e| e.to_string())
        }, else Err(format!("a {curve} key has no raw form"))),
    };
    out(&ctx, raw.map_err(|e| fail(&ctx, e))?)
}

/// A key from JWK members (already base64url-decoded), in order:
/// EC `[x, y, d?]`, OKP `[x, d?]`, RSA `[n, e, d?, p?, q?, dp?, dq?, qi?]`.
/// Returns what `import` returns.
fn jwk_import<'js>(ctx: Ctx<'js>, kind: String, parts: Vec<Bytes<'js>>) -> Result<Vec<Value<'js>>> {
    let parts: Vec<&[u8]> = parts.iter().map(bytes).collect();
    let result: std::result::Result<Vec<Value<'js>>, String> = (|| {
        let der = match kind.as_str() {
            "Ed25519" | "X25519" => {
                let oid = if kind == "Ed25519" {
                    OID_ED25519
                } else {
                    OID_X25519
                };
                let x: [u8; 32] = parts[0]
                    .try_into()
                    .map_err(|_| "\"x\" does not have 32 bytes")?;
                match parts.get(1) {
                    None => okp::public_der(oid, &x),
                    Some(d) => {
                        let d: [u8; 32] = (*d)
                            .try_into()
                            .map_err(|_| "\"d\" does not have 32 bytes")?;
                        let public = if kind == "Ed25519" {
                            ed25519_public(&d)
                        } else {
                            x25519_public(&d)
                        };
                        if public != x {
                            return Err("\"x\" is not the public key of \"d\"".into());
                        }
                        okp::private_der(oid, &d)
                    }
                }
            }
            "RSA" => {
                let n = BigUint::from_bytes_be(parts[0]);
                let e = BigUint::from_bytes_be(parts[1]);
                if parts.len() == 2 {
                    let key = rsa::RsaPublicKey::new(n, e).map_err(|e| e.to_string())?;
                    return rsa_described(
                        &ctx,
                        key.to_public_key_der()
                            .map_err(|e| e.to_string())?
                            .into_vec(),
                        &key,
                    );
                }
                if parts.len() != 8 {
                    return Err("an RSA private JWK needs d, p, q, dp, dq and qi".into());
                }
                let d = BigUint::from_bytes_be(parts[2]);
                let primes = vec![
                    BigUint::from_bytes_be(parts[3]),
                    BigUint::from_bytes_be(parts[4]),
                ];
                let key = rsa::RsaPrivateKey::from_components(n, e, d, primes)
                    .map_err(|e| e.to_string())?;
                key.validate().map_err(|e| e.to_string())?;
                let consistent = key.dp().map(|v| v.to_bytes_be()) == Some(strip(parts[5]))
                    && key.dq().map(|v| v.to_bytes_be()) == Some(strip(parts[6]))
                    && key.crt_coefficient().map(|v| v.to_bytes_be()) == Some(strip(parts[7]));
                if !consistent {
                    return Err("dp, dq or qi does not belong to the key".into());
                }
                let der = key
                    .to_pkcs8_der()
                    .map_err(|e| e.to_string())?
                    .as_bytes()
                    .to_vec();
                return rsa_described(&ctx, der, &key);
            }
            curve => {
                with_curve!(curve, C => ec_from_jwk::<C>(&parts)?, else return Err(format!("unsupported key type {curve:?}")))
            }
        };
        Ok(vec![out(&ctx, der)
            .map_err(|e| e.to_string())?
            .into_value()])
    })();
    result.map_err(|e| fail(&ctx, e))
}

/// Big-endian integers compare without their leading zeros.
fn strip(mut v: &[u8]) -> Vec<u8> {
    while v.len() > 1 && v[0] == 0 {
        v = &v[1..];
    }
    v.to_vec()
}

fn ec_from_jwk<C>(parts: &[&[u8]]) -> KeyResult
where
    C: elliptic_curve::CurveArithmetic
        + pkcs8::AssociatedOid
        + elliptic_curve::point::PointCompression,
    elliptic_curve::AffinePoint<C>:
        elliptic_curve::sec1::FromEncodedPoint<C> + elliptic_curve::sec1::ToEncodedPoint<C>,
    elliptic_curve::FieldBytesSize<C>: elliptic_curve::sec1::ModulusSize,
{
    let size = <elliptic_curve::FieldBytesSize<C> as elliptic_curve::generic_array::typenum::Unsigned>::USIZE;
    if parts.len() < 2 || parts[0].len() != size || parts[1].len() != size {
        return Err(format!("\"x\" and \"y\" have {size} bytes each"));
    }
    let mut point = vec![4u8];
    point.extend_from_slice(parts[0]);
    point.extend_from_slice(parts[1]);
    let public = elliptic_curve::PublicKey::<C>::from_sec1_bytes(&point)
        .map_err(|_| "(x, y) is not a point on the curve")?;
    match parts.get(2) {
        None => Ok(public
            .to_public_key_der()
            .map_err(|e| e.to_string())?
            .into_vec()),
        Some(d) => {
            if d.len() != size {
                return Err(format!("\"d\" has {size} bytes"));
            }
            let secret = elliptic_curve::SecretKey::<C>::from_slice(d)
                .map_err(|_| "\"d\" is not a valid scalar")?;
            if secret.public_key() != public {
                return Err("(x, y) is not the public key of \"d\"".into());
            }
            Ok(secret
                .to_pkcs8_der()
                .map_err(|e| e.to_string())?
                .as_bytes()
                .to_vec())
        }
    }
}

/// The JWK members of a key, in the order `jwk_import` takes them.
fn jwk_export<'js>(
    ctx: Ctx<'js>,
    kind: String,
    der: Bytes<'js>,
    private: bool,
) -> Result<Vec<Bytes<'js>>> {
    let data = bytes(&der);
    let parts: std::result::Result<Vec<Vec<u8>>, String> = (|| match kind.as_str() {
        "Ed25519" | "X25519" => {
            let oid = if kind == "Ed25519" {
                OID_ED25519
            } else {
                OID_X25519
            };
            if private {
                let d = okp::parse_private(oid, data)?;
                let x = if kind == "Ed25519" {
                    ed25519_public(&d)
                } else {
                    x25519_public(&d)
                };
                Ok(vec![x.to_vec(), d.to_vec()])
            } else {
                Ok(vec![okp::parse_public(oid, data)?.to_vec()])
            }
        }
        "RSA" => {
            if private {
                let key = rsa::RsaPrivateKey::from_pkcs8_der(data).map_err(|e| e.to_string())?;
                let primes = key.primes();
                let get = |v: Option<&BigUint>| v.map(|v| v.to_bytes_be()).unwrap_or_default();
                Ok(vec![
                    key.n().to_bytes_be(),
                    key.e().to_bytes_be(),
                    key.d().to_bytes_be(),
                    primes[0].to_bytes_be(),
                    primes[1].to_bytes_be(),
                    get(key.dp()),
                    get(key.dq()),
                    key.crt_coefficient()
                        .map(|v| v.to_bytes_be())
                        .unwrap_or_default(),
                ])
            } else {
                let key =
                    rsa::RsaPublicKey::from_public_key_der(data).map_err(|e| e.to_string())?;
                Ok(vec![key.n().to_bytes_be(), key.e().to_bytes_be()])
            }
        }
        curve => {
            with_curve!(curve, C => ec_to_jwk::<C>(data, private), else Err(format!("unsupported key type {curve:?}")))
        }
    })();
    let parts = parts.map_err(|e| fail(&ctx, e))?;
    parts.into_iter().map(|p| out(&ctx, p)).collect()
}

fn ec_to_jwk<C>(der: &[u8], private: bool) -> std::result::Result<Vec<Vec<u8>>, String>
where
    C: elliptic_curve::CurveArithmetic
        + pkcs8::AssociatedOid
        + elliptic_curve::point::PointCompression,
    elliptic_curve::AffinePoint<C>:
        elliptic_curve::sec1::FromEncodedPoint<C> + elliptic_curve::sec1::ToEncodedPoint<C>,
    elliptic_curve::FieldBytesSize<C>: elliptic_curve::sec1::ModulusSize,
{
    let (public, d) = if private {
        let secret =
            elliptic_curve::SecretKey::<C>::from_pkcs8_der(der).map_err(|e| e.to_string())?;
        (secret.public_key(), Some(secret.to_bytes().to_vec()))
    } else {
        (
            elliptic_curve::PublicKey::<C>::from_public_key_der(der).map_err(|e| e.to_string())?,
            None,
        )
    };
    let point = elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&public, false);
    let mut parts = vec![
        point.x().ok_or("the point at infinity")?.to_vec(),
        point.y().ok_or("the point at infinity")?.to_vec(),
    ];
    parts.extend(d);
    Ok(parts)
}

// ---------------------------------------------------------------------------
// Signatures, encryption and key agreement

/// `kind`: "P-256", "P-384" (ECDSA, `hash` the message digest), "Ed25519",
/// "RSASSA-PKCS1-v1_5" or "RSA-PSS" (`salt` its salt length in bytes).
fn sign<'js>(
    ctx: Ctx<'js>,
    kind: String,
    hash: String,
    der: Bytes<'js>,
    data: Bytes<'js>,
    salt: u32,
) -> Result<Bytes<'js>> {
    let (der, data) = (bytes(&der), bytes(&data));
    let sig: KeyResult = (|| match kind.as_str() {
        "Ed25519" => {
            use ed25519_dalek::Signer;
            let seed = okp::parse_private(OID_ED25519, der)?;
            Ok(ed25519_dalek::SigningKey::from_bytes(&seed)
                .sign(data)
                .to_bytes()
                .to_vec())
        }
        "RSASSA-PKCS1-v1_5" | "RSA-PSS" => {
            let key = rsa::RsaPrivateKey::from_pkcs8_der(der).map_err(|e| e.to_string())?;
            let hashed = hashed(&hash, data)?;
            let result = if kind == "RSA-PSS" {
                with_hash!(hash.as_str(), D => key.sign_with_rng(&mut WasiRng, rsa::Pss::new_with_salt::<D>(salt as usize), &hashed), else unreachable!())
            } else {
                with_hash!(hash.as_str(), D => key.sign_with_rng(&mut WasiRng, rsa::Pkcs1v15Sign::new::<D>(), &hashed), else unreachable!())
            };
            result.map_err(|e| e.to_string())
        }
        curve => {
            let prehash = hashed(&hash, data)?;
            match curve {
                "P-256" => ecdsa_sign::<p256::NistP256>(der, &prehash),
                "P-384" => ecdsa_sign::<p384::NistP384>(der, &prehash),
                other => Err(format!("cannot sign with a {other} key")),
            }
        }
    })();
    out(&ctx, sig.map_err(|e| fail(&ctx, e))?)
}

fn ecdsa_sign<C>(der: &[u8], prehash: &[u8]) -> KeyResult
where
    C: ecdsa::PrimeCurve
        + elliptic_curve::CurveArithmetic
        + ecdsa::hazmat::DigestPrimitive
        + pkcs8::AssociatedOid,
    elliptic_curve::Scalar<C>: ecdsa::hazmat::SignPrimitive<C>
        + elliptic_curve::ops::Invert<
            Output = elliptic_curve::subtle::CtOption<elliptic_curve::Scalar<C>>,
        >,
    ecdsa::SignatureSize<C>: elliptic_curve::generic_array::ArrayLength<u8>,
    elliptic_curve::FieldBytesSize<C>: elliptic_curve::sec1::ModulusSize,
    elliptic_curve::AffinePoint<C>:
        elliptic_curve::sec1::FromEncodedPoint<C> + elliptic_curve::sec1::ToEncodedPoint<C>,
{
    use ecdsa::signature::hazmat::PrehashSigner;
    let secret = elliptic_curve::SecretKey::<C>::from_pkcs8_der(der).map_err(|e| e.to_string())?;
    let key = ecdsa::SigningKey::<C>::from(secret);
    let prehash = field_sized::<C>(prehash);
    let sig: ecdsa::Signature<C> = key.sign_prehash(&prehash).map_err(|e| e.to_string())?;
    Ok(sig.to_bytes().to_vec())
}

/// `false` for a signature that does not verify, including one of the
/// wrong length; an error only for a key that cannot be used.
fn verify<'js>(
    ctx: Ctx<'js>,
    kind: String,
    hash: String,
    der: Bytes<'js>,
    signature: Bytes<'js>,
    data: Bytes<'js>,
    salt: u32,
) -> Result<bool> {
    let (der, sig, data) = (bytes(&der), bytes(&signature), bytes(&data));
    let ok: std::result::Result<bool, String> = (|| match kind.as_str() {
        "Ed25519" => {
            let public = okp::parse_public(OID_ED25519, der)?;
            let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&public) else {
                return Ok(false);
            };
            let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
                return Ok(false);
            };
            Ok(key.verify_strict(data, &sig).is_ok())
        }
        "RSASSA-PKCS1-v1_5" | "RSA-PSS" => {
            let key = rsa::RsaPublicKey::from_public_key_der(der).map_err(|e| e.to_string())?;
            let hashed = hashed(&hash, data)?;
            Ok(if kind == "RSA-PSS" {
                with_hash!(hash.as_str(), D => key.verify(rsa::Pss::new_with_salt::<D>(salt as usize), &hashed, sig).is_ok(), else unreachable!())
            } else {
                with_hash!(hash.as_str(), D => key.verify(rsa::Pkcs1v15Sign::new::<D>(), &hashed, sig).is_ok(), else unreachable!())
            })
        }
        curve => {
            let prehash = hashed(&hash, data)?;
            match curve {
                "P-256" => ecdsa_verify::<p256::NistP256>(der, &prehash, sig),
                "P-384" => ecdsa_verify::<p384::NistP384>(der, &prehash, sig),
                other => Err(format!("cannot verify with a {other} key")),
            }
        }
    })();
    ok.map_err(|e| fail(&ctx, e))
}

fn ecdsa_verify<C>(der: &[u8], prehash: &[u8], sig: &[u8]) -> std::result::Result<bool, String>
where
    C: ecdsa::PrimeCurve
        + elliptic_curve::CurveArithmetic
        + ecdsa::hazmat::DigestPrimitive
        + pkcs8::AssociatedOid,
    elliptic_curve::AffinePoint<C>: ecdsa::hazmat::VerifyPrimitive<C>
        + elliptic_curve::sec1::FromEncodedPoint<C>
        + elliptic_curve::sec1::ToEncodedPoint<C>,
    ecdsa::SignatureSize<C>: elliptic_curve::generic_array::ArrayLength<u8>,
    elliptic_curve::FieldBytesSize<C>: elliptic_curve::sec1::ModulusSize,
{
    use ecdsa::signature::hazmat::PrehashVerifier;
    let public =
        elliptic_curve::PublicKey::<C>::from_public_key_der(der).map_err(|e| e.to_string())?;
    let key = ecdsa::VerifyingKey::<C>::from(public);
    let Ok(sig) = ecdsa::Signature::<C>::from_slice(sig) else {
        return Ok(false);
    };
    Ok(key.verify_prehash(&field_sized::<C>(prehash), &sig).is_ok())
}

/// A digest shorter than the curve's field (SHA-1 on P-384, say) left-padded
/// with zeros: the same integer, in the length the `ecdsa` crate accepts.
fn field_sized<C: elliptic_curve::Curve>(prehash: &[u8]) -> Vec<u8> {
    let size = <elliptic_curve::FieldBytesSize<C> as elliptic_curve::generic_array::typenum::Unsigned>::USIZE;
    if prehash.len() >= size {
        return prehash.to_vec();
    }
    let mut padded = vec![0u8; size - prehash.len()];
    padded.extend_from_slice(prehash);
    padded
}

/// RSA-OAEP; the label must be UTF-8 (a limit of the `rsa` crate).
fn rsa_oaep<'js>(
    ctx: Ctx<'js>,
    encrypt: bool,
    hash: String,
    der: Bytes<'js>,
    label: Bytes<'js>,
    data: Bytes<'js>,
) -> Result<Bytes<'js>> {
    let (der, label, data) = (bytes(&der), bytes(&label), bytes(&data));
    let result: KeyResult = (|| {
        let label =
            std::str::from_utf8(label).map_err(|_| "an RSA-OAEP label must be UTF-8 here")?;
        let padding = with_hash!(hash.as_str(), D => {
            if label.is_empty() { rsa::Oaep::new::<D>() } else { rsa::Oaep::new_with_label::<D, _>(label) }
        }, else return Err(format!("unsupported hash {hash:?}")));
        if encrypt {
            let key = rsa::RsaPublicKey::from_public_key_der(der).map_err(|e| e.to_string())?;
            key.encrypt(&mut WasiRng, padding, data)
                .map_err(|e| e.to_string())
        } else {
            let key = rsa::RsaPrivateKey::from_pkcs8_der(der).map_err(|e| e.to_string())?;
            key.decrypt_blinded(&mut WasiRng, padding, data)
                .map_err(|e| e.to_string())
        }
    })();
    out(&ctx, result.map_err(|e| fail(&ctx, e))?)
}

/// ECDH (the x-coordinate) or X25519 between a private and a public key.
fn derive<'js>(
    ctx: Ctx<'js>,
    kind: String,
    private: Bytes<'js>,
    public: Bytes<'js>,
) -> Result<Bytes<'js>> {
    let (private, public) = (bytes(&private), bytes(&public));
    let secret: KeyResult = match kind.as_str() {
        "X25519" => (|| {
            let seed = okp::parse_private(OID_X25519, private)?;
            let peer = okp::parse_public(OID_X25519, public)?;
            let shared = x25519_dalek::StaticSecret::from(seed)
                .diffie_hellman(&x25519_dalek::PublicKey::from(peer));
            if !shared.was_contributory() {
                return Err("the shared secret is all zero (a small-order public key)".into());
            }
            Ok(shared.as_bytes().to_vec())
        })(),
        "P-256" => ecdh::<p256::NistP256>(private, public),
        "P-384" => ecdh::<p384::NistP384>(private, public),
        other => Err(format!("cannot derive with a {other} key")),
    };
    out(&ctx, secret.map_err(|e| fail(&ctx, e))?)
}

fn ecdh<C>(private: &[u8], public: &[u8]) -> KeyResult
where
    C: elliptic_curve::CurveArithmetic
        + pkcs8::AssociatedOid
        + elliptic_curve::point::PointCompression,
    elliptic_curve::AffinePoint<C>:
        elliptic_curve::sec1::FromEncodedPoint<C> + elliptic_curve::sec1::ToEncodedPoint<C>,
    elliptic_curve::FieldBytesSize<C>: elliptic_curve::sec1::ModulusSize,
{
    let secret =
        elliptic_curve::SecretKey::<C>::from_pkcs8_der(private).map_err(|e| e.to_string())?;
    let peer =
        elliptic_curve::PublicKey::<C>::from_public_key_der(public).map_err(|e| e.to_string())?;
    let shared = elliptic_curve::ecdh::diffie_hellman(secret.to_nonzero_scalar(), peer.as_affine());
    Ok(shared.raw_secret_bytes().to_vec())
}
