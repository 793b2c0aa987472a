//! Buyer notices (買受人通知) through the local stack: the buyer gets one mail per event —
//! `invoice_issued` once Wixtar accepted the upload, `invoice_voided`, `allowance_issued` —
//! however often the webhooks come; none with `buyer_notices` off; no full carrier id, no
//! credential in any of them.

use e2e_tests::{Harness, TEST_AES_KEY, TEST_RID, order, settings_body, start};
use serde_json::{Value, json};

const BUYER: &str = "hua@example.com";

/// The buyer's mails of a template, oldest first.
async fn buyer_mails(h: &Harness, m: &str, template: &str) -> Vec<Value> {
    h.mails(m).await.into_iter().filter(|mail| mail["template"] == template && mail["to"] == json!([BUYER])).collect()
}

async fn event(h: &Harness, m: &str, event_id: &str, order: &Value) -> Value {
    let r = h.order_event(m, event_id, order).await;
    assert!(r.status == 200 || r.status == 202, "{:?}", r.body);
    r.body
}

/// An invoice number as printed (`UA-00000057`).
fn printed(number: &str) -> String {
    format!("{}-{}", &number[..2], &number[2..])
}

fn clean(mails: &[Value]) {
    for mail in mails {
        let text = mail.to_string();
        for secret in [TEST_RID, TEST_AES_KEY, "/ABC1234", "member#42"] {
            assert!(!text.contains(secret), "{secret} in a mail: {text}");
        }
    }
}

#[tokio::test]
async fn an_uploaded_invoice_tells_the_buyer_once_however_often_the_webhook_comes() {
    let h = start().await;
    let m = h.invoicing_merchant(&["shipment"]).await;
    let mut o = order("N1", "paid", "shipped", "tcat");
    o["buyer"]["carrier"] = json!({"type": "mobile", "id": "/ABC1234"});
    assert_eq!(event(&h, &m, "ship", &o).await["invoice"]["status"], "uploaded");
    for repeat in ["ship", "ship-again", "ship"] {
        assert_eq!(event(&h, &m, repeat, &o).await["invoice"]["status"], "uploaded");
    }
    let view = h.invoice(&m, "N1").await.body;
    let mails = buyer_mails(&h, &m, "invoice_issued").await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    let text = mails[0]["text"].as_str().unwrap();
    let number = printed(view["number"].as_str().unwrap());
    for fact in [number.as_str(), view["random_code"].as_str().unwrap(), "04595257", "1,050", "******34"] {
        assert!(text.contains(fact), "{fact} missing from: {text}");
    }
    clean(&mails);
}

#[tokio::test]
async fn a_void_and_an_allowance_are_each_told_once() {
    let h = start().await;
    let m = h.invoicing_merchant(&["shipment"]).await;
    // Voided while its period is open.
    assert_eq!(event(&h, &m, "ship-v", &order("V1", "paid", "shipped", "tcat")).await["invoice"]["status"], "uploaded");
    let mut cancelled = order("V1", "paid", "shipped", "tcat");
    cancelled["cancelled"] = json!(true);
    for id in ["cancel", "cancel", "cancel-again"] {
        assert_eq!(event(&h, &m, id, &cancelled).await["invoice"]["status"], "void");
    }
    let voided = buyer_mails(&h, &m, "invoice_voided").await;
    assert_eq!(voided.len(), 1, "{voided:?}");
    assert!(voided[0]["text"].as_str().unwrap().contains(&printed(h.invoice(&m, "V1").await.body["number"].as_str().unwrap())));

    // A partial refund: one allowance of 300.
    assert_eq!(event(&h, &m, "ship-a", &order("A1", "paid", "shipped", "tcat")).await["invoice"]["status"], "uploaded");
    let mut refunded = order("A1", "paid", "received", "tcat");
    refunded["refunded_amount"] = json!(300);
    for id in ["refund-300", "refund-300"] {
        event(&h, &m, id, &refunded).await;
    }
    let allowances = buyer_mails(&h, &m, "allowance_issued").await;
    assert_eq!(allowances.len(), 1, "{allowances:?}");
    assert!(allowances[0]["text"].as_str().unwrap().contains("300"));
    assert_eq!(buyer_mails(&h, &m, "invoice_issued").await.len(), 2, "one per invoice");
    clean(&h.mails(&m).await);
    assert!(h.dead_letters().await.is_empty());
}

#[tokio::test]
async fn buyer_notices_off_mails_the_buyer_nothing() {
    let h = start().await;
    let m = h.invoicing_merchant(&["shipment"]).await;
    let mut body = settings_body();
    body["issue_on"] = json!(["shipment"]);
    body["buyer_notices"] = json!(false);
    let r = h.save_settings(&m, &body).await;
    assert_eq!((r.status, r.body["buyer_notices"].as_bool()), (200, Some(false)), "{:?}", r.body);
    assert_eq!(event(&h, &m, "ship", &order("Q1", "paid", "shipped", "tcat")).await["invoice"]["status"], "uploaded");
    let mut cancelled = order("Q1", "paid", "shipped", "tcat");
    cancelled["cancelled"] = json!(true);
    assert_eq!(event(&h, &m, "cancel", &cancelled).await["invoice"]["status"], "void");
    let to_buyer: Vec<Value> = h.mails(&m).await.into_iter().filter(|mail| mail["to"] == json!([BUYER])).collect();
    assert!(to_buyer.is_empty(), "{to_buyer:?}");
    // The setting reads back, and a save without it turns notices on (the default).
    assert_eq!(h.settings(&m).await.body["buyer_notices"], false);
}
