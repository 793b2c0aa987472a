//! A Lambda Runtime API stand-in on 127.0.0.1, a function's `AWS_LAMBDA_RUNTIME_API`:
//! `GET /2018-06-01/runtime/invocation/next` hands out an event, `POST …/invocation/{id}/response|error`
//! and `POST …/init/error` record the answer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};

use crate::loopback;

struct Invocation {
    id: String,
    body: String,
}

/// What a function posted for an invocation.
#[derive(Debug)]
pub enum Outcome {
    Response(Bytes),
    Error(Bytes),
}

impl Outcome {
    /// The response as JSON (`null` when it is not JSON); a function error as the failure.
    pub fn json(&self) -> Result<Value, String> {
        match self {
            Self::Error(b) => Err(format!("function error: {}", String::from_utf8_lossy(b))),
            Self::Response(b) => Ok(serde_json::from_slice(b).unwrap_or(Value::Null)),
        }
    }
}

/// The state the routes share.
struct Runtime {
    first_poll: watch::Sender<Option<Instant>>,
    /// `/next` requests waiting for an event: instances idle and ready.
    polling: AtomicUsize,
    queue: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    pending: Mutex<HashMap<String, oneshot::Sender<(Instant, Outcome)>>>,
    init_error: Mutex<Option<String>>,
}

async fn next(State(rt): State<Arc<Runtime>>) -> Response {
    let now = Instant::now();
    rt.first_poll.send_if_modified(|v| {
        if v.is_none() {
            *v = Some(now);
            true
        } else {
            false
        }
    });
    rt.polling.fetch_add(1, Ordering::SeqCst);
    let received = rt.queue.lock().await.recv().await;
    rt.polling.fetch_sub(1, Ordering::SeqCst);
    let Some(inv) = received else {
        return StatusCode::GONE.into_response();
    };
    let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
    let mut h = HeaderMap::new();
    h.insert("lambda-runtime-aws-request-id", HeaderValue::from_str(&inv.id).expect("uuid header"));
    h.insert("lambda-runtime-deadline-ms", HeaderValue::from_str(&deadline.to_string()).expect("number header"));
    h.insert("lambda-runtime-invoked-function-arn", HeaderValue::from_static("arn:aws:lambda:ap-northeast-1:123456789012:function:bench"));
    h.insert("lambda-runtime-trace-id", HeaderValue::from_static("Root=1-00000000-000000000000000000000000;Sampled=0"));
    h.insert("content-type", HeaderValue::from_static("application/json"));
    (h, inv.body).into_response()
}

async fn respond(State(rt): State<Arc<Runtime>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    finish(&rt, &id, Outcome::Response(body))
}

async fn error(State(rt): State<Arc<Runtime>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    finish(&rt, &id, Outcome::Error(body))
}

fn finish(rt: &Runtime, id: &str, outcome: Outcome) -> StatusCode {
    let at = Instant::now();
    match rt.pending.lock().unwrap().remove(id) {
        Some(tx) => {
            let _ = tx.send((at, outcome));
            StatusCode::ACCEPTED
        }
        None => StatusCode::NOT_FOUND,
    }
}

async fn init_error(State(rt): State<Arc<Runtime>>, body: Bytes) -> StatusCode {
    *rt.init_error.lock().unwrap() = Some(String::from_utf8_lossy(&body).into_owned());
    StatusCode::ACCEPTED
}

/// One stand-in: every instance started against it takes its events from one queue.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    rt: Arc<Runtime>,
    tx: mpsc::Sender<Invocation>,
    first_poll: watch::Receiver<Option<Instant>>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let (tx, rx) = mpsc::channel(16);
        let (poll_tx, poll_rx) = watch::channel(None);
        let rt = Arc::new(Runtime {
            first_poll: poll_tx,
            polling: Default::default(),
            queue: tokio::sync::Mutex::new(rx),
            pending: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
        });
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(respond))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(rt.clone());
        let (addr, server) = loopback::serve(router, "runtime API").await;
        Self { addr, rt, tx, first_poll: poll_rx, server }
    }

    /// Hands out one event and waits for the function's answer; returns (latency, outcome).
    pub async fn invoke(&self, body: String) -> Result<(Duration, Outcome), String> {
        self.invoke_within(body, Duration::from_secs(60)).await
    }

    /// Instances waiting for an event.
    pub fn polling(&self) -> usize {
        self.rt.polling.load(Ordering::SeqCst)
    }

    /// When the first `/next` poll came (watch until it is `Some`).
    pub fn first_poll(&self) -> watch::Receiver<Option<Instant>> {
        self.first_poll.clone()
    }

    /// What a function posted to `/init/error`.
    pub fn init_error(&self) -> Option<String> {
        self.rt.init_error.lock().unwrap().clone()
    }

    /// [`Self::invoke`] with another time limit.
    pub async fn invoke_within(&self, body: String, within: Duration) -> Result<(Duration, Outcome), String> {
        let id = uuid::Uuid::new_v4().to_string();
        let (done_tx, done_rx) = oneshot::channel();
        self.rt.pending.lock().unwrap().insert(id.clone(), done_tx);
        let start = Instant::now();
        self.tx.send(Invocation { id, body }).await.map_err(|_| "runtime API closed".to_owned())?;
        let (at, outcome) = tokio::time::timeout(within, done_rx)
            .await
            .map_err(|_| format!("no answer within {} s", within.as_secs()))?
            .map_err(|_| "invocation dropped".to_owned())?;
        Ok((at - start, outcome))
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}
