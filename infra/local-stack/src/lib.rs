//! The local stack: every function's handler mounted on one HTTP server on 127.0.0.1, talking
//! to moto through the real AWS SDK clients, with the Wixtar and payment-gateway simulators,
//! routes, rules, schedules and the stream's event source mapping taken from template.yaml.
//! Handlers run as Lambda runs them: each invocation in its own task, to completion even when
//! the HTTP client has gone, and a crash (an armed crash point) ends only that invocation —
//! an HTTP call then answers 502, a stream batch or an event follows its retry policy.

pub mod bootstrap;
pub mod calls;
pub mod client;
pub mod demo;
pub mod events;
pub mod mail;
pub mod soak;
pub mod stream;
pub mod template;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use einvoice_adapters::api::{ApiError, ApiRequest, ApiResponse, HttpHandler, MAX_BODY_BYTES};
use einvoice_adapters::crash::{self, CrashPoints, Crashed};
use einvoice_adapters::crypto::MasterKeys;
use einvoice_adapters::events::{EventBridgePublisher, EventHandler, EventPublisher};
use einvoice_adapters::mail::{Mailer, SesMailer};
use einvoice_adapters::schedule::{ScheduledEvent, ScheduledJob, run_logged};
use einvoice_adapters::store::Store;
use einvoice_adapters::stream::{StreamHandler, StreamSettled};
use einvoice_adapters::wiring::{self, Edges, Function};
use einvoice_domain::{Clock, FixedClock};
use invoice_issuer::reconciler::InvoiceReconciler;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::calls::AwsCalls;
use crate::events::{Filter, LocalPublisher, newest};
use crate::stream::StreamPoller;
use crate::template::{EnvValue, EventRule, HttpRoute, ScheduledFunction, Template};

/// What differs between one local stack and another.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// 0 picks a free port.
    pub port: u16,
    pub table_name: String,
    pub event_bus_name: String,
    pub platform_secret: String,
    pub payment_secret: String,
    pub plan_catalogue: String,
    /// Ports for the in-process simulators (0 = free port).
    pub wixtar_port: u16,
    pub payment_port: u16,
    pub template: PathBuf,
    /// order-webhook waits for the stream to deliver its claim and answers with the order read
    /// again (it then shows the issuer's result); off, it makes exactly the calls it makes in
    /// AWS and answers `issuing`.
    pub webhook_read_back: bool,
    /// The mounted invoice-issuer consumes the table's stream (off: something else, e.g. the
    /// benchmark's release binaries, is handed the records).
    pub consume_stream: bool,
}

impl LocalConfig {
    /// A stack with its own table, bus and secrets, on free ports: what each test uses.
    pub fn isolated() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Self {
            port: 0,
            table_name: format!("t-{}", &id[..12]),
            event_bus_name: format!("b-{}", &id[..12]),
            platform_secret: client::LOCAL_PLATFORM_SECRET.into(),
            payment_secret: client::LOCAL_PAYMENT_SECRET.into(),
            plan_catalogue: DEFAULT_PLAN_CATALOGUE.into(),
            wixtar_port: 0,
            payment_port: 0,
            template: default_template_path(),
            webhook_read_back: true,
            consume_stream: true,
        }
    }
}

pub const DEFAULT_PLAN_CATALOGUE: &str = r#"{"3":1800,"6":3300,"12":6000,"24":10800}"#;

pub fn default_template_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml")
}

/// A running local stack. Dropping it stops its server and simulators.
pub struct LocalStack {
    pub addr: SocketAddr,
    pub config: LocalConfig,
    pub sdk: aws_config::SdkConfig,
    pub clock: Arc<FixedClock>,
    pub publisher: Arc<LocalPublisher>,
    pub wixtar: simulators::Running,
    pub payment: simulators::Running,
    /// The AWS calls the functions made (DynamoDB, EventBridge), by function.
    pub aws_calls: Arc<AwsCalls>,
    /// The table's stream as the template's event source mapping reads it.
    pub stream: Option<Arc<StreamPoller>>,
    /// The functions' crash points (`/_local/crashes`).
    pub crash_points: Arc<CrashPoints>,
    /// The mails SES accepted for this stack's notifications (`/_local/mail`).
    pub mailbox: Arc<mail::Mailbox>,
    functions: Functions,
    mounted: Arc<Mounted>,
    server: JoinHandle<()>,
    stream_reader: Option<JoinHandle<()>>,
    retry_runner: JoinHandle<()>,
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        self.server.abort();
        self.retry_runner.abort();
        if let Some(reader) = &self.stream_reader {
            reader.abort();
        }
    }
}

struct Mounted {
    routes: Vec<HttpRoute>,
    schedules: Vec<ScheduledFunction>,
    event_rules: Vec<EventRule>,
    handlers: RwLock<Handlers>,
    publisher: Arc<LocalPublisher>,
    stream: Option<Arc<StreamPoller>>,
    crash_points: Arc<CrashPoints>,
    clock: Arc<FixedClock>,
}

impl LocalStack {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The stack's table (its calls are counted in [`LocalStack::aws_calls`]).
    pub fn store(&self) -> Store {
        self.functions.store()
    }

    /// A new invoice-issuer instance beside the mounted one (another Lambda instance: its own
    /// number blocks), its AWS calls counted. Run its handler inside
    /// [`calls::as_function`] to attribute them.
    pub async fn invoice_issuer_instance(&self) -> Result<invoice_issuer::InvoiceIssuer, String> {
        let vars = self.functions.vars("InvoiceIssuerFunction")?;
        wiring::build::<invoice_issuer::InvoiceIssuer>(&vars, &self.functions.edges).await.map_err(|e| e.to_string())
    }

    /// Creates the resources in moto (`AWS_ENDPOINT_URL`), starts the simulators and serves.
    pub async fn start(config: LocalConfig) -> Result<Self, String> {
        let template = Template::load(&config.template)?;
        let sdk = einvoice_adapters::aws::sdk_config().await;
        bootstrap::create_table(&sdk, &config.table_name, &template.table).await?;
        bootstrap::create_event_bus(&sdk, &config.event_bus_name).await?;
        let sender = mail::Sender::from_template(&config.template)?;
        sender.verify(&sdk).await?;
        let secret_name = |what: &str| format!("{}/{what}", config.table_name);
        let secret_ids = SecretIds {
            platform: bootstrap::put_secret(&sdk, &secret_name("platform-signing"), &config.platform_secret).await?,
            payment: bootstrap::put_secret(&sdk, &secret_name("payment-signing"), &config.payment_secret).await?,
            // Kept across restarts against the same moto, so stored credentials stay readable.
            master_key: bootstrap::create_secret_if_missing(&sdk, &secret_name("credential-master-key"), &MasterKeys::generate_json("k1")).await?,
        };

        let wixtar = simulators::serve(simulators::wixtar::router(), config.wixtar_port).await.map_err(|e| e.to_string())?;
        let payment = simulators::serve(simulators::payment::router(), config.payment_port).await.map_err(|e| e.to_string())?;

        let clock = Arc::new(FixedClock::default());
        let aws_calls = Arc::new(AwsCalls::default());
        let mappings = if config.consume_stream { template.stream_mappings.clone() } else { Vec::new() };
        let stream = StreamPoller::new(&sdk, &config.table_name, mappings, aws_calls.clone()).await?;
        let crash_points = Arc::new(CrashPoints::default());
        let mailbox = Arc::new(mail::Mailbox::default());
        if let Some(stream) = &stream {
            stream.observe(mailbox.clone());
        }
        let bus = aws_sdk_eventbridge::config::Builder::from(&sdk).interceptor(aws_calls.interceptor()).build();
        let publisher =
            Arc::new(LocalPublisher::new(EventBridgePublisher::new(aws_sdk_eventbridge::Client::from_conf(bus), &config.event_bus_name), clock.clone()));
        let edges = LocalEdges {
            sdk: sdk.clone(),
            aws_calls: aws_calls.clone(),
            publisher: publisher.clone(),
            clock: clock.clone(),
            crash_points: crash_points.clone(),
            mailbox: mailbox.clone(),
            read_back: stream.clone().filter(|_| config.webhook_read_back),
        };
        let functions = Functions {
            edges,
            template: template.clone(),
            config: config.clone(),
            secret_ids,
            wixtar_url: wixtar.url(),
            payment_url: payment.url(),
            mail_from: sender.address.clone(),
        };
        let handlers = functions.cold_start().await?;
        if let Some(stream) = &stream {
            for mapping in stream.mappings() {
                if !handlers.streams.contains_key(&mapping.function) {
                    return Err(format!("template.yaml maps the table's stream to {}, which the local stack does not mount", mapping.function));
                }
            }
            stream.route(handlers.streams.clone());
        }
        for route in &template.routes {
            if !handlers.http.contains_key(&route.function) {
                return Err(format!("template.yaml routes {} {} to {}, which the local stack does not mount", route.method, route.path, route.function));
            }
        }
        publisher.route(template.event_rules.clone(), handlers.events.clone());
        for rule in &template.event_rules {
            if !handlers.events.contains_key(&rule.function) {
                return Err(format!("template.yaml routes events to {}, which the local stack does not mount", rule.function));
            }
        }
        for schedule in &template.schedules {
            if !handlers.jobs.contains_key(&schedule.function) {
                return Err(format!("template.yaml schedules {}, which the local stack does not mount", schedule.function));
            }
        }

        let mounted = Arc::new(Mounted {
            routes: template.routes,
            schedules: template.schedules,
            event_rules: template.event_rules,
            handlers: RwLock::new(handlers),
            publisher: publisher.clone(),
            stream: stream.clone(),
            crash_points: crash_points.clone(),
            clock: clock.clone(),
        });
        let router = Router::new()
            .route("/_local/events", get(local_events))
            .route("/_local/crashes", get(crash_points_armed).post(arm_crash_point))
            .route("/_local/stream", get(stream_stats))
            .route("/_local/clock", post(set_clock))
            .route("/_local/schedules/{name}", post(fire_schedule))
            .route("/_local/dead-letters", get(dead_letters))
            .route("/_local/dead-letters/redrive", post(redrive))
            .fallback(dispatch)
            .with_state(mounted.clone())
            .merge(mail::router(mailbox.clone(), stream.clone()));
        let listener = TcpListener::bind(("127.0.0.1", config.port)).await.map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                eprintln!("local stack stopped: {e}");
            }
        });
        let stream_reader = stream.as_ref().map(StreamPoller::spawn);
        // Failed asynchronous invocations are retried when due on the handlers' clock.
        let retries = publisher.clone();
        let retry_runner = tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                retries.run_due_retries().await;
            }
        });
        Ok(Self {
            addr,
            config,
            sdk,
            clock,
            publisher,
            wixtar,
            payment,
            aws_calls,
            stream,
            crash_points,
            mailbox,
            functions,
            mounted,
            server,
            stream_reader,
            retry_runner,
        })
    }

    /// Replaces every function with a fresh instance that reads its secrets again, as a new
    /// Lambda execution environment would (e.g. after a master-key rotation).
    pub async fn cold_start(&self) -> Result<(), String> {
        let handlers = self.functions.cold_start().await?;
        self.publisher.route(self.mounted.event_rules.clone(), handlers.events.clone());
        if let Some(stream) = &self.stream {
            stream.route(handlers.streams.clone());
        }
        *self.mounted.handlers.write().unwrap_or_else(|e| e.into_inner()) = handlers;
        Ok(())
    }

    /// Waits until the table's stream has delivered every write made so far.
    pub async fn settled(&self) {
        if let Some(stream) = &self.stream {
            stream.settled().await;
        }
    }

    /// The Secrets Manager ids the functions read at cold start.
    pub fn secret_ids(&self) -> &SecretIds {
        &self.functions.secret_ids
    }
}

/// Secrets Manager ids of the stack's secrets.
#[derive(Debug, Clone)]
pub struct SecretIds {
    pub platform: String,
    pub payment: String,
    pub master_key: String,
}

/// Every function's handler, keyed by its logical id in template.yaml.
struct Handlers {
    http: HashMap<String, Arc<dyn HttpHandler>>,
    jobs: HashMap<String, Arc<dyn ScheduledJob>>,
    events: HashMap<String, Arc<dyn EventHandler>>,
    streams: HashMap<String, Arc<dyn StreamHandler>>,
}

/// Settings the local stack gives every function that has them, over template.yaml's values:
/// short pauses, as the tests exercise retries, not wall-clock time.
const LOCAL_OVERRIDES: [(&str, &str); 2] = [("UPLOAD_BASE_DELAY_MS", "20"), ("MAIL_SEND_BASE_DELAY_MS", "20")];

/// What every function is built from: template.yaml's environment for it, resolved to this
/// stack's resources, and the stack's edges. Each handler is built by its crate's own
/// [`Function`] constructors, as its Lambda's cold start builds it.
struct Functions {
    edges: LocalEdges,
    template: Template,
    config: LocalConfig,
    secret_ids: SecretIds,
    wixtar_url: String,
    payment_url: String,
    mail_from: String,
}

/// The stack's edges: AWS clients on moto whose calls are counted, the bus that records and
/// routes events, the handlers' clock, the crash points, and the stream to wait on.
#[derive(Clone)]
struct LocalEdges {
    sdk: aws_config::SdkConfig,
    aws_calls: Arc<AwsCalls>,
    publisher: Arc<LocalPublisher>,
    clock: Arc<FixedClock>,
    crash_points: Arc<CrashPoints>,
    mailbox: Arc<mail::Mailbox>,
    /// The stream, when order-webhook should wait for its hand-off (`webhook_read_back`).
    read_back: Option<Arc<StreamPoller>>,
}

impl Edges for LocalEdges {
    fn sdk(&self) -> &aws_config::SdkConfig {
        &self.sdk
    }

    fn store(&self, table_name: &str) -> Store {
        let dynamodb = aws_sdk_dynamodb::config::Builder::from(&self.sdk).interceptor(self.aws_calls.interceptor()).build();
        Store::new(aws_sdk_dynamodb::Client::from_conf(dynamodb), table_name)
    }

    fn events(&self, _bus_name: &str) -> Arc<dyn EventPublisher> {
        self.publisher.clone()
    }

    /// SES (moto) with the mailbox behind it: `GET /_local/mail` lists what SES accepted.
    fn mailer(&self, from: &str) -> Arc<dyn Mailer> {
        Arc::new(mail::Recorded { ses: SesMailer::new(SesMailer::client(&self.sdk), from), mailbox: self.mailbox.clone() })
    }

    fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    fn crash_points(&self) -> Arc<CrashPoints> {
        self.crash_points.clone()
    }

    fn stream_settled(&self) -> Option<Arc<dyn StreamSettled>> {
        self.read_back.clone().map(|s| s as Arc<dyn StreamSettled>)
    }
}

impl Functions {
    /// A DynamoDB store whose calls are counted.
    fn store(&self) -> Store {
        self.edges.store(&self.config.table_name)
    }

    /// The function's environment: template.yaml's variables with each `!Ref` resolved to this
    /// stack's table, bus, secrets, simulators and parameter defaults, then [`LOCAL_OVERRIDES`].
    fn vars(&self, function: &str) -> Result<BTreeMap<String, String>, String> {
        let env = self.template.environments.get(function).ok_or_else(|| format!("template.yaml declares no function {function}"))?;
        let resolve = |name: &str| -> Option<String> {
            Some(match name {
                "StateTable" => self.config.table_name.clone(),
                "EventBus" => self.config.event_bus_name.clone(),
                "PlatformSigningSecret" => self.secret_ids.platform.clone(),
                "PaymentSigningSecret" => self.secret_ids.payment.clone(),
                "CredentialMasterKeySecret" => self.secret_ids.master_key.clone(),
                "WixtarApiUrl" => self.wixtar_url.clone(),
                "PaymentGatewayUrl" => self.payment_url.clone(),
                "PlanCatalogue" => self.config.plan_catalogue.clone(),
                "MailFromAddress" => self.mail_from.clone(),
                other => self.template.parameter_defaults.get(other)?.clone(),
            })
        };
        let mut vars = BTreeMap::new();
        for (name, value) in env {
            let value = match value {
                EnvValue::Literal(v) => v.clone(),
                EnvValue::Ref(target) => {
                    resolve(target).ok_or_else(|| format!("{function}: {name} refers to {target}, which the local stack does not provide"))?
                }
            };
            vars.insert(name.clone(), value);
        }
        for (name, value) in LOCAL_OVERRIDES {
            if vars.contains_key(name) {
                vars.insert(name.into(), value.into());
            }
        }
        Ok(vars)
    }

    /// One function as its Lambda's cold start builds it (a new instance each call: its own
    /// secrets read, its own number blocks).
    async fn function<F: Function>(&self, logical_id: &str) -> Result<Arc<F>, String> {
        wiring::build::<F>(&self.vars(logical_id)?, &self.edges).await.map(Arc::new).map_err(|e| format!("{logical_id}: {e}"))
    }

    /// Builds each function's handler, keyed by its logical id in template.yaml.
    async fn cold_start(&self) -> Result<Handlers, String> {
        let mut http: HashMap<String, Arc<dyn HttpHandler>> = HashMap::new();
        http.insert("PlanCheckoutFunction".into(), self.function::<plan_checkout::PlanCheckout>("PlanCheckoutFunction").await?);
        http.insert("CredentialSaveFunction".into(), self.function::<credential_save::CredentialSave>("CredentialSaveFunction").await?);
        http.insert("OrderWebhookFunction".into(), self.function::<order_webhook::OrderWebhook>("OrderWebhookFunction").await?);
        let mut events: HashMap<String, Arc<dyn EventHandler>> = HashMap::new();
        events.insert("NotifierFunction".into(), self.function::<notifier::Notifier>("NotifierFunction").await?);
        let mut streams: HashMap<String, Arc<dyn StreamHandler>> = HashMap::new();
        streams.insert("InvoiceIssuerFunction".into(), self.function::<invoice_issuer::InvoiceIssuer>("InvoiceIssuerFunction").await?);
        let mut jobs: HashMap<String, Arc<dyn ScheduledJob>> = HashMap::new();
        // The reconciler is its own Lambda: its own issuer instance (own number blocks).
        jobs.insert("InvoiceReconcilerFunction".into(), self.function::<InvoiceReconciler>("InvoiceReconcilerFunction").await?);
        jobs.insert("RenewalCutoffFunction".into(), self.function::<renewal_jobs::RenewalCutoff>("RenewalCutoffFunction").await?);
        jobs.insert("RenewalChargeFunction".into(), self.function::<renewal_jobs::RenewalCharge>("RenewalChargeFunction").await?);
        jobs.insert("PeriodCloseFunction".into(), self.function::<period_close::PeriodClose>("PeriodCloseFunction").await?);
        jobs.insert("InvoicePrizesFunction".into(), self.function::<invoice_prizes::InvoicePrizes>("InvoicePrizesFunction").await?);
        Ok(Handlers { http, jobs, events, streams })
    }
}

fn to_response(resp: ApiResponse) -> Response {
    Response::builder().status(resp.status).header("content-type", resp.content_type).body(Body::from(resp.body)).expect("valid response")
}

/// Routes a request to the function the template routes it to, as API Gateway would.
async fn dispatch(State(mounted): State<Arc<Mounted>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    // Read one byte past the limit so the handler sees the body is too large and answers 413.
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES + 1).await {
        Ok(b) => b,
        Err(_) => bytes::Bytes::from(vec![0u8; MAX_BODY_BYTES + 1]),
    };
    let query = parts.uri.query().unwrap_or_default().to_owned();
    let api = ApiRequest {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query,
        headers: parts.headers,
        body,
        request_id: uuid::Uuid::new_v4().to_string(),
    };
    let same_path: Vec<&HttpRoute> = mounted.routes.iter().filter(|r| r.matches_path(&api.path)).collect();
    let Some(route) = same_path.iter().find(|r| r.method == api.method.as_str()) else {
        let error = if same_path.is_empty() { ApiError::route_not_found(&api) } else { ApiError::method_not_allowed(&api) };
        return to_response(error.into_response());
    };
    let handler = mounted.handlers.read().unwrap_or_else(|e| e.into_inner()).http[&route.function].clone();
    // Its own task: the invocation runs to completion even if the client disconnects.
    let invocation = calls::invoke(&route.function, async move { handler.handle(api).await });
    match invocation.await {
        Ok(answer) => to_response(answer),
        Err(e) => to_response(ApiError::new(http::StatusCode::BAD_GATEWAY, "function_crashed", crashed(&route.function, e)).into_response()),
    }
}

/// What ended an invocation that did not return: an armed crash point, or a panic.
pub fn crashed(function: &str, e: tokio::task::JoinError) -> String {
    let Ok(payload) = e.try_into_panic() else { return format!("{function} was cancelled") };
    match (payload.downcast_ref::<Crashed>(), payload.downcast_ref::<&str>(), payload.downcast_ref::<String>()) {
        (Some(Crashed(point)), _, _) => format!("{function} crashed at {point}"),
        (_, Some(message), _) => format!("{function} panicked: {message}"),
        (_, _, Some(message)) => format!("{function} panicked: {message}"),
        _ => format!("{function} panicked"),
    }
}

/// `POST /_local/schedules/{name}` `{"time": "<RFC 3339>"}`: fires a scheduled function the way
/// its EventBridge schedule would (an omitted `time` means the stack's clock), and answers the
/// job's summary — 200, or 500 with the contract's error shape when the run failed.
async fn fire_schedule(State(mounted): State<Arc<Mounted>>, Path(name): Path<String>, body: bytes::Bytes) -> Response {
    let Some(schedule) = mounted.schedules.iter().find(|s| s.name == name) else {
        return to_response(ApiError::not_found("schedule_not_found", format!("no scheduled function {name}")).into_response());
    };
    let time = match serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_default().get("time") {
        None | Some(serde_json::Value::Null) => Ok(einvoice_domain::Clock::now(mounted.clock.as_ref())),
        Some(t) => serde_json::from_value::<chrono::DateTime<chrono::Utc>>(t.clone()).map_err(|e| e.to_string()),
    };
    let time = match time {
        Ok(t) => t,
        Err(e) => {
            return to_response(ApiError::new(http::StatusCode::BAD_REQUEST, "malformed_json", format!("time: {e}")).into_response());
        }
    };
    let job = mounted.handlers.read().unwrap_or_else(|e| e.into_inner()).jobs[&schedule.function].clone();
    let event = ScheduledEvent { time, id: Some(uuid::Uuid::new_v4().to_string()) };
    let run = calls::invoke(&schedule.function, async move { run_logged(job.as_ref(), &event, "local").await });
    match run.await {
        Ok(Ok(summary)) => to_response(ApiResponse::ok(&summary)),
        Ok(Err(e)) => to_response(ApiError::new(http::StatusCode::INTERNAL_SERVER_ERROR, "job_failed", e.to_string()).into_response()),
        Err(e) => to_response(ApiError::new(http::StatusCode::BAD_GATEWAY, "function_crashed", crashed(&schedule.function, e)).into_response()),
    }
}

/// `GET /_local/dead-letters`: what failed for good — events a function failed to handle (a
/// rule's DLQ) and stream batches that failed every retry (the mapping's on-failure
/// destination), each `{"function", "event" | "records", "error"}`; `?merchant_id=` (the
/// event's, or any record's), `?detail_type=` (events only) and `?limit=` (the newest) filter.
async fn dead_letters(State(mounted): State<Arc<Mounted>>, LocalQuery(filter): LocalQuery<Filter>) -> impl IntoResponse {
    let events = mounted.publisher.dead_letters_matching(&filter);
    let batches: Vec<stream::FailedBatch> =
        mounted.stream.iter().flat_map(|s| s.failed_batches()).filter(|b| filter.passes(None, b.records.iter().map(|r| r.string("merchant_id")))).collect();
    let letters: Vec<Letter> = events.into_iter().map(Letter::Event).chain(batches.into_iter().map(Letter::Batch)).collect();
    axum::Json(newest(letters, filter.limit))
}

/// One entry of `GET /_local/dead-letters`.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Letter {
    Event(events::DeadLetter),
    Batch(stream::FailedBatch),
}

/// A `/_local` endpoint's query string; one it does not take (an unknown name, a limit that is
/// not a number) answers 400 `invalid_query` in the contract's error shape.
pub struct LocalQuery<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for LocalQuery<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut http::request::Parts, state: &S) -> Result<Self, Response> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(query)) => Ok(Self(query)),
            Err(e) => Err(to_response(ApiError::new(http::StatusCode::BAD_REQUEST, "invalid_query", e.body_text()).into_response())),
        }
    }
}

/// `POST /_local/dead-letters/redrive`: delivers every dead letter again.
async fn redrive(State(mounted): State<Arc<Mounted>>) -> impl IntoResponse {
    let (mut redriven, mut failing) = mounted.publisher.redrive().await;
    if let Some(stream) = &mounted.stream {
        let (ok, still) = stream.redrive().await;
        (redriven, failing) = (redriven + ok, failing + still);
    }
    axum::Json(json!({"redriven": redriven, "still_failing": failing}))
}

/// `GET /_local/crashes`: the functions' crash points and how many passes each is armed for.
async fn crash_points_armed(State(mounted): State<Arc<Mounted>>) -> impl IntoResponse {
    let armed = mounted.crash_points.armed();
    let points: Vec<serde_json::Value> =
        crash::ALL.iter().map(|p| json!({"point": p.name, "after": p.after, "armed": armed.get(p.name).copied().unwrap_or(0)})).collect();
    axum::Json(json!(points))
}

#[derive(serde::Deserialize)]
struct ArmRequest {
    point: String,
    #[serde(default = "one_crash")]
    count: u32,
}

/// An armed point crashes once unless `count` says otherwise.
fn one_crash() -> u32 {
    1
}

/// `POST /_local/crashes {"point", "count"}`: the next `count` passes through `point` crash
/// (0 disarms); 404 for an unknown point.
async fn arm_crash_point(State(mounted): State<Arc<Mounted>>, body: bytes::Bytes) -> Response {
    let req: ArmRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return to_response(ApiError::new(http::StatusCode::BAD_REQUEST, "malformed_json", e.to_string()).into_response()),
    };
    if !mounted.crash_points.arm(&req.point, req.count) {
        return to_response(
            ApiError::not_found("crash_point_not_found", format!("no crash point {}; GET /_local/crashes lists them", req.point)).into_response(),
        );
    }
    to_response(ApiResponse::ok(&json!({"point": req.point, "armed": req.count})))
}

/// `GET /_local/stream`: what the stream's event source mapping has read and delivered.
async fn stream_stats(State(mounted): State<Arc<Mounted>>) -> impl IntoResponse {
    axum::Json(json!(mounted.stream.as_ref().map(|s| s.stats())))
}

/// `GET /_local/events`: the published events, oldest first; `?merchant_id=`, `?detail_type=`
/// and `?limit=` (the newest) filter.
async fn local_events(State(mounted): State<Arc<Mounted>>, LocalQuery(filter): LocalQuery<Filter>) -> impl IntoResponse {
    axum::Json(mounted.publisher.published_matching(&filter))
}

#[derive(serde::Deserialize)]
struct ClockRequest {
    now: Option<chrono::DateTime<chrono::Utc>>,
}

/// `POST /_local/clock {"now": "<RFC 3339>" | null}`: the handlers' injected clock.
async fn set_clock(State(mounted): State<Arc<Mounted>>, axum::Json(req): axum::Json<ClockRequest>) -> impl IntoResponse {
    mounted.clock.set(req.now);
    // What the new time makes due runs now (as Lambda's retries would have by then).
    let retried = mounted.publisher.run_due_retries().await;
    axum::Json(json!({"now": req.now, "retried": retried}))
}
