//! Secrets under attack (issue 17): each case states its bound and prints
//! its figure. The sealing binds the environment and the name into
//! AES-GCM's associated data ([`super::crypto`]) and each row records the
//! key id, so these are the refusals a reader of the database sees.

use super::crypto::{KeySource, MasterKey, Undecryptable, KEY_LEN};
use super::{store, SecretError};
use crate::store::Db;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

fn key(byte: u8) -> MasterKey {
    MasterKey::from_bytes(&[byte; KEY_LEN], KeySource::Env)
}

/// The nonce of a sealed value (`FORMAT_V1 ‖ nonce (12) ‖ …`).
fn nonce(sealed: &[u8]) -> [u8; 12] {
    sealed[1..13].try_into().unwrap()
}

async fn sqlite(dir: &tempfile::TempDir) -> Db {
    Db::open(&dir.path().join("data.db").to_string_lossy())
        .await
        .unwrap()
}

/// Bound: 0 nonce reuses over 100,000 seals under one key (same
/// environment, name and value, the worst case for GCM).
#[test]
fn no_nonce_is_reused_over_100000_seals() {
    const SEALS: usize = 100_000;
    let k = key(1);
    let mut seen = HashSet::with_capacity(SEALS);
    let mut reuses = 0;
    for _ in 0..SEALS {
        let sealed = k.seal("prod", "API_KEY", b"sk-same-value").unwrap();
        if !seen.insert(nonce(&sealed)) {
            reuses += 1;
        }
    }
    println!("{SEALS} seals, {reuses} nonce reuses");
    assert_eq!(reuses, 0);
    assert_eq!(seen.len(), SEALS);
}

/// Bound: 0 of the ciphertexts moved to another name, another
/// environment, or opened with another key decrypt.
#[test]
fn swapped_ciphertexts_never_decrypt() {
    let envs = ["prod", "dev", "staging", "prod-2"];
    let names = ["API_KEY", "API_KEY2", "DB_PASSWORD", "_x", "a.b-c", "A"];
    let keys = [key(1), key(2), key(3)];
    // Every (key, environment, name) seals the same value: only the
    // binding tells them apart.
    let mut sealed = Vec::new();
    for (ki, k) in keys.iter().enumerate() {
        for env in envs {
            for name in names {
                sealed.push((ki, env, name, k.seal(env, name, b"same value").unwrap()));
            }
        }
    }
    let (mut tries, mut opened) = (0, 0);
    for (ki, env, name, value) in &sealed {
        assert_eq!(
            keys[*ki].open(env, name, value).unwrap(),
            b"same value",
            "its own place"
        );
        for (kj, k) in keys.iter().enumerate() {
            for other_env in envs {
                for other_name in names {
                    if (kj, other_env, other_name) == (*ki, *env, *name) {
                        continue;
                    }
                    tries += 1;
                    if k.open(other_env, other_name, value) != Err(Undecryptable) {
                        opened += 1;
                    }
                }
            }
        }
    }
    println!(
        "{} ciphertexts x {} other (key, environment, name) places: {tries} tries, {opened} decrypted",
        sealed.len(),
        keys.len() * envs.len() * names.len() - 1
    );
    assert_eq!(opened, 0);
    assert_eq!(tries, 72 * 71);
}

/// The same through the database: rows whose `sealed` bytes were swapped
/// (between names, between environments) or whose key id was rewritten to
/// this host's are refused with "cannot decrypt", never answered.
#[tokio::test]
async fn swapped_rows_in_the_database_never_decrypt() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite(&dir).await;
    let k = key(1);
    for (env, name, value) in [
        ("prod", "A", "value-of-prod-A"),
        ("prod", "B", "value-of-prod-B"),
        ("dev", "A", "value-of-dev-A"),
    ] {
        store::set(&db, &k, env, name, value, None).await.unwrap();
    }
    let read = |env: &'static str, name: &'static str| {
        let (db, k) = (&db, &k);
        async move { store::get(db, k, env, name).await }
    };
    let sealed_of = |env: &'static str, name: &'static str| {
        let db = &db;
        async move {
            let row: (Vec<u8>,) = db
                .query("SELECT sealed FROM pbs_secrets WHERE environment = $1 AND name = $2")
                .bind(env)
                .bind(name)
                .fetch_optional_as()
                .await
                .unwrap()
                .unwrap();
            row.0
        }
    };
    let write = |env: &'static str, name: &'static str, sealed: Vec<u8>, key_id: String| {
        let db = &db;
        async move {
            db.query(
                "UPDATE pbs_secrets SET sealed = $1, key_id = $2 WHERE environment = $3 AND name = $4",
            )
            .bind(&sealed)
            .bind(&key_id)
            .bind(env)
            .bind(name)
            .execute()
            .await
            .unwrap();
        }
    };
    let (prod_a, prod_b, dev_a) = (
        sealed_of("prod", "A").await,
        sealed_of("prod", "B").await,
        sealed_of("dev", "A").await,
    );
    // Between names, both ways, and between environments.
    write("prod", "A", prod_b.clone(), k.id().into()).await;
    write("prod", "B", prod_a.clone(), k.id().into()).await;
    write("dev", "A", prod_a.clone(), k.id().into()).await;
    // Sealed with another key, its key id forged to this host's.
    let foreign = key(2).seal("prod", "C", b"value-of-prod-C").unwrap();
    store::set(&db, &k, "prod", "C", "placeholder", None)
        .await
        .unwrap();
    write("prod", "C", foreign, k.id().into()).await;
    let mut refused = 0;
    for (env, name) in [("prod", "A"), ("prod", "B"), ("dev", "A"), ("prod", "C")] {
        match read(env, name).await {
            Err(SecretError::Undecryptable { .. }) => refused += 1,
            Err(e) => panic!("{env}/{name}: {e}"),
            Ok(s) => panic!(
                "{env}/{name} answered {:?} from a swapped row",
                s.map(|s| s.value)
            ),
        }
    }
    println!("4 swapped or re-keyed rows read back: {refused} refused, 0 answered");
    assert_eq!(refused, 4);
    // Put back, they answer again: nothing else was damaged.
    write("prod", "A", prod_a, k.id().into()).await;
    write("dev", "A", dev_a, k.id().into()).await;
    assert_eq!(
        read("prod", "A").await.unwrap().unwrap().value,
        "value-of-prod-A"
    );
    assert_eq!(
        read("dev", "A").await.unwrap().unwrap().value,
        "value-of-dev-A"
    );
    db.close().await;
}

/// Bound: every single-bit flip of a sealed value (all its bits; values of
/// 0, 1, 9 and 40 bytes), every truncation and a byte appended never
/// decrypt.
#[test]
fn every_single_bit_flip_is_refused() {
    let k = key(1);
    let (mut flips, mut opened) = (0usize, 0usize);
    for value in [&b""[..], b"x", b"sk-canary", &[0x5a; 40]] {
        let sealed = k.seal("prod", "TOKEN", value).unwrap();
        assert_eq!(k.open("prod", "TOKEN", &sealed).unwrap(), value);
        for bit in 0..sealed.len() * 8 {
            let mut bad = sealed.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            flips += 1;
            if k.open("prod", "TOKEN", &bad) != Err(Undecryptable) {
                opened += 1;
            }
        }
        for len in 0..sealed.len() {
            flips += 1;
            if k.open("prod", "TOKEN", &sealed[..len]) != Err(Undecryptable) {
                opened += 1;
            }
        }
        let mut longer = sealed.clone();
        longer.push(0);
        flips += 1;
        if k.open("prod", "TOKEN", &longer) != Err(Undecryptable) {
            opened += 1;
        }
    }
    println!(
        "{flips} bit flips, truncations and extensions of 4 sealed values: {opened} decrypted"
    );
    assert_eq!(opened, 0);
    // (29 + 30 + 38 + 69 bytes) × 8 bits + as many truncations + 4.
    assert_eq!(flips, 166 * 8 + 166 + 4);
}

/// Bound: a key rotation under concurrent reads loses nothing — every read
/// during it answers the right value under the old key (before the
/// commit) or the new one (after), and afterwards all 200 values decrypt
/// with the new key and none is left under the old one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_under_reads_loses_nothing() {
    const SECRETS: usize = 200;
    const READERS: usize = 4;
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite(&dir).await;
    let old = Arc::new(key(1));
    let new = Arc::new(key(2));
    let value = |env: &str, i: usize| format!("{env}-value-{i:03}-{}", "v".repeat(i % 50));
    for env in ["prod", "dev"] {
        for i in 0..SECRETS / 2 {
            store::set(&db, &old, env, &format!("S{i:03}"), &value(env, i), None)
                .await
                .unwrap();
        }
    }
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let under_new = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for r in 0..READERS {
        let (db, old, new) = (db.clone(), old.clone(), new.clone());
        let (done, reads, under_new) = (done.clone(), reads.clone(), under_new.clone());
        readers.push(tokio::spawn(async move {
            let mut i = r;
            let mut rounds_after = 0;
            // Go on past the rotation for one more round of every name.
            while rounds_after < SECRETS {
                if done.load(Ordering::Relaxed) {
                    rounds_after += 1;
                }
                let env = if i % 2 == 0 { "prod" } else { "dev" };
                let n = (i / 2) % (SECRETS / 2);
                let name = format!("S{n:03}");
                // A host holds one key: the old one until it restarts with
                // the new one; a row is read whole, key id and all.
                let got = match store::get(&db, &old, env, &name).await {
                    Ok(s) => s,
                    Err(SecretError::Undecryptable { .. }) => {
                        under_new.fetch_add(1, Ordering::Relaxed);
                        store::get(&db, &new, env, &name)
                            .await
                            .unwrap_or_else(|e| panic!("{env}/{name} under neither key: {e}"))
                    }
                    Err(e) => panic!("{env}/{name}: {e}"),
                };
                let got = got.unwrap_or_else(|| panic!("{env}/{name} lost"));
                assert_eq!(got.value, value(env, n), "{env}/{name}");
                reads.fetch_add(1, Ordering::Relaxed);
                i += READERS;
                tokio::task::yield_now().await;
            }
        }));
    }
    // Let the readers get going under the old key first.
    while reads.load(Ordering::Relaxed) < 200 {
        tokio::task::yield_now().await;
    }
    let rotated = store::rotate(&db, &old, &new).await.unwrap();
    done.store(true, Ordering::Relaxed);
    for r in readers {
        r.await.unwrap();
    }
    let mut after = 0;
    for env in ["prod", "dev"] {
        for i in 0..SECRETS / 2 {
            let name = format!("S{i:03}");
            let got = store::get(&db, &new, env, &name).await.unwrap().unwrap();
            assert_eq!(got.value, value(env, i));
            assert!(matches!(
                store::get(&db, &old, env, &name).await,
                Err(SecretError::Undecryptable { .. })
            ));
            after += 1;
        }
    }
    let left = store::foreign_keys(&db, &new).await.unwrap();
    println!(
        "rotated {rotated} secrets under {} concurrent reads ({} answered under the new key), {after} of {SECRETS} read back under the new key, {} lost",
        reads.load(Ordering::Relaxed),
        under_new.load(Ordering::Relaxed),
        SECRETS - after
    );
    assert_eq!(rotated, SECRETS);
    assert_eq!(after, SECRETS);
    assert!(left.is_empty(), "{left:?}");
    assert!(under_new.load(Ordering::Relaxed) > 0);
    db.close().await;
}
