//! The payment gateway (金流): creating ATM / card payments for plan orders.
//! Wire format: docs/payment-gateway-protocol.md.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use einvoice_domain::PaymentMethod;
use serde::{Deserialize, Serialize};

use crate::upstream::{UpstreamError, http_client, post_json};

#[cfg(any(test, feature = "testing"))]
pub mod contract;

/// A payment to open for one plan order; `order_id` is the gateway's idempotency key
/// (the same order always gets the same payment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PaymentRequest {
    pub order_id: String,
    pub merchant_id: String,
    pub amount: u64,
    pub currency: String,
    pub method: PaymentMethod,
    pub description: String,
}

/// How the merchant pays: virtual-ATM account details, or a card payment page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum PaymentInstructions {
    Atm { bank_code: String, virtual_account: String, expires_at: DateTime<Utc> },
    Card { payment_url: String },
}

/// A charge of a bound card (auto-renew). `idempotency_key` makes the gateway answer a repeat
/// with the first charge instead of charging again.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct ChargeRequest {
    pub card_token: String,
    pub amount: u64,
    pub currency: String,
    pub idempotency_key: String,
    pub description: String,
}

impl std::fmt::Debug for ChargeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChargeRequest").field("card_token", &"***").field("amount", &self.amount).field("idempotency_key", &self.idempotency_key).finish()
    }
}

/// What the gateway did with a charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChargeResult {
    Succeeded,
    /// Soft decline: may succeed on a later attempt.
    Declined,
    /// Expired, stolen or closed card: not worth retrying.
    DeclinedHard,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChargeReceipt {
    pub charge_id: String,
    pub result: ChargeResult,
}

#[async_trait]
pub trait PaymentGateway: Send + Sync {
    async fn create_payment(&self, req: &PaymentRequest) -> Result<PaymentInstructions, UpstreamError>;

    async fn charge(&self, req: &ChargeRequest) -> Result<ChargeReceipt, UpstreamError>;
}

/// The gateway over HTTPS (reqwest, rustls).
pub struct HttpPaymentGateway {
    base_url: String,
    http: reqwest::Client,
}

impl HttpPaymentGateway {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self { base_url: base_url.into().trim_end_matches('/').to_owned(), http: http_client() }
    }
}

#[derive(Deserialize)]
struct CreatePaymentAnswer {
    instructions: PaymentInstructions,
}

#[async_trait]
impl PaymentGateway for HttpPaymentGateway {
    async fn create_payment(&self, req: &PaymentRequest) -> Result<PaymentInstructions, UpstreamError> {
        let answer: CreatePaymentAnswer = post_json(&self.http, &format!("{}/v1/payments", self.base_url), req).await?;
        if !matches!(
            (&answer.instructions, req.method),
            (PaymentInstructions::Atm { .. }, PaymentMethod::Atm) | (PaymentInstructions::Card { .. }, PaymentMethod::Card)
        ) {
            return Err(UpstreamError::Unavailable("gateway answered with another payment method".into()));
        }
        Ok(answer.instructions)
    }

    async fn charge(&self, req: &ChargeRequest) -> Result<ChargeReceipt, UpstreamError> {
        post_json(&self.http, &format!("{}/v1/charges", self.base_url), req).await
    }
}
