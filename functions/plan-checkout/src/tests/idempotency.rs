//! `Idempotency-Key` on checkout: a repeat gets the first response, another body a 409, one key
//! raced by many requests makes one order, a failed request frees its key, and a claim left
//! behind by a request that died is taken over with the order id it had reserved.

use std::collections::BTreeSet;

use chrono::Duration;
use einvoice_adapters::idempotency::{self, Begin};
use einvoice_adapters::store::{IdempotencyStore, keys};
use einvoice_adapters::testing::Fault;

use super::{Shop, at, checkout_body};

const ROUTE: &str = "plan-checkout";

#[tokio::test]
async fn a_repeat_replays_the_first_response_and_another_body_is_409() {
    let shop = Shop::at("2026-03-01T10:00:00+08:00");
    let body = checkout_body(12, "card", true);
    let first = shop.checkout_with_key("m1", &body, Some("key-1")).await;
    assert_eq!(first.status, 201, "{}", first.text);
    for _ in 0..3 {
        let again = shop.checkout_with_key("m1", &body, Some("key-1")).await;
        assert_eq!((again.status, &again.text), (201, &first.text));
    }
    let misuse = shop.checkout_with_key("m1", &checkout_body(3, "card", true), Some("key-1")).await;
    assert_eq!(misuse.error(), (409, Some("idempotency_key_reused")));
    // The same key for another merchant is another key; a new key is a new order.
    let other = shop.checkout_with_key("m2", &body, Some("key-1")).await;
    assert_eq!(other.status, 201);
    assert_ne!(other.body["order_id"], first.body["order_id"]);
    let second = shop.checkout_with_key("m1", &body, Some("key-2")).await;
    assert_ne!(second.body["order_id"], first.body["order_id"]);
    assert_eq!(shop.items("m1").await.orders.len(), 2);
    let long = "k".repeat(256);
    assert_eq!(shop.checkout_with_key("m1", &body, Some(&long)).await.error(), (422, Some("invalid_idempotency_key")));
    // One payment opened per order.
    assert_eq!(shop.gateway.payments().iter().filter(|p| p.merchant_id == "m1").count(), 2);
}

#[tokio::test]
async fn concurrent_requests_with_one_key_make_one_order() {
    let shop = Shop::at("2026-03-01T10:00:00+08:00");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let shop = shop.clone();
        tasks.spawn(async move { shop.checkout_with_key("m1", &checkout_body(6, "atm", false), Some("same-key")).await });
    }
    let mut bodies = BTreeSet::new();
    while let Some(r) = tasks.join_next().await {
        let r = r.unwrap();
        assert_eq!(r.status, 201, "{}", r.text);
        bodies.insert(r.text);
    }
    assert_eq!(bodies.len(), 1, "every request answered the one order: {bodies:?}");
    assert_eq!(shop.items("m1").await.orders.len(), 1);
    assert_eq!(shop.gateway.payments().len(), 1);
}

#[tokio::test]
async fn a_failed_request_frees_its_key() {
    let shop = Shop::at("2026-03-01T10:00:00+08:00");
    let body = checkout_body(3, "atm", false);
    shop.gateway.fail_next(Fault::Unavailable, 1);
    assert_eq!(shop.checkout_with_key("m1", &body, Some("retry-me")).await.error(), (503, Some("payment_gateway_unavailable")));
    let pk = keys::idempotency("m1", ROUTE, "retry-me");
    assert_eq!(shop.store.idempotency(&pk).await.unwrap(), None, "the claim was released");
    let r = shop.checkout_with_key("m1", &body, Some("retry-me")).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(shop.checkout_with_key("m1", &body, Some("retry-me")).await.text, r.text);
}

/// A request that claimed the key and died before creating its order, as `checkout` leaves it.
async fn claim_left_by_a_dead_request(shop: &Shop, key: &str, order_id: &str) {
    let body = serde_json::to_vec(&checkout_body(3, "atm", false)).unwrap();
    let begun = idempotency::begin(&shop.store, "m1", ROUTE, key, &body, order_id.into(), at("2026-03-01T10:00:00+08:00")).await.unwrap();
    assert!(matches!(begun, Begin::Proceed { .. }));
}

#[tokio::test(start_paused = true)]
async fn a_claim_in_progress_is_409_then_taken_over_once_stale() {
    let shop = Shop::at("2026-03-01T10:00:00+08:00");
    claim_left_by_a_dead_request(&shop, "k", "po_reserved").await;
    // Within 30 s the first request may still finish: wait, then ask the caller to retry.
    let waiting = shop.checkout_with_key("m1", &checkout_body(3, "atm", false), Some("k")).await;
    assert_eq!(waiting.error(), (409, Some("idempotency_key_in_progress")));
    assert!(shop.items("m1").await.orders.is_empty());

    // Later the claim is stale: one of two racing repeats creates the reserved order, the other
    // answers what it stored.
    shop.clock.set(Some(at("2026-03-01T10:00:00+08:00") + Duration::seconds(31)));
    let body = checkout_body(3, "atm", false);
    let (a, b) = tokio::join!(shop.checkout_with_key("m1", &body, Some("k")), shop.checkout_with_key("m1", &body, Some("k")));
    assert_eq!((a.status, a.str("order_id")), (201, "po_reserved"), "{}", a.text);
    assert_eq!((b.status, &b.text), (201, &a.text));
    assert_eq!(shop.items("m1").await.orders.len(), 1);
}
