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
use einvoice_adapters::config::{self, ConfigError};
use einvoice_adapters::orders::{DueOrder, InvoiceStatus, UploadStatus};
use einvoice_adapters::schedule::{JobError, ScheduledJob};
use einvoice_domain::recovery::DeadlineState;
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::InvoiceIssuer;

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
    pub fn from_env() -> Result<Self, ConfigError> {
        let number = |name: &str, default: &str| {
            config::optional(name, default).parse::<usize>().ok().filter(|n| *n > 0).ok_or_else(|| ConfigError(format!("{name} is not a positive number")))
        };
        Ok(Self {
            max_items: number("RECONCILER_MAX_ITEMS", "500")?,
            concurrency: number("RECONCILER_CONCURRENCY", "8")?,
            time_budget: Duration::from_secs(number("RECONCILER_TIME_BUDGET_SECONDS", "180")? as u64),
        })
    }
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

/// Results that leave nothing to do.
const FINISHED: [&str; 5] = ["uploaded", "returned", "not_issuable", "not_requested", "no_invoice"];

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
        let result = outcome["result"].as_str().unwrap_or_default();
        if FINISHED.contains(&result) {
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
    async fn deadline(&self, due: &DueOrder, outcome: &Value, now: DateTime<Utc>) -> Option<DeadlineState> {
        let deadline = match outcome.get("deadline").and_then(|d| serde_json::from_value::<DateTime<Utc>>(d.clone()).ok()) {
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
        Ok(json!({
            "due": due.len(),
            "finished": count(&|o| *o == Reconciled::Finished),
            "retrying": count(&|o| matches!(o, Reconciled::Retrying { .. })),
            "failed": count(&|o| *o == Reconciled::Failed),
            "near_deadline": deadline(DeadlineState::Near),
            "past_deadline": deadline(DeadlineState::Past),
            // Due but not started in this run (time budget), and whether more were due than
            // one run takes: both are the next run's.
            "left": due.len() - outcomes.len(),
            "more_due": more,
        }))
    }
}
