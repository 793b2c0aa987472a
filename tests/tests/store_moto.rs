//! The DynamoDB adapter against moto: the store ports' contract (the same checks the in-memory
//! adapter passes), and what only DynamoDB has: the order items' layout and sizes.

use chrono::{Duration, Utc};
use einvoice_adapters::store::contract::shop_order;
use einvoice_adapters::store::{OrderStore, Store};
use local_stack::LocalConfig;

/// A table of its own, with nothing consuming its stream: the checks see only their own writes
/// (the mounted invoice-issuer would take up the orders they claim).
async fn store() -> (e2e_tests::Harness, Store) {
    let h = e2e_tests::start_with(LocalConfig { consume_stream: false, ..LocalConfig::isolated() }).await;
    let s = h.stack.store();
    (h, s)
}

// The store ports' contract (functions/adapters/src/store/contract/) against moto: the same
// checks the in-memory adapter passes in the adapters' unit tests.
einvoice_adapters::store_contract_tests!(let (_h, store) = store().await; &store);

fn raw_order<'a>(
    items: &'a [std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>],
    sk: &str,
) -> &'a std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    items.iter().find(|i| i.get("sk").and_then(|v| v.as_s().ok()).is_some_and(|s| s == sk)).expect("the item")
}

/// A large order's lines item and the order item beside it, as stored: the order item every
/// webhook rewrites has no lines and stays under one write unit; the lines item holds them all.
/// A small order keeps its lines in the order item. (That the lines are written once per
/// content and read back whole is the contract's `a_large_orders_lines_…` check.)
#[tokio::test]
async fn a_large_orders_lines_item_and_its_order_item_as_stored() {
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
    assert!(!order["state"].as_m().unwrap()["order"].as_m().unwrap().contains_key("lines"), "the order item has no lines");
    assert!(item_size(order) < 1024, "the order item is one write unit: {} B", item_size(order));
    let lines = raw_order(&items, &key);
    assert_eq!((lines["entity"].as_s().unwrap().as_str(), lines["line_count"].as_n().unwrap().as_str()), ("order_lines", "300"));
    assert_eq!(lines["lines"].as_l().unwrap().len(), 300);
    assert!(item_size(lines) > LINES_INLINE_MAX);

    let small = OrderItem::new("m1", "small", OrderState::new(shop_order("small", 2, "paid", 10), t0), t0);
    assert_eq!(s.save_order(&small, None).await.unwrap(), OrderWrite::Saved);
    let items = h.items().await;
    let order = items.iter().find(|i| i["pk"].as_s().unwrap().ends_with("#small")).unwrap();
    assert!(!order.contains_key("lines_key") && order["state"].as_m().unwrap()["order"].as_m().unwrap().contains_key("lines"));
}
