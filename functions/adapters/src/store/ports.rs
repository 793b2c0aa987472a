//! The ports: one trait per capability the functions need from the table. The DynamoDB
//! adapter ([`super::Store`]) and the in-memory one (`memory::MemoryStore`, feature `testing`)
//! implement each with the same conditional semantics, and one contract suite
//! (`contract`, run against moto by `tests/tests/store_moto.rs` and against memory by the
//! adapters' unit tests) holds them to it.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use super::{Claim, ExpiringPlans, IdempotencyItem, MerchantItems, NoticeItem, PlanItem, PlanOrderItem, StoreError};
use crate::mail::{MailClaim, MailItem};
use crate::settings::SettingsItem;

/// The merchant's plan (方案), its purchase and renewal orders (購買 / 續購) and the notices of
/// the plan view.
#[async_trait]
pub trait PlanStore: Send + Sync {
    async fn plan(&self, merchant_id: &str) -> Result<Option<PlanItem>, StoreError>;

    async fn plan_order(&self, merchant_id: &str, order_id: &str) -> Result<Option<PlanOrderItem>, StoreError>;

    /// Which merchant a plan order belongs to (the payment callback knows only the order id).
    async fn plan_order_merchant(&self, order_id: &str) -> Result<Option<String>, StoreError>;

    /// The plan, its orders (by id: checkout orders are time-ordered UUID v7s; auto-renewal
    /// orders, derived from their charge, sort among them by hash), the invoice settings and
    /// the notices (by time), in one read of the merchant's partition.
    async fn merchant_items(&self, merchant_id: &str) -> Result<MerchantItems, StoreError>;

    /// Creates a plan order and its order-id pointer, and completes the idempotency record
    /// `completes = (pk, status, body)` with the response, all or nothing. `Conflict` when the
    /// order exists or the record is not this order's `in_progress` claim.
    async fn create_plan_order(&self, order: &PlanOrderItem, completes: Option<(&str, u16, &str)>) -> Result<(), StoreError>;

    /// Applies a payment, all or nothing: the order becomes paid (only from `pending_payment`
    /// or `failed`), the plan is replaced (only if nobody changed it since `plan.version - 1`
    /// was read; version 1: no plan existed), and a notice is added. `Conflict` when either
    /// condition fails.
    async fn apply_payment(&self, paid_order: &PlanOrderItem, plan: &PlanItem, notice: Option<&NoticeItem>) -> Result<(), StoreError>;

    /// Writes the plan (auto-renew settings, card, renewal bookkeeping), with a notice for the
    /// plan view if given; `Conflict` when the plan changed since it was read.
    async fn put_plan(&self, plan: &PlanItem, notice: Option<&NoticeItem>) -> Result<(), StoreError>;

    /// Records a renewal the job charged: a new paid order (its id derived from the charge's
    /// idempotency key, so it is recorded once) and the extended plan, together.
    async fn record_renewal(&self, order: &PlanOrderItem, plan: &PlanItem) -> Result<(), StoreError>;

    /// Plans whose `expires_on` is one of the days `from..=to` (the `by-expiry` index), and
    /// what reading them cost.
    async fn plans_expiring(&self, from: NaiveDate, to: NaiveDate) -> Result<ExpiringPlans, StoreError>;

    /// `pending_payment` → `failed`; false when the order was no longer pending (or is unknown).
    async fn fail_plan_order(&self, merchant_id: &str, order_id: &str, at: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Takes the lease on a paid order's outstanding side effects until `until`, so that of
    /// many concurrent callbacks exactly one performs them. False when nothing is pending or
    /// another request holds an unexpired lease.
    async fn lease_order_effects(&self, merchant_id: &str, order_id: &str, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Marks outbox flags of a plan order done (`pending_onboarding`, `pending_notification`);
    /// with `release`, also gives up the effects lease.
    async fn clear_order_flags(&self, merchant_id: &str, order_id: &str, flags: &[&str], release: bool) -> Result<(), StoreError>;
}

/// `Idempotency-Key` records: the first request's outcome, replayed to its repeats.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Takes an idempotency key, or returns the record someone else already holds for it.
    async fn claim_idempotency(&self, record: &IdempotencyItem) -> Result<Claim, StoreError>;

    async fn idempotency(&self, pk: &str) -> Result<Option<IdempotencyItem>, StoreError>;

    /// Drops a claim still `in_progress` (its request failed before creating anything), so the
    /// client may retry with the same key; a completed record stays.
    async fn release_idempotency(&self, pk: &str) -> Result<(), StoreError>;
}

/// The merchant's invoice settings and sealed Wixtar credentials (串接).
#[async_trait]
pub trait SettingsStore: Send + Sync {
    async fn settings(&self, merchant_id: &str) -> Result<Option<SettingsItem>, StoreError>;

    /// Writes settings whose `version` is one more than the version read (`version` 1: none
    /// was stored). `Conflict` when someone saved in between.
    async fn put_settings(&self, item: &SettingsItem) -> Result<(), StoreError>;
}

/// The send ledger of e-mails (通知信): one mail per event id, however often it is delivered.
#[async_trait]
pub trait MailLedger: Send + Sync {
    /// Claims the mail of `record.event_id`: succeeds when no record exists, or the existing
    /// one is not `sent` and its lease ran out (a crashed or failed attempt); `attempts` counts
    /// the claims taken, `created_at` stays the first's.
    async fn claim_mail(&self, record: &MailItem, now: DateTime<Utc>) -> Result<MailClaim, StoreError>;

    /// The claimed mail was accepted: `sent`, with its message id; the lease is dropped.
    async fn mail_sent(&self, event_id: &str, message_id: &str, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// The claimed mail could not be sent: `failed` with the reason, lease dropped, so the next
    /// delivery of the event claims it at once. Never overwrites a `sent` record.
    async fn mail_failed(&self, event_id: &str, error: &str, at: DateTime<Utc>) -> Result<(), StoreError>;

    /// The send record of one event.
    async fn mail_record(&self, event_id: &str) -> Result<Option<MailItem>, StoreError>;
}
