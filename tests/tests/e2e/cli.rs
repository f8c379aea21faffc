//! The `pbs` command line as a user runs it, as a real process.

use pbs_tests::{guests, Backend, TestHost, CORE_MODULE};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// The `pbs` command line built for the tests.
pub(crate) fn pbs_bin() -> &'static str {
    env!("CARGO_BIN_EXE_pbs-cli")
}

/// Starts `pbs serve COMPONENT` as a process (stderr to `stderr`) and
/// returns it with its base URL, read from the first line it prints.
pub(crate) async fn spawn_serve(component: &str, stderr: Stdio) -> (std::process::Child, String) {
    let mut child = Command::new(pbs_bin())
        .args(["serve", component, "--addr", "127.0.0.1:0"])
        .env("PBS_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let first = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    let base = first
        .trim()
        .strip_prefix("Serving HTTP on ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .trim_end_matches('/')
        .to_string();
    (child, base)
}

#[test]
fn check_accepts_and_refuses_with_reasons() {
    let out = Command::new(pbs_bin())
        .args(["check", guests::HELLO])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("ok, version") && stdout.contains("triggers: http"),
        "{stdout}"
    );

    let out = Command::new(pbs_bin())
        .args(["check", guests::BAD_IMPORT])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("test:evil/api") && stderr.contains("pb:serverless/http-function"),
        "{stderr}"
    );

    let dir = tempfile::tempdir().unwrap();
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, CORE_MODULE).unwrap();
    let out = Command::new(pbs_bin())
        .arg("check")
        .arg(&core)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("core WebAssembly module"));

    let out = Command::new(pbs_bin())
        .args(["check", guests::HELLO, "--triggers", "cron"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pb:serverless/cron-handler"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_uploads_to_a_running_host() {
    let host = TestHost::start(Backend::Sqlite).await;
    let run = |token: &str| {
        let mut cmd = Command::new(pbs_bin());
        cmd.args([
            "deploy",
            guests::HELLO,
            "--name",
            "cli-hello",
            "--server",
            &host.base,
        ])
        .args(["--token", token])
        .env_remove("PB_ADMIN_TOKEN");
        cmd
    };
    let out = tokio::task::spawn_blocking({
        let mut cmd = run("wrong-token");
        move || cmd.output().unwrap()
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));

    let out = tokio::task::spawn_blocking({
        let mut cmd = run(&host.token);
        move || cmd.output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("deployed cli-hello version"));
    let resp = host.get("cli-hello").await;
    assert_eq!(resp.text().await.unwrap(), "Hello, world!\n");
}

/// `pbs serve` (host mode) generates an admin token at first start, prints
/// it once, stores it mode 0600, and `pbs deploy` finds it in the data folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_generates_a_token_that_deploy_finds() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("pb_data");
    let mut child = Command::new(pbs_bin())
        .args(["serve", "--addr", "127.0.0.1:0", "--dir"])
        .arg(&data)
        .env_remove("PB_ADMIN_TOKEN")
        .env_remove("PB_DB")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let lines: Vec<String> = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .take_while(|l| !l.contains("admin API"))
            .collect()
    })
    .await
    .unwrap();
    let text = lines.join("\n");
    let token = std::fs::read_to_string(data.join("admin_token")).unwrap();
    assert!(text.contains(token.trim()), "token not printed: {text}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(data.join("admin_token"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let base = text
        .lines()
        .find_map(|l| l.strip_prefix("pb-serverless listening on "))
        .unwrap()
        .trim()
        .to_string();

    let out = Command::new(pbs_bin())
        .args([
            "deploy",
            guests::HELLO,
            "--name",
            "hi",
            "--server",
            &base,
            "--dir",
        ])
        .arg(&data)
        .env_remove("PB_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resp = pbs_tests::client()
        .get(format!("{base}/api/pb_serverless/hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.text().await.unwrap(), "Hello, world!\n");
    child.kill().unwrap();
    let _ = child.wait();
}

/// `pbs serve COMPONENT` as a process, like `wasmtime serve`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_a_single_component_process() {
    let (mut child, base) = spawn_serve(guests::HELLO, Stdio::null()).await;
    let resp = pbs_tests::client()
        .get(format!("{base}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.text().await.unwrap(), "Hello, world!\n");
    child.kill().unwrap();
    let _ = child.wait();
}

/// A guest's stdout and stderr become log lines tagged with the function,
/// and a guest printing a megabyte is cut at the per-invocation budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_output_is_logged_within_a_budget() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let (mut child, base) = spawn_serve(
        guests::PB_IMPORTS,
        std::fs::File::create(&log).unwrap().into(),
    )
    .await;
    let resp = pbs_tests::client()
        .get(format!("{base}/?flood"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    child.kill().unwrap();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    let stdout_line = text
        .lines()
        .find(|l| l.contains("hello from stdout"))
        .unwrap_or_else(|| panic!("no stdout line in: {}", &text[..text.len().min(2000)]));
    assert!(
        stdout_line.contains("pb.guest.stdout") && stdout_line.contains("pb_imports"),
        "{stdout_line}"
    );
    assert!(text
        .lines()
        .any(|l| l.contains("pb.guest.stderr") && l.contains("hello from stderr")));
    assert!(text.contains("the rest of this invocation's output is dropped"));
    assert!(text.len() < 256 * 1024, "the log got {} bytes", text.len());
}

/// SIGTERM stops `pbs serve` gracefully: no new connections, but a request
/// under way finishes before the process exits (with success).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_requests_under_way_finish() {
    use futures::StreamExt;
    let (mut child, base) = spawn_serve(guests::ECHO, Stdio::null()).await;

    let (tx, body) = pbs_tests::streaming_body(2);
    tx.send(Ok(bytes::Bytes::from_static(b"before ")))
        .await
        .unwrap();
    let resp = pbs_tests::client()
        .post(format!("{base}/"))
        .body(body)
        .send()
        .await
        .unwrap();
    let mut stream = resp.bytes_stream();
    assert_eq!(&stream.next().await.unwrap().unwrap()[..], b"before ");

    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let refused = pbs_tests::client().get(format!("{base}/")).send().await;
    assert!(
        refused.is_err(),
        "a new connection was accepted after SIGTERM"
    );

    tx.send(Ok(bytes::Bytes::from_static(b"after")))
        .await
        .unwrap();
    drop(tx);
    let mut rest = Vec::new();
    while let Some(part) = stream.next().await {
        rest.extend_from_slice(&part.unwrap());
    }
    assert_eq!(rest, b"after");
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
}

/// Why `pbs deploy` once failed right after `pbs serve` started, with
/// "connection closed before message completed": the host closes a
/// connection idle for 30 s (its header-read timeout also times the wait
/// for the next request), and the CLI reused a pooled connection at that
/// moment (a project deploy idles while it builds its functions). Now every
/// answer says when the host closes an idle connection, and the CLI keeps
/// none: each request is a new connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_never_reuses_a_connection_the_host_may_close() {
    let host = TestHost::start(Backend::Sqlite).await;
    let resp = host
        .client
        .get(host.url("/api/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["keep-alive"], "timeout=30");

    // A loopback server that counts the connections it is asked on.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                loop {
                    let Ok(n) = stream.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if stream.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    // A pause between requests lets a pooling client put its connection
    // back first (it does so a moment after the body is read; without the
    // pause a loaded machine sometimes saw it open a second one).
    let get3 = |client: reqwest::Client, url: String| async move {
        for _ in 0..3 {
            let text = client.get(&url).send().await.unwrap().text().await.unwrap();
            assert_eq!(text, "ok");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    // A pooling client sends the three on one connection …
    get3(reqwest::Client::new(), url.clone()).await;
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    // … the CLI's opens one per request.
    get3(pbs::cli::http_client(), url).await;
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 4);
}
