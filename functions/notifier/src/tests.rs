//! The notifier's decisions: SES retries in isolation, then the handler over the in-memory ports
//! (`einvoice_adapters::testing`): what tests/tests/mail.rs drives end to end, without moto. The
//! rule that routes events here and the real SES call stay end to end.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use chrono::{DateTime, Utc};
use einvoice_adapters::config::WixtarContact;
use einvoice_adapters::mail::MailStatus;
use einvoice_adapters::testing::{FakeMailer, MemoryStore};
use einvoice_domain::FixedClock;

use super::*;
use serde_json::json;

const FAST: SendPolicy = SendPolicy { max_attempts: 4, base_delay: Duration::from_millis(1) };

async fn run(failures: Vec<MailError>) -> ((Result<String, MailError>, u32), u32) {
    let calls = AtomicU32::new(0);
    let outcome = send_with_retries(FAST, || {
        let n = calls.fetch_add(1, Ordering::SeqCst) as usize;
        let result = failures.get(n).cloned().map_or_else(|| Ok(format!("msg-{n}")), Err);
        async move { result }
    })
    .await;
    (outcome, calls.load(Ordering::SeqCst))
}

#[tokio::test]
async fn throttling_is_retried_until_it_passes() {
    let throttled = || MailError::Throttled("TooManyRequestsException".into());
    let ((outcome, attempts), calls) = run(vec![throttled(), throttled()]).await;
    assert_eq!((outcome, attempts, calls), (Ok("msg-2".into()), 3, 3));
}

#[tokio::test]
async fn retries_are_bounded() {
    let ((outcome, attempts), calls) = run(vec![MailError::Unavailable("503".into()); 10]).await;
    assert_eq!((outcome, attempts, calls), (Err(MailError::Unavailable("503".into())), 4, 4));
}

#[tokio::test]
async fn a_refusal_is_not_retried() {
    let ((outcome, attempts), _) = run(vec![MailError::Rejected("MessageRejected".into())]).await;
    assert_eq!((outcome, attempts), (Err(MailError::Rejected("MessageRejected".into())), 1));
}

#[test]
fn backoff_doubles_and_is_capped() {
    let p = SendPolicy { max_attempts: 5, base_delay: Duration::from_millis(200) };
    let caps: Vec<u128> = [1, 2, 3, 4, 30].iter().map(|n| p.backoff_cap(*n).as_millis()).collect();
    assert_eq!(caps, [200, 400, 800, 1600, 204_800]);
}

#[test]
fn addresses() {
    assert!(plausible_address("ming@example.com.tw"));
    for bad in ["", "ming", "@example.com", "ming@", "a@b@c", "ming @example.com", "ming@example.com\r\nBcc: x@y"] {
        assert!(!plausible_address(bad), "{bad:?}");
    }
}

// ---- the handler over fakes: the send ledger in memory, SES in memory, a fixed clock ----

const CONTACT: &str = "ming@example.com.tw";
const INVOICE_EMAIL: &str = "ap@example.com.tw";
const M: &str = "m-1";
const LOCK_ID: &str = "m-1:renewal-locked:2026-12-31";
const LOCK_SUBJECT: &str = "【美麗科技電子發票】自動續約將於 2026年12月21日 扣款 NT$1,800";

fn at(time: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(time).expect("a time").to_utc()
}

/// When the deliveries happen: the renewal-cutoff run that locks 2026-12-31.
fn now() -> DateTime<Utc> {
    at("2026-12-17T00:05:00+08:00")
}

/// A notification as its publisher writes it (`detail` without the common fields).
fn event(event_id: &str, template: &str, mut detail: Value) -> DomainEvent {
    detail["event_id"] = event_id.into();
    detail["merchant_id"] = M.into();
    detail["channel"] = "email".into();
    detail["template"] = template.into();
    DomainEvent::new("MerchantNotification", detail)
}

/// The renewal-cutoff's lock notice of 2026-12-31 (no `to`: the notifier finds the contact).
fn lock_notice() -> DomainEvent {
    event(
        LOCK_ID,
        "auto_renew_locked",
        json!({"cycle": "2026-12-31", "locked_from": "2026-12-17", "charge_on": "2026-12-21", "months": 3, "amount": 1800,
               "currency": "TWD", "card_last4": "4242"}),
    )
}

/// A card checkout order of `M` as the table stores it, in `status`, paid at `paid_at` if paid.
fn plan_order(order_id: &str, status: PlanOrderStatus, paid_at: Option<&str>, contact: Value, company: Value) -> PlanOrderItem {
    let item = json!({
        "pk": format!("MERCHANT#{M}"), "sk": format!("PLANORDER#{order_id}"), "entity": "plan_order", "order_id": order_id, "merchant_id": M,
        "kind": "purchase", "ubn": "04595257", "months": 12, "bonus_months": 2, "amount": 6000, "currency": "TWD", "payment_method": "card",
        "auto_renew": true, "status": status, "contact": contact, "company": company, "created_at": "2026-01-31T02:00:00Z",
        "paid_at": paid_at.map(at), "payment": {"method": "card", "card_token": "tok-SECRET-4111111111111111"},
    });
    serde_json::from_value(item).expect("a plan order")
}

fn contact(name: &str, email: &str) -> Value {
    json!({"name": name, "email": email, "phone": "0912-345-678"})
}

fn company(invoice_email: &str) -> Value {
    json!({"name": "小明商行有限公司", "ubn": "04595257", "address": "台北市中山區南京東路一段1號", "invoice_email": invoice_email})
}

struct World {
    store: MemoryStore,
    mailer: Arc<FakeMailer>,
    clock: Arc<FixedClock>,
    notifier: Arc<Notifier>,
}

impl World {
    /// SES retries: `max_attempts` tries, 1 ms apart at first.
    fn with_policy(policy: SendPolicy) -> Self {
        let (store, mailer, clock) = (MemoryStore::new(), Arc::new(FakeMailer::new()), Arc::new(FixedClock::at(now())));
        let config = Config { table_name: "unused".into(), mail_from: "noreply@example.com".into(), send: policy };
        let deps = Dependencies { store: Arc::new(store.clone()), mailer: mailer.clone(), clock: clock.clone() };
        Self { store, mailer, clock, notifier: Arc::new(Notifier::new(&config, deps)) }
    }

    fn new() -> Self {
        Self::with_policy(SendPolicy { max_attempts: 3, base_delay: Duration::from_millis(1) })
    }

    /// `M` paid its first purchase: contact 王小明 <CONTACT>, invoices to INVOICE_EMAIL.
    async fn paid() -> Self {
        let w = Self::new();
        w.order(plan_order("po_1", PlanOrderStatus::Paid, Some("2026-01-31T10:00:00+08:00"), contact("王小明", CONTACT), company(INVOICE_EMAIL))).await;
        w
    }

    async fn order(&self, order: PlanOrderItem) {
        self.store.create_plan_order(&order, None).await.expect("a new order");
    }

    async fn deliver(&self, event: &DomainEvent) -> Result<Value, JobError> {
        self.notifier.handle(event).await
    }

    fn sent(&self) -> Vec<OutgoingMail> {
        self.mailer.sent().into_iter().map(|(_, mail)| mail).collect()
    }

    async fn record(&self, event_id: &str) -> Option<MailItem> {
        self.store.mail_record(event_id).await.unwrap()
    }

    fn later(&self, seconds: i64) {
        self.clock.set(Some(now() + chrono::Duration::seconds(seconds)));
    }
}

/// The record of a mail SES accepted as `message_id`, claimed `attempts` times, the first at
/// `now()` and the last by a delivery at `sent_at`.
fn sent_record(message_id: &str, attempts: u32, sent_at: DateTime<Utc>) -> MailItem {
    let claim = MailItem::claim(LOCK_ID, M, "auto_renew_locked", &[CONTACT.to_owned()], LOCK_SUBJECT, now(), now() + CLAIM_LEASE);
    MailItem {
        status: MailStatus::Sent,
        attempts,
        lease_until: None,
        message_id: Some(message_id.into()),
        sent_at: Some(sent_at),
        updated_at: sent_at,
        ttl: (sent_at + chrono::Duration::days(einvoice_adapters::mail::RETENTION_DAYS)).timestamp(),
        ..claim
    }
}

fn message(e: JobError) -> String {
    e.0
}

#[tokio::test]
async fn one_mail_per_event_id_however_often_it_is_delivered() {
    let w = World::paid().await;
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        outcomes.push(w.deliver(&lock_notice()).await.expect("delivered"));
    }
    assert_eq!(
        outcomes,
        [
            json!({"result": "sent", "message_id": "msg-00001", "attempts": 1}),
            json!({"result": "duplicate", "message_id": "msg-00001"}),
            json!({"result": "duplicate", "message_id": "msg-00001"}),
        ]
    );
    let sent = w.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].to.as_slice(), sent[0].subject.as_str()), ([CONTACT.to_owned()].as_slice(), LOCK_SUBJECT));
    assert!(sent[0].text.starts_with("王小明 您好：\n\n您的自動續約即將扣款。"), "{}", sent[0].text);
    assert_eq!(w.record(LOCK_ID).await, Some(sent_record("msg-00001", 1, now())));
}

#[tokio::test]
async fn concurrent_deliveries_of_one_event_send_one_mail() {
    let w = World::paid().await;
    let mut deliveries = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let notifier = w.notifier.clone();
        deliveries.spawn(async move { notifier.handle(&lock_notice()).await });
    }
    let outcomes = deliveries.join_all().await;
    let count = |result: &str| outcomes.iter().filter(|o| o.as_ref().is_ok_and(|v| v["result"] == result)).count();
    let (sent, waited, duplicate) = (count("sent"), count("sent_by_another"), count("duplicate"));
    // A delivery that found the mail being sent waited for it: none failed (no dead letter).
    assert_eq!((sent, waited + duplicate), (1, 7), "{outcomes:?}");
    assert!(waited > 0, "no delivery overlapped the sending one: this test proves nothing");
    assert_eq!(w.sent().len(), 1);
    assert_eq!(w.record(LOCK_ID).await, Some(sent_record("msg-00001", 1, now())), "one claim taken");
}

// Paused: the deliveries that find the claim held wait for it (5 s) without the test waiting.
#[tokio::test(start_paused = true)]
async fn a_live_claim_is_busy_and_a_crashed_one_is_taken_over_after_its_lease() {
    let w = World::paid().await;
    // A delivery claimed the mail and died before SES answered: its lease holds 45 s.
    let crashed = MailItem::claim(LOCK_ID, M, "auto_renew_locked", &[CONTACT.to_owned()], "…", now(), now() + CLAIM_LEASE);
    assert_eq!(w.store.claim_mail(&crashed, now()).await.unwrap(), MailClaim::Claimed);

    let busy = "mail of m-1:renewal-locked:2026-12-31 is claimed by another delivery until 2026-12-16T16:05:45+00:00; retry later";
    for seconds in [0, 45] {
        w.later(seconds);
        assert_eq!(w.deliver(&lock_notice()).await.map_err(message), Err(busy.to_owned()), "{seconds} s after the claim");
    }
    assert!(w.sent().is_empty(), "sent while another delivery held the claim");

    // Lambda's retry a minute later takes over and sends it, once.
    w.later(60);
    assert_eq!(w.deliver(&lock_notice()).await.expect("sent")["result"], "sent");
    assert_eq!(w.deliver(&lock_notice()).await.expect("a duplicate")["result"], "duplicate");
    assert_eq!(w.sent().len(), 1);
    let taken_over = now() + chrono::Duration::seconds(60);
    assert_eq!(w.record(LOCK_ID).await, Some(sent_record("msg-00001", 2, taken_over)), "the claim was taken over: 2 claims, the real subject");
}

#[tokio::test(start_paused = true)]
async fn throttling_and_outages_of_ses_are_retried_with_backoff() {
    // Long pauses on a paused clock: the test measures them without waiting.
    let w = World::with_policy(SendPolicy { max_attempts: 3, base_delay: Duration::from_secs(10) });
    w.order(plan_order("po_1", PlanOrderStatus::Paid, Some("2026-01-31T10:00:00+08:00"), contact("王小明", CONTACT), company(INVOICE_EMAIL))).await;
    w.mailer.fail_with([MailError::Throttled("TooManyRequestsException".into()), MailError::Unavailable("503".into())]);
    let started = tokio::time::Instant::now();
    let outcome = w.deliver(&lock_notice()).await.expect("sent on the third try");
    let paused = started.elapsed();
    assert_eq!(outcome, json!({"result": "sent", "message_id": "msg-00001", "attempts": 3}));
    assert!(paused > Duration::ZERO && paused <= Duration::from_secs(10 + 20), "paused {paused:?}: up to 10 s, then up to 20 s");
    assert_eq!(w.sent().len(), 1);
    assert_eq!(w.record(LOCK_ID).await.map(|r| (r.status, r.attempts)), Some((MailStatus::Sent, 1)), "one claim");
}

#[tokio::test]
async fn ses_still_unavailable_after_the_retries_fails_the_delivery_and_the_next_one_sends() {
    let w = World::paid().await;
    w.mailer.fail_with(vec![MailError::Unavailable("503".into()); 3]);
    assert_eq!(w.deliver(&lock_notice()).await.map_err(message), Err("SES unavailable: 503".to_owned()));
    assert!(w.sent().is_empty());
    let failed = w.record(LOCK_ID).await.expect("a record");
    assert_eq!(
        (failed.status, failed.attempts, failed.lease_until, failed.last_error.as_deref(), failed.message_id),
        (MailStatus::Failed, 1, None, Some("SES unavailable: 503"), None),
        "the lease is dropped so that the next delivery need not wait"
    );
    // Lambda delivers the event again at once: it claims the failed record and sends.
    assert_eq!(w.deliver(&lock_notice()).await.expect("sent")["result"], "sent");
    assert_eq!(w.sent().len(), 1);
    let record = w.record(LOCK_ID).await.expect("a record");
    assert_eq!((record.status, record.attempts, record.last_error), (MailStatus::Sent, 2, None));
}

#[tokio::test]
async fn a_rejected_mail_is_not_retried_within_the_delivery() {
    let w = World::paid().await;
    w.mailer.fail_with([MailError::Rejected("MessageRejected: Email address is not verified.".into())]);
    let refused = "SES refused the mail: MessageRejected: Email address is not verified.";
    assert_eq!(w.deliver(&lock_notice()).await.map_err(message), Err(refused.to_owned()));
    assert!(w.sent().is_empty(), "a retry within the delivery would have sent it");
    let record = w.record(LOCK_ID).await.expect("a record");
    assert_eq!((record.status, record.attempts, record.last_error.as_deref()), (MailStatus::Failed, 1, Some(refused)));
}

#[tokio::test]
async fn each_notification_gets_its_template_subject_and_recipients() {
    let purchase = json!({"order_id": "po_1", "to": CONTACT, "contact_name": "王小明", "wixtar_contact": WixtarContact::default(),
                          "starts_on": "2026-01-31", "expires_on": "2027-03-30", "months": 12, "bonus_months": 2, "amount": 6000});
    let cases = [
        ("wixtar_purchase_confirmation", purchase.clone(), "方案購買完成，美麗科技將與您聯繫開通（使用期限至 2027年3月30日）", vec![CONTACT]),
        ("wixtar_renewal_confirmation", purchase, "方案續購完成，使用期限延長至 2027年3月30日", vec![CONTACT]),
        ("auto_renew_locked", lock_notice().detail, "自動續約將於 2026年12月21日 扣款 NT$1,800", vec![CONTACT]),
        (
            "auto_renew_succeeded",
            json!({"months": 3, "amount": 1800, "currency": "TWD", "expires_on": "2027-03-31", "card_last4": "4242"}),
            "自動續約扣款成功，使用期限延長至 2027年3月31日",
            vec![CONTACT],
        ),
        (
            "auto_renew_declined",
            json!({"cycle": "2026-12-31", "attempt": 1, "next_attempt_on": "2026-12-24", "amount": 1800, "currency": "TWD", "card_last4": "4242"}),
            "自動續約扣款失敗，將於 2026年12月24日 再次扣款",
            vec![CONTACT],
        ),
        (
            "auto_renew_suspended",
            json!({"cycle": "2026-12-31", "attempt": 4, "reason": "declined", "expires_on": "2026-12-31", "card_last4": "4242"}),
            "自動續約已暫停",
            vec![CONTACT],
        ),
        ("no_invoice_numbers", json!({"period": "11512", "order_id": "A1001"}), "電子發票字軌已用完，請儘速新增", vec![CONTACT, INVOICE_EMAIL]),
    ];
    let w = World::paid().await;
    for (template, detail, subject, to) in cases {
        let id = format!("ev-{template}");
        assert_eq!(w.deliver(&event(&id, template, detail)).await.expect("sent")["result"], "sent", "{template}");
        let mail = w.sent().pop().expect("a mail");
        assert_eq!((mail.subject, mail.to), (format!("【美麗科技電子發票】{subject}"), to.iter().map(|a| a.to_string()).collect::<Vec<_>>()), "{template}");
        let record = w.record(&id).await.expect("a record");
        assert_eq!((record.template.as_str(), record.status), (template, MailStatus::Sent));
    }
    assert_eq!(w.sent().len(), 7);

    // A template the notifier does not know is refused, and nothing is claimed or sent.
    let unknown = w.deliver(&event("ev-birthday", "birthday", json!({}))).await.map_err(message).unwrap_err();
    assert!(unknown.starts_with("MerchantNotification is not a notification the notifier knows: "), "{unknown}");
    assert_eq!((w.record("ev-birthday").await, w.sent().len()), (None, 7));
}

#[tokio::test]
async fn no_secret_or_token_reaches_a_mail() {
    let w = World::paid().await;
    let secrets = ["tok-SECRET-4111111111111111", "4111111111111111", "Rid-9f3e7c1a-SECRET", "9a8b7c6d5e4f30211203f4e5d6c7b8a9"];
    let mut suspended = event(
        "ev-suspended",
        "auto_renew_suspended",
        json!({"cycle": "2026-12-31", "attempt": 1, "reason": "declined_hard", "expires_on": "2026-12-31", "card_last4": "4111111111111111"}),
    );
    // What a careless publisher might add: the notifier never renders what it does not know.
    suspended.detail["card_token"] = secrets[0].into();
    suspended.detail["rid"] = secrets[2].into();
    suspended.detail["aes_key"] = secrets[3].into();
    let mut locked = lock_notice();
    locked.detail["card_token"] = secrets[0].into();
    for e in [suspended, locked] {
        assert_eq!(w.deliver(&e).await.expect("sent")["result"], "sent");
    }
    for mail in w.sent() {
        for (part, text) in [("subject", &mail.subject), ("text", &mail.text), ("html", &mail.html)] {
            for leak in secrets.iter().chain(&["{", "}", "None", "null"]) {
                assert!(!text.contains(leak), "{leak:?} in the {part}: {text}");
            }
        }
    }
    assert!(w.sent()[0].text.contains("您綁定的信用卡"), "a card number is not a last 4: named without it");
}

#[tokio::test]
async fn the_contact_is_the_latest_paid_order_that_names_one() {
    let w = World::new();
    let paid = PlanOrderStatus::Paid;
    w.order(plan_order("po_old", paid, Some("2026-01-31T10:00:00+08:00"), contact("陳舊", "old@example.com.tw"), company("old-ap@example.com.tw"))).await;
    w.order(plan_order("po_new", paid, Some("2026-06-01T10:00:00+08:00"), contact("王小明", CONTACT), company(INVOICE_EMAIL))).await;
    w.order(plan_order("po_pending", PlanOrderStatus::PendingPayment, None, contact("待付", "pending@example.com.tw"), company("x@example.com.tw"))).await;
    w.order(plan_order("po_failed", PlanOrderStatus::Failed, None, contact("失敗", "failed@example.com.tw"), company("y@example.com.tw"))).await;
    // The renewal-charge job's order is the latest paid one, and names no contact.
    w.order(PlanOrderItem { kind: "renewal".into(), ..plan_order("po_renewal", paid, Some("2026-12-21T00:10:00+08:00"), json!({}), json!({})) }).await;

    assert_eq!(w.deliver(&lock_notice()).await.expect("sent")["result"], "sent");
    let mail = w.sent().pop().expect("a mail");
    assert_eq!(mail.to, [CONTACT]);
    assert!(mail.text.starts_with("王小明 您好："), "{}", mail.text);
    // Mails about invoices also go to the company's invoice address.
    assert_eq!(w.deliver(&event("ev-numbers", "no_invoice_numbers", json!({"period": "11512"}))).await.expect("sent")["result"], "sent");
    assert_eq!(w.sent().pop().expect("a mail").to, [CONTACT, INVOICE_EMAIL]);
}

#[tokio::test]
async fn the_events_own_recipients_are_used_once_each() {
    let w = World::paid().await;
    let mut e = event(
        "ev-purchase",
        "wixtar_purchase_confirmation",
        json!({"order_id": "po_2", "wixtar_contact": WixtarContact::default(), "expires_on": "2027-03-30", "contact_name": "林大華"}),
    );
    e.detail["to"] = json!([" Hua@Example.com.tw ", "hua@example.com.tw"]);
    assert_eq!(w.deliver(&e).await.expect("sent")["result"], "sent");
    let mail = w.sent().pop().expect("a mail");
    assert_eq!(mail.to, ["Hua@Example.com.tw"], "not the order's contact; the same address once");
    assert!(mail.text.starts_with("林大華 您好："), "{}", mail.text);

    e.detail["event_id"] = "ev-bad".into();
    e.detail["to"] = json!("hua@");
    assert_eq!(w.deliver(&e).await.map_err(message), Err("recipient \"hua@\" is not an e-mail address".to_owned()));
    assert_eq!(w.record("ev-bad").await, None, "nothing claimed");
}

#[tokio::test]
async fn a_merchant_without_any_known_address_is_not_mailed() {
    let w = World::new();
    w.order(plan_order("po_pending", PlanOrderStatus::PendingPayment, None, contact("待付", "pending@example.com.tw"), company(INVOICE_EMAIL))).await;
    let e = event("ev-x", "auto_renew_suspended", json!({"cycle": "2027-03-30", "attempt": 0, "reason": "card_not_bound"}));
    let error = w.deliver(&e).await.map_err(message);
    assert_eq!(error, Err("no e-mail address known for merchant m-1 (no `to`, no paid plan order)".to_owned()));
    assert_eq!((w.sent().len(), w.record("ev-x").await), (0, None));
}

// ---- buyer notices: to the buyer the event names, never the merchant's contact ----

const BUYER: &str = "buyer.chen@example.com";

fn buyer_invoice() -> Value {
    json!({"order_id": "A1001", "seller_name": "小明商行", "seller_ubn": "04595257", "number": "UA00000057",
           "issued_at": "2026-11-03T02:04:05Z"})
}

fn with(mut base: Value, more: Value) -> Value {
    base.as_object_mut().unwrap().extend(more.as_object().unwrap().clone());
    base
}

#[tokio::test]
async fn buyer_notices_go_to_the_buyer_alone_without_reading_merchant_data() {
    // A merchant with no contact known at all: the buyer's mail needs none.
    let w = World::new();
    let cases = [
        (
            "invoice_issued",
            with(buyer_invoice(), json!({"random_code": "0122", "total": 1050, "destination": {"kind": "paper"}})),
            "【小明商行】電子發票開立通知 UA-00000057",
        ),
        ("invoice_voided", with(buyer_invoice(), json!({"total": 1050, "voided_at": "2026-11-05T02:00:00Z"})), "【小明商行】電子發票作廢通知 UA-00000057"),
        (
            "allowance_issued",
            with(buyer_invoice(), json!({"allowance_number": "UA00000057-1", "amount": 300, "allowance_issued_at": "2026-11-20T02:00:00Z"})),
            "【小明商行】折讓通知 UA-00000057",
        ),
        ("invoice_won", with(buyer_invoice(), json!({"period": "11510", "kind": "sixth", "amount": 200})), "【小明商行】發票中獎通知（六獎） UA-00000057"),
    ];
    for (template, mut detail, subject) in cases {
        detail["to"] = BUYER.into();
        let id = format!("ev-{template}");
        assert_eq!(w.deliver(&event(&id, template, detail)).await.expect("sent")["result"], "sent", "{template}");
        let mail = w.sent().pop().expect("a mail");
        assert_eq!((mail.subject.as_str(), mail.to.as_slice()), (subject, [BUYER.to_owned()].as_slice()), "{template}");
        assert!(mail.text.starts_with("親愛的顧客您好："), "{}", mail.text);
        assert_eq!(w.record(&id).await.expect("a record").template, template);
    }
    // A merchant with a contact and an invoice e-mail: still the buyer alone.
    let w = World::paid().await;
    let mut detail = with(buyer_invoice(), json!({"total": 1050, "voided_at": "2026-11-05T02:00:00Z"}));
    detail["to"] = BUYER.into();
    assert_eq!(w.deliver(&event("ev-void", "invoice_voided", detail)).await.expect("sent")["result"], "sent");
    assert_eq!(w.sent().pop().expect("a mail").to, [BUYER]);
}

#[tokio::test]
async fn a_buyer_notice_without_the_buyers_address_is_not_sent_to_the_merchant() {
    let w = World::paid().await;
    let detail = with(buyer_invoice(), json!({"total": 1050, "voided_at": "2026-11-05T02:00:00Z"}));
    let error = w.deliver(&event("ev-void", "invoice_voided", detail.clone())).await.map_err(message);
    assert_eq!(error, Err("buyer notice ev-void names no buyer address (`to`)".to_owned()));
    // A malformed buyer address is reported masked.
    let mut bad = detail;
    bad["to"] = "chen.private@".into();
    let error = w.deliver(&event("ev-void-2", "invoice_voided", bad)).await.map_err(message).unwrap_err();
    assert!(error.contains("c***@") && !error.contains("chen.private"), "{error}");
    assert_eq!((w.sent().len(), w.record("ev-void").await, w.record("ev-void-2").await), (0, None, None));
}

#[tokio::test]
async fn prizes_to_print_go_to_the_merchants_contact() {
    let w = World::paid().await;
    let detail = json!({"period": "11510", "prizes": [{"order_id": "A1001", "number": "UA00000057", "kind": "first", "amount": 200000}]});
    assert_eq!(w.deliver(&event("ev-prizes", "prizes_to_print", detail)).await.expect("sent")["result"], "sent");
    let mail = w.sent().pop().expect("a mail");
    assert_eq!(mail.to, [CONTACT]);
    assert_eq!(mail.subject, "【美麗科技電子發票】115年09-10月 中獎發票 1 張，請列印中獎證明聯並寄送");
    assert!(mail.text.contains("UA-00000057") && mail.text.contains("A1001") && mail.text.contains("頭獎") && mail.text.contains("NT$200,000"));
}
