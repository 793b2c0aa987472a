//! order-webhook Lambda: the platform's order-status webhooks (`POST /v1/webhooks/orders`) and
//! the invoice view (`GET /v1/merchants/{merchant_id}/orders/{order_id}/invoice`) and its
//! printable proof (`…/invoice/proof`, [`proof`]).
//!
//! A webhook costs two DynamoDB calls: one `BatchGetItem` (the order, the merchant's settings
//! and plan), one conditional `PutItem` of the order that merges the event (statuses only move
//! forward), records its `event_id` (deduplication) and the decision; an event that changes
//! nothing (statuses reached, content not newer) is settled without the write. A delivery that
//! loses the write to a concurrent one merges again into the order the failed write returned,
//! so N racing deliveries cost about N writes, not N². A write that claims an
//! invoice (or a return) sets `request_pending` (or `return_pending`) and a due time: the
//! table's stream hands the committed write to the invoice-issuer, and the invoice-reconciler
//! takes the work up if it is not done by then. Nothing is published, so no crash between two
//! calls can lose a claim.

mod proof;
mod view;

// The handler over the in-memory store (the inline `tests` below test `apply` alone).
#[cfg(test)]
#[path = "tests.rs"]
mod handler_tests;

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use einvoice_adapters::api::{self, ApiError, ApiRequest, ApiResponse, HttpHandler};
use einvoice_adapters::config::{ConfigError, Vars};
use einvoice_adapters::crash::{self, CrashPoints};
use einvoice_adapters::orders::{InvoiceStatus, OrderHead, OrderItem, OrderWrite};
use einvoice_adapters::secret::Secret;
use einvoice_adapters::settings::SettingsItem;
use einvoice_adapters::store::{OrderStore, PlanItem};
use einvoice_adapters::stream::StreamSettled;
use einvoice_adapters::wiring::{Edges, Function};
use einvoice_domain::order::{IssueSettings, OrderWire};
use einvoice_domain::settings::{IssueOn, Provider};
use view::{InvoiceView, WebhookAnswer};
use einvoice_domain::{Clock, Decision, OrderState, PlanStatus, RuleViolation, decide};
use http::{Method, StatusCode};
use serde::Deserialize;

/// Settings from the environment (template.yaml sets them in AWS).
#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub platform_secret_id: String,
}

impl Config {
    pub fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        Ok(Self { table_name: vars.required("TABLE_NAME")?, platform_secret_id: vars.required("PLATFORM_SIGNING_SECRET_ID")? })
    }
}

impl Function for OrderWebhook {
    type Config = Config;

    fn config(vars: &impl Vars) -> Result<Config, ConfigError> {
        Config::from_vars(vars)
    }

    async fn wire(config: &Config, edges: &impl Edges) -> Result<Self, ConfigError> {
        let [platform_secret] = edges.secrets([&config.platform_secret_id]).await?;
        Ok(Self::new(Dependencies {
            store: Arc::new(edges.store(&config.table_name)),
            clock: edges.clock(),
            platform_secret,
            crash_points: edges.crash_points(),
            read_back: edges.stream_settled(),
        }))
    }
}

pub struct Dependencies {
    /// The orders (all the webhook and the invoice view read and write of the table).
    pub store: Arc<dyn OrderStore>,
    pub clock: Arc<dyn Clock>,
    pub platform_secret: Secret,
    pub crash_points: Arc<CrashPoints>,
    /// Where the stream's hand-off can be waited for (the local stack): a webhook that claimed
    /// then answers with the order read again, showing the issuer's result. `None` in AWS,
    /// where the issuer runs later and the read would cost a call to show the same `issuing`.
    pub read_back: Option<Arc<dyn StreamSettled>>,
}

pub struct OrderWebhook {
    deps: Dependencies,
}

/// Read-merge-write rounds for one webhook before it answers 503 (deliveries of one order
/// racing; a lost round merges into the order its failed write returned).
const MERGE_ROUNDS: usize = 50;

#[derive(Deserialize)]
struct WebhookWire {
    event_id: Option<String>,
    occurred_at: Option<String>,
    merchant_id: Option<String>,
    order: Option<OrderWire>,
}

struct Webhook {
    event_id: String,
    occurred_at: DateTime<Utc>,
    merchant_id: String,
    order: einvoice_domain::Order,
}

fn missing(field: &str) -> RuleViolation {
    RuleViolation::on_field("missing_field", field, format!("{field} is required"))
}

impl WebhookWire {
    /// Checks the body field by field, in wire order; `occurred_at` is bounded by "now", the
    /// later of `wall` (the machine's clock) and `clock` (the handler's).
    fn parse(self, wall: DateTime<Utc>, clock: DateTime<Utc>) -> Result<Webhook, ApiError> {
        let event_id = self.event_id.filter(|e| !e.is_empty()).ok_or_else(|| missing("event_id"))?;
        if event_id.len() > 128 || !event_id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(RuleViolation::on_field("invalid_event_id", "event_id", "event_id must be 1 to 128 printable ASCII characters").into());
        }
        let raw = self.occurred_at.ok_or_else(|| missing("occurred_at"))?;
        let occurred_at = DateTime::parse_from_rfc3339(&raw)
            .map_err(|_| RuleViolation::on_field("invalid_occurred_at", "occurred_at", "occurred_at must be an RFC 3339 time"))?
            .to_utc();
        einvoice_domain::order::check_occurred_at(occurred_at, wall, clock)?;
        let merchant_id = api::merchant_id(self.merchant_id.as_deref().ok_or_else(|| missing("merchant_id"))?)?;
        let order = self.order.ok_or_else(|| missing("order"))?.parse()?;
        Ok(Webhook { event_id, occurred_at, merchant_id, order })
    }
}

/// The part of the order item a decision sets.
struct InvoiceDecision {
    status: InvoiceStatus,
    reason: Option<String>,
    field: Option<String>,
    trigger: Option<einvoice_domain::settings::IssueTrigger>,
}

fn issue_settings(settings: &SettingsItem) -> IssueSettings {
    IssueSettings {
        enabled: settings.enabled,
        provider_is_wixtar: settings.provider == Provider::Wixtar,
        show_at_checkout: settings.show_at_checkout,
        issue_on: IssueOn::parse(Some(&settings.issue_on)).unwrap_or_else(|_| IssueOn::parse(None).expect("default")),
        tax: settings.tax_settings(),
    }
}

/// What the webhook knows of the merchant: settings, plan, and today's date in Taipei.
struct Merchant<'a> {
    settings: Option<&'a SettingsItem>,
    plan: Option<&'a PlanItem>,
    today: NaiveDate,
}

/// What the merchant's settings and plan say about this order's invoice now.
fn decide_invoice(merchant: &Merchant, state: &OrderState) -> InvoiceDecision {
    let period = merchant.plan.and_then(PlanItem::period);
    let plan_status = PlanStatus::of(period.as_ref(), merchant.settings.is_some(), merchant.today);
    let decision = match merchant.settings {
        Some(s) => decide(state, &issue_settings(s), plan_status),
        // Nothing saved: invoices are off.
        None => Decision::Disabled { reason: einvoice_domain::DisabledReason::InvoicingDisabled },
    };
    match decision {
        Decision::Issue { trigger } => InvoiceDecision { status: InvoiceStatus::Issuing, reason: None, field: None, trigger: Some(trigger) },
        Decision::Waiting => InvoiceDecision { status: InvoiceStatus::Waiting, reason: None, field: None, trigger: None },
        Decision::Disabled { reason } => InvoiceDecision { status: InvoiceStatus::Disabled, reason: Some(reason.as_str().into()), field: None, trigger: None },
        Decision::NotIssuable { reason, field } => InvoiceDecision { status: InvoiceStatus::NotIssuable, reason: Some(reason.into()), field, trigger: None },
    }
}

/// What an event does to the order as stored.
#[derive(Debug)]
enum Applied {
    /// The order item to write (merged state, the event's id, the decision, a claim or a
    /// return handed over).
    Write { item: OrderItem, handed_over: bool },
    /// Writing would change nothing but the bookkeeping of writes: the event's statuses were
    /// reached, its content is not newer than the stored content, and the decision stands.
    Unchanged,
}

/// Merges the event into `existing` (none: the order's first event) and decides its invoice.
fn apply(existing: Option<&OrderItem>, hook: &Webhook, merchant: &Merchant, now: DateTime<Utc>) -> Applied {
    let (m, order_id) = (hook.merchant_id.as_str(), hook.order.id.as_str());
    let state = match existing {
        Some(item) => item.state.clone().merge(hook.order.clone(), hook.occurred_at),
        None => OrderState::new(hook.order.clone(), hook.occurred_at),
    };
    // An order stuck for want of numbers is asked for again by its next event (the
    // merchant may have added 字軌 at Wixtar meanwhile).
    let claimed = existing.is_some_and(|e| e.invoice_status.is_claimed() && e.invoice_status != InvoiceStatus::NoInvoiceNumbers);
    let mut item = match existing.cloned() {
        Some(e) => OrderItem { state, events_seen: e.events_seen + 1, version: e.version + 1, updated_at: now, ..e },
        None => OrderItem::new(m, order_id, state, now),
    };
    item.remember(&hook.event_id);
    let mut handed_over = false;
    if claimed && item.state.order.is_returned() && existing.is_none_or(|e| e.state.order != item.state.order) {
        // An invoiced order was cancelled or (partly) refunded: void or allowance.
        item.return_pending = true;
        handed_over = true;
    }
    if !claimed {
        let d = decide_invoice(merchant, &item.state);
        if d.status == InvoiceStatus::Issuing {
            item.invoice_requested_at = Some(now);
            item.request_pending = true;
            handed_over = true;
        }
        (item.invoice_status, item.invoice_reason, item.invoice_field, item.invoice_trigger) = (d.status, d.reason, d.field, d.trigger);
    }
    if handed_over {
        item.hand_over(now);
    }
    match existing {
        Some(e) if !handed_over && e.same_apart_from_bookkeeping(&item) => Applied::Unchanged,
        _ => Applied::Write { item, handed_over },
    }
}

impl OrderWebhook {
    pub fn new(deps: Dependencies) -> Self {
        Self { deps }
    }

    async fn route(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let segments = req.segments();
        let (allowed, merchant) = match segments[..] {
            ["v1", "webhooks", "orders"] => (Method::POST, None),
            ["v1", "merchants", m, "orders", o, "invoice"] => (Method::GET, Some((m, o, false))),
            ["v1", "merchants", m, "orders", o, "invoice", "proof"] => (Method::GET, Some((m, o, true))),
            _ => return Err(ApiError::route_not_found(req)),
        };
        if req.method != allowed {
            return Err(ApiError::method_not_allowed(req));
        }
        api::authenticate(req, &self.deps.platform_secret)?;
        match merchant {
            None => self.webhook(req).await,
            Some((m, o, proof)) => {
                let m = api::record_merchant(m)?;
                let o = einvoice_domain::OrderId::parse(o).map_err(|v| ApiError::from(v.at("order_id")))?;
                tracing::Span::current().record("order_id", o.as_str());
                match proof {
                    true => self.invoice_proof(req, &m, o.as_str()).await,
                    false => self.invoice_view(&m, o.as_str()).await,
                }
            }
        }
    }

    async fn webhook(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let hook = req.json::<WebhookWire>()?.parse(Utc::now(), self.deps.clock.now())?;
        let (m, order_id) = (hook.merchant_id.clone(), hook.order.id.as_str().to_owned());
        tracing::Span::current().record("merchant_id", m.as_str()).record("order_id", order_id.as_str());
        let context = self.deps.store.webhook_context(&m, &order_id, &hook.order).await?;
        let merchant = Merchant { settings: context.settings.as_ref(), plan: context.plan.as_ref(), today: self.deps.clock.today_in_taipei() };
        let mut existing = context.order;
        for _ in 0..MERGE_ROUNDS {
            if let Some(seen) = existing.as_ref().filter(|e| e.has_seen(&hook.event_id)) {
                tracing::info!(event_id = %hook.event_id, "order event seen before; nothing changed");
                return self.answer(seen.head(), false, StatusCode::OK).await;
            }
            let (item, handed_over) = match apply(existing.as_ref(), &hook, &merchant, self.deps.clock.now()) {
                Applied::Write { item, handed_over } => (item, handed_over),
                Applied::Unchanged => {
                    // Its statuses were reached and its content is not newer: nothing to write,
                    // and nothing to remember (a repeat of it is as much a no-op).
                    let current = existing.as_ref().expect("only an existing order is unchanged");
                    tracing::info!(event_id = %hook.event_id, invoice_status = ?current.invoice_status, "order event changes nothing; settled without a write");
                    return self.answer(current.head(), false, StatusCode::ACCEPTED).await;
                }
            };
            match self.deps.store.save_order(&item, existing.as_ref()).await? {
                OrderWrite::Saved => {
                    tracing::info!(event_id = %hook.event_id, invoice_status = ?item.invoice_status, handed_over, "order event applied");
                    if handed_over {
                        self.deps.crash_points.pass(crash::AFTER_CLAIM);
                    }
                    return self.answer(item.head(), handed_over, StatusCode::ACCEPTED).await;
                }
                // Another delivery of this order wrote first: merge again into the order as that
                // write left it (the failed write's answer carries it; read only if it did not).
                OrderWrite::Stale(Some(current)) => existing = Some(*current),
                OrderWrite::Stale(None) => existing = self.deps.store.webhook_context(&m, &order_id, &hook.order).await?.order,
            }
        }
        Err(ApiError::unavailable("order_contention", "too many concurrent events for this order; retry"))
    }

    /// The order's invoice state. After a hand-off, read again once the stream has delivered it
    /// where that can be waited for ([`Dependencies::read_back`]).
    async fn answer(&self, item: OrderHead, handed_over: bool, status: StatusCode) -> Result<ApiResponse, ApiError> {
        let current = match (&self.deps.read_back, handed_over) {
            (Some(stream), true) => {
                stream.settled().await;
                self.deps.store.order_head(&item.merchant_id, &item.order_id).await?.unwrap_or(item)
            }
            _ => item,
        };
        Ok(ApiResponse::json(status, &WebhookAnswer::of(&current)))
    }

    async fn invoice_view(&self, merchant_id: &str, order_id: &str) -> Result<ApiResponse, ApiError> {
        let (order, invoice) = self.deps.store.invoice_view_context(merchant_id, order_id).await?;
        let order = order.ok_or_else(|| ApiError::not_found("order_not_found", format!("no order {order_id} for this merchant")))?;
        Ok(ApiResponse::ok(&InvoiceView::of(&order, invoice.as_ref())))
    }
}

#[async_trait::async_trait]
impl HttpHandler for OrderWebhook {
    async fn handle(&self, req: ApiRequest) -> ApiResponse {
        api::instrumented(&req, self.route(&req)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000 + secs, 0).unwrap()
    }

    fn event(id: &str, occurred: i64, payment: &str, delivery: &str, total: u32) -> Webhook {
        let order = json!({
            "id": "o-1", "currency": "TWD", "payment_status": payment, "delivery_status": delivery, "logistics": "tcat",
            "lines": [{"name": "凍頂烏龍茶", "quantity": 1, "unit_price": total}], "total": total,
            "buyer": {"name": "陳小華", "email": "hua@example.com"}
        });
        let order = serde_json::from_value::<OrderWire>(order).unwrap().parse().unwrap();
        Webhook { event_id: id.into(), occurred_at: at(occurred), merchant_id: "m-1".into(), order }
    }

    /// No settings saved: every decision is `disabled` (the decision itself is `decide`'s, tested
    /// in the domain; here only whether a write is needed).
    const MERCHANT: Merchant<'static> = Merchant { settings: None, plan: None, today: NaiveDate::from_ymd_opt(2026, 12, 7).unwrap() };

    /// The order after `events`, each written as `apply` said.
    fn stored(events: &[Webhook]) -> OrderItem {
        let mut item: Option<OrderItem> = None;
        for (i, e) in events.iter().enumerate() {
            if let Applied::Write { item: next, .. } = apply(item.as_ref(), e, &MERCHANT, at(100 + i as i64)) {
                item = Some(next);
            }
        }
        item.unwrap()
    }

    fn writes(existing: &OrderItem, e: &Webhook) -> bool {
        matches!(apply(Some(existing), e, &MERCHANT, at(1_000)), Applied::Write { .. })
    }

    #[test]
    fn an_event_that_changes_nothing_settles_without_a_write() {
        let order = stored(&[event("shipped", 20, "paid", "shipped", 400)]);
        // Older content, statuses already reached: nothing to write.
        assert!(!writes(&order, &event("paid", 10, "paid", "pending", 999)));
        assert!(!writes(&order, &event("late", 5, "unpaid", "pending", 1)));
        // The same content at the same time under another event id (a platform retry).
        assert!(!writes(&order, &event("shipped-again", 20, "paid", "shipped", 400)));
    }

    #[test]
    fn an_event_that_changes_something_is_written() {
        let order = stored(&[event("shipped", 20, "paid", "shipped", 400)]);
        // A status moves forward, even from an older event.
        assert!(writes(&order, &event("received", 10, "paid", "received", 400)));
        // Newer content, even the same lines and statuses: content_at moves, so that an event
        // between the two times can no longer win.
        assert!(writes(&order, &event("resent", 30, "paid", "shipped", 400)));
        assert!(writes(&order, &event("edited", 30, "paid", "shipped", 500)));
        // A refund moves refunded_amount.
        let mut refund = event("refund", 10, "paid", "shipped", 400);
        refund.order.refunded_amount = 100;
        assert!(writes(&order, &refund));
    }

    #[test]
    fn a_changed_decision_is_written_even_when_the_state_is_not() {
        let mut order = stored(&[event("shipped", 20, "paid", "shipped", 400)]);
        // Decided before the settings were removed: the next event records the new decision.
        order.invoice_status = InvoiceStatus::Waiting;
        order.invoice_reason = None;
        assert!(writes(&order, &event("paid", 10, "paid", "pending", 400)));
        // Out of numbers: the next event asks again, whatever it says.
        let mut out = stored(&[event("shipped", 20, "paid", "shipped", 400)]);
        out.invoice_status = InvoiceStatus::NoInvoiceNumbers;
        out.invoice_reason = Some("no_invoice_numbers".into());
        assert!(writes(&out, &event("paid", 10, "paid", "pending", 400)));
    }

    #[test]
    fn a_return_of_a_claimed_order_is_handed_over_once() {
        let mut order = stored(&[event("shipped", 20, "paid", "shipped", 400)]);
        order.invoice_status = InvoiceStatus::Uploaded;
        let mut cancel = event("cancel", 30, "paid", "shipped", 400);
        cancel.order.cancelled = true;
        let Applied::Write { item, handed_over: true } = apply(Some(&order), &cancel, &MERCHANT, at(1_000)) else { panic!("a cancel of an invoiced order is handed over") };
        assert!(item.return_pending && item.due_at.is_some());
        // Written: a repeat of the cancel under another id (older) changes nothing.
        assert!(!writes(&item, &{
            let mut again = event("cancel-again", 25, "paid", "shipped", 400);
            again.order.cancelled = true;
            again
        }));
    }

    #[test]
    fn written_items_remember_the_event_and_count_it() {
        let order = stored(&[event("a", 10, "unpaid", "pending", 400), event("b", 20, "paid", "pending", 400), event("c", 5, "unpaid", "pending", 1)]);
        assert_eq!((order.event_ids.as_slice(), order.events_seen, order.version), (&["a".to_owned(), "b".to_owned()][..], 2, 2));
        assert!(!order.has_seen("c"), "an event that changed nothing is not remembered");
    }
}
