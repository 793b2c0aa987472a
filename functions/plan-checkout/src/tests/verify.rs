//! `POST …/plan/verify`: the UBN check and the plan list with or without the first-purchase bonus.

use serde_json::{Value, json};

use super::Shop;

/// `(months, bonus_months, price)` of each plan of a verify answer.
fn offers(plans: &Value) -> Vec<(u64, u64, u64)> {
    plans
        .as_array()
        .expect("plans")
        .iter()
        .map(|p| (p["months"].as_u64().unwrap(), p["bonus_months"].as_u64().unwrap(), p["price"].as_u64().unwrap()))
        .collect()
}

#[tokio::test]
async fn a_valid_ubn_is_offered_the_first_purchase_bonus() {
    let shop = Shop::at("2026-03-01T10:00:00+08:00");
    let r = shop.verify("m1", &json!({"ubn": "04595257"})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!((r.body["ubn"].as_str(), r.body["first_purchase"].as_bool(), r.body["currency"].as_str()), (Some("04595257"), Some(true), Some("TWD")));
    assert_eq!(offers(&r.body["plans"]), [(3, 1, 1800), (6, 1, 3300), (12, 2, 6000), (24, 2, 10800)]);
    // 7th digit 7: valid through the sum + 1 rule.
    assert_eq!(shop.verify("m1", &json!({"ubn": "12345675"})).await.status, 200);
}

#[tokio::test]
async fn a_bad_ubn_is_422_and_a_wrong_type_400() {
    let shop = Shop::at("2026-03-01T10:00:00+08:00");
    for bad in ["12345678", "1234567", "abcdefgh", "04595258", ""] {
        assert_eq!(shop.verify("m1", &json!({"ubn": bad})).await.error(), (422, Some("invalid_ubn")), "{bad}");
    }
    let missing = shop.verify("m1", &json!({})).await;
    assert_eq!((missing.error(), missing.body["error"]["field"].as_str()), ((422, Some("missing_field")), Some("ubn")));
    assert_eq!(shop.verify("m1", &json!({"ubn": 4595257})).await.error(), (400, Some("malformed_json")));
}

#[tokio::test]
async fn only_a_paid_order_uses_up_the_bonus() {
    let shop = Shop::at("2026-03-01T10:00:00+08:00");
    shop.open("m1", 6, "atm", false).await;
    assert_eq!(shop.verify("m1", &json!({"ubn": "04595257"})).await.body["first_purchase"], true, "an unpaid order does not count");

    shop.buy("m1", 3, "2026-03-01T12:00:00+08:00").await;
    let r = shop.verify("m1", &json!({"ubn": "04595257"})).await;
    assert_eq!(r.body["first_purchase"], false);
    assert_eq!(offers(&r.body["plans"]), [(3, 0, 1800), (6, 0, 3300), (12, 0, 6000), (24, 0, 10800)]);
    // Another merchant still gets it.
    assert_eq!(shop.verify("m2", &json!({"ubn": "04595257"})).await.body["first_purchase"], true);
}

#[tokio::test]
async fn a_store_outage_is_503() {
    let shop = Shop::at("2026-03-01T10:00:00+08:00");
    shop.store.fail_next(1);
    assert_eq!(shop.verify("m1", &json!({"ubn": "04595257"})).await.error(), (503, Some("storage_unavailable")));
    assert_eq!(shop.verify("m1", &json!({"ubn": "04595257"})).await.status, 200);
}
