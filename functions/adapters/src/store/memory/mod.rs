//! The store ports in memory (feature `testing`): the functions' decisions are unit-tested
//! against it, without moto. Every condition the DynamoDB adapter writes as an expression is
//! written here as Rust, and the contract suite (`contract`) runs against both.
//!
//! Each call first yields to the runtime, so concurrent tasks interleave between a read and
//! the write that depends on it, as they do against DynamoDB; [`MemoryStore::fail_next`]
//! makes the next calls fail as if DynamoDB were unavailable. Whole items are stored as the
//! DynamoDB adapter writes them (through `serde_dynamo` and back), so what is read back is what
//! it would read (times of `due_at` in whole seconds, absent attributes as their defaults).
//!
//! The plan, idempotency, settings and mail ports are here; the order-side ones (orders,
//! invoices, the number ledger, the due index) in `orders.rs`.

mod orders;
mod prizes;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use super::orders::{InvoiceItem, OrderItem, PeriodCloseItem, RangeItem};
use super::{
    Claim, ExpiringPlans, IdempotencyItem, IdempotencyState, IdempotencyStore, MailLedger, MerchantItems, NoticeItem, PlanItem, PlanOrderItem, PlanOrderStatus,
    PlanStore, SettingsStore, StoreError,
};
use crate::mail::{MailClaim, MailItem, MailStatus};
use crate::settings::SettingsItem;

/// Items by key, one map per kind of item.
#[derive(Default)]
struct Tables {
    /// By merchant id.
    plans: BTreeMap<String, PlanItem>,
    /// By (merchant id, order id).
    plan_orders: BTreeMap<(String, String), PlanOrderItem>,
    /// Plan order id → merchant id.
    plan_order_refs: BTreeMap<String, String>,
    /// By (merchant id, sort key): the sort key orders them by time.
    notices: BTreeMap<(String, String), NoticeItem>,
    /// By partition key.
    idempotency: BTreeMap<String, IdempotencyItem>,
    /// By merchant id.
    settings: BTreeMap<String, SettingsItem>,
    /// By event id.
    mail: BTreeMap<String, MailItem>,
    /// Shop orders by (merchant id, order id), as written.
    orders: BTreeMap<(String, String), OrderItem>,
    /// A large order's lines by (the order's `pk`, their `LINES#…` key): the lines, and when
    /// they were written (never again).
    order_lines: BTreeMap<(String, String), (Vec<einvoice_domain::order::OrderLine>, DateTime<Utc>)>,
    /// Invoices by (merchant id, order id).
    invoices: BTreeMap<(String, String), InvoiceItem>,
    /// Number guards: (seller UBN, number) → (merchant id, order id).
    number_guards: BTreeMap<(String, String), (String, String)>,
    /// 字軌 ranges by (`pk`, `sk`): a merchant's period reads back in key order.
    ranges: BTreeMap<(String, String), RangeItem>,
    /// Skipped numbers by (the period's `pk`, number): the order and the reason.
    skipped: BTreeMap<(String, String), (String, String, DateTime<Utc>)>,
    /// Close reports by the period's `pk`.
    period_closes: BTreeMap<String, PeriodCloseItem>,
    /// The period registry: (period, merchant id).
    period_merchants: BTreeSet<(String, String)>,
    /// Handled lists of winners by (merchant id, period).
    prize_lists: BTreeMap<(String, String), crate::store::prizes::PrizeListItem>,
}

/// The in-memory adapter. Clones share the same tables.
#[derive(Clone, Default)]
pub struct MemoryStore {
    tables: Arc<Mutex<Tables>>,
    failures_left: Arc<Mutex<u32>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next `count` calls fail with [`StoreError::Dynamo`] (an outage).
    pub fn fail_next(&self, count: u32) {
        *self.failures_left.lock().unwrap_or_else(|e| e.into_inner()) = count;
    }

    /// Yields (so concurrent callers interleave), then takes the tables unless an outage is armed.
    async fn enter(&self) -> Result<MutexGuard<'_, Tables>, StoreError> {
        tokio::task::yield_now().await;
        {
            let mut left = self.failures_left.lock().unwrap_or_else(|e| e.into_inner());
            if *left > 0 {
                *left -= 1;
                return Err(StoreError::Dynamo("injected outage (MemoryStore::fail_next)".into()));
            }
        }
        Ok(self.tables.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The condition on a versioned write of a whole item: nobody wrote it since it was read at
/// `version - 1` (version ≤ 1: none existed); `stored` is the version stored, if any.
fn version_holds(stored: Option<u64>, version: u64) -> bool {
    match stored {
        None => version <= 1,
        Some(stored) => version > 1 && stored == version - 1,
    }
}

/// The condition on a whole-plan write ([`version_holds`]).
fn plan_write_holds(t: &Tables, plan: &PlanItem) -> bool {
    version_holds(t.plans.get(&plan.merchant_id).map(|p| p.version), plan.version)
}

fn notice_key(notice: &NoticeItem) -> (String, String) {
    (merchant_of(&notice.pk), notice.sk.clone())
}

/// `MERCHANT#{id}` → `id`.
fn merchant_of(pk: &str) -> String {
    pk.strip_prefix("MERCHANT#").unwrap_or(pk).to_owned()
}

fn order_key(order: &PlanOrderItem) -> (String, String) {
    (order.merchant_id.clone(), order.order_id.clone())
}

fn conflict_unless(holds: bool) -> Result<(), StoreError> {
    if holds { Ok(()) } else { Err(StoreError::Conflict) }
}

#[async_trait]
impl PlanStore for MemoryStore {
    async fn plan(&self, merchant_id: &str) -> Result<Option<PlanItem>, StoreError> {
        Ok(self.enter().await?.plans.get(merchant_id).cloned())
    }

    async fn plan_order(&self, merchant_id: &str, order_id: &str) -> Result<Option<PlanOrderItem>, StoreError> {
        Ok(self.enter().await?.plan_orders.get(&(merchant_id.to_owned(), order_id.to_owned())).cloned())
    }

    async fn plan_order_merchant(&self, order_id: &str) -> Result<Option<String>, StoreError> {
        Ok(self.enter().await?.plan_order_refs.get(order_id).cloned())
    }

    async fn merchant_items(&self, merchant_id: &str) -> Result<MerchantItems, StoreError> {
        let t = self.enter().await?;
        let m = merchant_id.to_owned();
        Ok(MerchantItems {
            plan: t.plans.get(merchant_id).cloned(),
            settings: t.settings.get(merchant_id).cloned(),
            orders: t.plan_orders.range((m.clone(), String::new())..).take_while(|((k, _), _)| *k == m).map(|(_, o)| o.clone()).collect(),
            notices: t.notices.range((m.clone(), String::new())..).take_while(|((k, _), _)| *k == m).map(|(_, n)| n.clone()).collect(),
        })
    }

    async fn create_plan_order(&self, order: &PlanOrderItem, completes: Option<(&str, u16, &str)>) -> Result<(), StoreError> {
        let mut t = self.enter().await?;
        conflict_unless(!t.plan_orders.contains_key(&order_key(order)) && !t.plan_order_refs.contains_key(&order.order_id))?;
        if let Some((pk, _, _)) = completes {
            let record = t.idempotency.get(pk);
            conflict_unless(record.is_some_and(|r| r.state == IdempotencyState::InProgress && r.resource_id == order.order_id))?;
        }
        t.plan_orders.insert(order_key(order), order.clone());
        t.plan_order_refs.insert(order.order_id.clone(), order.merchant_id.clone());
        if let Some((pk, status, body)) = completes {
            let record = t.idempotency.get_mut(pk).expect("checked above");
            record.state = IdempotencyState::Completed;
            record.status_code = Some(status);
            record.response_body = Some(body.to_owned());
        }
        Ok(())
    }

    async fn apply_payment(&self, paid_order: &PlanOrderItem, plan: &PlanItem, notice: Option<&NoticeItem>) -> Result<(), StoreError> {
        let mut t = self.enter().await?;
        let payable = t.plan_orders.get(&order_key(paid_order)).is_some_and(|o| matches!(o.status, PlanOrderStatus::PendingPayment | PlanOrderStatus::Failed));
        conflict_unless(payable && plan_write_holds(&t, plan) && notice.is_none_or(|n| !t.notices.contains_key(&notice_key(n))))?;
        t.plan_orders.insert(order_key(paid_order), paid_order.clone());
        t.plans.insert(plan.merchant_id.clone(), plan.clone());
        if let Some(n) = notice {
            t.notices.insert(notice_key(n), n.clone());
        }
        Ok(())
    }

    async fn put_plan(&self, plan: &PlanItem, notice: Option<&NoticeItem>) -> Result<(), StoreError> {
        let mut t = self.enter().await?;
        conflict_unless(plan_write_holds(&t, plan) && notice.is_none_or(|n| !t.notices.contains_key(&notice_key(n))))?;
        t.plans.insert(plan.merchant_id.clone(), plan.clone());
        if let Some(n) = notice {
            t.notices.insert(notice_key(n), n.clone());
        }
        Ok(())
    }

    async fn record_renewal(&self, order: &PlanOrderItem, plan: &PlanItem) -> Result<(), StoreError> {
        let mut t = self.enter().await?;
        conflict_unless(!t.plan_orders.contains_key(&order_key(order)) && !t.plan_order_refs.contains_key(&order.order_id) && plan_write_holds(&t, plan))?;
        t.plan_orders.insert(order_key(order), order.clone());
        t.plan_order_refs.insert(order.order_id.clone(), order.merchant_id.clone());
        t.plans.insert(plan.merchant_id.clone(), plan.clone());
        Ok(())
    }

    async fn plans_expiring(&self, from: NaiveDate, to: NaiveDate) -> Result<ExpiringPlans, StoreError> {
        let t = self.enter().await?;
        let mut found = ExpiringPlans::default();
        for day in from.iter_days().take_while(|d| *d <= to) {
            found.queries += 1;
            let due: Vec<PlanItem> = t.plans.values().filter(|p| p.expires_on == Some(day)).cloned().collect();
            found.items_read += due.len() as u64;
            found.plans.extend(due);
        }
        Ok(found)
    }

    async fn fail_plan_order(&self, merchant_id: &str, order_id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut t = self.enter().await?;
        match t.plan_orders.get_mut(&(merchant_id.to_owned(), order_id.to_owned())) {
            Some(order) if order.status == PlanOrderStatus::PendingPayment => {
                order.status = PlanOrderStatus::Failed;
                order.failed_at = Some(at);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn lease_order_effects(&self, merchant_id: &str, order_id: &str, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut t = self.enter().await?;
        match t.plan_orders.get_mut(&(merchant_id.to_owned(), order_id.to_owned())) {
            Some(order) if (order.pending_onboarding || order.pending_notification) && order.effects_lease_until.is_none_or(|held| held < now) => {
                order.effects_lease_until = Some(until);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn clear_order_flags(&self, merchant_id: &str, order_id: &str, flags: &[&str], release: bool) -> Result<(), StoreError> {
        let mut t = self.enter().await?;
        if let Some(order) = t.plan_orders.get_mut(&(merchant_id.to_owned(), order_id.to_owned())) {
            for flag in flags {
                match *flag {
                    "pending_onboarding" => order.pending_onboarding = false,
                    "pending_notification" => order.pending_notification = false,
                    other => return Err(StoreError::Corrupt(format!("no outbox flag {other:?} on a plan order"))),
                }
            }
            if release {
                order.effects_lease_until = None;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl IdempotencyStore for MemoryStore {
    async fn claim_idempotency(&self, record: &IdempotencyItem) -> Result<Claim, StoreError> {
        let mut t = self.enter().await?;
        match t.idempotency.get(&record.pk) {
            Some(existing) => Ok(Claim::Existing(existing.clone())),
            None => {
                t.idempotency.insert(record.pk.clone(), record.clone());
                Ok(Claim::Claimed)
            }
        }
    }

    async fn idempotency(&self, pk: &str) -> Result<Option<IdempotencyItem>, StoreError> {
        Ok(self.enter().await?.idempotency.get(pk).cloned())
    }

    async fn release_idempotency(&self, pk: &str) -> Result<(), StoreError> {
        let mut t = self.enter().await?;
        if t.idempotency.get(pk).is_some_and(|r| r.state == IdempotencyState::InProgress) {
            t.idempotency.remove(pk);
        }
        Ok(())
    }
}

#[async_trait]
impl SettingsStore for MemoryStore {
    async fn settings(&self, merchant_id: &str) -> Result<Option<SettingsItem>, StoreError> {
        Ok(self.enter().await?.settings.get(merchant_id).cloned())
    }

    async fn put_settings(&self, item: &SettingsItem) -> Result<(), StoreError> {
        let mut t = self.enter().await?;
        conflict_unless(version_holds(t.settings.get(&item.merchant_id).map(|s| s.version), item.version))?;
        t.settings.insert(item.merchant_id.clone(), item.clone());
        Ok(())
    }
}

#[async_trait]
impl MailLedger for MemoryStore {
    async fn claim_mail(&self, record: &MailItem, now: DateTime<Utc>) -> Result<MailClaim, StoreError> {
        let lease = record.lease_until.ok_or_else(|| StoreError::Corrupt("a claim needs a lease".into()))?;
        let mut t = self.enter().await?;
        let Some(existing) = t.mail.get_mut(&record.event_id) else {
            let mut first = record.clone();
            (first.status, first.attempts, first.created_at, first.updated_at) = (MailStatus::Sending, 1, now, now);
            t.mail.insert(record.event_id.clone(), first);
            return Ok(MailClaim::Claimed);
        };
        if existing.status == MailStatus::Sent {
            return Ok(MailClaim::Sent(existing.clone()));
        }
        if existing.lease_until.is_some_and(|held| held >= now) {
            return Ok(MailClaim::Busy(existing.clone()));
        }
        // Taken over: what the claim sets changes, the rest (message id, last error) stays.
        existing.entity.clone_from(&record.entity);
        existing.merchant_id.clone_from(&record.merchant_id);
        existing.template.clone_from(&record.template);
        existing.to.clone_from(&record.to);
        existing.subject.clone_from(&record.subject);
        existing.status = MailStatus::Sending;
        existing.lease_until = Some(lease);
        existing.attempts += 1;
        existing.updated_at = now;
        existing.ttl = record.ttl;
        Ok(MailClaim::Claimed)
    }

    async fn mail_sent(&self, event_id: &str, message_id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut t = self.enter().await?;
        if let Some(record) = t.mail.get_mut(event_id) {
            record.status = MailStatus::Sent;
            record.message_id = Some(message_id.to_owned());
            (record.sent_at, record.updated_at) = (Some(at), at);
            (record.lease_until, record.last_error) = (None, None);
        }
        Ok(())
    }

    async fn mail_failed(&self, event_id: &str, error: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut t = self.enter().await?;
        if let Some(record) = t.mail.get_mut(event_id).filter(|r| r.status == MailStatus::Sending) {
            record.status = MailStatus::Failed;
            record.last_error = Some(error.to_owned());
            record.updated_at = at;
            record.lease_until = None;
        }
        Ok(())
    }

    async fn mail_record(&self, event_id: &str) -> Result<Option<MailItem>, StoreError> {
        Ok(self.enter().await?.mail.get(event_id).cloned())
    }
}
