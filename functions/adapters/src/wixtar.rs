//! The Wixtar (美麗科技) client. Wixtar publishes no HTTP API; the wire format we implement
//! (and the simulator serves) is written down in docs/wixtar-protocol.md.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use einvoice_domain::settings::WixtarCredentials;
use einvoice_domain::{Company, Contact, PrizeKind};
use serde::{Deserialize, Serialize};

use crate::upstream::{UpstreamError, http_client, post_json};

#[cfg(any(test, feature = "testing"))]
pub mod contract;
pub mod rules;

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
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
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

/// One issued invoice as uploaded to Wixtar (開立上傳). `number` is the idempotency key: a
/// repeat with the same content is accepted again, the same number with other content is
/// refused (`409 number_conflict`). Read leniently as Wixtar (the simulator) reads it: the
/// tax fields added with MIG 4.0 default to a taxable invoice when absent, the optional ones
/// to `None`; we always send them all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceUpload {
    /// 2 uppercase letters + 8 digits, from a range allocated to this UBN for `period`.
    pub number: String,
    /// 4 digits.
    pub random_code: String,
    /// 5 chars, ROC year + even month.
    pub period: String,
    pub issued_at: DateTime<Utc>,
    /// The platform's order id.
    pub order_id: String,
    pub seller_ubn: String,
    /// `0000000000` for B2C.
    pub buyer_ubn: String,
    pub buyer_name: String,
    pub carrier_type: Option<String>,
    pub carrier_id: Option<String>,
    pub love_code: Option<String>,
    pub print: bool,
    /// MIG `TaxType`: 1 應稅, 2 零稅率, 3 免稅, 9 混合 (B2C only).
    pub tax_type: u8,
    /// MIG `TaxRate`: `"0.05"` for 1 and 9, `"0"` for 2 and 3.
    #[serde(default = "taxable_rate")]
    pub tax_rate: String,
    /// 應稅銷售額 (MIG `SalesAmount`).
    pub sales_amount: u64,
    /// 零稅率銷售額 (MIG `ZeroTaxSalesAmount`).
    #[serde(default)]
    pub zero_tax_sales_amount: u64,
    /// 免稅銷售額 (MIG `FreeTaxSalesAmount`).
    #[serde(default)]
    pub free_tax_sales_amount: u64,
    pub tax_amount: u64,
    pub total: u64,
    /// MIG `CustomsClearanceMark` (1 非經海關出口, 2 經海關出口), with a zero-rated part only.
    #[serde(default)]
    pub customs_clearance_mark: Option<u8>,
    /// MIG `ZeroTaxRateReason` (`"71"`–`"79"`), with a zero-rated part only.
    #[serde(default)]
    pub zero_tax_rate_reason: Option<String>,
    pub items: Vec<UploadItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadItem {
    pub description: String,
    pub quantity: u32,
    pub unit_price: i64,
    pub amount: i64,
    /// MIG `ProductItem/TaxType` (1, 2 or 3): the line's kind (taxable when absent).
    #[serde(default = "taxable")]
    pub tax_type: u8,
}

fn taxable_rate() -> String {
    "0.05".into()
}

fn taxable() -> u8 {
    1
}

/// Wixtar's answer to an upload or a look-up: `status` is `accepted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadReceipt {
    pub number: String,
    pub status: String,
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

#[derive(Serialize)]
struct AllocateRequest<'a> {
    pos: &'a PosIdentity,
    period: &'a str,
    request_id: &'a str,
}

#[derive(Deserialize)]
struct AllocateAnswer {
    range: WireRange,
}

#[derive(Serialize)]
struct UploadRequest<'a> {
    pos: &'a PosIdentity,
    invoice: &'a InvoiceUpload,
}

#[derive(Serialize)]
struct InvoiceQuery<'a> {
    pos: &'a PosIdentity,
    number: &'a str,
}

/// An allowance (折讓單) against an uploaded invoice; its `number` is the idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowanceUpload {
    pub number: String,
    pub invoice_number: String,
    pub issued_at: DateTime<Utc>,
    pub sales_amount: u64,
    pub tax_amount: u64,
    pub total: u64,
    pub items: Vec<UploadItem>,
}

/// Numbers of a closed period that were never used (空白字軌), reported to Wixtar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnusedSpan {
    pub track: String,
    pub first: String,
    pub last: String,
}

#[derive(Serialize)]
struct UnusedReport<'a> {
    pos: &'a PosIdentity,
    period: &'a str,
    unused: &'a [UnusedSpan],
}

#[derive(Serialize)]
struct VoidRequest<'a> {
    pos: &'a PosIdentity,
    number: &'a str,
    reason: &'a str,
}

/// One winning invoice (中獎發票) of MOF's list (中獎清冊), as Wixtar hands it on: the amount is
/// MOF's, never computed here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Winner {
    /// 2 uppercase letters + 8 digits.
    pub number: String,
    pub kind: PrizeKind,
    /// NT$, as on MOF's list.
    pub amount: u64,
}

/// Wixtar's answer to "which of my invoices won in this period" (docs/wixtar-protocol.md §10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum WinnersAnswer {
    /// MOF has not handed the period's list over yet: ask again the next day.
    NotYet,
    /// The list is in: the winners among the numbers this UBN uploaded for the period (maybe none).
    Published { winners: Vec<Winner> },
}

#[derive(Serialize)]
struct WinnersQuery<'a> {
    pos: &'a PosIdentity,
    period: &'a str,
}

#[derive(Serialize)]
struct AllowanceRequest<'a> {
    pos: &'a PosIdentity,
    allowance: &'a AllowanceUpload,
}

#[async_trait]
pub trait WixtarClient: Send + Sync {
    async fn hand_off_contact(&self, req: &OnboardingRequest) -> Result<OnboardingReceipt, UpstreamError>;

    /// The ranges assigned to this POS for `period` (read-only). A 401/403 means Wixtar does not
    /// know these credentials.
    async fn number_ranges(&self, pos: &PosIdentity, period: &str) -> Result<Vec<WireRange>, UpstreamError>;

    /// Asks Wixtar for a new book of 50 numbers for `period` (字軌配號). Repeats with the same
    /// `request_id` answer the same range. `Ok(None)`: Wixtar has no range left to give
    /// (`409 no_ranges_available`): the merchant must add 字軌 in Wixtar.
    async fn allocate_range(&self, pos: &PosIdentity, period: &str, request_id: &str) -> Result<Option<WireRange>, UpstreamError>;

    /// Uploads an issued invoice (開立上傳). Safe to repeat with the same content; the same
    /// number with other content is `Rejected { 409 }` (`number_conflict`).
    async fn upload_invoice(&self, pos: &PosIdentity, invoice: &InvoiceUpload) -> Result<UploadReceipt, UpstreamError>;

    /// Whether this POS's UBN uploaded invoice `number` (`Ok(None)`: Wixtar answered
    /// `404 not_found`). Asked after an ambiguous upload failure, before sending it again.
    async fn find_invoice(&self, pos: &PosIdentity, number: &str) -> Result<Option<UploadReceipt>, UpstreamError>;

    /// 作廢: voids uploaded invoice `number`; repeats answer the same. `Rejected { 409 }`
    /// (`allowances_exist`) while it has active allowances.
    async fn void_invoice(&self, pos: &PosIdentity, number: &str, reason: &str) -> Result<UploadReceipt, UpstreamError>;

    /// 折讓: records an allowance; repeats with the same number answer the same.
    async fn upload_allowance(&self, pos: &PosIdentity, allowance: &AllowanceUpload) -> Result<UploadReceipt, UpstreamError>;

    /// 作廢折讓: voids allowance `number`; repeats answer the same.
    async fn void_allowance(&self, pos: &PosIdentity, number: &str, reason: &str) -> Result<UploadReceipt, UpstreamError>;

    /// 空白字軌: the unused numbers of a closed period. One report per UBN and period; a
    /// repeat replaces it with the same content.
    async fn report_unused(&self, pos: &PosIdentity, period: &str, unused: &[UnusedSpan]) -> Result<(), UpstreamError>;

    /// 中獎清冊: this UBN's winning invoices of `period` (read-only, safe to repeat):
    /// [`WinnersAnswer::NotYet`] until MOF's list is in, then only numbers this UBN uploaded.
    async fn winners(&self, pos: &PosIdentity, period: &str) -> Result<WinnersAnswer, UpstreamError>;
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

/// `Ok(None)` for a `Rejected` with `status` whose body names `code`; other results unchanged.
pub(crate) fn none_when<T>(result: Result<T, UpstreamError>, status: u16, code: &str) -> Result<Option<T>, UpstreamError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(UpstreamError::Rejected { status: s, message }) if s == status && message.contains(code) => Ok(None),
        Err(e) => Err(e),
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

    async fn allocate_range(&self, pos: &PosIdentity, period: &str, request_id: &str) -> Result<Option<WireRange>, UpstreamError> {
        let url = format!("{}/api/v1/pos/number-ranges/allocate", self.base_url);
        let answer = post_json::<_, AllocateAnswer>(&self.http, &url, &AllocateRequest { pos, period, request_id }).await;
        none_when(answer.map(|a| a.range), 409, "no_ranges_available")
    }

    async fn upload_invoice(&self, pos: &PosIdentity, invoice: &InvoiceUpload) -> Result<UploadReceipt, UpstreamError> {
        post_json(&self.http, &format!("{}/api/v1/invoices", self.base_url), &UploadRequest { pos, invoice }).await
    }

    async fn find_invoice(&self, pos: &PosIdentity, number: &str) -> Result<Option<UploadReceipt>, UpstreamError> {
        let url = format!("{}/api/v1/invoices/query", self.base_url);
        none_when(post_json(&self.http, &url, &InvoiceQuery { pos, number }).await, 404, "not_found")
    }

    async fn void_invoice(&self, pos: &PosIdentity, number: &str, reason: &str) -> Result<UploadReceipt, UpstreamError> {
        post_json(&self.http, &format!("{}/api/v1/invoices/void", self.base_url), &VoidRequest { pos, number, reason }).await
    }

    async fn upload_allowance(&self, pos: &PosIdentity, allowance: &AllowanceUpload) -> Result<UploadReceipt, UpstreamError> {
        post_json(&self.http, &format!("{}/api/v1/allowances", self.base_url), &AllowanceRequest { pos, allowance }).await
    }

    async fn void_allowance(&self, pos: &PosIdentity, number: &str, reason: &str) -> Result<UploadReceipt, UpstreamError> {
        post_json(&self.http, &format!("{}/api/v1/allowances/void", self.base_url), &VoidRequest { pos, number, reason }).await
    }

    async fn report_unused(&self, pos: &PosIdentity, period: &str, unused: &[UnusedSpan]) -> Result<(), UpstreamError> {
        let url = format!("{}/api/v1/pos/number-ranges/unused", self.base_url);
        post_json::<_, serde_json::Value>(&self.http, &url, &UnusedReport { pos, period, unused }).await.map(|_| ())
    }

    async fn winners(&self, pos: &PosIdentity, period: &str) -> Result<WinnersAnswer, UpstreamError> {
        post_json(&self.http, &format!("{}/api/v1/pos/winners/query", self.base_url), &WinnersQuery { pos, period }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_when_maps_only_the_named_refusal() {
        let rejected = |status, message: &str| Err::<u8, _>(UpstreamError::Rejected { status, message: message.into() });
        assert_eq!(none_when(Ok(7), 409, "no_ranges_available"), Ok(Some(7)));
        assert_eq!(none_when(rejected(409, r#"{"error":"no_ranges_available"}"#), 409, "no_ranges_available"), Ok(None));
        assert_eq!(
            none_when(rejected(409, r#"{"error":"request_id_conflict"}"#), 409, "no_ranges_available"),
            Err(UpstreamError::Rejected { status: 409, message: r#"{"error":"request_id_conflict"}"#.into() })
        );
        assert!(matches!(none_when(rejected(404, ""), 404, "not_found"), Err(UpstreamError::Rejected { status: 404, .. })));
        assert_eq!(none_when(rejected(404, r#"{"error":"not_found"}"#), 404, "not_found"), Ok(None));
        let down = Err::<u8, _>(UpstreamError::Unavailable("HTTP 500".into()));
        assert_eq!(none_when(down.clone(), 404, "not_found"), down.map(Some));
    }

    #[test]
    fn winners_answers_read_as_documented() {
        let not_yet: WinnersAnswer = serde_json::from_str(r#"{"status":"not_yet"}"#).unwrap();
        assert_eq!(not_yet, WinnersAnswer::NotYet);
        let published: WinnersAnswer =
            serde_json::from_str(r#"{"status":"published","winners":[{"number":"UA00000007","kind":"sixth","amount":200}]}"#).unwrap();
        assert_eq!(published, WinnersAnswer::Published { winners: vec![Winner { number: "UA00000007".into(), kind: PrizeKind::Sixth, amount: 200 }] });
        assert_eq!(serde_json::to_string(&WinnersAnswer::Published { winners: vec![] }).unwrap(), r#"{"status":"published","winners":[]}"#);
        assert!(serde_json::from_str::<WinnersAnswer>(r#"{"status":"published","winners":[{"number":"UA00000007","kind":"seventh","amount":1}]}"#).is_err());
    }

    #[test]
    fn upload_serializes_as_documented() {
        let invoice = contract::invoice("04595257", "UA00000000");
        let v = serde_json::to_value(&invoice).unwrap();
        assert_eq!(v["issued_at"], "2026-11-03T02:04:05Z");
        assert_eq!(v["love_code"], serde_json::Value::Null);
        assert_eq!(serde_json::from_value::<InvoiceUpload>(v.clone()).unwrap(), invoice);
        // Read as Wixtar reads it: the MIG 4.0 tax fields default to a taxable invoice.
        let mut old = v;
        for field in ["tax_rate", "zero_tax_sales_amount", "free_tax_sales_amount", "customs_clearance_mark", "zero_tax_rate_reason", "love_code"] {
            old.as_object_mut().unwrap().remove(field);
        }
        for item in old["items"].as_array_mut().unwrap() {
            item.as_object_mut().unwrap().remove("tax_type");
        }
        assert_eq!(serde_json::from_value::<InvoiceUpload>(old).unwrap(), invoice);
    }
}
