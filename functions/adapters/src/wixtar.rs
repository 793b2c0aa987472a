//! The Wixtar (美麗科技) client. Wixtar publishes no HTTP API; the wire format we implement
//! (and the simulator serves) is written down in docs/wixtar-protocol.md.

use async_trait::async_trait;
use einvoice_domain::settings::WixtarCredentials;
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

/// The POS identity Wixtar checks on every POS call (機台認證). The AES KEY is never sent: it
/// only signs the QR codes locally.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct PosIdentity {
    pub ubn: String,
    pub store_code: String,
    pub pos_code: String,
    pub pid: String,
    pub rid: String,
    pub pname: String,
}

impl std::fmt::Debug for PosIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PosIdentity").field("ubn", &self.ubn).field("pos_code", &self.pos_code).field("rid", &"***").finish()
    }
}

impl From<&WixtarCredentials> for PosIdentity {
    fn from(c: &WixtarCredentials) -> Self {
        Self {
            ubn: c.ubn.to_string(),
            store_code: c.store_code.clone(),
            pos_code: c.pos_code.clone(),
            pid: c.pid.clone(),
            rid: c.rid.clone(),
            pname: c.pname.clone(),
        }
    }
}

/// A number range (字軌區間) Wixtar assigned to the POS for a period, as on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireRange {
    /// 5 chars, ROC year + even month, e.g. `11512`.
    pub period: String,
    /// 2 uppercase letters.
    pub track: String,
    /// 8 digits, inclusive.
    pub first: String,
    pub last: String,
}

#[derive(Serialize)]
struct RangeQuery<'a> {
    pos: &'a PosIdentity,
    period: &'a str,
}

#[derive(Deserialize)]
struct RangeAnswer {
    ranges: Vec<WireRange>,
}

#[async_trait]
pub trait WixtarClient: Send + Sync {
    async fn hand_off_contact(&self, req: &OnboardingRequest) -> Result<OnboardingReceipt, UpstreamError>;

    /// The ranges assigned to this POS for `period` (read-only). A 401/403 means Wixtar does not
    /// know these credentials.
    async fn number_ranges(&self, pos: &PosIdentity, period: &str) -> Result<Vec<WireRange>, UpstreamError>;
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

    async fn number_ranges(&self, pos: &PosIdentity, period: &str) -> Result<Vec<WireRange>, UpstreamError> {
        let url = format!("{}/api/v1/pos/number-ranges/query", self.base_url);
        let answer: RangeAnswer = post_json(&self.http, &url, &RangeQuery { pos, period }).await?;
        Ok(answer.ranges)
    }
}
