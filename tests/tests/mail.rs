//! Merchant e-mails (通知信) end to end: every `MerchantNotification` the functions publish is
//! delivered to the notifier by the template's rule, sent through SES (moto) once per event, and
//! listed by `GET /_local/mail` from what moto accepted.

use e2e_tests::{checkout, merchant, start};
use einvoice_adapters::events::{DomainEvent, EventPublisher};
use einvoice_adapters::mail::{MailClaim, MailItem};
use einvoice_adapters::store::MailLedger;
use local_stack::calls::AwsCalls;
use serde_json::{Value, json};

const CONTACT: &str = "ming@example.com.tw";
const INVOICE_EMAIL: &str = "ap@example.com.tw";

/// No template syntax, unfilled value or secret in any part of any mail.
fn assert_clean(mails: &[Value], secrets: &[&str]) {
    for mail in mails {
        for part in ["subject", "text", "html"] {
            let text = mail[part].as_str().unwrap_or_else(|| panic!("{part} missing: {mail}"));
            assert!(!text.is_empty(), "{part} empty");
            for left in ["{", "}", "{{", "{%", "None", "null"] {
                assert!(!text.contains(left), "{left:?} left in the {part}: {text}");
            }
            for secret in secrets {
                assert!(!text.contains(secret), "{secret} in the {part}");
            }
        }
    }
}

fn templates(mails: &[Value]) -> Vec<&str> {
    mails.iter().map(|m| m["template"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn a_paid_purchase_mails_the_contact_once_with_wixtar_contact_details() {
    let h = start().await;
    let m = merchant();
    h.stack.aws_calls.take();
    let order = h.buy(&m, 12, "2026-01-31T10:00:00+08:00").await;
    // The event names the contact: claim and mark sent, no read.
    assert_eq!(AwsCalls::count(&h.stack.aws_calls.take(), "NotifierFunction", "DynamoDB"), 2);

    let mails = h.mails(&m).await;
    assert_eq!(templates(&mails), ["wixtar_purchase_confirmation"], "{mails:?}");
    let mail = &mails[0];
    assert_eq!(mail["to"], json!([CONTACT]));
    assert_eq!(mail["event_id"], format!("{order}:wixtar_purchase_confirmation"));
    let text = mail["text"].as_str().unwrap();
    for fact in
        ["王小明 您好", "02-2711-9528 #240", "service@wixtar.com", "https://www.wixtar.com/product/e-invoice", "2026年1月31日 至 2027年3月30日", "NT$6,000"]
    {
        assert!(text.contains(fact), "{fact} missing:\n{text}");
    }
    assert!(mail["subject"].as_str().unwrap().contains("購買完成"));

    // The gateway repeats its callback: nothing is published again, nothing is sent again.
    assert_eq!(h.pay(&order, "2026-01-31T10:00:00+08:00").await.status, 200);
    // EventBridge delivers the same event twice (at least once): the send record stops it.
    let event = h.stack.publisher.published().into_iter().find(|e| e.detail_type == "MerchantNotification" && e.detail["merchant_id"] == m.as_str()).unwrap();
    h.stack.publisher.publish(&[event]).await.unwrap();
    let mails = h.mails(&m).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_clean(&mails, &[]);
}

#[tokio::test]
async fn a_renewal_bought_at_checkout_is_confirmed_by_mail() {
    let h = start().await;
    let m = merchant();
    h.buy(&m, 12, "2026-01-31T10:00:00+08:00").await;
    let renewal = h.checkout(&m, &checkout(3, "atm", false)).await;
    assert_eq!(renewal.status, 201, "{:?}", renewal.body);
    assert_eq!(h.pay(renewal.body["order_id"].as_str().unwrap(), "2026-02-10T10:00:00+08:00").await.status, 200);
    let mails = h.mails(&m).await;
    assert_eq!(templates(&mails), ["wixtar_purchase_confirmation", "wixtar_renewal_confirmation"]);
    assert!(mails[1]["text"].as_str().unwrap().contains("2027年6月29日"), "{}", mails[1]["text"]);
    assert_clean(&mails, &[]);
}

#[tokio::test]
async fn the_cutoff_run_twice_on_t14_mails_one_lock_notice_naming_the_charge_day() {
    let h = start().await;
    let m = merchant();
    h.subscribe(&m, 3, "2026-09-01T10:00:00+08:00").await; // expires 2026-12-31: T-15 12-16, T-10 12-21
    h.stack.aws_calls.take();
    for _ in 0..2 {
        let run = h.fire("renewal-cutoff", "2026-12-17T00:05:00+08:00").await;
        assert_eq!(run.status, 200, "{:?}", run.body);
    }
    // One lock notice: the contact looked up (one Query), claimed, marked sent.
    assert_eq!(AwsCalls::count(&h.stack.aws_calls.take(), "NotifierFunction", "DynamoDB"), 3);
    let mails = h.mails(&m).await;
    let locked: Vec<&Value> = mails.iter().filter(|m| m["template"] == "auto_renew_locked").collect();
    assert_eq!(locked.len(), 1, "{mails:?}");
    let mail = locked[0];
    // The renewal jobs do not hold the contact: the notifier finds it on the paid plan order.
    assert_eq!(mail["to"], json!([CONTACT]));
    let text = mail["text"].as_str().unwrap();
    for fact in ["扣款日 2026年12月21日", "扣款金額 NT$1,800", "3 個月", "末四碼 4242", "2026年12月31日"] {
        assert!(text.contains(fact), "{fact} missing:\n{text}");
    }
    assert!(mail["subject"].as_str().unwrap().contains("2026年12月21日"));
    assert_clean(&mails, &[&format!("tok-{m}")]);
}

#[tokio::test]
async fn a_declined_charge_mails_when_the_next_try_is() {
    let h = start().await;
    let m = merchant();
    h.subscribe(&m, 3, "2026-09-01T10:00:00+08:00").await;
    h.card_behaviour(&format!("tok-{m}"), true, false).await;
    let run = h.fire("renewal-charge", "2026-12-21T00:10:00+08:00").await;
    assert_eq!(run.body["declined"], 1, "{:?}", run.body);
    let mails = h.mails(&m).await;
    let declined: Vec<&Value> = mails.iter().filter(|m| m["template"] == "auto_renew_declined").collect();
    assert_eq!(declined.len(), 1, "{mails:?}");
    let text = declined[0]["text"].as_str().unwrap();
    for fact in ["第 1 次", "下次扣款日 2026年12月24日", "請於 2026年12月24日 前至「付款設定」更換信用卡", "NT$1,800", "末四碼 4242"]
    {
        assert!(text.contains(fact), "{fact} missing:\n{text}");
    }
    // The card passes on T-7: the success is mailed too, each once.
    h.card_behaviour(&format!("tok-{m}"), false, false).await;
    assert_eq!(h.fire("renewal-charge", "2026-12-24T00:10:00+08:00").await.body["charged"], 1);
    assert_eq!(h.fire("renewal-charge", "2026-12-24T00:10:00+08:00").await.body["charged"], 0);
    let mails = h.mails(&m).await;
    assert_eq!(templates(&mails), ["wixtar_purchase_confirmation", "auto_renew_declined", "auto_renew_succeeded"]);
    assert!(mails[2]["text"].as_str().unwrap().contains("至 2027年3月31日"));
    assert_clean(&mails, &[&format!("tok-{m}")]);
}

#[tokio::test]
async fn running_out_of_invoice_numbers_mails_the_contact_and_the_invoice_address() {
    let h = start().await;
    let m = h.invoicing_merchant(&["shipment"]).await;
    assert_eq!(h.c.admin_post(&format!("{}/_sim/ranges", h.stack.wixtar.url()), &json!({"ubn": "04595257", "books": 0})).await, 204);
    let order = e2e_tests::order("A1001", "paid", "shipped", "tcat");
    let r = h.order_event(&m, "ev-1", &order).await;
    assert_eq!(r.body["invoice"]["status"], "no_invoice_numbers", "{:?}", r.body);
    let mails = h.mails(&m).await;
    let mail = mails.iter().find(|m| m["template"] == "no_invoice_numbers").expect("a no_invoice_numbers mail");
    assert_eq!(mail["to"], json!([CONTACT, INVOICE_EMAIL]));
    assert!(mail["text"].as_str().unwrap().contains("美麗科技加值中心新增字軌"));
    assert_clean(&mails, &[e2e_tests::TEST_RID, e2e_tests::TEST_AES_KEY]);
    // Each recipient finds it under its own address (any case), nobody else does.
    for address in [INVOICE_EMAIL.to_uppercase(), CONTACT.to_owned()] {
        let theirs = h.mails_to(&address).await;
        assert!(theirs.iter().any(|m| m["event_id"] == mail["event_id"]), "{address}: {theirs:?}");
    }
    assert!(h.mails_to("someone-else@example.com").await.is_empty());
    assert_eq!(h.local_list(&format!("/_local/mail?merchant_id={m}&limit=1")).await.len(), 1);
}

/// The send record decides: a claim that a crashed delivery left is taken over once its lease
/// ran out (the mail is not lost); while it holds, the delivery fails and is retried later (the
/// mail is not doubled).
#[tokio::test]
async fn a_crashed_send_is_finished_once_after_its_lease() {
    let h = start().await;
    let m = merchant();
    h.buy(&m, 12, "2026-01-31T10:00:00+08:00").await;
    h.set_now("2026-03-01T09:00:00+08:00");
    let now = e2e_tests::at("2026-03-01T09:00:00+08:00");
    let store = h.stack.store();
    let event_id = format!("{m}:renewal-locked:2027-03-30");
    // A delivery claimed the mail and died before SES answered: its lease holds for 45 s.
    let crashed = MailItem::claim(&event_id, &m, "auto_renew_locked", &[CONTACT.to_owned()], "…", now, now + chrono::Duration::seconds(45));
    assert_eq!(store.claim_mail(&crashed, now).await.unwrap(), MailClaim::Claimed);

    let event = DomainEvent::new(
        "MerchantNotification",
        json!({"event_id": event_id, "merchant_id": m, "channel": "email", "template": "auto_renew_locked", "cycle": "2027-03-30",
               "locked_from": "2027-03-16", "charge_on": "2027-03-20", "months": 12, "amount": 6000, "currency": "TWD", "card_last4": "4242"}),
    );
    h.stack.publisher.publish(std::slice::from_ref(&event)).await.unwrap();
    assert!(h.mails(&m).await.iter().all(|m| m["template"] != "auto_renew_locked"), "sent while another delivery held the claim");
    // The delivery that found the claim held is retried as Lambda would, not dead-lettered.
    assert!(h.dead_letters().await.is_empty());
    assert_eq!(h.stack.publisher.retries_pending(), 1);

    // A minute later the retry takes over and sends it, once; a later delivery sends nothing.
    h.set_now("2026-03-01T09:01:00+08:00");
    h.stack.publisher.run_due_retries().await;
    for _ in 0..100 {
        if h.mails(&m).await.iter().any(|m| m["template"] == "auto_renew_locked") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    h.stack.publisher.publish(&[event]).await.unwrap();
    assert!(h.dead_letters().await.is_empty());
    let locked: Vec<Value> = h.mails(&m).await.into_iter().filter(|m| m["template"] == "auto_renew_locked").collect();
    assert_eq!(locked.len(), 1, "{locked:?}");
    let record = store.mail_records().await.unwrap().into_iter().find(|r| r.event_id == event_id).unwrap();
    assert_eq!((record.status.as_str(), record.attempts, record.lease_until), ("sent", 2, None));
    assert_eq!(record.message_id.as_ref(), locked[0]["message_id"].as_str().map(str::to_owned).as_ref());
}

#[tokio::test]
async fn a_notification_without_any_known_address_is_dead_lettered() {
    let h = start().await;
    let m = merchant(); // nothing paid: no contact anywhere
    let event = DomainEvent::new(
        "MerchantNotification",
        json!({"event_id": format!("{m}:x"), "merchant_id": m, "channel": "email",
        "template": "auto_renew_suspended", "cycle": "2027-03-30", "attempt": 0, "reason": "card_not_bound"}),
    );
    h.set_now("2026-03-01T09:00:00+08:00");
    h.stack.publisher.publish(&[event]).await.unwrap();
    // As Lambda: the failed invocation is retried after about 1 and 2 more minutes, then
    // dead-lettered.
    for (now, letters, pending) in [("2026-03-01T09:00:59+08:00", 0, 1), ("2026-03-01T09:01:00+08:00", 0, 1), ("2026-03-01T09:03:00+08:00", 1, 0)] {
        h.set_now(now);
        h.stack.publisher.run_due_retries().await;
        // The stack's own retry runner may be running the retry: wait for where it ends.
        let mut listed = Vec::new();
        for _ in 0..100 {
            listed = h.dead_letters().await;
            if listed.len() == letters && h.stack.publisher.retries_pending() == pending {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!((listed.len(), h.stack.publisher.retries_pending()), (letters, pending), "at {now}: {listed:?}");
    }
    let letters = h.c.admin_get(&format!("{}/_local/dead-letters", h.stack.url())).await;
    assert_eq!(letters.as_array().unwrap().len(), 1);
    assert_eq!(letters[0]["function"], "NotifierFunction");
    assert!(letters[0]["error"].as_str().unwrap().contains("no e-mail address"), "{letters}");
    assert!(h.mails(&m).await.is_empty());
    // The filters of the lists: by merchant, by detail type, the newest N.
    let mine = format!("/_local/dead-letters?merchant_id={m}&detail_type=MerchantNotification&limit=5");
    assert_eq!(h.local_list(&mine).await.len(), 1);
    assert!(h.local_list("/_local/dead-letters?merchant_id=someone-else").await.is_empty());
    assert!(h.local_list(&format!("/_local/dead-letters?merchant_id={m}&detail_type=InvoiceRequested")).await.is_empty());
    assert_eq!(h.local_list(&format!("/_local/events?merchant_id={m}&detail_type=MerchantNotification")).await.len(), 1);
    assert!(h.local_list(&format!("/_local/events?merchant_id={m}&limit=0")).await.is_empty());
    for bad in ["/_local/events?limit=many", "/_local/dead-letters?merchant=x", "/_local/mail?limit=-1"] {
        let r = h.c.http.get(format!("{}{bad}", h.stack.url())).send().await.unwrap();
        assert_eq!(r.status(), 400, "{bad}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_query", "{bad}: {body}");
    }
}
