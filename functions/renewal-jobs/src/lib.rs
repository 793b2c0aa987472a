//! The two daily auto-renew (自動續約) jobs, each its own Lambda on an EventBridge schedule:
//!
//! - [`RenewalCutoff`] (00:05 Asia/Taipei): renewals past their cancel deadline (T-15) are
//!   locked; the merchant is told the charge date, amount and card.
//! - [`RenewalCharge`] (00:10 Asia/Taipei): from T-10, charges the bound card once per cycle
//!   (idempotency key per merchant, cycle and attempt), extends the period and records the
//!   order; declines are retried on the policy's days, then auto-renew is suspended.
//!
//! Both read only the plans of the expiry days they may act on, through the `by-expiry` GSI
//! (with a look-back so a missed day is caught up), take "now" from the event's `time`, and
//! write every plan change version-checked, so runs may repeat, overlap or be replayed.

mod charge;
mod cutoff;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use einvoice_adapters::config::{self, ConfigError, Vars};
use einvoice_adapters::contracts::{Channel, Contract, MerchantNotification, Template};
use einvoice_adapters::events::{DomainEvent, EventPublisher};
use einvoice_adapters::payment::PaymentGateway;
use einvoice_adapters::schedule::JobError;
use einvoice_adapters::store::{PlanItem, PlanStore};
use einvoice_adapters::wiring::{Edges, Function};
use einvoice_domain::{PlanCatalogue, RetryPolicy};
use serde::Serialize;

pub use charge::RenewalCharge;
pub use cutoff::RenewalCutoff;

/// Settings from the environment (template.yaml sets them in AWS).
#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub event_bus_name: String,
    pub payment_gateway_url: String,
    pub plan_catalogue: PlanCatalogue,
    /// `RENEWAL_RETRY_DAYS`, days before expiry a declined renewal is tried again (`7,4,1`).
    pub retry: RetryPolicy,
    /// `RENEWAL_CUTOFF_LOOK_BACK_DAYS`: how many days of missed cutoff runs are caught up.
    pub cutoff_look_back_days: u64,
}

impl Config {
    pub fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        let retry_days = vars
            .optional("RENEWAL_RETRY_DAYS", "7,4,1")
            .split(',')
            .map(|d| d.trim().parse::<u64>().map_err(|_| ConfigError(format!("RENEWAL_RETRY_DAYS: {d:?} is not a number"))))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            table_name: vars.required("TABLE_NAME")?,
            event_bus_name: vars.required("EVENT_BUS_NAME")?,
            payment_gateway_url: vars.required("PAYMENT_GATEWAY_URL")?,
            plan_catalogue: config::plan_catalogue(&vars.required("PLAN_CATALOGUE")?)?,
            retry: RetryPolicy::new(retry_days).map_err(ConfigError)?,
            cutoff_look_back_days: vars.number("RENEWAL_CUTOFF_LOOK_BACK_DAYS", 14)?,
        })
    }
}

/// What both jobs talk to.
#[derive(Clone)]
pub struct Dependencies {
    pub store: Arc<dyn PlanStore>,
    pub gateway: Arc<dyn PaymentGateway>,
    pub events: Arc<dyn EventPublisher>,
}

impl Dependencies {
    /// What both jobs' cold starts build.
    pub fn wire(config: &Config, edges: &impl Edges) -> Self {
        Self {
            store: Arc::new(edges.store(&config.table_name)),
            gateway: edges.gateway(&config.payment_gateway_url),
            events: edges.events(&config.event_bus_name),
        }
    }
}

/// Each job is its own Lambda over the same configuration and dependencies.
macro_rules! renewal_job_function {
    ($($job:ty),*) => {$(
        impl Function for $job {
            type Config = Config;

            fn config(vars: &impl Vars) -> Result<Config, ConfigError> {
                Config::from_vars(vars)
            }

            async fn wire(config: &Config, edges: &impl Edges) -> Result<Self, ConfigError> {
                Ok(Self::new(config, Dependencies::wire(config, edges)))
            }
        }
    )*};
}
renewal_job_function!(RenewalCutoff, RenewalCharge);

/// Rounds of read, decide and conditional write of one merchant's plan within a run: a version
/// conflict (another run or a request wrote the plan) starts the next round.
const PLAN_WRITE_ROUNDS: usize = 5;

/// What a run did, returned to the invoker and logged.
#[derive(Debug, Default, Serialize)]
pub struct RunSummary {
    pub job: &'static str,
    pub today: String,
    /// Expiry days read through the `by-expiry` index.
    pub window: [String; 2],
    pub queries: u64,
    /// Index items DynamoDB read: the cost of finding what is due.
    pub items_read: u64,
    /// Plans the job had something to do for.
    pub due: u64,
    pub charged: u64,
    pub declined: u64,
    pub suspended: u64,
    pub notified: u64,
    pub skipped: u64,
    /// Plans left for the next run (gateway or events unavailable, too much contention).
    pub failed: u64,
}

impl RunSummary {
    fn new(job: &'static str, today: chrono::NaiveDate, window: &std::ops::RangeInclusive<chrono::NaiveDate>) -> Self {
        Self { job, today: today.to_string(), window: [window.start().to_string(), window.end().to_string()], ..Default::default() }
    }

    fn json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("summary serializes")
    }
}

/// A `MerchantNotification` (e-mail) event about the merchant's plan; `event_id` lets
/// consumers drop repeats (a job re-run publishes the same id). The notifier finds the
/// merchant's contact.
fn notification(plan: &PlanItem, event_id: String, template: Template) -> DomainEvent {
    MerchantNotification { event_id, merchant_id: plan.merchant_id.clone(), channel: Channel::Email, to: Vec::new(), contact_name: None, template }.to_event()
}

/// Publishes before the state change is written, so a failure leaves the work to the next run
/// (at least once; consumers dedupe by `event_id`).
async fn publish(deps: &Dependencies, events: &[DomainEvent]) -> Result<(), JobError> {
    if events.is_empty() {
        return Ok(());
    }
    deps.events.publish(events).await.map_err(|e| JobError(e.to_string()))
}
