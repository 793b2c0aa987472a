//! `GET /v1/merchants/{merchant_id}/plan`: status, 使用期限, auto-renew, card, notices, orders.

use einvoice_adapters::api::{ApiError, ApiResponse};
use einvoice_adapters::store::PlanItem;
use einvoice_domain::PlanStatus;
use einvoice_domain::renewal::auto_renew_view;
use serde_json::json;

use crate::PlanCheckout;
use einvoice_adapters::contracts::PlanOrderSummary;

impl PlanCheckout {
    pub(crate) async fn plan_view(&self, merchant_id: &str) -> Result<ApiResponse, ApiError> {
        let items = self.store.merchant_items(merchant_id).await?;
        let today = self.clock.today_in_taipei();
        let orders = &items.orders;
        let plan = items.plan.as_ref();
        let period = plan.and_then(PlanItem::period);
        let status = PlanStatus::of(period.as_ref(), items.settings.is_some(), today);
        let auto_renew = plan.map(|p| p.auto_renew.clone()).unwrap_or_default();
        let card = auto_renew.card_last4.as_ref().map(|last4| json!({"last4": last4}));
        let notices: Vec<_> =
            items.notices.iter().map(|n| json!({"code": n.code, "message": n.message, "created_at": n.created_at, "details": n.details})).collect();
        Ok(ApiResponse::ok(&json!({
            "merchant_id": merchant_id,
            "status": status,
            "ubn": plan.and_then(|p| p.ubn.clone()),
            "today": today,
            "starts_on": period.map(|p| p.starts_on),
            "expires_on": period.map(|p| p.expires_on),
            "auto_renew": auto_renew_view(&auto_renew, period.map(|p| p.expires_on), today),
            "card": card,
            "notices": notices,
            "orders": orders.iter().map(PlanOrderSummary::from).collect::<Vec<_>>(),
        })))
    }
}
