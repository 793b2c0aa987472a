//! The local stack: every function's handler mounted on one HTTP server on 127.0.0.1, talking
//! to moto through the real AWS SDK clients, with the Wixtar and payment-gateway simulators,
//! routes and resources taken from template.yaml.

pub mod bootstrap;
pub mod client;
pub mod demo;
pub mod events;
pub mod template;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use einvoice_adapters::api::{ApiError, ApiRequest, ApiResponse, HttpHandler, MAX_BODY_BYTES};
use einvoice_adapters::events::EventBridgePublisher;
use einvoice_adapters::payment::HttpPaymentGateway;
use einvoice_adapters::secret::Secret;
use einvoice_adapters::store::Store;
use einvoice_adapters::wixtar::HttpWixtarClient;
use einvoice_domain::FixedClock;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::events::LocalPublisher;
use crate::template::{HttpRoute, Template};

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
    server: JoinHandle<()>,
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        self.server.abort();
    }
}

struct Mounted {
    routes: Vec<HttpRoute>,
    handlers: HashMap<String, Arc<dyn HttpHandler>>,
    publisher: Arc<LocalPublisher>,
    clock: Arc<FixedClock>,
}

impl LocalStack {
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn store(&self) -> Store {
        Store::new(aws_sdk_dynamodb::Client::new(&self.sdk), &self.config.table_name)
    }

    /// Creates the resources in moto (`AWS_ENDPOINT_URL`), starts the simulators and serves.
    pub async fn start(config: LocalConfig) -> Result<Self, String> {
        let template = Template::load(&config.template)?;
        let sdk = einvoice_adapters::aws::sdk_config().await;
        bootstrap::create_table(&sdk, &config.table_name, &template.table).await?;
        bootstrap::create_event_bus(&sdk, &config.event_bus_name).await?;
        let platform_secret_id =
            bootstrap::put_secret(&sdk, &format!("{}/platform-signing", config.table_name), &config.platform_secret).await?;
        let payment_secret_id =
            bootstrap::put_secret(&sdk, &format!("{}/payment-signing", config.table_name), &config.payment_secret).await?;

        let wixtar = simulators::serve(simulators::wixtar::router(), config.wixtar_port).await.map_err(|e| e.to_string())?;
        let payment = simulators::serve(simulators::payment::router(), config.payment_port).await.map_err(|e| e.to_string())?;

        // Secrets are read back from Secrets Manager, as each Lambda does at cold start.
        let secrets_client = aws_sdk_secretsmanager::Client::new(&sdk);
        let read = |id: String| {
            let client = secrets_client.clone();
            async move { einvoice_adapters::aws::read_secret(&client, &id).await }
        };
        let platform: Secret = read(platform_secret_id).await?;
        let payment_secret: Secret = read(payment_secret_id).await?;

        let clock = Arc::new(FixedClock::default());
        let publisher = Arc::new(LocalPublisher::new(EventBridgePublisher::new(
            aws_sdk_eventbridge::Client::new(&sdk),
            &config.event_bus_name,
        )));
        let store = Store::new(aws_sdk_dynamodb::Client::new(&sdk), &config.table_name);

        let plan_config = plan_checkout::Config {
            table_name: config.table_name.clone(),
            event_bus_name: config.event_bus_name.clone(),
            payment_gateway_url: payment.url(),
            wixtar_api_url: wixtar.url(),
            plan_catalogue: einvoice_adapters::config::plan_catalogue(&config.plan_catalogue).map_err(|e| e.to_string())?,
            wixtar_contact: Default::default(),
            platform_secret_id: String::new(),
            payment_secret_id: String::new(),
        };
        let plan_checkout = plan_checkout::PlanCheckout::new(
            &plan_config,
            plan_checkout::SigningSecrets { platform, payment: payment_secret },
            plan_checkout::Dependencies {
                store,
                gateway: Arc::new(HttpPaymentGateway::new(payment.url())),
                wixtar: Arc::new(HttpWixtarClient::new(wixtar.url())),
                events: publisher.clone(),
                clock: clock.clone(),
            },
        );
        let mut handlers: HashMap<String, Arc<dyn HttpHandler>> = HashMap::new();
        handlers.insert("PlanCheckoutFunction".into(), Arc::new(plan_checkout));
        for route in &template.routes {
            if !handlers.contains_key(&route.function) {
                return Err(format!("template.yaml routes {} {} to {}, which the local stack does not mount", route.method, route.path, route.function));
            }
        }

        let mounted = Arc::new(Mounted { routes: template.routes, handlers, publisher: publisher.clone(), clock: clock.clone() });
        let router = Router::new()
            .route("/_local/events", get(local_events))
            .route("/_local/clock", post(set_clock))
            .fallback(dispatch)
            .with_state(mounted);
        let listener = TcpListener::bind(("127.0.0.1", config.port)).await.map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                eprintln!("local stack stopped: {e}");
            }
        });
        Ok(Self { addr, config, sdk, clock, publisher, wixtar, payment, server })
    }
}

fn to_response(resp: ApiResponse) -> Response {
    Response::builder()
        .status(resp.status)
        .header("content-type", "application/json; charset=utf-8")
        .body(Body::from(resp.body))
        .expect("valid response")
}

/// Routes a request to the function the template routes it to, as API Gateway would.
async fn dispatch(State(mounted): State<Arc<Mounted>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    // Read one byte past the limit so the handler sees the body is too large and answers 413.
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES + 1).await {
        Ok(b) => b,
        Err(_) => bytes::Bytes::from(vec![0u8; MAX_BODY_BYTES + 1]),
    };
    let api = ApiRequest {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        headers: parts.headers,
        body,
        request_id: uuid::Uuid::new_v4().to_string(),
    };
    let same_path: Vec<&HttpRoute> = mounted.routes.iter().filter(|r| r.matches_path(&api.path)).collect();
    let Some(route) = same_path.iter().find(|r| r.method == api.method.as_str()) else {
        let error = if same_path.is_empty() { ApiError::route_not_found(&api) } else { ApiError::method_not_allowed(&api) };
        return to_response(error.into_response());
    };
    let handler = mounted.handlers[&route.function].clone();
    to_response(handler.handle(api).await)
}

async fn local_events(State(mounted): State<Arc<Mounted>>) -> impl IntoResponse {
    axum::Json(json!(mounted.publisher.published()))
}

#[derive(serde::Deserialize)]
struct ClockRequest {
    now: Option<chrono::DateTime<chrono::Utc>>,
}

/// `POST /_local/clock {"now": "<RFC 3339>" | null}`: the handlers' injected clock.
async fn set_clock(State(mounted): State<Arc<Mounted>>, axum::Json(req): axum::Json<ClockRequest>) -> impl IntoResponse {
    mounted.clock.set(req.now);
    axum::Json(json!({"now": req.now}))
}
