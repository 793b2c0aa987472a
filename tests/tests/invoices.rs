//! Order webhooks and invoice issuing through the local stack: every trigger, out-of-order and
//! repeated deliveries, concurrency, number ranges, amounts, buyer rules, provider failures.

use std::collections::BTreeSet;

use e2e_tests::{Harness, merchant, order, settings_body, start};
use einvoice_adapters::store::OrderStore;
use serde_json::{Value, json};

fn status(r: &e2e_tests::Reply) -> &str {
    r.body["invoice"]["status"].as_str().unwrap_or_default()
}

fn oid(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

fn sequence(number: &str) -> u32 {
    number[2..].parse().unwrap()
}

#[tokio::test]
async fn shipment_issues_one_correct_invoice() {
    let h = start().await;
    let m = h.invoicing_merchant(&["shipment"]).await;
    let id = oid("o");
    let r = h.order_event(&m, "e1", &order(&id, "paid", "pending", "tcat")).await;
    assert_eq!((r.status, status(&r)), (202, "waiting"), "{:?}", r.body);
    let r = h.order_event(&m, "e2", &order(&id, "paid", "shipped", "tcat")).await;
    assert_eq!((r.status, status(&r)), (202, "uploaded"), "{:?}", r.body);

    let inv = h.invoice(&m, &id).await;
    assert_eq!(inv.status, 200);
    let v = &inv.body;
    let number = v["number"].as_str().unwrap();
    assert!(number.len() == 10 && number[..2].chars().all(|c| c.is_ascii_uppercase()) && number[2..].chars().all(|c| c.is_ascii_digit()));
    let random = v["random_code"].as_str().unwrap();
    assert!(random.len() == 4 && random.chars().all(|c| c.is_ascii_digit()));
    let period = v["period"].as_str().unwrap();
    assert_eq!(v["barcode"], format!("{period}{number}{random}"));
    let qr = v["qr_left"].as_str().unwrap();
    assert_eq!(&qr[..10], number);
    assert_eq!(&qr[17..21], random);
    assert_eq!(&qr[29..37], format!("{:08x}", 1050), "total in hex");
    assert_eq!(&qr[37..45], "00000000", "B2C buyer");
    assert_eq!(&qr[45..53], "04595257", "seller UBN");
    assert!(v["qr_right"].as_str().unwrap().starts_with("**"));
    assert_eq!(
        (v["trigger"].as_str(), v["total"].as_u64(), v["sales_amount"].as_u64(), v["tax_amount"].as_u64()),
        (Some("shipment"), Some(1050), Some(1050), Some(0))
    );
    let lines = v["lines"].as_array().unwrap();
    assert_eq!(lines.iter().map(|l| l["amount"].as_i64().unwrap()).sum::<i64>(), 1050, "lines sum to the total");
    assert_eq!(lines.len(), 3, "item, shipping, discount");
    assert_eq!((v["upload"]["status"].as_str(), v["upload"]["attempts"].as_u64()), (Some("uploaded"), Some(1)));

    let uploads = h.uploads(&id).await;
    assert_eq!(uploads.len(), 1);
    assert_eq!((uploads[0]["number"].as_str(), uploads[0]["random_code"].as_str()), (Some(number), Some(random)));
    assert_eq!((uploads[0]["seller_ubn"].as_str(), uploads[0]["total"].as_u64()), (Some("04595257"), Some(1050)));

    // Later events (received, repeats) change nothing.
    for (event, delivery) in [("e3", "received"), ("e2", "shipped"), ("e3", "received")] {
        let r = h.order_event(&m, event, &order(&id, "paid", delivery, "tcat")).await;
        assert_eq!(status(&r), "uploaded");
    }
    assert_eq!(h.uploads(&id).await.len(), 1);
    assert_eq!(h.invoice(&m, &id).await.body["number"], number);
}

/// The rule, written plainly: which statuses issue an invoice for a selection of triggers.
fn expected(issue_on: &[&str], payment: &str, delivery: &str, logistics: &str) -> &'static str {
    let tracked = logistics != "custom";
    let holds = (issue_on.contains(&"payment") && payment == "paid")
        || (issue_on.contains(&"shipment") && (delivery == "shipped" || delivery == "received"))
        || (issue_on.contains(&"pickup") && delivery == "received" && tracked);
    if holds {
        "uploaded"
    } else if issue_on == ["pickup"] && !tracked {
        "not_issuable"
    } else {
        "waiting"
    }
}

#[tokio::test]
async fn every_trigger_and_status_combination() {
    let h = start().await;
    for issue_on in [&["payment"][..], &["shipment"], &["pickup"], &["shipment", "pickup"], &["payment", "shipment"]] {
        let m = h.invoicing_merchant(issue_on).await;
        for payment in ["unpaid", "paid"] {
            for delivery in ["pending", "shipped", "received"] {
                for logistics in ["tcat", "custom"] {
                    let id = oid("c");
                    let r = h.order_event(&m, &oid("ev"), &order(&id, payment, delivery, logistics)).await;
                    assert_eq!(r.status, 202, "{:?}", r.body);
                    assert_eq!(status(&r), expected(issue_on, payment, delivery, logistics), "{issue_on:?} {payment} {delivery} {logistics}");
                    if status(&r) == "not_issuable" {
                        assert_eq!(r.body["invoice"]["reason"], "custom_logistics_never_received");
                    }
                }
            }
        }
        // A cancelled or refunded order that was never issued gets nothing.
        let mut cancelled = order(&oid("x"), "paid", "shipped", "tcat");
        cancelled["cancelled"] = json!(true);
        let r = h.order_event(&m, &oid("ev"), &cancelled).await;
        assert_eq!((status(&r), r.body["invoice"]["reason"].as_str()), ("not_issuable", Some("order_cancelled")));
        let r = h.order_event(&m, &oid("ev"), &order(&oid("x"), "refunded", "pending", "tcat")).await;
        assert_eq!(status(&r), "not_issuable");
    }
}

#[tokio::test]
async fn settings_and_plan_disable_issuing() {
    let h = start().await;
    let no_settings = merchant();
    let r = h.order_event(&no_settings, "e", &order("o1", "paid", "shipped", "tcat")).await;
    assert_eq!((status(&r), r.body["invoice"]["reason"].as_str()), ("disabled", Some("invoicing_disabled")));

    let m = h.invoicing_merchant(&["shipment"]).await;
    let mut off = settings_body();
    off["show_at_checkout"] = json!(false);
    assert_eq!(h.save_settings(&m, &off).await.status, 200);
    let r = h.order_event(&m, "e1", &order("o2", "paid", "shipped", "tcat")).await;
    assert_eq!((status(&r), r.body["invoice"]["reason"].as_str()), ("disabled", Some("not_shown_at_checkout")));
    assert!(h.uploads("o2").await.is_empty());

    // Past the plan's expiry: disabled with plan_expired.
    assert_eq!(h.save_settings(&m, &settings_body()).await.status, 200);
    h.set_now("2030-01-01T10:00:00+08:00");
    let body = json!({"event_id": "e2", "occurred_at": "2030-01-01T02:00:00Z", "merchant_id": m, "order": order("o3", "paid", "shipped", "tcat")});
    let r = h.c.post("/v1/webhooks/orders", &body).await;
    assert_eq!((status(&r), r.body["invoice"]["reason"].as_str()), ("disabled", Some("plan_expired")), "{:?}", r.body);
}

#[tokio::test]
async fn out_of_order_and_repeated_webhooks_merge_forward() {
    let h = start().await;
    let m = h.invoicing_merchant(&["pickup"]).await;
    let id = oid("o");
    // "received" arrives first, then the late "shipped" and "paid": the order stays received.
    let r = h.order_event(&m, "r", &order(&id, "paid", "received", "ecpay_cvs")).await;
    assert_eq!(status(&r), "uploaded");
    for (event, delivery) in [("s", "shipped"), ("p", "pending"), ("r", "received"), ("s", "shipped")] {
        assert_eq!(status(&h.order_event(&m, event, &order(&id, "paid", delivery, "ecpay_cvs")).await), "uploaded");
    }
    let view = h.invoice(&m, &id).await.body;
    assert_eq!(view["trigger"], "pickup");
    assert_eq!(h.uploads(&id).await.len(), 1);

    // Waiting: shipped then a late pending keep it shipped; received issues once.
    let other = oid("o");
    assert_eq!(status(&h.order_event(&m, "a", &order(&other, "paid", "shipped", "tcat")).await), "waiting");
    assert_eq!(status(&h.order_event(&m, "b", &order(&other, "unpaid", "pending", "tcat")).await), "waiting");
    let r = h.order_event(&m, "a", &order(&other, "paid", "shipped", "tcat")).await;
    assert_eq!(r.status, 200, "a repeated event_id answers 200 and changes nothing");
    assert_eq!(status(&h.order_event(&m, "c", &order(&other, "paid", "received", "tcat")).await), "uploaded");
}

#[tokio::test]
async fn fifty_concurrent_deliveries_make_one_invoice() {
    let h = start().await;
    let m = h.invoicing_merchant(&["payment", "shipment"]).await;
    let id = oid("o");
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let (c, m, id) = (h.c.clone(), m.clone(), id.clone());
        let (event, delivery) = [("paid", "pending"), ("shipped", "shipped"), ("received", "received"), ("again", "shipped"), ("late", "pending")][i % 5];
        tasks.spawn(async move {
            let body = json!({"event_id": format!("{id}-{event}"), "occurred_at": chrono::Utc::now().to_rfc3339(), "merchant_id": m,
                              "order": order(&id, "paid", delivery, "tcat")});
            c.post("/v1/webhooks/orders", &body).await
        });
    }
    while let Some(r) = tasks.join_next().await {
        let r = r.unwrap();
        assert!(r.status == 200 || r.status == 202, "{:?}", r.body);
    }
    let uploads = h.uploads(&id).await;
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    assert_eq!(uploads[0]["received_count"], 1);
    let view = h.invoice(&m, &id).await.body;
    assert_eq!((view["status"].as_str(), view["trigger"].as_str()), (Some("uploaded"), Some("payment")));
    // One invoice and one number: no issuer run took a second number for this order.
    let items = h.items().await;
    assert_eq!(e2e_tests::count_entities(&items, "invoice"), 1);
    assert_eq!(e2e_tests::count_entities(&items, "invoice_number"), 1);
    assert_eq!(e2e_tests::count_entities(&items, "skipped_number"), 0);
    assert!(h.stack.publisher.published().iter().all(|e| e.detail_type != "InvoiceRequested"), "the stream hands claims over");
    assert_eq!(h.dead_letters().await.len(), 0);
}

/// 50 deliveries of one order at once, each its own event (distinct `event_id`s, mixed statuses,
/// spread `occurred_at`s): one invoice, and the order ends as the merge of all 50 says,
/// whatever order the writes landed in.
#[tokio::test]
async fn fifty_concurrent_distinct_events_end_in_the_merged_state() {
    let h = start().await;
    let m = h.invoicing_merchant(&["payment", "shipment"]).await;
    let id = oid("o");
    let base = chrono::Utc::now() - chrono::Duration::minutes(10);
    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50i64 {
        let (c, m, id) = (h.c.clone(), m.clone(), id.clone());
        let (payment, delivery) = [("unpaid", "pending"), ("paid", "pending"), ("paid", "shipped"), ("paid", "received"), ("unpaid", "pending")][i as usize % 5];
        // Content differs by the buyer's e-mail: the latest event's (i = 47) is the content kept.
        let occurred = base + chrono::Duration::seconds((i * 17) % 50);
        let mut o = order(&id, payment, delivery, "tcat");
        o["buyer"]["email"] = json!(format!("buyer-{i}@example.com"));
        tasks.spawn(async move {
            let body = json!({"event_id": format!("{id}-ev-{i}"), "occurred_at": occurred.to_rfc3339(), "merchant_id": m, "order": o});
            let t = std::time::Instant::now();
            (c.post("/v1/webhooks/orders", &body).await, t.elapsed())
        });
    }
    let mut took = Vec::new();
    while let Some(r) = tasks.join_next().await {
        let (r, t) = r.unwrap();
        assert!(r.status == 200 || r.status == 202, "{:?}", r.body);
        took.push(t.as_secs_f64());
    }
    took.sort_by(f64::total_cmp);
    println!("BENCH fifty-distinct-events total {:.2} s, p50 {:.3} s, max {:.3} s", started.elapsed().as_secs_f64(), took[24], took[49]);

    let uploads = h.uploads(&id).await;
    assert_eq!((uploads.len(), uploads[0]["received_count"].as_u64()), (1, Some(1)), "{uploads:?}");
    let view = h.invoice(&m, &id).await.body;
    assert_eq!((view["status"].as_str(), view["trigger"].as_str(), view["total"].as_u64()), (Some("uploaded"), Some("payment"), Some(1050)));
    let items = h.items().await;
    assert_eq!(e2e_tests::count_entities(&items, "invoice"), 1);
    assert_eq!(e2e_tests::count_entities(&items, "invoice_number"), 1);
    assert_eq!(e2e_tests::count_entities(&items, "skipped_number"), 0);
    // The merged state: statuses the furthest any event had, content from the latest event.
    let stored: einvoice_adapters::orders::OrderItem = h.stack.store().order(&m, &id).await.unwrap().unwrap();
    let o = &stored.state.order;
    assert_eq!((o.payment_status.as_str(), o.delivery_status.as_str(), o.cancelled), ("paid", "received", false));
    assert_eq!(stored.state.content_at, base + chrono::Duration::seconds(49));
    let latest: serde_json::Value = serde_json::to_value(&o.buyer).unwrap();
    assert_eq!(latest["email"], "buyer-47@example.com", "(47 × 17) mod 50 = 49: the latest event");
    assert!(stored.events_seen <= 50 && stored.event_ids.iter().all(|e| e.starts_with(&format!("{id}-ev-"))));
    assert_eq!(h.dead_letters().await.len(), 0);
}

/// `occurred_at` far in the future would pin the order's content (the merge keeps the latest):
/// refused with 422 `invalid_occurred_at`, nothing written, and the real event is what is
/// invoiced and uploaded.
#[tokio::test]
async fn a_far_future_event_is_refused_and_cannot_change_what_is_invoiced() {
    let h = start().await;
    let m = h.invoicing_merchant(&["shipment"]).await;
    let id = oid("o");
    let priced = |total: u32, delivery: &str| {
        let mut o = order(&id, "paid", delivery, "tcat");
        o["lines"] = json!([{"sku": "TEA-01", "name": "凍頂烏龍茶 150g", "quantity": 1, "unit_price": total}]);
        (o["shipping_fee"], o["discount"], o["total"]) = (json!(0), json!(0), json!(total));
        o
    };
    let forged = json!({"event_id": "far", "occurred_at": "9999-12-31T23:59:59Z", "merchant_id": m, "order": priced(1000, "pending")});
    let r = h.c.post("/v1/webhooks/orders", &forged).await;
    assert_eq!((r.status, r.error_code(), r.body["error"]["field"].as_str()), (422, Some("invalid_occurred_at"), Some("occurred_at")), "{:?}", r.body);
    // Six minutes ahead of the clock is refused too; five minutes before the start of e-invoicing as well.
    for at in [(chrono::Utc::now() + chrono::Duration::seconds(360)).to_rfc3339(), "2005-12-31T23:55:00+08:00".to_owned()] {
        let body = json!({"event_id": "early-or-late", "occurred_at": at, "merchant_id": m, "order": priced(1000, "pending")});
        assert_eq!(h.c.post("/v1/webhooks/orders", &body).await.error_code(), Some("invalid_occurred_at"), "{at}");
    }
    assert_eq!(h.invoice(&m, &id).await.status, 404, "nothing written");

    let real = json!({"event_id": "real", "occurred_at": chrono::Utc::now().to_rfc3339(), "merchant_id": m, "order": priced(400, "shipped")});
    let r = h.c.post("/v1/webhooks/orders", &real).await;
    assert_eq!((r.status, status(&r)), (202, "uploaded"), "{:?}", r.body);
    // The forged event again, after the real one: still refused, still nothing changed.
    assert_eq!(h.c.post("/v1/webhooks/orders", &forged).await.status, 422);
    let view = h.invoice(&m, &id).await.body;
    assert_eq!((view["total"].as_u64(), view["sales_amount"].as_u64()), (Some(400), Some(400)));
    let uploads = h.uploads(&id).await;
    assert_eq!(uploads.len(), 1);
    assert_eq!((uploads[0]["total"].as_u64(), uploads[0]["number"].as_str()), (Some(400), view["number"].as_str()));
}

/// A large order (lines over 1 KiB) keeps its lines in an item of their own, written once: the
/// webhooks that only move its statuses rewrite the small order item; the invoice has every line.
#[tokio::test]
async fn a_large_order_is_invoiced_whole_and_its_lines_are_written_once() {
    let h = start().await;
    let m = h.invoicing_merchant(&["shipment"]).await;
    let id = oid("big");
    let big = |delivery: &str| {
        let mut o = order(&id, "paid", delivery, "tcat");
        let lines: Vec<Value> = (0..400).map(|i| json!({"sku": format!("SKU-{i:05}"), "name": format!("凍頂烏龍茶 150g 第{i}號"), "quantity": 1, "unit_price": 10})).collect();
        o["lines"] = json!(lines);
        (o["shipping_fee"], o["discount"], o["total"]) = (json!(0), json!(0), json!(4000));
        o
    };
    assert_eq!(status(&h.order_event(&m, "pending", &big("pending")).await), "waiting");
    let r = h.order_event(&m, "shipped", &big("shipped")).await;
    assert_eq!((r.status, status(&r)), (202, "uploaded"), "{:?}", r.body);
    assert_eq!(status(&h.order_event(&m, "received", &big("received")).await), "uploaded");
    let view = h.invoice(&m, &id).await.body;
    assert_eq!((view["total"].as_u64(), view["lines"].as_array().map(Vec::len)), (Some(4000), Some(400)));
    let uploads = h.uploads(&id).await;
    assert_eq!((uploads.len(), uploads[0]["total"].as_u64()), (1, Some(4000)));
    let items = h.items().await;
    assert_eq!(e2e_tests::count_entities(&items, "order_lines"), 1, "three webhooks, one content: one lines item");
    let order = items.iter().find(|i| i["entity"].as_s().is_ok_and(|e| e == "order")).unwrap();
    assert!(einvoice_adapters::orders::item_size(order) < 1024, "the order item every webhook rewrites is one write unit");
}

#[tokio::test]
async fn concurrent_orders_get_distinct_consecutive_numbers_and_ranges_refill() {
    let h = start().await;
    let m = h.invoicing_merchant(&["shipment"]).await;
    // Wixtar lets this UBN have two books of 50 this period.
    assert_eq!(h.c.admin_post(&format!("{}/_sim/ranges", h.stack.wixtar.url()), &json!({"ubn": "04595257", "books": 2})).await, 204);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..100 {
        let (c, m) = (h.c.clone(), m.clone());
        tasks.spawn(async move {
            let id = format!("bulk-{i:03}");
            let body = json!({"event_id": format!("ev-{i}"), "occurred_at": chrono::Utc::now().to_rfc3339(), "merchant_id": m,
                              "order": order(&id, "paid", "shipped", "tcat")});
            (id, c.post("/v1/webhooks/orders", &body).await)
        });
    }
    let mut numbers = BTreeSet::new();
    while let Some(done) = tasks.join_next().await {
        let (id, r) = done.unwrap();
        assert_eq!((r.status, status(&r)), (202, "uploaded"), "{id}: {:?}", r.body);
        numbers.insert(h.invoice(&m, &id).await.body["number"].as_str().unwrap().to_owned());
    }
    assert_eq!(numbers.len(), 100, "100 distinct numbers");
    let tracks: BTreeSet<&str> = numbers.iter().map(|n| &n[..2]).collect();
    assert_eq!(tracks.len(), 1);
    let seqs: Vec<u32> = numbers.iter().map(|n| sequence(n)).collect();
    assert_eq!(seqs, (seqs[0]..seqs[0] + 100).collect::<Vec<_>>(), "consecutive");

    // The 101st: no numbers left → no_invoice_numbers and the merchant is told.
    let r = h.order_event(&m, "ev-101", &order("bulk-101", "paid", "shipped", "tcat")).await;
    assert_eq!(status(&r), "no_invoice_numbers", "{:?}", r.body);
    assert!(h.events(&m, "MerchantNotification").iter().any(|e| e["template"] == "no_invoice_numbers"));
    // The merchant adds 字軌 at Wixtar; the next event for the order issues it.
    assert_eq!(h.c.admin_post(&format!("{}/_sim/ranges", h.stack.wixtar.url()), &json!({"ubn": "04595257", "books": 3})).await, 204);
    let r = h.order_event(&m, "ev-102", &order("bulk-101", "paid", "received", "tcat")).await;
    assert_eq!(status(&r), "uploaded", "{:?}", r.body);
    assert_eq!(sequence(h.invoice(&m, "bulk-101").await.body["number"].as_str().unwrap()), seqs[0] + 100);
}

fn with_buyer(id: &str, buyer: Value) -> Value {
    let mut o = order(id, "paid", "shipped", "tcat");
    o["buyer"] = buyer;
    o
}

#[tokio::test]
async fn b2c_and_b2b_amounts() {
    let h = start().await;
    let m = h.invoicing_merchant(&["shipment"]).await;
    h.order_event(&m, "b2c", &order("b2c", "paid", "shipped", "tcat")).await;
    let b2c = h.invoice(&m, "b2c").await.body;
    assert_eq!((b2c["sales_amount"].as_u64(), b2c["tax_amount"].as_u64(), b2c["buyer_identifier"].as_str()), (Some(1050), Some(0), Some("0000000000")));
    assert_eq!(b2c["print"], true, "no carrier, no donation: a paper proof");

    let r = h.order_event(&m, "b2b", &with_buyer("b2b", json!({"name": "王經理", "email": "a@b.tw", "ubn": "22099131", "company_name": "台灣積體電路"}))).await;
    assert_eq!(status(&r), "uploaded", "{:?}", r.body);
    let b2b = h.invoice(&m, "b2b").await.body;
    // 1050 / 1.05 = 1000 sales, 50 tax.
    assert_eq!((b2b["sales_amount"].as_u64(), b2b["tax_amount"].as_u64(), b2b["total"].as_u64()), (Some(1000), Some(50), Some(1050)));
    assert_eq!((b2b["buyer_identifier"].as_str(), b2b["buyer_name"].as_str()), (Some("22099131"), Some("台灣積體電路")));
    let qr = b2b["qr_left"].as_str().unwrap();
    assert_eq!((&qr[21..29], &qr[37..45]), (&format!("{:08x}", 1000)[..], "22099131"));
    assert_eq!(h.uploads("b2b").await[0]["buyer_ubn"], "22099131");
}

#[tokio::test]
async fn carrier_and_donation_rules_are_checked_before_a_number_is_taken() {
    let h = start().await;
    let m = h.invoicing_merchant(&["shipment"]).await;
    let cases = [
        (json!({"name": "a", "carrier": {"type": "mobile", "id": "ABC1234"}}), "invalid_carrier", "order.buyer.carrier.id"),
        (json!({"name": "a", "carrier": {"type": "mobile", "id": "/abc1234"}}), "invalid_carrier", "order.buyer.carrier.id"),
        (json!({"name": "a", "carrier": {"type": "certificate", "id": "AB123"}}), "invalid_carrier", "order.buyer.carrier.id"),
        (json!({"name": "a", "love_code": "12"}), "invalid_love_code", "order.buyer.love_code"),
        (json!({"name": "a", "ubn": "22099131", "company_name": "台積", "love_code": "168"}), "donation_with_ubn", "order.buyer.love_code"),
        (
            json!({"name": "a", "ubn": "22099131", "company_name": "台積", "carrier": {"type": "mobile", "id": "/ABC1234"}}),
            "carrier_with_ubn",
            "order.buyer.carrier",
        ),
        (json!({"name": "a", "ubn": "22099132", "company_name": "台積"}), "invalid_ubn", "order.buyer.ubn"),
        (json!({"name": "a", "ubn": "22099131"}), "missing_field", "order.buyer.company_name"),
    ];
    for (i, (buyer, reason, field)) in cases.into_iter().enumerate() {
        let r = h.order_event(&m, &format!("bad-{i}"), &with_buyer(&format!("bad-{i}"), buyer.clone())).await;
        assert_eq!(
            (status(&r), r.body["invoice"]["reason"].as_str(), r.body["invoice"]["field"].as_str()),
            ("not_issuable", Some(reason), Some(field)),
            "{buyer}"
        );
    }
    let mut wrong_total = order("bad-total", "paid", "shipped", "tcat");
    wrong_total["total"] = json!(1051);
    let r = h.order_event(&m, "bad-total", &wrong_total).await;
    assert_eq!((status(&r), r.body["invoice"]["reason"].as_str()), ("not_issuable", Some("total_mismatch")));

    // Valid carrier and donation invoices: no print; and no number was used by the bad ones.
    let r = h.order_event(&m, "mobile", &with_buyer("mobile", json!({"name": "a", "carrier": {"type": "mobile", "id": "/AB+.-12"}}))).await;
    assert_eq!(status(&r), "uploaded", "{:?}", r.body);
    let mobile = h.invoice(&m, "mobile").await.body;
    assert_eq!(
        (mobile["print"].as_bool(), mobile["carrier"]["type"].as_str(), mobile["carrier"]["id"].as_str()),
        (Some(false), Some("3J0002"), Some("/AB+.-12"))
    );
    assert_eq!(sequence(mobile["number"].as_str().unwrap()) % 50, 0, "the first number of the book: nothing was skipped");
    h.order_event(&m, "cert", &with_buyer("cert", json!({"name": "a", "carrier": {"type": "certificate", "id": "AB12345678901234"}}))).await;
    assert_eq!(h.invoice(&m, "cert").await.body["carrier"]["type"], "CQ0001");
    h.order_event(&m, "love", &with_buyer("love", json!({"name": "a", "love_code": "8585"}))).await;
    let love = h.invoice(&m, "love").await.body;
    assert_eq!((love["love_code"].as_str(), love["print"].as_bool()), (Some("8585"), Some(false)));
}

#[tokio::test]
async fn provider_errors_and_timeouts_recover_without_duplicates() {
    let h = start().await;
    let m = h.invoicing_merchant(&["shipment"]).await;
    let wixtar = &h.stack.wixtar;
    // Two errors: the upload fails, then the look-up that follows an ambiguous failure fails;
    // the second attempt's upload goes through.
    h.order_event(&m, "warm", &order("warm", "paid", "shipped", "tcat")).await; // ranges fetched
    h.fault(wixtar, "error", 2).await;
    let r = h.order_event(&m, "e1", &order("errors", "paid", "shipped", "tcat")).await;
    assert_eq!(status(&r), "uploaded", "{:?}", r.body);
    assert_eq!(h.invoice(&m, "errors").await.body["upload"]["attempts"], 2);
    assert_eq!(h.uploads("errors").await.len(), 1);
    // Stored, then the answer lost: the retry asks first and does not send it again.
    h.fault(wixtar, "error_after", 1).await;
    let r = h.order_event(&m, "e2", &order("ambiguous", "paid", "shipped", "tcat")).await;
    assert_eq!(status(&r), "uploaded");
    let uploads = h.uploads("ambiguous").await;
    assert_eq!((uploads.len(), uploads[0]["received_count"].as_u64()), (1, Some(1)), "{uploads:?}");
    // A timeout (the client gives up at 8 s): asked, not found, sent again.
    h.fault(wixtar, "timeout", 1).await;
    let r = h.order_event(&m, "e3", &order("timeout", "paid", "shipped", "tcat")).await;
    assert_eq!(status(&r), "uploaded");
    assert_eq!(h.uploads("timeout").await.len(), 1);
    // Down for all 4 attempts (an upload, then a look-up and an upload each): upload_failed,
    // recorded with when the reconciler tries again (1 minute), nothing dead-lettered; the
    // reconciler's run at that time finishes it.
    h.fault(wixtar, "error", 7).await;
    let r = h.order_event(&m, "e4", &order("down", "paid", "shipped", "tcat")).await;
    assert_eq!(status(&r), "upload_failed", "{:?}", r.body);
    let view = h.invoice(&m, "down").await.body;
    assert_eq!((view["upload"]["status"].as_str(), view["upload"]["attempts"].as_u64()), (Some("failed"), Some(4)));
    assert!(view["upload"]["last_error"].as_str().unwrap().contains("500"));
    assert_eq!(h.dead_letters().await.len(), 0);
    let early = h.reconcile(chrono::Utc::now() + chrono::Duration::seconds(30)).await;
    assert_eq!(early["due"], 0, "not due before its backoff: {early}");
    let run = h.reconcile(chrono::Utc::now() + chrono::Duration::seconds(61)).await;
    assert_eq!((run["due"].as_u64(), run["finished"].as_u64()), (Some(1), Some(1)), "{run}");
    let view = h.invoice(&m, "down").await.body;
    assert_eq!((view["status"].as_str(), view["number"].as_str()), (Some("uploaded"), h.uploads("down").await[0]["number"].as_str()));
    assert_eq!(h.uploads("down").await.len(), 1);
}

#[tokio::test]
async fn webhook_input_errors() {
    let h: Harness = start().await;
    let m = merchant();
    let good = json!({"event_id": "e", "occurred_at": "2026-11-24T10:00:00+08:00", "merchant_id": m, "order": order("o", "paid", "shipped", "tcat")});
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        ("/event_id", json!(""), 422, "missing_field"),
        ("/occurred_at", json!("yesterday"), 422, "invalid_occurred_at"),
        ("/merchant_id", json!("bad id"), 422, "invalid_merchant_id"),
        ("/order/payment_status", json!("maybe"), 422, "invalid_order"),
        ("/order/currency", json!("USD"), 422, "unsupported_currency"),
        ("/order/total", json!("1050"), 400, "malformed_json"),
    ];
    for (pointer, value, code, error) in cases {
        let mut body = good.clone();
        *body.pointer_mut(pointer).unwrap() = value;
        let r = h.c.post("/v1/webhooks/orders", &body).await;
        assert_eq!((r.status, r.error_code()), (code, Some(error)), "{pointer}: {:?}", r.body);
    }
    let bytes = serde_json::to_vec(&good).unwrap();
    assert_eq!(h.c.raw(reqwest::Method::POST, "/v1/webhooks/orders", bytes, &[]).await.status, 401);
    assert!(h.items().await.is_empty(), "refused webhooks wrote nothing");
    let r = h.invoice(&m, "nope").await;
    assert_eq!((r.status, r.error_code()), (404, Some("order_not_found")));
}
