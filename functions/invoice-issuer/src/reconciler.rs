//! invoice-reconciler Lambda (補傳): every 5 minutes it finishes the invoice work that is due —
//! uploads Wixtar has not accepted, voids and allowances, claims no issuer finished, orders out
//! of numbers — reading only what is due from the sparse index `by-due`. Each order's work is
//! the invoice-issuer's own ([`InvoiceIssuer::work`]); a failure is tried again after a backoff
//! that doubles from 1 to 30 minutes and never stops, so an outage of any length ends with
//! every invoice uploaded, each once.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use einvoice_adapters::config::{ConfigError, Vars};
use einvoice_adapters::orders::{DueOrder, InvoiceStatus, UploadStatus};
use einvoice_adapters::schedule::{self, JobError, ScheduledJob};
use einvoice_domain::recovery::DeadlineState;
use einvoice_adapters::wiring::{Edges, Function};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::Value;

use crate::{InvoiceIssuer, WorkOutcome};

/// How much one run takes on.
#[derive(Debug, Clone, Copy)]
pub struct ReconcilerConfig {
    /// Due orders handled per run; the rest wait for the next run (the summary says `left`).
    pub max_items: usize,
    /// Orders worked on at once.
    pub concurrency: usize,
    /// No order is started after this much of a run (below the Lambda timeout, so a run
    /// against a hanging Wixtar still ends with its summary; the rest is the next run's).
    pub time_budget: Duration,
}

impl Default for ReconcilerConfig {
    fn default() -> Self {
        Self { max_items: 500, concurrency: 8, time_budget: Duration::from_secs(180) }
    }
}

impl ReconcilerConfig {
    pub fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        let positive = |name: &str, default: usize| match vars.number(name, default)? {
            0 => Err(ConfigError(format!("{name} must be positive"))),
            n => Ok(n),
        };
        Ok(Self {
            max_items: positive("RECONCILER_MAX_ITEMS", 500)?,
            concurrency: positive("RECONCILER_CONCURRENCY", 8)?,
            time_budget: Duration::from_secs(positive("RECONCILER_TIME_BUDGET_SECONDS", 180)? as u64),
        })
    }
}

impl Function for InvoiceReconciler {
    /// Its own issuer instance's settings, and how much one run takes on.
    type Config = (crate::Config, ReconcilerConfig);

    fn config(vars: &impl Vars) -> Result<Self::Config, ConfigError> {
        Ok((crate::Config::from_vars(vars)?, ReconcilerConfig::from_vars(vars)?))
    }

    async fn wire((issuer, config): &Self::Config, edges: &impl Edges) -> Result<Self, ConfigError> {
        Ok(Self::new(Arc::new(InvoiceIssuer::wire(issuer, edges).await?), *config))
    }
}

/// What one run did (its answer and its log line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RunSummary {
    pub due: usize,
    pub finished: usize,
    pub retrying: usize,
    pub failed: usize,
    pub near_deadline: usize,
    pub past_deadline: usize,
    /// Due but not started in this run (time budget): the next run's.
    pub left: usize,
    /// More were due than one run takes: the next run's.
    pub more_due: bool,
}

pub struct InvoiceReconciler {
    issuer: Arc<InvoiceIssuer>,
    config: ReconcilerConfig,
}

/// What became of one due order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reconciled {
    /// Nothing is left to do.
    Finished,
    /// Tried and not done: due again later (recorded).
    Retrying { deadline: Option<DeadlineState> },
    /// Not even the retry could be recorded: the order stays due as it was.
    Failed,
}

impl InvoiceReconciler {
    pub fn new(issuer: Arc<InvoiceIssuer>, config: ReconcilerConfig) -> Self {
        Self { issuer, config }
    }

    async fn reconcile(&self, due: &DueOrder, now: DateTime<Utc>) -> Reconciled {
        let store = &self.issuer.deps.store;
        let (m, o) = (due.merchant_id.as_str(), due.order_id.as_str());
        let outcome = match self.issuer.work(m, o, due.retries).await {
            Ok(outcome) => outcome,
            Err(_) => return Reconciled::Failed,
        };
        if outcome.is_finished() {
            // The work may have been done without a write that clears the due time (a claim
            // the stream's issuer had finished meanwhile): clear it unless a newer one was set.
            if let Err(e) = store.settle_due(m, o, &due.due_at).await {
                tracing::warn!(merchant_id = m, order_id = o, error = %e, "finished work left in the due index; the next run settles it");
            }
            return Reconciled::Finished;
        }
        Reconciled::Retrying { deadline: self.deadline(due, &outcome, now).await }
    }

    /// Where the order's invoice stands against its upload deadline, when it has one that is
    /// not uploaded.
    async fn deadline(&self, due: &DueOrder, outcome: &WorkOutcome, now: DateTime<Utc>) -> Option<DeadlineState> {
        let deadline = match outcome.upload_deadline() {
            Some(deadline) => deadline,
            None if matches!(due.invoice_status, InvoiceStatus::Issued | InvoiceStatus::UploadFailed) => {
                let invoice = self.issuer.deps.store.invoice(&due.merchant_id, &due.order_id).await.ok().flatten()?;
                if invoice.upload.status == UploadStatus::Uploaded {
                    return None;
                }
                invoice.upload.deadline
            }
            None => return None,
        };
        let state = DeadlineState::of(deadline, now);
        if state == DeadlineState::Near {
            tracing::warn!(alarm = "upload_deadline_near", merchant_id = %due.merchant_id, order_id = %due.order_id, deadline = %deadline,
                           "invoice within 6 hours of its upload deadline and not uploaded");
        }
        Some(state)
    }
}

#[async_trait]
impl ScheduledJob for InvoiceReconciler {
    fn name(&self) -> &'static str {
        "invoice-reconciler"
    }

    async fn run(&self, now: DateTime<Utc>) -> Result<Value, JobError> {
        let (due, more) = self.issuer.deps.store.due_orders(now, self.config.max_items).await?;
        let stop_starting = tokio::time::Instant::now() + self.config.time_budget;
        let outcomes: Vec<Reconciled> = futures_util::stream::iter(0..due.len())
            .take_while(|_| std::future::ready(tokio::time::Instant::now() < stop_starting))
            .map(|i| self.reconcile(&due[i], now))
            .buffer_unordered(self.config.concurrency)
            .collect()
            .await;
        let count = |f: &dyn Fn(&Reconciled) -> bool| outcomes.iter().filter(|o| f(o)).count();
        let deadline = |state: DeadlineState| count(&|o| *o == Reconciled::Retrying { deadline: Some(state) });
        let summary = RunSummary {
            due: due.len(),
            finished: count(&|o| *o == Reconciled::Finished),
            retrying: count(&|o| matches!(o, Reconciled::Retrying { .. })),
            failed: count(&|o| *o == Reconciled::Failed),
            near_deadline: deadline(DeadlineState::Near),
            past_deadline: deadline(DeadlineState::Past),
            left: due.len() - outcomes.len(),
            more_due: more,
        };
        schedule::summary(&summary)
    }
}
