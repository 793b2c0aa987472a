//! `PUT …/plan/auto-renew` (自動續約) and `PUT …/payment-card` (綁定信用卡): both change the
//! plan item with a version-checked write and answer the plan view. Every rule is date
//! arithmetic on the request's day (Asia/Taipei), whatever the daily jobs did.

use einvoice_adapters::api::{ApiError, ApiRequest, ApiResponse};
use einvoice_adapters::store::{PlanItem, StoreError};
use einvoice_domain::card::{self, CardToken};
use einvoice_domain::renewal::{AutoRenewRefusal, AutoRenewWire, RefusalKind, change_auto_renew};
use einvoice_domain::{AutoRenew, RuleViolation};
use http::StatusCode;
use serde::Deserialize;

use crate::PlanCheckout;

/// Rounds of read, change and conditional write of one plan (`update_plan`): a version
/// conflict (a concurrent write to the plan) starts the next round.
const PLAN_UPDATE_ROUNDS: usize = 5;

/// A refused change as HTTP: a broken rule is a 422 like every [`RuleViolation`], a conflict
/// with the plan's current state (`no_plan`, `plan_expired`, `cancel_deadline_passed`) a 409.
fn refusal(r: AutoRenewRefusal) -> ApiError {
    let error = ApiError::from(r.violation);
    match r.kind {
        RefusalKind::Rule => error,
        RefusalKind::Conflict => ApiError { status: StatusCode::CONFLICT, ..error },
    }
}

#[derive(Deserialize)]
struct CardWire {
    card_token: Option<String>,
    last4: Option<String>,
}

/// A card the gateway tokenised: an opaque token (never shown again, never a card number)
/// and its last 4 digits.
fn parse_card(wire: CardWire) -> Result<(String, String), RuleViolation> {
    let token = CardToken::parse(wire.card_token.as_deref().unwrap_or_default(), "card_token")?;
    let last4 = card::last4(wire.last4.as_deref().unwrap_or_default(), "last4")?;
    Ok((token.into_string(), last4))
}

impl PlanCheckout {
    pub(crate) async fn put_auto_renew(&self, merchant_id: &str, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let request = req.json::<AutoRenewWire>()?.parse()?;
        let today = self.clock.today_in_taipei();
        self.update_plan(merchant_id, |plan| {
            let next = change_auto_renew(&plan.auto_renew, plan.expires_on, today, &request).map_err(refusal)?;
            tracing::info!(enabled = next.enabled, months = ?next.months.map(|m| m.get()), "auto-renew changed");
            Ok(PlanItem { auto_renew: next, ..plan })
        })
        .await
    }

    pub(crate) async fn put_payment_card(&self, merchant_id: &str, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let (token, last4) = parse_card(req.json()?)?;
        self.update_plan(merchant_id, |plan| {
            tracing::info!("payment card bound");
            let auto_renew: AutoRenew = plan.auto_renew.clone().bind_card(last4.clone());
            Ok(PlanItem { auto_renew, card_token: Some(token.clone()), ..plan })
        })
        .await
    }

    /// Reads the plan (or a new empty one), applies `change`, writes it if nobody wrote in
    /// between (else re-reads and re-applies), and answers the plan view.
    async fn update_plan<F>(&self, merchant_id: &str, change: F) -> Result<ApiResponse, ApiError>
    where
        F: Fn(PlanItem) -> Result<PlanItem, ApiError>,
    {
        for _ in 0..PLAN_UPDATE_ROUNDS {
            let now = self.clock.now();
            let current = self.store.plan(merchant_id).await?.unwrap_or_else(|| PlanItem::empty(merchant_id, now));
            let mut next = change(current.clone())?;
            if next == current {
                return self.plan_view(merchant_id).await;
            }
            next.version = current.version + 1;
            next.updated_at = now;
            match self.store.put_plan(&next, None).await {
                Ok(()) => return self.plan_view(merchant_id).await,
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::unavailable("plan_contention", "too many concurrent updates to this plan; retry"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_rule_is_422_and_a_conflict_with_the_plan_is_409() {
        let rule = AutoRenewRefusal::from(RuleViolation::on_field("missing_field", "months", "months is required"));
        let e = refusal(rule);
        assert_eq!((e.status, e.code, e.field.as_deref()), (StatusCode::UNPROCESSABLE_ENTITY, "missing_field", Some("months")));
        let conflict = AutoRenewRefusal { kind: RefusalKind::Conflict, ..AutoRenewRefusal::from(RuleViolation::new("cancel_deadline_passed", "too late")) };
        let e = refusal(conflict);
        assert_eq!((e.status, e.code, e.message.as_str()), (StatusCode::CONFLICT, "cancel_deadline_passed", "too late"));
    }
}
