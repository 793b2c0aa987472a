//! AWS round trips per order (issue 7's budget), counted at the SDK of the local stack's clients
//! (`local_stack::calls`), and number allocation with 16 issuer instances racing for one
//! merchant's 字軌.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use e2e_tests::{Harness, order};
use einvoice_adapters::numbers::{NumberAllocator, fetch_range};
use einvoice_adapters::orders::{InvoiceStatus, OrderItem, OrderWrite};
use einvoice_adapters::store::{NumberLedger, OrderStore};
use einvoice_adapters::wixtar::{HttpWixtarClient, PosIdentity, WixtarClient};
use einvoice_domain::InvoicePeriod;
use local_stack::LocalConfig;
use serde_json::json;
use local_stack::calls::{self, AwsCall, AwsCalls};

const WEBHOOK: &str = "OrderWebhookFunction";
const ISSUER: &str = "InvoiceIssuerFunction";

/// A stack whose webhook answers without reading the order back: the calls it makes in AWS.
async fn as_deployed() -> Harness {
    e2e_tests::start_with(LocalConfig { webhook_read_back: false, ..LocalConfig::isolated() }).await
}

/// `operation × count` of one function's calls, e.g. `{"DynamoDB.PutItem": 1}`.
fn by_operation(calls: &[AwsCall], function: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for c in calls.iter().filter(|c| c.function == function) {
        *out.entry(format!("{}.{}", c.service, c.operation)).or_insert(0) += 1;
    }
    out
}

fn ops(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[tokio::test]
async fn a_webhook_costs_two_dynamodb_calls_and_the_issuer_three() {
    let h = as_deployed().await;
    // The handlers' clock stands still: each number block is used up "at once", so the block
    // sizes below do not depend on how loaded the machine is (a block used up 10 s or more
    // after its lease falls back to one number).
    h.set_now(&chrono::Utc::now().to_rfc3339());
    let m = h.invoicing_merchant(&["shipment"]).await;
    // The merchant's first invoice on this instance reads its ranges and fetches one from Wixtar.
    let r = h.order_event(&m, "warm-1", &order("warm", "paid", "shipped", "tcat")).await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    h.stack.settled().await;
    h.stack.aws_calls.take();

    // paid: merged and decided (waiting for shipment): one read, one write, no event.
    let r = h.order_event(&m, "o1-paid", &order("o1", "paid", "pending", "tcat")).await;
    assert_eq!((r.status, r.body["invoice"]["status"].as_str()), (202, Some("waiting")), "{:?}", r.body);
    let calls = h.stack.aws_calls.take();
    assert_eq!(by_operation(&calls, WEBHOOK), ops(&[("DynamoDB.BatchGetItem", 1), ("DynamoDB.PutItem", 1)]));
    assert_eq!(by_operation(&calls, ISSUER), ops(&[]));

    // shipped: claimed by the order write alone (no event published); the table's stream
    // hands it to the issuer, which reads once, records the invoice, uploads it and records
    // the upload.
    let r = h.order_event(&m, "o1-shipped", &order("o1", "paid", "shipped", "tcat")).await;
    assert_eq!((r.status, r.body["invoice"]["status"].as_str()), (202, Some("issuing")), "{:?}", r.body);
    h.stack.settled().await;
    let calls = h.stack.aws_calls.take();
    assert_eq!(by_operation(&calls, WEBHOOK), ops(&[("DynamoDB.BatchGetItem", 1), ("DynamoDB.PutItem", 1)]));
    let issuer = by_operation(&calls, ISSUER);
    // The number comes from a block leased with one counter update (the warm-up order used
    // a block of one; this lease is the second block).
    assert_eq!(issuer.get("DynamoDB.UpdateItem"), Some(&1), "{issuer:?}");
    let dynamodb: usize = issuer.iter().filter(|(k, _)| k.starts_with("DynamoDB.") && *k != "DynamoDB.UpdateItem").map(|(_, v)| v).sum();
    assert_eq!(dynamodb, 3, "{issuer:?}");
    assert_eq!(issuer.get("DynamoDB.BatchGetItem"), Some(&1), "{issuer:?}");
    assert_eq!(issuer.get("DynamoDB.TransactWriteItems"), Some(&2), "{issuer:?}");
    assert_eq!(issuer.get("EventBridge.PutEvents"), Some(&1), "InvoiceIssued: {issuer:?}");
    // The invoice view: one read of the order and its invoice.
    assert_eq!(h.invoice(&m, "o1").await.body["status"], "uploaded");
    assert_eq!(by_operation(&h.stack.aws_calls.take(), WEBHOOK), ops(&[("DynamoDB.BatchGetItem", 1)]));

    // The next order takes its number from that block: no counter update at all.
    for (id, status) in [("o2-paid", "pending"), ("o2-shipped", "shipped")] {
        h.order_event(&m, id, &order("o2", "paid", status, "tcat")).await;
    }
    h.stack.settled().await;
    let calls = h.stack.aws_calls.take();
    let issuer = by_operation(&calls, ISSUER);
    assert_eq!(issuer, ops(&[("DynamoDB.BatchGetItem", 1), ("DynamoDB.TransactWriteItems", 2), ("EventBridge.PutEvents", 1)]));
    assert_eq!(AwsCalls::count(&calls, WEBHOOK, "DynamoDB"), 4, "two webhooks, two calls each: {:?}", by_operation(&calls, WEBHOOK));

    // received, after the invoice: one read, one write, nothing published.
    let r = h.order_event(&m, "o1-received", &order("o1", "paid", "received", "tcat")).await;
    assert_eq!((r.status, r.body["invoice"]["status"].as_str()), (202, Some("uploaded")), "{:?}", r.body);
    let calls = h.stack.aws_calls.take();
    assert_eq!(by_operation(&calls, WEBHOOK), ops(&[("DynamoDB.BatchGetItem", 1), ("DynamoDB.PutItem", 1)]));

    // A repeated delivery: answered from the stored order, one read and no write.
    let r = h.order_event(&m, "o1-received", &order("o1", "paid", "received", "tcat")).await;
    assert_eq!((r.status, r.body["invoice"]["status"].as_str()), (200, Some("uploaded")), "{:?}", r.body);
    let calls = h.stack.aws_calls.take();
    assert_eq!(by_operation(&calls, WEBHOOK), ops(&[("DynamoDB.BatchGetItem", 1)]));

    // A new event that changes nothing (an earlier status, sent late): one read and no write.
    let body = json!({"event_id": "o1-shipped-late", "occurred_at": (chrono::Utc::now() - chrono::Duration::minutes(1)).to_rfc3339(),
                      "merchant_id": m, "order": order("o1", "paid", "shipped", "tcat")});
    let r = h.c.post("/v1/webhooks/orders", &body).await;
    assert_eq!((r.status, r.body["invoice"]["status"].as_str()), (202, Some("uploaded")), "{:?}", r.body);
    let calls = h.stack.aws_calls.take();
    assert_eq!(by_operation(&calls, WEBHOOK), ops(&[("DynamoDB.BatchGetItem", 1)]));
    assert!(h.stack.publisher.published().iter().all(|e| e.detail_type != "InvoiceRequested"), "the hand-off is the stream, not an event");
    assert_eq!(h.events(&m, "InvoiceIssued").len(), 3, "one per order");
    let stream = h.stack.stream.as_ref().unwrap().stats();
    assert_eq!(stream.failed_invocations, 0, "{stream:?}");
}

/// An order already claimed (`issuing`), as order-webhook writes it, but kept from the stream's
/// issuer (a failed try recorded, as after an outage): the issuers below are handed the orders
/// themselves.
async fn claimed_order(h: &Harness, m: &str, id: &str) {
    let wire: einvoice_domain::OrderWire = serde_json::from_value(order(id, "paid", "shipped", "tcat")).unwrap();
    let now = chrono::Utc::now();
    let item = OrderItem {
        invoice_status: InvoiceStatus::Issuing,
        invoice_trigger: Some(einvoice_domain::settings::IssueTrigger::Shipment),
        invoice_requested_at: Some(now),
        request_pending: true,
        retries: 1,
        event_ids: vec![format!("{id}-shipped")],
        ..OrderItem::new(m, id, einvoice_domain::OrderState::new(wire.parse().unwrap(), now), now)
    };
    assert_eq!(h.stack.store().save_order(&item, None).await.unwrap(), OrderWrite::Saved);
}

#[tokio::test]
async fn sixteen_issuer_instances_share_one_merchants_numbers_without_a_duplicate() {
    const INSTANCES: usize = 16;
    // Kept small: moto copies every table for each transaction, so a full issue costs it
    // ~100 ms once the table holds a few hundred items (the allocation test below measures
    // the counter alone).
    const PER_INSTANCE: usize = 5;
    let h = as_deployed().await;
    let m = h.invoicing_merchant(&["shipment"]).await;
    let mut queues: Vec<Vec<String>> = vec![Vec::new(); INSTANCES];
    for i in 0..INSTANCES * PER_INSTANCE {
        let id = format!("n-{i:04}");
        claimed_order(&h, &m, &id).await;
        queues[i % INSTANCES].push(id);
    }
    h.stack.aws_calls.take();

    // 16 Lambda instances, each with its own number blocks, each working through its queue.
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for queue in queues {
        let issuer = h.stack.invoice_issuer_instance().await.unwrap();
        let m = m.clone();
        tasks.spawn(calls::as_function(ISSUER, async move {
            let mut issued = Vec::new();
            for id in queue {
                let out = issuer.work(&m, &id, 1).await.unwrap_or_else(|e| panic!("{id}: {e}"));
                let out = serde_json::to_value(&out).unwrap();
                assert_eq!(out["result"], "uploaded", "{id}: {out}");
                issued.push(out["number"].as_str().unwrap().to_owned());
            }
            issued
        }));
    }
    let mut numbers = Vec::new();
    while let Some(done) = tasks.join_next().await {
        numbers.extend(done.unwrap());
    }
    let elapsed = started.elapsed();
    let total = INSTANCES * PER_INSTANCE;
    let distinct: HashSet<&String> = numbers.iter().collect();
    assert_eq!((numbers.len(), distinct.len()), (total, total), "every order one number, no number twice");

    // The table agrees: one invoice per order, one guard per number, each at Wixtar once.
    let items = h.items().await;
    let entity = |e: &str| items.iter().filter(|i| i.get("entity").and_then(|v| v.as_s().ok()).is_some_and(|v| v == e)).count();
    assert_eq!((entity("invoice"), entity("invoice_number")), (total, total));
    let uploads = h.c.admin_get(&format!("{}/_sim/invoices", h.stack.wixtar.url())).await;
    let uploaded: HashSet<&str> = uploads.as_array().unwrap().iter().filter_map(|u| u["number"].as_str()).collect();
    assert_eq!(uploaded.len(), total);

    // Numbers leased but not used stay below the counters: period close reports them.
    let ranges = h.stack.store().ranges(&m, &numbers_period(&items)).await.unwrap();
    let handed_out: u32 = ranges.iter().map(|r| r.next.min(r.last + 1) - r.first).sum();
    let calls = h.stack.aws_calls.take();
    let dynamodb = AwsCalls::count(&calls, ISSUER, "DynamoDB");
    let leases = calls.iter().filter(|c| c.function == ISSUER && c.operation == "UpdateItem").count();
    eprintln!(
        "BENCH issue_16_instances invoices={total} seconds={:.2} per_second={:.1} books={} handed_out={handed_out} unused_in_blocks={} \
         counter_updates={leases} dynamodb_calls_per_invoice={:.2}",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64(),
        ranges.len(),
        handed_out as usize - total,
        dynamodb as f64 / total as f64,
    );
    assert!(handed_out as usize >= total && leases <= total);
}

/// The merchant's POS identity as `invoicing_merchant` saved it.
fn pos() -> PosIdentity {
    PosIdentity {
        ubn: "04595257".into(),
        store_code: "S001".into(),
        pos_code: "POS-01".into(),
        pid: "PID-000123".into(),
        rid: e2e_tests::TEST_RID.into(),
        pname: "小明商行 POS".into(),
    }
}

/// Number allocation alone (the 字軌 counter), 16 instances racing for one merchant: with
/// leased blocks, and with one counter write per number (blocks of one) for comparison.
/// Prints throughput; asserts only that no number is handed out twice.
#[tokio::test]
async fn sixteen_allocators_take_one_merchants_numbers_without_a_duplicate() {
    const INSTANCES: usize = 16;
    const PER_INSTANCE: usize = 100;
    let h = as_deployed().await;
    let m = h.invoicing_merchant(&["shipment"]).await;
    let store = h.stack.store();
    let wixtar: Arc<dyn WixtarClient> = Arc::new(HttpWixtarClient::new(&h.stack.wixtar.url()));
    let period = InvoicePeriod::containing(einvoice_domain::taipei_date(chrono::Utc::now()));
    let now = chrono::Utc::now();
    // Books (50 numbers each at the simulator) fetched beforehand: the counter is measured, not
    // Wixtar. Another merchant (same UBN) for the run with blocks of one.
    let single = e2e_tests::merchant();
    for merchant in [&m, &single] {
        for n in 1..=40 {
            assert!(fetch_range(&store, wixtar.as_ref(), &pos(), merchant, &period.to_string(), n, now).await.unwrap());
        }
    }
    h.stack.aws_calls.take();

    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..INSTANCES {
        let (store, wixtar, m) = (store.clone(), wixtar.clone(), m.clone());
        tasks.spawn(calls::as_function(ISSUER, async move {
            let numbers = NumberAllocator::default();
            let mut taken = Vec::new();
            for _ in 0..PER_INSTANCE {
                // Each instance's clock: blocks grow while it is busy.
                taken.push(numbers.next(&store, wixtar.as_ref(), &pos(), &m, &period, chrono::Utc::now()).await.unwrap().unwrap());
            }
            taken
        }));
    }
    let mut all = Vec::new();
    while let Some(done) = tasks.join_next().await {
        all.extend(done.unwrap());
    }
    let blocks_elapsed = started.elapsed();
    let distinct: HashSet<_> = all.iter().collect();
    assert_eq!(distinct.len(), all.len(), "no number twice");
    let calls = h.stack.aws_calls.take();
    let updates = calls.iter().filter(|c| c.operation == "UpdateItem").count();
    let total = INSTANCES * PER_INSTANCE;

    // Blocks of one: one conditional counter update per number, 16 tasks racing on the item.
    let ranges = store.ranges(&single, &period.to_string()).await.unwrap();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..INSTANCES {
        let (store, ranges) = (store.clone(), ranges.clone());
        tasks.spawn(async move {
            let mut taken = Vec::new();
            for range in &ranges {
                while taken.len() < PER_INSTANCE {
                    let Some((seq, _)) = store.take_block(range, 1).await.unwrap() else { break };
                    taken.push(format!("{}{seq:08}", range.track));
                }
            }
            taken
        });
    }
    let mut singles = Vec::new();
    while let Some(done) = tasks.join_next().await {
        singles.extend(done.unwrap());
    }
    let singles_elapsed = started.elapsed();
    let distinct: HashSet<_> = singles.iter().collect();
    assert_eq!((distinct.len(), singles.len()), (total, total), "no number twice");
    eprintln!(
        "BENCH allocate_16_instances numbers={total} seconds={:.3} per_second={:.0} counter_updates={updates} numbers_per_update={:.1}",
        blocks_elapsed.as_secs_f64(),
        total as f64 / blocks_elapsed.as_secs_f64(),
        total as f64 / updates as f64,
    );
    eprintln!(
        "BENCH allocate_16_instances_blocks_of_one numbers={} seconds={:.3} per_second={:.0}",
        singles.len(),
        singles_elapsed.as_secs_f64(),
        singles.len() as f64 / singles_elapsed.as_secs_f64(),
    );
}

/// The period of the invoices in the table.
fn numbers_period(items: &[std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>]) -> String {
    items
        .iter()
        .find(|i| i.get("entity").and_then(|v| v.as_s().ok()).is_some_and(|v| v == "invoice"))
        .and_then(|i| i.get("period")?.as_s().ok().cloned())
        .expect("an invoice")
}
