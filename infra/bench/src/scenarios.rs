//! How each function is exercised: the event of each invocation and the answer it must give.

use serde_json::{Value, json};

use crate::events::{self, Front};
use crate::runtime_api::Outcome;
use crate::seed::RenewalDates;
use crate::world::{REGION, World, sample_order};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scenario {
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
    pub const ALL: [Scenario; 10] = [
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
    pub fn binary(self) -> &'static str {
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
    pub fn name(self) -> &'static str {
        match self {
            Self::OrderWebhookFunctionUrl => "order-webhook (function URL)",
            _ => self.binary(),
        }
    }

    pub fn event_kind(self) -> &'static str {
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

/// The orders order-webhook's scenarios claimed, which invoice-issuer's take in turn.
#[derive(Default)]
pub struct Claims {
    /// (merchant, order id) claimed and not yet handed to invoice-issuer.
    waiting: Vec<(String, String)>,
    /// The claim invoice-issuer was last handed, to check it was answered.
    handed_over: Option<(String, String)>,
}

impl Claims {
    /// After invoice-issuer answered: the order it was handed is no longer claimed.
    pub async fn check_answered(&mut self, w: &World) -> Result<(), String> {
        let Some((merchant, order_id)) = self.handed_over.take() else {
            return Ok(());
        };
        let item = w.order_item(&merchant, &order_id).await?;
        match item.get("request_pending") {
            None => Ok(()),
            Some(_) => Err(format!("order {order_id} is still claimed after the issuer answered")),
        }
    }
}

/// The event of invocation `i` of run `run`.
pub async fn event_for(w: &World, claims: &mut Claims, s: Scenario, renewal: &RenewalDates, run: usize, i: usize) -> Result<String, String> {
    let m = &w.merchant;
    Ok(match s {
        Scenario::OrderWebhook | Scenario::OrderWebhookFunctionUrl => {
            let front = if s == Scenario::OrderWebhook { Front::HttpApi } else { Front::FunctionUrl };
            let order_id = format!("bench-{run}-{i}-{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
            claims.waiting.push((m.clone(), order_id.clone()));
            w.order_webhook(front, &format!("{order_id}-shipped"), chrono::Utc::now(), &sample_order(&order_id, "paid", "shipped"))
        }
        Scenario::InvoiceIssuer => {
            let (merchant, order_id) = claims.waiting.pop().ok_or("no claimed order left: run order-webhook first")?;
            let event = w.claim_record(&merchant, &order_id).await?;
            claims.handed_over = Some((merchant, order_id));
            event
        }
        Scenario::PlanCheckout => w.signed_http(Front::HttpApi, "GET", "/v1/merchants/{merchant_id}/plan", &format!("/v1/merchants/{m}/plan"), ""),
        Scenario::CredentialSave => {
            w.signed_http(Front::HttpApi, "GET", "/v1/merchants/{merchant_id}/invoice-settings", &format!("/v1/merchants/{m}/invoice-settings"), "")
        }
        Scenario::RenewalCutoff => events::scheduled("renewal-cutoff", &renewal.cutoff_time, REGION),
        Scenario::RenewalCharge => events::scheduled("renewal-charge", &renewal.charge_time, REGION),
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

/// The JSON body of an HTTP response event (`null` when there is none).
pub fn http_body(v: &Value) -> Value {
    v["body"].as_str().and_then(|b| serde_json::from_str(b).ok()).unwrap_or(Value::Null)
}

/// Whether an invocation answered as the happy path does; its answer in a few words.
pub fn check(s: Scenario, outcome: &Outcome) -> Result<String, String> {
    let v = outcome.json()?;
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
pub fn webhook_answer(outcome: &Outcome, status: &str) -> Result<String, String> {
    webhook_status(&outcome.json()?, status)
}

fn webhook_status(v: &Value, status: &str) -> Result<String, String> {
    match (v["statusCode"].as_u64(), &http_body(v)["invoice"]["status"]) {
        (Some(202), got) if got == status => Ok(format!("HTTP 202, invoice {status}")),
        (code, got) => Err(format!("expected HTTP 202 with invoice {status}, got {code:?} {got}: {v}")),
    }
}
