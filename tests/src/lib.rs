//! Harness for the end-to-end tests: each test gets its own local stack (own table, bus,
//! secrets, simulators, clock) on free 127.0.0.1 ports, against the moto server that
//! `./infra/test` started (AWS_ENDPOINT_URL).

pub mod scan;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
pub use local_stack::LocalConfig;
use local_stack::LocalStack;
pub use local_stack::client::{ContractClient, Reply};
use serde_json::{Value, json};

pub struct Harness {
    pub stack: LocalStack,
    pub c: ContractClient,
}

pub async fn start() -> Harness {
    start_with(LocalConfig::isolated()).await
}

/// A stack with its own table, bus and secrets, configured otherwise (`..LocalConfig::isolated()`).
pub async fn start_with(config: LocalConfig) -> Harness {
    require_moto();
    let stack = LocalStack::start(config).await.expect("local stack starts");
    let c = ContractClient::local(stack.url());
    Harness { stack, c }
}

/// The end-to-end tests talk to moto, which `./infra/test` installs and starts. Without it
/// (a plain `cargo test --workspace`) the test binary stops at once with one line saying so,
/// instead of every test failing on its own.
fn require_moto() {
    if std::env::var_os("AWS_ENDPOINT_URL").is_none() {
        use std::io::Write;
        // Straight to stderr: the test harness's capture would swallow an eprintln! on exit.
        let _ = writeln!(
            std::io::stderr(),
            "end-to-end tests need moto (AWS_ENDPOINT_URL is not set): run ./infra/test, which installs and starts it; `cargo test` alone runs the unit tests"
        );
        std::process::exit(2);
    }
}

/// A merchant id no other test uses.
pub fn merchant() -> String {
    format!("m-{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

/// A valid checkout body.
pub fn checkout(months: u32, method: &str, auto_renew: bool) -> Value {
    json!({
        "ubn": "04595257", "months": months, "payment_method": method, "auto_renew": auto_renew,
        "contact": {"name": "王小明", "email": "ming@example.com.tw", "phone": "0912-345-678"},
        "company": {"name": "小明商行有限公司", "ubn": "04595257", "address": "台北市中山區南京東路一段1號", "invoice_email": "ap@example.com.tw"}
    })
}

/// AES KEY and RID of the merchant settings used by the tests (never to be seen in clear).
pub const TEST_RID: &str = "Rid-9f3e7c1a-SECRET";
pub const TEST_AES_KEY: &str = "9a8b7c6d5e4f30211203f4e5d6c7b8a9";

/// A valid `PUT …/invoice-settings` body.
pub fn settings_body() -> Value {
    json!({
        "enabled": true, "provider": "wixtar", "show_at_checkout": true, "issue_on": ["shipment"],
        "credentials": {
            "ubn": "04595257", "store_code": "S001", "pos_code": "POS-01", "pid": "PID-000123",
            "rid": TEST_RID, "pname": "小明商行 POS", "aes_key": TEST_AES_KEY
        }
    })
}

/// An order as the platform sends it: one line of 2 × 500, shipping 100, discount 50 (total 1050).
pub fn order(id: &str, payment: &str, delivery: &str, logistics: &str) -> Value {
    json!({
        "id": id, "currency": "TWD", "payment_status": payment, "delivery_status": delivery, "cancelled": false,
        "logistics": logistics,
        "lines": [{"sku": "TEA-01", "name": "凍頂烏龍茶 150g", "quantity": 2, "unit_price": 500}],
        "shipping_fee": 100, "discount": 50, "total": 1050,
        "buyer": {"name": "陳小華", "email": "hua@example.com"}
    })
}

/// How many of `items` are of `entity` (`invoice`, `invoice_number`, `skipped_number`, …).
pub fn count_entities(items: &[HashMap<String, AttributeValue>], entity: &str) -> usize {
    items.iter().filter(|i| i.get("entity").and_then(|v| v.as_s().ok()).is_some_and(|v| v == entity)).count()
}

pub fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).expect("RFC 3339").to_utc()
}

impl Harness {
    /// Moves the stack's clock. Requests are still signed with the real time: signatures are
    /// checked against the wall clock, whatever day the handlers are told it is.
    pub fn set_now(&self, now: &str) {
        self.stack.clock.set(Some(at(now)));
    }

    /// The handlers' "now": what `set_now` last said, else the wall clock.
    pub fn now(&self) -> DateTime<Utc> {
        einvoice_domain::Clock::now(self.stack.clock.as_ref())
    }

    pub async fn checkout(&self, merchant: &str, body: &Value) -> Reply {
        self.c.post(&format!("/v1/merchants/{merchant}/plan/checkout"), body).await
    }

    pub async fn view(&self, merchant: &str) -> Value {
        let r = self.c.get(&format!("/v1/merchants/{merchant}/plan")).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.body
    }

    pub async fn save_settings(&self, merchant: &str, body: &Value) -> Reply {
        self.c.platform(reqwest::Method::PUT, &format!("/v1/merchants/{merchant}/invoice-settings"), Some(body), None).await
    }

    pub async fn settings(&self, merchant: &str) -> Reply {
        self.c.get(&format!("/v1/merchants/{merchant}/invoice-settings")).await
    }

    /// Arms a fault at a simulator (`wixtar` or `payment`): the next `count` calls fail.
    pub async fn fault(&self, sim: &simulators::Running, mode: &str, count: u32) {
        let status = self.c.admin_post(&format!("{}/_sim/faults", sim.url()), &json!({"mode": mode, "count": count})).await;
        assert_eq!(status, 204);
    }

    /// Fires a scheduled job (`renewal-cutoff`, `renewal-charge`) as of `time`.
    pub async fn fire(&self, job: &str, time: &str) -> Reply {
        let body = serde_json::to_vec(&json!({"time": time})).unwrap();
        self.c.raw(reqwest::Method::POST, &format!("/_local/schedules/{job}"), body, &[("content-type", "application/json".into())]).await
    }

    /// A first card purchase with auto-renew on (card `tok-{merchant}`, last 4 `4242`); returns
    /// the order id.
    pub async fn subscribe(&self, merchant: &str, months: u32, paid_at: &str) -> String {
        let order = self.checkout(merchant, &checkout(months, "card", true)).await;
        assert_eq!(order.status, 201, "{:?}", order.body);
        let id = order.body["order_id"].as_str().unwrap().to_owned();
        let paid =
            self.c.notify(&json!({"order_id": id, "status": "paid", "paid_at": paid_at, "card_token": format!("tok-{merchant}"), "card_last4": "4242"})).await;
        assert_eq!(paid.status, 200, "{:?}", paid.body);
        id
    }

    pub async fn set_auto_renew(&self, merchant: &str, body: &Value) -> Reply {
        self.c.platform(reqwest::Method::PUT, &format!("/v1/merchants/{merchant}/plan/auto-renew"), Some(body), None).await
    }

    /// Card charges the gateway simulator received for a card token.
    pub async fn charges(&self, card_token: &str) -> Vec<Value> {
        let all = self.c.admin_get(&format!("{}/_sim/charges", self.stack.payment.url())).await;
        all.as_array().unwrap().iter().filter(|c| c["card_token"] == card_token).cloned().collect()
    }

    /// Makes the simulated gateway decline (softly or hard) or pass a card.
    pub async fn card_behaviour(&self, card_token: &str, decline: bool, hard: bool) {
        let url = format!("{}/_sim/cards/{card_token}", self.stack.payment.url());
        assert_eq!(self.c.admin_post(&url, &json!({"decline": decline, "hard": hard})).await, 204);
    }

    /// A merchant ready to invoice: a paid plan (active on the handlers' today) and saved
    /// settings issuing on `issue_on`.
    pub async fn invoicing_merchant(&self, issue_on: &[&str]) -> String {
        let m = merchant();
        let today = self.now();
        self.buy(&m, 12, &(today - chrono::Duration::days(3)).to_rfc3339()).await;
        let mut body = settings_body();
        body["issue_on"] = json!(issue_on);
        let r = self.save_settings(&m, &body).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        m
    }

    /// An order-status webhook.
    pub async fn order_event(&self, merchant: &str, event_id: &str, order: &Value) -> Reply {
        let body = json!({"event_id": event_id, "occurred_at": self.now().to_rfc3339(), "merchant_id": merchant, "order": order});
        self.c.post("/v1/webhooks/orders", &body).await
    }

    pub async fn invoice(&self, merchant: &str, order_id: &str) -> Reply {
        self.c.get(&format!("/v1/merchants/{merchant}/orders/{order_id}/invoice")).await
    }

    /// Uploads the Wixtar simulator received for an order.
    pub async fn uploads(&self, order_id: &str) -> Vec<Value> {
        let all = self.c.admin_get(&format!("{}/_sim/invoices", self.stack.wixtar.url())).await;
        all.as_array().unwrap().iter().filter(|i| i["order_id"] == order_id).cloned().collect()
    }

    pub async fn pay(&self, order_id: &str, paid_at: &str) -> Reply {
        self.c.notify(&json!({"order_id": order_id, "status": "paid", "paid_at": paid_at})).await
    }

    /// Checkout then payment; returns the order id.
    pub async fn buy(&self, merchant: &str, months: u32, paid_at: &str) -> String {
        let order = self.checkout(merchant, &checkout(months, "atm", false)).await;
        assert_eq!(order.status, 201, "{:?}", order.body);
        let id = order.body["order_id"].as_str().unwrap().to_owned();
        let paid = self.pay(&id, paid_at).await;
        assert_eq!(paid.status, 200, "{:?}", paid.body);
        id
    }

    /// Every item in the stack's table (scan; tests only).
    pub async fn items(&self) -> Vec<HashMap<String, AttributeValue>> {
        let client = aws_sdk_dynamodb::Client::new(&self.stack.sdk);
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = client.scan().table_name(&self.stack.config.table_name).set_exclusive_start_key(start).send().await.expect("scan");
            out.extend(page.items().iter().cloned());
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                return out;
            }
        }
    }

    pub async fn wixtar_onboarding(&self, merchant: &str) -> Vec<Value> {
        let all = self.c.admin_get(&format!("{}/_sim/onboarding", self.stack.wixtar.url())).await;
        all.as_array().unwrap().iter().filter(|r| r["merchant_id"] == merchant).cloned().collect()
    }

    /// Fires the invoice-reconciler as of `time` and answers its summary (asserting 200).
    pub async fn reconcile(&self, time: DateTime<Utc>) -> Value {
        let r = self.fire("invoice-reconciler", &time.to_rfc3339()).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.body
    }

    /// Arms a crash point of the functions for the next `count` passes.
    pub async fn crash(&self, point: &str, count: u32) {
        let status = self.c.admin_post(&format!("{}/_local/crashes", self.stack.url()), &json!({"point": point, "count": count})).await;
        assert_eq!(status, 200, "{point}");
    }

    /// `GET /_local/dead-letters`.
    pub async fn dead_letters(&self) -> Vec<Value> {
        self.c.admin_get(&format!("{}/_local/dead-letters", self.stack.url())).await.as_array().cloned().unwrap_or_default()
    }

    /// The mails SES (moto) accepted for a merchant (`GET /_local/mail?merchant_id=`), oldest
    /// first.
    pub async fn mails(&self, merchant: &str) -> Vec<Value> {
        self.local_list(&format!("/_local/mail?merchant_id={merchant}")).await
    }

    /// The mails SES (moto) accepted for one recipient (`GET /_local/mail?to=`), oldest first.
    pub async fn mails_to(&self, address: &str) -> Vec<Value> {
        self.local_list(&format!("/_local/mail?to={address}")).await
    }

    /// A `/_local` list endpoint's answer (asserting a list).
    pub async fn local_list(&self, path_and_query: &str) -> Vec<Value> {
        let answer = self.c.admin_get(&format!("{}{path_and_query}", self.stack.url())).await;
        answer.as_array().unwrap_or_else(|| panic!("{path_and_query} answered {answer}")).clone()
    }

    pub fn events(&self, merchant: &str, detail_type: &str) -> Vec<Value> {
        self.stack.publisher.published().into_iter().filter(|e| e.detail_type == detail_type && e.detail["merchant_id"] == merchant).map(|e| e.detail).collect()
    }
}
