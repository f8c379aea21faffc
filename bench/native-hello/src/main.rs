//! `native-hello ADDR`: answers every request with `Hello, world!` using
//! the same hyper/tokio set-up as `pbs serve`, minus WebAssembly. The
//! benchmark runs it beside `pbs serve` to show what the Wasm part costs.

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8099".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("Serving HTTP on http://{}/", listener.local_addr()?);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(|_req| async {
                let resp = hyper::Response::builder()
                    .header("content-type", "text/plain")
                    .body(Full::new(Bytes::from_static(b"Hello, world!\n")))
                    .expect("static response");
                Ok::<_, Infallible>(resp)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
