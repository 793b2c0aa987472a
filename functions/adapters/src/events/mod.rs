//! Domain events on the application's EventBridge bus (PlanPurchased, MerchantNotification, …):
//! the `EventPublisher` port (EventBridge in [`eventbridge`]) and the consumers' runtime.

use async_trait::async_trait;
use serde::Serialize;

pub mod eventbridge;

pub use eventbridge::EventBridgePublisher;

/// The `source` of every event this system publishes.
pub const SOURCE: &str = "einvoice.wixtar-link";

/// One event: its `detail-type` and JSON `detail`. `detail.event_id` lets consumers dedupe.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DomainEvent {
    pub detail_type: String,
    pub detail: serde_json::Value,
}

impl DomainEvent {
    pub fn new(detail_type: &str, detail: serde_json::Value) -> Self {
        Self { detail_type: detail_type.to_owned(), detail }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("publishing events failed: {0}")]
pub struct PublishError(pub String);

/// Where domain events go. EventBridge in AWS; the local stack wraps it to also route events
/// to local handlers the way the template's rules do.
#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), PublishError>;
}

/// Something that consumes domain events (an EventBridge rule's Lambda target).
#[async_trait]
pub trait EventHandler: Send + Sync + 'static {
    /// Handles one event; an error makes the delivery fail, so it is retried and finally
    /// dead-lettered (the handlers are idempotent, so a redrive is safe).
    async fn handle(&self, event: &DomainEvent) -> Result<serde_json::Value, crate::schedule::JobError>;
}

/// The EventBridge envelope a rule delivers to a Lambda target.
#[derive(Debug, Clone, serde::Deserialize)]
struct Envelope {
    #[serde(rename = "detail-type")]
    detail_type: String,
    detail: serde_json::Value,
}

/// Serves `handler` in the Lambda runtime, one EventBridge event per invocation.
pub async fn run_lambda<H: EventHandler>(handler: std::sync::Arc<H>) -> Result<(), lambda_http::lambda_runtime::Error> {
    use lambda_http::lambda_runtime::{self, LambdaEvent};
    lambda_runtime::run(lambda_runtime::service_fn(move |event: LambdaEvent<Envelope>| {
        let handler = handler.clone();
        async move {
            let domain = DomainEvent { detail_type: event.payload.detail_type, detail: event.payload.detail };
            handler.handle(&domain).await.map_err(lambda_runtime::Error::from)
        }
    }))
    .await
}
