//! The single DynamoDB table. Item layout (docs/table-layout.md):
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

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use chrono::{DateTime, NaiveDate, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use einvoice_domain::{AutoRenew, ChargeAttempts, UsagePeriod};

use crate::aws::describe;

mod ports;
#[cfg(any(test, feature = "testing"))]
pub mod contract;
#[cfg(any(test, feature = "testing"))]
pub mod memory;
pub use ports::{IdempotencyStore, MailLedger, PlanStore, SettingsStore};

use async_trait::async_trait;

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

pub(crate) fn dynamo<E: std::error::Error + 'static>(e: SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>) -> StoreError {
    StoreError::Dynamo(describe(&e))
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
struct OrderRefItem {
    pk: String,
    sk: String,
    entity: String,
    merchant_id: String,
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

pub(crate) fn to_item<T: Serialize>(value: &T) -> HashMap<String, AttributeValue> {
    serde_dynamo::to_item(value).expect("our items serialize to DynamoDB maps")
}

pub(crate) fn from_item<T: DeserializeOwned>(item: HashMap<String, AttributeValue>) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn key(pk: String, sk: impl Into<String>) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

/// A transaction that cancelled because a condition failed is a [`StoreError::Conflict`].
fn transaction_error(
    e: SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> StoreError {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
    if let Some(E::TransactionCanceledException(c)) = e.as_service_error() {
        let conditional = c.cancellation_reasons().iter().any(|r| r.code() == Some("ConditionalCheckFailed"));
        let conflicting = c.cancellation_reasons().iter().any(|r| r.code() == Some("TransactionConflict"));
        if conditional || conflicting {
            return StoreError::Conflict;
        }
    }
    dynamo(e)
}

fn put(item: HashMap<String, AttributeValue>, table: &str, condition: &str) -> TransactWriteItem {
    TransactWriteItem::builder()
        .put(Put::builder().table_name(table).set_item(Some(item)).condition_expression(condition).build().expect("put is complete"))
        .build()
}

/// The table, typed.
#[derive(Clone)]
pub struct Store {
    client: Client,
    table: String,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, pk: String, sk: &str) -> Result<Option<T>, StoreError> {
        let out = self.client.get_item().table_name(&self.table).set_key(Some(key(pk, sk))).consistent_read(true).send().await.map_err(dynamo)?;
        out.item.map(from_item).transpose()
    }

    /// Reads up to 100 items in one `BatchGetItem` (strongly consistent; keys DynamoDB left
    /// unprocessed are asked for again), each in the position of its key. One round trip
    /// where separate `GetItem`s would be several.
    pub(crate) async fn get_many(&self, keys: &[(String, &str)]) -> Result<Vec<Option<HashMap<String, AttributeValue>>>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut found: HashMap<(String, String), HashMap<String, AttributeValue>> = HashMap::new();
        let mut ask: Vec<HashMap<String, AttributeValue>> = keys.iter().map(|(pk, sk)| key(pk.clone(), *sk)).collect();
        while !ask.is_empty() {
            let request = KeysAndAttributes::builder().set_keys(Some(ask)).consistent_read(true).build().expect("keys are set");
            let out = self.client.batch_get_item().request_items(&self.table, request).send().await.map_err(dynamo)?;
            for item in out.responses().and_then(|r| r.get(&self.table)).into_iter().flatten() {
                let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                found.insert((text("pk"), text("sk")), item.clone());
            }
            ask = out.unprocessed_keys().and_then(|u| u.get(&self.table)).map(|k| k.keys().to_vec()).unwrap_or_default();
        }
        Ok(keys.iter().map(|(pk, sk)| found.remove(&(pk.clone(), (*sk).to_owned()))).collect())
    }

    /// Runs a transaction; a failed condition (or a conflicting transaction) is `Conflict`.
    pub(crate) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        self.client.transact_write_items().set_transact_items(Some(items)).send().await.map(|_| ()).map_err(transaction_error)
    }

    /// Puts `item` unless an item with its key exists; `false` if one did.
    pub(crate) async fn put_if_absent<T: Serialize>(&self, item: &T) -> Result<bool, StoreError> {
        let result = self.client.put_item().table_name(&self.table).set_item(Some(to_item(item))).condition_expression("attribute_not_exists(pk)").send().await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(dynamo(e)),
        }
    }

    /// A whole-plan Put that holds only if nobody wrote the plan since it was read at
    /// `plan.version - 1` (version 1: no plan existed).
    fn plan_put(&self, plan: &PlanItem) -> Put {
        let put = Put::builder().table_name(&self.table).set_item(Some(to_item(plan)));
        let put = if plan.version <= 1 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("version = :expected").expression_attribute_values(":expected", AttributeValue::N((plan.version - 1).to_string()))
        };
        put.build().expect("put is complete")
    }
}

#[async_trait]
impl PlanStore for Store {
    async fn plan(&self, merchant_id: &str) -> Result<Option<PlanItem>, StoreError> {
        self.get(keys::merchant(merchant_id), keys::PLAN).await
    }

    async fn plan_order(&self, merchant_id: &str, order_id: &str) -> Result<Option<PlanOrderItem>, StoreError> {
        self.get(keys::merchant(merchant_id), &keys::plan_order(order_id)).await
    }

    async fn plan_order_merchant(&self, order_id: &str) -> Result<Option<String>, StoreError> {
        let r: Option<OrderRefItem> = self.get(keys::plan_order(order_id), keys::REF).await?;
        Ok(r.map(|r| r.merchant_id))
    }

    async fn merchant_items(&self, merchant_id: &str) -> Result<MerchantItems, StoreError> {
        let mut items = MerchantItems::default();
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(keys::merchant(merchant_id)))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            let item = item.map_err(dynamo)?;
            match item.get("entity").and_then(|v| v.as_s().ok()).map(String::as_str) {
                Some("plan") => items.plan = Some(from_item(item)?),
                Some("invoice_settings") => items.settings = Some(from_item(item)?),
                Some("plan_order") => items.orders.push(from_item(item)?),
                Some("notice") => items.notices.push(from_item(item)?),
                _ => {}
            }
        }
        Ok(items)
    }

    async fn create_plan_order(&self, order: &PlanOrderItem, completes: Option<(&str, u16, &str)>) -> Result<(), StoreError> {
        let reference = OrderRefItem {
            pk: keys::plan_order(&order.order_id),
            sk: keys::REF.into(),
            entity: "plan_order_ref".into(),
            merchant_id: order.merchant_id.clone(),
        };
        let mut items = vec![put(to_item(order), &self.table, "attribute_not_exists(pk)"), put(to_item(&reference), &self.table, "attribute_not_exists(pk)")];
        if let Some((pk, status, body)) = completes {
            items.push(
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name(&self.table)
                            .set_key(Some(key(pk.to_owned(), keys::IDEMPOTENCY)))
                            .update_expression("SET #state = :completed, status_code = :status, response_body = :body")
                            .condition_expression("#state = :in_progress AND resource_id = :rid")
                            .expression_attribute_names("#state", "state")
                            .expression_attribute_values(":completed", s(IdempotencyState::Completed.as_str()))
                            .expression_attribute_values(":in_progress", s(IdempotencyState::InProgress.as_str()))
                            .expression_attribute_values(":status", AttributeValue::N(status.to_string()))
                            .expression_attribute_values(":body", s(body))
                            .expression_attribute_values(":rid", s(order.order_id.clone()))
                            .build()
                            .expect("update is complete"),
                    )
                    .build(),
            );
        }
        self.transact(items).await
    }

    async fn apply_payment(&self, paid_order: &PlanOrderItem, plan: &PlanItem, notice: Option<&NoticeItem>) -> Result<(), StoreError> {
        let order_put = TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(to_item(paid_order)))
                    .condition_expression("#status IN (:pending, :failed)")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":pending", s(PlanOrderStatus::PendingPayment.as_str()))
                    .expression_attribute_values(":failed", s(PlanOrderStatus::Failed.as_str()))
                    .build()
                    .expect("put is complete"),
            )
            .build();
        let plan_put = self.plan_put(plan);
        let mut items = vec![order_put, TransactWriteItem::builder().put(plan_put).build()];
        if let Some(n) = notice {
            items.push(put(to_item(n), &self.table, "attribute_not_exists(pk)"));
        }
        self.transact(items).await
    }

    async fn put_plan(&self, plan: &PlanItem, notice: Option<&NoticeItem>) -> Result<(), StoreError> {
        let mut items = vec![TransactWriteItem::builder().put(self.plan_put(plan)).build()];
        if let Some(n) = notice {
            items.push(put(to_item(n), &self.table, "attribute_not_exists(pk)"));
        }
        self.transact(items).await
    }

    async fn record_renewal(&self, order: &PlanOrderItem, plan: &PlanItem) -> Result<(), StoreError> {
        let reference = OrderRefItem {
            pk: keys::plan_order(&order.order_id),
            sk: keys::REF.into(),
            entity: "plan_order_ref".into(),
            merchant_id: order.merchant_id.clone(),
        };
        let items = vec![
            put(to_item(order), &self.table, "attribute_not_exists(pk)"),
            put(to_item(&reference), &self.table, "attribute_not_exists(pk)"),
            TransactWriteItem::builder().put(self.plan_put(plan)).build(),
        ];
        self.transact(items).await
    }

    async fn plans_expiring(&self, from: NaiveDate, to: NaiveDate) -> Result<ExpiringPlans, StoreError> {
        let mut found = ExpiringPlans::default();
        for day in from.iter_days().take_while(|d| *d <= to) {
            let mut start = None;
            loop {
                let page = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(EXPIRY_INDEX)
                    .key_condition_expression("expires_on = :day")
                    .expression_attribute_values(":day", s(day.to_string()))
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(dynamo)?;
                found.queries += 1;
                found.items_read += u64::try_from(page.scanned_count()).unwrap_or(0);
                for item in page.items() {
                    found.plans.push(from_item(item.clone())?);
                }
                start = page.last_evaluated_key().cloned();
                if start.is_none() {
                    break;
                }
            }
        }
        Ok(found)
    }

    async fn fail_plan_order(&self, merchant_id: &str, order_id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::merchant(merchant_id), keys::plan_order(order_id))))
            .update_expression("SET #status = :failed, failed_at = :at")
            .condition_expression("#status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":failed", s(PlanOrderStatus::Failed.as_str()))
            .expression_attribute_values(":pending", s(PlanOrderStatus::PendingPayment.as_str()))
            .expression_attribute_values(":at", s(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(_)) => Ok(false),
                _ => Err(dynamo(e)),
            },
        }
    }

    async fn lease_order_effects(&self, merchant_id: &str, order_id: &str, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<bool, StoreError> {
        let stamp = |t: DateTime<Utc>| s(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::merchant(merchant_id), keys::plan_order(order_id))))
            .update_expression("SET effects_lease_until = :until")
            .condition_expression(
                "(pending_onboarding = :t OR pending_notification = :t) \
                 AND (attribute_not_exists(effects_lease_until) OR effects_lease_until < :now)",
            )
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":now", stamp(now))
            .expression_attribute_values(":until", stamp(until))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(_)) => Ok(false),
                _ => Err(dynamo(e)),
            },
        }
    }

    async fn clear_order_flags(&self, merchant_id: &str, order_id: &str, flags: &[&str], release: bool) -> Result<(), StoreError> {
        let mut names: Vec<String> = (0..flags.len()).map(|i| format!("#f{i}")).collect();
        if release {
            names.push("effects_lease_until".into());
        }
        if names.is_empty() {
            return Ok(());
        }
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::merchant(merchant_id), keys::plan_order(order_id))))
            .update_expression(format!("REMOVE {}", names.join(", ")));
        for (i, flag) in flags.iter().enumerate() {
            req = req.expression_attribute_names(format!("#f{i}"), *flag);
        }
        req.send().await.map(|_| ()).map_err(dynamo)
    }
}

#[async_trait]
impl IdempotencyStore for Store {
    async fn claim_idempotency(&self, record: &IdempotencyItem) -> Result<Claim, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record)))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Claimed),
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c)) => match c.item.clone() {
                    Some(old) => Ok(Claim::Existing(from_item(old)?)),
                    None => self.idempotency(&record.pk).await?.map(Claim::Existing).ok_or(StoreError::Conflict),
                },
                _ => Err(dynamo(e)),
            },
        }
    }

    async fn idempotency(&self, pk: &str) -> Result<Option<IdempotencyItem>, StoreError> {
        self.get(pk.to_owned(), keys::IDEMPOTENCY).await
    }

    async fn release_idempotency(&self, pk: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk.to_owned(), keys::IDEMPOTENCY)))
            .condition_expression("#state = :in_progress")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":in_progress", s(IdempotencyState::InProgress.as_str()))
            .send()
            .await
            .map(|_| ())
            .or_else(|e| match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::delete_item::DeleteItemError::ConditionalCheckFailedException(_)) => Ok(()),
                _ => Err(dynamo(e)),
            })
    }
}

impl From<StoreError> for crate::api::ApiError {
    /// Logs the cause (inside the request's span) and answers a retryable 503.
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "storage call failed");
        crate::api::ApiError::unavailable("storage_unavailable", "state storage is unavailable; retry later")
    }
}
