//! Merchant e-mail (通知信): the send record that makes each `MerchantNotification` one mail,
//! and the SES v2 sender.
//!
//! The record (`MAIL#{event_id}` / `MAIL`, docs/table-layout.md §3.14) is claimed with a lease
//! before SES is called and marked `sent` after: a repeat of the event finds it sent and sends
//! nothing; a crash before SES answered leaves a lease that runs out, and the retry sends.

use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aws::describe;

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

/// One mail, both parts (plain text and HTML), UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMail {
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Why SES did not take a mail. Only `Throttled` and `Unavailable` are worth retrying soon.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    #[error("SES throttled the send: {0}")]
    Throttled(String),
    #[error("SES unavailable: {0}")]
    Unavailable(String),
    #[error("SES refused the mail: {0}")]
    Rejected(String),
}

impl MailError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Throttled(_) | Self::Unavailable(_))
    }
}

/// Where mail goes out: SES in AWS and locally (moto), a fake in unit tests.
#[async_trait::async_trait]
pub trait Mailer: Send + Sync {
    /// Sends one mail; returns the provider's message id.
    async fn send(&self, mail: &OutgoingMail) -> Result<String, MailError>;
}

/// Sends through Amazon SES v2 from one configured address.
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    from: String,
}

impl SesMailer {
    pub fn new(client: aws_sdk_sesv2::Client, from: impl Into<String>) -> Self {
        Self { client, from: from.into() }
    }

    /// The SES client for the functions: the SDK's own retries off, the notifier's bounded
    /// backoff is the one retry policy (no attempts multiplied by two layers).
    pub fn client(sdk: &aws_types::SdkConfig) -> aws_sdk_sesv2::Client {
        let config = aws_sdk_sesv2::config::Builder::from(sdk).retry_config(aws_smithy_types::retry::RetryConfig::disabled()).build();
        aws_sdk_sesv2::Client::from_conf(config)
    }
}

#[async_trait::async_trait]
impl Mailer for SesMailer {
    async fn send(&self, mail: &OutgoingMail) -> Result<String, MailError> {
        let utf8 = |text: &str| Content::builder().data(text).charset("UTF-8").build().expect("data is set");
        let message = Message::builder().subject(utf8(&mail.subject)).body(Body::builder().text(utf8(&mail.text)).html(utf8(&mail.html)).build()).build();
        let result = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().set_to_addresses(Some(mail.to.clone())).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.message_id().unwrap_or_default().to_owned()),
            Err(e) => Err(classify(&e)),
        }
    }
}

type SendError = aws_sdk_sesv2::error::SdkError<aws_sdk_sesv2::operation::send_email::SendEmailError, aws_sdk_sesv2::config::http::HttpResponse>;

fn classify(e: &SendError) -> MailError {
    use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
    let text = describe(e);
    match e {
        SdkError::ServiceError(service) => match service.err().code() {
            Some("TooManyRequestsException" | "LimitExceededException" | "Throttling" | "ThrottlingException") => MailError::Throttled(text),
            _ if service.raw().status().is_server_error() => MailError::Unavailable(text),
            _ => MailError::Rejected(text),
        },
        // Timeouts, connection failures, unreadable answers: the mail may or may not have gone.
        _ => MailError::Unavailable(text),
    }
}
