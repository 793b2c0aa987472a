//! The SES v2 sender.

use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

use super::{MailError, Mailer, OutgoingMail};
use crate::aws::describe;

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
