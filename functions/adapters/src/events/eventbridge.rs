//! The EventBridge publisher.

use async_trait::async_trait;

use super::{DomainEvent, EventPublisher, PublishError, SOURCE};
use crate::aws::describe;

/// Publishes to one EventBridge bus.
pub struct EventBridgePublisher {
    client: aws_sdk_eventbridge::Client,
    bus_name: String,
}

impl EventBridgePublisher {
    pub fn new(client: aws_sdk_eventbridge::Client, bus_name: impl Into<String>) -> Self {
        Self { client, bus_name: bus_name.into() }
    }
}

#[async_trait]
impl EventPublisher for EventBridgePublisher {
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), PublishError> {
        // PutEvents takes at most 10 entries per call.
        for chunk in events.chunks(10) {
            let entries = chunk.iter().map(|e| {
                aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus_name)
                    .source(SOURCE)
                    .detail_type(&e.detail_type)
                    .detail(e.detail.to_string())
                    .build()
            });
            let out = self.client.put_events().set_entries(Some(entries.collect())).send().await.map_err(|e| PublishError(describe(&e)))?;
            if out.failed_entry_count() > 0 {
                let reasons: Vec<String> = out.entries().iter().filter_map(|e| e.error_message().map(str::to_owned)).collect();
                return Err(PublishError(format!("{} entries failed: {}", out.failed_entry_count(), reasons.join("; "))));
            }
        }
        Ok(())
    }
}
