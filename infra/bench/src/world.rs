//! What the functions run against: the local stack's resources (table, bus, secrets,
//! simulators) on our moto, the counting proxy as their AWS endpoint, a seeded merchant; and the
//! requests this system's callers send them.

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use einvoice_adapters::secret::Secret;
use einvoice_adapters::signature;
use local_stack::client::ContractClient;
use local_stack::{LocalConfig, LocalStack};
use serde_json::{Value, json};

use crate::aws_proxy::Proxy;
use crate::events::{self, Front, HttpRequest};
use crate::{capacity, seed};

pub const REGION: &str = "ap-northeast-1";

pub struct World {
    pub stack: LocalStack,
    /// The local stack's HTTP contract and `/_local` endpoints, for seeding.
    pub client: ContractClient,
    pub proxy: Arc<Proxy>,
    proxy_url: String,
    /// A merchant with an active plan and settings issuing on shipment.
    pub merchant: String,
    /// moto itself, for reading items back.
    pub moto_url: String,
    /// The notifier's sender (template.yaml's `MailFromAddress`).
    mail_from: String,
    /// Set `SSL_CERT_FILE` as template.yaml does (`--system-cert-dir` turns it off).
    cert_file: bool,
}

impl World {
    /// Starts the local stack on moto (the functions under test take the stream, not the
    /// stack's own issuer) and seeds the merchant.
    pub async fn start(moto_url: &str, cert_file: bool) -> Result<Self, String> {
        let (proxy, proxy_url) = Proxy::start(moto_url).await;
        let stack = LocalStack::start(LocalConfig { consume_stream: false, ..LocalConfig::isolated() }).await.map_err(|e| format!("local stack: {e}"))?;
        let client = ContractClient::local(stack.url());
        let merchant = format!("bench-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        seed::merchant(&client, &merchant).await.map_err(|e| format!("seeding: {e}"))?;
        let mail_from = local_stack::mail::Sender::from_template(&stack.config.template)?.address;
        Ok(Self { stack, client, proxy, proxy_url, merchant, moto_url: moto_url.to_owned(), mail_from, cert_file })
    }

    /// The variables a function gets, as template.yaml sets them on Lambda.
    pub fn function_env(&self) -> Vec<(&'static str, String)> {
        let cfg = &self.stack.config;
        let ids = self.stack.secret_ids();
        let mut env = vec![
            ("AWS_REGION", REGION.into()),
            ("AWS_DEFAULT_REGION", REGION.into()),
            ("AWS_ACCESS_KEY_ID", "bench".into()),
            ("AWS_SECRET_ACCESS_KEY", "bench".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_ENDPOINT_URL", self.proxy_url.clone()),
            ("TABLE_NAME", cfg.table_name.clone()),
            ("EVENT_BUS_NAME", cfg.event_bus_name.clone()),
            ("PLATFORM_SIGNING_SECRET_ID", ids.platform.clone()),
            ("PAYMENT_SIGNING_SECRET_ID", ids.payment.clone()),
            ("CREDENTIAL_MASTER_KEY_SECRET_ID", ids.master_key.clone()),
            ("WIXTAR_API_URL", self.stack.wixtar.url()),
            ("PAYMENT_GATEWAY_URL", self.stack.payment.url()),
            ("PLAN_CATALOGUE", cfg.plan_catalogue.clone()),
            ("MAIL_FROM_ADDRESS", self.mail_from.clone()),
            ("RUST_LOG", "info".into()),
        ];
        if let (true, Some(bundle)) = (self.cert_file, ca_bundle()) {
            env.push(("SSL_CERT_FILE", bundle.to_owned()));
        }
        env
    }

    /// A signed request (the platform's `x-signature`) to a function through `front`.
    pub fn signed_http(&self, front: Front, method: &str, route: &str, path: &str, body: &str) -> String {
        let now = Utc::now();
        let signed = signature::SignedRequest::new(method, path, body.as_bytes());
        let signature = signature::sign(&Secret::new(&self.stack.config.platform_secret), now.timestamp(), &signed);
        events::http(&HttpRequest { front, method, route, path, body, signature }, now)
    }

    /// The body of a webhook delivery of `order` to the merchant.
    pub fn webhook_body(&self, event_id: &str, occurred_at: DateTime<Utc>, order: &Value) -> String {
        json!({"event_id": event_id, "occurred_at": occurred_at.to_rfc3339(), "merchant_id": self.merchant, "order": order}).to_string()
    }

    /// A signed webhook delivery of `order` through `front`.
    pub fn order_webhook(&self, front: Front, event_id: &str, occurred_at: DateTime<Utc>, order: &Value) -> String {
        self.signed_http(front, "POST", "/v1/webhooks/orders", "/v1/webhooks/orders", &self.webhook_body(event_id, occurred_at, order))
    }

    /// An order's item as the table holds it (DynamoDB JSON).
    pub async fn order_item(&self, merchant: &str, order_id: &str) -> Result<Value, String> {
        let pk = einvoice_adapters::orders::order_keys::order(merchant, order_id);
        capacity::item(&self.moto_url, &self.stack.config.table_name, &pk, "ORDER").await
    }

    /// The stream batch the event source mapping hands invoice-issuer for the claim of an
    /// order: its item as the table holds it.
    pub async fn claim_record(&self, merchant: &str, order_id: &str) -> Result<String, String> {
        let item = self.order_item(merchant, order_id).await?;
        if item.get("request_pending").is_none() {
            return Err(format!("order {order_id} is not claimed: {item}"));
        }
        Ok(events::stream_batch(&self.stack.config.table_name, &[item], REGION))
    }
}

/// The host's CA bundle, given to the functions as `SSL_CERT_FILE` like template.yaml does on
/// Lambda (`/etc/pki/tls/certs/ca-bundle.crt`), so that they read one file, not a directory.
fn ca_bundle() -> Option<&'static str> {
    ["/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/certs/ca-certificates.crt"].into_iter().find(|p| Path::new(p).is_file())
}

/// A small order (two lines, shipping, a discount) with these statuses.
pub fn sample_order(id: &str, payment: &str, delivery: &str) -> Value {
    json!({
        "id": id, "currency": "TWD", "payment_status": payment, "delivery_status": delivery, "cancelled": false,
        "logistics": "tcat",
        "lines": [
            {"sku": "TEA-01", "name": "凍頂烏龍茶 150g", "quantity": 2, "unit_price": 500},
            {"sku": "TEA-02", "name": "阿里山高山茶 75g", "quantity": 1, "unit_price": 350}
        ],
        "shipping_fee": 100, "discount": 50, "total": 1400,
        "buyer": {"name": "陳小華", "email": "hua@example.com", "carrier": {"type": "mobile", "id": "/ABC1234"}}
    })
}
