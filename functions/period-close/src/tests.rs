//! The job's decisions against the in-memory ports (`einvoice_adapters::testing`): what
//! tests/tests/returns.rs drives end to end through the local stack (the report once, after the
//! period, with the untouched tails, the skipped numbers and the numbers lost to a crash), here
//! without moto or the Wixtar simulator.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use einvoice_adapters::crypto::MasterKeys;
use einvoice_adapters::orders::{InvoiceStatus, OrderItem};
use einvoice_adapters::secret::Secret;
use einvoice_adapters::settings::{CredentialCheck, SettingsItem};
use einvoice_adapters::store::contract::{invoice_item, range_item, shop_order};
use einvoice_adapters::store::{InvoiceStore, NumberLedger, OrderStore, SettingsStore};
use einvoice_adapters::testing::{FakeWixtar, Fault, MemoryStore};
use einvoice_adapters::wixtar::UnusedSpan;
use einvoice_domain::OrderState;
use serde_json::json;

use super::*;

const UBN: &str = "04595257";
const KEYS: &str = r#"{"current": "k1", "k1": "period-close-master-key-material-0123456789"}"#;

fn at(time: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(time).expect("a time").to_utc()
}

fn span(track: &str, first: u32, last: u32) -> UnusedSpan {
    UnusedSpan { track: track.into(), first: format!("{first:08}"), last: format!("{last:08}") }
}

struct World {
    store: Arc<MemoryStore>,
    wixtar: Arc<FakeWixtar>,
    job: PeriodClose,
}

fn master_keys() -> MasterKeys {
    MasterKeys::from_secret(&Secret::new(KEYS.to_owned())).expect("master keys")
}

fn world() -> World {
    let (store, wixtar) = (Arc::new(MemoryStore::new()), Arc::new(FakeWixtar::new()));
    let keys = master_keys();
    let config = Config { table_name: "t".into(), wixtar_api_url: "http://wixtar".into(), master_key_secret_id: "k".into(), look_back_periods: 3 };
    let job = PeriodClose::new(&config, Dependencies { store: store.clone(), wixtar: wixtar.clone(), master_keys: keys });
    World { store, wixtar, job }
}

/// A merchant with saved settings and one book `UA00000000–49` in period 11512 (Nov–Dec 2026),
/// of which 0–4 were handed out: 0–2 carry invoices, 3 was skipped with a reason, 4 was lost.
async fn merchant_with_numbers(w: &World, m: &str) {
    let wire: einvoice_domain::settings::InvoiceSettingsWire = serde_json::from_value(json!({
        "enabled": true, "provider": "wixtar", "show_at_checkout": true, "issue_on": ["shipment"],
        "credentials": {"ubn": UBN, "store_code": "S001", "pos_code": "P01", "pid": "PID-1", "rid": "RID-1", "pname": "小明商行", "aes_key": "0123456789abcdef0123456789ABCDEF"}
    }))
    .expect("settings");
    let settings = SettingsItem::seal(m, &wire.parse(None).expect("settings"), &master_keys(), CredentialCheck::Accepted, 1, Utc::now());
    w.store.put_settings(&settings).await.unwrap();
    let range = range_item(m, "11512", "UA", 0, 49);
    assert!(w.store.add_range(&range).await.unwrap());
    assert_eq!(w.store.take_block(&range, 5).await.unwrap(), Some((0, 5)));
    for n in 0..3 {
        let id = format!("o{n}");
        let order = OrderItem {
            invoice_status: InvoiceStatus::Issuing,
            ..OrderItem::new(m, &id, OrderState::new(shop_order(&id, 1, "paid", 100), Utc::now()), Utc::now())
        };
        w.store.save_order(&order, None).await.unwrap();
        w.store.record_invoice(&invoice_item(m, &id, UBN, &format!("UA{n:08}"))).await.unwrap();
    }
    w.store.record_skipped_number(m, "11512", "UA00000003", "o9", "order already invoiced by a concurrent delivery", Utc::now()).await.unwrap();
}

#[tokio::test]
async fn a_closed_period_is_reported_once_with_every_unused_number() {
    let w = world();
    merchant_with_numbers(&w, "m1").await;
    // During the period: nothing.
    let summary = w.job.run(at("2026-12-20T01:00:00+08:00")).await.unwrap();
    assert_eq!((summary["reported"].as_u64(), w.wixtar.unused_report(UBN, "11512")), (Some(0), None));
    // After it: the tail, the skipped number and the lost one, once.
    let summary = w.job.run(at("2027-01-01T01:00:00+08:00")).await.unwrap();
    assert_eq!((summary["reported"].as_u64(), summary["unused_numbers"].as_u64()), (Some(1), Some(47)), "{summary}");
    assert_eq!(w.wixtar.unused_report(UBN, "11512"), Some(vec![span("UA", 5, 49), span("UA", 3, 3), span("UA", 4, 4)]));
    let closed = w.store.period_numbers("m1", "11512").await.unwrap().closed.expect("recorded");
    assert_eq!(
        (closed.unused, closed.unused_count),
        (vec!["UA00000005-UA00000049".to_owned(), "UA00000003-UA00000003".into(), "UA00000004-UA00000004".into()], 47)
    );
    for time in ["2027-01-01T02:00:00+08:00", "2027-03-05T01:00:00+08:00"] {
        let summary = w.job.run(at(time)).await.unwrap();
        assert_eq!((summary["reported"].as_u64(), summary["already_reported"].as_u64()), (Some(0), Some(1)), "{time}: {summary}");
    }
}

#[tokio::test]
async fn a_report_wixtar_did_not_take_is_made_by_the_next_run() {
    let w = world();
    merchant_with_numbers(&w, "m1").await;
    w.wixtar.fail_next(Fault::Unavailable, 1);
    let summary = w.job.run(at("2027-01-01T01:00:00+08:00")).await.unwrap();
    assert_eq!((summary["reported"].as_u64(), summary["failed"].as_u64()), (Some(0), Some(1)), "{summary}");
    assert_eq!(w.store.period_numbers("m1", "11512").await.unwrap().closed, None, "not recorded: the next run reports");
    let summary = w.job.run(at("2027-01-02T01:00:00+08:00")).await.unwrap();
    assert_eq!(summary["reported"].as_u64(), Some(1), "{summary}");
}

#[tokio::test]
async fn a_store_outage_leaves_the_run_to_the_next_one() {
    let w = world();
    merchant_with_numbers(&w, "m1").await;
    w.store.fail_next(1);
    assert!(w.job.run(at("2027-01-01T01:00:00+08:00")).await.is_err(), "the period's merchants could not be read");
    let summary = w.job.run(at("2027-01-01T02:00:00+08:00")).await.unwrap();
    assert_eq!(summary["reported"].as_u64(), Some(1), "{summary}");
}
