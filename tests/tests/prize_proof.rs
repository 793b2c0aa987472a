//! The winning proof (中獎證明聯, `POST …/invoice/prize-proof`) through the local stack: a B2C
//! invoice on the platform's member carrier, issued and uploaded by the stack, is marked a
//! winner through the stack's table (the `PrizeStore` port the prize job writes through, so
//! these tests do not wait on the job), then printed once. The proof is rendered to PNG and its
//! codes decoded with zbar (`e2e_tests::scan`), as in `proof.rs`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use e2e_tests::scan::{expected_symbols, rasterize, scan};
use e2e_tests::{Harness, Reply, order, start};
use einvoice_adapters::store::{InvoiceStore, PrizeItem, PrizeMarked, PrizeStore};
use einvoice_domain::PrizeKind;
use einvoice_domain::clock::taipei_offset;
use reqwest::Method;
use serde_json::{Value, json};

const WEBHOOK: &str = "OrderWebhookFunction";

fn path(m: &str, id: &str) -> String {
    format!("/v1/merchants/{m}/orders/{id}/invoice/prize-proof")
}

/// `POST …/prize-proof`, signed, no body, with `key` as its `Idempotency-Key`.
async fn print(h: &Harness, m: &str, id: &str, key: Option<&str>) -> Reply {
    h.c.platform(Method::POST, &path(m, id), None, key).await
}

/// An uploaded B2C invoice of order `id` for `buyer`; answers its invoice view.
async fn uploaded(h: &Harness, m: &str, id: &str, buyer: Value) -> Value {
    let mut o = order(id, "paid", "shipped", "tcat");
    o["buyer"] = buyer;
    let r = h.order_event(m, &format!("{id}-shipped"), &o).await;
    assert_eq!(r.body["invoice"]["status"], "uploaded", "{:?}", r.body);
    view(h, m, id).await
}

/// On the platform's member carrier (會員載具): the seller's to tell and to print for.
fn member(id: &str) -> Value {
    json!({"name": "陳小華", "email": "hua@example.com", "carrier": {"type": "member", "id": format!("member#{id}")}})
}

async fn view(h: &Harness, m: &str, id: &str) -> Value {
    let r = h.invoice(m, id).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body
}

/// Marks the invoice a winner as the prize job does, through the stack's table.
async fn mark(h: &Harness, m: &str, id: &str, kind: PrizeKind, amount: u64) -> PrizeItem {
    let store = h.stack.store();
    let invoice = store.invoice(m, id).await.unwrap().expect("issued");
    match store.mark_prize(m, id, &PrizeItem::new(&invoice, kind, amount, Utc::now())).await.unwrap() {
        PrizeMarked::Marked(prize) => prize,
        other => panic!("{other:?}"),
    }
}

fn assert_svg(r: &Reply) {
    assert_eq!((r.status, r.content_type.as_str()), (201, "image/svg+xml"), "{}", r.text);
    assert!(r.text.starts_with("<?xml") && r.text.contains(r#"width="57mm" height="90mm""#));
}

/// The order-webhook's AWS calls since the last look, `operation × count`.
fn webhook_calls(h: &Harness) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for c in h.stack.aws_calls.take().iter().filter(|c| c.function == WEBHOOK) {
        *out.entry(format!("{}.{}", c.service, c.operation)).or_insert(0) += 1;
    }
    out
}

fn ops(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

/// `printed_at` of the view, as the proof prints it (Asia/Taipei).
fn print_line(view: &Value) -> String {
    let at: DateTime<Utc> = serde_json::from_value(view["prize"]["printed_at"].clone()).expect("printed_at is a time");
    format!(">列印:{}<", at.with_timezone(&taipei_offset()).format("%Y-%m-%d %H:%M:%S"))
}

#[tokio::test]
async fn a_member_carrier_winner_is_printed_once_and_its_codes_scan_back() {
    let h = start().await;
    let m = h.invoicing_merchant(&["shipment"]).await;
    let before = uploaded(&h, &m, "won", member("won")).await;
    assert_eq!(before["prize"], Value::Null);
    mark(&h, &m, "won", PrizeKind::Fifth, 1000).await;
    let marked = view(&h, &m, "won").await;
    assert_eq!(marked["prize"], json!({"period": before["period"], "kind": "fifth", "amount": 1000, "notified_at": null, "printed_at": null}));
    h.stack.settled().await;
    h.stack.aws_calls.take();

    let first = print(&h, &m, "won", Some("print-won-1")).await;
    assert_svg(&first);
    // One read (order, invoice, plan) and the one conditional write that allows the print.
    assert_eq!(webhook_calls(&h), ops(&[("DynamoDB.BatchGetItem", 1), ("DynamoDB.UpdateItem", 1)]));
    let number = before["number"].as_str().unwrap();
    for shown in [&format!("<title>中獎電子發票證明聯 {}-{}</title>", &number[..2], &number[2..]), ">中獎 五獎 1000元<", ">電子發票證明聯<", ">總計:1050<"] {
        assert!(first.text.contains(shown), "{shown} missing");
    }
    assert!(!first.text.contains("補印"));
    assert_eq!(scan(&rasterize("prize-proof", &first.text)), expected_symbols(&before), "the codes scan back to the view's strings");

    let printed = view(&h, &m, "won").await;
    assert!(printed["prize"]["printed_at"].is_string(), "{printed}");
    assert!(first.text.contains(&print_line(&printed)), "the proof shows when it was printed");
    h.stack.aws_calls.take();

    // The same request again (its answer was lost): the same document, and nothing written.
    let again = print(&h, &m, "won", Some("print-won-1")).await;
    assert_svg(&again);
    assert_eq!(again.text, first.text, "byte for byte");
    assert_eq!(webhook_calls(&h), ops(&[("DynamoDB.BatchGetItem", 1)]));
    // Any other request: printed already, never again.
    for key in [Some("print-won-2"), None] {
        let r = print(&h, &m, "won", key).await;
        assert_eq!((r.status, r.error_code()), (409, Some("prize_proof_already_printed")), "{key:?}: {}", r.text);
    }
    assert_eq!(view(&h, &m, "won").await["prize"], printed["prize"], "the print stays as first recorded");
}

#[tokio::test]
async fn of_eight_concurrent_prints_exactly_one_is_answered_201() {
    let h = start().await;
    let m = h.invoicing_merchant(&["shipment"]).await;
    uploaded(&h, &m, "race", member("race")).await;
    mark(&h, &m, "race", PrizeKind::Cloud, 2000).await;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (c, target) = (h.c.clone(), path(&m, "race"));
            tokio::spawn(async move { (format!("race-{i}"), c.platform(Method::POST, &target, None, Some(&format!("race-{i}"))).await) })
        })
        .collect();
    let mut printed = Vec::new();
    for t in tasks {
        let (key, r) = t.await.unwrap();
        match r.status {
            201 => printed.push((key, r.text)),
            _ => assert_eq!((r.status, r.error_code()), (409, Some("prize_proof_already_printed")), "{}", r.text),
        }
    }
    assert_eq!(printed.len(), 1, "exactly one print: {:?}", printed.iter().map(|(k, _)| k).collect::<Vec<_>>());
    let (key, document) = &printed[0];
    assert!(document.contains(">中獎 雲端發票專屬獎 2000元<"));
    // The one that printed may have it again, byte for byte.
    let again = print(&h, &m, "race", Some(key)).await;
    assert_eq!((again.status, &again.text), (201, document));
}

#[tokio::test]
async fn winners_that_are_not_the_sellers_to_print_and_non_winners_are_refused() {
    let h = start().await;
    let m = h.invoicing_merchant(&["shipment"]).await;
    let r = print(&h, &m, "nobody", Some("k")).await;
    assert_eq!((r.status, r.error_code()), (404, Some("order_not_found")));
    // Claimed on payment, not shipped: no number yet.
    h.order_event(&m, "waiting-paid", &order("waiting", "paid", "pending", "tcat")).await;
    let r = print(&h, &m, "waiting", Some("k")).await;
    assert_eq!((r.status, r.error_code()), (409, Some("invoice_not_issued")));
    // Issued on the member carrier, not on MOF's list.
    uploaded(&h, &m, "lost", member("lost")).await;
    let r = print(&h, &m, "lost", Some("k")).await;
    assert_eq!((r.status, r.error_code()), (409, Some("not_a_winner")), "{}", r.text);
    // A mobile-barcode winner: MOF tells the buyer; the seller prints nothing.
    uploaded(&h, &m, "mobile", json!({"name": "a", "email": "a@example.com", "carrier": {"type": "mobile", "id": "/ABC1234"}})).await;
    mark(&h, &m, "mobile", PrizeKind::Sixth, 200).await;
    let r = print(&h, &m, "mobile", Some("k")).await;
    assert_eq!((r.status, r.error_code()), (409, Some("prize_proof_not_printable")), "{}", r.text);
    assert_eq!(view(&h, &m, "mobile").await["prize"]["printed_at"], Value::Null);
    // Malformed requests are refused before anything is read.
    let target = path(&m, "mobile");
    let r = h.c.platform(Method::POST, &target, Some(&json!({"reprint": true})), Some("k")).await;
    assert_eq!((r.status, r.error_code()), (400, Some("malformed_json")));
    let r = h.c.platform(Method::POST, &target, Some(&json!({})), Some("k")).await;
    assert_eq!((r.status, r.error_code()), (409, Some("prize_proof_not_printable")), "{{}} is no body");
    let r = h.c.raw(Method::POST, &target, Vec::new(), &[]).await;
    assert_eq!((r.status, r.error_code()), (401, Some("missing_signature")));
}
