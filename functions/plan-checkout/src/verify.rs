//! `POST /v1/merchants/{merchant_id}/plan/verify` (帳號驗證): UBN check and the plan list.

use einvoice_adapters::api::{ApiError, ApiRequest, ApiResponse};
use einvoice_domain::{PlanOffer, RuleViolation, Ubn};
use serde::{Deserialize, Serialize};

use crate::PlanCheckout;

#[derive(Deserialize)]
struct VerifyWire {
    ubn: Option<String>,
}

/// The answer to `POST …/plan/verify`: the plans on offer, with the first-purchase bonus.
#[derive(Debug, Serialize)]
struct VerifyView {
    ubn: Ubn,
    first_purchase: bool,
    currency: &'static str,
    plans: Vec<PlanOffer>,
}

impl PlanCheckout {
    /// Whether the merchant has ever paid for a plan (renewals get no bonus).
    pub(crate) async fn is_first_purchase(&self, merchant_id: &str) -> Result<bool, ApiError> {
        Ok(self.store.plan(merchant_id).await?.is_none_or(|p| p.paid_orders == 0))
    }

    pub(crate) async fn verify(&self, merchant_id: &str, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let wire: VerifyWire = req.json()?;
        let raw = wire.ubn.ok_or_else(|| RuleViolation::on_field("missing_field", "ubn", "ubn is required"))?;
        let ubn = Ubn::parse(&raw)?;
        let first_purchase = self.is_first_purchase(merchant_id).await?;
        Ok(ApiResponse::ok(&VerifyView { ubn, first_purchase, currency: "TWD", plans: self.catalogue.offers(first_purchase) }))
    }
}
