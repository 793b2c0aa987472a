//! `cold-start`: runs each function's release binary the way Lambda does and measures it.
//!
//! - A Lambda Runtime API stand-in on 127.0.0.1 (`GET /2018-06-01/runtime/invocation/next`,
//!   `POST …/invocation/{id}/response|error`, `POST …/init/error`) is the binary's
//!   `AWS_LAMBDA_RUNTIME_API`.
//! - The binary's AWS endpoint is a counting proxy in front of our own moto server, so every AWS
//!   call (by `X-Amz-Target`) is counted per phase: init, and each invocation.
//! - Resources (table, bus, secrets, simulators) come from the local-stack library, as the
//!   end-to-end tests make them; a merchant with an active plan and saved settings is seeded
//!   through the local stack's HTTP contract.
//!
//! Measured per run (a fresh process each run; the median over runs is reported):
//! cold start = process spawn → first `/next` poll; latency of the 1st and the Nth invocation
//! (event handed out → response posted); peak RSS (`VmHWM` of `/proc/<pid>/status`) after the
//! last invocation; AWS calls during init and per invocation.
//!
//! `--webhook-load` also measures a burst of concurrent deliveries of one order over as many
//! order-webhook instances, and the largest order the body limit accepts (`webhook_load.rs`).
//!
//! `--lifecycle N` also runs N orders through their happy path (webhook paid → webhook shipped →
//! the claim's stream record to invoice-issuer → webhook received) and prints each step's AWS calls and DynamoDB units.
//!
//! Events are the published example events of `aws_lambda_events` / `lambda_http`
//! (`infra/bench/fixtures`, `events.rs`) with this system's requests in them: HTTP API and
//! function URL requests signed like the platform's, the claim's stream record with the order
//! item read back from the table, EventBridge schedules, a `MerchantNotification` from the bus.
//! Each answer is checked (status, invoice state, batch failures, the job's summary).
//!
//! Usage: `cold-start --bin-dir /work/target-release/release [--runs 5] [--requests 10]
//!         [--only order-webhook,renewal-cutoff] [--lifecycle 5] [--json out.json]
//!         [--env KEY=VALUE]… [--system-cert-dir] [--wrap "strace -f -tt -o /tmp/trace"]
//!         [--root <checkout>] [--label "heading"] [--webhook-load [--concurrency 50] [--load-runs 3]]`
//! (`--only none --webhook-load` measures only the webhook load: `webhook_load.rs`)
//! or `cold-start --sam-build .aws-sam/build --wrap qemu-aarch64-static …` for the deployed
//! arm64 binaries (`<Function>/bootstrap`, matched to binaries through template.yaml) under
//! emulation.
//! The functions get `SSL_CERT_FILE` (the host's CA bundle) as template.yaml sets it on Lambda,
//! unless `--system-cert-dir`.
//! (normally through `infra/run-benchmarks`; see docs/benchmarks.md).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path as FsPath, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use einvoice_adapters::secret::Secret;
use einvoice_adapters::signature;
use local_stack::client::ContractClient;
use local_stack::{LocalConfig, LocalStack};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

mod capacity;
mod events;
mod webhook_load;

use events::{Front, HttpRequest};

const REGION: &str = "ap-northeast-1";

// ───────────────────────────── Lambda Runtime API stand-in ─────────────────────────────

struct Invocation {
    id: String,
    body: String,
}

#[derive(Debug)]
enum Outcome {
    Response(Bytes),
    Error(Bytes),
}

struct Runtime {
    first_poll: watch::Sender<Option<Instant>>,
    /// `/next` requests waiting for an event: instances idle and ready.
    polling: std::sync::atomic::AtomicUsize,
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
    rt.polling.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let received = rt.queue.lock().await.recv().await;
    rt.polling.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
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

struct RuntimeApi {
    addr: SocketAddr,
    rt: Arc<Runtime>,
    tx: mpsc::Sender<Invocation>,
    first_poll: watch::Receiver<Option<Instant>>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    async fn start() -> Self {
        let (tx, rx) = mpsc::channel(16);
        let (poll_tx, poll_rx) = watch::channel(None);
        let rt =
            Arc::new(Runtime { first_poll: poll_tx, polling: Default::default(), queue: tokio::sync::Mutex::new(rx), pending: Mutex::new(HashMap::new()), init_error: Mutex::new(None) });
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(respond))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(rt.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind runtime API");
        let addr = listener.local_addr().expect("runtime API address");
        // No Nagle delay on the small runtime API answers (as a real endpoint would).
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self { addr, rt, tx, first_poll: poll_rx, server }
    }

    /// Hands out one event and waits for the function's answer; returns (latency, outcome).
    async fn invoke(&self, body: String) -> Result<(Duration, Outcome), String> {
        self.invoke_within(body, Duration::from_secs(60)).await
    }

    /// Instances waiting for an event.
    fn polling(&self) -> usize {
        self.rt.polling.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// [`Self::invoke`] with another time limit.
    async fn invoke_within(&self, body: String, within: Duration) -> Result<(Duration, Outcome), String> {
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

// ───────────────────────────── counting AWS proxy ─────────────────────────────

#[derive(Debug, Clone)]
struct Call {
    target: String,
    took: Duration,
    request: Bytes,
    response: Bytes,
}

struct Proxy {
    upstream: String,
    http: reqwest::Client,
    calls: Mutex<Vec<Call>>,
}

impl Proxy {
    fn take(&self) -> Vec<Call> {
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

async fn start_proxy(upstream: &str) -> (Arc<Proxy>, SocketAddr) {
    let proxy = Arc::new(Proxy { upstream: upstream.to_owned(), http: reqwest::Client::new(), calls: Mutex::new(Vec::new()) });
    let router = Router::new().fallback(forward).with_state(proxy.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let addr = listener.local_addr().expect("proxy address");
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (proxy, addr)
}

// ───────────────────────────── moto ─────────────────────────────

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

struct Moto {
    child: Child,
    url: String,
}

impl Moto {
    fn start(root: &FsPath, log: &FsPath) -> Self {
        let port = free_port();
        let python = root.join("infra/.venv/bin/python");
        let script = root.join("infra/scripts/moto_serialized.py");
        let log = std::fs::File::create(log).expect("moto log file");
        let child = Command::new(&python)
            .arg(&script)
            .arg("127.0.0.1")
            .arg(port.to_string())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start moto with {} ({e}); run ./infra/test once to create infra/.venv", python.display()));
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start on port {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, url }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ───────────────────────────── scenarios ─────────────────────────────

/// What the functions run against: the seeded stack and its resources.
struct World {
    stack: LocalStack,
    c: ContractClient,
    proxy_url: String,
    secret_ids: local_stack::SecretIds,
    /// A merchant with an active plan and settings issuing on shipment.
    merchant: String,
    /// Orders claimed by order-webhook (Issuing), for invoice-issuer.
    claimed: Mutex<Vec<(String, String)>>,
    /// The order whose claim invoice-issuer was last handed, to check it was answered.
    handed_over: Mutex<Option<(String, String)>>,
    /// moto itself, for reading items back.
    moto_url: String,
    /// The notifier's sender (template.yaml's `MailFromAddress`).
    mail_from: String,
    /// Set `SSL_CERT_FILE` as template.yaml does (`--system-cert-dir` turns it off).
    cert_file: bool,
}

impl World {
    fn env(&self) -> Vec<(&'static str, String)> {
        let cfg = &self.stack.config;
        vec![
            ("AWS_REGION", REGION.into()),
            ("AWS_DEFAULT_REGION", REGION.into()),
            ("AWS_ACCESS_KEY_ID", "bench".into()),
            ("AWS_SECRET_ACCESS_KEY", "bench".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_ENDPOINT_URL", self.proxy_url.clone()),
            ("TABLE_NAME", cfg.table_name.clone()),
            ("EVENT_BUS_NAME", cfg.event_bus_name.clone()),
            ("PLATFORM_SIGNING_SECRET_ID", self.secret_ids.platform.clone()),
            ("PAYMENT_SIGNING_SECRET_ID", self.secret_ids.payment.clone()),
            ("CREDENTIAL_MASTER_KEY_SECRET_ID", self.secret_ids.master_key.clone()),
            ("WIXTAR_API_URL", self.stack.wixtar.url()),
            ("PAYMENT_GATEWAY_URL", self.stack.payment.url()),
            ("PLAN_CATALOGUE", cfg.plan_catalogue.clone()),
            ("MAIL_FROM_ADDRESS", self.mail_from.clone()),
            ("RUST_LOG", "info".into()),
        ]
    }
}

/// The host's CA bundle, given to the functions as `SSL_CERT_FILE` like template.yaml does on
/// Lambda (`/etc/pki/tls/certs/ca-bundle.crt`), so that they read one file, not a directory.
fn ca_bundle() -> Option<&'static str> {
    ["/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/certs/ca-certificates.crt"].into_iter().find(|p| FsPath::new(p).is_file())
}

impl World {
    fn cert_env(&self) -> Vec<(&'static str, String)> {
        match (self.cert_file, ca_bundle()) {
            (true, Some(bundle)) => vec![("SSL_CERT_FILE", bundle.to_owned())],
            _ => Vec::new(),
        }
    }
}

fn order_at(id: &str, delivery: &str) -> Value {
    json!({
        "id": id, "currency": "TWD", "payment_status": "paid", "delivery_status": delivery, "cancelled": false,
        "logistics": "tcat",
        "lines": [
            {"sku": "TEA-01", "name": "凍頂烏龍茶 150g", "quantity": 2, "unit_price": 500},
            {"sku": "TEA-02", "name": "阿里山高山茶 75g", "quantity": 1, "unit_price": 350}
        ],
        "shipping_fee": 100, "discount": 50, "total": 1400,
        "buyer": {"name": "陳小華", "email": "hua@example.com", "carrier": {"type": "mobile", "id": "/ABC1234"}}
    })
}

/// How each function is exercised: the binary and the event of its i-th invocation of run r.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Scenario {
    OrderWebhook,
    OrderWebhookFunctionUrl,
    InvoiceIssuer,
    PlanCheckout,
    CredentialSave,
    RenewalCutoff,
    RenewalCharge,
    PeriodClose,
    InvoiceReconciler,
    Notifier,
}

impl Scenario {
    /// In this order: the issuer takes the orders the webhooks claimed (the function URL's
    /// first), the reconciler finishes those left.
    const ALL: [Scenario; 10] = [
        Self::OrderWebhook,
        Self::OrderWebhookFunctionUrl,
        Self::InvoiceIssuer,
        Self::PlanCheckout,
        Self::CredentialSave,
        Self::RenewalCutoff,
        Self::RenewalCharge,
        Self::PeriodClose,
        Self::InvoiceReconciler,
        Self::Notifier,
    ];

    /// The binary (template.yaml's `BuildProperties.Binary`).
    fn binary(self) -> &'static str {
        match self {
            Self::OrderWebhook | Self::OrderWebhookFunctionUrl => "order-webhook",
            Self::InvoiceIssuer => "invoice-issuer",
            Self::PlanCheckout => "plan-checkout",
            Self::CredentialSave => "credential-save",
            Self::RenewalCutoff => "renewal-cutoff",
            Self::RenewalCharge => "renewal-charge",
            Self::PeriodClose => "period-close",
            Self::InvoiceReconciler => "invoice-reconciler",
            Self::Notifier => "notifier",
        }
    }

    /// The name of the row: the binary, and the front door where one binary has two.
    fn name(self) -> &'static str {
        match self {
            Self::OrderWebhookFunctionUrl => "order-webhook (function URL)",
            _ => self.binary(),
        }
    }

    fn event_kind(self) -> &'static str {
        match self {
            Self::OrderWebhook => "HTTP API POST /v1/webhooks/orders: a new paid + shipped order (issue decision, claim)",
            Self::OrderWebhookFunctionUrl => "function URL POST /v1/webhooks/orders: the same through the function URL's event",
            Self::InvoiceIssuer => "the stream record (NEW_IMAGE read back from the table) of an order order-webhook claimed: number, proof, record, upload",
            Self::PlanCheckout => "HTTP API GET /v1/merchants/{id}/plan (plan view)",
            Self::CredentialSave => "HTTP API GET /v1/merchants/{id}/invoice-settings (settings view)",
            Self::RenewalCutoff => "schedule at T-15 of a fresh auto-renew plan (1st locks it, later runs find it done)",
            Self::RenewalCharge => "schedule at T-10 of that plan (1st charges the card, later runs find it charged)",
            Self::PeriodClose => "schedule (report unused numbers of closed periods)",
            Self::InvoiceReconciler => "schedule 3 min after the claims (1st finishes the claimed orders no stream record reached, later runs find none due)",
            Self::Notifier => "MerchantNotification (auto_renew_succeeded) from the bus: contact lookup, send record, SES",
        }
    }
}

/// Per-run state a scenario needs (the auto-renew merchant's dates).
struct RunSetup {
    cutoff_time: String,
    charge_time: String,
}

async fn subscribe_auto_renew(w: &World) -> Result<RunSetup, String> {
    let m = format!("b-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let body = checkout_body(12, "card", true);
    let order = w.c.post(&format!("/v1/merchants/{m}/plan/checkout"), &body).await;
    if order.status != 201 {
        return Err(format!("checkout: {} {}", order.status, order.body));
    }
    let id = order.body["order_id"].as_str().unwrap_or_default().to_owned();
    let paid_at = (chrono::Utc::now() - chrono::Duration::days(3)).to_rfc3339();
    let paid = w.c.notify(&json!({"order_id": id, "status": "paid", "paid_at": paid_at, "card_token": format!("tok-{m}"), "card_last4": "4242"})).await;
    if paid.status != 200 {
        return Err(format!("payment: {} {}", paid.status, paid.body));
    }
    let view = w.c.get(&format!("/v1/merchants/{m}/plan")).await;
    let expires = view.body["expires_on"].as_str().and_then(|d| d.parse::<chrono::NaiveDate>().ok()).ok_or("plan view has no expires_on")?;
    let at = |days: i64, hm: &str| format!("{}T{hm}:00+08:00", expires - chrono::Duration::days(days));
    Ok(RunSetup { cutoff_time: at(15, "00:05"), charge_time: at(10, "00:10") })
}

fn checkout_body(months: u32, method: &str, auto_renew: bool) -> Value {
    json!({
        "ubn": "04595257", "months": months, "payment_method": method, "auto_renew": auto_renew,
        "contact": {"name": "王小明", "email": "ming@example.com.tw", "phone": "0912-345-678"},
        "company": {"name": "小明商行有限公司", "ubn": "04595257", "address": "台北市中山區南京東路一段1號", "invoice_email": "ap@example.com.tw"}
    })
}

/// A signed request (the platform's `x-signature`) to a function through `front`.
fn signed_http(w: &World, front: Front, method: &str, route: &str, path: &str, body: &str) -> String {
    let now = chrono::Utc::now();
    let signed = signature::SignedRequest::new(method, path, body.as_bytes());
    let signature = signature::sign(&Secret::new(&w.stack.config.platform_secret), now.timestamp(), &signed);
    events::http(&HttpRequest { front, method, route, path, body, signature }, now)
}

/// A webhook delivery of order `order_id` at `delivery` (`pending`, `shipped`, `received`).
fn order_webhook(w: &World, front: Front, order_id: &str, step: &str, delivery: &str) -> String {
    let body = json!({
        "event_id": format!("{order_id}-{step}"), "occurred_at": chrono::Utc::now().to_rfc3339(),
        "merchant_id": w.merchant, "order": order_at(order_id, delivery)
    })
    .to_string();
    signed_http(w, front, "POST", "/v1/webhooks/orders", "/v1/webhooks/orders", &body)
}

/// An order's item as the table holds it (DynamoDB JSON).
async fn order_item(w: &World, merchant: &str, order_id: &str) -> Result<Value, String> {
    let pk = einvoice_adapters::orders::order_keys::order(merchant, order_id);
    capacity::item(&w.moto_url, &w.stack.config.table_name, &pk, "ORDER").await
}

/// The stream batch the event source mapping hands invoice-issuer for the claim of an order:
/// its item as the table holds it.
async fn claim_record(w: &World, merchant: &str, order_id: &str) -> Result<String, String> {
    let item = order_item(w, merchant, order_id).await?;
    if item.get("request_pending").is_none() {
        return Err(format!("order {order_id} is not claimed: {item}"));
    }
    Ok(events::stream_batch(&w.stack.config.table_name, &[item], REGION))
}

async fn event_for(w: &World, s: Scenario, setup: &RunSetup, run: usize, i: usize) -> Result<String, String> {
    let m = &w.merchant;
    Ok(match s {
        Scenario::OrderWebhook | Scenario::OrderWebhookFunctionUrl => {
            let front = if s == Scenario::OrderWebhook { Front::HttpApi } else { Front::FunctionUrl };
            let order_id = format!("bench-{run}-{i}-{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
            w.claimed.lock().unwrap().push((m.clone(), order_id.clone()));
            order_webhook(w, front, &order_id, "shipped", "shipped")
        }
        Scenario::InvoiceIssuer => {
            let (merchant, order_id) = w.claimed.lock().unwrap().pop().ok_or("no claimed order left: run order-webhook first")?;
            let event = claim_record(w, &merchant, &order_id).await?;
            *w.handed_over.lock().unwrap() = Some((merchant, order_id));
            event
        }
        Scenario::PlanCheckout => signed_http(w, Front::HttpApi, "GET", "/v1/merchants/{merchant_id}/plan", &format!("/v1/merchants/{m}/plan"), ""),
        Scenario::CredentialSave => {
            signed_http(w, Front::HttpApi, "GET", "/v1/merchants/{merchant_id}/invoice-settings", &format!("/v1/merchants/{m}/invoice-settings"), "")
        }
        Scenario::RenewalCutoff => events::scheduled("renewal-cutoff", &setup.cutoff_time, REGION),
        Scenario::RenewalCharge => events::scheduled("renewal-charge", &setup.charge_time, REGION),
        Scenario::PeriodClose => events::scheduled("period-close", &chrono::Utc::now().to_rfc3339(), REGION),
        // Claims are due 2 minutes after they were made (the stream's grace): 3 minutes on, the
        // orders the issuer was not handed are the reconciler's.
        Scenario::InvoiceReconciler => events::scheduled("invoice-reconciler", &(chrono::Utc::now() + chrono::Duration::minutes(3)).to_rfc3339(), REGION),
        Scenario::Notifier => {
            let expires = (chrono::Utc::now() + chrono::Duration::days(365)).date_naive();
            let detail = json!({
                "event_id": uuid::Uuid::new_v4().to_string(), "merchant_id": m, "template": "auto_renew_succeeded",
                "months": 12, "amount": 3600, "expires_on": expires, "card_last4": "4242"
            });
            events::rule_target("merchant-notification", einvoice_adapters::events::SOURCE, "MerchantNotification", detail, REGION)
        }
    })
}

/// A function's response as JSON; its error as the failure.
fn response(outcome: &Outcome) -> Result<Value, String> {
    match outcome {
        Outcome::Error(b) => Err(format!("function error: {}", String::from_utf8_lossy(b))),
        Outcome::Response(b) => Ok(serde_json::from_slice(b).unwrap_or(Value::Null)),
    }
}

/// The JSON body of an HTTP response event (`null` when there is none).
fn http_body(v: &Value) -> Value {
    v["body"].as_str().and_then(|b| serde_json::from_str(b).ok()).unwrap_or(Value::Null)
}

/// Whether an invocation answered as the happy path does; its answer in a few words.
fn check(s: Scenario, outcome: &Outcome) -> Result<String, String> {
    let v = response(outcome)?;
    let http = |want: u64| -> Result<Value, String> {
        match v.get("statusCode").and_then(Value::as_u64) {
            Some(got) if got == want => Ok(http_body(&v)),
            Some(got) => Err(format!("HTTP {got} (expected {want}): {}", v.get("body").unwrap_or(&v))),
            None => Err(format!("not an HTTP answer: {v}")),
        }
    };
    let field = |name: &str| v.get(name).and_then(Value::as_u64).unwrap_or(u64::MAX);
    match s {
        Scenario::OrderWebhook | Scenario::OrderWebhookFunctionUrl => webhook_status(&v, "issuing"),
        Scenario::PlanCheckout => Ok(format!("HTTP 200, plan {}", http(200)?["status"])),
        Scenario::CredentialSave => Ok(format!("HTTP 200, settings enabled {}", http(200)?["enabled"])),
        Scenario::InvoiceIssuer => match v["batchItemFailures"].as_array() {
            Some(f) if f.is_empty() => Ok("batchItemFailures []".into()),
            _ => Err(format!("the stream record was not handled: {v}")),
        },
        Scenario::InvoiceReconciler if field("failed") != 0 || field("left") != 0 || field("retrying") != 0 => Err(format!("orders not finished: {v}")),
        Scenario::InvoiceReconciler => Ok(format!("due {}, finished {}", v["due"], v["finished"])),
        Scenario::Notifier if v["result"] != "sent" => Err(format!("mail not sent: {v}")),
        _ => {
            let mut s = v.to_string();
            s.truncate(160);
            Ok(s)
        }
    }
}

/// order-webhook's 202 with the order's invoice at `status` (`waiting`, `issuing`, `uploaded` …).
fn webhook_answer(outcome: &Outcome, status: &str) -> Result<String, String> {
    webhook_status(&response(outcome)?, status)
}

fn webhook_status(v: &Value, status: &str) -> Result<String, String> {
    match (v["statusCode"].as_u64(), &http_body(v)["invoice"]["status"]) {
        (Some(202), got) if got == status => Ok(format!("HTTP 202, invoice {status}")),
        (code, got) => Err(format!("expected HTTP 202 with invoice {status}, got {code:?} {got}: {v}")),
    }
}

/// After invoice-issuer answered a claim: the order's claim is gone (it was issued).
async fn check_claim_answered(w: &World, merchant: &str, order_id: &str) -> Result<(), String> {
    let item = order_item(w, merchant, order_id).await?;
    match item.get("request_pending") {
        None => Ok(()),
        Some(_) => Err(format!("order {order_id} is still claimed after the issuer answered")),
    }
}

// ───────────────────────────── one run ─────────────────────────────

#[derive(Debug, Clone, Serialize)]
struct RunResult {
    cold_start_ms: f64,
    /// Time spent waiting for AWS (moto) during init, as the proxy saw it.
    init_aws_ms: f64,
    init_calls: BTreeMap<String, usize>,
    latencies_ms: Vec<f64>,
    /// AWS calls of each invocation.
    invocation_calls: Vec<BTreeMap<String, usize>>,
    peak_rss_kb: u64,
    rss_kb: u64,
    first_answer: String,
}

fn count(calls: &[Call]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for c in calls {
        *m.entry(c.target.clone()).or_insert(0) += 1;
    }
    m
}

fn proc_status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field).map(|rest| rest.trim_start_matches(':').trim().trim_end_matches("kB").trim().parse().unwrap_or(0)))
        .unwrap_or(0)
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn run_once(
    w: &World,
    proxy: &Proxy,
    bin: &FsPath,
    s: Scenario,
    run: usize,
    requests: usize,
    log_dir: &FsPath,
    wrap: Option<&str>,
    extra_env: &[(String, String)],
) -> Result<RunResult, String> {
    let setup = match s {
        Scenario::RenewalCutoff | Scenario::RenewalCharge => subscribe_auto_renew(w).await?,
        _ => RunSetup { cutoff_time: String::new(), charge_time: String::new() },
    };
    if s == Scenario::RenewalCharge {
        // The charge runs on a plan the cutoff locked, as in production.
        let body = serde_json::to_vec(&json!({"time": setup.cutoff_time})).unwrap_or_default();
        let r = w.c.raw(reqwest::Method::POST, "/_local/schedules/renewal-cutoff", body, &[("content-type", "application/json".into())]).await;
        if r.status != 200 {
            return Err(format!("local cutoff before the charge: {} {}", r.status, r.body));
        }
    }
    let api = RuntimeApi::start().await;
    proxy.take();
    let t0 = Instant::now();
    let mut child = spawn(w, &api, bin, s.binary(), &log_dir.join(format!("{}-{run}.log", s.name().replace(' ', "-"))), wrap, extra_env)?;
    let pid = child.0.id();
    let cold = wait_first_poll(&api, &mut child, s.binary(), t0, log_dir).await?;
    let init = proxy.take();

    let mut latencies = Vec::new();
    let mut invocation_calls = Vec::new();
    let mut first_answer = String::new();
    for i in 0..requests {
        let event = event_for(w, s, &setup, run, i).await?;
        let (latency, outcome) = api.invoke(event).await?;
        let answer = check(s, &outcome).map_err(|e| format!("{} invocation {}: {e}", s.name(), i + 1))?;
        let handed_over = w.handed_over.lock().unwrap().take();
        if let Some((merchant, order_id)) = handed_over {
            check_claim_answered(w, &merchant, &order_id).await?;
        }
        if i == 0 {
            first_answer = answer;
        }
        latencies.push(ms(latency));
        invocation_calls.push(count(&proxy.take()));
    }
    let peak = proc_status_kb(pid, "VmHWM");
    let rss = proc_status_kb(pid, "VmRSS");
    drop(child);
    Ok(RunResult {
        cold_start_ms: ms(cold),
        init_aws_ms: init.iter().map(|c| ms(c.took)).fold(0.0, |a, b| a + b),
        init_calls: count(&init),
        latencies_ms: latencies,
        invocation_calls,
        peak_rss_kb: peak,
        rss_kb: rss,
        first_answer,
    })
}

/// Starts a function binary against the runtime API stand-in `api`.
fn spawn(
    w: &World,
    api: &RuntimeApi,
    bin: &FsPath,
    name: &str,
    log: &FsPath,
    wrap: Option<&str>,
    extra_env: &[(String, String)],
) -> Result<KillOnDrop, String> {
    let log = std::fs::File::create(log).map_err(|e| e.to_string())?;
    let mut cmd = match wrap {
        // A wrapper (e.g. `strace -f -tt -o /tmp/trace`) in front of the binary, for diagnosis.
        Some(wrapper) => {
            let mut parts = wrapper.split_whitespace();
            let mut c = Command::new(parts.next().unwrap_or("env"));
            c.args(parts).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    cmd.env_clear()
        .envs(w.env())
        .envs(w.cert_env())
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
        .envs(extra_env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log);
    let child = cmd.spawn().map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    Ok(KillOnDrop(child))
}

/// Waits for the first `/next` poll; returns spawn → poll.
async fn wait_first_poll(api: &RuntimeApi, child: &mut KillOnDrop, name: &str, t0: Instant, log_dir: &FsPath) -> Result<Duration, String> {
    let mut polled = api.first_poll.clone();
    let first = loop {
        tokio::select! {
            r = polled.wait_for(Option::is_some) => break r.map_err(|_| "runtime API gone".to_owned())?.expect("some"),
            _ = tokio::time::sleep(Duration::from_millis(20)) => {
                if let Ok(Some(status)) = child.0.try_wait() {
                    let init = api.rt.init_error.lock().unwrap().clone().unwrap_or_default();
                    return Err(format!("{name} exited during init ({status}) {init}; see {}", log_dir.display()));
                }
                if t0.elapsed() > Duration::from_secs(30) {
                    return Err(format!("{name} did not poll within 30 s"));
                }
            }
        }
    };
    Ok(first - t0)
}

// ───────────────────────────── one order's life, for cost ─────────────────────────────

#[derive(Debug, Clone, Serialize)]
struct Step {
    step: &'static str,
    function: &'static str,
    calls: BTreeMap<String, usize>,
    rru: f64,
    wru: f64,
    latency_ms: f64,
    detail: Vec<String>,
}

/// Runs `orders` orders through their happy path with warm order-webhook and invoice-issuer
/// processes: webhook paid → webhook shipped (claim) → its stream record to invoice-issuer →
/// webhook received.
/// Returns the steps of the last order (steady state) and the median latency of each step.
async fn lifecycle(w: &World, proxy: &Proxy, binaries: &Binaries, orders: usize, log_dir: &FsPath, moto_url: &str, wrap: Option<&str>) -> Result<Value, String> {
    let ow_api = RuntimeApi::start().await;
    let ii_api = RuntimeApi::start().await;
    let t0 = Instant::now();
    let mut ow = spawn(w, &ow_api, &binaries.path("order-webhook"), "order-webhook", &log_dir.join("lifecycle-order-webhook.log"), wrap, &[])?;
    wait_first_poll(&ow_api, &mut ow, "order-webhook", t0, log_dir).await?;
    let t0 = Instant::now();
    let mut ii = spawn(w, &ii_api, &binaries.path("invoice-issuer"), "invoice-issuer", &log_dir.join("lifecycle-invoice-issuer.log"), wrap, &[])?;
    wait_first_poll(&ii_api, &mut ii, "invoice-issuer", t0, log_dir).await?;
    let init = proxy.take();
    let m = &w.merchant;
    let mut all: Vec<Vec<(&'static str, &'static str, Duration, Vec<Call>)>> = Vec::new();
    for k in 0..orders {
        let order_id = format!("life-{k}-{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
        let hook = |step: &str, delivery: &str| order_webhook(w, Front::HttpApi, &order_id, step, delivery);
        let mut steps = Vec::new();
        let (d, o) = ow_api.invoke(hook("paid", "pending")).await?;
        webhook_answer(&o, "waiting").map_err(|e| format!("webhook paid: {e}"))?;
        steps.push(("webhook paid, not shipped (waiting)", "order-webhook", d, proxy.take()));
        let (d, o) = ow_api.invoke(hook("shipped", "shipped")).await?;
        webhook_answer(&o, "issuing").map_err(|e| format!("webhook shipped: {e}"))?;
        steps.push(("webhook shipped (issue: claim, the stream hands it over)", "order-webhook", d, proxy.take()));
        let (d, o) = ii_api.invoke(claim_record(w, m, &order_id).await?).await?;
        let answer = check(Scenario::InvoiceIssuer, &o).map_err(|e| format!("invoice-issuer: {e}"))?;
        if k == 0 {
            eprintln!("lifecycle: invoice-issuer answered {answer}");
        }
        steps.push(("claim stream record (number, proof, record, upload)", "invoice-issuer", d, proxy.take()));
        let (d, o) = ow_api.invoke(hook("received", "received")).await?;
        webhook_answer(&o, "uploaded").map_err(|e| format!("webhook received: {e}"))?;
        steps.push(("webhook received (already invoiced)", "order-webhook", d, proxy.take()));
        all.push(steps);
    }
    let (table, entities) = capacity::table_sizes(moto_url, &w.stack.config.table_name).await?;
    let last = all.last().ok_or("no orders")?;
    let mut out = Vec::new();
    for (i, (step, function, _, calls)) in last.iter().enumerate() {
        let u = capacity::units(calls, &table);
        let latency = median(all.iter().map(|o| ms(o[i].2)).collect());
        out.push(Step { step, function, calls: count(calls), rru: u.rru, wru: u.wru, latency_ms: latency, detail: u.by_call });
    }
    println!("\n| step of one order (steady state, last of {orders}) | function | AWS calls | RRU | WRU | latency, median (ms) |");
    println!("|---|---|---|---:|---:|---:|");
    for s in &out {
        println!("| {} | {} | {} | {} | {} | {:.1} |", s.step, s.function, calls_text(&s.calls), s.rru, s.wru, s.latency_ms);
    }
    let (rru, wru): (f64, f64) = out.iter().fold((0.0, 0.0), |a, s| (a.0 + s.rru, a.1 + s.wru));
    println!(
        "| **per order** | | {} | {rru} | {wru} | |",
        calls_text(&out.iter().fold(BTreeMap::new(), |mut acc, s| {
            for (k, v) in &s.calls {
                *acc.entry(k.clone()).or_insert(0) += v;
            }
            acc
        }))
    );
    println!(
        "\nitems in the table (count, largest bytes): {}",
        entities.iter().map(|(e, (n, max))| format!("{e} {n}× ≤{max} B")).collect::<Vec<_>>().join(", ")
    );
    Ok(json!({"orders": orders, "init_calls": count(&init), "steps": out, "entities": entities}))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

#[derive(Debug, Serialize)]
struct Summary {
    function: &'static str,
    event: &'static str,
    binary_bytes: u64,
    runs: usize,
    requests: usize,
    cold_start_ms_median: f64,
    cold_start_ms_min: f64,
    init_aws_ms_median: f64,
    cold_start_without_aws_ms_median: f64,
    first_request_ms_median: f64,
    last_request_ms_median: f64,
    peak_rss_mb_median: f64,
    init_calls: BTreeMap<String, usize>,
    first_request_calls: BTreeMap<String, usize>,
    last_request_calls: BTreeMap<String, usize>,
    first_answer: String,
    runs_detail: Vec<RunResult>,
}

fn summarize(s: Scenario, bin: &FsPath, requests: usize, runs: Vec<RunResult>) -> Summary {
    let pick = |f: &dyn Fn(&RunResult) -> f64| median(runs.iter().map(f).collect());
    Summary {
        function: s.name(),
        event: s.event_kind(),
        binary_bytes: std::fs::metadata(bin).map(|m| m.len()).unwrap_or(0),
        runs: runs.len(),
        requests,
        cold_start_ms_median: pick(&|r| r.cold_start_ms),
        cold_start_ms_min: runs.iter().map(|r| r.cold_start_ms).fold(f64::INFINITY, f64::min),
        init_aws_ms_median: pick(&|r| r.init_aws_ms),
        cold_start_without_aws_ms_median: pick(&|r| r.cold_start_ms - r.init_aws_ms),
        first_request_ms_median: pick(&|r| r.latencies_ms.first().copied().unwrap_or(f64::NAN)),
        last_request_ms_median: pick(&|r| r.latencies_ms.last().copied().unwrap_or(f64::NAN)),
        peak_rss_mb_median: pick(&|r| r.peak_rss_kb as f64 / 1024.0),
        init_calls: runs.first().map(|r| r.init_calls.clone()).unwrap_or_default(),
        first_request_calls: runs.first().and_then(|r| r.invocation_calls.first().cloned()).unwrap_or_default(),
        last_request_calls: runs.first().and_then(|r| r.invocation_calls.last().cloned()).unwrap_or_default(),
        first_answer: runs.first().map(|r| r.first_answer.clone()).unwrap_or_default(),
        runs_detail: runs,
    }
}

fn calls_text(m: &BTreeMap<String, usize>) -> String {
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

// ───────────────────────────── main ─────────────────────────────

/// Where each function's binary is: `<dir>/<binary>` (a cargo target directory), or, from
/// `sam build`, `<dir>/<LogicalId>/bootstrap` with the logical id whose
/// `Metadata.BuildProperties.Binary` names the binary in template.yaml.
struct Binaries {
    dir: PathBuf,
    logical_ids: Option<HashMap<String, String>>,
}

impl Binaries {
    fn cargo(dir: PathBuf) -> Self {
        Self { dir, logical_ids: None }
    }

    fn sam(dir: PathBuf, template: &FsPath) -> Result<Self, String> {
        let text = std::fs::read_to_string(template).map_err(|e| format!("cannot read {}: {e}", template.display()))?;
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", template.display()))?;
        let resources = doc.get("Resources").and_then(serde_yaml::Value::as_mapping).ok_or("template.yaml has no Resources")?;
        let logical_ids = resources
            .iter()
            .filter_map(|(id, r)| {
                let binary = r.get("Metadata")?.get("BuildProperties")?.get("Binary")?.as_str()?;
                Some((binary.to_owned(), id.as_str()?.to_owned()))
            })
            .collect();
        Ok(Self { dir, logical_ids: Some(logical_ids) })
    }

    fn path(&self, binary: &str) -> PathBuf {
        match &self.logical_ids {
            None => self.dir.join(binary),
            Some(ids) => self.dir.join(ids.get(binary).map_or(binary, String::as_str)).join("bootstrap"),
        }
    }
}

struct Args {
    bin_dir: PathBuf,
    /// `--bin-dir` is a `sam build` directory (`.aws-sam/build`).
    sam_build: bool,
    /// A heading printed above the table (e.g. what machine or emulator ran the binaries).
    label: Option<String>,
    runs: usize,
    requests: usize,
    only: Option<Vec<String>>,
    json: Option<PathBuf>,
    root: PathBuf,
    wrap: Option<String>,
    /// Extra `KEY=VALUE` variables for the functions (e.g. `SSL_CERT_FILE=…`).
    env: Vec<(String, String)>,
    /// Orders to run through their whole happy path for the per-order call and unit counts.
    lifecycle: usize,
    /// Do not set `SSL_CERT_FILE`: the functions then read the whole system certificate directory.
    system_cert_dir: bool,
    /// Also measure a burst of concurrent deliveries of one order and the largest order
    /// (`webhook_load.rs`).
    webhook_load: bool,
    /// Deliveries (and order-webhook instances) of a burst.
    concurrency: usize,
    /// Bursts measured.
    load_runs: usize,
}

fn args() -> Args {
    let mut a = Args {
        bin_dir: PathBuf::from("/work/target-release/release"),
        sam_build: false,
        label: None,
        runs: 5,
        requests: 10,
        only: None,
        json: None,
        wrap: None,
        env: Vec::new(),
        lifecycle: 0,
        system_cert_dir: false,
        webhook_load: false,
        concurrency: 50,
        load_runs: 3,
        root: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--bin-dir" => a.bin_dir = val().into(),
            "--sam-build" => {
                a.bin_dir = val().into();
                a.sam_build = true;
            }
            "--label" => a.label = Some(val()),
            "--runs" => a.runs = val().parse().expect("--runs N"),
            "--requests" => a.requests = val().parse().expect("--requests N"),
            "--only" => a.only = Some(val().split(',').map(str::to_owned).collect()),
            "--json" => a.json = Some(val().into()),
            "--root" => a.root = val().into(),
            "--wrap" => a.wrap = Some(val()),
            "--lifecycle" => a.lifecycle = val().parse().expect("--lifecycle N"),
            "--system-cert-dir" => a.system_cert_dir = true,
            "--webhook-load" => a.webhook_load = true,
            "--concurrency" => a.concurrency = val().parse().expect("--concurrency N"),
            "--load-runs" => a.load_runs = val().parse().expect("--load-runs N"),
            "--env" => {
                let kv = val();
                let (k, v) = kv.split_once('=').expect("--env KEY=VALUE");
                a.env.push((k.to_owned(), v.to_owned()));
            }
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

fn main() {
    let a = args();
    let log_dir = std::env::temp_dir().join(format!("cold-start-{}", std::process::id()));
    std::fs::create_dir_all(&log_dir).expect("log dir");
    let moto = Moto::start(&a.root, &log_dir.join("moto.log"));
    // The local stack (seeding) talks to moto directly; the functions go through the proxy.
    // SAFETY: no other thread exists yet.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", &moto.url);
        std::env::set_var("AWS_REGION", REGION);
        std::env::set_var("AWS_ACCESS_KEY_ID", "bench");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "bench");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio");
    let code = rt.block_on(run(a, &moto.url, &log_dir));
    drop(rt);
    drop(moto);
    std::process::exit(code);
}

async fn run(a: Args, moto_url: &str, log_dir: &FsPath) -> i32 {
    let (proxy, proxy_addr) = start_proxy(moto_url).await;
    // The functions under test are the release binaries: the stack's own issuer leaves the
    // stream to them.
    let stack = match LocalStack::start(LocalConfig { consume_stream: false, ..LocalConfig::isolated() }).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("local stack: {e}");
            return 1;
        }
    };
    let c = ContractClient::local(stack.url());
    let merchant = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    if let Err(e) = seed_merchant(&c, &merchant).await {
        eprintln!("seeding: {e}");
        return 1;
    }
    let binaries = if a.sam_build { Binaries::sam(a.bin_dir.clone(), &a.root.join("template.yaml")) } else { Ok(Binaries::cargo(a.bin_dir.clone())) };
    let (binaries, mail_from) = match (binaries, local_stack::mail::Sender::from_template(&stack.config.template)) {
        (Ok(b), Ok(sender)) => (b, sender.address),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let secret_ids = stack.secret_ids().clone();
    let w = World {
        stack,
        c,
        proxy_url: format!("http://{proxy_addr}"),
        secret_ids,
        merchant,
        claimed: Mutex::new(Vec::new()),
        handed_over: Mutex::new(None),
        moto_url: moto_url.to_owned(),
        mail_from,
        cert_file: !a.system_cert_dir,
    };

    let scenarios: Vec<Scenario> = Scenario::ALL.into_iter().filter(|s| a.only.as_ref().is_none_or(|o| o.iter().any(|n| n == s.binary()))).collect();
    let mut summaries = Vec::new();
    let mut failed = false;
    for s in scenarios {
        let bin = binaries.path(s.binary());
        if !bin.exists() {
            eprintln!("{}: no binary at {} (skipped)", s.name(), bin.display());
            continue;
        }
        let mut runs = Vec::new();
        for r in 0..a.runs {
            match run_once(&w, &proxy, &bin, s, r, a.requests, log_dir, a.wrap.as_deref(), &a.env).await {
                Ok(res) => runs.push(res),
                Err(e) => {
                    eprintln!("{} run {}: {e}", s.name(), r + 1);
                    failed = true;
                    break;
                }
            }
        }
        if !runs.is_empty() {
            let sum = summarize(s, &bin, a.requests, runs);
            eprintln!(
                "{:<16} cold {:>6.2} ms (AWS {:>5.2} ms)  1st {:>7.2} ms  #{} {:>6.2} ms  peak RSS {:>5.1} MB",
                sum.function,
                sum.cold_start_ms_median,
                sum.init_aws_ms_median,
                sum.first_request_ms_median,
                a.requests,
                sum.last_request_ms_median,
                sum.peak_rss_mb_median
            );
            summaries.push(sum);
        }
    }

    if let Some(label) = &a.label {
        println!("\n{label}");
    }
    if !summaries.is_empty() {
    println!(
        "\n| function | size (MB) | cold start (ms) | of which AWS (ms) | 1st request (ms) | request #{} (ms) | peak RSS (MB) | AWS calls: init | AWS calls: 1st request |",
        a.requests
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---|---|");
    for s in &summaries {
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} | {} | {} |",
            s.function,
            s.binary_bytes as f64 / 1_000_000.0,
            s.cold_start_ms_median,
            s.init_aws_ms_median,
            s.first_request_ms_median,
            s.last_request_ms_median,
            s.peak_rss_mb_median,
            calls_text(&s.init_calls),
            calls_text(&s.first_request_calls)
        );
    }
    println!("\nmedians of {} runs × {} invocations; moto and the function on 127.0.0.1; logs in {}", a.runs, a.requests, log_dir.display());
    }
    let mut life = Value::Null;
    if a.lifecycle > 0 {
        match lifecycle(&w, &proxy, &binaries, a.lifecycle, log_dir, moto_url, a.wrap.as_deref()).await {
            Ok(v) => life = v,
            Err(e) => {
                eprintln!("lifecycle: {e}");
                failed = true;
            }
        }
    }
    let mut load = Value::Null;
    if a.webhook_load {
        match webhook_load::run(&w, &proxy, &binaries, a.concurrency, a.load_runs, log_dir, moto_url, a.wrap.as_deref()).await {
            Ok(v) => load = v,
            Err(e) => {
                eprintln!("webhook load: {e}");
                failed = true;
            }
        }
    }
    if let Some(path) = a.json {
        let out = json!({"runs": a.runs, "requests": a.requests, "functions": summaries, "lifecycle": life, "webhook_load": load});
        if let Err(e) = std::fs::write(&path, serde_json::to_string_pretty(&out).unwrap_or_default()) {
            eprintln!("cannot write {}: {e}", path.display());
        }
    }
    if failed { 1 } else { 0 }
}

async fn seed_merchant(c: &ContractClient, m: &str) -> Result<(), String> {
    let order = c.post(&format!("/v1/merchants/{m}/plan/checkout"), &checkout_body(12, "atm", false)).await;
    if order.status != 201 {
        return Err(format!("checkout: {} {}", order.status, order.body));
    }
    let id = order.body["order_id"].as_str().unwrap_or_default().to_owned();
    let paid_at = (chrono::Utc::now() - chrono::Duration::days(3)).to_rfc3339();
    let paid = c.notify(&json!({"order_id": id, "status": "paid", "paid_at": paid_at})).await;
    if paid.status != 200 {
        return Err(format!("payment: {} {}", paid.status, paid.body));
    }
    let settings = json!({
        "enabled": true, "provider": "wixtar", "show_at_checkout": true, "issue_on": ["shipment"],
        "credentials": {"ubn": "04595257", "store_code": "S001", "pos_code": "POS-01", "pid": "PID-000123",
                        "rid": "Bench-RID-7f3a91", "pname": "小明商行 POS", "aes_key": "9a8b7c6d5e4f30211203f4e5d6c7b8a9"}
    });
    let saved = c.platform(reqwest::Method::PUT, &format!("/v1/merchants/{m}/invoice-settings"), Some(&settings), None).await;
    if saved.status != 200 {
        return Err(format!("settings: {} {}", saved.status, saved.body));
    }
    let view = c.get(&format!("/v1/merchants/{m}/plan")).await;
    if view.body["status"] != "active" {
        return Err(format!("plan is {} after seeding", view.body["status"]));
    }
    Ok(())
}
