//! `PUT …/plan/auto-renew` and `PUT …/payment-card`: the T-15 cancel deadline on its boundary
//! days, cycle changes before and on the charge day, the card a change needs, card tokens that
//! are card numbers, and concurrent changes of one plan.

use einvoice_adapters::store::{PlanItem, PlanStore};
use einvoice_domain::renewal::SuspendReason;
use serde_json::{Value, json};

use super::Shop;

/// A merchant whose 3-month card purchase (+1 bonus month) paid on 2026-09-01 expires on
/// 2026-12-31: cancel deadline 2026-12-16 (T-15), charge day 2026-12-21 (T-10).
async fn subscribed() -> Shop {
    let shop = Shop::at("2026-09-01T12:00:00+08:00");
    shop.subscribe("m1", 3, "2026-09-01T10:00:00+08:00").await;
    shop
}

fn cycle(view: &Value) -> (Option<bool>, Option<u64>, Option<u64>) {
    let a = &view["auto_renew"];
    (a["enabled"].as_bool(), a["months"].as_u64(), a["next_months"].as_u64())
}

#[tokio::test]
async fn cancelling_is_accepted_on_t15_and_refused_the_day_after() {
    let shop = subscribed().await;
    shop.set_now("2026-12-16T23:59:00+08:00");
    let r = shop.set_auto_renew("m1", &json!({"enabled": false})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((cycle(&r.body), r.body["expires_on"].as_str()), ((Some(false), Some(3), None), Some("2026-12-31")), "the answer is the plan view");
    let r = shop.set_auto_renew("m1", &json!({"enabled": true, "months": 3})).await;
    assert_eq!((r.status, cycle(&r.body)), (200, (Some(true), Some(3), None)), "turned back on the same day");

    shop.set_now("2026-12-17T00:00:00+08:00");
    let before = shop.plan("m1").await;
    let r = shop.set_auto_renew("m1", &json!({"enabled": false})).await;
    assert_eq!(r.error(), (409, Some("cancel_deadline_passed")), "{}", r.text);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("2026-12-21"), "says when it can next be disabled: {}", r.text);
    assert_eq!(shop.plan("m1").await, before, "the refusal changed nothing");
    // Re-sending what is already set is no change, so no refusal.
    assert_eq!(shop.set_auto_renew("m1", &json!({"enabled": true, "months": 3})).await.status, 200);
    assert_eq!(shop.plan("m1").await.version, before.version, "nothing written for no change");
}

#[tokio::test]
async fn a_cycle_change_after_the_deadline_is_accepted_and_from_t10_waits_for_the_next_charge() {
    // T-11, after the cancel deadline: not a cancellation, it applies to the coming charge.
    let shop = subscribed().await;
    shop.set_now("2026-12-20T12:00:00+08:00");
    let r = shop.set_auto_renew("m1", &json!({"enabled": true, "months": 6})).await;
    assert_eq!((r.status, cycle(&r.body)), (200, (Some(true), Some(6), None)), "{}", r.text);

    // T-10, the charge day: the coming charge keeps 3 months, 6 from the next one.
    let shop = subscribed().await;
    shop.set_now("2026-12-21T00:05:00+08:00");
    let r = shop.set_auto_renew("m1", &json!({"enabled": true, "months": 6})).await;
    assert_eq!((r.status, cycle(&r.body)), (200, (Some(true), Some(3), Some(6))), "{}", r.text);
    let months = json!({"enabled": true});
    assert_eq!(cycle(&shop.set_auto_renew("m1", &months).await.body), (Some(true), Some(3), Some(6)), "no months: the latest cycle is kept");
}

#[tokio::test]
async fn auto_renew_needs_a_card_a_plan_and_a_valid_cycle() {
    let shop = Shop::at("2026-09-01T12:00:00+08:00");
    shop.buy("m1", 3, "2026-09-01T10:00:00+08:00").await; // ATM: no card
    shop.set_now("2026-10-01T09:00:00+08:00");
    assert_eq!(shop.set_auto_renew("m1", &json!({"enabled": true, "months": 3})).await.error(), (422, Some("card_not_bound")));
    assert_eq!(shop.set_auto_renew("m1", &json!({"enabled": true, "months": 5})).await.error(), (422, Some("invalid_plan")));
    assert_eq!(shop.set_auto_renew("m1", &json!({"months": 3})).await.error(), (422, Some("missing_field")));
    assert_eq!(shop.set_auto_renew("m1", &json!({"enabled": "yes"})).await.error(), (400, Some("malformed_json")));

    let r = shop.bind_card("m1", "tok-secret-1", "1234").await;
    assert_eq!((r.status, r.body["card"].clone()), (200, json!({"last4": "1234"})), "{}", r.text);
    let r = shop.set_auto_renew("m1", &json!({"enabled": true, "months": 12})).await;
    assert_eq!((r.status, cycle(&r.body)), (200, (Some(true), Some(12), None)), "{}", r.text);
    assert!(!r.text.contains("tok-secret-1"));
    assert_eq!(shop.plan("m1").await.card_token.as_deref(), Some("tok-secret-1"));

    // Nothing paid: a card can be bound, auto-renew cannot be turned on.
    let r = shop.bind_card("fresh", "tok-f", "9999").await;
    assert_eq!((r.status, r.str("status")), (200, "none"));
    assert_eq!(shop.set_auto_renew("fresh", &json!({"enabled": true, "months": 3})).await.error(), (409, Some("no_plan")));
    // Expired: auto-renew cannot be turned on again (a renewal by card can).
    shop.set_now("2027-01-01T09:00:00+08:00");
    assert_eq!(shop.set_auto_renew("m1", &json!({"enabled": true, "months": 3})).await.error(), (409, Some("plan_expired")));
}

#[tokio::test]
async fn a_card_token_must_be_a_token_never_a_card_number() {
    let shop = subscribed().await;
    for (token, last4, code) in [("", "4242", "invalid_card_token"), ("tok-x", "42", "invalid_card_last4"), ("tok x", "4242", "invalid_card_token")] {
        assert_eq!(shop.bind_card("m1", token, last4).await.error(), (422, Some(code)), "{token:?} {last4:?}");
    }
    let before = shop.plan("m1").await;
    for pan in ["4111111111111111", "4111-1111-1111-1111", "378282246310005"] {
        let r = shop.bind_card("m1", pan, "1111").await;
        assert_eq!((r.error(), r.body["error"]["field"].as_str()), ((422, Some("card_number_not_allowed")), Some("card_token")), "{pan}");
        assert!(!r.text.contains(pan), "the error echoes the card number");
    }
    assert_eq!(shop.plan("m1").await, before, "a refused card changed the plan");
}

#[tokio::test]
async fn a_new_card_lifts_a_suspension_and_keeps_the_cycle() {
    let shop = subscribed().await;
    let plan = shop.plan("m1").await;
    let suspended = PlanItem { auto_renew: plan.auto_renew.clone().suspend(SuspendReason::DeclinedHard), version: plan.version + 1, ..plan };
    shop.store.put_plan(&suspended, None).await.unwrap();
    shop.set_now("2026-12-22T09:00:00+08:00");
    assert_eq!(shop.view("m1").await["auto_renew"]["suspended"], "declined_hard");

    let r = shop.bind_card("m1", "tok-new-card", "1881").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        (r.body["card"].clone(), r.body["auto_renew"]["suspended"].clone(), cycle(&r.body)),
        (json!({"last4": "1881"}), Value::Null, (Some(true), Some(3), None))
    );
    assert!(!r.text.contains("tok-new-card"));
    assert_eq!(shop.plan("m1").await.card_token.as_deref(), Some("tok-new-card"));
}

#[tokio::test]
async fn concurrent_changes_of_one_plan_are_all_kept() {
    let shop = subscribed().await;
    shop.set_now("2026-11-01T09:00:00+08:00");
    let version = shop.plan("m1").await.version;
    let off = json!({"enabled": false});
    let (off, card) = tokio::join!(shop.set_auto_renew("m1", &off), shop.bind_card("m1", "tok-other", "5555"));
    assert_eq!((off.status, card.status), (200, 200), "{} {}", off.text, card.text);
    let plan = shop.plan("m1").await;
    assert_eq!((plan.auto_renew.enabled, plan.auto_renew.card_last4.as_deref(), plan.card_token.as_deref()), (false, Some("5555"), Some("tok-other")));
    assert_eq!(plan.version, version + 2, "two writes, each from the version it read");
}

#[tokio::test]
async fn a_store_outage_is_503_and_changes_nothing() {
    let shop = subscribed().await;
    let before = shop.plan("m1").await;
    shop.store.fail_next(1);
    assert_eq!(shop.set_auto_renew("m1", &json!({"enabled": false})).await.error(), (503, Some("storage_unavailable")));
    shop.store.fail_next(1);
    assert_eq!(shop.bind_card("m1", "tok-other", "5555").await.error(), (503, Some("storage_unavailable")));
    assert_eq!(shop.plan("m1").await, before);
}
