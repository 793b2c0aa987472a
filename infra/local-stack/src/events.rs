//! The local stack's event publisher: publishes to the real (moto) EventBridge bus, keeps what
//! was published (`GET /_local/events`), and delivers each event to the functions whose
//! template rule matches its `detail-type`, as EventBridge would. A delivery that fails goes
//! to a local dead-letter list (`GET /_local/dead-letters`) that can be redriven. Both lists
//! answer a [`Filter`] (merchant, detail type, the newest N) without copying what they hold; the
//! newest [`PUBLISHED_KEPT`] published events are kept.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use einvoice_adapters::events::{DomainEvent, EventBridgePublisher, EventHandler, EventPublisher, PublishError};
use einvoice_domain::Clock;
use serde::{Deserialize, Serialize};

use crate::template::EventRule;

/// Published events kept for `GET /_local/events` (the oldest go first).
pub const PUBLISHED_KEPT: usize = 100_000;

/// `?merchant_id=&detail_type=&limit=` on `GET /_local/events` and `GET /_local/dead-letters`:
/// what one merchant's events (their `detail.merchant_id`) or one detail type, the newest
/// `limit` of them; each left out, no filter on it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    pub merchant_id: Option<String>,
    pub detail_type: Option<String>,
    pub limit: Option<usize>,
}

impl Filter {
    /// Whether an event of `detail_type` (None: not an event, e.g. a stream batch) about
    /// `merchants` passes.
    pub fn passes<'a>(&self, detail_type: Option<&str>, mut merchants: impl Iterator<Item = Option<&'a str>>) -> bool {
        self.detail_type.as_deref().is_none_or(|wanted| detail_type == Some(wanted))
            && self.merchant_id.as_deref().is_none_or(|wanted| merchants.any(|m| m == Some(wanted)))
    }

    pub fn passes_event(&self, event: &DomainEvent) -> bool {
        self.passes(Some(&event.detail_type), std::iter::once(event.detail["merchant_id"].as_str()))
    }
}

/// The last `limit` of `items` (all without a limit), in their order.
pub fn newest<T>(mut items: Vec<T>, limit: Option<usize>) -> Vec<T> {
    if let Some(limit) = limit {
        items.drain(..items.len().saturating_sub(limit));
    }
    items
}

/// An event a target failed to handle.
#[derive(Debug, Clone, Serialize)]
pub struct DeadLetter {
    pub function: String,
    pub event: DomainEvent,
    pub error: String,
}

/// Lambda's pauses before the retries of a failed asynchronous invocation: about 1 minute,
/// then 2 more (on the handlers' clock here).
pub const ASYNC_RETRY_DELAYS_SECONDS: [i64; 2] = [60, 120];

/// A failed delivery waiting for its retry.
struct PendingRetry {
    function: String,
    event: DomainEvent,
    /// Retries made so far.
    retries: u32,
    due: DateTime<Utc>,
}

pub struct LocalPublisher {
    bus: EventBridgePublisher,
    /// The handlers' clock: retries are due on it.
    clock: Arc<dyn Clock>,
    published: Mutex<VecDeque<DomainEvent>>,
    rules: RwLock<Vec<EventRule>>,
    targets: RwLock<HashMap<String, Arc<dyn EventHandler>>>,
    pending: Mutex<Vec<PendingRetry>>,
    dead_letters: Mutex<Vec<DeadLetter>>,
}

impl LocalPublisher {
    pub fn new(bus: EventBridgePublisher, clock: Arc<dyn Clock>) -> Self {
        Self {
            bus,
            clock,
            published: Mutex::new(VecDeque::new()),
            rules: RwLock::new(Vec::new()),
            targets: RwLock::new(HashMap::new()),
            pending: Mutex::new(Vec::new()),
            dead_letters: Mutex::new(Vec::new()),
        }
    }

    /// Failed deliveries waiting for a retry.
    pub fn retries_pending(&self) -> usize {
        self.pending.lock().unwrap().len()
    }

    /// Runs the retries that are due on the handlers' clock (the stack calls this every 250 ms
    /// and whenever the clock is set); returns how many ran.
    pub async fn run_due_retries(&self) -> usize {
        let now = self.clock.now();
        let due: Vec<PendingRetry> = {
            let mut pending = self.pending.lock().unwrap();
            let (due, later) = std::mem::take(&mut *pending).into_iter().partition(|r| r.due <= now);
            *pending = later;
            due
        };
        for retry in &due {
            self.deliver(&retry.function, &retry.event, Some(retry.retries + 1)).await;
        }
        due.len()
    }

    pub fn published(&self) -> Vec<DomainEvent> {
        self.published.lock().unwrap().iter().cloned().collect()
    }

    /// The published events `filter` passes, oldest first.
    pub fn published_matching(&self, filter: &Filter) -> Vec<DomainEvent> {
        let published = self.published.lock().unwrap();
        let matching = published.iter().filter(|e| filter.passes_event(e));
        match filter.limit {
            // Newest first from the end, then back in order: no pass over the older ones.
            Some(limit) => {
                let mut newest: Vec<DomainEvent> = matching.rev().take(limit).cloned().collect();
                newest.reverse();
                newest
            }
            None => matching.cloned().collect(),
        }
    }

    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.dead_letters.lock().unwrap().clone()
    }

    /// The dead letters `filter` passes (without its limit: the caller merges lists first).
    pub fn dead_letters_matching(&self, filter: &Filter) -> Vec<DeadLetter> {
        self.dead_letters.lock().unwrap().iter().filter(|l| filter.passes_event(&l.event)).cloned().collect()
    }

    /// The template's rules and the functions they target (replaced on a cold start).
    pub fn route(&self, rules: Vec<EventRule>, targets: HashMap<String, Arc<dyn EventHandler>>) {
        *self.rules.write().unwrap() = rules;
        *self.targets.write().unwrap() = targets;
    }

    /// Delivers one event to one function, as Lambda invokes asynchronously: a failure is
    /// retried after [`ASYNC_RETRY_DELAYS_SECONDS`] up to the function's retries, then
    /// dead-lettered. `attempt`: the retry this is (`Some(0)` the first delivery; `None` an
    /// operator's redrive, dead-lettered again at once if it fails).
    async fn deliver(&self, function: &str, event: &DomainEvent, attempt: Option<u32>) -> bool {
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
        let allowed = self.rules.read().unwrap().iter().find(|r| r.function == function).map_or(0, |r| r.retries);
        if let Some(done) = attempt.filter(|done| *done < allowed) {
            let pause = ASYNC_RETRY_DELAYS_SECONDS[(done as usize).min(ASYNC_RETRY_DELAYS_SECONDS.len() - 1)];
            let due = self.clock.now() + chrono::Duration::seconds(pause);
            self.pending.lock().unwrap().push(PendingRetry { function: function.to_owned(), event: event.clone(), retries: done, due });
            return false;
        }
        let letter = DeadLetter { function: function.to_owned(), event: event.clone(), error };
        self.dead_letters.lock().unwrap().push(letter);
        false
    }

    /// Re-delivers every dead letter (an operator's redrive); returns (redriven, still failing).
    pub async fn redrive(&self) -> (usize, usize) {
        let letters = std::mem::take(&mut *self.dead_letters.lock().unwrap());
        let mut ok = 0;
        for letter in &letters {
            if self.deliver(&letter.function, &letter.event, None).await {
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
        {
            let mut published = self.published.lock().unwrap();
            published.extend(events.iter().cloned());
            let over = published.len().saturating_sub(PUBLISHED_KEPT);
            published.drain(..over);
        }
        for event in events {
            let functions: Vec<String> =
                self.rules.read().unwrap().iter().filter(|r| r.detail_types.contains(&event.detail_type)).map(|r| r.function.clone()).collect();
            for function in functions {
                self.deliver(&function, event, Some(0)).await;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_filter_passes_by_merchant_and_detail_type() {
        let event = DomainEvent::new("MerchantNotification", json!({"merchant_id": "m1"}));
        let filter = |merchant: Option<&str>, detail_type: Option<&str>| Filter {
            merchant_id: merchant.map(str::to_owned),
            detail_type: detail_type.map(str::to_owned),
            limit: None,
        };
        assert!(filter(None, None).passes_event(&event));
        assert!(filter(Some("m1"), Some("MerchantNotification")).passes_event(&event));
        assert!(!filter(Some("m2"), None).passes_event(&event));
        assert!(!filter(None, Some("InvoiceRequested")).passes_event(&event));
        // A stream batch has no detail type; its merchant is any record's.
        assert!(filter(Some("m2"), None).passes(None, [Some("m1"), Some("m2")].into_iter()));
        assert!(!filter(Some("m2"), Some("MerchantNotification")).passes(None, [Some("m2")].into_iter()));
        assert!(!filter(Some("m2"), None).passes(None, [None].into_iter()));
    }

    #[test]
    fn newest_keeps_the_last_in_order() {
        assert_eq!(newest(vec![1, 2, 3], Some(2)), [2, 3]);
        assert_eq!(newest(vec![1, 2, 3], Some(5)), [1, 2, 3]);
        assert_eq!(newest(vec![1, 2, 3], Some(0)), Vec::<i32>::new());
        assert_eq!(newest(vec![1, 2, 3], None), [1, 2, 3]);
    }
}
