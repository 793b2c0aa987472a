//! renewal-cutoff (T-15): lock renewals past their cancel deadline and tell the merchant.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use einvoice_adapters::schedule::{JobError, ScheduledJob};
use einvoice_adapters::store::{PlanItem, StoreError};
use einvoice_domain::renewal::{cutoff_due, cutoff_window};
use einvoice_domain::{PlanCatalogue, taipei_date};
use einvoice_adapters::contracts::{RenewalLocked, Template};

use crate::{Config, Dependencies, PLAN_WRITE_ROUNDS, RunSummary, notification, publish};

pub struct RenewalCutoff {
    deps: Dependencies,
    catalogue: PlanCatalogue,
    look_back_days: u64,
}

enum Done {
    Notified,
    NothingToDo,
}

impl RenewalCutoff {
    pub fn new(config: &Config, deps: Dependencies) -> Self {
        Self { deps, catalogue: config.plan_catalogue.clone(), look_back_days: config.cutoff_look_back_days }
    }

    /// Notifies one merchant once per locked renewal and records it on the plan.
    async fn lock(&self, merchant_id: &str, today: chrono::NaiveDate, now: DateTime<Utc>) -> Result<Done, JobError> {
        for _ in 0..PLAN_WRITE_ROUNDS {
            // The index is eventually consistent: decide on a consistent read of the plan.
            let Some(plan) = self.deps.store.plan(merchant_id).await? else {
                return Ok(Done::NothingToDo);
            };
            let Some(expires_on) = plan.expires_on else {
                return Ok(Done::NothingToDo);
            };
            let Some(notice) = cutoff_due(&plan.auto_renew, expires_on, today, plan.renewal_locked_for) else {
                return Ok(Done::NothingToDo);
            };
            let amount = self.catalogue.price(notice.months);
            let event = notification(
                &plan,
                format!("{merchant_id}:renewal-locked:{}", notice.cycle),
                Template::AutoRenewLocked(RenewalLocked {
                    cycle: notice.cycle,
                    locked_from: notice.locked_from,
                    charge_on: notice.charge_on,
                    months: notice.months.get(),
                    amount,
                    currency: "TWD".into(),
                    card_last4: Some(notice.card_last4.clone()),
                }),
            );
            publish(&self.deps, &[event]).await?;
            let locked = PlanItem { renewal_locked_for: Some(notice.cycle), version: plan.version + 1, updated_at: now, ..plan };
            match self.deps.store.put_plan(&locked, None).await {
                Ok(()) => {
                    tracing::info!(merchant_id, cycle = %notice.cycle, charge_on = %notice.charge_on, amount, "renewal locked; merchant notified");
                    return Ok(Done::Notified);
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(JobError(format!("plan of {merchant_id} kept changing")))
    }
}

#[async_trait]
impl ScheduledJob for RenewalCutoff {
    fn name(&self) -> &'static str {
        "renewal-cutoff"
    }

    async fn run(&self, now: DateTime<Utc>) -> Result<serde_json::Value, JobError> {
        let today = taipei_date(now);
        let window = cutoff_window(today, self.look_back_days);
        let mut summary = RunSummary::new(self.name(), today, &window);
        let found = self.deps.store.plans_expiring(*window.start(), *window.end()).await?;
        (summary.queries, summary.items_read) = (found.queries, found.items_read);
        for plan in &found.plans {
            let Some(expires_on) = plan.expires_on else {
                continue;
            };
            if cutoff_due(&plan.auto_renew, expires_on, today, plan.renewal_locked_for).is_none() {
                summary.skipped += 1;
                continue;
            }
            match self.lock(&plan.merchant_id, today, now).await {
                Ok(Done::Notified) => {
                    summary.due += 1;
                    summary.notified += 1;
                }
                Ok(Done::NothingToDo) => summary.skipped += 1,
                Err(e) => {
                    tracing::warn!(merchant_id = %plan.merchant_id, error = %e, "cutoff left for the next run");
                    summary.due += 1;
                    summary.failed += 1;
                }
            }
        }
        Ok(summary.json())
    }
}
