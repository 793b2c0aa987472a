//! The send record (`MAIL#{event_id}` / `MAIL`, docs/table-layout.md §3.14) that makes each
//! notification one mail: claimed with a lease before SES is called, marked `sent` after.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub const MAIL: &str = "MAIL";

pub fn mail_key(event_id: &str) -> String {
    format!("MAIL#{event_id}")
}

/// How long a send record is kept (`ttl`): longer than any redrive of a dead-lettered event
/// (SQS keeps them 14 days), so a late redelivery still finds the mail sent.
pub const RETENTION_DAYS: i64 = 180;

/// Where one mail stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailStatus {
    /// Claimed; SES is not yet known to have accepted it.
    Sending,
    /// SES accepted it (its message id is kept).
    Sent,
    /// SES refused it or stayed unavailable; the next delivery tries again.
    Failed,
}

impl MailStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }
}

/// One notification's mail: who it went to, what it said, whether SES accepted it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MailItem {
    pub pk: String,
    pub sk: String,
    pub entity: String,
    pub event_id: String,
    pub merchant_id: String,
    /// The notification's template (`wixtar_purchase_confirmation`, `auto_renew_locked`, …).
    pub template: String,
    pub to: Vec<String>,
    pub subject: String,
    pub status: MailStatus,
    /// Sends started for this event (claims taken).
    pub attempts: u32,
    /// The claim's holder may send until then; after it a redelivery takes over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<DateTime<Utc>>,
    /// SES's message id, once accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub ttl: i64,
}

impl MailItem {
    /// A claim on the mail of `event_id`, held until `lease_until`.
    pub fn claim(event_id: &str, merchant_id: &str, template: &str, to: &[String], subject: &str, now: DateTime<Utc>, lease_until: DateTime<Utc>) -> Self {
        Self {
            pk: mail_key(event_id),
            sk: MAIL.into(),
            entity: "mail".into(),
            event_id: event_id.into(),
            merchant_id: merchant_id.into(),
            template: template.into(),
            to: to.to_vec(),
            subject: subject.into(),
            status: MailStatus::Sending,
            attempts: 1,
            lease_until: Some(lease_until),
            message_id: None,
            sent_at: None,
            last_error: None,
            created_at: now,
            updated_at: now,
            ttl: (now + chrono::Duration::days(RETENTION_DAYS)).timestamp(),
        }
    }
}

/// The answer to a claim.
#[derive(Debug, Clone, PartialEq)]
pub enum MailClaim {
    /// This delivery sends the mail.
    Claimed,
    /// Already sent (this record): send nothing.
    Sent(MailItem),
    /// Another delivery holds an unexpired lease: it is sending now, or crashed and its lease
    /// has not run out yet (or lost a race for an expired one). Try again later.
    Busy(MailItem),
}
