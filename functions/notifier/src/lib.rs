//! notifier Lambda (通知信): the target of the `MerchantNotification` rule. Each event becomes
//! one e-mail in Traditional Chinese (plain text and HTML) sent through Amazon SES v2 from the
//! configured address, to the purchase contact (購買聯絡人) — and the company's invoice e-mail
//! when it concerns invoices — or, for the buyer notices, to the buyer the event names in `to`
//! (no merchant data is read for them; their addresses are masked in logs). Once per `event_id`: the send record is claimed before SES is
//! called and marked sent after (einvoice_adapters::mail), so redeliveries send nothing.
//! Throttling is retried with bounded backoff; what still fails makes the invocation fail, so
//! Lambda retries it and finally dead-letters it.

pub mod templates;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use einvoice_adapters::config::{ConfigError, Vars};
use einvoice_adapters::events::{DomainEvent, EventHandler};
use einvoice_adapters::mail::{MailClaim, MailError, MailItem, MailStatus, Mailer, OutgoingMail};
use einvoice_adapters::schedule::JobError;
use einvoice_adapters::store::{MailLedger, PlanOrderItem, PlanOrderStatus, PlanStore};
use einvoice_adapters::wiring::{Edges, Function};
use einvoice_domain::Clock;
use serde::Serialize;
use serde_json::Value;
use tracing::Instrument;

use einvoice_adapters::contracts::{Audience, MerchantNotification as Notification};
use einvoice_domain::text::mask_email;

/// Settings from the environment (template.yaml sets them in AWS).
#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    /// The sender, an address of the SES identity the function may send from (`MAIL_FROM_ADDRESS`).
    pub mail_from: String,
    pub send: SendPolicy,
}

impl Config {
    pub fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: vars.required("TABLE_NAME")?,
            mail_from: vars.required("MAIL_FROM_ADDRESS")?,
            send: SendPolicy {
                max_attempts: vars.number("MAIL_SEND_MAX_ATTEMPTS", 5)?,
                base_delay: Duration::from_millis(vars.number("MAIL_SEND_BASE_DELAY_MS", 200)?),
            },
        })
    }
}

impl Function for Notifier {
    type Config = Config;

    fn config(vars: &impl Vars) -> Result<Config, ConfigError> {
        Config::from_vars(vars)
    }

    async fn wire(config: &Config, edges: &impl Edges) -> Result<Self, ConfigError> {
        let deps = Dependencies { store: Arc::new(edges.store(&config.table_name)), mailer: edges.mailer(&config.mail_from), clock: edges.clock() };
        Ok(Self::new(config, deps))
    }
}

/// SES retries within one invocation, for throttling and unavailability only: exponential
/// backoff with full jitter, bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
}

impl SendPolicy {
    /// The longest pause before attempt `n + 1` (n ≥ 1): base × 2^(n−1).
    pub fn backoff_cap(&self, n: u32) -> Duration {
        self.base_delay.saturating_mul(1 << n.saturating_sub(1).min(10))
    }
}

/// Calls `send` until it succeeds, fails for good, or `policy.max_attempts` ran out, pausing a
/// random time up to [`SendPolicy::backoff_cap`] between tries. Returns the outcome and the
/// number of calls made.
pub async fn send_with_retries<F, Fut>(policy: SendPolicy, mut send: F) -> (Result<String, MailError>, u32)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<String, MailError>>,
{
    let mut attempt = 1;
    loop {
        match send().await {
            Err(e) if e.is_retryable() && attempt < policy.max_attempts => {
                tracing::warn!(attempt, error = %e, "SES send failed; retrying");
                tokio::time::sleep(policy.backoff_cap(attempt).mul_f64(rand::random::<f64>())).await;
                attempt += 1;
            }
            outcome => return (outcome, attempt),
        }
    }
}

/// How long a claim holds: longer than the function's timeout (30 s), so a live sender is
/// never overtaken, and short enough that Lambda's first retry (after about a minute) of a
/// crashed invocation takes over.
pub const CLAIM_LEASE: chrono::Duration = chrono::Duration::seconds(45);

/// What the notifier needs from the table: the merchant's contact (its plan orders) and the
/// send ledger.
pub trait NotifierStore: PlanStore + MailLedger {}
impl<T: PlanStore + MailLedger + ?Sized> NotifierStore for T {}

/// What one delivery of a notification did (the handler's answer, logged by the runner).
#[derive(Debug, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
enum Delivery {
    /// The mail was sent by an earlier delivery.
    Duplicate { message_id: Option<String> },
    /// Another delivery was sending it; this one waited and found it sent.
    SentByAnother { message_id: Option<String> },
    Sent { message_id: String, attempts: u32 },
}

impl Delivery {
    fn json(&self) -> Value {
        serde_json::to_value(self).expect("a delivery serializes")
    }
}

pub struct Dependencies {
    pub store: Arc<dyn NotifierStore>,
    pub mailer: Arc<dyn Mailer>,
    pub clock: Arc<dyn Clock>,
}

pub struct Notifier {
    deps: Dependencies,
    policy: SendPolicy,
}

fn failed(e: impl std::fmt::Display) -> JobError {
    JobError(e.to_string())
}

impl Notifier {
    pub fn new(config: &Config, deps: Dependencies) -> Self {
        Self { deps, policy: config.send }
    }

    /// Who gets the mail: the event's `to`; for an event without one (the renewal jobs and the
    /// invoice-issuer do not hold the contact), the contact of the merchant's latest paid plan
    /// order that names one (orders the renewal-charge job records carry no contact); plus the
    /// latest company invoice e-mail when the mail concerns invoices.
    ///
    /// A buyer notice goes to its `to` alone (the buyer's address, set by the publisher): no
    /// merchant data is read, and an event without one fails.
    async fn recipients(&self, n: &Notification) -> Result<(Vec<String>, Option<String>), JobError> {
        let mut to = n.to.clone();
        let mut name = n.contact_name.clone();
        let buyer = n.template.audience() == Audience::Buyer;
        if buyer && to.iter().all(|a| a.trim().is_empty()) {
            return Err(JobError(format!("buyer notice {} names no buyer address (`to`)", n.event_id)));
        }
        if !buyer && (to.is_empty() || templates::concerns_invoices(n)) {
            let items = self.deps.store.merchant_items(&n.merchant_id).await?;
            let mut paid: Vec<&PlanOrderItem> = items.orders.iter().filter(|o| o.status == PlanOrderStatus::Paid).collect();
            paid.sort_by_key(|o| std::cmp::Reverse(o.paid_at));
            if to.is_empty()
                && let Some((order, email)) = paid.iter().find_map(|o| Some((o, contact_field(o, "contact", "email")?)))
            {
                to.push(email);
                name = name.or_else(|| contact_field(order, "contact", "name"));
            }
            if templates::concerns_invoices(n) {
                to.extend(paid.iter().find_map(|o| contact_field(o, "company", "invoice_email")));
            }
        }
        let mut unique: Vec<String> = Vec::new();
        for address in to.into_iter().map(|a| a.trim().to_owned()) {
            if !unique.iter().any(|u| u.eq_ignore_ascii_case(&address)) {
                unique.push(address);
            }
        }
        if let Some(bad) = unique.iter().find(|a| !plausible_address(a)) {
            let shown = if buyer { mask_email(bad) } else { bad.clone() };
            return Err(JobError(format!("recipient {shown:?} is not an e-mail address")));
        }
        if unique.is_empty() {
            return Err(JobError(format!("no e-mail address known for merchant {} (no `to`, no paid plan order)", n.merchant_id)));
        }
        Ok((unique, name))
    }

    async fn deliver(&self, n: &Notification) -> Result<Value, JobError> {
        let (to, name) = self.recipients(n).await?;
        let rendered = templates::render(n, name.as_deref()).map_err(failed)?;
        let mail = OutgoingMail { to, subject: rendered.subject, text: rendered.text, html: rendered.html };
        let now = self.deps.clock.now();
        let claim = MailItem::claim(&n.event_id, &n.merchant_id, n.template.name(), &mail.to, &mail.subject, now, now + CLAIM_LEASE);
        match self.deps.store.claim_mail(&claim, now).await? {
            MailClaim::Claimed => {}
            MailClaim::Sent(record) => {
                tracing::info!(message_id = record.message_id.as_deref().unwrap_or_default(), "mail already sent; nothing to do");
                return Ok(Delivery::Duplicate { message_id: record.message_id }.json());
            }
            MailClaim::Busy(record) => {
                // Another delivery is sending it (a duplicate delivery: not a failure once it is
                // sent), or crashed: then its lease decides, and the retry after it takes over.
                if let Some(sent) = self.sent_by_holder(&n.event_id).await? {
                    tracing::info!(message_id = sent.message_id.as_deref().unwrap_or_default(), "mail sent by the delivery holding the claim");
                    return Ok(Delivery::SentByAnother { message_id: sent.message_id }.json());
                }
                let until = record.lease_until.map(|t| t.to_rfc3339()).unwrap_or_default();
                return Err(JobError(format!("mail of {} is claimed by another delivery until {until}; retry later", n.event_id)));
            }
        }
        let (outcome, attempts) = send_with_retries(self.policy, || self.deps.mailer.send(&mail)).await;
        let at = self.deps.clock.now();
        match outcome {
            Ok(message_id) => {
                // SES took it: record it, a few tries (a record left `sending` would let a
                // redelivery after the lease send a second copy).
                let mut recorded = self.deps.store.mail_sent(&n.event_id, &message_id, at).await;
                for _ in 0..3 {
                    if recorded.is_ok() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    recorded = self.deps.store.mail_sent(&n.event_id, &message_id, at).await;
                }
                if let Err(e) = recorded {
                    tracing::error!(error = %e, message_id, "mail sent but not recorded; a redelivery after the lease would send it again");
                }
                tracing::info!(message_id, recipients = mail.to.len(), attempts, "mail sent");
                Ok(Delivery::Sent { message_id, attempts }.json())
            }
            Err(e) => {
                if let Err(store) = self.deps.store.mail_failed(&n.event_id, &e.to_string(), at).await {
                    tracing::error!(error = %store, "mail failure not recorded; the claim's lease lets a retry take over");
                }
                tracing::error!(error = %e, attempts, "mail not sent");
                Err(failed(e))
            }
        }
    }
}

impl Notifier {
    /// Waits a little (wall-clock time: a send takes well under a second) for the delivery
    /// holding the claim to record the mail sent; `None` when it has not.
    async fn sent_by_holder(&self, event_id: &str) -> Result<Option<MailItem>, JobError> {
        for _ in 0..BUSY_POLLS {
            tokio::time::sleep(BUSY_POLL_INTERVAL).await;
            if let Some(record) = self.deps.store.mail_record(event_id).await?
                && record.status == MailStatus::Sent
            {
                return Ok(Some(record));
            }
        }
        Ok(None)
    }
}

/// How long a delivery that finds the mail claimed waits for it to be sent: 20 × 250 ms.
const BUSY_POLLS: u32 = 20;
const BUSY_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// A string field of a plan order's `contact` or `company` object.
fn contact_field(order: &PlanOrderItem, object: &str, field: &str) -> Option<String> {
    let value = if object == "contact" { &order.contact } else { &order.company };
    value.get(field).and_then(Value::as_str).filter(|s| !s.trim().is_empty()).map(str::to_owned)
}

/// One `@`, something either side, no spaces or line breaks (SES checks the rest).
fn plausible_address(address: &str) -> bool {
    let mut parts = address.split('@');
    let non_empty = |part: Option<&str>| part.is_some_and(|part| !part.is_empty());
    non_empty(parts.next()) && non_empty(parts.next()) && parts.next().is_none() && !address.chars().any(|c| c.is_whitespace() || c.is_control())
}

#[async_trait]
impl EventHandler for Notifier {
    async fn handle(&self, event: &DomainEvent) -> Result<Value, JobError> {
        let notification =
            templates::parse(&event.detail).map_err(|e| JobError(format!("{} is not a notification the notifier knows: {e}", event.detail_type)))?;
        let span = tracing::info_span!(
            "notification",
            event_id = %notification.event_id,
            merchant_id = %notification.merchant_id,
            template = notification.template.name()
        );
        self.deliver(&notification).instrument(span).await
    }
}

#[cfg(test)]
mod tests;
