//! The single DynamoDB table behind ports: `ports` (one trait per capability the functions
//! need, each rule in its doc comment), `dynamodb` (the adapter, [`Store`], one file per port),
//! `memory` and `contract` (feature `testing`: the in-memory adapter and the checks both pass),
//! `orders` (the order-side items: orders, invoices, the number ledger, the due index), and here
//! the plan-side items. Item layout (docs/table-layout.md):
//!
//! | item | PK | SK |
//! |---|---|---|
//! | plan (方案) | `MERCHANT#{merchant_id}` | `PLAN` |
//! | plan order | `MERCHANT#{merchant_id}` | `PLANORDER#{order_id}` |
//! | notice | `MERCHANT#{merchant_id}` | `NOTICE#{created_at}#{code}` |
//! | order → merchant | `PLANORDER#{order_id}` | `REF` |
//! | invoice settings (串接) | `MERCHANT#{merchant_id}` | `SETTINGS` |
//! | idempotency record | `IDEMPOTENCY#{merchant_id}#{route}#{key}` | `IDEMPOTENCY` |
//!
//! Plain attribute names, ISO-8601 times; the plan item carries `expires_on`, the key of the
//! `by-expiry` GSI the renewal jobs read; idempotency records expire through the `ttl` attribute.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use einvoice_domain::{AutoRenew, ChargeAttempts, UsagePeriod};

#[cfg(any(test, feature = "testing"))]
pub mod contract;
mod dynamodb;
#[cfg(any(test, feature = "testing"))]
pub mod memory;
pub mod orders;
mod ports;
pub mod prizes;

pub use dynamodb::Store;
pub(crate) use dynamodb::attribute;
pub use ports::{DueIndex, IdempotencyStore, InvoiceStore, MailLedger, NumberLedger, OrderStore, PlanStore, PrizeStore, SettingsStore};
pub use prizes::{PrizeItem, PrizeListItem, PrizeMarked, PrizeStamp};

pub const EXPIRY_INDEX: &str = "by-expiry";

/// Item keys, in one place.
pub mod keys {
    pub const PLAN: &str = "PLAN";
    pub const REF: &str = "REF";
    pub const IDEMPOTENCY: &str = "IDEMPOTENCY";
    pub const SETTINGS: &str = "SETTINGS";

    pub fn merchant(merchant_id: &str) -> String {
        format!("MERCHANT#{merchant_id}")
    }
    pub fn plan_order(order_id: &str) -> String {
        format!("PLANORDER#{order_id}")
    }
    pub fn notice(created_at: &str, code: &str) -> String {
        format!("NOTICE#{created_at}#{code}")
    }
    pub fn idempotency(merchant_id: &str, route: &str, key: &str) -> String {
        format!("IDEMPOTENCY#{merchant_id}#{route}#{key}")
    }
}

/// A DynamoDB failure. `Conflict` means a condition did not hold: someone else got there first.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("a conditional write lost a race")]
    Conflict,
    #[error("DynamoDB: {0}")]
    Dynamo(String),
    #[error("item does not decode: {0}")]
    Corrupt(String),
}

/// The merchant's Wixtar plan: usage period, activation, auto-renew, bound card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanItem {
    pub pk: String,
    pub sk: String,
    pub entity: String,
    pub merchant_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ubn: Option<String>,
    /// 營業人名稱: `company.name` of the latest paid order that gave one (printed on the
    /// invoice proof).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starts_on: Option<NaiveDate>,
    /// Key of the `by-expiry` GSI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_on: Option<NaiveDate>,
    pub paid_orders: u32,
    /// 自動續約: on/off, cycle, queued cycle change, suspension, bound card's last 4.
    #[serde(default)]
    pub auto_renew: AutoRenew,
    /// The gateway's card token (never logged, never returned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_token: Option<String>,
    /// Charge attempts of the renewal being charged (renewal-charge job).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_attempts: Option<ChargeAttempts>,
    /// The expiry whose locked renewal the merchant was told about (renewal-cutoff job).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_locked_for: Option<NaiveDate>,
    /// Optimistic-concurrency counter: every write expects the version it read.
    pub version: u64,
    pub updated_at: DateTime<Utc>,
}

impl PlanItem {
    /// The usage period (使用期限), once a payment set one.
    pub fn period(&self) -> Option<UsagePeriod> {
        Some(UsagePeriod { starts_on: self.starts_on?, expires_on: self.expires_on? })
    }

    pub fn empty(merchant_id: &str, now: DateTime<Utc>) -> Self {
        Self {
            pk: keys::merchant(merchant_id),
            sk: keys::PLAN.into(),
            entity: "plan".into(),
            merchant_id: merchant_id.into(),
            ubn: None,
            company_name: None,
            starts_on: None,
            expires_on: None,
            paid_orders: 0,
            auto_renew: AutoRenew::default(),
            card_token: None,
            renewal_attempts: None,
            renewal_locked_for: None,
            version: 0,
            updated_at: now,
        }
    }
}

/// Where a plan order's payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanOrderStatus {
    /// Checkout done, the gateway has not said it was paid (待付款).
    PendingPayment,
    Paid,
    /// The gateway said it failed; a later success still applies.
    Failed,
}

impl PlanOrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingPayment => "pending_payment",
            Self::Paid => "paid",
            Self::Failed => "failed",
        }
    }
}

/// Where the request holding an `Idempotency-Key` stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdempotencyState {
    /// The first request is working; its response is not stored yet.
    InProgress,
    /// The first request's response is stored and replayed to repeats.
    Completed,
}

impl IdempotencyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
        }
    }
}

/// A plan purchase or renewal order (購買 / 續購).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanOrderItem {
    pub pk: String,
    pub sk: String,
    pub entity: String,
    pub order_id: String,
    pub merchant_id: String,
    /// `purchase` or `renewal`.
    pub kind: String,
    pub ubn: String,
    pub months: u32,
    pub bonus_months: u32,
    pub amount: u64,
    pub currency: String,
    pub payment_method: String,
    pub auto_renew: bool,
    pub status: PlanOrderStatus,
    pub contact: serde_json::Value,
    pub company: serde_json::Value,
    pub payment: serde_json::Value,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<DateTime<Utc>>,
    /// The period after this payment was applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period_starts_on: Option<NaiveDate>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period_expires_on: Option<NaiveDate>,
    /// Side effects of the payment still to be done (outbox): repeats of the callback finish them.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending_onboarding: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending_notification: bool,
    /// Who performs the side effects: the request holding this lease.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effects_lease_until: Option<DateTime<Utc>>,
}

impl PlanOrderItem {
    /// 營業人名稱 given at checkout (`company.name`); renewals charged by the job carry none.
    pub fn company_name(&self) -> Option<&str> {
        self.company.get("name")?.as_str().map(str::trim).filter(|n| !n.is_empty())
    }
}

/// The `PLANORDER#{order_id}` → merchant pointer the payment callback starts from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct OrderRefItem {
    pub(crate) pk: String,
    pub(crate) sk: String,
    pub(crate) entity: String,
    pub(crate) merchant_id: String,
}

/// A message on the plan view (提示).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoticeItem {
    pub pk: String,
    pub sk: String,
    pub entity: String,
    pub code: String,
    pub message: String,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

impl NoticeItem {
    pub fn new(merchant_id: &str, code: &str, message: String, details: serde_json::Value, at: DateTime<Utc>) -> Self {
        let created_at = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        Self {
            pk: keys::merchant(merchant_id),
            sk: keys::notice(&created_at, code),
            entity: "notice".into(),
            code: code.into(),
            message,
            created_at: at,
            details,
        }
    }
}

/// The stored outcome of a request made with an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdempotencyItem {
    pub pk: String,
    pub sk: String,
    pub entity: String,
    /// SHA-256 of the request body, hex.
    pub request_sha256: String,
    pub state: IdempotencyState,
    /// The resource the first request is creating, so a retry after a crash reuses it.
    pub resource_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Epoch seconds; DynamoDB TTL deletes the record after this.
    pub ttl: i64,
}

/// Everything under one merchant's partition, read in one query.
#[derive(Debug, Default)]
pub struct MerchantItems {
    pub plan: Option<PlanItem>,
    /// The merchant's invoice settings; their presence means credentials are saved (串接).
    pub settings: Option<crate::settings::SettingsItem>,
    pub orders: Vec<PlanOrderItem>,
    pub notices: Vec<NoticeItem>,
}

/// What a `by-expiry` read returned and what it cost.
#[derive(Debug, Default)]
pub struct ExpiringPlans {
    pub plans: Vec<PlanItem>,
    /// Index items DynamoDB read (`ScannedCount`), the cost of the read.
    pub items_read: u64,
    pub queries: u64,
}

/// Whether an idempotency claim was taken or an earlier record exists.
#[derive(Debug)]
pub enum Claim {
    Claimed,
    Existing(IdempotencyItem),
}

impl From<StoreError> for crate::api::ApiError {
    /// Logs the cause (inside the request's span) and answers a retryable 503.
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "storage call failed");
        crate::api::ApiError::unavailable("storage_unavailable", "state storage is unavailable; retry later")
    }
}
