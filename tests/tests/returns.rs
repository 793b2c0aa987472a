//! Returns of invoiced orders through the local stack: 作廢 (void) while the period is open,
//! 折讓 (allowance) after it and for partial refunds, allowances voided before the invoice.

use e2e_tests::{Harness, order, start};
use einvoice_adapters::store::NumberLedger;
use serde_json::{Value, json};

/// An invoiced order (issued now, in period 11512 while the clock is in Nov–Dec 2026); its
/// period closes for voids at 2027-01-13 23:59:59 Asia/Taipei.
async fn invoiced(h: &Harness, id: &str, buyer: Option<Value>) -> String {
    let m = h.invoicing_merchant(&["shipment"]).await;
    h.set_now("2026-12-05T10:00:00+08:00");
    let mut o = order(id, "paid", "shipped", "tcat");
    if let Some(b) = buyer {
        o["buyer"] = b;
    }
    let r = event(h, &m, "ship", &o, "2026-12-05T10:00:00+08:00").await;
    assert_eq!(r["invoice"]["status"], "uploaded", "{r}");
    m
}

async fn event(h: &Harness, m: &str, event_id: &str, order: &Value, at: &str) -> Value {
    let body = json!({"event_id": event_id, "occurred_at": at, "merchant_id": m, "order": order});
    let r = h.c.post("/v1/webhooks/orders", &body).await;
    assert!(r.status == 200 || r.status == 202, "{:?}", r.body);
    r.body
}

fn cancelled(id: &str) -> Value {
    let mut o = order(id, "paid", "shipped", "tcat");
    o["cancelled"] = json!(true);
    o
}

fn refunded(id: &str, amount: u32) -> Value {
    let mut o = order(id, "paid", "received", "tcat");
    o["refunded_amount"] = json!(amount);
    o
}

async fn sim_record(h: &Harness, id: &str) -> Value {
    h.uploads(id).await.into_iter().next().expect("uploaded")
}

#[tokio::test]
async fn cancelled_on_the_last_second_of_the_window_is_voided() {
    let h = start().await;
    let m = invoiced(&h, "void-1", None).await;
    h.set_now("2027-01-13T23:59:59+08:00");
    let r = event(&h, &m, "cancel", &cancelled("void-1"), "2027-01-13T23:59:59+08:00").await;
    assert_eq!(r["invoice"]["status"], "void", "{r}");
    let view = h.invoice(&m, "void-1").await.body;
    assert!(view["voided_at"].is_string());
    assert_eq!(view["allowances"], json!([]));
    assert_eq!(sim_record(&h, "void-1").await["void"], true);
    // A second cancellation (or a repeat) changes nothing.
    for id in ["cancel", "cancel-again"] {
        let r = event(&h, &m, id, &cancelled("void-1"), "2027-01-13T23:59:59+08:00").await;
        assert_eq!(r["invoice"]["status"], "void");
    }
    assert_eq!(sim_record(&h, "void-1").await["allowances"], json!([]));
}

#[tokio::test]
async fn cancelled_one_second_after_the_window_gets_an_allowance() {
    let h = start().await;
    let m = invoiced(&h, "late-1", None).await;
    h.set_now("2027-01-14T00:00:00+08:00");
    let r = event(&h, &m, "cancel", &cancelled("late-1"), "2027-01-14T00:00:00+08:00").await;
    assert_eq!(r["invoice"]["status"], "uploaded", "the invoice stands; an allowance returns it: {r}");
    let view = h.invoice(&m, "late-1").await.body;
    assert_eq!(view["voided_at"], Value::Null);
    let allowances = view["allowances"].as_array().unwrap();
    assert_eq!(allowances.len(), 1);
    assert_eq!((allowances[0]["amount"].as_u64(), allowances[0]["status"].as_str()), (Some(1050), Some("uploaded")));
    assert_eq!(allowances[0]["number"], format!("{}-1", view["number"].as_str().unwrap()));
    assert_eq!(view["allowed_amount"], 1050);
    let record = sim_record(&h, "late-1").await;
    assert_eq!((record["void"].as_bool(), record["allowances"][0]["total"].as_u64()), (Some(false), Some(1050)));
    // Nothing more to return (a later cancel: on the handlers' clock, occurred_at may not be
    // more than 300 s ahead of it).
    h.set_now("2027-01-15T00:00:00+08:00");
    event(&h, &m, "cancel-2", &cancelled("late-1"), "2027-01-15T00:00:00+08:00").await;
    assert_eq!(h.invoice(&m, "late-1").await.body["allowances"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn partial_refunds_add_up_to_the_total_with_b2b_tax() {
    let h = start().await;
    let buyer = json!({"name": "王經理", "ubn": "22099131", "company_name": "台灣積體電路"});
    let m = invoiced(&h, "part-1", Some(buyer.clone())).await;
    let with_buyer = |amount| {
        let mut o = refunded("part-1", amount);
        o["buyer"] = buyer.clone();
        o
    };
    event(&h, &m, "refund-300", &with_buyer(300), "2026-12-06T10:00:00+08:00").await;
    event(&h, &m, "refund-300", &with_buyer(300), "2026-12-06T10:00:00+08:00").await; // repeat
    event(&h, &m, "refund-1050", &with_buyer(1050), "2026-12-07T10:00:00+08:00").await;
    // A refund above the total is refused by validation; the invoice is untouched by it.
    let view = h.invoice(&m, "part-1").await.body;
    let amounts: Vec<(u64, u64, u64)> = view["allowances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["amount"].as_u64().unwrap(), a["sales_amount"].as_u64().unwrap(), a["tax_amount"].as_u64().unwrap()))
        .collect();
    assert_eq!(amounts, [(300, 286, 14), (750, 714, 36)], "300 then the remaining 750, tax split for B2B");
    assert_eq!(view["allowed_amount"], 1050, "partial refunds sum to the total, never beyond");
    let record = sim_record(&h, "part-1").await;
    assert_eq!(record["allowances"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn allowances_are_voided_before_the_invoice() {
    let h = start().await;
    let m = invoiced(&h, "both-1", None).await;
    event(&h, &m, "refund", &refunded("both-1", 200), "2026-12-06T10:00:00+08:00").await;
    assert_eq!(h.invoice(&m, "both-1").await.body["allowances"].as_array().unwrap().len(), 1);
    // Then the whole order is cancelled inside the window: allowance voided, then the invoice.
    let mut all = refunded("both-1", 200);
    all["cancelled"] = json!(true);
    let r = event(&h, &m, "cancel", &all, "2026-12-07T10:00:00+08:00").await;
    assert_eq!(r["invoice"]["status"], "void", "{r}");
    let view = h.invoice(&m, "both-1").await.body;
    assert_eq!(view["allowances"][0]["status"], "void");
    let record = sim_record(&h, "both-1").await;
    assert_eq!((record["void"].as_bool(), record["allowances"][0]["voided"].as_bool()), (Some(true), Some(true)));
}

#[tokio::test]
async fn a_refund_larger_than_the_order_is_refused() {
    let h = start().await;
    let m = invoiced(&h, "big-1", None).await;
    let body = json!({"event_id": "too-much", "occurred_at": "2026-12-06T10:00:00+08:00", "merchant_id": m, "order": refunded("big-1", 2000)});
    let r = h.c.post("/v1/webhooks/orders", &body).await;
    assert_eq!((r.status, r.error_code()), (422, Some("invalid_amount")));
    assert_eq!(h.invoice(&m, "big-1").await.body["allowances"], json!([]));
}

#[tokio::test]
async fn unused_numbers_are_reported_once_after_the_period() {
    let h = start().await;
    let m = invoiced(&h, "close-1", None).await;
    for id in ["close-2", "close-3"] {
        event(&h, &m, id, &order(id, "paid", "shipped", "tcat"), "2026-12-05T11:00:00+08:00").await;
    }
    let fire = |time: &'static str| {
        let c = h.c.clone();
        async move {
            let body = serde_json::to_vec(&json!({"time": time})).unwrap();
            c.raw(reqwest::Method::POST, "/_local/schedules/period-close", body, &[("content-type", "application/json".into())]).await
        }
    };
    // A number handed out just before a crash (no invoice, no record of why).
    let store = h.stack.store();
    let ranges = store.ranges(&m, "11512").await.unwrap();
    assert_eq!(store.take_block(&ranges[0], 1).await.unwrap(), Some((3, 1)));
    // During the period nothing is reported.
    let r = fire("2026-12-20T01:00:00+08:00").await;
    assert_eq!((r.status, r.body["reported"].as_u64()), (200, Some(0)), "{:?}", r.body);
    // The first run after it: once; then repeats and later catch-up runs find it done.
    let r = fire("2027-01-01T01:00:00+08:00").await;
    assert_eq!((r.body["reported"].as_u64(), r.body["unused_numbers"].as_u64()), (Some(1), Some(47)), "{:?}", r.body);
    for time in ["2027-01-01T01:00:00+08:00", "2027-01-02T01:00:00+08:00", "2027-03-05T01:00:00+08:00"] {
        let r = fire(time).await;
        assert_eq!((r.body["reported"].as_u64(), r.body["already_reported"].as_u64()), (Some(0), Some(1)), "{time}: {:?}", r.body);
    }
    let reports = h.c.admin_get(&format!("{}/_sim/unused-reports", h.stack.wixtar.url())).await;
    let reports = reports.as_array().unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!((reports[0]["period"].as_str(), reports[0]["received_count"].as_u64()), (Some("11512"), Some(1)));
    let track = h.invoice(&m, "close-1").await.body["number"].as_str().unwrap()[..2].to_owned();
    assert_eq!(
        reports[0]["unused"],
        json!([{"track": track, "first": "00000004", "last": "00000049"}, {"track": track, "first": "00000003", "last": "00000003"}]),
        "the untouched tail, and the number lost to the crash"
    );
}

#[tokio::test]
async fn period_close_checks_numbers_under_the_ubn_their_range_was_assigned_to() {
    let h = start().await;
    let m = invoiced(&h, "ubn-1", None).await;
    // The merchant moves to another UBN mid-period (a new company registration).
    let mut body = e2e_tests::settings_body();
    body["credentials"]["ubn"] = json!("22099131");
    let r = h.save_settings(&m, &body).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let body = serde_json::to_vec(&json!({"time": "2027-01-01T01:00:00+08:00"})).unwrap();
    let r = h.c.raw(reqwest::Method::POST, "/_local/schedules/period-close", body, &[("content-type", "application/json".into())]).await;
    assert_eq!((r.status, r.body["reported"].as_u64()), (200, Some(1)), "{:?}", r.body);
    // Number 00000000 carries ubn-1's invoice (guarded under 04595257): only the tail is unused.
    assert_eq!(r.body["unused_numbers"].as_u64(), Some(49), "{:?}", r.body);
}
