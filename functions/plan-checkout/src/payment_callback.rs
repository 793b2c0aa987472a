//! `POST /v1/payments/notify`: the payment gateway's callback. A payment is applied exactly
//! once however often the callback is repeated or raced; its side effects (Wixtar hand-off,
//! merchant e-mail event) are an outbox on the order that every repeat helps finish.

use chrono::{DateTime, Utc};
use einvoice_adapters::api::{ApiError, ApiRequest, ApiResponse};
use einvoice_adapters::contracts::{Channel, Contract, MerchantNotification, PlanOrderSummary, PlanPaid, PlanPurchased, Template};
use einvoice_adapters::events::DomainEvent;
use einvoice_adapters::store::{NoticeItem, PlanItem, PlanOrderItem, PlanOrderStatus, StoreError};
use einvoice_adapters::wixtar::OnboardingRequest;
use einvoice_domain::{PlanMonths, RuleViolation, UsagePeriod, card, taipei_date};
use serde::{Deserialize, Serialize};
use einvoice_adapters::config::WixtarContact;

use crate::PlanCheckout;

/// How far `paid_at` may be from now (late ATM callbacks, clock skew), in days.
const PAID_AT_WINDOW_DAYS: i64 = 730;

/// Rounds of read, apply and conditional write of one payment: a version conflict (several
/// payments for one merchant racing) starts the next round.
const PAYMENT_APPLY_ROUNDS: usize = 10;
/// How long one request may hold the side-effect lease before another may take over.
const EFFECTS_LEASE: chrono::Duration = chrono::Duration::seconds(30);

#[derive(Deserialize)]
struct PaymentCallbackWire {
    order_id: Option<String>,
    status: Option<String>,
    paid_at: Option<String>,
    card_token: Option<String>,
    card_last4: Option<String>,
}

enum PaymentOutcome {
    Paid { paid_at: DateTime<Utc>, card: Option<(String, String)> },
    Failed,
}

fn missing(field: &str) -> RuleViolation {
    RuleViolation::on_field("missing_field", field, format!("{field} is required"))
}

impl PaymentCallbackWire {
    /// `now` bounds `paid_at`: a payment time more than [`PAID_AT_WINDOW_DAYS`] from it is a
    /// gateway error, not a date to start a plan on.
    fn parse(self, now: DateTime<Utc>) -> Result<(String, PaymentOutcome), RuleViolation> {
        let order_id = self.order_id.filter(|o| !o.trim().is_empty()).ok_or_else(|| missing("order_id"))?;
        let outcome = match self.status.as_deref() {
            Some("paid") => {
                let raw = self.paid_at.ok_or_else(|| missing("paid_at"))?;
                let paid_at = DateTime::parse_from_rfc3339(&raw)
                    .map_err(|_| RuleViolation::on_field("invalid_paid_at", "paid_at", "paid_at must be an RFC 3339 time"))?
                    .to_utc();
                if (paid_at - now).num_days().abs() > PAID_AT_WINDOW_DAYS {
                    return Err(RuleViolation::on_field("invalid_paid_at", "paid_at", format!("paid_at must be within {PAID_AT_WINDOW_DAYS} days of now")));
                }
                let card = match (self.card_token, self.card_last4) {
                    // A card number where the token belongs is never kept: the payment counts,
                    // the card is not bound (the merchant binds one through payment-card).
                    (Some(token), Some(_)) if card::looks_like_card_number(&token) => {
                        tracing::warn!(code = "card_number_not_allowed", "the payment callback carried a card number as card_token; the card is not bound");
                        None
                    }
                    (Some(token), Some(last4)) if !token.is_empty() => Some((token, card::last4(&last4, "card_last4")?)),
                    _ => None,
                };
                PaymentOutcome::Paid { paid_at, card }
            }
            Some("failed") => PaymentOutcome::Failed,
            Some(_) => {
                return Err(RuleViolation::on_field("invalid_payment_status", "status", "status must be \"paid\" or \"failed\""));
            }
            None => return Err(missing("status")),
        };
        Ok((order_id, outcome))
    }
}

/// The details of the plan view's notice after a first payment: whom Wixtar sends.
#[derive(Debug, Serialize)]
struct OnboardingNotice<'a> {
    wixtar_contact: &'a WixtarContact,
    order_id: &'a str,
}

/// The answer to the gateway's callback: where the order stands now.
#[derive(Debug, Serialize)]
struct PaymentApplied<'a> {
    order_id: &'a str,
    status: PlanOrderStatus,
    kind: &'a str,
    starts_on: Option<chrono::NaiveDate>,
    expires_on: Option<chrono::NaiveDate>,
}

impl PlanCheckout {
    pub(crate) async fn payment_callback(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let (order_id, outcome) = req.json::<PaymentCallbackWire>()?.parse(self.clock.now())?;
        tracing::Span::current().record("order_id", order_id.as_str());
        let merchant_id =
            self.store.plan_order_merchant(&order_id).await?.ok_or_else(|| ApiError::not_found("order_not_found", format!("no plan order {order_id}")))?;
        tracing::Span::current().record("merchant_id", merchant_id.as_str());

        let order = match outcome {
            PaymentOutcome::Failed => {
                if self.store.fail_plan_order(&merchant_id, &order_id, self.clock.now()).await? {
                    tracing::info!("plan order payment failed");
                }
                self.load_order(&merchant_id, &order_id).await?
            }
            PaymentOutcome::Paid { paid_at, card } => {
                let order = self.apply_payment(&merchant_id, &order_id, paid_at, card).await?;
                self.finish_side_effects(&order).await?;
                order
            }
        };
        Ok(ApiResponse::ok(&PaymentApplied {
            order_id: &order.order_id,
            status: order.status,
            kind: &order.kind,
            starts_on: order.period_starts_on,
            expires_on: order.period_expires_on,
        }))
    }

    async fn load_order(&self, merchant_id: &str, order_id: &str) -> Result<PlanOrderItem, ApiError> {
        self.store.plan_order(merchant_id, order_id).await?.ok_or_else(|| ApiError::not_found("order_not_found", format!("no plan order {order_id}")))
    }

    /// Marks the order paid and extends the plan, once. Returns the paid order.
    async fn apply_payment(
        &self,
        merchant_id: &str,
        order_id: &str,
        paid_at: DateTime<Utc>,
        card: Option<(String, String)>,
    ) -> Result<PlanOrderItem, ApiError> {
        for _ in 0..PAYMENT_APPLY_ROUNDS {
            let order = self.load_order(merchant_id, order_id).await?;
            if order.status == PlanOrderStatus::Paid {
                tracing::info!("payment already applied");
                return Ok(order);
            }
            let now = self.clock.now();
            let current = self.store.plan(merchant_id).await?.unwrap_or_else(|| PlanItem::empty(merchant_id, now));
            let (paid, plan, notice) = self.paid_state(order, current, paid_at, card.clone(), now)?;
            match self.store.apply_payment(&paid, &plan, notice.as_ref()).await {
                Ok(()) => {
                    tracing::info!(kind = %paid.kind, expires_on = %plan.expires_on.map(|d| d.to_string()).unwrap_or_default(), "payment applied");
                    return Ok(paid);
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::unavailable("payment_contention", "too many concurrent updates to this plan; retry"))
    }

    /// The order, plan and notice after applying this payment (pure, given what was read).
    fn paid_state(
        &self,
        mut order: PlanOrderItem,
        mut plan: PlanItem,
        paid_at: DateTime<Utc>,
        card: Option<(String, String)>,
        now: DateTime<Utc>,
    ) -> Result<(PlanOrderItem, PlanItem, Option<NoticeItem>), ApiError> {
        let months = PlanMonths::new(order.months).map_err(|_| ApiError::internal())?;
        // The bonus belongs to the first *paid* order, whichever was opened first.
        let first = plan.paid_orders == 0;
        let bonus = months.bonus_months(first);
        let paid_on = taipei_date(paid_at);
        let period = match (plan.starts_on, plan.expires_on) {
            (Some(starts_on), Some(expires_on)) => UsagePeriod { starts_on, expires_on }.extend(paid_on, months.get()),
            _ => UsagePeriod::first(paid_on, months.get() + bonus),
        };

        order.status = PlanOrderStatus::Paid;
        order.paid_at = Some(paid_at);
        order.kind = if first { "purchase" } else { "renewal" }.into();
        order.bonus_months = bonus;
        order.period_starts_on = Some(period.starts_on);
        order.period_expires_on = Some(period.expires_on);
        order.pending_onboarding = first;
        order.pending_notification = true;

        plan.ubn.get_or_insert_with(|| order.ubn.clone());
        if let Some(name) = order.company_name() {
            plan.company_name = Some(name.to_owned());
        }
        plan.starts_on = Some(period.starts_on);
        plan.expires_on = Some(period.expires_on);
        plan.paid_orders += 1;
        plan.version += 1;
        plan.updated_at = now;
        if order.auto_renew && order.payment_method == "card" {
            if let Some((token, last4)) = card {
                plan.card_token = Some(token);
                plan.auto_renew = plan.auto_renew.turned_on_by_checkout(months, last4);
            }
        }

        let notice = first.then(|| {
            let c = &self.wixtar_contact;
            NoticeItem::new(
                &order.merchant_id,
                "wixtar_onboarding",
                format!("付款完成，美麗科技專員將與您聯繫開通帳號。Payment received: {} will contact you to open your account ({}).", c.name, c.phone),
                serde_json::to_value(OnboardingNotice { wixtar_contact: c, order_id: &order.order_id }).expect("notice details serialize"),
                now,
            )
        });
        Ok((order, plan, notice))
    }

    /// Completes what a paid order still owes: the Wixtar contact hand-off (first purchase)
    /// and the events (PlanPurchased, MerchantNotification). One request at a time holds the
    /// lease and does them; a failure releases the lease, keeps the flag and answers 503, so the
    /// gateway's retry of the callback finishes the job.
    async fn finish_side_effects(&self, order: &PlanOrderItem) -> Result<(), ApiError> {
        if !order.pending_onboarding && !order.pending_notification {
            return Ok(());
        }
        let now = self.clock.now();
        let (merchant_id, order_id) = (&order.merchant_id, &order.order_id);
        if !self.store.lease_order_effects(merchant_id, order_id, now, now + EFFECTS_LEASE).await? {
            tracing::info!("side effects done or in progress elsewhere");
            return Ok(());
        }
        let mut done = Vec::new();
        let outcome = self.perform_side_effects(order, &mut done).await;
        self.store.clear_order_flags(merchant_id, order_id, &done, true).await?;
        outcome
    }

    async fn perform_side_effects(&self, order: &PlanOrderItem, done: &mut Vec<&'static str>) -> Result<(), ApiError> {
        if order.pending_onboarding {
            let request = OnboardingRequest {
                request_id: order.order_id.clone(),
                merchant_id: order.merchant_id.clone(),
                ubn: order.ubn.clone(),
                plan_months: order.months,
                bonus_months: order.bonus_months,
                contact: serde_json::from_value(order.contact.clone()).map_err(|_| ApiError::internal())?,
                company: serde_json::from_value(order.company.clone()).map_err(|_| ApiError::internal())?,
            };
            let receipt = self.wixtar.hand_off_contact(&request).await.map_err(|e| {
                tracing::warn!(error = %e, "Wixtar contact hand-off failed; the callback retry will redo it");
                ApiError::unavailable("provider_unavailable", "payment recorded; Wixtar hand-off pending, retry the callback")
            })?;
            tracing::info!(reference = %receipt.reference, "contact handed off to Wixtar");
            done.push("pending_onboarding");
        }
        if order.pending_notification {
            self.events.publish(&self.payment_events(order)).await.map_err(|e| {
                tracing::warn!(error = %e, "event publish failed; the callback retry will redo it");
                ApiError::unavailable("events_unavailable", "payment recorded; notification pending, retry the callback")
            })?;
            done.push("pending_notification");
        }
        Ok(())
    }

    fn payment_events(&self, order: &PlanOrderItem) -> Vec<DomainEvent> {
        let purchased = PlanPurchased {
            event_id: format!("{}:plan-purchased", order.order_id),
            merchant_id: order.merchant_id.clone(),
            order: PlanOrderSummary::from(order),
            starts_on: order.period_starts_on,
            expires_on: order.period_expires_on,
        };
        let paid = PlanPaid {
            order_id: order.order_id.clone(),
            wixtar_contact: self.wixtar_contact.clone(),
            starts_on: order.period_starts_on,
            expires_on: order.period_expires_on,
            months: Some(order.months),
            bonus_months: Some(order.bonus_months),
            amount: Some(order.amount),
            currency: order.currency.clone(),
        };
        let template = if order.kind == "purchase" { Template::WixtarPurchaseConfirmation(paid) } else { Template::WixtarRenewalConfirmation(paid) };
        let contact = |field: &str| order.contact.get(field).and_then(serde_json::Value::as_str).map(str::to_owned);
        let email = MerchantNotification {
            event_id: format!("{}:{}", order.order_id, template.name()),
            merchant_id: order.merchant_id.clone(),
            channel: Channel::Email,
            to: contact("email").into_iter().collect(),
            contact_name: contact("name"),
            template,
        };
        vec![purchased.to_event(), email.to_event()]
    }
}
