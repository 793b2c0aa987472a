//! `POST /v1/payments/notify`: a payment applied exactly once however often and however
//! concurrently it is reported, the usage-period arithmetic, failed payments, the card a card
//! checkout binds, and the side effects (Wixtar hand-off, events) finished by a repeat after an
//! outage, one request at a time under the lease.

use chrono::Duration;
use einvoice_adapters::store::{PlanOrderStatus, PlanStore};
use einvoice_adapters::testing::Fault;
use serde_json::{Value, json};

use super::{Reply, Shop, at};

/// `(starts_on, expires_on)` of the plan view.
fn period(view: &Value) -> (&str, &str) {
    (view["starts_on"].as_str().unwrap_or("-"), view["expires_on"].as_str().unwrap_or("-"))
}

#[tokio::test]
async fn each_bonus_rule_sets_the_first_period() {
    // A first purchase paid 2026-03-15 Taipei time: months + bonus, minus one day.
    for (months, expires_on) in [(3, "2026-07-14"), (6, "2026-10-14"), (12, "2027-05-14"), (24, "2028-05-14")] {
        let shop = Shop::at("2026-03-15T12:00:00+08:00");
        let id = shop.open("m1", months, "atm", false).await;
        let r = shop.pay(&id, "2026-03-15T09:00:00+08:00").await;
        assert_eq!(r.body, json!({"order_id": id, "status": "paid", "kind": "purchase", "starts_on": "2026-03-15", "expires_on": expires_on}), "{months}");
        assert_eq!(period(&shop.view("m1").await), ("2026-03-15", expires_on), "{months} months");
    }
}

#[tokio::test]
async fn renewals_extend_contiguously_or_from_the_payment_date_once_expired() {
    let shop = Shop::at("2026-01-31T12:00:00+08:00");
    let first = shop.buy("m1", 3, "2026-01-31T10:00:00+08:00").await;
    // 3 + 1 bonus months from Jan 31: May 31 − 1 day.
    assert_eq!(period(&shop.view("m1").await), ("2026-01-31", "2026-05-30"));

    // Paid on the expiry day: contiguous from May 31, no bonus; + 3 months = Aug 31 − 1.
    shop.set_now("2026-05-30T23:59:59+08:00");
    let renewal = shop.buy("m1", 3, "2026-05-30T23:59:59+08:00").await;
    let view = shop.view("m1").await;
    assert_eq!(period(&view), ("2026-01-31", "2026-08-30"));
    let orders: Vec<(&str, &str, u64)> = view["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["order_id"].as_str().unwrap(), o["kind"].as_str().unwrap(), o["bonus_months"].as_u64().unwrap()))
        .collect();
    assert_eq!(orders, [(first.as_str(), "purchase", 1), (renewal.as_str(), "renewal", 0)]);

    // Expired after 2026-08-30: a renewal paid on 2026-09-05 starts then.
    shop.set_now("2026-09-05T12:00:00+08:00");
    assert_eq!(shop.view("m1").await["status"], "expired");
    shop.buy("m1", 6, "2026-09-05T12:00:00+08:00").await;
    let view = shop.view("m1").await;
    assert_eq!((view["status"].as_str(), period(&view)), (Some("awaiting_activation"), ("2026-09-05", "2027-03-04")));
    // Only the first purchase is handed to Wixtar and gets the notice; every payment is mailed.
    assert_eq!(shop.wixtar.onboarding().len(), 1);
    assert_eq!(view["notices"].as_array().unwrap().len(), 1);
    let templates: Vec<Value> = shop.events("MerchantNotification").iter().map(|e| e["template"].clone()).collect();
    assert_eq!(templates, [json!("wixtar_purchase_confirmation"), json!("wixtar_renewal_confirmation"), json!("wixtar_renewal_confirmation")]);
}

#[tokio::test]
async fn the_payment_date_is_the_taipei_date_of_paid_at() {
    let shop = Shop::at("2026-02-01T12:00:00+08:00");
    // 16:30 UTC on Jan 31 is 00:30 on Feb 1 in Taipei; 12 + 2 months.
    shop.buy("m1", 12, "2026-01-31T16:30:00Z").await;
    assert_eq!(period(&shop.view("m1").await), ("2026-02-01", "2027-03-31"));
    // 15:59 UTC is still Jan 31 in Taipei.
    let shop = Shop::at("2026-02-01T12:00:00+08:00");
    shop.buy("m1", 12, "2026-01-31T15:59:59Z").await;
    assert_eq!(period(&shop.view("m1").await), ("2026-01-31", "2027-03-30"));
}

#[tokio::test]
async fn an_order_opened_as_a_purchase_and_paid_after_another_is_a_renewal() {
    let shop = Shop::at("2026-03-01T10:00:00+08:00");
    let pending = shop.checkout("m1", &super::checkout_body(6, "atm", false)).await;
    assert_eq!((pending.body["kind"].as_str(), pending.body["bonus_months"].as_u64()), (Some("purchase"), Some(1)));
    shop.buy("m1", 3, "2026-03-01T12:00:00+08:00").await;
    let renewal = shop.checkout("m1", &super::checkout_body(12, "atm", false)).await;
    assert_eq!((renewal.body["kind"].as_str(), renewal.body["bonus_months"].as_u64(), renewal.body["amount"].as_u64()), (Some("renewal"), Some(0), Some(6000)));

    let paid = shop.pay(pending.str("order_id"), "2026-03-02T12:00:00+08:00").await;
    // 2026-03-01 + 4 months − 1 day = 2026-06-30; + 6 months from 2026-07-01 = 2026-12-31.
    assert_eq!((paid.str("kind"), paid.str("starts_on"), paid.str("expires_on")), ("renewal", "2026-03-01", "2026-12-31"));
    let stored = shop.store.plan_order("m1", pending.str("order_id")).await.unwrap().unwrap();
    assert_eq!((stored.bonus_months, stored.pending_onboarding), (0, false));
    assert_eq!(shop.wixtar.hand_offs_received(), 1, "a renewal is not handed off");
}

#[tokio::test]
async fn repeated_and_concurrent_callbacks_apply_once() {
    let shop = Shop::at("2026-02-10T12:00:00+08:00");
    let id = shop.open("m1", 6, "atm", false).await;
    let body = json!({"order_id": id, "status": "paid", "paid_at": "2026-02-10T10:00:00+08:00"});
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let (shop, body) = (shop.clone(), body.clone());
        tasks.spawn(async move { shop.notify(&body).await });
    }
    while let Some(r) = tasks.join_next().await {
        let r = r.unwrap();
        assert_eq!((r.status, r.str("expires_on")), (200, "2026-09-09"), "{}", r.text);
    }
    for _ in 0..5 {
        assert_eq!(shop.notify(&body).await.status, 200);
    }
    // A late "failed" does not undo the payment.
    let failed = shop.notify(&json!({"order_id": id, "status": "failed"})).await;
    assert_eq!((failed.status, failed.str("status")), (200, "paid"));

    assert_eq!(period(&shop.view("m1").await), ("2026-02-10", "2026-09-09"), "6 + 1 months, once");
    let plan = shop.plan("m1").await;
    assert_eq!((plan.paid_orders, plan.version), (1, 1));
    assert_eq!(shop.wixtar.hand_offs_received(), 1, "the hand-off was sent once");
    assert_eq!((shop.events("PlanPurchased").len(), shop.events("MerchantNotification").len()), (1, 1));
}

#[tokio::test]
async fn concurrent_payments_of_different_orders_all_count() {
    let shop = Shop::at("2026-02-01T12:00:00+08:00");
    shop.buy("m1", 3, "2026-01-01T10:00:00+08:00").await; // to 2026-04-30
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(shop.open("m1", 3, "atm", false).await);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for id in ids {
        let shop = shop.clone();
        tasks.spawn(async move { shop.pay(&id, "2026-02-01T10:00:00+08:00").await });
    }
    while let Some(r) = tasks.join_next().await {
        let r = r.unwrap();
        assert_eq!(r.status, 200, "{}", r.text);
    }
    // 2026-05-01 + 15 months − 1 day.
    assert_eq!(shop.view("m1").await["expires_on"], "2027-07-31");
    assert_eq!(shop.plan("m1").await.paid_orders, 6);
}

#[tokio::test]
async fn failed_unknown_and_malformed_payments() {
    let shop = Shop::at("2026-01-05T12:00:00+08:00");
    let id = shop.open("m1", 3, "atm", false).await;
    let r = shop.notify(&json!({"order_id": id, "status": "failed"})).await;
    assert_eq!(r.body, json!({"order_id": id, "status": "failed", "kind": "purchase", "starts_on": null, "expires_on": null}));
    let view = shop.view("m1").await;
    assert_eq!((view["status"].as_str(), view["orders"][0]["status"].as_str()), (Some("none"), Some("failed")));
    assert_eq!(shop.store.plan_order("m1", &id).await.unwrap().unwrap().failed_at, Some(at("2026-01-05T12:00:00+08:00")));

    let unknown = shop.notify(&json!({"order_id": "po_nope", "status": "paid", "paid_at": "2026-01-01T00:00:00Z"})).await;
    assert_eq!(unknown.error(), (404, Some("order_not_found")));
    assert_eq!(shop.notify(&json!({"order_id": id, "status": "refunded"})).await.error(), (422, Some("invalid_payment_status")));
    assert_eq!(shop.notify(&json!({"status": "failed"})).await.error(), (422, Some("missing_field")));
    assert_eq!(shop.notify(&json!({"order_id": id, "status": "paid"})).await.error(), (422, Some("missing_field")));
    // Unparseable, or more than 730 days from the handler's clock.
    for absurd in ["yesterday", "9999-12-31T23:59:59-10:00", "0000-01-01T00:00:00+01:00", "2024-01-05T12:00:00+08:00"] {
        assert_eq!(shop.pay(&id, absurd).await.error(), (422, Some("invalid_paid_at")), "{absurd}");
    }
    assert_eq!(shop.pay(&id, "2024-01-06T12:00:00+08:00").await.status, 200, "730 days back is a late ATM transfer");
    assert_eq!(shop.store.plan_order("m1", &id).await.unwrap().unwrap().status, PlanOrderStatus::Paid, "a success after a failure counts");
}

#[tokio::test]
async fn a_card_checkout_with_auto_renew_binds_the_callbacks_card() {
    let shop = Shop::at("2026-06-01T12:00:00+08:00");
    let id = shop.open("m1", 6, "card", true).await;
    let paid = json!({"order_id": id, "status": "paid", "paid_at": "2026-06-01T10:00:00+08:00", "card_token": "tok_secret_4242", "card_last4": "4242"});
    let r = shop.notify(&paid).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(!r.text.contains("tok_secret"));
    let view = shop.view("m1").await;
    assert_eq!((view["auto_renew"]["enabled"].as_bool(), view["auto_renew"]["months"].as_u64()), (Some(true), Some(6)));
    assert_eq!(view["card"], json!({"last4": "4242"}));
    assert!(!view.to_string().contains("tok_secret"), "card token leaked into the plan view");
    assert_eq!(shop.plan("m1").await.card_token.as_deref(), Some("tok_secret_4242"));
}

#[tokio::test]
async fn a_card_is_bound_only_by_a_card_checkout_with_auto_renew_and_never_from_a_card_number() {
    let card =
        |id: &str, token: &str| json!({"order_id": id, "status": "paid", "paid_at": "2026-06-01T10:00:00+08:00", "card_token": token, "card_last4": "1111"});
    for (merchant, method, auto_renew, token) in [
        ("atm", "atm", false, "tok-a"),
        ("no-auto", "card", false, "tok-b"),
        ("pan", "card", true, "4111111111111111"),
        ("pan-dashes", "card", true, "4111-1111-1111-1111"),
    ] {
        let shop = Shop::at("2026-06-01T12:00:00+08:00");
        let id = shop.open(merchant, 3, method, auto_renew).await;
        let r = shop.notify(&card(&id, token)).await;
        assert_eq!((r.status, r.str("status")), (200, "paid"), "{merchant}: the payment counts");
        let plan = shop.plan(merchant).await;
        assert_eq!((plan.card_token, plan.auto_renew.enabled, plan.auto_renew.card_last4), (None, false, None), "{merchant}");
        // Neither the token nor its last 4 reach the view (ids are random, so look for the exact strings).
        let view = shop.view(merchant).await;
        assert_eq!(view["card"], Value::Null, "{merchant}");
        assert!(!view.to_string().contains(token), "{merchant}");
    }
    // A malformed last 4 is refused before anything is applied.
    let shop = Shop::at("2026-06-01T12:00:00+08:00");
    let id = shop.open("m1", 3, "card", true).await;
    let r = shop.notify(&json!({"order_id": id, "status": "paid", "paid_at": "2026-06-01T10:00:00+08:00", "card_token": "tok", "card_last4": "42"})).await;
    assert_eq!(r.error(), (422, Some("invalid_card_last4")));
    assert_eq!(shop.store.plan("m1").await.unwrap(), None);
}

#[tokio::test]
async fn after_payment_wixtar_gets_the_contact_and_the_events_are_published() {
    let shop = Shop::at("2026-04-10T12:00:00+08:00");
    let id = shop.buy("m1", 12, "2026-04-10T10:00:00+08:00").await;
    let handed = shop.wixtar.onboarding();
    assert_eq!(handed.len(), 1);
    let h = &handed[0];
    assert_eq!((h.request_id.as_str(), h.merchant_id.as_str(), h.ubn.as_str(), h.plan_months, h.bonus_months), (id.as_str(), "m1", "04595257", 12, 2));
    assert_eq!((h.contact.email.as_str(), h.contact.phone.as_str(), h.company.ubn.to_string()), ("ming@example.com.tw", "0912-345-678", "04595257".to_owned()));

    let emails = shop.events("MerchantNotification");
    assert_eq!(emails.len(), 1);
    let e = &emails[0];
    assert_eq!(
        (e["event_id"].clone(), e["channel"].clone(), e["to"].clone(), e["template"].clone(), e["wixtar_contact"]["phone"].clone()),
        (
            json!(format!("{id}:wixtar_purchase_confirmation")),
            json!("email"),
            json!("ming@example.com.tw"),
            json!("wixtar_purchase_confirmation"),
            json!("02-2711-9528 #240")
        )
    );
    assert_eq!((e["starts_on"].clone(), e["expires_on"].clone(), e["amount"].clone()), (json!("2026-04-10"), json!("2027-06-09"), json!(6000)));
    let purchased = shop.events("PlanPurchased");
    assert_eq!(purchased.len(), 1);
    assert_eq!((purchased[0]["event_id"].clone(), purchased[0]["expires_on"].clone()), (json!(format!("{id}:plan-purchased")), json!("2027-06-09")));
    let order = shop.store.plan_order("m1", &id).await.unwrap().unwrap();
    assert_eq!((order.pending_onboarding, order.pending_notification, order.effects_lease_until), (false, false, None), "the outbox is done");

    let notice = &shop.view("m1").await["notices"][0];
    assert_eq!(notice["code"], "wixtar_onboarding");
    assert!(notice["message"].as_str().unwrap().contains("02-2711-9528"), "{notice}");
    assert_eq!(notice["details"]["order_id"], id.as_str());
}

/// When the outage tests' order is paid: 3 + 1 months, to 2026-05-31.
const PAID_AT: &str = "2026-02-01T10:00:00+08:00";

/// A 3-month ATM order paid at [`PAID_AT`] while `outage` is armed: the shop, the order id
/// and the callback's answer.
async fn paid_during(outage: impl FnOnce(&Shop)) -> (Shop, String, Reply) {
    let shop = Shop::at("2026-02-01T12:00:00+08:00");
    let id = shop.open("m1", 3, "atm", false).await;
    outage(&shop);
    let r = shop.pay(&id, PAID_AT).await;
    (shop, id, r)
}

#[tokio::test]
async fn a_wixtar_outage_is_503_and_a_repeat_finishes_the_hand_off_once() {
    let (shop, id, r) = paid_during(|shop| shop.wixtar.fail_next(Fault::Unavailable, 1)).await;
    assert_eq!(r.error(), (503, Some("provider_unavailable")));
    assert_eq!(shop.view("m1").await["expires_on"], "2026-05-31", "the payment is recorded");
    assert!(shop.wixtar.onboarding().is_empty());
    assert!(shop.bus.events().is_empty(), "nothing is mailed before the hand-off");

    let r = shop.pay(&id, PAID_AT).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(shop.view("m1").await["expires_on"], "2026-05-31", "still extended once");
    assert_eq!((shop.wixtar.onboarding().len(), shop.wixtar.hand_offs_received()), (1, 1));
    assert_eq!((shop.events("PlanPurchased").len(), shop.events("MerchantNotification").len()), (1, 1));
}

#[tokio::test]
async fn a_lost_wixtar_answer_is_handed_off_again_under_the_same_request_id() {
    let (shop, id, r) = paid_during(|shop| shop.wixtar.fail_next(Fault::AfterWork, 1)).await;
    assert_eq!(r.error(), (503, Some("provider_unavailable")));
    assert_eq!(shop.pay(&id, PAID_AT).await.status, 200);
    assert_eq!((shop.wixtar.onboarding().len(), shop.wixtar.hand_offs_received()), (1, 2), "Wixtar dedupes by the order id");
    assert_eq!(shop.events("MerchantNotification").len(), 1);
}

#[tokio::test]
async fn a_bus_outage_is_503_and_a_repeat_publishes_without_handing_off_again() {
    let (shop, id, r) = paid_during(|shop| shop.bus.fail_next(1)).await;
    assert_eq!(r.error(), (503, Some("events_unavailable")));
    let order = shop.store.plan_order("m1", &id).await.unwrap().unwrap();
    assert_eq!((order.pending_onboarding, order.pending_notification, order.effects_lease_until), (false, true, None));

    assert_eq!(shop.pay(&id, PAID_AT).await.status, 200);
    assert_eq!(shop.wixtar.hand_offs_received(), 1);
    assert_eq!((shop.events("PlanPurchased").len(), shop.events("MerchantNotification").len()), (1, 1));
    assert_eq!(shop.pay(&id, PAID_AT).await.status, 200);
    assert_eq!(shop.bus.events().len(), 2, "a repeat after completion publishes nothing");
}

#[tokio::test]
async fn a_lease_held_by_a_request_that_died_is_taken_over_when_it_runs_out() {
    let (shop, id, r) = paid_during(|shop| shop.wixtar.fail_next(Fault::Unavailable, 1)).await;
    assert_eq!(r.status, 503);
    // Another request takes the lease (30 s) and dies holding it.
    let now = at("2026-02-01T12:00:00+08:00");
    assert!(shop.store.lease_order_effects("m1", &id, now, now + Duration::seconds(30)).await.unwrap());

    let r = shop.pay(&id, PAID_AT).await;
    assert_eq!((r.status, r.str("status")), (200, "paid"), "the holder is presumed at work");
    assert_eq!(shop.wixtar.hand_offs_received(), 0);
    shop.clock.set(Some(now + Duration::seconds(30)));
    shop.pay(&id, PAID_AT).await;
    assert_eq!(shop.wixtar.hand_offs_received(), 0, "the lease holds to its last second");

    shop.clock.set(Some(now + Duration::seconds(31)));
    assert_eq!(shop.pay(&id, PAID_AT).await.status, 200);
    assert_eq!(shop.wixtar.hand_offs_received(), 1);
    assert_eq!(shop.events("MerchantNotification").len(), 1);
}

#[tokio::test]
async fn a_store_outage_is_503_and_a_repeat_applies_once() {
    let (shop, id, r) = paid_during(|shop| shop.store.fail_next(1)).await;
    assert_eq!(r.error(), (503, Some("storage_unavailable")));
    assert_eq!(shop.store.plan("m1").await.unwrap(), None);
    for _ in 0..2 {
        assert_eq!(shop.pay(&id, PAID_AT).await.str("expires_on"), "2026-05-31");
    }
    assert_eq!(shop.plan("m1").await.paid_orders, 1);
}
