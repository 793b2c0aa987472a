//! `GET …/plan`: the status on its boundary days, the period, the auto-renew dates shown
//! whether or not auto-renew is on, the card, notices and orders.

use serde_json::{Value, json};

use super::Shop;

#[tokio::test]
async fn a_merchant_with_nothing_paid_has_status_none() {
    let shop = Shop::at("2026-03-01T10:00:00+08:00");
    let view = shop.view("m1").await;
    assert_eq!(
        view,
        json!({
            "merchant_id": "m1", "status": "none", "ubn": null, "today": "2026-03-01", "starts_on": null, "expires_on": null,
            "auto_renew": {"enabled": false, "months": null, "next_months": null, "cancel_deadline": null, "charge_on": null, "locked": false, "suspended": null},
            "card": null, "notices": [], "orders": [],
        })
    );
}

/// `(status, today)` of the view on `now`.
async fn status_on(shop: &Shop, now: &str) -> (String, String) {
    shop.set_now(now);
    let view = shop.view("m1").await;
    (view["status"].as_str().unwrap().to_owned(), view["today"].as_str().unwrap().to_owned())
}

fn pair(status: &str, today: &str) -> (String, String) {
    (status.to_owned(), today.to_owned())
}

#[tokio::test]
async fn the_status_follows_payment_credentials_and_the_expiry_day() {
    let shop = Shop::at("2026-01-31T12:00:00+08:00");
    shop.buy("m1", 3, "2026-01-31T10:00:00+08:00").await; // to 2026-05-30
    assert_eq!(status_on(&shop, "2026-05-30T23:59:59+08:00").await, pair("awaiting_activation", "2026-05-30"));
    assert_eq!(status_on(&shop, "2026-05-30T16:00:00Z").await, pair("expired", "2026-05-31"), "the Taipei day decides");
    shop.save_credentials("m1").await;
    assert_eq!(status_on(&shop, "2026-02-01T09:00:00+08:00").await, pair("active", "2026-02-01"));
    assert_eq!(status_on(&shop, "2026-05-30T23:59:59+08:00").await, pair("active", "2026-05-30"), "the expiry day is covered");
    assert_eq!(status_on(&shop, "2026-05-31T00:00:00+08:00").await, pair("expired", "2026-05-31"));
}

#[tokio::test]
async fn a_paid_plan_shows_its_period_dates_notice_and_orders() {
    let shop = Shop::at("2026-01-31T12:00:00+08:00");
    let first = shop.buy("m1", 3, "2026-01-31T10:00:00+08:00").await;
    shop.set_now("2026-02-01T09:00:00+08:00");
    let view = shop.view("m1").await;
    assert_eq!((view["ubn"].as_str(), view["starts_on"].as_str(), view["expires_on"].as_str()), (Some("04595257"), Some("2026-01-31"), Some("2026-05-30")));
    // Shown with auto-renew off: T-15 and T-10.
    assert_eq!(
        view["auto_renew"],
        json!({"enabled": false, "months": null, "next_months": null, "cancel_deadline": "2026-05-15", "charge_on": "2026-05-20", "locked": false, "suspended": null})
    );
    assert_eq!(view["card"], Value::Null);
    let notices = view["notices"].as_array().unwrap();
    assert_eq!((notices.len(), notices[0]["code"].as_str()), (1, Some("wixtar_onboarding")));
    let orders = view["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 1);
    assert_eq!(
        (orders[0]["order_id"].as_str(), orders[0]["status"].as_str(), orders[0]["paid_at"].as_str()),
        (Some(first.as_str()), Some("paid"), Some("2026-01-31T02:00:00Z"))
    );
}

#[tokio::test]
async fn a_subscription_is_locked_from_the_day_after_the_cancel_deadline_until_expiry() {
    let shop = Shop::at("2026-09-01T12:00:00+08:00");
    shop.subscribe("m1", 3, "2026-09-01T10:00:00+08:00").await; // to 2026-12-31
    let locked_on =
        |view: &Value| (view["auto_renew"]["locked"].as_bool(), view["auto_renew"]["cancel_deadline"].clone(), view["auto_renew"]["charge_on"].clone());
    for (now, locked) in
        [("2026-12-16T23:59:59+08:00", false), ("2026-12-17T00:00:00+08:00", true), ("2026-12-31T23:59:59+08:00", true), ("2027-01-01T00:00:00+08:00", false)]
    {
        shop.set_now(now);
        assert_eq!(locked_on(&shop.view("m1").await), (Some(locked), json!("2026-12-16"), json!("2026-12-21")), "{now}");
    }
}

#[tokio::test]
async fn a_store_outage_is_503() {
    let shop = Shop::at("2026-03-01T10:00:00+08:00");
    shop.store.fail_next(1);
    let r = shop.platform(http::Method::GET, "/v1/merchants/m1/plan", None, None).await;
    assert_eq!(r.error(), (503, Some("storage_unavailable")));
}
