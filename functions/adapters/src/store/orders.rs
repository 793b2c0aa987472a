//! The items of shop orders, their e-invoices, the number ledger and the due index, as the
//! table holds them (docs/table-layout.md §3.7–3.13), and the types the ports
//! ([`OrderStore`](super::OrderStore), [`InvoiceStore`](super::InvoiceStore),
//! [`NumberLedger`](super::NumberLedger), [`DueIndex`](super::DueIndex)) read and write them as.
//! The DynamoDB code is in `dynamodb/`, the in-memory one in `memory/`:
//!
//! | item | PK | SK |
//! |---|---|---|
//! | order (merged webhook state + invoice status) | `ORDER#{merchant_id}#{order_id}` | `ORDER` |
//! | a large order's lines, by content | `ORDER#{merchant_id}#{order_id}` | `LINES#{sha256 of the lines}` |
//! | invoice (電子發票) | `ORDER#{merchant_id}#{order_id}` | `INVOICE` |
//! | invoice number guard | `INVOICENO#{seller_ubn}#{number}` | `REF` |
//! | number range (字軌) with its counter | `RANGES#{merchant_id}#{period}` | `RANGE#{track}{first}` |
//! | a number taken but not used, and why | `RANGES#{merchant_id}#{period}` | `SKIPPED#{number}` |
//! | the period's unused numbers, reported | `RANGES#{merchant_id}#{period}` | `CLOSED` |
//! | merchants with ranges in a period | `PERIOD#{period}` | `MERCHANT#{merchant_id}` |
//!
//! Orders live in their own partitions, so a merchant's plan view never reads them. A large
//! order's lines (more than [`LINES_INLINE_MAX`] bytes) are not in the order item, which every
//! webhook rewrites, but in an item of their own, written once per distinct content and never
//! changed ([`OrderItem::lines_key`], [`lines_key`]). An order
//! with invoice work left carries `due_shard` / `due_at`, which put it in the sparse index
//! [`DUE_INDEX`] the invoice-reconciler reads; finished orders drop them.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use einvoice_domain::settings::IssueTrigger;
use einvoice_domain::tax::ZeroRating;
use einvoice_domain::{InvoiceLine, OrderState};
use serde::{Deserialize, Serialize};

use super::PlanItem;
use super::attribute;
use crate::settings::SettingsItem;

pub mod order_keys {
    pub const ORDER: &str = "ORDER";
    pub const INVOICE: &str = "INVOICE";
    pub const REF: &str = "REF";
    pub const LINES_PREFIX: &str = "LINES#";

    pub fn order(merchant_id: &str, order_id: &str) -> String {
        format!("ORDER#{merchant_id}#{order_id}")
    }
    /// Numbers are unique per seller (字軌 are assigned to a UBN).
    pub fn invoice_number(seller_ubn: &str, number: &str) -> String {
        format!("INVOICENO#{seller_ubn}#{number}")
    }
    pub fn ranges(merchant_id: &str, period: &str) -> String {
        format!("RANGES#{merchant_id}#{period}")
    }
    pub fn range(track: &str, first: u32) -> String {
        format!("RANGE#{track}{first:08}")
    }
    pub fn skipped(number: &str) -> String {
        format!("SKIPPED#{number}")
    }
    pub const CLOSED: &str = "CLOSED";
    /// A period's list of winning invoices (中獎清冊), handled.
    pub const PRIZES: &str = "PRIZES";
    pub fn period(period: &str) -> String {
        format!("PERIOD#{period}")
    }
}

/// Where an order's invoice stands (the contract's invoice statuses, plus `issuing`: claimed,
/// handed to the invoice-issuer, no number yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Waiting,
    Disabled,
    NotIssuable,
    Issuing,
    Issued,
    Uploaded,
    UploadFailed,
    NoInvoiceNumbers,
    Void,
}

impl InvoiceStatus {
    /// The issuer has answered the order's claim: its `request_pending` goes.
    pub fn answers_request(self) -> bool {
        matches!(self, Self::Issued | Self::NotIssuable | Self::NoInvoiceNumbers)
    }

    /// An invoice was claimed for the order: no decision is made for it any more.
    pub fn is_claimed(self) -> bool {
        !matches!(self, Self::Waiting | Self::Disabled | Self::NotIssuable)
    }
}

/// The sparse index of unfinished invoice work by the time it is next due.
pub const DUE_INDEX: &str = "by-due";

/// Partitions of [`DUE_INDEX`]: due orders spread over a few keys, so no single index
/// partition takes every order's writes.
pub const DUE_SHARDS: u32 = 4;

/// The [`DUE_INDEX`] partition of an order (stable: FNV-1a of its key).
pub fn due_shard(merchant_id: &str, order_id: &str) -> String {
    let hash = order_keys::order(merchant_id, order_id).bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    format!("DUE#{}", hash % DUE_SHARDS)
}

/// `due_at` as stored: whole seconds, so the index sorts it as time.
pub fn due_stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Serde for `due_at` (fixed-width RFC 3339, whole seconds).
mod due_time {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&super::due_stamp(*t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Option::<DateTime<Utc>>::deserialize(d)
    }
}

/// `ORDER#{merchant_id}#{order_id}` / `ORDER`: what the webhooks told us, merged, and the
/// decision about its invoice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderItem {
    pub pk: String,
    pub sk: String,
    pub entity: String,
    pub merchant_id: String,
    pub order_id: String,
    pub state: OrderState,
    pub invoice_status: InvoiceStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_trigger: Option<IssueTrigger>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_requested_at: Option<DateTime<Utc>>,
    /// An invoice is claimed and not yet issued: the write that sets it reaches the
    /// invoice-issuer through the table's stream; the issuer clears it when it has answered.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub request_pending: bool,
    /// A cancel or refund of an invoiced order waits for its void or allowance (作廢 / 折讓);
    /// handed over like `request_pending`, cleared when the return is done.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub return_pending: bool,
    /// [`DUE_INDEX`] partition, while invoice work is left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_shard: Option<String>,
    /// When the invoice-reconciler next takes the work up (absent: nothing left to do).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "due_time")]
    pub due_at: Option<DateTime<Utc>>,
    /// Failed tries of the work since it was handed over (absent: none). While set, the order's
    /// writes no longer pass the stream's filter: the reconciler owns the retries, with backoff.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: u32,
    /// The webhook `event_id`s applied to this order, newest last (at most
    /// [`OrderItem::EVENT_IDS_KEPT`]): deduplication lives in the order's own write, with no
    /// separate record per event.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_ids: Vec<String>,
    pub events_seen: u32,
    pub version: u64,
    pub updated_at: DateTime<Utc>,
    /// Where the lines of `state.order` are stored when they are large: the `sk` of their own
    /// item (`LINES#{sha256}`) in the order's partition; absent: in this item. Derived from the
    /// lines by [`OrderStore::save_order`](super::OrderStore::save_order), which sets it; reads put the lines back into `state`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines_key: Option<String>,
}

/// The order item without its merged state: what the invoice view, the proof and a webhook's
/// answer show (reading it never reads a large order's lines).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct OrderHead {
    pub merchant_id: String,
    pub order_id: String,
    pub invoice_status: InvoiceStatus,
    #[serde(default)]
    pub invoice_reason: Option<String>,
    #[serde(default)]
    pub invoice_field: Option<String>,
    #[serde(default)]
    pub invoice_trigger: Option<IssueTrigger>,
    pub version: u64,
}

impl OrderItem {
    /// What the invoice view and the webhook's answer show of the order.
    pub fn head(&self) -> OrderHead {
        OrderHead {
            merchant_id: self.merchant_id.clone(),
            order_id: self.order_id.clone(),
            invoice_status: self.invoice_status,
            invoice_reason: self.invoice_reason.clone(),
            invoice_field: self.invoice_field.clone(),
            invoice_trigger: self.invoice_trigger,
            version: self.version,
        }
    }

    /// Whether `other` says the same as this item about the order and its invoice: it differs
    /// at most in the bookkeeping of writes (`event_ids`, `events_seen`, `version`,
    /// `updated_at`, and `lines_key`, which follows from the lines). Writing `other` over this
    /// item would change nothing that anyone reads.
    pub fn same_apart_from_bookkeeping(&self, other: &Self) -> bool {
        let strip = |i: &Self| Self { event_ids: Vec::new(), events_seen: 0, version: 0, updated_at: DateTime::UNIX_EPOCH, lines_key: None, ..i.clone() };
        strip(self) == strip(other)
    }

    /// An order as its first event makes it: version 1, its invoice `waiting` until decided.
    pub fn new(merchant_id: &str, order_id: &str, state: OrderState, now: DateTime<Utc>) -> Self {
        Self {
            pk: order_keys::order(merchant_id, order_id),
            sk: order_keys::ORDER.into(),
            entity: "order".into(),
            merchant_id: merchant_id.into(),
            order_id: order_id.into(),
            state,
            invoice_status: InvoiceStatus::Waiting,
            invoice_reason: None,
            invoice_field: None,
            invoice_trigger: None,
            invoice_requested_at: None,
            request_pending: false,
            return_pending: false,
            due_shard: None,
            due_at: None,
            retries: 0,
            event_ids: Vec::new(),
            events_seen: 1,
            version: 1,
            updated_at: now,
            lines_key: None,
        }
    }

    /// How many `event_id`s an order remembers. An order gets a handful of events in its life;
    /// a redelivery older than the last 16 would only merge a state already superseded.
    pub const EVENT_IDS_KEPT: usize = 16;

    /// Whether this webhook `event_id` was applied to the order.
    pub fn has_seen(&self, event_id: &str) -> bool {
        self.event_ids.iter().any(|e| e == event_id)
    }

    /// Records an applied `event_id`, forgetting the oldest beyond [`Self::EVENT_IDS_KEPT`].
    pub fn remember(&mut self, event_id: &str) {
        self.event_ids.push(event_id.to_owned());
        let excess = self.event_ids.len().saturating_sub(Self::EVENT_IDS_KEPT);
        self.event_ids.drain(..excess);
    }

    /// Hands work (a claim or a return) to the invoice-issuer: the write carrying this passes
    /// the stream's filter, and the reconciler takes the work up if it is not done by
    /// `now` + [`HANDOFF_GRACE`](einvoice_domain::recovery::HANDOFF_GRACE).
    pub fn hand_over(&mut self, now: DateTime<Utc>) {
        self.due_shard = Some(due_shard(&self.merchant_id, &self.order_id));
        self.due_at = Some(now + einvoice_domain::recovery::HANDOFF_GRACE);
        self.retries = 0;
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Where an invoice's upload to the provider stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadStatus {
    /// Recorded, not yet accepted by the provider.
    Pending,
    Uploaded,
    /// The last try failed; the reconciler tries again.
    Failed,
}

impl UploadStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Uploaded => "uploaded",
            Self::Failed => "failed",
        }
    }
}

/// Where an allowance (折讓) stands at the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllowanceStatus {
    /// Recorded, not yet confirmed by the provider.
    Pending,
    Uploaded,
    /// Voided at the provider (作廢折讓).
    Void,
}

impl AllowanceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Uploaded => "uploaded",
            Self::Void => "void",
        }
    }
}

/// The upload of an invoice to the provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadState {
    pub status: UploadStatus,
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploaded_at: Option<DateTime<Utc>>,
    /// The legal deadline (B2C: end of the second day after issue, Asia/Taipei).
    pub deadline: DateTime<Utc>,
}

/// `ORDER#{merchant_id}#{order_id}` / `INVOICE`: the one invoice of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvoiceItem {
    pub pk: String,
    pub sk: String,
    pub entity: String,
    pub merchant_id: String,
    pub order_id: String,
    pub number: String,
    pub random_code: String,
    pub period: String,
    pub issued_at: DateTime<Utc>,
    pub trigger: IssueTrigger,
    pub seller_ubn: String,
    /// `0000000000` for a consumer (B2C), else the buyer's UBN.
    pub buyer_identifier: String,
    pub buyer_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub love_code: Option<String>,
    pub print: bool,
    pub tax_type: u8,
    pub sales_amount: u32,
    pub tax_amount: u32,
    pub total: u32,
    /// 零稅率銷售額 and 免稅銷售額 (0 on invoices stored before tax types); see `tax.rs`.
    /// Not stored when 0: the two names alone are 46 bytes, which took a two-line taxable
    /// invoice over DynamoDB's 1 KB write unit (1,047 B: 2 WRU a write, 4 in a transaction).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub zero_tax_sales_amount: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub free_tax_sales_amount: u32,
    /// 通關方式註記 and 零稅率原因, on an invoice with a zero-rated part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zero_rating: Option<ZeroRating>,
    pub lines: Vec<InvoiceLine>,
    pub barcode: String,
    pub qr_left: String,
    pub qr_right: String,
    pub upload: UploadState,
    /// 折讓 made against this invoice, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowances: Vec<AllowanceItem>,
    /// 作廢: when the provider confirmed the void.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voided_at: Option<DateTime<Utc>>,
    /// 中獎: set when MOF's list names the invoice ([`PrizeStore`](super::PrizeStore)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prize: Option<super::PrizeItem>,
}

/// One allowance (折讓單) of an invoice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllowanceItem {
    /// `{invoice number}-{n}`.
    pub number: String,
    pub amount: u32,
    /// The zero-rated and tax-free parts of `amount` (the rest is taxable); see `tax.rs`.
    #[serde(default)]
    pub zero_tax_amount: u32,
    #[serde(default)]
    pub free_tax_amount: u32,
    pub sales_amount: u32,
    pub tax_amount: u32,
    pub issued_at: DateTime<Utc>,
    pub status: AllowanceStatus,
}

/// `INVOICENO#{seller_ubn}#{number}` / `REF`: no number is ever given to two invoices.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NumberGuardItem {
    pub(crate) pk: String,
    pub(crate) sk: String,
    pub(crate) entity: String,
    pub(crate) merchant_id: String,
    pub(crate) order_id: String,
}

/// `RANGES#{merchant_id}#{period}` / `RANGE#…`: a 字軌 range and the next sequence to hand out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RangeItem {
    pub pk: String,
    pub sk: String,
    pub entity: String,
    pub merchant_id: String,
    pub period: String,
    pub track: String,
    pub first: u32,
    pub last: u32,
    /// The next sequence to allocate; `last + 1` when used up.
    pub next: u32,
    /// The provider request that assigned it (`{merchant_id}:{period}:{n}`).
    pub request_id: String,
    /// The seller UBN the range was assigned to (its numbers' guards are keyed by it); absent
    /// on ranges stored before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seller_ubn: Option<String>,
    pub fetched_at: DateTime<Utc>,
}

/// `RANGES#…` / `SKIPPED#{number}`: a number allocated but not used by any invoice.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SkippedNumberItem {
    pub(crate) pk: String,
    pub(crate) sk: String,
    pub(crate) entity: String,
    pub(crate) number: String,
    pub(crate) order_id: String,
    pub(crate) reason: String,
    pub(crate) at: DateTime<Utc>,
}

/// `PERIOD#{period}` / `MERCHANT#{merchant_id}`: the merchant has ranges in the period.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PeriodMerchantItem {
    pub(crate) pk: String,
    pub(crate) sk: String,
    pub(crate) entity: String,
    pub(crate) merchant_id: String,
    pub(crate) period: String,
}

/// `RANGES#{merchant_id}#{period}` / `CLOSED`: the unused numbers reported after the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeriodCloseItem {
    pub pk: String,
    pub sk: String,
    pub entity: String,
    pub merchant_id: String,
    pub period: String,
    /// `{track}{first}-{track}{last}` spans of numbers never used.
    pub unused: Vec<String>,
    pub unused_count: u32,
    pub reported_at: DateTime<Utc>,
}

/// A merchant's numbers of one period: ranges, numbers skipped (and why), the close report.
#[derive(Debug, Default)]
pub struct PeriodNumbers {
    pub ranges: Vec<RangeItem>,
    pub skipped: Vec<String>,
    pub closed: Option<PeriodCloseItem>,
}

/// An entry of [`DUE_INDEX`]: an order with invoice work due.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DueOrder {
    pub merchant_id: String,
    pub order_id: String,
    /// As stored ([`due_stamp`]): what [`DueIndex::settle_due`](super::DueIndex::settle_due) compares with.
    pub due_at: String,
    pub invoice_status: InvoiceStatus,
    #[serde(default)]
    pub retries: u32,
}

/// What became of a webhook's write.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderWrite {
    Saved,
    /// The order changed since it was read: here it is as the failed write found it (from the
    /// write's own answer, `ReturnValuesOnConditionCheckFailure = ALL_OLD`; `None` if that
    /// answer carried none: read it again).
    Stale(Option<Box<OrderItem>>),
}

/// Lines stay in the order item up to this many bytes (their attribute, by DynamoDB's size
/// rules, [`item_size`]): one write unit is 1 KB, so beyond it every webhook of the order
/// would pay for lines it does not change. Larger lines go to an item of their own
/// (`LINES#{sha256}`), written when an order first has that content and never again.
pub const LINES_INLINE_MAX: usize = 1024;

/// A large order's lines as they are stored apart: the `sk` of their item and the attribute.
#[derive(Debug, Clone)]
pub(crate) struct StoredLines {
    pub(crate) key: String,
    pub(crate) attribute: AttributeValue,
    pub(crate) count: usize,
}

/// Where `order`'s lines are stored: `Some` (their own item's key and attribute) when they are
/// larger than [`LINES_INLINE_MAX`], `None` when they stay in the order item. The key is the
/// SHA-256 of the lines as JSON: the same lines always have the same key, other lines another.
pub(crate) fn stored_lines(order: &einvoice_domain::Order) -> Option<StoredLines> {
    use sha2::Digest;
    let lines = einvoice_domain::OrderWire::from(order.clone()).lines.unwrap_or_default();
    let attribute = attribute(&lines);
    if attribute_size(&attribute) <= LINES_INLINE_MAX {
        return None;
    }
    let json = serde_json::to_vec(&lines).expect("order lines serialize to JSON");
    let key = format!("{}{}", order_keys::LINES_PREFIX, hex::encode(sha2::Sha256::digest(&json)));
    Some(StoredLines { key, attribute, count: lines.len() })
}

/// The `sk` of the item `order`'s lines are stored in (`LINES#{sha256}`) when they are too
/// large for the order item ([`LINES_INLINE_MAX`]); `None` when they stay in it. Same lines,
/// same key: a lines item is written once per content and never changed.
pub fn lines_key(order: &einvoice_domain::Order) -> Option<String> {
    stored_lines(order).map(|l| l.key)
}

/// `ORDER#{merchant_id}#{order_id}` / `LINES#{sha256}`: a large order's lines (`lines`, L of M,
/// beside these attributes), immutable.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct OrderLinesItem<'a> {
    pub(crate) pk: String,
    pub(crate) sk: &'a str,
    pub(crate) entity: &'static str,
    pub(crate) merchant_id: &'a str,
    pub(crate) order_id: &'a str,
    pub(crate) line_count: usize,
    pub(crate) created_at: DateTime<Utc>,
}

/// The attribute's size by DynamoDB's rules ("Item sizes and formats" in the developer guide):
/// strings and binary their bytes, numbers about one byte per two significant digits plus one,
/// BOOL and NULL one byte, lists and maps 3 bytes plus one per element plus their contents
/// (and a map's keys).
pub fn attribute_size(value: &AttributeValue) -> usize {
    let number = |n: &str| {
        let digits = n.trim_start_matches('-').replace('.', "");
        digits.trim_start_matches('0').trim_end_matches('0').len().max(1).div_ceil(2) + 1
    };
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| number(n)).sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(l) => 3 + l.iter().map(|e| 1 + attribute_size(e)).sum::<usize>(),
        AttributeValue::M(m) => 3 + m.iter().map(|(k, e)| 1 + k.len() + attribute_size(e)).sum::<usize>(),
        _ => 0,
    }
}

/// An item's size by DynamoDB's rules: its attribute names and values ([`attribute_size`]).
pub fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(k, v)| k.len() + attribute_size(v)).sum()
}

/// What a webhook needs, read in one round trip.
#[derive(Debug, Default)]
pub struct WebhookContext {
    pub order: Option<OrderItem>,
    pub settings: Option<SettingsItem>,
    pub plan: Option<PlanItem>,
}

/// What the invoice-issuer needs, read in one round trip.
#[derive(Debug, Default)]
pub struct IssueContext {
    pub order: Option<OrderItem>,
    pub invoice: Option<InvoiceItem>,
    pub settings: Option<SettingsItem>,
}

/// What an issuer's write of the order does to its due time (the reconciler's index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    Keep,
    /// Work is left: the reconciler takes it up at `at`; `failed` counts a failed try.
    Later {
        at: DateTime<Utc>,
        failed: bool,
    },
    /// Nothing is left: the order leaves the index.
    Done,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::dynamodb::{from_item, to_item};

    fn invoice(zero_tax_sales_amount: u32) -> InvoiceItem {
        let at = DateTime::parse_from_rfc3339("2026-12-02T10:00:00+08:00").unwrap().with_timezone(&Utc);
        InvoiceItem {
            pk: order_keys::order("m1", "o1"),
            sk: order_keys::INVOICE.into(),
            entity: "invoice".into(),
            merchant_id: "m1".into(),
            order_id: "o1".into(),
            number: "UA00000057".into(),
            random_code: "1234".into(),
            period: "11512".into(),
            issued_at: at,
            trigger: einvoice_domain::settings::IssueTrigger::Shipment,
            seller_ubn: "04595257".into(),
            buyer_identifier: "0000000000".into(),
            buyer_name: "陳小華".into(),
            carrier_type: None,
            carrier_id: None,
            love_code: None,
            print: false,
            tax_type: if zero_tax_sales_amount == 0 { 1 } else { 9 },
            sales_amount: 952,
            tax_amount: 48,
            total: 1000 + zero_tax_sales_amount,
            zero_tax_sales_amount,
            free_tax_sales_amount: 0,
            zero_rating: None,
            lines: Vec::new(),
            barcode: String::new(),
            qr_left: String::new(),
            qr_right: String::new(),
            upload: UploadState { status: UploadStatus::Pending, attempts: 0, last_error: None, uploaded_at: None, deadline: at },
            allowances: Vec::new(),
            voided_at: None,
            prize: None,
        }
    }

    /// The zero amounts of the other tax kinds are not stored (they took a two-line invoice
    /// over DynamoDB's 1 KB write unit), and read back as 0; others are stored.
    #[test]
    fn zero_tax_kind_amounts_are_left_out_of_the_item_and_read_back_as_zero() {
        let taxable = to_item(&invoice(0));
        assert!(!taxable.contains_key("zero_tax_sales_amount") && !taxable.contains_key("free_tax_sales_amount"));
        assert_eq!(from_item::<InvoiceItem>(taxable).unwrap(), invoice(0));

        let mixed = to_item(&invoice(150));
        assert_eq!(mixed.get("zero_tax_sales_amount").and_then(|v| v.as_n().ok()).map(String::as_str), Some("150"));
        assert_eq!(from_item::<InvoiceItem>(mixed).unwrap(), invoice(150));
    }
}
