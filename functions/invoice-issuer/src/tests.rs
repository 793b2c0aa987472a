//! Unit tests of the invoice-issuer and the invoice-reconciler over the in-memory fakes
//! (`einvoice_adapters::testing`): no moto, no simulators.

use super::*;
use einvoice_adapters::wixtar::PosIdentity;
use std::time::Duration;

use chrono::{DateTime, Duration as Minutes, TimeZone, Utc};
use einvoice_adapters::contracts::DetailType;
use einvoice_adapters::crypto::MasterKeys;
use einvoice_adapters::numbers::fetch_range;
use einvoice_adapters::schedule::ScheduledJob;
use einvoice_adapters::secret::Secret;
use einvoice_adapters::settings::{CredentialCheck, SettingsItem};
use einvoice_adapters::store::SettingsStore;
use einvoice_adapters::store::contract::shop_order;
use einvoice_adapters::contracts::{Channel, Contract, InvoiceIssued, MerchantNotification, NoInvoiceNumbers, Template};
use einvoice_adapters::orders::{InvoiceStatus, UploadStatus};
use einvoice_adapters::store::{InvoiceStore, OrderStore};
use einvoice_adapters::stream::{BatchResponse, StreamEvent, StreamHandler, StreamRecord};
use einvoice_domain::upload_deadline;
use serde_json::json;
use einvoice_adapters::testing::{FakeWixtar, Fault, MemoryStore, RecordingBus, track_for};
use einvoice_domain::settings::{InvoiceSettingsWire, IssueTrigger};
use einvoice_domain::{FixedClock, OrderState};

use crate::reconciler::{InvoiceReconciler, ReconcilerConfig};

const MERCHANT: &str = "m-issuer";
const UBN: &str = "04595257";
/// Tries of one upload within an invocation.
const UPLOAD_ATTEMPTS: u32 = 2;

/// 2026-12-07 10:00 UTC: period 11512 (November–December of ROC year 115).
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 10, 0, 0).unwrap()
}

const PERIOD: &str = "11512";

/// The merchant's invoice settings (B2C, Wixtar credentials accepted).
fn invoice_settings() -> InvoiceSettings {
    let wire: InvoiceSettingsWire = serde_json::from_value(json!({
        "enabled": true, "provider": "wixtar", "show_at_checkout": true, "issue_on": ["shipment"],
        "credentials": {"ubn": UBN, "store_code": "S001", "pos_code": "P01", "pid": "PID-1",
            "rid": "RID-Secret-0001", "pname": "小明商行", "aes_key": "0123456789abcdef0123456789ABCDEF"}
    }))
    .expect("settings wire");
    wire.parse(None).expect("settings")
}

/// One merchant, its sealed settings, its fakes and a fixed clock.
struct World {
    store: MemoryStore,
    wixtar: Arc<FakeWixtar>,
    bus: Arc<RecordingBus>,
    clock: Arc<FixedClock>,
    keys_json: String,
    pos: PosIdentity,
}

impl World {
    async fn new() -> Self {
        Self::with_settings(invoice_settings()).await
    }

    async fn with_settings(settings: InvoiceSettings) -> Self {
        let keys_json = MasterKeys::generate_json("k1");
        let keys = MasterKeys::from_secret(&Secret::new(keys_json.clone())).expect("master keys");
        let store = MemoryStore::new();
        store.put_settings(&SettingsItem::seal(MERCHANT, &settings, &keys, CredentialCheck::Accepted, 1, t0())).await.expect("settings saved");
        Self {
            store,
            wixtar: Arc::new(FakeWixtar::new()),
            bus: Arc::new(RecordingBus::new()),
            clock: Arc::new(FixedClock::at(t0())),
            keys_json,
            pos: PosIdentity::from(&settings.credentials),
        }
    }

    /// The merchant's first book, fetched from Wixtar and stored, so that issuing calls Wixtar
    /// only to upload.
    async fn with_book(self) -> Self {
        assert!(fetch_range(&self.store, self.wixtar.as_ref(), &self.pos, MERCHANT, PERIOD, 1, t0()).await.expect("book fetched"));
        self
    }

    /// An issuer instance (its own number blocks) over the shared fakes.
    fn issuer(&self) -> InvoiceIssuer {
        let config = Config {
            table_name: "t".into(),
            event_bus_name: "b".into(),
            wixtar_api_url: "http://wixtar.invalid".into(),
            master_key_secret_id: "s".into(),
            upload: UploadPolicy { max_attempts: UPLOAD_ATTEMPTS, base_delay: Duration::from_millis(1) },
        };
        InvoiceIssuer::new(
            &config,
            Dependencies {
                store: Arc::new(self.store.clone()),
                wixtar: self.wixtar.clone(),
                events: self.bus.clone(),
                master_keys: MasterKeys::from_secret(&Secret::new(self.keys_json.clone())).expect("master keys"),
                clock: self.clock.clone(),
                crash_points: Default::default(),
            },
        )
    }

    fn reconciler(&self) -> InvoiceReconciler {
        InvoiceReconciler::new(Arc::new(self.issuer()), ReconcilerConfig::default())
    }

    /// An order of 2 lines of NT$100, paid, its invoice claimed (`issuing`, handed over) as the
    /// webhook saves it.
    async fn claimed_order(&self, order_id: &str) -> OrderItem {
        let at = t0();
        let mut item = OrderItem::new(MERCHANT, order_id, OrderState::new(shop_order(order_id, 2, "paid", 100), at), at);
        item.remember(&format!("{order_id}-created"));
        item.invoice_status = InvoiceStatus::Issuing;
        item.invoice_trigger = Some(IssueTrigger::Shipment);
        item.invoice_requested_at = Some(at);
        item.request_pending = true;
        item.hand_over(at);
        assert_eq!(self.store.save_order(&item, None).await.expect("order saved"), einvoice_adapters::orders::OrderWrite::Saved);
        item
    }

    async fn order(&self, order_id: &str) -> OrderItem {
        self.store.order(MERCHANT, order_id).await.unwrap().expect("order")
    }

    async fn invoice(&self, order_id: &str) -> InvoiceItem {
        self.store.invoice(MERCHANT, order_id).await.unwrap().expect("invoice")
    }

    fn set_time(&self, at: DateTime<Utc>) {
        self.clock.set(Some(at));
    }
}

/// The stream record of the order's claiming write (the table's `NEW_IMAGE`, as far as the
/// issuer reads it).
fn stream_record(item: &OrderItem, sequence: &str) -> StreamRecord {
    let event: StreamEvent = serde_json::from_value(json!({"Records": [{"eventID": sequence, "eventName": "MODIFY", "dynamodb": {
        "SequenceNumber": sequence,
        "Keys": {"pk": {"S": item.pk}, "sk": {"S": item.sk}},
        "NewImage": {"pk": {"S": item.pk}, "sk": {"S": item.sk}, "merchant_id": {"S": item.merchant_id}, "order_id": {"S": item.order_id},
                     "invoice_status": {"S": "issuing"}, "request_pending": {"BOOL": true}}}}]}))
    .expect("stream event");
    event.records.into_iter().next().expect("one record")
}

/// The n-th number (from 0) of the period's first book.
fn number(n: u32) -> String {
    format!("{}{n:08}", track_for(PERIOD))
}

fn invoice_issued(order_id: &str, number: &str) -> einvoice_adapters::events::DomainEvent {
    InvoiceIssued {
        event_id: format!("{MERCHANT}:{order_id}:invoice-issued"),
        merchant_id: MERCHANT.into(),
        order_id: order_id.into(),
        number: number.into(),
        total: 200,
        issued_at: t0(),
    }
    .to_event()
}

#[test]
fn a_batch_names_each_order_once_with_all_its_records() {
    let record = |seq: &str, order: &str| {
        json!({"eventID": seq, "eventName": "MODIFY", "dynamodb": {"SequenceNumber": seq,
               "NewImage": {"merchant_id": {"S": "m1"}, "order_id": {"S": order}, "request_pending": {"BOOL": true}}}})
    };
    let event: StreamEvent = serde_json::from_value(json!({"Records": [record("1", "a"), record("2", "b"), record("3", "a"),
        {"eventID": "4", "eventName": "MODIFY", "dynamodb": {"SequenceNumber": "4", "NewImage": {"pk": {"S": "x"}}}}]}))
    .unwrap();
    let claims = crate::stream::claims(&event.records);
    assert_eq!(claims, [(("m1".to_owned(), "a".to_owned()), vec!["1".to_owned(), "3".to_owned()]), (("m1".to_owned(), "b".to_owned()), vec!["2".to_owned()])]);
}

#[tokio::test]
async fn a_claimed_order_gets_its_invoice_issued_and_uploaded() {
    let w = World::new().await;
    let item = w.claimed_order("o-1").await;
    let issuer = w.issuer();

    let response = issuer.handle(&[stream_record(&item, "100")]).await;
    assert_eq!(response, BatchResponse::default());

    let invoice = w.invoice("o-1").await;
    assert_eq!(invoice.number, number(0), "the first number of the merchant's first Wixtar book");
    assert_eq!(invoice.period, PERIOD);
    assert_eq!(invoice.issued_at, t0());
    assert_eq!(invoice.seller_ubn, UBN);
    assert_eq!(invoice.buyer_identifier, "0000000000");
    assert_eq!(invoice.random_code.len(), 4);
    assert!(invoice.random_code.bytes().all(|b| b.is_ascii_digit()), "random code {}", invoice.random_code);
    assert_eq!((invoice.tax_type, invoice.sales_amount, invoice.tax_amount, invoice.total), (1, 200, 0, 200), "B2C: tax included in the sales amount");
    assert_eq!((invoice.zero_tax_sales_amount, invoice.free_tax_sales_amount), (0, 0));
    assert_eq!(invoice.upload.status, UploadStatus::Uploaded);
    assert_eq!(invoice.upload.uploaded_at, Some(t0()));
    assert_eq!(invoice.upload.attempts, 1);
    assert_eq!(invoice.upload.last_error, None);
    assert_eq!(invoice.upload.deadline, upload_deadline(t0()));
    assert_eq!(invoice.barcode, format!("{PERIOD}{}{}", invoice.number, invoice.random_code));

    let order = w.order("o-1").await;
    assert_eq!(order.invoice_status, InvoiceStatus::Uploaded);
    assert_eq!(order.due_at, None, "nothing left for the reconciler");

    let held = w.wixtar.invoices();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].upload.number, number(0));
    assert_eq!(held[0].upload.random_code, invoice.random_code);
    assert_eq!((held[0].upload.sales_amount, held[0].upload.tax_amount, held[0].upload.total), (200, 0, 200));
    assert_eq!(held[0].received, 1);

    assert_eq!(w.bus.of_type(DetailType::InvoiceIssued.as_str()), vec![invoice_issued("o-1", &number(0))]);
}

#[tokio::test]
async fn repeated_runs_issue_nothing_twice() {
    let w = World::new().await;
    let item = w.claimed_order("o-1").await;
    let issuer = w.issuer();

    let first = issuer.work(MERCHANT, "o-1", 0).await.unwrap();
    assert_eq!(first, WorkOutcome::Uploaded { number: number(0) });
    let first_invoice = w.invoice("o-1").await;

    // A redelivered record, a second instance, the reconciler's step: the same invoice.
    assert_eq!(issuer.handle(&[stream_record(&item, "101")]).await, BatchResponse::default());
    assert_eq!(w.issuer().work(MERCHANT, "o-1", 0).await.unwrap(), WorkOutcome::Uploaded { number: number(0) });
    assert_eq!(issuer.work(MERCHANT, "o-1", 0).await.unwrap(), WorkOutcome::Uploaded { number: number(0) });

    assert_eq!(w.invoice("o-1").await, first_invoice);
    let held = w.wixtar.invoices();
    assert_eq!(held.len(), 1);
    assert_eq!((held[0].upload.number.as_str(), held[0].received), (number(0).as_str(), 1));
    assert_eq!(w.bus.of_type(DetailType::InvoiceIssued.as_str()), vec![invoice_issued("o-1", &number(0))]);

    // The next order takes the next number.
    w.claimed_order("o-2").await;
    assert_eq!(issuer.work(MERCHANT, "o-2", 0).await.unwrap(), WorkOutcome::Uploaded { number: number(1) });
}

#[tokio::test]
async fn a_wixtar_outage_leaves_upload_failed_and_the_reconciler_uploads_later() {
    let w = World::new().await.with_book().await;
    w.claimed_order("o-1").await;
    // Each try but the first asks Wixtar for the number first: every call of the invocation fails.
    w.wixtar.fail_next(Fault::Unavailable, 2 * UPLOAD_ATTEMPTS as usize - 1);

    let outcome = w.issuer().work(MERCHANT, "o-1", 0).await.unwrap();
    let due = t0() + Minutes::minutes(1);
    let WorkOutcome::UploadFailed { number: failed_number, due_at, deadline, .. } = outcome else { panic!("{outcome:?}") };
    assert_eq!((failed_number, due_at, deadline), (number(0), due, upload_deadline(t0())));

    let invoice = w.invoice("o-1").await;
    assert_eq!(invoice.upload.status, UploadStatus::Failed);
    assert_eq!(invoice.upload.attempts, UPLOAD_ATTEMPTS);
    assert!(invoice.upload.last_error.as_deref().unwrap().contains("injected fault: unavailable"));
    let order = w.order("o-1").await;
    assert_eq!(order.invoice_status, InvoiceStatus::UploadFailed);
    assert_eq!(order.due_at, Some(due), "due after the first backoff (1 minute)");
    assert!(w.wixtar.invoices().is_empty());
    assert!(w.bus.events().is_empty());

    // Before it is due the reconciler leaves it alone.
    let reconciler = w.reconciler();
    let early = t0() + Minutes::seconds(30);
    w.set_time(early);
    let summary = reconciler.run(early).await.unwrap();
    assert_eq!(summary["due"], 0);

    // When due, it is uploaded: once, with the number issued.
    w.set_time(due);
    let summary = reconciler.run(due).await.unwrap();
    assert_eq!(
        (summary["due"].clone(), summary["finished"].clone(), summary["retrying"].clone(), summary["failed"].clone()),
        (serde_json::json!(1), serde_json::json!(1), serde_json::json!(0), serde_json::json!(0))
    );
    let invoice = w.invoice("o-1").await;
    assert_eq!(invoice.number, number(0));
    assert_eq!(invoice.upload.status, UploadStatus::Uploaded);
    assert_eq!(invoice.upload.uploaded_at, Some(due));
    let order = w.order("o-1").await;
    assert_eq!(order.invoice_status, InvoiceStatus::Uploaded);
    assert_eq!(order.due_at, None);
    let held = w.wixtar.invoices();
    assert_eq!(held.len(), 1);
    assert_eq!((held[0].upload.number.as_str(), held[0].received), (number(0).as_str(), 1));
    assert_eq!(w.bus.of_type(DetailType::InvoiceIssued.as_str()), vec![invoice_issued("o-1", &number(0))]);

    // Nothing is due any more.
    let later = due + Minutes::hours(1);
    assert_eq!(reconciler.run(later).await.unwrap()["due"], 0);
}

#[tokio::test]
async fn an_answer_lost_after_the_upload_is_found_by_the_look_up_and_not_sent_twice() {
    let w = World::new().await.with_book().await;
    w.claimed_order("o-1").await;
    w.wixtar.fail_next(Fault::AfterWork, 1);

    let outcome = w.issuer().work(MERCHANT, "o-1", 0).await.unwrap();
    assert_eq!(outcome, WorkOutcome::Uploaded { number: number(0) });

    let held = w.wixtar.invoices();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].upload.number, number(0));
    assert_eq!(held[0].received, 1, "found by the look-up, not sent again");
    let invoice = w.invoice("o-1").await;
    assert_eq!(invoice.upload.status, UploadStatus::Uploaded);
    assert_eq!(invoice.upload.attempts, 2);
    assert_eq!(w.order("o-1").await.invoice_status, InvoiceStatus::Uploaded);
    assert_eq!(w.bus.of_type(DetailType::InvoiceIssued.as_str()), vec![invoice_issued("o-1", &number(0))]);
}

#[tokio::test]
async fn no_numbers_left_waits_in_no_invoice_numbers_and_tells_the_merchant() {
    let w = World::new().await;
    w.wixtar.limit_books(UBN, 0);
    w.claimed_order("o-1").await;

    let outcome = w.issuer().work(MERCHANT, "o-1", 0).await.unwrap();
    assert_eq!(outcome, WorkOutcome::NoInvoiceNumbers);

    let order = w.order("o-1").await;
    assert_eq!(order.invoice_status, InvoiceStatus::NoInvoiceNumbers);
    assert_eq!(order.invoice_reason.as_deref(), Some("no_invoice_numbers"));
    assert_eq!(order.due_at, Some(t0() + Minutes::minutes(1)));
    assert_eq!(w.store.invoice(MERCHANT, "o-1").await.unwrap(), None);
    assert!(w.wixtar.invoices().is_empty());

    let notification = MerchantNotification {
        event_id: format!("{MERCHANT}:no-invoice-numbers:{PERIOD}"),
        merchant_id: MERCHANT.into(),
        channel: Channel::Email,
        to: Vec::new(),
        contact_name: None,
        template: Template::NoInvoiceNumbers(NoInvoiceNumbers {
            period: PERIOD.into(),
            order_id: Some("o-1".into()),
            message: Some("美麗科技字軌已用完：請至美麗科技加值中心新增字軌。No invoice numbers left: add number ranges (字軌) in Wixtar.".into()),
        }),
    }
    .to_event();
    assert_eq!(w.bus.events(), vec![notification]);
    assert!(w.bus.of_type(DetailType::InvoiceIssued.as_str()).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_issuers_make_one_invoice_of_one_order() {
    for round in 0..5 {
        let w = World::new().await;
        let order_id = format!("o-{round}");
        let item = w.claimed_order(&order_id).await;
        let (a, b) = (Arc::new(w.issuer()), Arc::new(w.issuer()));
        let first = {
            let (a, item) = (a.clone(), item.clone());
            tokio::spawn(async move { a.handle(&[stream_record(&item, "200")]).await })
        };
        let second = {
            let (b, order_id) = (b.clone(), order_id.clone());
            tokio::spawn(async move { b.work(MERCHANT, &order_id, 0).await })
        };
        assert_eq!(first.await.unwrap(), BatchResponse::default());
        let second = second.await.unwrap().unwrap();
        let invoice = w.invoice(&order_id).await;
        assert_eq!(second, WorkOutcome::Uploaded { number: invoice.number.clone() });
        assert_eq!(invoice.upload.status, UploadStatus::Uploaded);
        let held = w.wixtar.invoices();
        assert_eq!(held.len(), 1, "one invoice at Wixtar");
        assert_eq!(held[0].upload.number, invoice.number);
        assert_eq!(held[0].upload.order_id, order_id);
        assert_eq!(w.order(&order_id).await.invoice_status, InvoiceStatus::Uploaded);
        let numbers = w.store.period_numbers(MERCHANT, PERIOD).await.unwrap();
        // When both took a number, the loser's is recorded as unused (never a second invoice).
        let other = if invoice.number == number(0) { number(1) } else { number(0) };
        assert!(invoice.number == number(0) || invoice.number == number(1), "{}", invoice.number);
        assert!(numbers.skipped.is_empty() || numbers.skipped == [other], "skipped {:?}", numbers.skipped);
        assert!(w.bus.of_type(DetailType::InvoiceIssued.as_str()).len() <= 2);
        assert!(w.bus.of_type(DetailType::InvoiceIssued.as_str()).iter().all(|e| *e == invoice_issued(&order_id, &invoice.number)));
    }
}

/// The buyer notices published for the order (`MerchantNotification`s with a buyer template).
fn buyer_notices(w: &World) -> Vec<serde_json::Value> {
    w.bus.of_type(DetailType::MerchantNotification.as_str()).into_iter().map(|e| e.detail).filter(|d| d["template"] != "no_invoice_numbers").collect()
}

#[tokio::test]
async fn the_buyer_is_told_once_when_wixtar_accepted_the_upload() {
    let w = World::new().await.with_book().await;
    let item = w.claimed_order("o-1").await;
    let issuer = w.issuer();
    assert_eq!(issuer.work(MERCHANT, "o-1", 0).await.unwrap(), WorkOutcome::Uploaded { number: number(0) });

    let notices = buyer_notices(&w);
    assert_eq!(notices.len(), 1, "{notices:?}");
    let notice = &notices[0];
    assert_eq!(notice["template"], "invoice_issued");
    assert_eq!(notice["event_id"], "m-issuer:o-1:buyer:invoice-issued");
    assert_eq!(notice["to"], "hua@example.com");
    assert_eq!((notice["number"].as_str(), notice["seller_ubn"].as_str(), notice["total"].as_u64()), (Some(number(0).as_str()), Some(UBN), Some(200)));
    assert_eq!(notice["destination"], json!({"kind": "paper"}));
    assert_eq!(w.order("o-1").await.due_at, None, "published: nothing left for the reconciler");

    // A redelivery, a second instance, the reconciler: nothing announced again.
    assert_eq!(issuer.handle(&[stream_record(&item, "101")]).await, BatchResponse::default());
    w.issuer().work(MERCHANT, "o-1", 0).await.unwrap();
    assert_eq!(w.reconciler().run(t0() + Minutes::hours(1)).await.unwrap()["due"], 0);
    assert_eq!(buyer_notices(&w).len(), 1);
    assert_eq!(w.bus.of_type(DetailType::InvoiceIssued.as_str()).len(), 1);
}

#[tokio::test]
async fn a_notice_lost_after_the_upload_is_published_by_the_reconciler() {
    let w = World::new().await.with_book().await;
    w.claimed_order("o-1").await;
    // The publish after the accepted upload fails (as if the Lambda died there).
    w.bus.fail_next(1);
    assert_eq!(w.issuer().work(MERCHANT, "o-1", 0).await.unwrap(), WorkOutcome::Uploaded { number: number(0) });
    assert!(w.bus.events().is_empty());
    let due = t0() + Minutes::minutes(2);
    let order = w.order("o-1").await;
    assert_eq!((order.invoice_status, order.due_at), (InvoiceStatus::Uploaded, Some(due)), "left due for its notices");

    let reconciler = w.reconciler();
    assert_eq!(reconciler.run(t0() + Minutes::minutes(1)).await.unwrap()["due"], 0, "not before the grace");
    w.set_time(due);
    let summary = reconciler.run(due).await.unwrap();
    assert_eq!((summary["due"].as_u64(), summary["finished"].as_u64()), (Some(1), Some(1)));
    assert_eq!(buyer_notices(&w).len(), 1);
    assert_eq!(w.bus.of_type(DetailType::InvoiceIssued.as_str()), vec![invoice_issued("o-1", &number(0))]);
    assert_eq!(w.order("o-1").await.due_at, None);
    assert_eq!(w.wixtar.invoices()[0].received, 1, "uploaded once");
}

#[tokio::test]
async fn buyer_notices_off_tells_nobody_and_leaves_nothing_due() {
    let w = World::with_settings(InvoiceSettings { buyer_notices: false, ..invoice_settings() }).await.with_book().await;
    w.claimed_order("o-1").await;
    assert_eq!(w.issuer().work(MERCHANT, "o-1", 0).await.unwrap(), WorkOutcome::Uploaded { number: number(0) });
    assert!(buyer_notices(&w).is_empty());
    assert_eq!(w.bus.of_type(DetailType::InvoiceIssued.as_str()).len(), 1);
    assert_eq!(w.order("o-1").await.due_at, None);
}
