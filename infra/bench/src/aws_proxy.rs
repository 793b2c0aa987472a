//! The functions' AWS endpoint: a proxy in front of moto that records every call (operation,
//! time, request and response bodies) so that each phase's calls can be counted.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::loopback;

/// One AWS call as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Call {
    /// The operation (see [`operation`]).
    pub target: String,
    pub took: Duration,
    pub request: Bytes,
    pub response: Bytes,
}

pub struct Proxy {
    upstream: String,
    http: reqwest::Client,
    calls: Mutex<Vec<Call>>,
}

impl Proxy {
    /// Starts a proxy to `upstream` (moto's URL); returns it and its URL.
    pub async fn start(upstream: &str) -> (Arc<Self>, String) {
        let proxy = Arc::new(Self { upstream: upstream.to_owned(), http: reqwest::Client::new(), calls: Mutex::new(Vec::new()) });
        let router = Router::new().fallback(forward).with_state(proxy.clone());
        let (addr, _) = loopback::serve(router, "proxy").await;
        (proxy, format!("http://{addr}"))
    }

    /// The calls since the last `take`.
    pub fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

/// The AWS operation of a request: `X-Amz-Target` (JSON protocols: DynamoDB, EventBridge,
/// Secrets Manager), else the service of the SigV4 credential scope and the path.
fn operation(headers: &HeaderMap, path: &str) -> String {
    if let Some(t) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return t.to_owned();
    }
    let service =
        headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|a| a.split("Credential=").nth(1)).and_then(|c| c.split('/').nth(3)).unwrap_or("?");
    format!("{service} {path}")
}

async fn forward(State(p): State<Arc<Proxy>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 64 << 20).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let target = operation(&parts.headers, parts.uri.path());
    let request = body.clone();
    let mut rb = p.http.request(parts.method.clone(), format!("{}{path}", p.upstream)).body(body);
    for (k, v) in &parts.headers {
        if !matches!(k.as_str(), "host" | "content-length" | "connection" | "transfer-encoding") {
            rb = rb.header(k, v);
        }
    }
    let start = Instant::now();
    let resp = rb.send().await;
    let resp = match resp {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = resp.status();
    let mut headers = HeaderMap::new();
    for (k, v) in resp.headers() {
        if !matches!(k.as_str(), "content-length" | "connection" | "transfer-encoding") {
            headers.append(k.clone(), v.clone());
        }
    }
    let bytes = resp.bytes().await.unwrap_or_default();
    p.calls.lock().unwrap().push(Call { target, took: start.elapsed(), request, response: bytes.clone() });
    (status, headers, bytes).into_response()
}

/// How many calls of each operation.
pub fn count(calls: &[Call]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for c in calls {
        *m.entry(c.target.clone()).or_insert(0) += 1;
    }
    m
}

/// Counts in short for a table cell: `ddb:GetItem×1 sm:GetSecretValue×1`, `none` when empty.
pub fn calls_text(m: &BTreeMap<String, usize>) -> String {
    if m.is_empty() {
        return "none".into();
    }
    m.iter()
        .map(|(k, v)| {
            let short = k.rsplit('.').next().unwrap_or(k);
            let svc = if k.starts_with("DynamoDB") {
                "ddb"
            } else if k.starts_with("AWSEvents") {
                "eb"
            } else if k.starts_with("secretsmanager") {
                "sm"
            } else if k.starts_with("ses ") {
                return format!("ses:SendEmail×{v}");
            } else {
                "?"
            };
            format!("{svc}:{short}×{v}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}
