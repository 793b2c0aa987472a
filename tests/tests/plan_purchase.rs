//! Plan purchase (購買) and renewal (續購) through the local stack: verification, bonus rules,
//! checkout validation, payment callbacks and the exact usage-period dates.

use e2e_tests::{Harness, checkout, merchant, start};
use serde_json::{Value, json};

fn bonus(plans: &Value) -> Vec<(u64, u64, u64)> {
    plans.as_array().unwrap().iter().map(|p| (p["months"].as_u64().unwrap(), p["bonus_months"].as_u64().unwrap(), p["price"].as_u64().unwrap())).collect()
}

#[tokio::test]
async fn verify_checks_the_ubn_and_offers_first_purchase_bonus() {
    let h = start().await;
    let m = merchant();
    let r = h.c.post(&format!("/v1/merchants/{m}/plan/verify"), &json!({"ubn": "04595257"})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["ubn"], "04595257");
    assert_eq!(r.body["first_purchase"], true);
    assert_eq!(bonus(&r.body["plans"]), vec![(3, 1, 1800), (6, 1, 3300), (12, 2, 6000), (24, 2, 10800)]);

    // 7th digit 7: valid through the sum + 1 rule.
    let r = h.c.post(&format!("/v1/merchants/{m}/plan/verify"), &json!({"ubn": "12345675"})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    for bad in ["12345678", "1234567", "abcdefgh", "04595258", ""] {
        let r = h.c.post(&format!("/v1/merchants/{m}/plan/verify"), &json!({"ubn": bad})).await;
        assert_eq!((r.status, r.error_code()), (422, Some("invalid_ubn")), "{bad}: {:?}", r.body);
    }
    let r = h.c.post(&format!("/v1/merchants/{m}/plan/verify"), &json!({})).await;
    assert_eq!((r.status, r.error_code()), (422, Some("missing_field")));
    let r = h.c.post(&format!("/v1/merchants/{m}/plan/verify"), &json!({"ubn": 4595257})).await;
    assert_eq!((r.status, r.error_code()), (400, Some("malformed_json")));
}

#[tokio::test]
async fn after_a_paid_order_there_is_no_bonus() {
    let h = start().await;
    let m = merchant();
    // An unpaid order does not use up the first-purchase bonus.
    let pending = h.checkout(&m, &checkout(6, "atm", false)).await;
    assert_eq!((pending.body["kind"].as_str(), pending.body["bonus_months"].as_u64()), (Some("purchase"), Some(1)));
    let r = h.c.post(&format!("/v1/merchants/{m}/plan/verify"), &json!({"ubn": "04595257"})).await;
    assert_eq!(r.body["first_purchase"], true);

    h.buy(&m, 3, "2026-03-01T12:00:00+08:00").await;
    let r = h.c.post(&format!("/v1/merchants/{m}/plan/verify"), &json!({"ubn": "04595257"})).await;
    assert_eq!(r.body["first_purchase"], false);
    assert_eq!(bonus(&r.body["plans"]), vec![(3, 0, 1800), (6, 0, 3300), (12, 0, 6000), (24, 0, 10800)]);

    let renewal = h.checkout(&m, &checkout(12, "atm", false)).await;
    assert_eq!(renewal.status, 201);
    assert_eq!(renewal.body["kind"], "renewal");
    assert_eq!(renewal.body["bonus_months"], 0);
    assert_eq!(renewal.body["amount"], 6000);

    // The pending order opened as a first purchase is paid later: it is a renewal now, no bonus.
    let paid = h.pay(pending.body["order_id"].as_str().unwrap(), "2026-03-02T12:00:00+08:00").await;
    assert_eq!(paid.body["kind"], "renewal");
    // 2026-03-01 + 4 months − 1 day = 2026-06-30; + 6 months from 2026-07-01 = 2026-12-31.
    assert_eq!(paid.body["expires_on"], "2026-12-31");
}

#[tokio::test]
async fn each_bonus_rule_sets_the_first_period() {
    let h = start().await;
    // (months, expected expiry) for a first purchase paid 2026-03-15 Taipei time.
    for (months, expires_on) in [(3, "2026-07-14"), (6, "2026-10-14"), (12, "2027-05-14"), (24, "2028-05-14")] {
        let m = merchant();
        let order = h.checkout(&m, &checkout(months, "atm", false)).await;
        assert_eq!(order.status, 201);
        let expected_bonus = if months >= 12 { 2 } else { 1 };
        assert_eq!(order.body["bonus_months"], expected_bonus);
        assert_eq!(order.body["kind"], "purchase");
        h.pay(order.body["order_id"].as_str().unwrap(), "2026-03-15T09:00:00+08:00").await;
        let view = h.view(&m).await;
        assert_eq!(view["starts_on"], "2026-03-15");
        assert_eq!(view["expires_on"], expires_on, "{months} months");
    }
}

#[tokio::test]
async fn checkout_answers_with_the_payment_to_make() {
    let h = start().await;
    let m = merchant();
    let atm = h.checkout(&m, &checkout(24, "atm", false)).await;
    assert_eq!(atm.status, 201, "{:?}", atm.body);
    for field in ["order_id", "kind", "months", "bonus_months", "amount", "currency", "status", "payment"] {
        assert!(atm.body.get(field).is_some(), "{field}");
    }
    assert_eq!(atm.body["status"], "pending_payment");
    assert_eq!(atm.body["currency"], "TWD");
    assert_eq!(atm.body["amount"], 10800);
    assert_eq!(atm.body["payment"]["method"], "atm");
    assert_eq!(atm.body["payment"]["bank_code"], "822");
    assert_eq!(atm.body["payment"]["virtual_account"].as_str().unwrap().len(), 16);
    assert!(atm.body["payment"]["expires_at"].is_string());

    let card = h.checkout(&m, &checkout(3, "card", true)).await;
    assert_eq!(card.status, 201);
    assert!(card.body["payment"]["payment_url"].as_str().unwrap().starts_with("https://"));

    let view = h.view(&m).await;
    assert_eq!(view["status"], "none");
    assert_eq!(view["orders"].as_array().unwrap().len(), 2);
    assert!(view["orders"].as_array().unwrap().iter().all(|o| o["status"] == "pending_payment"));
}

#[tokio::test]
async fn every_validation_error_has_its_code_and_writes_nothing() {
    let h = start().await;
    let m = merchant();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("/months", json!(5), "invalid_plan"),
        ("/months", json!(0), "invalid_plan"),
        ("/months", json!(36), "invalid_plan"),
        ("/ubn", json!("12345678"), "invalid_ubn"),
        ("/company/ubn", json!("04595258"), "invalid_ubn"),
        ("/payment_method", json!("bitcoin"), "invalid_payment_method"),
        ("/contact/email", json!("ming.example.com"), "invalid_email"),
        ("/company/invoice_email", json!("ap@localhost"), "invalid_email"),
        ("/contact/phone", json!("call me"), "invalid_phone"),
        ("/contact/name", json!(""), "missing_field"),
        ("/company/address", json!("   "), "missing_field"),
        ("/company/name", json!("公".repeat(101)), "field_too_long"),
    ];
    for (pointer, value, code) in cases {
        let mut body = checkout(12, "atm", false);
        *body.pointer_mut(pointer).unwrap() = value;
        let r = h.checkout(&m, &body).await;
        assert_eq!((r.status, r.error_code()), (422, Some(code)), "{pointer}: {:?}", r.body);
        assert_eq!(r.body["error"]["field"], pointer.trim_start_matches('/').replace('/', "."));
        assert!(r.body["error"]["message"].as_str().unwrap().len() > 5);
    }
    let mut atm_auto = checkout(12, "atm", true);
    atm_auto["auto_renew"] = json!(true);
    let r = h.checkout(&m, &atm_auto).await;
    assert_eq!((r.status, r.error_code()), (422, Some("auto_renew_requires_card")));
    let mut missing = checkout(12, "atm", false);
    missing.as_object_mut().unwrap().remove("contact");
    assert_eq!(h.checkout(&m, &missing).await.error_code(), Some("missing_field"));
    let mut wrong_type = checkout(12, "atm", false);
    wrong_type["months"] = json!("12");
    assert_eq!(h.checkout(&m, &wrong_type).await.status, 400);

    assert!(h.items().await.is_empty(), "a rejected checkout wrote to the table");
    assert_eq!(h.view(&m).await["orders"], json!([]));
}

#[tokio::test]
async fn first_purchase_paid_on_jan_31_and_its_renewals() {
    let h = start().await;
    let m = merchant();
    let first = h.buy(&m, 3, "2026-01-31T10:00:00+08:00").await;
    h.set_now("2026-02-01T09:00:00+08:00");
    let view = h.view(&m).await;
    // 3 + 1 bonus months from Jan 31: May 31 − 1 day.
    assert_eq!(view["status"], "awaiting_activation");
    assert_eq!(view["starts_on"], "2026-01-31");
    assert_eq!(view["expires_on"], "2026-05-30");
    assert_eq!(view["auto_renew"]["cancel_deadline"], "2026-05-15");
    assert_eq!(view["auto_renew"]["charge_on"], "2026-05-20");
    assert_eq!(view["auto_renew"]["enabled"], false);
    assert_eq!(view["card"], Value::Null);
    assert_eq!(view["orders"][0]["order_id"], first.as_str());
    assert_eq!(view["orders"][0]["status"], "paid");
    let notice = &view["notices"][0];
    assert_eq!(notice["code"], "wixtar_onboarding");
    assert!(notice["message"].as_str().unwrap().contains("02-2711-9528"));

    // Renewal paid on the expiry day: contiguous, from May 31; + 3 months = Aug 31 − 1.
    let r = h.buy(&m, 3, "2026-05-30T23:59:59+08:00").await;
    let view = h.view(&m).await;
    assert_eq!(view["starts_on"], "2026-01-31");
    assert_eq!(view["expires_on"], "2026-08-30");
    assert_eq!(view["orders"][1]["order_id"], r.as_str());
    assert_eq!(view["orders"][1]["kind"], "renewal");
    assert_eq!(view["orders"][1]["bonus_months"], 0);

    // Expired on 2026-08-31; a renewal paid then starts on its payment date.
    h.set_now("2026-09-05T12:00:00+08:00");
    assert_eq!(h.view(&m).await["status"], "expired");
    h.buy(&m, 6, "2026-09-05T12:00:00+08:00").await;
    let view = h.view(&m).await;
    assert_eq!(view["status"], "awaiting_activation");
    assert_eq!(view["starts_on"], "2026-09-05");
    assert_eq!(view["expires_on"], "2027-03-04");
    // Only the first purchase is handed to Wixtar and gets the notice.
    assert_eq!(h.wixtar_onboarding(&m).await.len(), 1);
    assert_eq!(view["notices"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn payment_date_is_the_taipei_date_of_paid_at() {
    let h = start().await;
    let m = merchant();
    // 16:30 UTC on Jan 31 is 00:30 on Feb 1 in Taipei.
    h.buy(&m, 12, "2026-01-31T16:30:00Z").await;
    let view = h.view(&m).await;
    assert_eq!(view["starts_on"], "2026-02-01");
    assert_eq!(view["expires_on"], "2027-03-31");
}

#[tokio::test]
async fn after_payment_wixtar_gets_the_contact_and_an_email_is_requested() {
    let h = start().await;
    let m = merchant();
    let order = h.buy(&m, 12, "2026-04-10T10:00:00+08:00").await;
    let handed = h.wixtar_onboarding(&m).await;
    assert_eq!(handed.len(), 1);
    assert_eq!(handed[0]["request_id"], order.as_str());
    assert_eq!(handed[0]["contact"]["email"], "ming@example.com.tw");
    assert_eq!(handed[0]["contact"]["phone"], "0912-345-678");
    assert_eq!(handed[0]["company"]["ubn"], "04595257");
    assert_eq!(handed[0]["plan_months"], 12);
    assert_eq!(handed[0]["bonus_months"], 2);

    let emails = h.events(&m, "MerchantNotification");
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0]["channel"], "email");
    assert_eq!(emails[0]["to"], "ming@example.com.tw");
    assert_eq!(emails[0]["template"], "wixtar_purchase_confirmation");
    assert_eq!(emails[0]["wixtar_contact"]["phone"], "02-2711-9528 #240");
    let purchased = h.events(&m, "PlanPurchased");
    assert_eq!(purchased.len(), 1);
    assert_eq!(purchased[0]["expires_on"], "2027-06-09");
}

#[tokio::test]
async fn repeated_and_concurrent_callbacks_extend_once() {
    let h = start().await;
    let m = merchant();
    let order = h.checkout(&m, &checkout(6, "atm", false)).await;
    let id = order.body["order_id"].as_str().unwrap().to_owned();
    let body = json!({"order_id": id, "status": "paid", "paid_at": "2026-02-10T10:00:00+08:00"});

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let c = h.c.clone();
        let body = body.clone();
        tasks.spawn(async move { c.notify(&body).await });
    }
    while let Some(r) = tasks.join_next().await {
        let r = r.unwrap();
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["expires_on"], "2026-09-09");
    }
    for _ in 0..5 {
        assert_eq!(h.c.notify(&body).await.status, 200);
    }
    // A late "failed" does not undo the payment.
    let failed = h.c.notify(&json!({"order_id": id, "status": "failed"})).await;
    assert_eq!((failed.status, failed.body["status"].as_str()), (200, Some("paid")));

    let view = h.view(&m).await;
    assert_eq!(view["expires_on"], "2026-09-09", "6 + 1 months from 2026-02-10, once");
    let handed = h.wixtar_onboarding(&m).await;
    assert_eq!(handed.len(), 1);
    assert_eq!(handed[0]["received_count"], 1, "the hand-off was sent once");
    assert_eq!(h.events(&m, "PlanPurchased").len(), 1);
    assert_eq!(h.events(&m, "MerchantNotification").len(), 1);
}

#[tokio::test]
async fn concurrent_payments_of_different_orders_all_count() {
    let h = start().await;
    h.set_now("2026-02-01T12:00:00+08:00");
    let m = merchant();
    h.buy(&m, 3, "2026-01-01T10:00:00+08:00").await; // to 2026-04-30
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(h.checkout(&m, &checkout(3, "atm", false)).await.body["order_id"].as_str().unwrap().to_owned());
    }
    let mut tasks = tokio::task::JoinSet::new();
    for id in ids {
        let c = h.c.clone();
        tasks.spawn(async move { c.notify(&json!({"order_id": id, "status": "paid", "paid_at": "2026-02-01T10:00:00+08:00"})).await });
    }
    while let Some(r) = tasks.join_next().await {
        assert_eq!(r.unwrap().status, 200);
    }
    // 2026-05-01 + 15 months − 1 day.
    assert_eq!(h.view(&m).await["expires_on"], "2027-07-31");
}

#[tokio::test]
async fn failed_and_unknown_payments() {
    let h = start().await;
    // Payment times are checked against the handlers' clock (at most 730 days back).
    h.set_now("2026-02-01T12:00:00+08:00");
    let m = merchant();
    let order = h.checkout(&m, &checkout(3, "atm", false)).await;
    let id = order.body["order_id"].as_str().unwrap();
    let r = h.c.notify(&json!({"order_id": id, "status": "failed"})).await;
    assert_eq!((r.status, r.body["status"].as_str()), (200, Some("failed")));
    let view = h.view(&m).await;
    assert_eq!(view["status"], "none");
    assert_eq!(view["orders"][0]["status"], "failed");

    let r = h.c.notify(&json!({"order_id": "po_nope", "status": "paid", "paid_at": "2026-01-01T00:00:00Z"})).await;
    assert_eq!((r.status, r.error_code()), (404, Some("order_not_found")));
    let r = h.c.notify(&json!({"order_id": id, "status": "refunded"})).await;
    assert_eq!((r.status, r.error_code()), (422, Some("invalid_payment_status")));
    for absurd in ["yesterday", "9999-12-31T23:59:59-10:00", "0000-01-01T00:00:00+01:00"] {
        let r = h.c.notify(&json!({"order_id": id, "status": "paid", "paid_at": absurd})).await;
        assert_eq!((r.status, r.error_code()), (422, Some("invalid_paid_at")), "{absurd}");
    }
    // A late successful transfer after a failure still counts.
    let r = h.pay(id, "2026-01-05T10:00:00+08:00").await;
    assert_eq!((r.status, r.body["status"].as_str()), (200, Some("paid")));
}

#[tokio::test]
async fn card_checkout_with_auto_renew_binds_the_card() {
    let h = start().await;
    let m = merchant();
    let order = h.checkout(&m, &checkout(6, "card", true)).await;
    let id = order.body["order_id"].as_str().unwrap();
    let r =
        h.c.notify(&json!({"order_id": id, "status": "paid", "paid_at": "2026-06-01T10:00:00+08:00", "card_token": "tok_secret_4242", "card_last4": "4242"}))
            .await;
    assert_eq!(r.status, 200);
    assert!(!r.body.to_string().contains("tok_secret"));
    let view = h.view(&m).await;
    assert_eq!(view["auto_renew"]["enabled"], true);
    assert_eq!(view["auto_renew"]["months"], 6);
    assert_eq!(view["card"], json!({"last4": "4242"}));
    assert!(!view.to_string().contains("tok_secret"), "card token leaked into the plan view");
}

#[tokio::test]
async fn unknown_merchant_has_no_plan() {
    let h = start().await;
    let view = h.view(&merchant()).await;
    assert_eq!(view["status"], "none");
    assert_eq!(view["orders"], json!([]));
    assert_eq!(view["starts_on"], Value::Null);
    assert_eq!(view["auto_renew"]["enabled"], false);
}

#[tokio::test]
async fn provider_outages_are_retried_without_duplicates() {
    let h: Harness = start().await;
    let m = merchant();
    // Payment gateway down: 503, nothing written.
    h.c.admin_post(&format!("{}/_sim/faults", h.stack.payment.url()), &json!({"mode": "error", "count": 1})).await;
    let r = h.checkout(&m, &checkout(3, "atm", false)).await;
    assert_eq!((r.status, r.error_code()), (503, Some("payment_gateway_unavailable")));
    assert!(h.items().await.is_empty());

    // Wixtar down at payment: the payment is recorded, the callback answers 503 so the
    // gateway retries, and the retry finishes the hand-off once.
    let order = h.checkout(&m, &checkout(3, "atm", false)).await;
    let id = order.body["order_id"].as_str().unwrap();
    h.c.admin_post(&format!("{}/_sim/faults", h.stack.wixtar.url()), &json!({"mode": "error", "count": 1})).await;
    let r = h.pay(id, "2026-02-01T10:00:00+08:00").await;
    assert_eq!((r.status, r.error_code()), (503, Some("provider_unavailable")));
    assert_eq!(h.view(&m).await["expires_on"], "2026-05-31");
    assert!(h.wixtar_onboarding(&m).await.is_empty());
    let r = h.pay(id, "2026-02-01T10:00:00+08:00").await;
    assert_eq!(r.status, 200);
    assert_eq!(h.view(&m).await["expires_on"], "2026-05-31", "still extended once");
    assert_eq!(h.wixtar_onboarding(&m).await.len(), 1);
    assert_eq!(h.events(&m, "MerchantNotification").len(), 1);
}
