//! Components of different WASI 0.2.x releases deploy and run as they are:
//! the host defines WASI 0.2.12 and wasmtime's Linker matches imports of
//! any 0.2.x to it; the `wasi:http/incoming-handler` export is found
//! whatever its 0.2.x version. Each guest is checked to really be of its
//! release first (its export and its `wasi:http` imports carry the version),
//! so a toolchain that moved on would fail here rather than test nothing.

use pbs_tests::{client, guests, serve_single, test_limits, Backend, TestHost};

/// The top-level import and export names of a component.
fn interface_names(path: &str) -> (Vec<String>, Vec<String>) {
    use wasmparser::{Parser, Payload};
    let bytes = guests::bytes(path);
    let (mut imports, mut exports) = (Vec::new(), Vec::new());
    let mut depth = 0;
    for payload in Parser::new(0).parse_all(&bytes) {
        match payload.expect("a valid component") {
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth -= 1,
            Payload::ComponentImportSection(s) if depth == 0 => {
                for i in s {
                    imports.push(i.expect("import").name.name.to_string());
                }
            }
            Payload::ComponentExportSection(s) if depth == 0 => {
                for e in s {
                    exports.push(e.expect("export").name.name.to_string());
                }
            }
            _ => {}
        }
    }
    (imports, exports)
}

/// The guests of three releases: (function name, component, WASI version).
const GUESTS: [(&str, &str, &str); 3] = [
    ("v0-2-0", guests::WASI_0_2_0, "0.2.0"),
    // Built from `wit/` (the contract's WASI version).
    ("v0-2-10", guests::HELLO, "0.2.10"),
    ("v0-2-12", guests::WASI_0_2_12, "0.2.12"),
];

#[test]
fn each_guest_is_of_its_release() {
    for (_, path, version) in GUESTS {
        let (imports, exports) = interface_names(path);
        assert!(
            exports.contains(&format!("wasi:http/incoming-handler@{version}")),
            "{path} exports {exports:?}"
        );
        assert!(
            imports.contains(&format!("wasi:http/types@{version}")),
            "{path} imports {imports:?}"
        );
    }
    let (imports, _) = interface_names(guests::NET_ERROR_CODE);
    assert!(
        imports.contains(&"wasi:sockets/network@0.2.10".to_string()),
        "{imports:?}"
    );
}

/// What a guest answers for `GET /api/pb_serverless/<name>?q=1`.
fn expected(name: &str, version: &str) -> String {
    if version == "0.2.10" {
        // `hello`, the plain test component.
        return "Hello, world!\n".into();
    }
    format!("wasi {version} /api/pb_serverless/{name}?q=1 clock=ok random=ok agent=pbs-test\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_of_three_wasi_releases_deploy_and_run() {
    let host = TestHost::start(Backend::Sqlite).await;
    for (name, path, _) in GUESTS {
        host.deploy_ok(name, path).await;
    }
    for (name, _, version) in GUESTS {
        let resp = host
            .client
            .get(format!("{}?q=1", host.function_url(name)))
            .header("user-agent", "pbs-test")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{name}");
        assert_eq!(
            resp.text().await.unwrap(),
            expected(name, version),
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_release_runs_alone_as_under_wasmtime_serve() {
    let (_server, base) = serve_single(guests::WASI_0_2_0, test_limits())
        .await
        .expect("serve the 0.2.0 component");
    let body = client()
        .get(format!("{base}/x?y=z"))
        .header("user-agent", "curl")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "wasi 0.2.0 /x?y=z clock=ok random=ok agent=curl\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feature_gated_network_error_code_links() {
    let host = TestHost::start(Backend::Sqlite).await;
    host.deploy_ok("net", guests::NET_ERROR_CODE).await;
    let resp = host.get("net").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.text().await.unwrap(),
        "network-error-code linked: true\n"
    );
}
