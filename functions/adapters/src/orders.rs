//! Shop orders and their e-invoices in the table (docs/table-layout.md):
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
//! changed ([`OrderItem::lines_key`]). An order
//! with invoice work left carries `due_shard` / `due_at`, which put it in the sparse index
//! [`DUE_INDEX`] the invoice-reconciler reads; finished orders drop them.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use einvoice_domain::settings::IssueTrigger;
use einvoice_domain::tax::ZeroRating;
use einvoice_domain::{InvoiceLine, OrderState};
use serde::{Deserialize, Serialize};

use crate::settings::SettingsItem;
use crate::store::{PlanItem, Store, StoreError, dynamo, from_item, key, keys, s, to_item};

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
    /// lines by [`Store::save_order`], which sets it; reads put the lines back into `state`.
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

/// The upload of an invoice to the provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UploadState {
    /// `pending`, `uploaded` or `failed`.
    pub status: String,
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
    /// `pending` (recorded, not yet confirmed by the provider), `uploaded` or `void`.
    pub status: String,
}

/// `INVOICENO#{seller_ubn}#{number}` / `REF`: no number is ever given to two invoices.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct NumberGuardItem {
    pk: String,
    sk: String,
    entity: String,
    merchant_id: String,
    order_id: String,
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
struct SkippedNumberItem {
    pk: String,
    sk: String,
    entity: String,
    number: String,
    order_id: String,
    reason: String,
    at: DateTime<Utc>,
}

/// `PERIOD#{period}` / `MERCHANT#{merchant_id}`: the merchant has ranges in the period.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PeriodMerchantItem {
    pk: String,
    sk: String,
    entity: String,
    merchant_id: String,
    period: String,
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
    /// As stored ([`due_stamp`]): what [`Store::settle_due`] compares with.
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
struct StoredLines {
    key: String,
    attribute: AttributeValue,
    count: usize,
}

/// Where `order`'s lines are stored: `Some` (their own item's key and attribute) when they are
/// larger than [`LINES_INLINE_MAX`], `None` when they stay in the order item. The key is the
/// SHA-256 of the lines as JSON: the same lines always have the same key, other lines another.
fn stored_lines(order: &einvoice_domain::Order) -> Option<StoredLines> {
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

/// `ORDER#{merchant_id}#{order_id}` / `LINES#{sha256}`: a large order's lines (`lines`, L of M,
/// beside these attributes), immutable.
#[derive(Debug, Clone, Serialize)]
struct OrderLinesItem<'a> {
    pk: String,
    sk: &'a str,
    entity: &'static str,
    merchant_id: &'a str,
    order_id: &'a str,
    line_count: usize,
    created_at: DateTime<Utc>,
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

/// `state.order` of an order item, as a map to take the lines out of or put them back in.
fn order_map(item: &mut HashMap<String, AttributeValue>) -> Option<&mut HashMap<String, AttributeValue>> {
    match item.get_mut("state")? {
        AttributeValue::M(state) => match state.get_mut("order")? {
            AttributeValue::M(order) => Some(order),
            _ => None,
        },
        _ => None,
    }
}

/// The order item as written: with its lines, or with `lines_key` naming their own item (then
/// also returned, to be written first).
fn order_attributes(order: &OrderItem) -> (HashMap<String, AttributeValue>, Option<StoredLines>) {
    let mut item = to_item(order);
    let lines = stored_lines(&order.state.order);
    match &lines {
        Some(l) => {
            if let Some(o) = order_map(&mut item) {
                o.remove("lines");
            }
            item.insert("lines_key".into(), s(l.key.clone()));
        }
        None => {
            item.remove("lines_key");
        }
    }
    (item, lines)
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

/// One value as a DynamoDB attribute, written the way whole items are (serde_dynamo).
fn attribute<T: Serialize>(value: &T) -> AttributeValue {
    serde_dynamo::to_attribute_value(value).expect("our values serialize to DynamoDB attributes")
}

/// The order's invoice status set to `status` and its version moved (so a webhook holding an
/// older copy writes again on fresh data), its due time as `due` says.
fn order_status_update(table: &str, merchant_id: &str, order_id: &str, status: InvoiceStatus, reason: Reason, due: Due, condition: &str) -> TransactWriteItem {
    let mut update = Update::builder()
        .table_name(table)
        .set_key(Some(key(order_keys::order(merchant_id, order_id), order_keys::ORDER)))
        .update_expression(status_expression(status, reason, due))
        .condition_expression(condition)
        .expression_attribute_values(":status", attribute(&status))
        .expression_attribute_values(":one", AttributeValue::N("1".into()));
    for (name, value) in due.values(merchant_id, order_id) {
        update = update.expression_attribute_values(name, value);
    }
    TransactWriteItem::builder().update(update.build().expect("update is complete")).build()
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

impl Due {
    /// The `SET` and `REMOVE` parts of the update expression.
    fn parts(self) -> (Vec<&'static str>, Vec<&'static str>) {
        match self {
            Self::Keep => (vec![], vec![]),
            Self::Later { failed: false, .. } => (vec!["due_at = :due_at", "due_shard = :due_shard"], vec![]),
            Self::Later { failed: true, .. } => (vec!["due_at = :due_at", "due_shard = :due_shard", "retries = if_not_exists(retries, :zero) + :one"], vec![]),
            Self::Done => (vec![], vec!["due_at", "due_shard", "retries"]),
        }
    }

    fn values(self, merchant_id: &str, order_id: &str) -> Vec<(&'static str, AttributeValue)> {
        match self {
            Self::Later { at, failed } => {
                let mut values = vec![(":due_at", s(due_stamp(at))), (":due_shard", s(due_shard(merchant_id, order_id)))];
                if failed {
                    values.push((":zero", AttributeValue::N("0".into())));
                }
                values
            }
            Self::Keep | Self::Done => vec![],
        }
    }
}

/// An update of the invoice item itself.
fn invoice_update(table: &str, invoice: &InvoiceItem, expression: &str, name: &str, value: AttributeValue) -> TransactWriteItem {
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(key(invoice.pk.clone(), invoice.sk.clone())))
        .update_expression(expression)
        .condition_expression("attribute_exists(pk)")
        .expression_attribute_values(name, value)
        .build()
        .expect("update is complete");
    TransactWriteItem::builder().update(update).build()
}

fn conditional_put(table: &str, item: HashMap<String, AttributeValue>, condition: &str, values: &[(&str, AttributeValue)]) -> TransactWriteItem {
    let mut put = Put::builder().table_name(table).set_item(Some(item)).condition_expression(condition);
    for (name, value) in values {
        put = put.expression_attribute_values(*name, value.clone());
    }
    TransactWriteItem::builder().put(put.build().expect("put is complete")).build()
}

fn versioned(version: u64) -> (&'static str, Vec<(&'static str, AttributeValue)>) {
    if version <= 1 { ("attribute_not_exists(pk)", vec![]) } else { ("version = :expected", vec![(":expected", AttributeValue::N((version - 1).to_string()))]) }
}

/// What a status update does with `invoice_reason`.
#[derive(Clone, Copy)]
enum Reason {
    Keep,
    /// Set to `:reason`.
    Set,
    Clear,
}

/// `SET invoice_status = :status` with the version moved; a status that answers the invoice
/// request also clears its claim (`request_pending`).
fn status_expression(status: InvoiceStatus, reason: Reason, due: Due) -> String {
    let (mut set, mut removed) = due.parts();
    set.extend(["invoice_status = :status", "version = version + :one"]);
    match reason {
        Reason::Keep => {}
        Reason::Set => set.push("invoice_reason = :reason"),
        Reason::Clear => removed.push("invoice_reason"),
    }
    if status.answers_request() {
        removed.push("request_pending");
    }
    update_expression(&set, &removed)
}

fn update_expression(set: &[&str], removed: &[&str]) -> String {
    let mut expression = format!("SET {}", set.join(", "));
    if !removed.is_empty() {
        expression.push_str(&format!(" REMOVE {}", removed.join(", ")));
    }
    expression
}

impl Store {
    /// An `UpdateItem` of the order item `ORDER#{merchant_id}#{order_id}` / `ORDER`.
    fn order_update(&self, merchant_id: &str, order_id: &str) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client().update_item().table_name(self.table()).set_key(Some(key(order_keys::order(merchant_id, order_id), order_keys::ORDER)))
    }

    /// The order with its lines (a large order's from their own item: a second read).
    pub async fn order(&self, merchant_id: &str, order_id: &str) -> Result<Option<OrderItem>, StoreError> {
        match self.raw_item(&order_keys::order(merchant_id, order_id), order_keys::ORDER).await? {
            Some(raw) => Ok(Some(self.complete_order(raw, None).await?)),
            None => Ok(None),
        }
    }

    /// One item as stored (consistent GetItem).
    async fn raw_item(&self, pk: &str, sk: &str) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self.client().get_item().table_name(self.table()).set_key(Some(key(pk.to_owned(), sk))).consistent_read(true).send().await.map_err(dynamo)?;
        Ok(out.item)
    }

    /// The order's invoice status, without its merged state (one GetItem).
    pub async fn order_head(&self, merchant_id: &str, order_id: &str) -> Result<Option<OrderHead>, StoreError> {
        self.get(order_keys::order(merchant_id, order_id), order_keys::ORDER).await
    }

    /// An order item as read, made whole: a large order's lines (`lines_key`) are put back into
    /// its state, from `known` when those are the lines (no read), else read from their item.
    async fn complete_order(&self, mut raw: HashMap<String, AttributeValue>, known: Option<&StoredLines>) -> Result<OrderItem, StoreError> {
        let key = raw.get("lines_key").and_then(|v| v.as_s().ok()).cloned();
        if let Some(key) = key
            && order_map(&mut raw).is_some_and(|o| !o.contains_key("lines"))
        {
            let lines = match known {
                Some(k) if k.key == key => k.attribute.clone(),
                _ => {
                    let pk = raw.get("pk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                    self.stored_order_lines(&pk, &key).await?
                }
            };
            if let Some(o) = order_map(&mut raw) {
                o.insert("lines".into(), lines);
            }
        }
        from_item(raw)
    }

    /// The `lines` of a large order's lines item (consistent GetItem).
    async fn stored_order_lines(&self, pk: &str, sk: &str) -> Result<AttributeValue, StoreError> {
        let item = self.raw_item(pk, sk).await?;
        item.and_then(|mut i| i.remove("lines")).ok_or_else(|| StoreError::Corrupt(format!("order {pk} names its lines {sk}, which are not stored")))
    }

    /// Writes a large order's lines item, unless it is there already (same key, same lines).
    async fn put_order_lines(&self, order: &OrderItem, lines: &StoredLines) -> Result<(), StoreError> {
        let head = OrderLinesItem {
            pk: order.pk.clone(),
            sk: &lines.key,
            entity: "order_lines",
            merchant_id: &order.merchant_id,
            order_id: &order.order_id,
            line_count: lines.count,
            created_at: order.updated_at,
        };
        let mut item = to_item(&head);
        item.insert("lines".into(), lines.attribute.clone());
        let result = self.client().put_item().table_name(self.table()).set_item(Some(item)).condition_expression("attribute_not_exists(pk)").send().await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(dynamo(e)),
        }
    }

    pub async fn invoice(&self, merchant_id: &str, order_id: &str) -> Result<Option<InvoiceItem>, StoreError> {
        self.get(order_keys::order(merchant_id, order_id), order_keys::INVOICE).await
    }

    /// The order, the merchant's settings and plan: one `BatchGetItem`. `event` is the order
    /// the webhook brings: when a large order's stored lines are the event's lines, the event's
    /// are used; other stored lines are read from their item (a second read, only when the
    /// order's lines change).
    pub async fn webhook_context(&self, merchant_id: &str, order_id: &str, event: &einvoice_domain::Order) -> Result<WebhookContext, StoreError> {
        let merchant = keys::merchant(merchant_id);
        let keys = [(order_keys::order(merchant_id, order_id), order_keys::ORDER), (merchant.clone(), keys::SETTINGS), (merchant, keys::PLAN)];
        let [order, settings, plan]: [_; 3] = self.get_many(&keys).await?.try_into().expect("one answer per key");
        let order = match order {
            Some(raw) => Some(self.complete_order(raw, stored_lines(event).as_ref()).await?),
            None => None,
        };
        Ok(WebhookContext { order, settings: settings.map(from_item).transpose()?, plan: plan.map(from_item).transpose()? })
    }

    /// The order (whole) and its invoice: one `BatchGetItem` (and a large order's lines).
    pub async fn order_and_invoice(&self, merchant_id: &str, order_id: &str) -> Result<(Option<OrderItem>, Option<InvoiceItem>), StoreError> {
        let pk = order_keys::order(merchant_id, order_id);
        let [order, invoice]: [_; 2] =
            self.get_many(&[(pk.clone(), order_keys::ORDER), (pk, order_keys::INVOICE)]).await?.try_into().expect("one answer per key");
        let order = match order {
            Some(raw) => Some(self.complete_order(raw, None).await?),
            None => None,
        };
        Ok((order, invoice.map(from_item).transpose()?))
    }

    /// What the invoice view shows: the order's invoice status and its invoice, in one
    /// `BatchGetItem` (never a large order's lines: the invoice has its own).
    pub async fn invoice_view_context(&self, merchant_id: &str, order_id: &str) -> Result<(Option<OrderHead>, Option<InvoiceItem>), StoreError> {
        let pk = order_keys::order(merchant_id, order_id);
        let [order, invoice]: [_; 2] =
            self.get_many(&[(pk.clone(), order_keys::ORDER), (pk, order_keys::INVOICE)]).await?.try_into().expect("one answer per key");
        Ok((order.map(from_item).transpose()?, invoice.map(from_item).transpose()?))
    }

    /// What the invoice proof (證明聯) prints: the order's invoice status, its invoice and the
    /// merchant's plan (the seller's company name), in one `BatchGetItem`.
    pub async fn proof_context(&self, merchant_id: &str, order_id: &str) -> Result<(Option<OrderHead>, Option<InvoiceItem>, Option<PlanItem>), StoreError> {
        let pk = order_keys::order(merchant_id, order_id);
        let keys = [(pk.clone(), order_keys::ORDER), (pk, order_keys::INVOICE), (keys::merchant(merchant_id), keys::PLAN)];
        let [order, invoice, plan]: [_; 3] = self.get_many(&keys).await?.try_into().expect("one answer per key");
        Ok((order.map(from_item).transpose()?, invoice.map(from_item).transpose()?, plan.map(from_item).transpose()?))
    }

    /// The order, its invoice and the merchant's settings: one `BatchGetItem`.
    pub async fn issue_context(&self, merchant_id: &str, order_id: &str) -> Result<IssueContext, StoreError> {
        let order = order_keys::order(merchant_id, order_id);
        let keys = [(order.clone(), order_keys::ORDER), (order, order_keys::INVOICE), (keys::merchant(merchant_id), keys::SETTINGS)];
        let [order, invoice, settings]: [_; 3] = self.get_many(&keys).await?.try_into().expect("one answer per key");
        let order = match order {
            Some(raw) => Some(self.complete_order(raw, None).await?),
            None => None,
        };
        Ok(IssueContext { order, invoice: invoice.map(from_item).transpose()?, settings: settings.map(from_item).transpose()? })
    }

    /// Writes the order a webhook merged, in one conditional `PutItem`: its `version` is one more
    /// than what was read (1: nothing was). The item carries the event's id (deduplication)
    /// and the claim with its due time, so applying an event is one write (whose stream record
    /// hands a claim to the invoice-issuer). A large order's lines go to their own item first
    /// (`lines_key`), only when `previous` (the order as read) did not have these lines: a
    /// webhook that does not change the lines rewrites only the small order item.
    ///
    /// When another write came first, the condition fails and its answer carries the order as
    /// it is now (`ALL_OLD`): [`OrderWrite::Stale`] with it, so the caller merges again without
    /// reading.
    pub async fn save_order(&self, order: &OrderItem, previous: Option<&OrderItem>) -> Result<OrderWrite, StoreError> {
        use aws_sdk_dynamodb::operation::put_item::PutItemError;
        let (item, lines) = order_attributes(order);
        if let Some(l) = &lines
            && previous.and_then(|p| p.lines_key.as_deref()) != Some(l.key.as_str())
        {
            self.put_order_lines(order, l).await?;
        }
        let (condition, values) = versioned(order.version);
        let mut put = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression(condition)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (name, value) in values {
            put = put.expression_attribute_values(name, value);
        }
        match put.send().await {
            Ok(_) => Ok(OrderWrite::Saved),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(c)) => {
                    let current = match c.item() {
                        Some(raw) => Some(Box::new(self.complete_order(raw.clone(), lines.as_ref()).await?)),
                        None => None,
                    };
                    Ok(OrderWrite::Stale(current))
                }
                _ => Err(dynamo(e)),
            },
        }
    }

    /// The return the order asked for is done (issuer side, the invoice uploaded):
    /// `return_pending` goes and the order leaves the due index, unless the order changed since
    /// `seen_version` (a newer cancel or refund, handed over by its own write).
    pub async fn finish_return(&self, merchant_id: &str, order_id: &str, seen_version: u64) -> Result<(), StoreError> {
        let result = self
            .order_update(merchant_id, order_id)
            .update_expression("REMOVE return_pending, due_at, due_shard, retries SET version = version + :one")
            .condition_expression("version = :seen")
            .expression_attribute_values(":seen", AttributeValue::N(seen_version.to_string()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(dynamo(e)),
        }
    }

    /// Sets the order's invoice status (issuer side), bumping its version so a webhook that
    /// read it before writes again on fresh data.
    pub async fn set_invoice_status(&self, merchant_id: &str, order_id: &str, status: InvoiceStatus, reason: Option<&str>, due: Due) -> Result<(), StoreError> {
        let mut update = self
            .order_update(merchant_id, order_id)
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":status", attribute(&status))
            .expression_attribute_values(":one", AttributeValue::N("1".into()));
        for (name, value) in due.values(merchant_id, order_id) {
            update = update.expression_attribute_values(name, value);
        }
        update = match reason {
            Some(r) => update.update_expression(status_expression(status, Reason::Set, due)).expression_attribute_values(":reason", s(r)),
            None => update.update_expression(status_expression(status, Reason::Clear, due)),
        };
        update.send().await.map(|_| ()).map_err(dynamo)
    }

    /// Work on the order failed and nothing else recorded when to try again: the reconciler
    /// takes it up at `at` (one more failed try counted). The version moves, so a webhook
    /// holding an older copy cannot write the old due time back.
    pub async fn defer(&self, merchant_id: &str, order_id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let due = Due::Later { at, failed: true };
        let (set, _) = due.parts();
        let mut update = self
            .order_update(merchant_id, order_id)
            .update_expression(update_expression(&[set.as_slice(), &["version = version + :one"]].concat(), &[]))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":one", AttributeValue::N("1".into()));
        for (name, value) in due.values(merchant_id, order_id) {
            update = update.expression_attribute_values(name, value);
        }
        update.send().await.map(|_| ()).map_err(dynamo)
    }

    /// The reconciler found the order's work done: it leaves the due index, unless a newer
    /// due time than `seen` was set meanwhile. `false` when it was not (already out, or newer).
    pub async fn settle_due(&self, merchant_id: &str, order_id: &str, seen: &str) -> Result<bool, StoreError> {
        let result = self
            .order_update(merchant_id, order_id)
            .update_expression("REMOVE due_at, due_shard, retries SET version = version + :one")
            .condition_expression("due_at = :seen")
            .expression_attribute_values(":seen", s(seen))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(dynamo(e)),
        }
    }

    /// Orders whose invoice work is due at `now`, earliest first, at most `limit`; `true` when
    /// more are due than returned. Reads only due items: one query per index partition.
    pub async fn due_orders(&self, now: DateTime<Utc>, limit: usize) -> Result<(Vec<DueOrder>, bool), StoreError> {
        let mut due = Vec::new();
        let mut more = false;
        let limit_i32 = i32::try_from(limit.max(1)).unwrap_or(i32::MAX);
        for shard in 0..DUE_SHARDS {
            let out = self
                .client()
                .query()
                .table_name(self.table())
                .index_name(DUE_INDEX)
                .key_condition_expression("due_shard = :shard AND due_at <= :now")
                .expression_attribute_values(":shard", s(format!("DUE#{shard}")))
                .expression_attribute_values(":now", s(due_stamp(now)))
                .limit(limit_i32)
                .send()
                .await
                .map_err(dynamo)?;
            more |= out.last_evaluated_key().is_some();
            for item in out.items() {
                due.push(from_item::<DueOrder>(item.clone())?);
            }
        }
        due.sort_by(|a, b| a.due_at.cmp(&b.due_at));
        more |= due.len() > limit;
        due.truncate(limit);
        Ok((due, more))
    }

    /// The ranges known for a merchant and period, oldest first.
    pub async fn ranges(&self, merchant_id: &str, period: &str) -> Result<Vec<RangeItem>, StoreError> {
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk AND begins_with(sk, :range)")
            .expression_attribute_values(":pk", s(order_keys::ranges(merchant_id, period)))
            .expression_attribute_values(":range", s("RANGE#"))
            .consistent_read(true)
            .send()
            .await
            .map_err(dynamo)?;
        out.items().iter().map(|i| from_item(i.clone())).collect()
    }

    /// Stores a range the provider assigned; `false` if it was stored already. The merchant is
    /// first listed under the period, for the period-close job.
    pub async fn add_range(&self, range: &RangeItem) -> Result<bool, StoreError> {
        let listed = PeriodMerchantItem {
            pk: order_keys::period(&range.period),
            sk: crate::store::keys::merchant(&range.merchant_id),
            entity: "period_merchant".into(),
            merchant_id: range.merchant_id.clone(),
            period: range.period.clone(),
        };
        self.client().put_item().table_name(self.table()).set_item(Some(to_item(&listed))).send().await.map_err(dynamo)?;
        self.put_if_absent(range).await
    }

    /// Which of `numbers` carry an invoice of `seller_ubn` (their number guard exists).
    pub async fn numbers_in_use(&self, seller_ubn: &str, numbers: &[String]) -> Result<std::collections::HashSet<String>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut used = std::collections::HashSet::new();
        for chunk in numbers.chunks(100) {
            let mut keys: Vec<HashMap<String, AttributeValue>> =
                chunk.iter().map(|n| key(order_keys::invoice_number(seller_ubn, n), order_keys::REF)).collect();
            while !keys.is_empty() {
                let request = KeysAndAttributes::builder().set_keys(Some(keys)).consistent_read(true).build().expect("keys are set");
                let out = self.client().batch_get_item().request_items(self.table(), request).send().await.map_err(dynamo)?;
                for item in out.responses().and_then(|r| r.get(self.table())).into_iter().flatten() {
                    if let Some(pk) = item.get("pk").and_then(|v| v.as_s().ok()) {
                        used.insert(pk.rsplit('#').next().unwrap_or_default().to_owned());
                    }
                }
                keys = out.unprocessed_keys().and_then(|u| u.get(self.table())).map(|k| k.keys().to_vec()).unwrap_or_default();
            }
        }
        Ok(used)
    }

    /// Merchants that had ranges in `period`.
    pub async fn period_merchants(&self, period: &str) -> Result<Vec<String>, StoreError> {
        let mut merchants = Vec::new();
        let mut pages = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(order_keys::period(period)))
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            let item: PeriodMerchantItem = from_item(item.map_err(dynamo)?)?;
            merchants.push(item.merchant_id);
        }
        Ok(merchants)
    }

    /// Everything about a merchant's numbers of one period, in one query.
    pub async fn period_numbers(&self, merchant_id: &str, period: &str) -> Result<PeriodNumbers, StoreError> {
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(order_keys::ranges(merchant_id, period)))
            .consistent_read(true)
            .send()
            .await
            .map_err(dynamo)?;
        let mut numbers = PeriodNumbers::default();
        for item in out.items() {
            match item.get("entity").and_then(|e| e.as_s().ok()).map(String::as_str) {
                Some("number_range") => numbers.ranges.push(from_item(item.clone())?),
                Some("skipped_number") => numbers.skipped.push(from_item::<SkippedNumberItem>(item.clone())?.number),
                Some("period_close") => numbers.closed = Some(from_item(item.clone())?),
                _ => {}
            }
        }
        Ok(numbers)
    }

    /// Records the close report once; `false` if it was recorded already.
    pub async fn record_period_close(&self, close: &PeriodCloseItem) -> Result<bool, StoreError> {
        self.put_if_absent(close).await
    }

    /// Leases up to `wanted` consecutive sequences of `range` with one atomic conditional
    /// update of its counter: `Some((first, count))`, `count < wanted` only when the range had
    /// fewer left (the rest is then taken with a second update); `None` when it is used up.
    pub async fn take_block(&self, range: &RangeItem, wanted: u32) -> Result<Option<(u32, u32)>, StoreError> {
        let wanted = wanted.max(1);
        // The whole block fits while `next + wanted - 1 <= last`.
        let latest_start = i64::from(range.last) + 1 - i64::from(wanted);
        let counter =
            |item: Option<&HashMap<String, AttributeValue>>| item.and_then(|a| a.get("next")).and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<u32>().ok());
        // Each round that loses the tail to a concurrent taker starts over.
        for _ in 0..8 {
            let result = self
                .client()
                .update_item()
                .table_name(self.table())
                .set_key(Some(key(range.pk.clone(), range.sk.clone())))
                .update_expression("SET #next = #next + :n")
                .condition_expression("#next <= :latest_start")
                .expression_attribute_names("#next", "next")
                .expression_attribute_values(":n", AttributeValue::N(wanted.to_string()))
                .expression_attribute_values(":latest_start", AttributeValue::N(latest_start.to_string()))
                .return_values(ReturnValue::UpdatedOld)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .send()
                .await;
            let seen = match result {
                Ok(out) => {
                    let first = counter(out.attributes()).ok_or_else(|| StoreError::Corrupt("range update returned no counter".into()))?;
                    return Ok(Some((first, wanted)));
                }
                Err(e) => match e.as_service_error() {
                    Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c)) => counter(c.item()),
                    _ => return Err(dynamo(e)),
                },
            };
            // Fewer than `wanted` left: take what is left, if the counter did not move meanwhile.
            let Some(seen) = seen.filter(|n| *n <= range.last) else {
                return Ok(None);
            };
            let rest = self
                .client()
                .update_item()
                .table_name(self.table())
                .set_key(Some(key(range.pk.clone(), range.sk.clone())))
                .update_expression("SET #next = :end")
                .condition_expression("#next = :seen")
                .expression_attribute_names("#next", "next")
                .expression_attribute_values(":seen", AttributeValue::N(seen.to_string()))
                .expression_attribute_values(":end", AttributeValue::N((range.last + 1).to_string()))
                .send()
                .await;
            match rest {
                Ok(_) => return Ok(Some((seen, range.last + 1 - seen))),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => {
                    continue;
                }
                Err(e) => return Err(dynamo(e)),
            }
        }
        Err(StoreError::Dynamo("number range contended: no block after 8 rounds".into()))
    }

    /// Records the invoice, its number guard and the order's `issued` status, all or nothing.
    /// `Conflict` when the order already has an invoice or the number is taken.
    pub async fn record_invoice(&self, invoice: &InvoiceItem) -> Result<(), StoreError> {
        let guard = NumberGuardItem {
            pk: order_keys::invoice_number(&invoice.seller_ubn, &invoice.number),
            sk: order_keys::REF.into(),
            entity: "invoice_number".into(),
            merchant_id: invoice.merchant_id.clone(),
            order_id: invoice.order_id.clone(),
        };
        // The upload follows at once; if it does not, the reconciler takes it up.
        let due = Due::Later { at: invoice.issued_at + einvoice_domain::recovery::HANDOFF_GRACE, failed: false };
        let items = vec![
            conditional_put(self.table(), to_item(invoice), "attribute_not_exists(pk)", &[]),
            conditional_put(self.table(), to_item(&guard), "attribute_not_exists(pk)", &[]),
            order_status_update(self.table(), &invoice.merchant_id, &invoice.order_id, InvoiceStatus::Issued, Reason::Clear, due, ORDER_EXISTS),
        ];
        self.client().transact_write_items().set_transact_items(Some(items)).send().await.map(|_| ()).map_err(|e| {
            use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
            match e.as_service_error() {
                // The invoice or the number exists: a second invoice, never to be written.
                Some(E::TransactionCanceledException(c)) if c.cancellation_reasons().iter().take(2).any(|r| r.code() == Some("ConditionalCheckFailed")) => {
                    StoreError::Conflict
                }
                _ => dynamo(e),
            }
        })
    }

    /// Appends an allowance, expecting `known` allowances (so concurrent processors cannot
    /// both add one); `Conflict` otherwise.
    pub async fn add_allowance(&self, invoice: &InvoiceItem, known: usize, allowance: &AllowanceItem) -> Result<(), StoreError> {
        let list = attribute(&[allowance]);
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(invoice.pk.clone(), invoice.sk.clone())))
            .update_expression("SET allowances = list_append(if_not_exists(allowances, :empty), :new)")
            .condition_expression(if known == 0 { "attribute_not_exists(allowances)" } else { "size(allowances) = :n" })
            .expression_attribute_values(":empty", AttributeValue::L(vec![]))
            .expression_attribute_values(":new", list);
        let result = if known == 0 { result } else { result.expression_attribute_values(":n", AttributeValue::N(known.to_string())) };
        match result.send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Err(StoreError::Conflict),
            Err(e) => Err(dynamo(e)),
        }
    }

    /// Sets allowance `index`'s status (`uploaded`, `void`).
    pub async fn set_allowance_status(&self, invoice: &InvoiceItem, index: usize, status: &str) -> Result<(), StoreError> {
        self.client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(invoice.pk.clone(), invoice.sk.clone())))
            .update_expression(format!("SET allowances[{index}].#status = :status"))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status))
            .send()
            .await
            .map(|_| ())
            .map_err(dynamo)
    }

    /// Records the void of an invoice and the order's `void` status.
    pub async fn record_void(&self, invoice: &InvoiceItem, at: DateTime<Utc>) -> Result<(), StoreError> {
        let stamp = s(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        self.transact(vec![
            invoice_update(self.table(), invoice, "SET voided_at = if_not_exists(voided_at, :at)", ":at", stamp),
            order_status_update(self.table(), &invoice.merchant_id, &invoice.order_id, InvoiceStatus::Void, Reason::Keep, Due::Keep, ORDER_EXISTS),
        ])
        .await
    }

    /// Records why an allocated number went unused (reported at period close).
    pub async fn record_skipped_number(
        &self,
        merchant_id: &str,
        period: &str,
        number: &str,
        order_id: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let item = SkippedNumberItem {
            pk: order_keys::ranges(merchant_id, period),
            sk: order_keys::skipped(number),
            entity: "skipped_number".into(),
            number: number.into(),
            order_id: order_id.into(),
            reason: reason.into(),
            at,
        };
        self.client().put_item().table_name(self.table()).set_item(Some(to_item(&item))).send().await.map(|_| ()).map_err(dynamo)
    }

    /// Writes the invoice's upload state and mirrors it in the order's invoice status, with the
    /// order's due time as `due` says; `true` when the order has a return (cancel, refund)
    /// waiting for this invoice, which the same write finds out (no extra read on the happy
    /// path). The return keeps the order due (at `now` + the hand-off grace at the latest).
    pub async fn record_upload(&self, invoice: &InvoiceItem, order_status: InvoiceStatus, due: Due, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let write = |order_condition: &str, due: Due| {
            vec![
                invoice_update(self.table(), invoice, "SET upload = :upload", ":upload", attribute(&invoice.upload)),
                order_status_update(self.table(), &invoice.merchant_id, &invoice.order_id, order_status, Reason::Keep, due, order_condition),
            ]
        };
        let result = self.client().transact_write_items().set_transact_items(Some(write(NO_RETURN_PENDING, due))).send().await;
        let Err(e) = result else { return Ok(false) };
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
        let return_pending = matches!(e.as_service_error(), Some(E::TransactionCanceledException(c))
            if c.cancellation_reasons().get(1).and_then(|r| r.code()) == Some("ConditionalCheckFailed"));
        if !return_pending {
            return Err(dynamo(e));
        }
        let due = match due {
            Due::Done => Due::Later { at: now + einvoice_domain::recovery::HANDOFF_GRACE, failed: false },
            later => later,
        };
        self.transact(write(ORDER_EXISTS, due)).await?;
        Ok(true)
    }
}

const ORDER_EXISTS: &str = "attribute_exists(pk)";
const NO_RETURN_PENDING: &str = "attribute_exists(pk) AND attribute_not_exists(return_pending)";

#[cfg(test)]
mod tests {
    use super::*;

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
            upload: UploadState { status: "pending".into(), attempts: 0, last_error: None, uploaded_at: None, deadline: at },
            allowances: Vec::new(),
            voided_at: None,
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
