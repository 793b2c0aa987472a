//! Scheduled jobs (EventBridge schedules): the event's `time` is the job's "now", so an
//! operator can re-run a day by invoking the function with another `time`.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lambda_http::lambda_runtime::{self, LambdaEvent};
use serde::Deserialize;
use tracing::Instrument;

/// The fields of an EventBridge scheduled event (or an operator's hand-made one) a job reads.
#[derive(Debug, Clone, Deserialize)]
pub struct ScheduledEvent {
    /// When the schedule fired (RFC 3339); the job's "now".
    pub time: DateTime<Utc>,
    #[serde(default)]
    pub id: Option<String>,
}

/// A job failed as a whole (storage unavailable…): the invocation fails, so EventBridge
/// retries it and finally sends it to the dead-letter queue. Per-merchant failures are counted
/// in the summary instead, and caught up by the next run.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct JobError(pub String);

impl From<crate::store::StoreError> for JobError {
    fn from(e: crate::store::StoreError) -> Self {
        Self(e.to_string())
    }
}

#[async_trait]
pub trait ScheduledJob: Send + Sync + 'static {
    /// The job's name in logs (`renewal-cutoff`, `renewal-charge`).
    fn name(&self) -> &'static str;

    /// Runs the job as of `now`; returns a JSON summary of what it did (counts).
    async fn run(&self, now: DateTime<Utc>) -> Result<serde_json::Value, JobError>;
}

/// Runs `job` for one event inside a span with the job's name and the event id, logging the
/// summary.
/// A job's summary (a serde struct) as the JSON it answers with.
pub fn summary(summary: &impl serde::Serialize) -> Result<serde_json::Value, JobError> {
    serde_json::to_value(summary).map_err(|e| JobError(format!("summary not serializable: {e}")))
}

pub async fn run_logged<J: ScheduledJob + ?Sized>(job: &J, event: &ScheduledEvent, request_id: &str) -> Result<serde_json::Value, JobError> {
    let span = tracing::info_span!("job", job = job.name(), request_id, event_id = event.id.as_deref().unwrap_or_default(), time = %event.time);
    async {
        let result = job.run(event.time).await;
        match &result {
            Ok(summary) => {
                // The counts alarms are built on, as numbers (the summary is also kept whole).
                let count = |name: &str| summary.get(name).and_then(serde_json::Value::as_u64).unwrap_or(0);
                tracing::info!(
                    summary = %summary,
                    failed = count("failed"),
                    declined = count("declined"),
                    suspended = count("suspended"),
                    charged = count("charged"),
                    notified = count("notified"),
                    reported = count("reported"),
                    near_deadline = count("near_deadline"),
                    past_deadline = count("past_deadline"),
                    "job finished"
                )
            }
            Err(e) => tracing::error!(error = %e, "job failed"),
        }
        result
    }
    .instrument(span)
    .await
}

/// Serves `job` in the Lambda runtime, one scheduled event per invocation.
pub async fn run_lambda<J: ScheduledJob>(job: Arc<J>) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(lambda_runtime::service_fn(move |event: LambdaEvent<ScheduledEvent>| {
        let job = job.clone();
        async move { run_logged(job.as_ref(), &event.payload, &event.context.request_id).await.map_err(lambda_runtime::Error::from) }
    }))
    .await
}
