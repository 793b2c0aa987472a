//! No order left behind (DESIGN §6): the table's stream hands every claim to the issuer, the
//! invoice-reconciler finishes what the stream's retries could not, and every crash point and
//! provider outage ends with exactly one invoice per order, uploaded once, before its deadline.

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use chrono::{DateTime, Duration, Utc};
use e2e_tests::{Harness, count_entities, order, start};
use einvoice_adapters::orders::{InvoiceStatus, OrderItem, due_shard};
use einvoice_adapters::store::OrderStore;
use serde_json::{Value, json};

fn status(r: &e2e_tests::Reply) -> &str {
    r.body["invoice"]["status"].as_str().unwrap_or_default()
}

/// The one invoice of an order, checked: `uploaded`, one invoice item and number guard, and
/// at Wixtar exactly once (one record, received once).
async fn uploaded_once(h: &Harness, m: &str, id: &str) -> Value {
    let view = h.invoice(m, id).await.body;
    assert_eq!(view["status"], "uploaded", "{id}: {view}");
    let uploads = h.uploads(id).await;
    assert_eq!(uploads.len(), 1, "{id}: {uploads:?}");
    assert_eq!(uploads[0]["number"], view["number"], "{id}");
    assert_eq!(uploads[0]["received_count"], 1, "{id}: sent once: {uploads:?}");
    view
}

fn invoices_of(items: &[HashMap<String, AttributeValue>], id: &str) -> usize {
    items
        .iter()
        .filter(|i| i.get("entity").and_then(|v| v.as_s().ok()).is_some_and(|e| e == "invoice"))
        .filter(|i| i.get("order_id").and_then(|v| v.as_s().ok()).is_some_and(|o| o == id))
        .count()
}

#[tokio::test]
async fn the_local_stack_lists_and_arms_the_crash_points() {
    let h = start().await;
    let points = h.c.admin_get(&format!("{}/_local/crashes", h.stack.url())).await;
    let names: HashSet<&str> = points.as_array().unwrap().iter().filter_map(|p| p["point"].as_str()).collect();
    for point in [
        "order-webhook/after-claim",
        "invoice-issuer/after-number-reserved",
        "invoice-issuer/after-invoice-recorded",
        "invoice-issuer/after-upload-accepted",
        "invoice-issuer/after-return-accepted",
    ] {
        assert!(names.contains(point), "{point}: {points}");
    }
    h.crash("invoice-issuer/after-invoice-recorded", 2).await;
    let points = h.c.admin_get(&format!("{}/_local/crashes", h.stack.url())).await;
    let armed = points.as_array().unwrap().iter().find(|p| p["point"] == "invoice-issuer/after-invoice-recorded").unwrap();
    assert_eq!(armed["armed"], 2);
    let unknown = h.c.http.post(format!("{}/_local/crashes", h.stack.url())).json(&json!({"point": "nowhere", "count": 1})).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
}

/// Each crash point on the way of a claim: the order ends with one invoice, uploaded once,
/// after the stream's retries and (at most) one reconciler run.
#[tokio::test]
async fn every_crash_point_on_the_way_to_an_upload_ends_with_one_invoice_uploaded_once() {
    let h = start().await;
    let m = h.invoicing_merchant(&["shipment"]).await;
    let r = h.order_event(&m, "warm", &order("warm", "paid", "shipped", "tcat")).await;
    assert_eq!(status(&r), "uploaded", "{:?}", r.body);
    for (i, point) in
        ["order-webhook/after-claim", "invoice-issuer/after-number-reserved", "invoice-issuer/after-invoice-recorded", "invoice-issuer/after-upload-accepted"]
            .into_iter()
            .enumerate()
    {
        let id = format!("crash-{i}");
        h.crash(point, 1).await;
        let r = h.order_event(&m, &format!("{id}-shipped"), &order(&id, "paid", "shipped", "tcat")).await;
        if point.starts_with("order-webhook/") {
            // The Lambda died after its write: API Gateway answers 502; the claim is committed
            // and its stream record is on its way regardless.
            assert_eq!((r.status, r.error_code()), (502, Some("function_crashed")), "{point}: {:?}", r.body);
            // The platform retries the delivery: a repeat, answered from the stored order.
            let again = h.order_event(&m, &format!("{id}-shipped"), &order(&id, "paid", "shipped", "tcat")).await;
            assert_eq!(again.status, 200, "{:?}", again.body);
        } else {
            // The issuer's invocation died; the stream retried the batch and it went through.
            assert_eq!(r.status, 202, "{point}: {:?}", r.body);
        }
        h.stack.settled().await;
        let run = h.reconcile(Utc::now() + Duration::minutes(3)).await;
        assert_eq!(run["failed"], 0, "{point}: {run}");
        uploaded_once(&h, &m, &id).await;
        assert_eq!(invoices_of(&h.items().await, &id), 1, "{point}");
    }
    let stream = h.stack.stream.as_ref().unwrap().stats();
    assert_eq!(stream.failed_invocations, 3, "one crashed invocation per issuer crash point: {stream:?}");
    assert!(h.dead_letters().await.is_empty());
    // The number lost with the crashed invocation has no guard: period close reports it.
    let items = h.items().await;
    assert_eq!(count_entities(&items, "invoice"), 5);
    assert_eq!(count_entities(&items, "invoice_number"), 5);
}

/// A crash after Wixtar accepted a void: the retry voids again (Wixtar answers the same) and
/// records it; the order ends `void`, its return done.
#[tokio::test]
async fn a_crash_after_a_void_is_accepted_ends_void() {
    let h = start().await;
    let m = h.invoicing_merchant(&["shipment"]).await;
    let r = h.order_event(&m, "o-shipped", &order("o", "paid", "shipped", "tcat")).await;
    assert_eq!(status(&r), "uploaded");
    h.crash("invoice-issuer/after-return-accepted", 1).await;
    let mut cancelled = order("o", "paid", "shipped", "tcat");
    cancelled["cancelled"] = json!(true);
    let r = h.order_event(&m, "o-cancelled", &cancelled).await;
    assert_eq!(r.status, 202);
    h.stack.settled().await;
    h.reconcile(Utc::now() + Duration::minutes(3)).await;
    let view = h.invoice(&m, "o").await.body;
    assert_eq!(view["status"], "void", "{view}");
    assert_eq!(h.uploads("o").await[0]["void"], true);
    let order: OrderItem = h.stack.store().order(&m, "o").await.unwrap().unwrap();
    assert!(!order.return_pending && order.due_at.is_none(), "{order:?}");
    assert!(h.dead_letters().await.is_empty());
}

/// The stream gives up on a batch (it crashed on every retry): its metadata goes to the
/// on-failure destination, and the reconciler still finishes the order once it is due.
#[tokio::test]
async fn a_claim_the_stream_gave_up_on_is_finished_by_the_reconciler() {
    let h = start().await;
    let m = h.invoicing_merchant(&["shipment"]).await;
    // Every try gets as far as Wixtar accepting the upload (the retries find it there) and dies
    // before recording it.
    let retries = h.stack.stream.as_ref().unwrap().mappings()[0].maximum_retry_attempts;
    h.crash("invoice-issuer/after-upload-accepted", retries + 1).await;
    let r = h.order_event(&m, "o-shipped", &order("o", "paid", "shipped", "tcat")).await;
    assert_eq!(r.status, 202);
    assert_eq!(status(&r), "issued", "recorded, its upload never: {:?}", r.body);
    let letters = h.dead_letters().await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert!(letters[0]["error"].as_str().unwrap().contains("after-upload-accepted"), "{letters:?}");
    // Not due before the hand-off grace has passed; due after it.
    assert_eq!(h.reconcile(Utc::now() + Duration::seconds(60)).await["due"], 0);
    let run = h.reconcile(Utc::now() + Duration::minutes(3)).await;
    assert_eq!((run["due"].as_u64(), run["finished"].as_u64()), (Some(1), Some(1)), "{run}");
    uploaded_once(&h, &m, "o").await;
    // Nothing is left due: the next run finds nothing.
    assert_eq!(h.reconcile(Utc::now() + Duration::hours(1)).await["due"], 0);
}

/// Wixtar performs each upload and the answer is lost, for every attempt of the issuer's
/// invocation: one invoice at Wixtar, and the reconciler's look-up finds it: `uploaded`.
#[tokio::test]
async fn uploads_whose_answers_are_lost_end_uploaded_once() {
    let h = start().await;
    let m = h.invoicing_merchant(&["shipment"]).await;
    h.order_event(&m, "warm", &order("warm", "paid", "shipped", "tcat")).await;
    h.fault(&h.stack.wixtar, "error_after", 7).await;
    let r = h.order_event(&m, "lost-shipped", &order("lost", "paid", "shipped", "tcat")).await;
    assert_eq!(status(&r), "upload_failed", "{:?}", r.body);
    let run = h.reconcile(Utc::now() + Duration::minutes(2)).await;
    assert_eq!(run["finished"], 1, "{run}");
    let view = h.invoice(&m, "lost").await.body;
    assert_eq!(view["status"], "uploaded");
    let uploads = h.uploads("lost").await;
    assert_eq!(uploads.len(), 1, "one invoice at Wixtar: {uploads:?}");
    assert!(h.dead_letters().await.is_empty());
}

/// The start of a Taipei day after today (plans bought by `invoicing_merchant` cover it).
fn taipei_midnight_tomorrow() -> DateTime<Utc> {
    let today = einvoice_domain::taipei_date(Utc::now());
    (today + chrono::Days::new(1)).and_hms_opt(0, 0, 0).unwrap().and_utc() - Duration::hours(8)
}

/// Wixtar is down for 30 hours of clock time while orders ship; the reconciler fires every 5
/// minutes. Every invoice issued in the outage is uploaded once Wixtar is back, each once and
/// before its legal deadline, with nothing dead-lettered.
#[tokio::test]
async fn a_thirty_hour_wixtar_outage_ends_with_every_invoice_uploaded_before_its_deadline() {
    let h = start().await;
    let m = h.invoicing_merchant(&["shipment"]).await;
    let t0 = taipei_midnight_tomorrow();
    let at = |t: DateTime<Utc>| h.stack.clock.set(Some(t));
    at(t0);
    let r = h.order_event(&m, "warm", &order("warm", "paid", "shipped", "tcat")).await;
    assert_eq!(status(&r), "uploaded", "ranges fetched before the outage: {:?}", r.body);

    h.fault(&h.stack.wixtar, "error", 1_000_000).await;
    let outage = Duration::hours(30);
    let tick = Duration::minutes(5);
    let mut shipped = Vec::new();
    let mut now = t0;
    let mut near = 0;
    while now < t0 + outage {
        now += tick;
        at(now);
        // An order ships every 6 hours of the outage.
        if (now - t0).num_minutes() % 360 == 0 {
            let id = format!("out-{}", shipped.len());
            let r = h.order_event(&m, &format!("{id}-shipped"), &order(&id, "paid", "shipped", "tcat")).await;
            assert_eq!(status(&r), "upload_failed", "{id}: {:?}", r.body);
            shipped.push(id);
        }
        let run = h.reconcile(now).await;
        assert_eq!(run["finished"], 0, "Wixtar is down: {run}");
        near += run["near_deadline"].as_u64().unwrap();
    }
    assert_eq!(shipped.len(), 5);
    assert_eq!(near, 0, "30 hours leave every invoice more than 6 hours before its deadline");
    h.fault(&h.stack.wixtar, "error", 0).await;
    // Back: within the 30-minute backoff cap, every invoice is uploaded.
    let mut finished = 0;
    for _ in 0..6 {
        now += tick;
        at(now);
        finished += h.reconcile(now).await["finished"].as_u64().unwrap();
    }
    assert_eq!(finished, 5);
    for id in &shipped {
        let view = uploaded_once(&h, &m, id).await;
        let (uploaded_at, deadline) = (view["upload"]["uploaded_at"].as_str().unwrap(), view["upload"]["deadline"].as_str().unwrap());
        assert!(e2e_tests::at(uploaded_at) <= e2e_tests::at(deadline), "{id}: uploaded {uploaded_at}, deadline {deadline}");
        assert!(view["upload"]["attempts"].as_u64().unwrap() >= 5, "tried all along: {view}");
    }
    assert!(h.dead_letters().await.is_empty());
    assert_eq!(h.reconcile(now + Duration::hours(1)).await["due"], 0, "nothing left");
}

/// The reconciler reads only what is due: 1,000 finished orders and 20 unfinished ones (a read
/// of the table would read 50 times more than the 20 it needs).
#[tokio::test]
async fn the_reconciler_reads_only_the_due_orders() {
    let h = start().await;
    let m = h.invoicing_merchant(&["shipment"]).await;
    let now = Utc::now();
    let client = aws_sdk_dynamodb::Client::new(&h.stack.sdk);
    let table = h.stack.config.table_name.clone();
    let wire: einvoice_domain::OrderWire = serde_json::from_value(order("x", "paid", "shipped", "tcat")).unwrap();
    let state = einvoice_domain::OrderState::new(wire.parse().unwrap(), now);
    let mut items: Vec<HashMap<String, AttributeValue>> = Vec::new();
    for i in 0..1_020 {
        let id = format!("bulk-{i:05}");
        let mut item = OrderItem { invoice_status: InvoiceStatus::Uploaded, ..OrderItem::new(&m, &id, state.clone(), now) };
        if i >= 1_000 {
            // Claimed, a failed try recorded (kept from the stream), due a minute ago.
            item.invoice_status = InvoiceStatus::Issuing;
            item.invoice_trigger = Some(einvoice_domain::settings::IssueTrigger::Shipment);
            item.request_pending = true;
            item.retries = 1;
            item.due_shard = Some(due_shard(&m, &id));
            item.due_at = Some(now - Duration::minutes(1));
        }
        items.push(serde_dynamo::to_item(&item).unwrap());
    }
    for chunk in items.chunks(25) {
        let writes = chunk.iter().map(|i| WriteRequest::builder().put_request(PutRequest::builder().set_item(Some(i.clone())).build().unwrap()).build());
        let out = client.batch_write_item().request_items(&table, writes.collect()).send().await.unwrap();
        assert!(out.unprocessed_items().is_none_or(|u| u.is_empty()));
    }
    h.stack.aws_calls.take();
    let run = h.reconcile(now).await;
    assert_eq!(
        (run["due"].as_u64(), run["finished"].as_u64(), run["left"].as_u64(), run["more_due"].as_bool()),
        (Some(20), Some(20), Some(0), Some(false)),
        "{run}"
    );
    let calls = h.stack.aws_calls.take();
    let queries = calls.iter().filter(|c| c.function == "InvoiceReconcilerFunction" && c.operation == "Query").count();
    eprintln!("BENCH reconciler_due_read orders=1020 due_items_read={} queries={queries} (index partitions + 字軌 range reads)", run["due"]);
    for i in 1_000..1_020 {
        uploaded_once(&h, &m, &format!("bulk-{i:05}")).await;
    }
    assert_eq!(h.reconcile(now + Duration::minutes(5)).await["due"], 0);
}
