//! The handler end to end over the in-memory store (`einvoice_adapters::testing::MemoryStore`):
//! signed requests in, answers and stored orders out, no moto.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Duration, Utc};
use einvoice_adapters::api::{ApiRequest, ApiResponse, HttpHandler};
use einvoice_adapters::orders::{InvoiceItem, InvoiceStatus, OrderItem};
use einvoice_adapters::secret::Secret;
use einvoice_adapters::settings::SettingsItem;
use einvoice_adapters::signature::{self, SignedRequest, sign};
use einvoice_adapters::store::contract::{invoice_item, settings_item};
use einvoice_adapters::store::{InvoiceStore, OrderStore, PlanItem, PlanStore, PrizeItem, PrizeMarked, PrizeStore, SettingsStore};
use einvoice_adapters::stream::StreamSettled;
use einvoice_adapters::testing::MemoryStore;
use einvoice_domain::buyer::{MEMBER_CARRIER_TYPE, MOBILE_BARCODE_TYPE};
use einvoice_domain::clock::taipei_offset;
use einvoice_domain::order::{DeliveryStatus, PaymentStatus};
use einvoice_domain::settings::IssueTrigger;
use einvoice_domain::{Claimant, Clock, FixedClock, PrizeKind};
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

/// The period report over invoices recorded in the store (numbers, amounts, allowances and
/// voids as the invoice-issuer records them).
mod period_report {
    use einvoice_adapters::orders::{AllowanceItem, AllowanceStatus, InvoiceItem, PeriodCloseItem, UploadStatus, order_keys};
    use einvoice_adapters::store::contract::{invoice_item, range_item, shop_order};
    use einvoice_adapters::store::{InvoiceStore, NumberLedger};
    use einvoice_domain::OrderState;

    use super::*;

    const SELLER: &str = "04595257";
    const B2B_BUYER: &str = "12345675";

    /// Records an order's invoice in `period`: `(sales, tax)`, the buyer's identifier.
    async fn record(h: &Harness, merchant: &str, order: &str, number: &str, period: &str, buyer: &str, (sales, tax): (u32, u32)) -> InvoiceItem {
        let mut o = OrderItem::new(merchant, order, OrderState::new(shop_order(order, 1, "paid", sales + tax), h.now), h.now);
        o.invoice_status = InvoiceStatus::Issuing;
        h.store.save_order(&o, None).await.unwrap();
        let mut invoice = InvoiceItem {
            period: period.into(),
            buyer_identifier: buyer.into(),
            sales_amount: sales,
            tax_amount: tax,
            total: sales + tax,
            ..invoice_item(merchant, order, SELLER, number)
        };
        invoice.upload.status = UploadStatus::Uploaded;
        h.store.record_invoice(&invoice).await.unwrap();
        invoice
    }

    async fn get(h: &Harness, target: &str, accept: Option<&str>) -> ApiResponse {
        let mut req = signed(Method::GET, target, Vec::new());
        if let Some(accept) = accept {
            req.headers.insert(http::header::ACCEPT, accept.parse().unwrap());
        }
        h.handler.handle(req).await
    }

    #[tokio::test]
    async fn the_report_adds_up_the_periods_live_invoices_and_accepted_allowances() {
        let h = Merchant::issuing_on(&["shipment"]).build().await;
        record(&h, MERCHANT, "b2c", "UA00000001", "11512", "0000000000", (1050, 0)).await;
        let b2b = record(&h, MERCHANT, "b2b", "UA00000002", "11512", B2B_BUYER, (1000, 50)).await;
        let void = record(&h, MERCHANT, "void", "UA00000003", "11512", "0000000000", (500, 0)).await;
        h.store.record_void(&void, h.now).await.unwrap();
        let allowance = |n: u32, amount: u32, tax: u32| AllowanceItem {
            number: format!("UA00000002-{n}"),
            amount,
            zero_tax_amount: 0,
            free_tax_amount: 0,
            sales_amount: amount - tax,
            tax_amount: tax,
            issued_at: h.now,
            status: AllowanceStatus::Pending,
        };
        h.store.add_allowance(&b2b, 0, &allowance(1, 210, 10)).await.unwrap();
        h.store.set_allowance_status(&b2b, 0, AllowanceStatus::Uploaded).await.unwrap();
        h.store.add_allowance(&b2b, 1, &allowance(2, 105, 5)).await.unwrap();
        // Another period's, another merchant's: not in the report.
        record(&h, MERCHANT, "earlier", "UA00000009", "11510", "0000000000", (999, 0)).await;
        record(&h, "m-2", "theirs", "UA00000008", "11512", "0000000000", (777, 0)).await;
        h.store.add_range(&range_item(MERCHANT, "11512", "UA", 1, 50)).await.unwrap();
        let close = PeriodCloseItem {
            pk: order_keys::ranges(MERCHANT, "11512"),
            sk: order_keys::CLOSED.into(),
            entity: "period_close".into(),
            merchant_id: MERCHANT.into(),
            period: "11512".into(),
            unused: vec!["UA00000004-UA00000050".into()],
            unused_count: 47,
            reported_at: h.now,
        };
        h.store.record_period_close(&close).await.unwrap();

        let r = get(&h, "/v1/merchants/m-1/periods/11512/report", None).await;
        assert_eq!((r.status, r.content_type), (StatusCode::OK, "application/json; charset=utf-8"), "{}", r.body);
        let figures = |sales: u64, tax: u64| json!({"sales_amount": sales, "tax_amount": tax, "zero_tax_sales_amount": 0, "free_tax_sales_amount": 0, "total": sales + tax});
        assert_eq!(
            body(&r),
            json!({
                "period": "11512", "seller_ubn": SELLER, "closed": true,
                "counts": {"issued": 3, "void": 1, "allowances": 1, "numbers_unused": 47},
                "totals": figures(2050, 50),
                "by_buyer": {"b2b": figures(1000, 50), "b2c": figures(1050, 0)},
                "allowances": {"amount": 210, "tax_amount": 10, "sales_amount": 200, "zero_tax_sales_amount": 0, "free_tax_sales_amount": 0},
                "unused": [{"track": "UA", "first": "00000004", "last": "00000050"}],
            })
        );

        for (target, accept) in
            [("/v1/merchants/m-1/periods/11512/report?format=csv", None), ("/v1/merchants/m-1/periods/11512/report", Some("text/html, text/csv;q=0.9"))]
        {
            let r = get(&h, target, accept).await;
            assert_eq!((r.status, r.content_type), (StatusCode::OK, crate::report::CSV), "{}", r.body);
            let mut reader = csv::Reader::from_reader(r.body.strip_prefix('\u{feff}').expect("a BOM").as_bytes());
            let rows: Vec<(String, String, String)> =
                reader.records().map(|r| r.unwrap()).map(|r| (r[0].to_owned(), r[1].to_owned(), r[13].to_owned())).collect();
            let row = |kind: &str, number: &str, status: &str| (kind.to_owned(), number.to_owned(), status.to_owned());
            assert_eq!(
                rows,
                [
                    row("invoice", "UA00000001", "uploaded"),
                    row("invoice", "UA00000002", "uploaded"),
                    row("allowance", "UA00000002-1", "uploaded"),
                    row("allowance", "UA00000002-2", "pending"),
                    row("invoice", "UA00000003", "void"),
                ]
            );
        }
    }

    #[tokio::test]
    async fn a_period_with_nothing_in_it_is_all_zeros() {
        let h = Merchant::issuing_on(&["shipment"]).build().await;
        let r = get(&h, "/v1/merchants/m-1/periods/11602/report?format=json", None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let zeros = json!({"sales_amount": 0, "tax_amount": 0, "zero_tax_sales_amount": 0, "free_tax_sales_amount": 0, "total": 0});
        assert_eq!(
            body(&r),
            json!({
                "period": "11602", "seller_ubn": null, "closed": false,
                "counts": {"issued": 0, "void": 0, "allowances": 0, "numbers_unused": 0},
                "totals": zeros, "by_buyer": {"b2b": zeros, "b2c": zeros},
                "allowances": {"amount": 0, "tax_amount": 0, "sales_amount": 0, "zero_tax_sales_amount": 0, "free_tax_sales_amount": 0},
                "unused": [],
            })
        );
        let csv = get(&h, "/v1/merchants/m-1/periods/11602/report?format=csv", None).await;
        assert_eq!(csv.body.lines().count(), 1, "the header alone: {}", csv.body);
    }

    #[tokio::test]
    async fn malformed_periods_and_formats_are_refused_and_requests_must_be_signed() {
        let h = Merchant::issuing_on(&["shipment"]).build().await;
        for period in ["11511", "11501", "11500", "11514", "1151", "115120", "00012", "1151a", "%E4%B8%80"] {
            let r = get(&h, &format!("/v1/merchants/m-1/periods/{period}/report"), None).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{period}: {}", r.body);
            assert_eq!((body(&r)["error"]["code"].as_str(), body(&r)["error"]["field"].as_str()), (Some("invalid_period"), Some("period")), "{period}");
        }
        let r = get(&h, "/v1/merchants/m-1/periods/11512/report?format=xlsx", None).await;
        assert_eq!((r.status, body(&r)["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_format")));
        let mut unsigned = signed(Method::GET, "/v1/merchants/m-1/periods/11512/report", Vec::new());
        unsigned.headers.clear();
        assert_eq!(h.handler.handle(unsigned).await.status, StatusCode::UNAUTHORIZED);
        let post = signed(Method::POST, "/v1/merchants/m-1/periods/11512/report", Vec::new());
        assert_eq!(h.handler.handle(post).await.status, StatusCode::METHOD_NOT_ALLOWED);
        h.store.fail_next(1);
        assert_eq!(get(&h, "/v1/merchants/m-1/periods/11512/report", None).await.status, StatusCode::SERVICE_UNAVAILABLE);
    }
}

// 中獎: the winning proof, printed once (`POST …/invoice/prize-proof`).

const PRIZE_PROOF: &str = "/v1/merchants/m-1/orders/o-1/invoice/prize-proof";

/// A B2C invoice on the platform's member carrier (會員載具), the seller's to print if it wins.
fn member_invoice() -> InvoiceItem {
    InvoiceItem {
        carrier_type: Some(MEMBER_CARRIER_TYPE.into()),
        carrier_id: Some("member-42".into()),
        print: false,
        qr_left: "UA000000571151207000000be000000c80000000004595252ndZFOvUnVdiS0cQ1gSoJXA==:**********:1:1:1:凍頂烏龍茶:1:200:".into(),
        qr_right: "**".into(),
        ..invoice_item(MERCHANT, ORDER, "04595252", "UA00000057")
    }
}

impl Harness {
    /// The order claimed by a webhook, then its invoice (`edit`ed from [`member_invoice`])
    /// recorded as the issuer records it; answers it as stored.
    async fn issued(&self, edit: impl FnOnce(&mut InvoiceItem)) -> InvoiceItem {
        assert_eq!(self.accepted(&event(self, "shipped", -10, "paid", "shipped")).await, json!({"status": "issuing"}));
        let mut invoice = member_invoice();
        edit(&mut invoice);
        self.store.record_invoice(&invoice).await.unwrap();
        self.store.invoice(MERCHANT, ORDER).await.unwrap().unwrap()
    }

    /// An issued invoice (`edit`ed) that MOF's list names.
    async fn winner(&self, edit: impl FnOnce(&mut InvoiceItem)) -> PrizeItem {
        let invoice = self.issued(edit).await;
        self.mark(&invoice).await
    }

    /// Marks `invoice` as the prize job does: 六獎, NT$200.
    async fn mark(&self, invoice: &InvoiceItem) -> PrizeItem {
        match self.store.mark_prize(MERCHANT, ORDER, &PrizeItem::new(invoice, PrizeKind::Sixth, 200, self.now)).await.unwrap() {
            PrizeMarked::Marked(prize) => prize,
            other => panic!("{other:?}"),
        }
    }

    /// `POST …/prize-proof` with `key` as its `Idempotency-Key` and `body`.
    async fn print(&self, key: Option<&str>, body: &str) -> ApiResponse {
        self.handler.handle(print_request(key, body)).await
    }

    /// `POST …/prize-proof` with each of `keys` at once, each on its own task; answers in order.
    async fn print_at_once(&self, keys: &[String]) -> Vec<ApiResponse> {
        let tasks: Vec<_> = keys
            .iter()
            .map(|key| {
                let (handler, req) = (self.handler.clone(), print_request(Some(key), ""));
                tokio::spawn(async move { handler.handle(req).await })
            })
            .collect();
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.unwrap());
        }
        answers
    }

    async fn view(&self) -> Value {
        let r = self.handler.handle(signed(Method::GET, "/v1/merchants/m-1/orders/o-1/invoice", Vec::new())).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        body(&r)
    }
}

fn print_request(key: Option<&str>, body: &str) -> ApiRequest {
    let mut req = signed(Method::POST, PRIZE_PROOF, body.as_bytes().to_vec());
    if let Some(key) = key {
        req.headers.insert("idempotency-key", key.parse().unwrap());
    }
    req
}

/// `at` as the proof prints it (Asia/Taipei).
fn printed(at: DateTime<Utc>) -> String {
    format!(">列印:{}<", at.with_timezone(&taipei_offset()).format("%Y-%m-%d %H:%M:%S"))
}

#[track_caller]
fn error_code(r: &ApiResponse) -> (StatusCode, String) {
    assert!(r.status.as_u16() >= 400, "{} {}", r.status, &r.body[..r.body.len().min(300)]);
    (r.status, body(r)["error"]["code"].as_str().unwrap_or_else(|| panic!("{}", r.body)).to_owned())
}

fn conflict(code: &str) -> (StatusCode, String) {
    (StatusCode::CONFLICT, code.to_owned())
}

#[tokio::test]
async fn the_view_shows_the_prize_and_when_it_was_printed() {
    let h = Merchant::issuing_on(&["shipment"]).build().await;
    let invoice = h.issued(|_| {}).await;
    assert_eq!(h.view().await["prize"], Value::Null, "not a winner (yet)");
    h.mark(&invoice).await;
    let view = h.view().await;
    assert_eq!(view["prize"], json!({"period": "11512", "kind": "sixth", "amount": 200, "notified_at": null, "printed_at": null}));
    let told = h.now + Duration::minutes(1);
    h.store.record_prize_notified(MERCHANT, ORDER, told).await.unwrap();
    h.clock.set(Some(h.now + Duration::minutes(2)));
    assert_eq!(h.print(Some("k"), "").await.status, StatusCode::CREATED);
    let prize = &h.view().await["prize"];
    assert_eq!((&prize["notified_at"], &prize["printed_at"]), (&json!(told), &json!(h.now + Duration::minutes(2))));
}

#[tokio::test]
async fn a_winning_proof_prints_once_and_the_same_key_gets_the_same_document() {
    let h = Merchant::issuing_on(&["shipment"]).build().await;
    let prize = h.winner(|_| {}).await;
    assert_eq!(prize.claimant, Claimant::Seller);

    let first = h.print(Some("print-1"), "").await;
    assert_eq!((first.status, first.content_type), (StatusCode::CREATED, crate::proof::SVG), "{}", first.body);
    for shown in ["<title>中獎電子發票證明聯 UA-00000057</title>", ">中獎 六獎 200元<", &printed(h.now), ">電子發票證明聯<", ">UA-00000057<"]
    {
        assert!(first.body.contains(shown), "{shown} missing");
    }
    let stored = h.store.invoice(MERCHANT, ORDER).await.unwrap().unwrap().prize.unwrap();
    assert_eq!((stored.printed_at, stored.printed_by.as_deref()), (Some(h.now), Some("print-1")));

    // Later: the same key answers the same bytes (its answer was lost); `{}` is no body too.
    h.clock.set(Some(h.now + Duration::hours(3)));
    for body in ["", "{}", " { } "] {
        let again = h.print(Some("print-1"), body).await;
        assert_eq!((again.status, &again.body), (StatusCode::CREATED, &first.body), "{body:?}");
    }
    // Any other request: printed already, never again.
    for key in [Some("print-2"), None] {
        let r = h.print(key, "").await;
        assert_eq!(error_code(&r), conflict("prize_proof_already_printed"), "{key:?}");
        assert!(body(&r)["error"]["message"].as_str().unwrap().contains(&printed(h.now)[">列印:".len()..20]), "{}", r.body);
    }
    assert_eq!(h.store.invoice(MERCHANT, ORDER).await.unwrap().unwrap().prize.unwrap(), stored, "nothing written after the print");
}

#[tokio::test]
async fn without_a_key_a_print_is_its_own_request() {
    let h = Merchant::issuing_on(&["shipment"]).build().await;
    h.winner(|_| {}).await;
    let r = h.print(None, "").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let by = h.store.invoice(MERCHANT, ORDER).await.unwrap().unwrap().prize.unwrap().printed_by.unwrap();
    assert!(by.starts_with("request-") && by.len() > 20, "{by}");
    assert_eq!(error_code(&h.print(None, "").await), conflict("prize_proof_already_printed"));
    assert_eq!(h.print(Some(&by), "").await.status, StatusCode::CREATED, "(only whoever knows the id)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_sixteen_concurrent_prints_exactly_one_is_answered_201() {
    let h = Merchant::issuing_on(&["shipment"]).build().await;
    h.winner(|_| {}).await;
    let keys: Vec<String> = (0..16).map(|i| format!("key-{i}")).collect();
    let mut printed_by = Vec::new();
    for (key, r) in keys.iter().zip(h.print_at_once(&keys).await) {
        match r.status {
            StatusCode::CREATED => printed_by.push(key.clone()),
            _ => assert_eq!(error_code(&r), conflict("prize_proof_already_printed")),
        }
    }
    assert_eq!(printed_by.len(), 1, "{printed_by:?}");
    assert_eq!(h.store.invoice(MERCHANT, ORDER).await.unwrap().unwrap().prize.unwrap().printed_by, Some(printed_by[0].clone()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_repeats_of_one_request_all_get_the_one_document() {
    let h = Merchant::issuing_on(&["shipment"]).build().await;
    h.winner(|_| {}).await;
    let mut documents: Vec<String> = h
        .print_at_once(&vec!["same".to_owned(); 8])
        .await
        .into_iter()
        .map(|r| {
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            r.body
        })
        .collect();
    documents.dedup();
    assert_eq!(documents.len(), 1, "one print, one document");
    let printed_at = h.store.invoice(MERCHANT, ORDER).await.unwrap().unwrap().prize.unwrap().printed_at.unwrap();
    assert!(documents[0].contains(&printed(printed_at)));
}

#[tokio::test]
async fn no_proof_for_an_invoice_that_did_not_win_or_is_not_issued() {
    let h = Merchant::issuing_on(&["shipment"]).build().await;
    let r = h.print(Some("k"), "").await;
    assert_eq!((r.status, body(&r)["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("order_not_found")));
    // Claimed, no number yet.
    h.accepted(&event(&h, "shipped", -10, "paid", "shipped")).await;
    assert_eq!(error_code(&h.print(Some("k"), "").await), conflict("invoice_not_issued"));
    // Issued, not on MOF's list.
    h.store.record_invoice(&member_invoice()).await.unwrap();
    assert_eq!(error_code(&h.print(Some("k"), "").await), conflict("not_a_winner"));
    assert_eq!(h.store.invoice(MERCHANT, ORDER).await.unwrap().unwrap().prize, None, "nothing written");
}

#[tokio::test]
async fn winners_the_seller_does_not_print_for_are_refused() {
    type Edit = fn(&mut InvoiceItem);
    let cases: [(&str, Edit, Claimant); 4] = [
        ("mobile barcode", |i| i.carrier_type = Some(MOBILE_BARCODE_TYPE.into()), Claimant::Mof),
        ("paper", |i| (i.carrier_type, i.carrier_id, i.print) = (None, None, true), Claimant::PaperHolder),
        ("donated", |i| (i.carrier_type, i.carrier_id, i.love_code) = (None, None, Some("168".into())), Claimant::Charity),
        ("b2b", |i| (i.carrier_type, i.carrier_id, i.buyer_identifier, i.print) = (None, None, "22099131".into(), true), Claimant::NotClaimable),
    ];
    for (case, edit, claimant) in cases {
        let h = Merchant::issuing_on(&["shipment"]).build().await;
        assert_eq!(h.winner(edit).await.claimant, claimant, "{case}");
        let r = h.print(Some("k"), "").await;
        assert_eq!(error_code(&r), conflict("prize_proof_not_printable"), "{case}");
        assert_eq!(h.store.invoice(MERCHANT, ORDER).await.unwrap().unwrap().prize.unwrap().printed_at, None, "{case}");
    }
    // A member-carrier winner voided since (the void deadline is before the draw: defensive).
    let h = Merchant::issuing_on(&["shipment"]).build().await;
    h.winner(|_| {}).await;
    let invoice = h.store.invoice(MERCHANT, ORDER).await.unwrap().unwrap();
    h.store.record_void(&invoice, h.now).await.unwrap();
    assert_eq!(error_code(&h.print(Some("k"), "").await), conflict("prize_proof_not_printable"));
}

#[tokio::test]
async fn a_print_request_is_checked_before_anything_is_written() {
    let h = Merchant::issuing_on(&["shipment"]).build().await;
    h.winner(|_| {}).await;
    for (body, code) in [(r#"{"reprint":true}"#, "malformed_json"), ("[]", "malformed_json"), ("not json", "malformed_json")] {
        assert_eq!(error_code(&h.print(Some("k"), body).await), (StatusCode::BAD_REQUEST, code.to_owned()), "{body}");
    }
    let long = "k".repeat(256);
    for key in ["", &long] {
        let mut req = print_request(None, "");
        req.headers.insert("idempotency-key", key.parse().unwrap());
        assert_eq!(error_code(&h.handler.handle(req).await), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_idempotency_key".to_owned()));
    }
    let get = h.handler.handle(signed(Method::GET, PRIZE_PROOF, Vec::new())).await;
    assert_eq!(error_code(&get), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed".to_owned()));
    let mut unsigned = print_request(Some("k"), "");
    unsigned.headers.remove(signature::HEADER);
    assert_eq!(h.handler.handle(unsigned).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(h.store.invoice(MERCHANT, ORDER).await.unwrap().unwrap().prize.unwrap().printed_at, None);
    // A store outage before the print: 503, and the print is still there to make.
    h.store.fail_next(1);
    assert_eq!(h.print(Some("k"), "").await.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(h.print(Some("k"), "").await.status, StatusCode::CREATED);
}
