//! Unit tests of the prize job over the in-memory fakes: no moto, no simulators.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use einvoice_adapters::contracts::DetailType;
use einvoice_adapters::crypto::MasterKeys;
use einvoice_adapters::numbers::fetch_range;
use einvoice_adapters::orders::{InvoiceItem, OrderItem, OrderWrite};
use einvoice_adapters::schedule::ScheduledJob;
use einvoice_adapters::secret::Secret;
use einvoice_adapters::settings::{CredentialCheck, SettingsItem};
use einvoice_adapters::store::contract::{invoice_item, shop_order};
use einvoice_adapters::store::{InvoiceStore, NumberLedger, OrderStore, PrizeStore, SettingsStore};
use einvoice_adapters::testing::{FakeWixtar, MemoryStore, RecordingBus};
use einvoice_adapters::wixtar::{InvoiceUpload, PosIdentity, Winner, WixtarClient, contract};
use einvoice_domain::buyer::{MEMBER_CARRIER_TYPE, MOBILE_BARCODE_TYPE};
use einvoice_domain::settings::{InvoiceSettings, InvoiceSettingsWire};
use einvoice_domain::{Claimant, OrderState, PrizeKind};
use serde_json::{Value, json};

use super::*;

const MERCHANT: &str = "m-prizes";
const UBN: &str = "04595257";
/// Sep–Oct 2026, drawn on 2026-11-25.
const PERIOD: &str = "11510";

/// 10:00 Taipei on a day (02:00 UTC).
fn run_at(date: &str) -> DateTime<Utc> {
    let d: chrono::NaiveDate = date.parse().unwrap();
    Utc.from_utc_datetime(&d.and_hms_opt(2, 0, 0).unwrap())
}

fn settings() -> InvoiceSettings {
    let wire: InvoiceSettingsWire = serde_json::from_value(json!({
        "enabled": true, "provider": "wixtar", "show_at_checkout": true, "issue_on": ["shipment"],
        "credentials": {"ubn": UBN, "store_code": "S001", "pos_code": "P01", "pid": "PID-1",
                        "rid": "RID-SECRET-0001", "pname": "小明商行", "aes_key": "0123456789ABCDEF0123456789ABCDEF"}
    }))
    .unwrap();
    wire.parse(None).unwrap()
}

struct World {
    store: MemoryStore,
    wixtar: Arc<FakeWixtar>,
    bus: Arc<RecordingBus>,
    keys_json: String,
    pos: PosIdentity,
    crash_points: Arc<CrashPoints>,
    numbers: Vec<String>,
}

impl World {
    /// A merchant with a book of numbers in [`PERIOD`] (so it is in the period's registry).
    async fn new() -> Self {
        let keys_json = MasterKeys::generate_json("k1");
        let keys = MasterKeys::from_secret(&Secret::new(keys_json.clone())).unwrap();
        let store = MemoryStore::new();
        let settings = settings();
        store.put_settings(&SettingsItem::seal(MERCHANT, &settings, &keys, CredentialCheck::Accepted, 1, run_at("2026-09-01"))).await.unwrap();
        let wixtar = Arc::new(FakeWixtar::new());
        let pos = PosIdentity::from(&settings.credentials);
        assert!(fetch_range(&store, wixtar.as_ref(), &pos, MERCHANT, PERIOD, 1, run_at("2026-09-01")).await.unwrap());
        let range = store.period_numbers(MERCHANT, PERIOD).await.unwrap().ranges.remove(0);
        let numbers = (range.first..range.first + 5).map(|seq| format!("{}{seq:08}", range.track)).collect();
        Self { store, wixtar, bus: Arc::new(RecordingBus::new()), keys_json, pos, crash_points: Arc::default(), numbers }
    }

    fn job(&self) -> InvoicePrizes {
        InvoicePrizes::new(Dependencies {
            store: Arc::new(self.store.clone()),
            wixtar: self.wixtar.clone(),
            events: self.bus.clone(),
            master_keys: MasterKeys::from_secret(&Secret::new(self.keys_json.clone())).unwrap(),
            crash_points: self.crash_points.clone(),
        })
    }

    /// Order `order_id`'s invoice with the `n`th number, on a carrier of `carrier_type` (None:
    /// paper), recorded and uploaded to Wixtar.
    async fn invoice(&self, order_id: &str, n: usize, carrier_type: Option<&str>) -> InvoiceItem {
        let at = run_at("2026-10-02");
        let order = OrderItem::new(MERCHANT, order_id, OrderState::new(shop_order(order_id, 1, "paid", 200), at), at);
        assert_eq!(self.store.save_order(&order, None).await.unwrap(), OrderWrite::Saved);
        let number = self.numbers[n].clone();
        let invoice = InvoiceItem {
            period: PERIOD.into(),
            carrier_type: carrier_type.map(str::to_owned),
            carrier_id: carrier_type.map(|_| "member#42".to_owned()),
            print: carrier_type.is_none(),
            ..invoice_item(MERCHANT, order_id, UBN, &number)
        };
        self.store.record_invoice(&invoice).await.unwrap();
        let upload = InvoiceUpload { period: PERIOD.into(), order_id: order_id.into(), ..contract::invoice(UBN, &number) };
        self.wixtar.upload_invoice(&self.pos, &upload).await.unwrap();
        invoice
    }

    fn publish(&self, winners: &[(&str, PrizeKind, u64)]) {
        let list: Vec<Winner> = winners.iter().map(|(number, kind, amount)| Winner { number: (*number).into(), kind: *kind, amount: *amount }).collect();
        self.wixtar.publish_winners(PERIOD, &list).unwrap();
    }

    fn mails(&self) -> Vec<Value> {
        self.bus.of_type(DetailType::MerchantNotification.as_str()).into_iter().map(|e| e.detail).collect()
    }

    async fn prize(&self, order_id: &str) -> Option<PrizeItem> {
        self.store.invoice(MERCHANT, order_id).await.unwrap().unwrap().prize
    }
}

#[tokio::test]
async fn before_the_26th_and_before_the_list_nothing_changes() {
    let w = World::new().await;
    let won = w.invoice("o-1", 0, Some(MEMBER_CARRIER_TYPE)).await;
    let job = w.job();
    let summary = job.run(run_at("2026-11-25")).await.unwrap();
    assert_eq!(summary["periods"], json!(["11508"]), "on the draw day only the earlier period, still in its claim window");
    assert_eq!(summary["not_yet"].as_u64(), Some(0), "the merchant had no numbers in 11508");
    let summary = job.run(run_at("2026-11-26")).await.unwrap();
    assert_eq!((summary["periods"].clone(), summary["not_yet"].as_u64()), (json!(["11508", PERIOD]), Some(1)));
    assert_eq!(w.prize("o-1").await, None);
    assert!(w.bus.events().is_empty());
    assert_eq!(w.store.prize_list(MERCHANT, PERIOD).await.unwrap(), None, "asked again the next day");

    w.publish(&[(&won.number, PrizeKind::Sixth, 200)]);
    let summary = job.run(run_at("2026-11-27")).await.unwrap();
    assert_eq!((summary["handled"].as_u64(), summary["buyers_told"].as_u64()), (Some(1), Some(1)));
}

#[tokio::test]
async fn a_member_carrier_winner_is_marked_and_told_once_and_the_merchant_gets_one_list() {
    let w = World::new().await;
    let member = w.invoice("o-member", 0, Some(MEMBER_CARRIER_TYPE)).await;
    let mobile = w.invoice("o-mobile", 1, Some(MOBILE_BARCODE_TYPE)).await;
    let paper = w.invoice("o-paper", 2, None).await;
    w.invoice("o-lost", 3, Some(MEMBER_CARRIER_TYPE)).await;
    w.publish(&[(&member.number, PrizeKind::Cloud, 2_000), (&mobile.number, PrizeKind::Sixth, 200), (&paper.number, PrizeKind::Fifth, 1_000)]);

    let job = w.job();
    let at = run_at("2026-11-28");
    let summary = job.run(at).await.unwrap();
    assert_eq!(
        (summary["handled"].as_u64(), summary["winners"].as_u64(), summary["buyers_told"].as_u64(), summary["marked_only"].as_u64()),
        (Some(1), Some(3), Some(1), Some(2))
    );

    let prize = w.prize("o-member").await.unwrap();
    assert_eq!((prize.period.as_str(), prize.kind, prize.amount, prize.claimant), (PERIOD, PrizeKind::Cloud, 2_000, Claimant::Seller));
    assert_eq!(prize.notified_at, Some(at));
    let mobile_prize = w.prize("o-mobile").await.unwrap();
    assert_eq!((mobile_prize.claimant, mobile_prize.notified_at), (Claimant::Mof, None));
    assert_eq!(w.prize("o-paper").await.unwrap().claimant, Claimant::PaperHolder);
    assert_eq!(w.prize("o-lost").await, None);

    let mails = w.mails();
    assert_eq!(mails.len(), 2, "{mails:?}");
    let won = mails.iter().find(|m| m["template"] == "invoice_won").unwrap();
    assert_eq!((won["to"].as_str(), won["number"].as_str(), won["amount"].as_u64()), (Some("hua@example.com"), Some(member.number.as_str()), Some(2_000)));
    assert_eq!(won["event_id"], format!("{MERCHANT}:o-member:prize:{PERIOD}:invoice-won"));
    let list = mails.iter().find(|m| m["template"] == "prizes_to_print").unwrap();
    assert_eq!(list["to"], Value::Null, "the merchant's contact, found by the notifier");
    assert_eq!(list["prizes"], json!([{"order_id": "o-member", "number": member.number, "kind": "cloud", "amount": 2000}]));
    assert_eq!(w.store.prize_list(MERCHANT, PERIOD).await.unwrap().unwrap().numbers.len(), 3);

    // The next days: the list is handled, Wixtar is not asked again, nobody is mailed again.
    w.wixtar.fail_next(einvoice_adapters::testing::Fault::Unavailable, 10);
    let summary = job.run(run_at("2026-11-29")).await.unwrap();
    assert_eq!((summary["already_handled"].as_u64(), summary["failed"].as_u64()), (Some(1), Some(0)));
    assert_eq!(w.mails().len(), 2);
    // After the claim window (2026-12-06 … 2027-03-05) the period is not looked at at all.
    assert_eq!(job.run(run_at("2027-03-06")).await.unwrap()["periods"], json!(["11512"]));
}

#[tokio::test]
async fn a_crash_after_the_mark_is_finished_by_the_next_run_with_one_mail_each() {
    let w = World::new().await;
    let member = w.invoice("o-1", 0, Some(MEMBER_CARRIER_TYPE)).await;
    w.publish(&[(&member.number, PrizeKind::Sixth, 200)]);
    // A run that dies between the mark and the mails (a publish that fails is the same).
    w.bus.fail_next(1);
    let summary = w.job().run(run_at("2026-11-28")).await.unwrap();
    assert_eq!(summary["failed"].as_u64(), Some(1));
    assert!(w.prize("o-1").await.is_some(), "marked");
    assert_eq!(w.store.prize_list(MERCHANT, PERIOD).await.unwrap(), None);
    assert!(w.mails().is_empty());

    // Two overlapping runs the next day: the mails carry one event id each, so the notifier
    // sends each once; the list is recorded handled.
    let (first, second) = (w.job(), w.job());
    let (a, b) = tokio::join!(first.run(run_at("2026-11-29")), second.run(run_at("2026-11-29")));
    assert!(a.is_ok() && b.is_ok());
    let mut ids: Vec<String> = w.mails().iter().map(|m| m["event_id"].as_str().unwrap().to_owned()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids, [format!("{MERCHANT}:o-1:prize:{PERIOD}:invoice-won"), format!("{MERCHANT}:prizes-to-print:{PERIOD}")]);
    assert!(w.store.prize_list(MERCHANT, PERIOD).await.unwrap().is_some());
    assert!(w.prize("o-1").await.unwrap().notified_at.is_some());
}

#[tokio::test]
async fn a_wixtar_outage_is_asked_again_the_next_day() {
    let w = World::new().await;
    let member = w.invoice("o-1", 0, Some(MEMBER_CARRIER_TYPE)).await;
    w.publish(&[(&member.number, PrizeKind::Sixth, 200)]);
    w.wixtar.fail_next(einvoice_adapters::testing::Fault::Unavailable, 1);
    assert_eq!(w.job().run(run_at("2026-11-28")).await.unwrap()["failed"].as_u64(), Some(1));
    assert_eq!(w.prize("o-1").await, None);
    assert_eq!(w.job().run(run_at("2026-11-29")).await.unwrap()["handled"].as_u64(), Some(1));
    assert_eq!(w.mails().len(), 2);
}
