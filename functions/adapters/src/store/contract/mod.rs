//! The contract of the store ports (feature `testing`): what every adapter must do, written
//! once and run against each — the in-memory adapter by the adapters' unit tests, the
//! DynamoDB adapter against moto by `tests/tests/store_moto.rs` — so the fake cannot drift
//! from the real thing. Each check uses merchant and order ids of its own, so checks may share
//! a table (the due-index check also needs no other check's due times before 2001). The plan,
//! idempotency, settings and mail checks are here, the order-side ones in `orders.rs`, the
//! prize ones in `prizes.rs`.

mod orders;
pub use orders::*;
mod prizes;
pub use prizes::*;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::json;

use super::{
    Claim, IdempotencyItem, IdempotencyState, IdempotencyStore, MailLedger, NoticeItem, PlanItem, PlanOrderItem, PlanOrderStatus, PlanStore, SettingsStore,
    StoreError, keys,
};
use crate::crypto::MasterKeys;
use crate::mail::{MailClaim, MailItem, MailStatus};
use crate::secret::Secret;
use crate::settings::{CredentialCheck, SettingsItem};

/// A name no other check (or earlier run against the same table) uses.
fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// Times stored with millisecond precision, as the adapters keep them.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("now is representable")
}

pub fn plan_order(merchant: &str, id: &str) -> PlanOrderItem {
    PlanOrderItem {
        pk: keys::merchant(merchant),
        sk: keys::plan_order(id),
        entity: "plan_order".into(),
        order_id: id.into(),
        merchant_id: merchant.into(),
        kind: "purchase".into(),
        ubn: "04595257".into(),
        months: 3,
        bonus_months: 1,
        amount: 1800,
        currency: "TWD".into(),
        payment_method: "atm".into(),
        auto_renew: false,
        status: PlanOrderStatus::PendingPayment,
        contact: json!({"name": "王小明"}),
        company: json!({"name": "小明商行"}),
        payment: json!({}),
        created_at: now(),
        paid_at: None,
        failed_at: None,
        period_starts_on: None,
        period_expires_on: None,
        pending_onboarding: false,
        pending_notification: false,
        effects_lease_until: None,
    }
}

fn paid(mut o: PlanOrderItem) -> PlanOrderItem {
    o.status = PlanOrderStatus::Paid;
    o.paid_at = Some(now());
    o.pending_onboarding = true;
    o
}

fn plan(merchant: &str, version: u64, expires_on: Option<NaiveDate>) -> PlanItem {
    let mut p = PlanItem::empty(merchant, now());
    p.version = version;
    p.expires_on = expires_on;
    p
}

fn idempotency_record(merchant: &str, resource_id: &str) -> IdempotencyItem {
    let at = now();
    IdempotencyItem {
        pk: keys::idempotency(merchant, "plan-checkout", "key-1"),
        sk: keys::IDEMPOTENCY.into(),
        entity: "idempotency".into(),
        request_sha256: "abc".into(),
        state: IdempotencyState::InProgress,
        resource_id: resource_id.into(),
        status_code: None,
        response_body: None,
        created_at: at,
        ttl: (at + Duration::hours(24)).timestamp(),
    }
}

fn is_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict))
}

/// A plan order is created once, with the pointer from its id to its merchant.
pub async fn plan_orders_are_created_once(s: &(impl PlanStore + ?Sized)) {
    let (m, id) = (unique("m"), unique("po"));
    let o = plan_order(&m, &id);
    s.create_plan_order(&o, None).await.unwrap();
    assert!(is_conflict(s.create_plan_order(&o, None).await), "an order was created twice");
    assert_eq!(s.plan_order_merchant(&id).await.unwrap().as_deref(), Some(m.as_str()));
    assert_eq!(s.plan_order(&m, &id).await.unwrap().unwrap(), o);
    assert_eq!(s.plan_order_merchant(&unique("po")).await.unwrap(), None);
    assert_eq!(s.plan_order(&m, &unique("po")).await.unwrap(), None);
}

/// Creating the order completes the request's idempotency record in the same write, and only
/// the claim that is creating this very order.
pub async fn creating_an_order_completes_its_idempotency_record<S: PlanStore + IdempotencyStore + ?Sized>(s: &S) {
    let m = unique("m");
    let (id, other) = (unique("po"), unique("po"));
    let record = idempotency_record(&m, &id);
    assert!(matches!(s.claim_idempotency(&record).await.unwrap(), Claim::Claimed));
    // Another order cannot complete this claim: nothing is written.
    assert!(is_conflict(s.create_plan_order(&plan_order(&m, &other), Some((&record.pk, 201, "{\"x\":1}"))).await));
    assert_eq!(s.plan_order(&m, &other).await.unwrap(), None);
    assert_eq!(s.plan_order_merchant(&other).await.unwrap(), None);
    s.create_plan_order(&plan_order(&m, &id), Some((&record.pk, 201, "{\"order_id\":1}"))).await.unwrap();
    let done = s.idempotency(&record.pk).await.unwrap().unwrap();
    assert_eq!((done.state, done.status_code, done.response_body.as_deref()), (IdempotencyState::Completed, Some(201), Some("{\"order_id\":1}")));
    // A completed record is not completed again.
    assert!(is_conflict(s.create_plan_order(&plan_order(&m, &unique("po")), Some((&record.pk, 201, "{}"))).await));
}

/// A payment applies once; plan versions refuse a write computed from a stale plan, and a
/// refused payment writes nothing.
pub async fn payments_apply_once_and_plan_versions_guard_races(s: &(impl PlanStore + ?Sized)) {
    let m = unique("m");
    let (a, b) = (unique("po"), unique("po"));
    s.create_plan_order(&plan_order(&m, &a), None).await.unwrap();
    s.create_plan_order(&plan_order(&m, &b), None).await.unwrap();
    let mut p = plan(&m, 1, Some("2026-05-30".parse().unwrap()));
    let notice = NoticeItem::new(&m, "wixtar_onboarding", "付款完成".into(), json!({"order_id": a}), now());
    s.apply_payment(&paid(plan_order(&m, &a)), &p, Some(&notice)).await.unwrap();
    // The same order again: it is no longer pending.
    p.version = 2;
    assert!(is_conflict(s.apply_payment(&paid(plan_order(&m, &a)), &p, None).await));
    // Another order from a stale plan (version 0 → 1): refused, nothing written.
    let stale = plan(&m, 1, Some("2027-01-01".parse().unwrap()));
    assert!(is_conflict(s.apply_payment(&paid(plan_order(&m, &b)), &stale, None).await));
    assert_eq!(s.plan_order(&m, &b).await.unwrap().unwrap().status, PlanOrderStatus::PendingPayment);
    assert_eq!(s.plan(&m).await.unwrap().unwrap().expires_on, Some("2026-05-30".parse().unwrap()));
    // The same notice twice: refused with the payment.
    assert!(is_conflict(s.apply_payment(&paid(plan_order(&m, &b)), &p, Some(&notice)).await));
    assert_eq!(s.plan_order(&m, &b).await.unwrap().unwrap().status, PlanOrderStatus::PendingPayment);
    // From the current version: accepted.
    s.apply_payment(&paid(plan_order(&m, &b)), &p, None).await.unwrap();
    assert_eq!(s.plan(&m).await.unwrap().unwrap().version, 2);
    assert!(!s.fail_plan_order(&m, &b, now()).await.unwrap(), "a paid order cannot fail");
    // A payment for an order that does not exist is refused.
    p.version = 3;
    assert!(is_conflict(s.apply_payment(&paid(plan_order(&m, &unique("po"))), &p, None).await));
}

/// A failed order can still be paid later (a late success); a pending one fails once.
pub async fn failed_orders_can_still_be_paid(s: &(impl PlanStore + ?Sized)) {
    let m = unique("m");
    let id = unique("po");
    s.create_plan_order(&plan_order(&m, &id), None).await.unwrap();
    let at = now();
    assert!(s.fail_plan_order(&m, &id, at).await.unwrap());
    assert!(!s.fail_plan_order(&m, &id, at).await.unwrap(), "failed twice");
    let failed = s.plan_order(&m, &id).await.unwrap().unwrap();
    assert_eq!((failed.status, failed.failed_at), (PlanOrderStatus::Failed, Some(at)));
    s.apply_payment(&paid(plan_order(&m, &id)), &plan(&m, 1, None), None).await.unwrap();
    assert_eq!(s.plan_order(&m, &id).await.unwrap().unwrap().status, PlanOrderStatus::Paid);
    assert!(!s.fail_plan_order(&m, &unique("po"), at).await.unwrap(), "an unknown order failed");
}

/// Plan writes: a new plan only where none exists, then each write from the version read.
pub async fn plan_writes_are_version_checked(s: &(impl PlanStore + ?Sized)) {
    let m = unique("m");
    s.put_plan(&plan(&m, 1, None), None).await.unwrap();
    assert!(is_conflict(s.put_plan(&plan(&m, 1, None), None).await), "a second first plan");
    let mut next = s.plan(&m).await.unwrap().unwrap();
    next.version += 1;
    next.renewal_locked_for = Some("2027-01-31".parse().unwrap());
    let notice = NoticeItem::new(&m, "auto_renew_locked", "已鎖定".into(), serde_json::Value::Null, now());
    s.put_plan(&next, Some(&notice)).await.unwrap();
    assert!(is_conflict(s.put_plan(&next, None).await), "a write from a stale version");
    let items = s.merchant_items(&m).await.unwrap();
    assert_eq!(items.plan.as_ref().map(|p| p.version), Some(2));
    assert_eq!(items.notices, vec![notice]);
    // A renewal: a new paid order and the extended plan together, once.
    let renewal = paid(plan_order(&m, &unique("po_renewal")));
    let mut extended = next.clone();
    extended.version += 1;
    s.record_renewal(&renewal, &extended).await.unwrap();
    let mut again = extended.clone();
    again.version += 1;
    assert!(is_conflict(s.record_renewal(&renewal, &again).await), "a renewal recorded twice");
    assert_eq!(s.plan(&m).await.unwrap().unwrap().version, 3);
    assert_eq!(s.plan_order_merchant(&renewal.order_id).await.unwrap().as_deref(), Some(m.as_str()));
}

/// The merchant's items, orders by id and notices by time.
pub async fn merchant_items_are_the_merchants_own_in_order(s: &(impl PlanStore + ?Sized)) {
    let (m, other) = (unique("m"), unique("m"));
    for id in ["po_b", "po_a", "po_c"] {
        s.create_plan_order(&plan_order(&m, id), None).await.unwrap();
    }
    s.create_plan_order(&plan_order(&other, &unique("po")), None).await.unwrap();
    let t = now();
    let later = NoticeItem::new(&m, "b", "second".into(), serde_json::Value::Null, t + Duration::seconds(1));
    let earlier = NoticeItem::new(&m, "a", "first".into(), serde_json::Value::Null, t);
    s.put_plan(&plan(&m, 1, None), Some(&later)).await.unwrap();
    let mut p = plan(&m, 2, None);
    p.updated_at = t;
    s.put_plan(&p, Some(&earlier)).await.unwrap();
    let items = s.merchant_items(&m).await.unwrap();
    assert_eq!(items.orders.iter().map(|o| o.order_id.as_str()).collect::<Vec<_>>(), ["po_a", "po_b", "po_c"]);
    assert_eq!(items.notices.iter().map(|n| n.message.as_str()).collect::<Vec<_>>(), ["first", "second"]);
    assert!(items.settings.is_none());
    let empty = s.merchant_items(&unique("m")).await.unwrap();
    assert!(empty.plan.is_none() && empty.orders.is_empty() && empty.notices.is_empty());
}

/// `plans_expiring` returns the plans of the days asked for, no others.
pub async fn plans_expiring_reads_the_days_asked_for(s: &(impl PlanStore + ?Sized)) {
    // Far-off days no other check uses.
    let base: NaiveDate = "2091-03-10".parse().unwrap();
    let offset = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) * 40;
    let day = |n: u64| base + chrono::Days::new(offset + n);
    let mut ms = Vec::new();
    for n in [0, 1, 2, 5] {
        let m = unique("m");
        s.put_plan(&plan(&m, 1, Some(day(n))), None).await.unwrap();
        ms.push(m);
    }
    let found = s.plans_expiring(day(1), day(3)).await.unwrap();
    let mut got: Vec<_> = found.plans.iter().map(|p| p.merchant_id.clone()).collect();
    got.sort();
    let mut want = vec![ms[1].clone(), ms[2].clone()];
    want.sort();
    assert_eq!(got, want);
    assert!(found.queries >= 3, "one query per day at least");
    assert_eq!(found.items_read, 2);
}

/// The side-effect lease: one holder at a time; an expired lease can be taken over.
pub async fn one_holder_of_the_side_effect_lease_at_a_time(s: &(impl PlanStore + ?Sized)) {
    let m = unique("m");
    let id = unique("po");
    let t = now();
    s.create_plan_order(&plan_order(&m, &id), None).await.unwrap();
    assert!(!s.lease_order_effects(&m, &id, t, t + Duration::seconds(30)).await.unwrap(), "nothing pending");
    s.apply_payment(&paid(plan_order(&m, &id)), &plan(&m, 1, None), None).await.unwrap();
    assert!(s.lease_order_effects(&m, &id, t, t + Duration::seconds(30)).await.unwrap());
    assert!(!s.lease_order_effects(&m, &id, t, t + Duration::seconds(30)).await.unwrap(), "held");
    let later = t + Duration::seconds(31);
    assert!(s.lease_order_effects(&m, &id, later, later + Duration::seconds(30)).await.unwrap(), "an expired lease is taken over");
    s.clear_order_flags(&m, &id, &["pending_onboarding"], true).await.unwrap();
    let o = s.plan_order(&m, &id).await.unwrap().unwrap();
    assert!(!o.pending_onboarding && o.effects_lease_until.is_none());
    assert!(!s.lease_order_effects(&m, &id, later, later).await.unwrap(), "nothing left to do");
    assert!(!s.lease_order_effects(&m, &unique("po"), t, t).await.unwrap(), "an unknown order");
}

/// Idempotency claims are exclusive; only an `in_progress` claim is released.
pub async fn idempotency_claims_are_exclusive(s: &(impl IdempotencyStore + ?Sized)) {
    let m = unique("m");
    let record = idempotency_record(&m, "po_1");
    assert!(matches!(s.claim_idempotency(&record).await.unwrap(), Claim::Claimed));
    let mut second = record.clone();
    second.resource_id = "po_2".into();
    match s.claim_idempotency(&second).await.unwrap() {
        Claim::Existing(existing) => assert_eq!(existing, record),
        Claim::Claimed => panic!("a key was claimed twice"),
    }
    s.release_idempotency(&record.pk).await.unwrap();
    assert_eq!(s.idempotency(&record.pk).await.unwrap(), None);
    assert!(matches!(s.claim_idempotency(&second).await.unwrap(), Claim::Claimed));
    s.release_idempotency(&unique("IDEMPOTENCY#none")).await.unwrap();
}

/// Invoice settings of `merchant` as saved at `version` (credentials accepted by Wixtar).
pub fn settings_item(merchant: &str, version: u64, store_code: &str) -> SettingsItem {
    let wire: einvoice_domain::settings::InvoiceSettingsWire = serde_json::from_value(json!({
        "enabled": true, "provider": "wixtar", "show_at_checkout": true, "issue_on": ["shipment"],
        "credentials": {"ubn": "04595257", "store_code": store_code, "pos_code": "P01", "pid": "PID-1",
            "rid": "RID-Secret-0001", "pname": "小明商行", "aes_key": "0123456789abcdef0123456789ABCDEF"}
    }))
    .expect("settings wire");
    let keys = MasterKeys::from_secret(&Secret::new(MasterKeys::generate_json("contract"))).expect("master keys");
    SettingsItem::seal(merchant, &wire.parse(None).expect("settings"), &keys, CredentialCheck::Accepted, version, now())
}

/// Settings: the first save only where none exists, then each save from the version read.
pub async fn settings_saves_are_version_checked(s: &(impl SettingsStore + ?Sized)) {
    let m = unique("m");
    assert_eq!(s.settings(&m).await.unwrap(), None);
    let first = settings_item(&m, 1, "S001");
    s.put_settings(&first).await.unwrap();
    assert!(is_conflict(s.put_settings(&settings_item(&m, 1, "S002")).await), "a second first save");
    assert_eq!(s.settings(&m).await.unwrap(), Some(first));
    let second = settings_item(&m, 2, "S002");
    s.put_settings(&second).await.unwrap();
    assert!(is_conflict(s.put_settings(&settings_item(&m, 2, "S003")).await), "a save from a stale version");
    assert!(is_conflict(s.put_settings(&settings_item(&m, 4, "S004")).await), "a save from a version never read");
    assert_eq!(s.settings(&m).await.unwrap().map(|i| i.store_code), Some("S002".into()));
}

fn mail_claim(event_id: &str, now: DateTime<Utc>, lease: Duration) -> MailItem {
    MailItem::claim(event_id, "m1", "wixtar_purchase_confirmation", &["ap@example.com.tw".into()], "付款完成", now, now + lease)
}

/// The mail ledger: one sender per event; a live lease is busy, an expired or failed claim is
/// taken over (attempts counted, first creation time kept); a sent mail stays sent.
pub async fn one_mail_per_event(s: &(impl MailLedger + ?Sized)) {
    let event = unique("evt");
    let t = now();
    let lease = Duration::seconds(45);
    assert_eq!(s.claim_mail(&mail_claim(&event, t, lease), t).await.unwrap(), MailClaim::Claimed);
    let first = s.mail_record(&event).await.unwrap().unwrap();
    assert_eq!((first.status, first.attempts, first.created_at), (MailStatus::Sending, 1, t));
    let during = t + Duration::seconds(10);
    assert!(matches!(s.claim_mail(&mail_claim(&event, during, lease), during).await.unwrap(), MailClaim::Busy(_)));
    // The holder died: after its lease a redelivery takes over.
    let after = t + Duration::seconds(46);
    assert_eq!(s.claim_mail(&mail_claim(&event, after, lease), after).await.unwrap(), MailClaim::Claimed);
    let taken = s.mail_record(&event).await.unwrap().unwrap();
    assert_eq!((taken.attempts, taken.created_at, taken.updated_at), (2, t, after));
    // SES refused it: failed, and the next delivery claims at once.
    s.mail_failed(&event, "SES throttled", after).await.unwrap();
    let failed = s.mail_record(&event).await.unwrap().unwrap();
    assert_eq!((failed.status, failed.last_error.as_deref(), failed.lease_until), (MailStatus::Failed, Some("SES throttled"), None));
    assert_eq!(s.claim_mail(&mail_claim(&event, after, lease), after).await.unwrap(), MailClaim::Claimed);
    assert_eq!(s.mail_record(&event).await.unwrap().unwrap().last_error.as_deref(), Some("SES throttled"), "a claim keeps the last error");
    s.mail_sent(&event, "msg-1", after).await.unwrap();
    let sent = s.mail_record(&event).await.unwrap().unwrap();
    assert_eq!((sent.status, sent.message_id.as_deref(), sent.lease_until, sent.last_error.as_deref()), (MailStatus::Sent, Some("msg-1"), None, None));
    // Sent is final: a redelivery sends nothing, a late failure does not overwrite it.
    let much_later = after + Duration::hours(1);
    assert_eq!(s.claim_mail(&mail_claim(&event, much_later, lease), much_later).await.unwrap(), MailClaim::Sent(sent.clone()));
    s.mail_failed(&event, "late", much_later).await.unwrap();
    assert_eq!(s.mail_record(&event).await.unwrap().unwrap(), sent);
    assert_eq!(s.mail_record(&unique("evt")).await.unwrap(), None);
}

/// One test per contract check, each against a store made by `let <pattern> = <make>;` and
/// passed as `<store>`: `store_contract_tests!(let store = MemoryStore::new(); &store);`.
#[macro_export]
macro_rules! store_contract_tests {
    (let $pat:pat = $make:expr; $store:expr) => {
        $crate::store_contract_tests!(@each ($pat) ($make) ($store);
            plan_orders_are_created_once,
            creating_an_order_completes_its_idempotency_record,
            payments_apply_once_and_plan_versions_guard_races,
            failed_orders_can_still_be_paid,
            plan_writes_are_version_checked,
            merchant_items_are_the_merchants_own_in_order,
            plans_expiring_reads_the_days_asked_for,
            one_holder_of_the_side_effect_lease_at_a_time,
            idempotency_claims_are_exclusive,
            settings_saves_are_version_checked,
            one_mail_per_event,
            orders_are_written_from_the_version_read,
            a_large_orders_lines_are_stored_once_per_content_and_read_back_whole,
            one_invoice_per_order_and_per_number,
            number_blocks_are_taken_once,
            a_periods_numbers_and_merchants_read_back,
            invoice_status_writes_answer_the_claim_and_move_the_due_time,
            a_return_finishes_only_from_the_version_seen,
            an_upload_says_whether_a_return_waits,
            allowances_are_appended_at_the_count_read,
            the_due_index_lists_what_is_due_earliest_first,
            settle_due_removes_only_the_due_time_it_read,
            a_winner_is_found_by_its_number_and_marked_once,
            a_prize_is_notified_once,
            a_winning_proof_prints_once_for_one_request,
            of_concurrent_prints_exactly_one_wins,
            a_handled_prize_list_is_recorded_once,
        );
    };
    (@each ($pat:pat) ($make:expr) ($store:expr); $($check:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                let $pat = $make;
                $crate::store::contract::$check($store).await;
            }
        )*
    };
}

#[cfg(test)]
mod memory {
    crate::store_contract_tests!(let store = crate::store::memory::MemoryStore::new(); &store);
}
