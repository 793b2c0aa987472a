//! Unit tests of plan-checkout's decisions (issue 21), over the in-memory ports: the handler is
//! built as `main.rs` builds it, with [`MemoryStore`], [`FakeGateway`], [`FakeWixtar`],
//! [`RecordingBus`] and a [`FixedClock`], and driven with signed [`ApiRequest`]s through
//! [`HttpHandler::handle`]. The end-to-end tests (tests/tests/plan_purchase.rs, renewal.rs,
//! http_contract.rs) keep the wiring: API Gateway, the real SDK and the simulators.

mod auto_renew;
mod checkout;
mod idempotency;
mod payment_callback;
mod plan_view;
mod routes;
mod verify;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use einvoice_adapters::api::{ApiRequest, HttpHandler};
use einvoice_adapters::config::{self, WixtarContact};
use einvoice_adapters::secret::Secret;
use einvoice_adapters::signature::{self, SignedRequest};
use einvoice_adapters::store::{MerchantItems, PlanItem, PlanStore, SettingsStore, contract};
use einvoice_adapters::testing::{FakeGateway, FakeWixtar, MemoryStore, RecordingBus};
use einvoice_domain::FixedClock;
use http::{HeaderMap, HeaderValue, Method};
use serde_json::{Value, json};

use crate::{Config, Dependencies, PlanCheckout, SigningSecrets};

const PLATFORM_SECRET: &str = "unit-platform-secret";
const PAYMENT_SECRET: &str = "unit-payment-secret";

/// An instant from RFC 3339 text.
pub(crate) fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).expect("an RFC 3339 time").to_utc()
}

/// A valid checkout body (the same as the end-to-end tests').
pub(crate) fn checkout_body(months: u32, method: &str, auto_renew: bool) -> Value {
    json!({
        "ubn": "04595257", "months": months, "payment_method": method, "auto_renew": auto_renew,
        "contact": {"name": "王小明", "email": "ming@example.com.tw", "phone": "0912-345-678"},
        "company": {"name": "小明商行有限公司", "ubn": "04595257", "address": "台北市中山區南京東路一段1號", "invoice_email": "ap@example.com.tw"}
    })
}

/// A response: its status and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn code(&self) -> Option<&str> {
        self.body["error"]["code"].as_str()
    }

    /// `(status, error code)`, for one assertion on a refusal.
    pub fn error(&self) -> (u16, Option<&str>) {
        (self.status, self.code())
    }

    pub fn str(&self, field: &str) -> &str {
        self.body[field].as_str().unwrap_or_else(|| panic!("{field} is not a string in {}", self.text))
    }
}

/// The handler over fakes, with the fakes kept for inspection. Clones share everything, so a
/// clone can be moved into a task.
#[derive(Clone)]
pub(crate) struct Shop {
    pub handler: Arc<PlanCheckout>,
    pub store: MemoryStore,
    pub gateway: Arc<FakeGateway>,
    pub wixtar: Arc<FakeWixtar>,
    pub bus: Arc<RecordingBus>,
    pub clock: Arc<FixedClock>,
}

impl Shop {
    /// A shop whose clock says `now` (RFC 3339).
    pub fn at(now: &str) -> Self {
        let (store, gateway, wixtar, bus) = (MemoryStore::new(), Arc::new(FakeGateway::new()), Arc::new(FakeWixtar::new()), Arc::new(RecordingBus::new()));
        let clock = Arc::new(FixedClock::at(at(now)));
        let config = Config {
            table_name: "unit".into(),
            event_bus_name: "unit".into(),
            payment_gateway_url: "http://gateway.invalid".into(),
            wixtar_api_url: "http://wixtar.invalid".into(),
            plan_catalogue: config::plan_catalogue(r#"{"3":1800,"6":3300,"12":6000,"24":10800}"#).expect("catalogue"),
            wixtar_contact: WixtarContact::default(),
            platform_secret_id: "unit-platform".into(),
            payment_secret_id: "unit-payment".into(),
        };
        let secrets = SigningSecrets { platform: Secret::new(PLATFORM_SECRET), payment: Secret::new(PAYMENT_SECRET) };
        let deps = Dependencies { store: Arc::new(store.clone()), gateway: gateway.clone(), wixtar: wixtar.clone(), events: bus.clone(), clock: clock.clone() };
        Self { handler: Arc::new(PlanCheckout::new(&config, secrets, deps)), store, gateway, wixtar, bus, clock }
    }

    pub fn set_now(&self, now: &str) {
        self.clock.set(Some(at(now)));
    }

    /// A request signed now (wall clock, as `api::authenticate` checks) with `secret`.
    pub fn request(method: Method, target: &str, body: Option<&Value>, idempotency_key: Option<&str>, secret: &str) -> ApiRequest {
        let body = body.map(|b| serde_json::to_vec(b).expect("serializes")).unwrap_or_default();
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let header = signature::sign(&Secret::new(secret), Utc::now().timestamp(), &SignedRequest::new(method.as_str(), target, &body));
        let mut headers = HeaderMap::new();
        headers.insert(signature::HEADER, HeaderValue::from_str(&header).expect("ascii"));
        if let Some(key) = idempotency_key {
            headers.insert("idempotency-key", HeaderValue::from_str(key).expect("ascii"));
        }
        ApiRequest { method, path: path.into(), query: query.into(), headers, body: body.into(), request_id: "unit".into() }
    }

    pub async fn handle(&self, req: ApiRequest) -> Reply {
        let response = self.handler.handle(req).await;
        let body = serde_json::from_str(&response.body).unwrap_or(Value::Null);
        Reply { status: response.status.as_u16(), body, text: response.body }
    }

    /// A request from the platform (signed with its secret).
    pub async fn platform(&self, method: Method, target: &str, body: Option<&Value>, idempotency_key: Option<&str>) -> Reply {
        self.handle(Self::request(method, target, body, idempotency_key, PLATFORM_SECRET)).await
    }

    pub async fn verify(&self, merchant: &str, body: &Value) -> Reply {
        self.platform(Method::POST, &format!("/v1/merchants/{merchant}/plan/verify"), Some(body), None).await
    }

    pub async fn checkout(&self, merchant: &str, body: &Value) -> Reply {
        self.checkout_with_key(merchant, body, None).await
    }

    pub async fn checkout_with_key(&self, merchant: &str, body: &Value, key: Option<&str>) -> Reply {
        self.platform(Method::POST, &format!("/v1/merchants/{merchant}/plan/checkout"), Some(body), key).await
    }

    /// The payment gateway's callback (signed with its secret).
    pub async fn notify(&self, body: &Value) -> Reply {
        self.handle(Self::request(Method::POST, "/v1/payments/notify", Some(body), None, PAYMENT_SECRET)).await
    }

    pub async fn pay(&self, order_id: &str, paid_at: &str) -> Reply {
        self.notify(&json!({"order_id": order_id, "status": "paid", "paid_at": paid_at})).await
    }

    /// Opens an order (201 expected) and returns its id.
    pub async fn open(&self, merchant: &str, months: u32, method: &str, auto_renew: bool) -> String {
        let order = self.checkout(merchant, &checkout_body(months, method, auto_renew)).await;
        assert_eq!(order.status, 201, "{}", order.text);
        order.str("order_id").to_owned()
    }

    /// An ATM checkout paid at `paid_at`; returns the order id.
    pub async fn buy(&self, merchant: &str, months: u32, paid_at: &str) -> String {
        let id = self.open(merchant, months, "atm", false).await;
        let paid = self.pay(&id, paid_at).await;
        assert_eq!(paid.status, 200, "{}", paid.text);
        id
    }

    /// A card checkout with auto-renew paid at `paid_at` with card `tok-{merchant}` / 4242.
    pub async fn subscribe(&self, merchant: &str, months: u32, paid_at: &str) -> String {
        let id = self.open(merchant, months, "card", true).await;
        let paid =
            self.notify(&json!({"order_id": id, "status": "paid", "paid_at": paid_at, "card_token": format!("tok-{merchant}"), "card_last4": "4242"})).await;
        assert_eq!(paid.status, 200, "{}", paid.text);
        id
    }

    pub async fn view(&self, merchant: &str) -> Value {
        let r = self.platform(Method::GET, &format!("/v1/merchants/{merchant}/plan"), None, None).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body
    }

    pub async fn set_auto_renew(&self, merchant: &str, body: &Value) -> Reply {
        self.platform(Method::PUT, &format!("/v1/merchants/{merchant}/plan/auto-renew"), Some(body), None).await
    }

    pub async fn bind_card(&self, merchant: &str, card_token: &str, last4: &str) -> Reply {
        self.platform(Method::PUT, &format!("/v1/merchants/{merchant}/payment-card"), Some(&json!({"card_token": card_token, "last4": last4})), None).await
    }

    /// Saves the merchant's credentials (串接), as credential-save would.
    pub async fn save_credentials(&self, merchant: &str) {
        self.store.put_settings(&contract::settings_item(merchant, 1, "S001")).await.expect("settings saved");
    }

    /// Everything the merchant's partition holds.
    pub async fn items(&self, merchant: &str) -> MerchantItems {
        self.store.merchant_items(merchant).await.expect("memory store")
    }

    pub async fn plan(&self, merchant: &str) -> PlanItem {
        self.store.plan(merchant).await.expect("memory store").expect("a plan")
    }

    /// Detail of each event of one type.
    pub fn events(&self, detail_type: &str) -> Vec<Value> {
        self.bus.of_type(detail_type).into_iter().map(|e| e.detail).collect()
    }
}
