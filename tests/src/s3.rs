//! A throwaway S3-compatible server: moto (`pip install 'moto[server]'`,
//! which `scripts/setup.sh` does), started once per test binary on a free
//! loopback port and stopped when the binary exits. Each caller gets a
//! bucket of its own.

use pbs::caps::files::config::{FilesConfig, S3Config};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long moto may take to answer after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(60);

static SERVER: OnceLock<String> = OnceLock::new();
/// The server and its log, removed at exit.
static CHILD: Mutex<Option<(Child, std::path::PathBuf)>> = Mutex::new(None);
static NEXT_BUCKET: AtomicU32 = AtomicU32::new(0);

extern "C" fn stop_server() {
    if let Ok(mut child) = CHILD.lock() {
        if let Some((mut child, log)) = child.take() {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_file(log);
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("find a free port")
}

fn start() -> String {
    let probe = Command::new("python3")
        .args(["-c", "import moto.server, flask, werkzeug"])
        .output()
        .expect("run python3 to find moto");
    assert!(
        probe.status.success(),
        "the S3 test server is missing: run scripts/setup.sh (it does `python3 -m pip install 'moto[server]'`): {}",
        String::from_utf8_lossy(&probe.stderr)
    );
    let port = free_port();
    let log = std::env::temp_dir().join(format!("pbs-moto-{}-{port}.log", std::process::id()));
    let out = std::fs::File::create(&log).expect("create the moto log");
    let child = Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log handle"))
        .stderr(out)
        .spawn()
        .expect("start moto");
    *CHILD.lock().unwrap() = Some((child, log.clone()));
    // SAFETY: registering a plain extern "C" fn with no captured state.
    unsafe {
        libc::atexit(stop_server);
    }
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < START_TIMEOUT,
            "moto did not start within {START_TIMEOUT:?}: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    format!("http://127.0.0.1:{port}")
}

/// The endpoint of the shared server, started on first use.
pub async fn endpoint() -> String {
    tokio::task::spawn_blocking(|| SERVER.get_or_init(start).clone())
        .await
        .expect("start moto")
}

/// A new, empty bucket on the shared server: its name.
pub async fn fresh_bucket() -> String {
    let endpoint = endpoint().await;
    let name = format!(
        "pbs-{}-{}",
        std::process::id(),
        NEXT_BUCKET.fetch_add(1, Ordering::SeqCst)
    );
    let resp = crate::client()
        .put(format!("{endpoint}/{name}"))
        .send()
        .await
        .expect("create a bucket on moto");
    assert!(
        resp.status().is_success(),
        "create bucket {name}: {}",
        resp.status()
    );
    name
}

/// pb:files on a fresh bucket of the shared server, under `prefix`.
pub async fn files_config(prefix: &str) -> FilesConfig {
    let bucket = fresh_bucket().await;
    FilesConfig {
        location: Some(format!("s3://{bucket}/{prefix}")),
        s3: S3Config {
            endpoint: Some(endpoint().await),
            region: Some("us-east-1".into()),
            access_key_id: Some("testing".into()),
            secret_access_key: Some("testing".into()),
            allow_http: true,
        },
        ..FilesConfig::default()
    }
}
