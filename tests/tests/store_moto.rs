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

/// moto as the local scripts run it (`infra/scripts/moto_serialized.py`) answers a query from the
/// partition or the GSI bucket asked for, kept as items change: after puts, updates that move an
/// item to another key or out of the index, deletes and a cancelled transaction, each `by-expiry`
/// query and each partition query answers exactly what a scan finds.
#[tokio::test]
async fn queries_answer_what_a_scan_finds_as_items_move_between_keys() {
    use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
    let (h, _) = store().await;
    let db = aws_sdk_dynamodb::Client::new(&h.stack.sdk);
    let table = h.stack.config.table_name.clone();
    let s = |v: &str| AttributeValue::S(v.to_owned());
    let key = |i: usize| {
        [("pk".to_owned(), s(&format!("T#{}", i % 5))), ("sk".to_owned(), s(&format!("I#{i}")))].into_iter().collect::<std::collections::HashMap<_, _>>()
    };
    let day = |i: usize| format!("2027-01-0{}", 1 + i % 3);
    for i in 0..30 {
        let item = key(i).into_iter().chain([("expires_on".to_owned(), s(&day(i))), ("merchant_id".to_owned(), s(&format!("m{i}")))]).collect();
        db.put_item().table_name(&table).set_item(Some(item)).send().await.unwrap();
    }
    // The GSI is read once (its buckets are built), then items move.
    db.query()
        .table_name(&table)
        .index_name("by-expiry")
        .key_condition_expression("expires_on = :d")
        .expression_attribute_values(":d", s(&day(0)))
        .send()
        .await
        .unwrap();
    for i in (0..30).step_by(4) {
        db.update_item()
            .table_name(&table)
            .set_key(Some(key(i)))
            .update_expression("SET expires_on = :d")
            .expression_attribute_values(":d", s(&day(i + 1)))
            .send()
            .await
            .unwrap();
    }
    for i in (1..30).step_by(7) {
        db.update_item().table_name(&table).set_key(Some(key(i))).update_expression("REMOVE expires_on").send().await.unwrap();
    }
    for i in (2..30).step_by(9) {
        db.delete_item().table_name(&table).set_key(Some(key(i))).send().await.unwrap();
    }
    // A transaction whose second write fails: the first one's move is undone.
    let moved = Update::builder()
        .table_name(&table)
        .set_key(Some(key(3)))
        .update_expression("SET expires_on = :d")
        .expression_attribute_values(":d", s("2027-02-01"))
        .build()
        .unwrap();
    let refused = Put::builder().table_name(&table).set_item(Some(key(5))).condition_expression("attribute_not_exists(pk)").build().unwrap();
    let cancelled = db
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().update(moved).build())
        .transact_items(TransactWriteItem::builder().put(refused).build())
        .send()
        .await;
    assert!(cancelled.is_err());

    let scanned = db.scan().table_name(&table).send().await.unwrap().items().to_vec();
    let sk = |item: &std::collections::HashMap<String, AttributeValue>| item["sk"].as_s().unwrap().clone();
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    for d in ["2027-01-01", "2027-01-02", "2027-01-03", "2027-02-01"] {
        let want = sorted(scanned.iter().filter(|i| i.get("expires_on").and_then(|v| v.as_s().ok()).is_some_and(|v| v == d)).map(sk).collect());
        let got = db
            .query()
            .table_name(&table)
            .index_name("by-expiry")
            .key_condition_expression("expires_on = :d")
            .expression_attribute_values(":d", s(d))
            .send()
            .await
            .unwrap();
        assert_eq!(sorted(got.items().iter().map(sk).collect()), want, "by-expiry {d}");
    }
    for p in 0..5 {
        let pk = format!("T#{p}");
        let want = sorted(scanned.iter().filter(|i| i["pk"].as_s().unwrap() == &pk).map(sk).collect());
        let got = db.query().table_name(&table).key_condition_expression("pk = :p").expression_attribute_values(":p", s(&pk)).send().await.unwrap();
        assert_eq!(sorted(got.items().iter().map(sk).collect()), want, "partition {pk}");
    }
    assert!(scanned.iter().any(|i| i.get("expires_on").is_none()), "some items left the index");
}
