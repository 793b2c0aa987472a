//! E-mail (通知信): the `Mailer` port, the send record that makes each notification one mail
//! ([`record`]), and the SES v2 sender ([`ses`]).
//!
//! The record (`MAIL#{event_id}` / `MAIL`, docs/table-layout.md §3.14) is claimed with a lease
//! before SES is called and marked `sent` after: a repeat of the event finds it sent and sends
//! nothing; a crash before SES answered leaves a lease that runs out, and the retry sends.

pub mod record;
pub mod ses;

pub use record::*;
pub use ses::SesMailer;

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
