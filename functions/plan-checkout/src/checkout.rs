//! `POST /v1/merchants/{merchant_id}/plan/checkout`: a plan order and its payment.

use einvoice_adapters::api::{self, ApiError, ApiRequest, ApiResponse};
use einvoice_adapters::contracts::PlanOrderSummary;
use einvoice_adapters::idempotency::{self, Begin};
use einvoice_adapters::payment::PaymentRequest;
use einvoice_adapters::store::{PlanOrderItem, PlanOrderStatus, StoreError, keys};
use einvoice_adapters::upstream::UpstreamError;
use einvoice_domain::checkout::CheckoutWire;
use http::StatusCode;

use crate::PlanCheckout;

const ROUTE: &str = "plan-checkout";

/// A new plan order id: `po_` + a time-ordered UUID (v7), so orders sort by creation.
fn new_order_id() -> String {
    format!("po_{}", uuid::Uuid::now_v7().simple())
}

/// The checkout response and the plan view's order entry.

fn gateway_error(e: UpstreamError) -> ApiError {
    tracing::warn!(error = %e, "payment gateway call failed");
    match e {
        UpstreamError::Unavailable(_) => ApiError::unavailable("payment_gateway_unavailable", "the payment gateway is unavailable; retry later"),
        UpstreamError::Rejected { .. } => {
            ApiError::new(StatusCode::BAD_GATEWAY, "payment_gateway_rejected", "the payment gateway refused to open this payment")
        }
    }
}

impl PlanCheckout {
    pub(crate) async fn checkout(&self, merchant_id: &str, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let checkout = req.json::<CheckoutWire>()?.parse()?;
        let now = self.clock.now();

        let (record_pk, order_id) = match api::idempotency_key(req)? {
            Some(key) => match idempotency::begin(&*self.store, merchant_id, ROUTE, &key, &req.body, new_order_id(), now).await? {
                Begin::Replay(response) => return Ok(response),
                Begin::Proceed { record_pk, resource_id } => (Some(record_pk), resource_id),
            },
            None => (None, new_order_id()),
        };
        tracing::Span::current().record("order_id", order_id.as_str());

        let result = self.open_order(merchant_id, &order_id, &checkout, now, record_pk.as_deref()).await;
        if let (Err(_), Some(pk)) = (&result, &record_pk) {
            // Nothing was created: free the key so the caller can retry with it.
            if let Err(e) = self.store.release_idempotency(pk).await {
                tracing::warn!(error = %e, "could not release idempotency key");
            }
        }
        result
    }

    async fn open_order(
        &self,
        merchant_id: &str,
        order_id: &str,
        checkout: &einvoice_domain::CheckoutRequest,
        now: chrono::DateTime<chrono::Utc>,
        record_pk: Option<&str>,
    ) -> Result<ApiResponse, ApiError> {
        let first_purchase = self.is_first_purchase(merchant_id).await?;
        let offer = self.catalogue.offer(checkout.months, first_purchase);
        let payment = self
            .gateway
            .create_payment(&PaymentRequest {
                order_id: order_id.to_owned(),
                merchant_id: merchant_id.to_owned(),
                amount: offer.price,
                currency: "TWD".into(),
                method: checkout.payment_method,
                description: format!("美麗科技電子發票 {} 個月方案", offer.months),
            })
            .await
            .map_err(gateway_error)?;
        let order = PlanOrderItem {
            pk: keys::merchant(merchant_id),
            sk: keys::plan_order(order_id),
            entity: "plan_order".into(),
            order_id: order_id.to_owned(),
            merchant_id: merchant_id.to_owned(),
            kind: if first_purchase { "purchase" } else { "renewal" }.into(),
            ubn: checkout.ubn.to_string(),
            months: offer.months.get(),
            bonus_months: offer.bonus_months,
            amount: offer.price,
            currency: "TWD".into(),
            payment_method: checkout.payment_method.as_str().into(),
            auto_renew: checkout.auto_renew,
            status: PlanOrderStatus::PendingPayment,
            contact: serde_json::to_value(&checkout.contact).expect("serializes"),
            company: serde_json::to_value(&checkout.company).expect("serializes"),
            payment: serde_json::to_value(&payment).expect("serializes"),
            created_at: now,
            paid_at: None,
            failed_at: None,
            period_starts_on: None,
            period_expires_on: None,
            pending_onboarding: false,
            pending_notification: false,
            effects_lease_until: None,
        };
        let response = ApiResponse::json(StatusCode::CREATED, &PlanOrderSummary::from(&order));
        let completes = record_pk.map(|pk| (pk, response.status.as_u16(), response.body.as_str()));
        match self.store.create_plan_order(&order, completes).await {
            Ok(()) => {
                tracing::info!(kind = %order.kind, months = order.months, amount = order.amount, "plan order created");
                Ok(response)
            }
            // A resumed request raced the first one: answer what was stored.
            Err(StoreError::Conflict) => match record_pk {
                Some(pk) => match self.store.idempotency(pk).await?.and_then(|r| r.response_body.zip(r.status_code)) {
                    Some((body, status)) => Ok(ApiResponse::json_text(StatusCode::from_u16(status).unwrap_or(StatusCode::CREATED), body)),
                    None => Err(ApiError::conflict("idempotency_key_in_progress", "retry shortly")),
                },
                None => Err(ApiError::conflict("order_exists", "an order with this id already exists")),
            },
            Err(e) => Err(e.into()),
        }
    }
}
