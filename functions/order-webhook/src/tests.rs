//! The handler end to end over the in-memory store (`einvoice_adapters::testing::MemoryStore`):
//! signed requests in, answers and stored orders out, no moto.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Duration, Utc};
use einvoice_adapters::api::{ApiRequest, ApiResponse, HttpHandler};
use einvoice_adapters::orders::{InvoiceStatus, OrderItem};
use einvoice_adapters::secret::Secret;
use einvoice_adapters::settings::SettingsItem;
use einvoice_adapters::signature::{self, SignedRequest, sign};
use einvoice_adapters::store::contract::settings_item;
use einvoice_adapters::store::{OrderStore, PlanItem, PlanStore, SettingsStore};
use einvoice_adapters::stream::StreamSettled;
use einvoice_adapters::testing::MemoryStore;
use einvoice_domain::order::{DeliveryStatus, PaymentStatus};
use einvoice_domain::settings::IssueTrigger;
use einvoice_domain::{Clock, FixedClock};
use http::{HeaderMap, Method, StatusCode};
use serde_json::{Value, json};

use crate::{Dependencies, OrderWebhook};

const MERCHANT: &str = "m-1";
const ORDER: &str = "o-1";
const SECRET: &str = "whsec-order-webhook-tests";

/// Counts the hand-offs: the handler waits for the stream only after a write that handed a
/// claim (or a return) over.
#[derive(Default)]
struct HandOffs(AtomicUsize);

#[async_trait::async_trait]
impl StreamSettled for HandOffs {
    async fn settled(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// What the merchant has saved before the webhooks arrive.
struct Merchant {
    issue_on: Vec<&'static str>,
    enabled: bool,
    settings: bool,
    plan_expired: bool,
}

impl Merchant {
    /// Invoices on at `issue_on`, an active plan.
    fn issuing_on(issue_on: &[&'static str]) -> Self {
        Self { issue_on: issue_on.to_vec(), enabled: true, settings: true, plan_expired: false }
    }

    async fn build(self) -> Harness {
        // Ahead of the wall clock, in whole seconds: "now" for occurred_at is the clock's.
        let now = DateTime::from_timestamp(Utc::now().timestamp() + 3_600, 0).unwrap();
        let clock = Arc::new(FixedClock::at(now));
        let today = clock.today_in_taipei();
        let store = MemoryStore::new();
        if self.settings {
            let mut s: SettingsItem = settings_item(MERCHANT, 1, "S001");
            s.issue_on = self.issue_on.iter().map(|t| t.to_string()).collect();
            s.enabled = self.enabled;
            store.put_settings(&s).await.unwrap();
        }
        let mut plan = PlanItem::empty(MERCHANT, now);
        plan.version = 1;
        (plan.starts_on, plan.expires_on) = match self.plan_expired {
            false => (Some(today - Duration::days(30)), Some(today + Duration::days(30))),
            true => (Some(today - Duration::days(60)), Some(today - Duration::days(1))),
        };
        store.put_plan(&plan, None).await.unwrap();
        let hand_offs = Arc::new(HandOffs::default());
        let handler = OrderWebhook::new(Dependencies {
            store: Arc::new(store.clone()),
            clock: clock.clone(),
            platform_secret: Secret::new(SECRET.to_owned()),
            crash_points: Default::default(),
            read_back: Some(hand_offs.clone()),
        });
        Harness { store, clock, hand_offs, handler: Arc::new(handler), now }
    }
}

struct Harness {
    store: MemoryStore,
    clock: Arc<FixedClock>,
    hand_offs: Arc<HandOffs>,
    handler: Arc<OrderWebhook>,
    /// The handler's clock at the start.
    now: DateTime<Utc>,
}

/// A request signed now (wall clock) over method, target and body.
fn signed(method: Method, target: &str, body: Vec<u8>) -> ApiRequest {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let header = sign(&Secret::new(SECRET.to_owned()), Utc::now().timestamp(), &SignedRequest::new(method.as_str(), target, &body));
    let mut headers = HeaderMap::new();
    headers.insert(signature::HEADER, header.parse().unwrap());
    ApiRequest { method, path: path.into(), query: query.into(), headers, body: body.into(), request_id: "req-test".into() }
}

/// A webhook body: event `id`, `secs` after the harness's start, statuses and total.
fn event(h: &Harness, id: &str, secs: i64, payment: &str, delivery: &str) -> Value {
    json!({
        "event_id": id,
        "occurred_at": (h.now + Duration::seconds(secs)).to_rfc3339(),
        "merchant_id": MERCHANT,
        "order": {
            "id": ORDER, "currency": "TWD", "payment_status": payment, "delivery_status": delivery, "logistics": "tcat",
            "lines": [{"name": "凍頂烏龍茶", "quantity": 1, "unit_price": 400}], "total": 400,
            "buyer": {"name": "陳小華", "email": "hua@example.com"}
        }
    })
}

fn body(r: &ApiResponse) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body))
}

impl Harness {
    async fn post(&self, event: &Value) -> ApiResponse {
        self.handler.handle(signed(Method::POST, "/v1/webhooks/orders", serde_json::to_vec(event).unwrap())).await
    }

    async fn order(&self) -> Option<OrderItem> {
        self.store.order(MERCHANT, ORDER).await.unwrap()
    }

    fn hand_offs(&self) -> usize {
        self.hand_offs.0.load(Ordering::SeqCst)
    }

    /// Posts `event`, expects 202, answers its `invoice` object.
    async fn accepted(&self, event: &Value) -> Value {
        let r = self.post(event).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
        let b = body(&r);
        assert_eq!(b["order_id"], ORDER);
        b["invoice"].clone()
    }
}

#[tokio::test]
async fn a_paid_order_is_claimed_when_invoices_are_issued_on_payment() {
    let h = Merchant::issuing_on(&["payment"]).build().await;
    assert_eq!(h.accepted(&event(&h, "e1", -10, "paid", "pending")).await, json!({"status": "issuing"}));
    let o = h.order().await.unwrap();
    assert_eq!(
        (o.invoice_status, o.invoice_trigger, o.invoice_reason.as_deref(), o.invoice_field.as_deref()),
        (InvoiceStatus::Issuing, Some(IssueTrigger::Payment), None, None)
    );
    assert!(o.request_pending);
    assert!(!o.return_pending);
    assert_eq!(o.invoice_requested_at, Some(h.now));
    assert_eq!(o.due_at, Some(h.now + Duration::minutes(2)));
    assert!(o.due_shard.is_some());
    assert_eq!((o.event_ids, o.events_seen, o.version), (vec!["e1".to_owned()], 1, 1));
    assert_eq!(h.hand_offs(), 1);
}

#[tokio::test]
async fn a_shipped_order_is_claimed_when_invoices_are_issued_on_shipment() {
    let h = Merchant::issuing_on(&["shipment"]).build().await;
    assert_eq!(h.accepted(&event(&h, "e1", -10, "paid", "shipped")).await, json!({"status": "issuing"}));
    let o = h.order().await.unwrap();
    assert_eq!((o.invoice_status, o.invoice_trigger, o.request_pending), (InvoiceStatus::Issuing, Some(IssueTrigger::Shipment), true));
    assert_eq!((o.invoice_requested_at, o.due_at), (Some(h.now), Some(h.now + Duration::minutes(2))));
    assert_eq!(h.hand_offs(), 1);
}

#[tokio::test]
async fn a_received_order_is_claimed_when_invoices_are_issued_on_pickup() {
    let h = Merchant::issuing_on(&["pickup"]).build().await;
    // Shipped is not yet picked up.
    assert_eq!(h.accepted(&event(&h, "e1", -20, "paid", "shipped")).await, json!({"status": "waiting"}));
    assert_eq!(h.accepted(&event(&h, "e2", -10, "paid", "received")).await, json!({"status": "issuing"}));
    let o = h.order().await.unwrap();
    assert_eq!((o.invoice_status, o.invoice_trigger, o.request_pending), (InvoiceStatus::Issuing, Some(IssueTrigger::Pickup), true));
    assert_eq!((o.invoice_requested_at, o.due_at), (Some(h.now), Some(h.now + Duration::minutes(2))));
    assert_eq!((o.events_seen, o.version), (2, 2));
    assert_eq!(h.hand_offs(), 1);
}

#[tokio::test]
async fn an_order_short_of_its_trigger_waits_without_a_claim() {
    let h = Merchant::issuing_on(&["shipment"]).build().await;
    assert_eq!(h.accepted(&event(&h, "e1", -10, "paid", "pending")).await, json!({"status": "waiting"}));
    let o = h.order().await.unwrap();
    assert_eq!((o.invoice_status, o.invoice_trigger, o.invoice_reason), (InvoiceStatus::Waiting, None, None));
    assert_eq!((o.request_pending, o.return_pending, o.invoice_requested_at, o.due_at), (false, false, None, None));
    assert_eq!(h.hand_offs(), 0);
}

#[tokio::test]
async fn invoices_are_disabled_when_settings_are_off_missing_or_the_plan_expired() {
    let cases = [
        (Merchant { enabled: false, ..Merchant::issuing_on(&["payment"]) }, "invoicing_disabled"),
        (Merchant { settings: false, ..Merchant::issuing_on(&["payment"]) }, "invoicing_disabled"),
        (Merchant { plan_expired: true, ..Merchant::issuing_on(&["payment"]) }, "plan_expired"),
    ];
    for (merchant, reason) in cases {
        let h = merchant.build().await;
        assert_eq!(h.accepted(&event(&h, "e1", -10, "paid", "received")).await, json!({"status": "disabled", "reason": reason}));
        let o = h.order().await.unwrap();
        assert_eq!((o.invoice_status, o.invoice_reason.as_deref(), o.invoice_trigger), (InvoiceStatus::Disabled, Some(reason), None));
        assert_eq!((o.request_pending, o.invoice_requested_at, o.due_at), (false, None, None));
        assert_eq!(h.hand_offs(), 0);
    }
}

#[tokio::test]
async fn custom_logistics_with_pickup_only_is_not_issuable() {
    let h = Merchant::issuing_on(&["pickup"]).build().await;
    let mut e = event(&h, "e1", -10, "paid", "shipped");
    e["order"]["logistics"] = "custom".into();
    assert_eq!(h.accepted(&e).await, json!({"status": "not_issuable", "reason": "custom_logistics_never_received", "field": "order.logistics"}));
    let o = h.order().await.unwrap();
    assert_eq!(
        (o.invoice_status, o.invoice_reason.as_deref(), o.invoice_field.as_deref()),
        (InvoiceStatus::NotIssuable, Some("custom_logistics_never_received"), Some("order.logistics"))
    );
    assert_eq!((o.request_pending, o.due_at), (false, None));
    assert_eq!(h.hand_offs(), 0);
}

#[tokio::test]
async fn the_claim_is_written_once_however_many_deliveries_follow() {
    let h = Merchant::issuing_on(&["payment"]).build().await;
    h.accepted(&event(&h, "e1", -50, "paid", "pending")).await;
    let claimed = h.order().await.unwrap();
    // Later deliveries, the handler's clock moving on: the claim, its time and due time stay.
    for (i, delivery) in ["shipped", "received", "received"].into_iter().enumerate() {
        h.clock.set(Some(h.now + Duration::minutes(10 * (i as i64 + 1))));
        let secs = -40 + 10 * i as i64;
        assert_eq!(h.accepted(&event(&h, &format!("later-{i}"), secs, "paid", delivery)).await, json!({"status": "issuing"}));
    }
    let o = h.order().await.unwrap();
    assert_eq!((o.invoice_status, o.invoice_trigger, o.request_pending), (InvoiceStatus::Issuing, Some(IssueTrigger::Payment), true));
    assert_eq!((o.invoice_requested_at, o.due_at, o.due_shard.clone()), (Some(h.now), Some(h.now + Duration::minutes(2)), claimed.due_shard));
    assert_eq!(o.state.order.delivery_status, DeliveryStatus::Received);
    assert_eq!((o.events_seen, o.version), (4, 4));
    assert_eq!(h.hand_offs(), 1, "one hand-off for one claim");
}

#[tokio::test]
async fn a_repeated_event_id_answers_200_and_changes_nothing() {
    let h = Merchant::issuing_on(&["shipment"]).build().await;
    let e = event(&h, "e1", -10, "paid", "shipped");
    h.accepted(&e).await;
    let before = h.order().await.unwrap();
    h.clock.set(Some(h.now + Duration::minutes(5)));
    for _ in 0..3 {
        let r = h.post(&e).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(body(&r), json!({"order_id": ORDER, "invoice": {"status": "issuing"}}));
    }
    // The same id with other content is still the same event.
    let r = h.post(&event(&h, "e1", 0, "paid", "received")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(h.order().await.unwrap(), before);
    assert_eq!(h.hand_offs(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_deliveries_of_one_order_merge_with_one_claim() {
    let h = Merchant::issuing_on(&["shipment"]).build().await;
    let payments = ["unpaid", "paid"];
    let deliveries = ["pending", "shipped", "received", "shipped"];
    let mut tasks = Vec::new();
    for i in 0..20i64 {
        let mut e = event(&h, &format!("evt-{i:02}"), -100 + i, payments[(i % 2) as usize], deliveries[(i % 4) as usize]);
        // Content differs per event: the newest (evt-19) wins.
        e["order"]["lines"][0]["unit_price"] = (400 + i).into();
        e["order"]["total"] = (400 + i).into();
        let handler = h.handler.clone();
        tasks.push(tokio::spawn(async move { handler.handle(signed(Method::POST, "/v1/webhooks/orders", serde_json::to_vec(&e).unwrap())).await }));
    }
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
        // Each answers the order as its own write (or the write it lost to) left it.
        let status = body(&r)["invoice"]["status"].clone();
        assert!(status == "waiting" || status == "issuing", "{status}");
    }
    let o = h.order().await.unwrap();
    assert_eq!((o.state.order.payment_status, o.state.order.delivery_status), (PaymentStatus::Paid, DeliveryStatus::Received));
    assert_eq!(o.state.order.total, 419);
    assert_eq!((o.invoice_status, o.invoice_trigger, o.request_pending, o.return_pending), (InvoiceStatus::Issuing, Some(IssueTrigger::Shipment), true, false));
    assert_eq!((o.invoice_requested_at, o.due_at), (Some(h.now), Some(h.now + Duration::minutes(2))));
    assert_eq!(o.events_seen as u64, o.version, "one write per event written");
    assert_eq!(o.event_ids.len(), o.events_seen as usize);
    assert!(o.has_seen("evt-19"), "the newest content was written");
    assert_eq!(h.hand_offs(), 1, "one claim");
}

#[tokio::test]
async fn an_event_that_changes_nothing_settles_without_a_write() {
    let h = Merchant::issuing_on(&["shipment"]).build().await;
    h.accepted(&event(&h, "shipped", -10, "paid", "shipped")).await;
    let before = h.order().await.unwrap();
    // The same content at the same time under another id, and older content with statuses reached.
    assert_eq!(h.accepted(&event(&h, "retry", -10, "paid", "shipped")).await, json!({"status": "issuing"}));
    assert_eq!(h.accepted(&event(&h, "older", -20, "paid", "pending")).await, json!({"status": "issuing"}));
    let after = h.order().await.unwrap();
    assert_eq!(after, before);
    assert_eq!((after.version, after.events_seen, after.event_ids), (1, 1, vec!["shipped".to_owned()]));
}

#[tokio::test]
async fn occurred_at_may_be_at_most_300_seconds_ahead() {
    let h = Merchant::issuing_on(&["shipment"]).build().await;
    let r = h.post(&event(&h, "ahead-301", 301, "paid", "pending")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let b = body(&r);
    assert_eq!((b["error"]["code"].as_str(), b["error"]["field"].as_str()), (Some("invalid_occurred_at"), Some("occurred_at")));
    assert_eq!(h.order().await, None, "a refused event writes nothing");
    assert_eq!(h.accepted(&event(&h, "ahead-300", 300, "paid", "pending")).await, json!({"status": "waiting"}));
    assert_eq!(h.order().await.unwrap().event_ids, vec!["ahead-300".to_owned()]);
}

#[tokio::test]
async fn a_cancel_or_refund_after_a_claim_sets_return_pending() {
    for edit in ["cancel", "refund"] {
        let h = Merchant::issuing_on(&["shipment"]).build().await;
        h.accepted(&event(&h, "shipped", -20, "paid", "shipped")).await;
        let later = h.now + Duration::minutes(30);
        h.clock.set(Some(later));
        let mut e = event(&h, "returned", -10, "paid", "shipped");
        match edit {
            "cancel" => e["order"]["cancelled"] = true.into(),
            _ => e["order"]["refunded_amount"] = 100.into(),
        }
        assert_eq!(h.accepted(&e).await, json!({"status": "issuing"}), "{edit}");
        let o = h.order().await.unwrap();
        assert!(o.return_pending, "{edit}");
        assert_eq!((o.invoice_status, o.request_pending), (InvoiceStatus::Issuing, true), "{edit}");
        assert_eq!((o.invoice_requested_at, o.due_at), (Some(h.now), Some(later + Duration::minutes(2))), "{edit}");
        assert_eq!((o.events_seen, o.version), (2, 2), "{edit}");
        assert_eq!(h.hand_offs(), 2, "{edit}: the claim, then the return");
        // The same return again under another id: handed over once.
        let r = h
            .post(&{
                let mut again = e.clone();
                again["event_id"] = "returned-again".into();
                again
            })
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
        assert_eq!(h.order().await.unwrap(), o, "{edit}");
        assert_eq!(h.hand_offs(), 2, "{edit}");
    }
}

#[tokio::test]
async fn the_invoice_view_of_an_unknown_order_is_404() {
    let h = Merchant::issuing_on(&["shipment"]).build().await;
    let r = h.handler.handle(signed(Method::GET, "/v1/merchants/m-1/orders/o-unknown/invoice", Vec::new())).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert_eq!(body(&r)["error"]["code"], "order_not_found");
    // A known order is shown, its invoice not issued yet.
    h.accepted(&event(&h, "e1", -10, "paid", "pending")).await;
    let r = h.handler.handle(signed(Method::GET, "/v1/merchants/m-1/orders/o-1/invoice", Vec::new())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let b = body(&r);
    assert_eq!(
        (b["order_id"].as_str(), b["status"].as_str(), &b["number"], &b["upload"]["status"]),
        (Some(ORDER), Some("waiting"), &Value::Null, &json!("none"))
    );
}

#[tokio::test]
async fn a_store_outage_answers_503_and_a_retry_succeeds() {
    let h = Merchant::issuing_on(&["shipment"]).build().await;
    let e = event(&h, "e1", -10, "paid", "shipped");
    h.store.fail_next(1);
    let r = h.post(&e).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert_eq!(h.order().await, None);
    assert_eq!(h.hand_offs(), 0);
    // The platform's retry of the same event.
    assert_eq!(h.accepted(&e).await, json!({"status": "issuing"}));
    assert_eq!(h.hand_offs(), 1);
    // The invoice view too.
    h.store.fail_next(1);
    let r = h.handler.handle(signed(Method::GET, "/v1/merchants/m-1/orders/o-1/invoice", Vec::new())).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
}
