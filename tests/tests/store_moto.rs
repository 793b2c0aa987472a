//! The DynamoDB adapter against moto: the conditions that make payments, idempotency and
//! side effects happen once.

use chrono::{Duration, Utc};
use e2e_tests::start;
use einvoice_adapters::store::{Claim, IdempotencyItem, PlanItem, PlanOrderItem, Store, StoreError, keys};
use serde_json::json;

fn order(merchant: &str, id: &str) -> PlanOrderItem {
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
        status: "pending_payment".into(),
        contact: json!({}),
        company: json!({}),
        payment: json!({}),
        created_at: Utc::now(),
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
    o.status = "paid".into();
    o.paid_at = Some(Utc::now());
    o.pending_onboarding = true;
    o
}

async fn store() -> (e2e_tests::Harness, Store) {
    let h = start().await;
    let s = h.stack.store();
    (h, s)
}

#[tokio::test]
async fn an_order_is_created_once_with_its_pointer() {
    let (_h, s) = store().await;
    let o = order("m1", "po_1");
    s.create_plan_order(&o, None).await.unwrap();
    assert!(matches!(s.create_plan_order(&o, None).await, Err(StoreError::Conflict)));
    assert_eq!(s.plan_order_merchant("po_1").await.unwrap().as_deref(), Some("m1"));
    assert_eq!(s.plan_order("m1", "po_1").await.unwrap().unwrap(), o);
    assert_eq!(s.plan_order_merchant("po_2").await.unwrap(), None);
}

#[tokio::test]
async fn a_payment_applies_once_and_plan_versions_guard_races() {
    let (_h, s) = store().await;
    let now = Utc::now();
    s.create_plan_order(&order("m1", "po_1"), None).await.unwrap();
    s.create_plan_order(&order("m1", "po_2"), None).await.unwrap();
    let mut plan = PlanItem::empty("m1", now);
    plan.version = 1;
    plan.expires_on = Some("2026-05-30".parse().unwrap());
    s.apply_payment(&paid(order("m1", "po_1")), &plan, None).await.unwrap();
    // The same order again: its status is no longer pending.
    plan.version = 2;
    assert!(matches!(s.apply_payment(&paid(order("m1", "po_1")), &plan, None).await, Err(StoreError::Conflict)));
    // Another order computed from a stale plan (version 0 → 1): refused, nothing written.
    let mut stale = plan.clone();
    stale.version = 1;
    assert!(matches!(s.apply_payment(&paid(order("m1", "po_2")), &stale, None).await, Err(StoreError::Conflict)));
    assert_eq!(s.plan_order("m1", "po_2").await.unwrap().unwrap().status, "pending_payment");
    // From the current version: accepted.
    s.apply_payment(&paid(order("m1", "po_2")), &plan, None).await.unwrap();
    let stored = s.plan("m1").await.unwrap().unwrap();
    assert_eq!(stored.version, 2);
    assert!(!s.fail_plan_order("m1", "po_2", now).await.unwrap(), "a paid order cannot fail");
}

#[tokio::test]
async fn idempotency_claims_are_exclusive_and_expire() {
    let (_h, s) = store().await;
    let now = Utc::now();
    let record = IdempotencyItem {
        pk: keys::idempotency("m1", "plan-checkout", "k"),
        sk: keys::IDEMPOTENCY.into(),
        entity: "idempotency".into(),
        request_sha256: "abc".into(),
        state: "in_progress".into(),
        resource_id: "po_1".into(),
        status_code: None,
        response_body: None,
        created_at: now,
        ttl: (now + Duration::hours(24)).timestamp(),
    };
    assert!(matches!(s.claim_idempotency(&record).await.unwrap(), Claim::Claimed));
    let mut second = record.clone();
    second.resource_id = "po_2".into();
    match s.claim_idempotency(&second).await.unwrap() {
        Claim::Existing(existing) => assert_eq!(existing.resource_id, "po_1"),
        Claim::Claimed => panic!("a key was claimed twice"),
    }
    s.release_idempotency(&record.pk).await.unwrap();
    assert!(matches!(s.claim_idempotency(&second).await.unwrap(), Claim::Claimed));
}

#[tokio::test]
async fn one_holder_of_the_side_effect_lease_at_a_time() {
    let (_h, s) = store().await;
    let now = Utc::now();
    s.create_plan_order(&order("m1", "po_1"), None).await.unwrap();
    assert!(!s.lease_order_effects("m1", "po_1", now, now + Duration::seconds(30)).await.unwrap(), "nothing pending");
    let mut plan = PlanItem::empty("m1", now);
    plan.version = 1;
    s.apply_payment(&paid(order("m1", "po_1")), &plan, None).await.unwrap();
    assert!(s.lease_order_effects("m1", "po_1", now, now + Duration::seconds(30)).await.unwrap());
    assert!(!s.lease_order_effects("m1", "po_1", now, now + Duration::seconds(30)).await.unwrap(), "held");
    // A lease that ran out (its holder died) can be taken over.
    let later = now + Duration::seconds(31);
    assert!(s.lease_order_effects("m1", "po_1", later, later + Duration::seconds(30)).await.unwrap());
    s.clear_order_flags("m1", "po_1", &["pending_onboarding"], true).await.unwrap();
    let o = s.plan_order("m1", "po_1").await.unwrap().unwrap();
    assert!(!o.pending_onboarding && o.effects_lease_until.is_none());
    assert!(!s.lease_order_effects("m1", "po_1", later, later).await.unwrap(), "nothing left to do");
}
