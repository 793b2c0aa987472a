//! Routing and the secret each route is signed with (the signature itself, against the wall
//! clock and the real request target, stays with the end-to-end tests).

use einvoice_adapters::store::PlanStore;
use http::Method;
use serde_json::json;

use super::{PAYMENT_SECRET, PLATFORM_SECRET, Shop};

#[tokio::test]
async fn each_route_takes_its_own_secret_and_nothing_is_written_when_refused() {
    let shop = Shop::at("2026-03-01T10:00:00+08:00");
    let id = shop.open("m1", 3, "atm", false).await;
    let paid = json!({"order_id": id, "status": "paid", "paid_at": "2026-03-01T09:00:00+08:00"});
    let r = shop.handle(Shop::request(Method::POST, "/v1/payments/notify", Some(&paid), None, PLATFORM_SECRET)).await;
    assert_eq!(r.error(), (401, Some("invalid_signature")), "the platform's secret on the gateway's callback");
    let r = shop.handle(Shop::request(Method::GET, "/v1/merchants/m1/plan", None, None, PAYMENT_SECRET)).await;
    assert_eq!(r.error(), (401, Some("invalid_signature")), "the gateway's secret on a platform route");
    assert_eq!(shop.store.plan("m1").await.unwrap(), None, "the payment was not applied");
}

#[tokio::test]
async fn unknown_routes_methods_and_merchant_ids() {
    let shop = Shop::at("2026-03-01T10:00:00+08:00");
    assert_eq!(shop.platform(Method::GET, "/v1/nothing", None, None).await.error(), (404, Some("route_not_found")));
    assert_eq!(shop.platform(Method::DELETE, "/v1/merchants/m1/plan", None, None).await.error(), (405, Some("method_not_allowed")));
    assert_eq!(shop.platform(Method::GET, "/v1/merchants/bad%20id/plan", None, None).await.error(), (422, Some("invalid_merchant_id")));
    assert_eq!(shop.handle(Shop::request(Method::GET, "/healthz", None, None, "")).await.body, json!({"status": "ok"}));
}
