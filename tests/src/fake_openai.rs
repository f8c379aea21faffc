//! An OpenAI-compatible server on loopback, standing in for the LLM API
//! (outside the machine): `POST /v1/chat/completions`, plain or streamed as
//! server-sent events, with tool calls. A streamed answer can be held after
//! its first chunk until the test releases it, to prove that chunks pass
//! through the function as they are produced.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};

/// The text every plain answer is made of, chunk by chunk.
pub const CHUNKS: &[&str] = &["Hello", " from", " the", " fake", " model."];

pub struct FakeOpenAi {
    /// `http://127.0.0.1:PORT/v1`, the SDKs' `baseURL`.
    pub base_url: String,
    /// `127.0.0.1:PORT`, for the allowlist.
    pub authority: String,
    state: Arc<State>,
}

#[derive(Default)]
struct State {
    /// Hold streamed answers after the first chunk until `release`.
    gated: bool,
    release: Notify,
    /// Set once a streamed answer has been sent to the end.
    finished: AtomicBool,
    requests: Mutex<Vec<Value>>,
    /// The `authorization` header of each request.
    authorizations: Mutex<Vec<String>>,
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

impl FakeOpenAi {
    pub async fn start(gated: bool) -> FakeOpenAi {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority = listener.local_addr().unwrap().to_string();
        let state = Arc::new(State {
            gated,
            ..State::default()
        });
        let shared = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(answer(state, req).await) }
                    });
                    let io = hyper_util::rt::TokioIo::new(tcp);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        FakeOpenAi {
            base_url: format!("http://{authority}/v1"),
            authority,
            state,
        }
    }

    /// Lets a held streamed answer go on.
    pub fn release(&self) {
        self.state.release.notify_one();
    }

    /// Whether a streamed answer has been sent to its end.
    pub fn finished(&self) -> bool {
        self.state.finished.load(Ordering::SeqCst)
    }

    /// The JSON bodies received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.state.requests.lock().unwrap().clone()
    }

    /// The `authorization` headers received so far (empty when absent).
    pub fn authorizations(&self) -> Vec<String> {
        self.state.authorizations.lock().unwrap().clone()
    }
}

async fn answer(state: Arc<State>, req: Request<Incoming>) -> Response<Body> {
    if req.uri().path() != "/v1/chat/completions" {
        return json_response(
            404,
            json!({"error": {"message": "not found", "type": "invalid_request_error"}}),
        );
    }
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    state.authorizations.lock().unwrap().push(authorization);
    let bytes = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let Ok(body) = serde_json::from_slice::<Value>(&bytes) else {
        return json_response(
            400,
            json!({"error": {"message": "bad json", "type": "invalid_request_error"}}),
        );
    };
    state.requests.lock().unwrap().push(body.clone());
    let reply = Reply::for_request(&body);
    if body["stream"] == json!(true) {
        stream(
            state,
            reply,
            body["stream_options"]["include_usage"] == json!(true),
        )
    } else {
        json_response(200, reply.completion())
    }
}

/// What the fake model says to a request.
enum Reply {
    Text(Vec<String>),
    ToolCall { name: String, arguments: String },
}

impl Reply {
    fn for_request(body: &Value) -> Reply {
        let messages = body["messages"].as_array().cloned().unwrap_or_default();
        let last = messages.last().cloned().unwrap_or(Value::Null);
        let tool = body["tools"][0]["function"]["name"].as_str();
        match (tool, last["role"].as_str()) {
            // The tool answered: say what it returned.
            (_, Some("tool")) => Reply::Text(vec![format!(
                "The tool said: {}",
                last["content"].as_str().unwrap_or("")
            )]),
            (Some(name), _) => {
                let prompt = last["content"].to_string();
                // A prompt asking for it gets arguments the schema refuses.
                let arguments = if prompt.contains("INVALID") {
                    r#"{"city":42}"#
                } else {
                    r#"{"city":"Paris"}"#
                };
                Reply::ToolCall {
                    name: name.to_string(),
                    arguments: arguments.to_string(),
                }
            }
            _ => Reply::Text(CHUNKS.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn finish_reason(&self) -> &'static str {
        match self {
            Reply::Text(_) => "stop",
            Reply::ToolCall { .. } => "tool_calls",
        }
    }

    fn completion(&self) -> Value {
        let message = match self {
            Reply::Text(parts) => json!({"role": "assistant", "content": parts.concat()}),
            Reply::ToolCall { name, arguments } => json!({
                "role": "assistant", "content": null,
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}]
            }),
        };
        json!({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 1_700_000_000, "model": "gpt-test",
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason()}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}
        })
    }

    /// The `delta`s of the streamed form.
    fn deltas(&self) -> Vec<Value> {
        match self {
            Reply::Text(parts) => parts
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    if i == 0 {
                        json!({"role": "assistant", "content": p})
                    } else {
                        json!({"content": p})
                    }
                })
                .collect(),
            Reply::ToolCall { name, arguments } => vec![json!({
                "role": "assistant",
                "tool_calls": [{"index": 0, "id": "call_1", "type": "function", "function": {"name": name, "arguments": arguments}}]
            })],
        }
    }
}

fn chunk(delta: Value, finish: Option<&str>) -> Value {
    json!({
        "id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "gpt-test",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
    })
}

fn stream(state: Arc<State>, reply: Reply, include_usage: bool) -> Response<Body> {
    let (tx, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(16);
    tokio::spawn(async move {
        let send = |v: Value| {
            let tx = tx.clone();
            async move {
                tx.send(Ok(Frame::data(Bytes::from(format!("data: {v}\n\n")))))
                    .await
                    .is_ok()
            }
        };
        for (i, delta) in reply.deltas().into_iter().enumerate() {
            if !send(chunk(delta, None)).await {
                return;
            }
            if i == 0 && state.gated {
                // Held until the test has seen the first chunk arrive.
                let _ =
                    tokio::time::timeout(Duration::from_secs(30), state.release.notified()).await;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        send(chunk(json!({}), Some(reply.finish_reason()))).await;
        if include_usage {
            let mut usage = chunk(json!({}), None);
            usage["choices"] = json!([]);
            usage["usage"] =
                json!({"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12});
            send(usage).await;
        }
        let _ = tx
            .send(Ok(Frame::data(Bytes::from("data: [DONE]\n\n"))))
            .await;
        state.finished.store(true, Ordering::SeqCst);
    });
    let body = StreamBody::new(tokio_stream_from(rx));
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(BodyExt::boxed(body))
        .unwrap()
}

fn tokio_stream_from<T>(mut rx: mpsc::Receiver<T>) -> impl futures::Stream<Item = T> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

fn json_response(status: u16, v: Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(BodyExt::boxed(Full::new(Bytes::from(v.to_string()))))
        .unwrap()
}
