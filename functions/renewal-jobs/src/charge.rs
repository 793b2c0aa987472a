//! renewal-charge (T-10): charge the bound card once per cycle, extend the period, record the
//! order; retry declines on the policy's days; suspend after the last or a hard decline.
//!
//! Per plan: decide ([`charge_due`]) → write the attempt as pending → charge with the
//! attempt's idempotency key → publish → write the outcome (and, on success, the order). A
//! crash anywhere leaves a pending attempt that the next run re-sends with the same key; the
//! gateway answers a known key with the first charge, so a cycle is charged at most once.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use einvoice_adapters::contracts::{Contract, PlanRenewed, RenewalDeclined, RenewalSucceeded, RenewalSuspended, Template};
use einvoice_adapters::events::DomainEvent;
use einvoice_adapters::payment::{ChargeRequest, ChargeResult};
use einvoice_adapters::schedule::{JobError, ScheduledJob};
use einvoice_adapters::store::{NoticeItem, PlanItem, PlanOrderItem, PlanOrderStatus, StoreError, keys};
use einvoice_adapters::upstream::UpstreamError;
use einvoice_domain::renewal::{ChargeDecision, ChargeOrder, ChargeOutcome, apply_charge_outcome, charge_due, charge_window, start_charge};
use einvoice_domain::{ChargeAttempts, ChargeEffect, PlanCatalogue, RetryPolicy, SuspendReason, taipei_date};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{Config, Dependencies, PLAN_WRITE_ROUNDS, RunSummary, notification, publish};

pub struct RenewalCharge {
    deps: Dependencies,
    catalogue: PlanCatalogue,
    retry: RetryPolicy,
}

/// Days before today whose expiries are read for attempts left pending.
const PENDING_LOOK_BACK_DAYS: u64 = 3;

/// What happened to one plan in a run.
enum Done {
    Charged,
    Declined,
    Suspended,
    NothingToDo,
}

/// The plan order a successful renewal charge records. Its id is derived from the charge's
/// idempotency key, so the same charge can never be recorded twice.
fn renewal_order(plan: &PlanItem, order: &ChargeOrder, amount: u64, charge_id: &str, expires_on: NaiveDate, now: DateTime<Utc>) -> PlanOrderItem {
    let digest = hex::encode(Sha256::digest(order.idempotency_key.as_bytes()));
    let order_id = format!("po_{}", &digest[..32]);
    PlanOrderItem {
        pk: keys::merchant(&plan.merchant_id),
        sk: keys::plan_order(&order_id),
        entity: "plan_order".into(),
        order_id,
        merchant_id: plan.merchant_id.clone(),
        kind: "renewal".into(),
        ubn: plan.ubn.clone().unwrap_or_default(),
        months: order.months.get(),
        bonus_months: 0,
        amount,
        currency: "TWD".into(),
        payment_method: "card".into(),
        auto_renew: true,
        status: PlanOrderStatus::Paid,
        contact: serde_json::Value::Object(Default::default()),
        company: serde_json::Value::Object(Default::default()),
        payment: serde_json::to_value(RenewalPayment {
            method: "card",
            source: "auto_renew",
            charge_id,
            idempotency_key: &order.idempotency_key,
            cycle: order.cycle,
            attempt: order.attempt,
        })
        .expect("the payment record serializes"),
        created_at: now,
        paid_at: Some(now),
        failed_at: None,
        period_starts_on: plan.starts_on,
        period_expires_on: Some(expires_on),
        pending_onboarding: false,
        pending_notification: false,
        effects_lease_until: None,
    }
}

impl RenewalCharge {
    pub fn new(config: &Config, deps: Dependencies) -> Self {
        Self { deps, catalogue: config.plan_catalogue.clone(), retry: config.retry.clone() }
    }

    fn decide(&self, plan: &PlanItem, today: NaiveDate) -> Option<(ChargeDecision, ChargeAttempts)> {
        let expires_on = plan.expires_on?;
        let attempts = plan.renewal_attempts.clone().unwrap_or_else(|| ChargeAttempts::for_cycle(expires_on));
        let decision = charge_due(&plan.merchant_id, &plan.auto_renew, expires_on, today, &attempts, &self.retry);
        Some((decision, attempts))
    }

    /// Does what is due for one merchant, re-reading the plan after any version conflict.
    async fn renew(&self, merchant_id: &str, today: NaiveDate, now: DateTime<Utc>) -> Result<Done, JobError> {
        for _ in 0..PLAN_WRITE_ROUNDS {
            let Some(plan) = self.deps.store.plan(merchant_id).await? else {
                return Ok(Done::NothingToDo);
            };
            let Some((decision, attempts)) = self.decide(&plan, today) else {
                return Ok(Done::NothingToDo);
            };
            let written = match decision {
                ChargeDecision::Charge(order) => self.charge(plan, attempts, &order, today, now).await?,
                ChargeDecision::Suspend { reason } => {
                    let cycle = plan.expires_on.unwrap_or(today);
                    self.suspend(plan, reason, cycle, now).await?.map(|_| Done::Suspended)
                }
                ChargeDecision::NotDue(_) | ChargeDecision::AlreadyCharged { .. } => {
                    return Ok(Done::NothingToDo);
                }
            };
            if let Some(done) = written {
                return Ok(done);
            }
        }
        Err(JobError(format!("plan of {merchant_id} kept changing")))
    }

    /// One attempt: `None` when a version conflict means the plan must be read again.
    async fn charge(
        &self,
        plan: PlanItem,
        attempts: ChargeAttempts,
        order: &ChargeOrder,
        today: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Option<Done>, JobError> {
        let plan = if order.resumed {
            plan
        } else {
            let pending = PlanItem { renewal_attempts: Some(start_charge(&attempts, order, today)), version: plan.version + 1, updated_at: now, ..plan };
            match self.deps.store.put_plan(&pending, None).await {
                Ok(()) => pending,
                Err(StoreError::Conflict) => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        };
        let attempts = plan.renewal_attempts.clone().unwrap_or_else(|| start_charge(&attempts, order, today));
        let amount = self.catalogue.price(order.months);
        let (outcome, charge_id) = match &plan.card_token {
            None => (ChargeOutcome::DeclinedHard, String::new()),
            Some(token) => {
                let request = ChargeRequest {
                    card_token: token.clone(),
                    amount,
                    currency: "TWD".into(),
                    idempotency_key: order.idempotency_key.clone(),
                    description: format!("美麗科技電子發票 {} 個月方案 自動續約", order.months),
                };
                match self.deps.gateway.charge(&request).await {
                    Ok(receipt) => (
                        match receipt.result {
                            ChargeResult::Succeeded => ChargeOutcome::Succeeded,
                            ChargeResult::Declined => ChargeOutcome::Declined,
                            ChargeResult::DeclinedHard => ChargeOutcome::DeclinedHard,
                        },
                        receipt.charge_id,
                    ),
                    // The gateway refuses the charge itself (e.g. an unknown token): not retried.
                    Err(UpstreamError::Rejected { status, .. }) => {
                        tracing::warn!(merchant_id = %plan.merchant_id, status, "gateway refused the renewal charge");
                        (ChargeOutcome::DeclinedHard, String::new())
                    }
                    // Unknown outcome: the attempt stays pending and is re-sent with its key.
                    Err(e @ UpstreamError::Unavailable(_)) => {
                        return Err(JobError(format!("gateway: {e}")));
                    }
                }
            }
        };
        let expires_on = plan.expires_on.expect("a charge is decided for a plan with an expiry");
        let applied = apply_charge_outcome(&plan.auto_renew, expires_on, &attempts, order, outcome, today, &self.retry);
        let Some(effect) = applied.effect else {
            // Nothing to announce, but the attempt's outcome may still need recording (a
            // decline of a cycle a manual 續購 replaced): otherwise it would be re-sent forever.
            if Some(&applied.attempts) == plan.renewal_attempts.as_ref() {
                return Ok(Some(Done::NothingToDo));
            }
            let recorded = PlanItem { renewal_attempts: Some(applied.attempts), version: plan.version + 1, updated_at: now, ..plan };
            return match self.deps.store.put_plan(&recorded, None).await {
                Ok(()) => Ok(Some(Done::NothingToDo)),
                Err(StoreError::Conflict) => Ok(None),
                Err(e) => Err(e.into()),
            };
        };
        let next = PlanItem {
            auto_renew: applied.state,
            expires_on: Some(applied.expires_on),
            renewal_attempts: Some(applied.attempts),
            paid_orders: plan.paid_orders + u32::from(matches!(effect, ChargeEffect::Renewed { .. })),
            version: plan.version + 1,
            updated_at: now,
            ..plan.clone()
        };
        publish(&self.deps, &self.effect_events(&plan, &effect, amount)).await?;
        let result = match effect {
            ChargeEffect::Renewed { expires_on, .. } => {
                let record = renewal_order(&plan, order, amount, &charge_id, expires_on, now);
                self.deps.store.record_renewal(&record, &next).await.map(|()| Done::Charged)
            }
            ChargeEffect::Declined { .. } => self.deps.store.put_plan(&next, None).await.map(|()| Done::Declined),
            ChargeEffect::Suspended { reason, cycle, .. } => {
                let notice = suspended_notice(&plan, reason, cycle, now);
                self.deps.store.put_plan(&next, Some(&notice)).await.map(|()| Done::Suspended)
            }
        };
        match result {
            Ok(done) => {
                tracing::info!(merchant_id = %plan.merchant_id, effect = ?effect, "renewal charge recorded");
                Ok(Some(done))
            }
            Err(StoreError::Conflict) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Suspends auto-renew (no card when a charge was due), with a notice and an e-mail.
    async fn suspend(&self, plan: PlanItem, reason: SuspendReason, cycle: NaiveDate, now: DateTime<Utc>) -> Result<Option<()>, JobError> {
        let notice = suspended_notice(&plan, reason, cycle, now);
        let effect = ChargeEffect::Suspended { cycle, attempt: 0, reason };
        publish(&self.deps, &self.effect_events(&plan, &effect, 0)).await?;
        let next = PlanItem { auto_renew: plan.auto_renew.clone().suspend(reason), version: plan.version + 1, updated_at: now, ..plan };
        match self.deps.store.put_plan(&next, Some(&notice)).await {
            Ok(()) => Ok(Some(())),
            Err(StoreError::Conflict) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The events announcing an outcome; ids are stable per merchant, cycle and attempt.
    fn effect_events(&self, plan: &PlanItem, effect: &ChargeEffect, amount: u64) -> Vec<DomainEvent> {
        let m = &plan.merchant_id;
        let last4 = plan.auto_renew.card_last4.clone();
        match *effect {
            ChargeEffect::Renewed { cycle, attempt, months, expires_on } => vec![
                PlanRenewed {
                    event_id: format!("{m}:renewal:{cycle}:renewed"),
                    merchant_id: m.clone(),
                    cycle,
                    attempt,
                    months: months.get(),
                    amount,
                    currency: "TWD".into(),
                    expires_on,
                }
                .to_event(),
                notification(
                    plan,
                    format!("{m}:renewal:{cycle}:renewed:email"),
                    Template::AutoRenewSucceeded(RenewalSucceeded { months: months.get(), amount, currency: "TWD".into(), expires_on, card_last4: last4 }),
                ),
            ],
            ChargeEffect::Declined { cycle, attempt, next_attempt_on } => vec![notification(
                plan,
                format!("{m}:renewal:{cycle}:declined:{attempt}"),
                Template::AutoRenewDeclined(RenewalDeclined { cycle, attempt, next_attempt_on, amount: Some(amount), currency: "TWD".into(), card_last4: last4 }),
            )],
            ChargeEffect::Suspended { cycle, attempt, reason } => vec![notification(
                plan,
                format!("{m}:renewal:{cycle}:suspended"),
                Template::AutoRenewSuspended(RenewalSuspended { cycle, attempt: Some(attempt), reason, expires_on: plan.expires_on, card_last4: last4 }),
            )],
        }
    }
}

/// How a renewal order was paid: the charge of the bound card.
#[derive(Debug, Serialize)]
struct RenewalPayment<'a> {
    method: &'static str,
    source: &'static str,
    charge_id: &'a str,
    idempotency_key: &'a str,
    cycle: NaiveDate,
    attempt: u32,
}

/// The details of the plan view's notice when auto-renew is suspended.
#[derive(Debug, Serialize)]
struct SuspensionDetails {
    reason: SuspendReason,
    cycle: NaiveDate,
}

fn suspended_notice(plan: &PlanItem, reason: SuspendReason, cycle: NaiveDate, now: DateTime<Utc>) -> NoticeItem {
    let why = match reason {
        SuspendReason::Declined => "信用卡扣款多次失敗 the card was declined on every attempt",
        SuspendReason::DeclinedHard => "信用卡已失效 the card is expired or blocked",
        SuspendReason::CardNotBound => "未綁定信用卡 no card is bound",
    };
    NoticeItem::new(
        &plan.merchant_id,
        "auto_renew_suspended",
        format!("自動續約已暫停（{why}）；方案將於 {cycle} 到期，請更新付款設定或手動續購。Auto-renew is suspended; the plan ends on {cycle}."),
        serde_json::to_value(SuspensionDetails { reason, cycle }).expect("notice details serialize"),
        now,
    )
}

#[async_trait]
impl ScheduledJob for RenewalCharge {
    fn name(&self) -> &'static str {
        "renewal-charge"
    }

    async fn run(&self, now: DateTime<Utc>) -> Result<serde_json::Value, JobError> {
        let today = taipei_date(now);
        // Charges are due from T-10 to the expiry day; a few days back are read too, so an
        // attempt left pending on its expiry day (lost answer, crash) is still re-sent.
        let due = charge_window(today);
        let window = (*due.start() - chrono::Days::new(PENDING_LOOK_BACK_DAYS))..=*due.end();
        let mut summary = RunSummary::new(self.name(), today, &window);
        let found = self.deps.store.plans_expiring(*window.start(), *window.end()).await?;
        (summary.queries, summary.items_read) = (found.queries, found.items_read);
        for plan in &found.plans {
            if !matches!(self.decide(plan, today), Some((ChargeDecision::Charge(_) | ChargeDecision::Suspend { .. }, _))) {
                summary.skipped += 1;
                continue;
            }
            let done = self.renew(&plan.merchant_id, today, now).await;
            if !matches!(done, Ok(Done::NothingToDo)) {
                summary.due += 1;
            }
            match done {
                Ok(Done::Charged) => summary.charged += 1,
                Ok(Done::Declined) => summary.declined += 1,
                Ok(Done::Suspended) => summary.suspended += 1,
                Ok(Done::NothingToDo) => summary.skipped += 1,
                Err(e) => {
                    tracing::warn!(merchant_id = %plan.merchant_id, error = %e, "renewal left for the next run");
                    summary.failed += 1;
                }
            }
        }
        Ok(summary.json())
    }
}
