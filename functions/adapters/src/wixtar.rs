//! The Wixtar (美麗科技) client. Wixtar publishes no HTTP API; the wire format we implement
//! (and the simulator serves) is written down in docs/wixtar-protocol.md.

use async_trait::async_trait;
use einvoice_domain::{Company, Contact};
use serde::{Deserialize, Serialize};

use crate::upstream::{UpstreamError, http_client, post_json};

/// The contact hand-off after a first paid plan: Wixtar's sales team then calls the merchant.
/// `request_id` (the plan order id) makes repeats harmless at Wixtar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OnboardingRequest {
    pub request_id: String,
    pub merchant_id: String,
    pub ubn: String,
    pub plan_months: u32,
    pub bonus_months: u32,
    pub contact: Contact,
    pub company: Company,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OnboardingReceipt {
    pub reference: String,
}

#[async_trait]
pub trait WixtarClient: Send + Sync {
    async fn hand_off_contact(&self, req: &OnboardingRequest) -> Result<OnboardingReceipt, UpstreamError>;
}

/// Wixtar over HTTPS.
pub struct HttpWixtarClient {
    base_url: String,
    http: reqwest::Client,
}

impl HttpWixtarClient {
    pub fn new(base_url: impl Into<String>) -> Self {
        Self { base_url: base_url.into().trim_end_matches('/').to_owned(), http: http_client() }
    }
}

#[async_trait]
impl WixtarClient for HttpWixtarClient {
    async fn hand_off_contact(&self, req: &OnboardingRequest) -> Result<OnboardingReceipt, UpstreamError> {
        post_json(&self.http, &format!("{}/api/v1/onboarding", self.base_url), req).await
    }
}
