//! `POST …/plan/checkout`: the order and the payment to make, the validation of every field,
//! and outages of the gateway or the store, after which nothing is written.

use einvoice_domain::PaymentMethod;
use serde_json::{Value, json};

use super::{Shop, checkout_body};
use einvoice_adapters::testing::Fault;

#[tokio::test]
async fn each_plan_has_its_price_and_first_purchase_bonus() {
    let shop = Shop::at("2026-03-01T10:00:00+08:00");
    for (months, bonus, amount) in [(3, 1, 1800), (6, 1, 3300), (12, 2, 6000), (24, 2, 10800)] {
        let r = shop.checkout("m1", &checkout_body(months, "atm", false)).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(
            (r.body["kind"].as_str(), r.body["months"].as_u64(), r.body["bonus_months"].as_u64(), r.body["amount"].as_u64()),
            (Some("purchase"), Some(u64::from(months)), Some(bonus), Some(amount)),
            "{months} months"
        );
    }
    let asked: Vec<(u64, &str)> = shop.gateway.payments().iter().map(|p| (p.amount, if p.method == PaymentMethod::Atm { "atm" } else { "card" })).collect();
    assert_eq!(asked, [(1800, "atm"), (3300, "atm"), (6000, "atm"), (10800, "atm")]);
}

#[tokio::test]
async fn an_atm_or_card_order_answers_with_the_payment_to_make() {
    let shop = Shop::at("2026-03-01T10:00:00+08:00");
    let atm = shop.checkout("m1", &checkout_body(24, "atm", false)).await;
    assert_eq!(atm.status, 201, "{}", atm.text);
    let id = atm.str("order_id").to_owned();
    assert!(id.starts_with("po_") && id.len() == 35, "{id}");
    assert_eq!(
        atm.body,
        json!({
            "order_id": id, "kind": "purchase", "months": 24, "bonus_months": 2, "amount": 10800, "currency": "TWD",
            "status": "pending_payment", "payment_method": "atm", "auto_renew": false,
            "payment": {"method": "atm", "bank_code": "822", "virtual_account": "99990000000001", "expires_at": "2100-01-01T00:00:00Z"},
            "created_at": "2026-03-01T02:00:00Z", "paid_at": null,
        })
    );
    let asked = &shop.gateway.payments()[0];
    assert_eq!((asked.order_id.as_str(), asked.merchant_id.as_str(), asked.amount, asked.currency.as_str()), (id.as_str(), "m1", 10800, "TWD"));
    assert_eq!(asked.description, "美麗科技電子發票 24 個月方案");

    let card = shop.checkout("m1", &checkout_body(3, "card", true)).await;
    assert_eq!(card.status, 201, "{}", card.text);
    assert_eq!(card.body["payment"], json!({"method": "card", "payment_url": format!("https://pay.example/{}", card.str("order_id"))}));
    assert_eq!(card.body["auto_renew"], true);

    let view = shop.view("m1").await;
    assert_eq!(view["status"], "none");
    let statuses: Vec<&str> = view["orders"].as_array().unwrap().iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["pending_payment", "pending_payment"]);
}

/// Each rule and its code are the domain's (einvoice_domain::checkout); here: a broken rule,
/// top level or nested, is a 422 naming its field, before the gateway or the table is touched.
#[tokio::test]
async fn a_broken_rule_is_422_with_its_field_and_writes_nothing() {
    let shop = Shop::at("2026-03-01T10:00:00+08:00");
    let with = |pointer: &str, value: Value| {
        let mut body = checkout_body(12, "atm", false);
        *body.pointer_mut(pointer).unwrap() = value;
        body
    };
    for (body, code, field) in [
        (with("/months", json!(5)), "invalid_plan", Some("months")),
        (with("/contact/email", json!("ming.example.com")), "invalid_email", Some("contact.email")),
        (with("/company/ubn", json!("04595258")), "invalid_ubn", Some("company.ubn")),
        (checkout_body(12, "atm", true), "auto_renew_requires_card", Some("auto_renew")),
    ] {
        let r = shop.checkout("m1", &body).await;
        assert_eq!((r.error(), r.body["error"]["field"].as_str()), ((422, Some(code)), field), "{}", r.text);
    }
    let mut missing = checkout_body(12, "atm", false);
    missing.as_object_mut().unwrap().remove("contact");
    assert_eq!(shop.checkout("m1", &missing).await.error(), (422, Some("missing_field")));
    assert_eq!(shop.checkout("m1", &with("/months", json!("12"))).await.error(), (400, Some("malformed_json")));

    assert!(shop.gateway.payments().is_empty(), "a rejected checkout opened a payment");
    let items = shop.items("m1").await;
    assert!(items.plan.is_none() && items.orders.is_empty() && items.notices.is_empty());
}

#[tokio::test]
async fn a_gateway_outage_is_503_and_writes_nothing() {
    let shop = Shop::at("2026-03-01T10:00:00+08:00");
    for fault in [Fault::Unavailable, Fault::AfterWork] {
        shop.gateway.fail_next(fault, 1);
        let r = shop.checkout("m1", &checkout_body(3, "atm", false)).await;
        assert_eq!(r.error(), (503, Some("payment_gateway_unavailable")), "{fault:?}");
        assert!(shop.items("m1").await.orders.is_empty(), "{fault:?}: an order without a payment was stored");
    }
    assert_eq!(shop.checkout("m1", &checkout_body(3, "atm", false)).await.status, 201, "the outage is over");
    assert_eq!(shop.items("m1").await.orders.len(), 1);
}

#[tokio::test]
async fn a_store_outage_is_503_before_a_payment_is_opened() {
    let shop = Shop::at("2026-03-01T10:00:00+08:00");
    shop.store.fail_next(1);
    let r = shop.checkout("m1", &checkout_body(3, "atm", false)).await;
    assert_eq!(r.error(), (503, Some("storage_unavailable")));
    assert!(shop.gateway.payments().is_empty());
    assert!(shop.items("m1").await.orders.is_empty());
}
