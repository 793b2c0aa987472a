//! Winning invoices (中獎) through the local stack: the invoice-prizes job asks the Wixtar
//! simulator for the drawn period's winners from the 26th of the odd month, marks them, mails a
//! member-carrier winner once and the merchant one list to print; other winners are marked and
//! nobody is mailed; before MOF's list nothing changes; a crash between the mark and the mails
//! is finished by the next run with one mail each.

use e2e_tests::{Harness, order, start};
use einvoice_adapters::store::InvoiceStore;
use serde_json::{Value, json};

/// Invoices issued on ISSUED_AT (the handlers' clock, whatever the wall clock says) are in
/// period 11512, drawn on 2027-01-25.
const ISSUED_AT: &str = "2026-12-10T10:00:00+08:00";
const PERIOD: &str = "11512";
const BEFORE_THE_LIST: &str = "2027-01-26T02:00:00Z";
const LIST_IN: &str = "2027-01-28T02:00:00Z";
const NEXT_DAY: &str = "2027-01-29T02:00:00Z";

/// An uploaded invoice for order `id` with the buyer on `carrier`; its number.
async fn invoiced(h: &Harness, m: &str, id: &str, carrier: Value) -> String {
    let mut o = order(id, "paid", "shipped", "tcat");
    o["buyer"]["carrier"] = carrier;
    let r = h.order_event(m, &format!("{id}-ship"), &o).await;
    assert_eq!(r.body["invoice"]["status"], "uploaded", "{:?}", r.body);
    h.invoice(m, id).await.body["number"].as_str().unwrap().to_owned()
}

async fn publish(h: &Harness, winners: Value) {
    let url = format!("{}/_sim/winners", h.stack.wixtar.url());
    assert_eq!(h.c.admin_post(&url, &json!({"period": PERIOD, "winners": winners})).await, 204);
}

async fn run(h: &Harness, time: &str) -> Value {
    let r = h.fire("invoice-prizes", time).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body
}

async fn prize(h: &Harness, m: &str, id: &str) -> Option<einvoice_adapters::store::PrizeItem> {
    h.stack.store().invoice(m, id).await.unwrap().unwrap().prize
}

fn of(mails: &[Value], template: &str) -> Vec<Value> {
    mails.iter().filter(|m| m["template"] == template).cloned().collect()
}

#[tokio::test]
async fn a_member_carrier_winner_is_told_once_and_the_merchant_gets_one_list() {
    let h = start().await;
    h.set_now(ISSUED_AT);
    let m = h.invoicing_merchant(&["shipment"]).await;
    let member = invoiced(&h, &m, "W1", json!({"type": "member", "id": "member#42"})).await;
    let mobile = invoiced(&h, &m, "W2", json!({"type": "mobile", "id": "/ABC1234"})).await;
    invoiced(&h, &m, "W3", json!({"type": "member", "id": "member#43"})).await;

    // Before MOF's list reaches Wixtar: asked, nothing changes.
    let before = h.mails(&m).await.len();
    let summary = run(&h, BEFORE_THE_LIST).await;
    assert_eq!((summary["not_yet"].as_u64(), summary["handled"].as_u64()), (Some(1), Some(0)), "{summary}");
    assert_eq!(prize(&h, &m, "W1").await, None);
    assert_eq!(h.mails(&m).await.len(), before);

    publish(&h, json!([{"number": member, "kind": "cloud", "amount": 2000}, {"number": mobile, "kind": "sixth", "amount": 200}])).await;
    let summary = run(&h, LIST_IN).await;
    assert_eq!((summary["handled"].as_u64(), summary["buyers_told"].as_u64(), summary["marked_only"].as_u64()), (Some(1), Some(1), Some(1)), "{summary}");
    // Again the same day and the next: nothing more.
    run(&h, LIST_IN).await;
    assert_eq!(run(&h, NEXT_DAY).await["already_handled"].as_u64(), Some(1));

    let won = prize(&h, &m, "W1").await.expect("marked");
    assert_eq!((won.kind.as_str(), won.amount, won.period.as_str()), ("cloud", 2000, PERIOD));
    assert!(won.notified_at.is_some());
    let mobile_prize = prize(&h, &m, "W2").await.expect("marked");
    assert_eq!(mobile_prize.notified_at, None, "MOF tells a mobile-barcode winner");
    assert_eq!(prize(&h, &m, "W3").await, None);

    let mails = h.mails(&m).await;
    let told = of(&mails, "invoice_won");
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["to"], json!(["hua@example.com"]));
    let text = told[0]["text"].as_str().unwrap();
    let number = format!("{}-{}", &member[..2], &member[2..]);
    for fact in [number.as_str(), "2,000", "2027"] {
        assert!(text.contains(fact), "{fact} missing: {text}");
    }
    assert!(!text.contains("member#42"), "a full carrier id in the mail");
    let lists = of(&mails, "prizes_to_print");
    assert_eq!(lists.len(), 1, "{lists:?}");
    assert!(lists[0]["text"].as_str().unwrap().contains(&format!("{}-{}", &member[..2], &member[2..])));
    assert!(!lists[0]["text"].as_str().unwrap().contains(&format!("{}-{}", &mobile[..2], &mobile[2..])), "only what the shop prints");
    assert!(h.dead_letters().await.is_empty());
}

#[tokio::test]
async fn a_crash_between_the_mark_and_the_mails_is_finished_by_the_next_run_with_one_mail() {
    let h = start().await;
    h.set_now(ISSUED_AT);
    let m = h.invoicing_merchant(&["shipment"]).await;
    let member = invoiced(&h, &m, "C1", json!({"type": "member", "id": "member#42"})).await;
    publish(&h, json!([{"number": member, "kind": "sixth", "amount": 200}])).await;

    h.crash("invoice-prizes/after-prize-marked", 1).await;
    let crashed = h.fire("invoice-prizes", LIST_IN).await;
    assert_ne!(crashed.status, 200, "the run died: {:?}", crashed.body);
    assert!(prize(&h, &m, "C1").await.is_some(), "marked before the crash");
    assert!(of(&h.mails(&m).await, "invoice_won").is_empty());

    // The next run (the schedule's retry, or the next day) finishes it.
    assert_eq!(run(&h, NEXT_DAY).await["buyers_told"].as_u64(), Some(1));
    run(&h, NEXT_DAY).await;
    let mails = h.mails(&m).await;
    assert_eq!(of(&mails, "invoice_won").len(), 1);
    assert_eq!(of(&mails, "prizes_to_print").len(), 1);
}
