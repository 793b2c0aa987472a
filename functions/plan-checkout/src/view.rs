//! `GET /v1/merchants/{merchant_id}/plan`: status, 使用期限, auto-renew, card, notices, orders.

use chrono::{DateTime, NaiveDate, Utc};
use einvoice_adapters::api::{ApiError, ApiResponse};
use einvoice_adapters::contracts::PlanOrderSummary;
use einvoice_adapters::store::{NoticeItem, PlanItem};
use einvoice_domain::renewal::{AutoRenewView, auto_renew_view};
use einvoice_domain::PlanStatus;
use serde::Serialize;

use crate::PlanCheckout;

/// The plan view (方案).
#[derive(Debug, Serialize)]
struct PlanView<'a> {
    merchant_id: &'a str,
    status: PlanStatus,
    ubn: Option<&'a str>,
    today: NaiveDate,
    /// 使用期限, from and to (inclusive).
    starts_on: Option<NaiveDate>,
    expires_on: Option<NaiveDate>,
    auto_renew: AutoRenewView,
    /// The bound card, by its last 4 digits only.
    card: Option<CardView<'a>>,
    notices: Vec<NoticeView<'a>>,
    orders: Vec<PlanOrderSummary>,
}

#[derive(Debug, Serialize)]
struct CardView<'a> {
    last4: &'a str,
}

/// A message on the plan view (提示).
#[derive(Debug, Serialize)]
struct NoticeView<'a> {
    code: &'a str,
    message: &'a str,
    created_at: DateTime<Utc>,
    details: &'a serde_json::Value,
}

impl<'a> From<&'a NoticeItem> for NoticeView<'a> {
    fn from(n: &'a NoticeItem) -> Self {
        Self { code: &n.code, message: &n.message, created_at: n.created_at, details: &n.details }
    }
}

impl PlanCheckout {
    pub(crate) async fn plan_view(&self, merchant_id: &str) -> Result<ApiResponse, ApiError> {
        let items = self.store.merchant_items(merchant_id).await?;
        let today = self.clock.today_in_taipei();
        let plan = items.plan.as_ref();
        let period = plan.and_then(PlanItem::period);
        let auto_renew = plan.map(|p| p.auto_renew.clone()).unwrap_or_default();
        Ok(ApiResponse::ok(&PlanView {
            merchant_id,
            status: PlanStatus::of(period.as_ref(), items.settings.is_some(), today),
            ubn: plan.and_then(|p| p.ubn.as_deref()),
            today,
            starts_on: period.map(|p| p.starts_on),
            expires_on: period.map(|p| p.expires_on),
            auto_renew: auto_renew_view(&auto_renew, period.map(|p| p.expires_on), today),
            card: auto_renew.card_last4.as_deref().map(|last4| CardView { last4 }),
            notices: items.notices.iter().map(NoticeView::from).collect(),
            orders: items.orders.iter().map(PlanOrderSummary::from).collect(),
        }))
    }
}
