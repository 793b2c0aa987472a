//! The DynamoDB adapter against moto: the store ports' contract (the same checks the in-memory
//! adapter passes), and the order items' layout.

use chrono::{Duration, Utc};
use e2e_tests::start;
use einvoice_adapters::store::{OrderStore, Store};
use serde_json::json;

async fn store() -> (e2e_tests::Harness, Store) {
    let h = start().await;
    let s = h.stack.store();
    (h, s)
}

// The store ports' contract (functions/adapters/src/store/contract.rs) against moto: the
// same checks the in-memory adapter passes in the adapters' unit tests.
einvoice_adapters::store_contract_tests!(let (_h, store) = store().await; &store);

/// An order of `lines` lines (each about 60 bytes stored).
fn shop_order(id: &str, lines: usize, payment: &str, unit_price: u32) -> einvoice_domain::Order {
    let lines: Vec<_> = (0..lines).map(|i| json!({"sku": format!("SKU-{i:05}"), "name": format!("凍頂烏龍茶 第{i}號"), "quantity": 1, "unit_price": unit_price})).collect();
    let total = unit_price * lines.len() as u32;
    let order = json!({"id": id, "currency": "TWD", "payment_status": payment, "delivery_status": "pending", "logistics": "tcat",
                       "lines": lines, "total": total, "buyer": {"name": "陳小華", "email": "hua@example.com"}});
    serde_json::from_value::<einvoice_domain::OrderWire>(order).unwrap().parse().unwrap()
}

fn raw_order<'a>(items: &'a [std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>], sk: &str) -> &'a std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    items.iter().find(|i| i.get("sk").and_then(|v| v.as_s().ok()).is_some_and(|s| s == sk)).expect("the item")
}

/// A large order's lines live in an item of their own, written once per content: the order item
/// every webhook rewrites stays under one write unit, and every read gets the order whole.
#[tokio::test]
async fn a_large_orders_lines_are_stored_apart_once_and_read_back_whole() {
    use einvoice_adapters::orders::{LINES_INLINE_MAX, OrderItem, OrderWrite, item_size};
    use einvoice_domain::OrderState;
    let (h, s) = store().await;
    let t0 = Utc::now() - Duration::minutes(5);
    let first = OrderItem::new("m1", "big", OrderState::new(shop_order("big", 300, "unpaid", 10), t0), t0);
    assert_eq!(s.save_order(&first, None).await.unwrap(), OrderWrite::Saved);
    let items = h.items().await;
    assert_eq!(e2e_tests::count_entities(&items, "order_lines"), 1);
    let order = raw_order(&items, "ORDER");
    let key = order["lines_key"].as_s().unwrap().clone();
    assert!(key.starts_with("LINES#") && key.len() == 6 + 64, "{key}");
    assert!(!order["state"].as_m().unwrap()["order"].as_m().unwrap().contains_key("lines"), "the order item has no lines");
    assert!(item_size(order) < 1024, "the order item is one write unit: {} B", item_size(order));
    let lines = raw_order(&items, &key);
    assert_eq!((lines["entity"].as_s().unwrap().as_str(), lines["line_count"].as_n().unwrap().as_str()), ("order_lines", "300"));
    assert!(item_size(lines) > LINES_INLINE_MAX);

    // Read back whole, by every read.
    let back = s.order("m1", "big").await.unwrap().unwrap();
    assert_eq!((&back.state, back.lines_key.as_deref()), (&first.state, Some(key.as_str())));
    assert_eq!(s.order_and_invoice("m1", "big").await.unwrap().0.unwrap().state, first.state);
    assert_eq!(s.issue_context("m1", "big").await.unwrap().order.unwrap().state, first.state);
    assert_eq!(s.invoice_view_context("m1", "big").await.unwrap().0.unwrap().version, 1);

    // A status change rewrites only the order item: the lines item is not written again.
    let paid = OrderItem { version: 2, state: back.state.clone().merge(shop_order("big", 300, "paid", 10), t0 + Duration::seconds(1)), ..back.clone() };
    assert_eq!(s.save_order(&paid, Some(&back)).await.unwrap(), OrderWrite::Saved);
    let items = h.items().await;
    assert_eq!(e2e_tests::count_entities(&items, "order_lines"), 1);
    assert_eq!(raw_order(&items, &key)["created_at"], lines["created_at"], "never rewritten");

    // A write from a stale copy fails and brings the order as it is now, whole.
    let stale = OrderItem { version: 2, ..back.clone() };
    match s.save_order(&stale, Some(&back)).await.unwrap() {
        OrderWrite::Stale(Some(current)) => assert_eq!((current.version, &current.state), (2, &paid.state)),
        other => panic!("expected the current order, got {other:?}"),
    }

    // Other lines: a second lines item; the first stays as it was (immutable, by content).
    let edited = OrderItem { version: 3, state: paid.state.clone().merge(shop_order("big", 300, "paid", 11), t0 + Duration::seconds(2)), ..paid.clone() };
    assert_eq!(s.save_order(&edited, Some(&paid)).await.unwrap(), OrderWrite::Saved);
    assert_eq!(e2e_tests::count_entities(&h.items().await, "order_lines"), 2);
    let back = s.order("m1", "big").await.unwrap().unwrap();
    assert_eq!(back.state, edited.state);
    assert_ne!(back.lines_key.as_deref(), Some(key.as_str()));

    // A small order keeps its lines in the order item.
    let small = OrderItem::new("m1", "small", OrderState::new(shop_order("small", 2, "paid", 10), t0), t0);
    assert_eq!(s.save_order(&small, None).await.unwrap(), OrderWrite::Saved);
    let items = h.items().await;
    let order = items.iter().find(|i| i["pk"].as_s().unwrap().ends_with("#small")).unwrap();
    assert!(!order.contains_key("lines_key") && order["state"].as_m().unwrap()["order"].as_m().unwrap().contains_key("lines"));
    assert_eq!(s.order("m1", "small").await.unwrap().unwrap().state, small.state);
}
