//! The local stack's event publisher: publishes to the real (moto) EventBridge bus, keeps what
//! was published (`GET /_local/events`), and delivers each event to the functions whose
//! template rule matches its `detail-type`, as EventBridge would. A delivery that fails goes
//! to a local dead-letter list (`GET /_local/dead-letters`) that can be redriven.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use einvoice_adapters::events::{DomainEvent, EventBridgePublisher, EventHandler, EventPublisher, PublishError};
use serde::Serialize;

use crate::template::EventRule;

/// An event a target failed to handle.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub function: String,
    pub event: DomainEvent,
    pub error: String,
}

pub struct LocalPublisher {
    bus: EventBridgePublisher,
    published: Mutex<Vec<DomainEvent>>,
    rules: RwLock<Vec<EventRule>>,
    targets: RwLock<HashMap<String, Arc<dyn EventHandler>>>,
    dead_letters: Mutex<Vec<DeadLetter>>,
}

impl LocalPublisher {
    pub fn new(bus: EventBridgePublisher) -> Self {
        Self {
            bus,
            published: Mutex::new(Vec::new()),
            rules: RwLock::new(Vec::new()),
            targets: RwLock::new(HashMap::new()),
            dead_letters: Mutex::new(Vec::new()),
        }
    }

    pub fn published(&self) -> Vec<DomainEvent> {
        self.published.lock().unwrap().clone()
    }

    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.dead_letters.lock().unwrap().clone()
    }

    /// The template's rules and the functions they target (replaced on a cold start).
    pub fn route(&self, rules: Vec<EventRule>, targets: HashMap<String, Arc<dyn EventHandler>>) {
        *self.rules.write().unwrap() = rules;
        *self.targets.write().unwrap() = targets;
    }

    /// Delivers one event to one function; a failure is dead-lettered.
    async fn deliver(&self, function: &str, event: &DomainEvent) -> bool {
        let target = self.targets.read().unwrap().get(function).cloned();
        let Some(target) = target else { return false };
        // Its own task, as a Lambda invocation: a crash ends it, not the publisher.
        let owned = event.clone();
        let invocation = crate::calls::invoke(function, async move { target.handle(&owned).await });
        let error = match invocation.await {
            Ok(Ok(_)) => return true,
            Ok(Err(e)) => e.to_string(),
            Err(crash) => crate::crashed(function, crash),
        };
        let letter = DeadLetter { function: function.to_owned(), event: event.clone(), error };
        self.dead_letters.lock().unwrap().push(letter);
        false
    }

    /// Re-delivers every dead letter (an operator's redrive); returns (redriven, still failing).
    pub async fn redrive(&self) -> (usize, usize) {
        let letters = std::mem::take(&mut *self.dead_letters.lock().unwrap());
        let mut ok = 0;
        for letter in &letters {
            if self.deliver(&letter.function, &letter.event).await {
                ok += 1;
            }
        }
        (ok, letters.len() - ok)
    }
}

#[async_trait]
impl EventPublisher for LocalPublisher {
    async fn publish(&self, events: &[DomainEvent]) -> Result<(), PublishError> {
        self.bus.publish(events).await?;
        self.published.lock().unwrap().extend_from_slice(events);
        for event in events {
            let functions: Vec<String> =
                self.rules.read().unwrap().iter().filter(|r| r.detail_types.contains(&event.detail_type)).map(|r| r.function.clone()).collect();
            for function in functions {
                self.deliver(&function, event).await;
            }
        }
        Ok(())
    }
}
