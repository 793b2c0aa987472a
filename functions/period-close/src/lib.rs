//! period-close Lambda (daily, EventBridge schedule): after each bimonthly period (期別), every
//! merchant's numbers of it that no invoice used — the rest of each range, and numbers skipped
//! with a recorded reason — are reported to Wixtar as 空白字軌, once, and the report is recorded
//! (`RANGES#{merchant}#{period}` / `CLOSED`). Runs catch up on the last few periods.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use einvoice_adapters::config::{ConfigError, Vars};
use einvoice_adapters::crypto::MasterKeys;
use einvoice_adapters::orders::{PeriodCloseItem, PeriodNumbers, order_keys};
use einvoice_adapters::schedule::{self, JobError, ScheduledJob};
use einvoice_adapters::store::{NumberLedger, SettingsStore};
use einvoice_adapters::wiring::{Edges, Function};
use einvoice_adapters::wixtar::{PosIdentity, UnusedSpan, WixtarClient};
use einvoice_domain::{InvoicePeriod, taipei_date};
use serde::Serialize;

#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub wixtar_api_url: String,
    pub master_key_secret_id: String,
    /// `PERIOD_CLOSE_LOOK_BACK`: how many past periods each run looks at (catch-up).
    pub look_back_periods: u32,
}

impl Config {
    pub fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: vars.required("TABLE_NAME")?,
            wixtar_api_url: vars.required("WIXTAR_API_URL")?,
            master_key_secret_id: vars.required("CREDENTIAL_MASTER_KEY_SECRET_ID")?,
            look_back_periods: vars.number("PERIOD_CLOSE_LOOK_BACK", 3)?,
        })
    }
}

impl Function for PeriodClose {
    type Config = Config;

    fn config(vars: &impl Vars) -> Result<Config, ConfigError> {
        Config::from_vars(vars)
    }

    async fn wire(config: &Config, edges: &impl Edges) -> Result<Self, ConfigError> {
        let deps = Dependencies {
            store: Arc::new(edges.store(&config.table_name)),
            wixtar: edges.wixtar(&config.wixtar_api_url),
            master_keys: edges.master_keys(&config.master_key_secret_id).await?,
        };
        Ok(Self::new(config, deps))
    }
}

/// What period-close needs from the table: the number ledger, and the settings (the POS the
/// report goes out under).
pub trait CloseStore: NumberLedger + SettingsStore {}
impl<T: NumberLedger + SettingsStore + ?Sized> CloseStore for T {}

pub struct Dependencies {
    pub store: Arc<dyn CloseStore>,
    pub wixtar: Arc<dyn WixtarClient>,
    pub master_keys: MasterKeys,
}

pub struct PeriodClose {
    deps: Dependencies,
    look_back_periods: u32,
}

/// The numbers of a period no invoice used: each range's untouched tail, numbers skipped with
/// a reason, and numbers handed out without a recorded reason that no invoice carries (`lost`:
/// taken just before a crash).
pub fn unused_spans(numbers: &PeriodNumbers, lost: &[String]) -> Vec<UnusedSpan> {
    let mut spans: Vec<UnusedSpan> = numbers
        .ranges
        .iter()
        .filter(|r| r.next <= r.last)
        .map(|r| UnusedSpan { track: r.track.clone(), first: format!("{:08}", r.next), last: format!("{:08}", r.last) })
        .collect();
    for number in numbers.skipped.iter().chain(lost) {
        let (track, seq) = number.split_at(2);
        spans.push(UnusedSpan { track: track.into(), first: seq.into(), last: seq.into() });
    }
    spans
}

impl PeriodClose {
    pub fn new(config: &Config, deps: Dependencies) -> Self {
        Self { deps, look_back_periods: config.look_back_periods.max(1) }
    }

    /// Reports one merchant's period; `Ok(false)` when it was reported before.
    async fn close(&self, merchant_id: &str, period: &InvoicePeriod, now: DateTime<Utc>) -> Result<(bool, u32), JobError> {
        let p = period.to_string();
        let numbers = self.deps.store.period_numbers(merchant_id, &p).await?;
        if numbers.closed.is_some() {
            return Ok((false, 0));
        }
        let settings = self
            .deps
            .store
            .settings(merchant_id)
            .await?
            .ok_or_else(|| JobError("no invoice settings".into()))?
            .open(&self.deps.master_keys)
            .map_err(|e| JobError(e.to_string()))?;
        let pos = PosIdentity::from(&settings.credentials);
        // Numbers handed out (before `next`) that no invoice used and no skip record explains:
        // the rest of a block an issuer instance leased and never used, or lost to a crash.
        // Guards are keyed by the UBN a range was assigned to (the merchant may have changed
        // UBN since); ranges stored before that was recorded use the current one.
        let current_ubn = settings.credentials.ubn.to_string();
        let mut handed_out: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
        for range in &numbers.ranges {
            let ubn = range.seller_ubn.as_deref().unwrap_or(&current_ubn);
            let taken = (range.first..range.next.min(range.last + 1)).map(|seq| format!("{}{seq:08}", range.track)).filter(|n| !numbers.skipped.contains(n));
            handed_out.entry(ubn).or_default().extend(taken);
        }
        let mut lost = Vec::new();
        for (ubn, numbers) in handed_out {
            let in_use = self.deps.store.numbers_in_use(ubn, &numbers).await?;
            lost.extend(numbers.into_iter().filter(|n| !in_use.contains(n)));
        }
        if !lost.is_empty() {
            tracing::warn!(merchant_id, period = %p, lost = lost.len(), "numbers handed out but never used (left in an issuer instance's leased block, or lost to a crash), reported as unused");
        }
        let spans = unused_spans(&numbers, &lost);
        self.deps.wixtar.report_unused(&pos, &p, &spans).await.map_err(|e| JobError(e.to_string()))?;
        let count = spans.iter().map(|s| s.last.parse::<u32>().unwrap_or(0) - s.first.parse::<u32>().unwrap_or(0) + 1).sum();
        let item = PeriodCloseItem {
            pk: order_keys::ranges(merchant_id, &p),
            sk: order_keys::CLOSED.into(),
            entity: "period_close".into(),
            merchant_id: merchant_id.into(),
            period: p,
            unused: spans.iter().map(UnusedSpan::stored).collect(),
            unused_count: count,
            reported_at: now,
        };
        Ok((self.deps.store.record_period_close(&item).await?, count))
    }
}

#[async_trait]
impl ScheduledJob for PeriodClose {
    fn name(&self) -> &'static str {
        "period-close"
    }

    async fn run(&self, now: DateTime<Utc>) -> Result<serde_json::Value, JobError> {
        let mut period = InvoicePeriod::containing(taipei_date(now));
        let (mut reported, mut already, mut failed, mut unused) = (0u64, 0u64, 0u64, 0u64);
        let mut periods = Vec::new();
        for _ in 0..self.look_back_periods {
            period = period.previous();
            periods.push(period.to_string());
            for merchant_id in self.deps.store.period_merchants(&period.to_string()).await? {
                match self.close(&merchant_id, &period, now).await {
                    Ok((true, count)) => {
                        tracing::info!(merchant_id, period = %period, unused = count, "unused numbers reported");
                        reported += 1;
                        unused += u64::from(count);
                    }
                    Ok((false, _)) => already += 1,
                    Err(e) => {
                        tracing::warn!(merchant_id, period = %period, error = %e, "period close left for the next run");
                        failed += 1;
                    }
                }
            }
        }
        schedule::summary(&RunSummary { job: self.name(), periods, reported, already_reported: already, failed, unused_numbers: unused })
    }
}

/// What one run did (its answer and its log line).
#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub job: &'static str,
    /// The periods looked at, newest first.
    pub periods: Vec<String>,
    /// Merchants whose unused numbers were reported by this run.
    pub reported: u64,
    pub already_reported: u64,
    /// Left for the next run.
    pub failed: u64,
    pub unused_numbers: u64,
}

#[cfg(test)]
mod tests;
