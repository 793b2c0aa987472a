//! The local stack's event publisher: publishes to the real (moto) EventBridge bus, and keeps
//! what was published so `GET /_local/events` and the tests can see it. Routing events to
//! local handlers, the way the template's rules do, hangs off this publisher.

use std::sync::Mutex;

use async_trait::async_trait;
use einvoice_adapters::events::{DomainEvent, EventBridgePublisher, EventPublisher, PublishError};

pub struct LocalPublisher {
    bus: EventBridgePublisher,
    published: Mutex<Vec<DomainEvent>>,
}

impl LocalPublisher {
    pub fn new(bus: EventBridgePublisher) -> Self {
        Self { bus, published: Mutex::new(Vec::new()) }
    }

    pub fn published(&self) -> Vec<DomainEvent> {
        self.published.lock().unwrap().clone()
    }
}

#[async_trait]
impl EventPublisher for LocalPublisher {
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), PublishError> {
        self.bus.publish(events).await?;
        self.published.lock().unwrap().extend_from_slice(events);
        Ok(())
    }
}
