//! The two jobs' decisions against the in-memory ports (`einvoice_adapters::testing`): what
//! tests/tests/renewal.rs drives end to end through the local stack, here without moto or the
//! simulators. The schedule's wiring (the event's `time`, the Lambda runtime) stays end to end.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use einvoice_adapters::payment::{ChargeReceipt, ChargeResult};
use einvoice_adapters::schedule::ScheduledJob;
use einvoice_adapters::store::{PlanItem, PlanOrderStatus, PlanStore};
use einvoice_adapters::testing::{FakeCharge, FakeGateway, Fault, MemoryStore, RecordingBus};
use einvoice_domain::renewal::{AttemptOutcome, AutoRenewRequest, ChargeAttempt, ChargeAttempts, NextCycle, change_auto_renew};
use einvoice_domain::{AutoRenew, PlanCatalogue, PlanMonths, RetryPolicy, SuspendReason};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{Config, Dependencies, RenewalCharge, RenewalCutoff};

/// The expiry of [`World::subscribe`]d plans: cancel deadline 2026-12-16 (T-15), charge day
/// 2026-12-21 (T-10), retries on 12-24, 12-27 and 12-30 (T-7, T-4, T-1).
const E: &str = "2026-12-31";

fn d(day: &str) -> NaiveDate {
    day.parse().expect("a date")
}

/// 00:10 Taipei on `day`, when the schedules fire.
fn at(day: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("{day}T00:10:00+08:00")).expect("a time").to_utc()
}

fn months(n: u32) -> PlanMonths {
    PlanMonths::new(n).expect("a plan length")
}

fn token(m: &str) -> String {
    format!("tok-{m}")
}

fn key(m: &str, attempt: u32) -> String {
    format!("renew:{m}:{E}:{attempt}")
}

/// Auto-renew on for 3 months with card 4242, as a paid card checkout with `auto_renew` leaves it.
fn auto_renew_on() -> AutoRenew {
    AutoRenew { enabled: true, months: Some(months(3)), next: None, suspended: None, card_last4: Some("4242".into()) }
}

/// Asserts the named counts of a run's summary, exactly.
#[track_caller]
fn assert_counts(summary: &Value, expected: Value) {
    for (field, value) in expected.as_object().expect("an object of counts") {
        assert_eq!(&summary[field], value, "{field} in {summary}");
    }
}

/// The jobs over fakes: a table in memory, a gateway, a bus.
struct World {
    store: MemoryStore,
    gateway: Arc<FakeGateway>,
    bus: Arc<RecordingBus>,
    config: Config,
}

impl World {
    fn new() -> Self {
        Self {
            store: MemoryStore::new(),
            gateway: Arc::new(FakeGateway::new()),
            bus: Arc::new(RecordingBus::new()),
            config: Config {
                table_name: "unused".into(),
                event_bus_name: "unused".into(),
                payment_gateway_url: "unused".into(),
                plan_catalogue: PlanCatalogue::from_json(r#"{"3":1800,"6":3300,"12":6000,"24":10800}"#).expect("a catalogue"),
                retry: RetryPolicy::new([7, 4, 1]).expect("a policy"),
                cutoff_look_back_days: 14,
            },
        }
    }

    fn deps(&self) -> Dependencies {
        Dependencies { store: Arc::new(self.store.clone()), gateway: self.gateway.clone(), events: self.bus.clone() }
    }

    fn charge_job(&self) -> RenewalCharge {
        RenewalCharge::new(&self.config, self.deps())
    }

    fn cutoff_job(&self) -> RenewalCutoff {
        RenewalCutoff::new(&self.config, self.deps())
    }

    async fn charge(&self, day: &str) -> Value {
        self.charge_job().run(at(day)).await.expect("the run completes")
    }

    async fn cutoff(&self, day: &str) -> Value {
        self.cutoff_job().run(at(day)).await.expect("the run completes")
    }

    /// Six merchants due on [`E`], then three runs of `job` on `day` at once: each plan is
    /// counted under `counted` by exactly one run, and no run fails. On the test's
    /// single-threaded runtime the runs interleave at every store call (MemoryStore yields), so
    /// they read the same plans before any of them writes. The merchants.
    async fn race(&self, job: impl ScheduledJob, day: &str, counted: &str) -> Vec<String> {
        let merchants: Vec<String> = (0..6).map(|i| format!("m-{i}")).collect();
        for m in &merchants {
            self.subscribe(m, E).await;
        }
        let job = Arc::new(job);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..3 {
            let (job, now) = (job.clone(), at(day));
            tasks.spawn(async move { job.run(now).await.expect("the run completes") });
        }
        let runs = tasks.join_all().await;
        let total: u64 = runs.iter().map(|r| r[counted].as_u64().unwrap()).sum();
        assert_eq!(total, 6, "each plan counted as {counted} by exactly one run: {runs:?}");
        assert!(runs.iter().all(|r| r["failed"] == 0), "{runs:?}");
        merchants
    }

    /// The plan of a merchant who paid a card checkout with auto-renew (3 months, card 4242,
    /// token `tok-{m}`) and whose period ends on `expires_on`.
    fn plan_of(m: &str, expires_on: &str) -> PlanItem {
        PlanItem {
            ubn: Some("04595257".into()),
            starts_on: Some(d("2026-09-01")),
            expires_on: Some(d(expires_on)),
            paid_orders: 1,
            auto_renew: auto_renew_on(),
            card_token: Some(token(m)),
            version: 1,
            ..PlanItem::empty(m, at("2026-09-01"))
        }
    }

    async fn seed(&self, plan: &PlanItem) {
        self.store.put_plan(plan, None).await.expect("a new plan is written");
    }

    async fn subscribe(&self, m: &str, expires_on: &str) {
        self.seed(&Self::plan_of(m, expires_on)).await;
    }

    async fn plan(&self, m: &str) -> PlanItem {
        self.store.plan(m).await.unwrap().expect("a plan")
    }

    /// What a request of the merchant does to the plan (plan-checkout's writes), version-checked.
    async fn edit(&self, m: &str, change: impl FnOnce(&mut PlanItem)) {
        let mut plan = self.plan(m).await;
        change(&mut plan);
        plan.version += 1;
        self.store.put_plan(&plan, None).await.expect("nobody else writes meanwhile");
    }

    fn charges(&self, token: &str) -> Vec<FakeCharge> {
        self.gateway.charges().into_iter().filter(|c| c.card_token == token).collect()
    }

    fn keys(&self, token: &str) -> Vec<String> {
        self.charges(token).into_iter().map(|c| c.idempotency_key).collect()
    }

    /// Details of the events of one type about `m`, in publishing order.
    fn events(&self, m: &str, detail_type: &str) -> Vec<Value> {
        self.bus.of_type(detail_type).into_iter().map(|e| e.detail).filter(|e| e["merchant_id"] == m).collect()
    }

    fn mails(&self, m: &str, template: &str) -> Vec<Value> {
        self.events(m, "MerchantNotification").into_iter().filter(|e| e["template"] == template).collect()
    }

    fn event_ids(&self, m: &str, detail_type: &str) -> BTreeSet<String> {
        self.events(m, detail_type).iter().map(|e| e["event_id"].as_str().expect("an event id").to_owned()).collect()
    }
}

// ---- renewal-cutoff (T-15) ----

#[tokio::test]
async fn cutoff_locks_from_the_day_after_t15_and_notifies_once_with_date_amount_and_card() {
    let w = World::new();
    w.subscribe("m-1", E).await;
    w.seed(&PlanItem { auto_renew: AutoRenew { enabled: false, ..auto_renew_on() }, ..World::plan_of("m-off", E) }).await;

    // T-15 can still be cancelled: that day's run does not even read 12-31 (it locks on 12-17).
    let on_deadline = w.cutoff("2026-12-16").await;
    assert_counts(&on_deadline, json!({"window": ["2026-12-16", "2026-12-30"], "items_read": 0, "notified": 0}));
    let run = w.cutoff("2026-12-17").await;
    assert_counts(&run, json!({"window": ["2026-12-17", "2026-12-31"], "queries": 15, "items_read": 2, "due": 1, "notified": 1, "skipped": 1, "failed": 0}));
    for _ in 0..2 {
        assert_counts(&w.cutoff("2026-12-17").await, json!({"due": 0, "notified": 0, "skipped": 2}));
    }

    assert_eq!(
        w.events("m-1", "MerchantNotification"),
        [json!({"event_id": "m-1:renewal-locked:2026-12-31", "merchant_id": "m-1", "channel": "email", "template": "auto_renew_locked",
                "cycle": "2026-12-31", "locked_from": "2026-12-17", "charge_on": "2026-12-21", "months": 3, "amount": 1800,
                "currency": "TWD", "card_last4": "4242"})]
    );
    let plan = w.plan("m-1").await;
    assert_eq!((plan.renewal_locked_for, plan.version, plan.updated_at), (Some(d(E)), 2, at("2026-12-17")));
    assert_eq!(plan.auto_renew, auto_renew_on(), "locking changes no setting");
    assert!(w.events("m-off", "MerchantNotification").is_empty());
    assert_eq!(w.plan("m-off").await.version, 1);
}

#[tokio::test]
async fn cutoff_prices_the_cycle_the_renewal_will_charge() {
    let w = World::new();
    w.seed(&PlanItem { auto_renew: AutoRenew { months: Some(months(12)), ..auto_renew_on() }, ..World::plan_of("m-12", E) }).await;
    // A change queued on or after a charge day of an earlier expiry has settled by now.
    let queued = AutoRenew { next: Some(NextCycle { months: months(24), after_expiry: d("2026-09-30") }), ..auto_renew_on() };
    w.seed(&PlanItem { auto_renew: queued, ..World::plan_of("m-24", E) }).await;
    assert_eq!(w.cutoff("2026-12-17").await["notified"], 2);
    assert_eq!(
        (w.mails("m-12", "auto_renew_locked")[0]["months"].as_u64(), w.mails("m-12", "auto_renew_locked")[0]["amount"].as_u64()),
        (Some(12), Some(6000))
    );
    assert_eq!(
        (w.mails("m-24", "auto_renew_locked")[0]["months"].as_u64(), w.mails("m-24", "auto_renew_locked")[0]["amount"].as_u64()),
        (Some(24), Some(10800))
    );
}

#[tokio::test]
async fn cutoff_catches_up_missed_days_until_the_expiry() {
    let w = World::new();
    w.subscribe("m-1", E).await;
    // No run from T-14 to T-9: the first run still locks it, with the day it locked from.
    let run = w.cutoff("2026-12-22").await;
    assert_counts(&run, json!({"window": ["2026-12-22", "2027-01-05"], "notified": 1}));
    assert_eq!(w.mails("m-1", "auto_renew_locked")[0]["locked_from"], "2026-12-17");
    assert_eq!(w.cutoff("2026-12-23").await["notified"], 0);

    // A plan nobody ran the cutoff for is still told on its expiry day, and not after it.
    w.subscribe("m-late", "2026-12-31").await;
    w.subscribe("m-gone", "2026-12-30").await;
    assert_counts(&w.cutoff(E).await, json!({"window": ["2026-12-31", "2027-01-14"], "notified": 1}));
    assert_eq!(w.mails("m-late", "auto_renew_locked").len(), 1);
    assert!(w.mails("m-gone", "auto_renew_locked").is_empty(), "expired on 12-30: outside the window");
}

#[tokio::test]
async fn overlapping_cutoff_runs_notify_each_plan_once() {
    let w = World::new();
    let merchants = w.race(w.cutoff_job(), "2026-12-17", "notified").await;
    assert!(w.bus.events().len() > 6, "the runs raced on no plan: this test proves nothing");
    for m in &merchants {
        // Published at least once (a run that lost the write race published too); one id.
        assert_eq!(w.event_ids(m, "MerchantNotification"), BTreeSet::from([format!("{m}:renewal-locked:2026-12-31")]));
        let plan = w.plan(m).await;
        assert_eq!((plan.renewal_locked_for, plan.version), (Some(d(E)), 2));
    }
}

#[tokio::test]
async fn cutoff_left_for_the_next_run_when_the_bus_is_down() {
    let w = World::new();
    w.subscribe("m-1", E).await;
    w.bus.fail_next(1);
    assert_counts(&w.cutoff("2026-12-17").await, json!({"due": 1, "notified": 0, "failed": 1}));
    let plan = w.plan("m-1").await;
    assert_eq!((plan.renewal_locked_for, plan.version), (None, 1), "nothing recorded as told");
    assert_counts(&w.cutoff("2026-12-18").await, json!({"notified": 1, "failed": 0}));
    assert_eq!(w.mails("m-1", "auto_renew_locked").len(), 1);
}

// ---- renewal-charge (T-10) ----

#[tokio::test]
async fn charged_on_t10_once_however_often_the_job_runs() {
    let w = World::new();
    w.subscribe("m-1", E).await;
    // T-11: the window ends on the expiries charged today (12-30), so 12-31 is not even read.
    assert_counts(&w.charge("2026-12-20").await, json!({"window": ["2026-12-17", "2026-12-30"], "items_read": 0, "due": 0, "charged": 0}));
    assert!(w.gateway.charges().is_empty(), "T-11 charges nothing");

    let run = w.charge("2026-12-21").await;
    assert_counts(&run, json!({"window": ["2026-12-18", "2026-12-31"], "due": 1, "charged": 1, "declined": 0, "suspended": 0, "failed": 0}));
    let charge = FakeCharge {
        card_token: token("m-1"),
        amount: 1800,
        idempotency_key: key("m-1", 1),
        receipt: ChargeReceipt { charge_id: "ch_000001".into(), result: ChargeResult::Succeeded },
    };
    assert_eq!(w.gateway.charges(), [charge]);

    // Again the same day, the next days, and an operator's replay of an older day.
    for day in ["2026-12-21", "2026-12-22", "2026-12-31", "2026-12-15", "2026-12-21"] {
        assert_counts(&w.charge(day).await, json!({"due": 0, "charged": 0, "failed": 0}));
    }
    assert_eq!(w.gateway.charges().len(), 1, "one charge for the cycle");

    let plan = w.plan("m-1").await;
    assert_eq!((plan.expires_on, plan.paid_orders, plan.version), (Some(d("2027-03-31")), 2, 3), "3 months from 2027-01-01");
    let attempt = ChargeAttempt { attempt: 1, on: d("2026-12-21"), months: months(3), outcome: AttemptOutcome::Succeeded };
    assert_eq!(plan.renewal_attempts, Some(ChargeAttempts { cycle_expires_on: d(E), attempts: vec![attempt] }));

    let orders = w.store.merchant_items("m-1").await.unwrap().orders;
    assert_eq!(orders.len(), 1);
    let order = &orders[0];
    let digest = hex::encode(Sha256::digest(key("m-1", 1).as_bytes()));
    assert_eq!(order.order_id, format!("po_{}", &digest[..32]), "derived from the charge's key");
    assert_eq!((order.kind.as_str(), order.status, order.amount, order.months, order.bonus_months), ("renewal", PlanOrderStatus::Paid, 1800, 3, 0));
    assert_eq!((order.period_starts_on, order.period_expires_on, order.paid_at), (Some(d("2026-09-01")), Some(d("2027-03-31")), Some(at("2026-12-21"))));
    assert_eq!(
        order.payment,
        json!({"method": "card", "source": "auto_renew", "charge_id": "ch_000001", "idempotency_key": key("m-1", 1), "cycle": E, "attempt": 1})
    );

    assert_eq!(
        w.events("m-1", "PlanRenewed"),
        [json!({"event_id": "m-1:renewal:2026-12-31:renewed", "merchant_id": "m-1", "cycle": E, "attempt": 1, "months": 3,
                "amount": 1800, "currency": "TWD", "expires_on": "2027-03-31"})]
    );
    assert_eq!(
        w.mails("m-1", "auto_renew_succeeded"),
        [json!({"event_id": "m-1:renewal:2026-12-31:renewed:email", "merchant_id": "m-1", "channel": "email", "template": "auto_renew_succeeded",
                "months": 3, "amount": 1800, "currency": "TWD", "expires_on": "2027-03-31", "card_last4": "4242"})]
    );
}

#[tokio::test]
async fn overlapping_charge_runs_charge_each_cycle_once() {
    let w = World::new();
    let merchants = w.race(w.charge_job(), "2026-12-21", "charged").await;
    assert!(w.bus.of_type("PlanRenewed").len() > 6, "the runs raced on no plan: this test proves nothing");
    for m in &merchants {
        assert_eq!(w.keys(&token(m)), [key(m, 1)], "{m}");
        assert_eq!(w.plan(m).await.expires_on, Some(d("2027-03-31")), "{m}");
        assert_eq!(w.store.merchant_items(m).await.unwrap().orders.len(), 1, "{m}: one renewal order");
        // Events are published at least once; their ids make repeats recognisable.
        assert_eq!(w.event_ids(m, "PlanRenewed"), BTreeSet::from([format!("{m}:renewal:2026-12-31:renewed")]));
    }
}

#[tokio::test]
async fn a_cycle_change_before_the_charge_day_applies_to_it_and_after_to_the_next() {
    let w = World::new();
    w.subscribe("early", E).await;
    w.subscribe("late", E).await;
    let six = AutoRenewRequest { enabled: true, months: Some(months(6)) };
    // T-11 (after the cancel deadline: a cycle change is not a cancellation), and T-10 before the run.
    for (m, day) in [("early", "2026-12-20"), ("late", "2026-12-21")] {
        let changed = change_auto_renew(&auto_renew_on(), Some(d(E)), d(day), &six).expect("accepted");
        w.edit(m, |p| p.auto_renew = changed).await;
    }
    assert_eq!(w.plan("late").await.auto_renew.next, Some(NextCycle { months: months(6), after_expiry: d(E) }));

    assert_counts(&w.charge("2026-12-21").await, json!({"charged": 2}));
    assert_eq!(w.charges(&token("early"))[0].amount, 3300, "6 months charged");
    assert_eq!(w.charges(&token("late"))[0].amount, 1800, "3 months charged");
    assert_eq!(w.plan("early").await.expires_on, Some(d("2027-06-30")));
    let late = w.plan("late").await;
    assert_eq!(late.expires_on, Some(d("2027-03-31")));
    assert_eq!((late.auto_renew.months, late.auto_renew.next), (Some(months(6)), None), "the change applies from the next charge");
    assert_eq!(w.mails("late", "auto_renew_succeeded")[0]["months"], 3);
}

#[tokio::test]
async fn soft_declines_are_retried_on_t7_t4_t1_then_auto_renew_is_suspended() {
    let w = World::new();
    w.subscribe("m-1", E).await;
    w.gateway.set_card(&token("m-1"), ChargeResult::Declined);
    assert_counts(&w.charge("2026-12-21").await, json!({"due": 1, "declined": 1}));
    for day in ["2026-12-22", "2026-12-23"] {
        assert_counts(&w.charge(day).await, json!({"due": 0, "declined": 0}));
    }
    for (day, field) in [("2026-12-24", "declined"), ("2026-12-27", "declined"), ("2026-12-30", "suspended")] {
        assert_counts(&w.charge(day).await, json!({"due": 1, field: 1}));
    }
    assert_counts(&w.charge(E).await, json!({"due": 0}));
    assert_eq!(w.keys(&token("m-1")), [1, 2, 3, 4].map(|a| key("m-1", a)));
    assert!(w.charges(&token("m-1")).iter().all(|c| c.amount == 1800 && c.receipt.result == ChargeResult::Declined));

    let next_days: Vec<(Value, Value)> = w.mails("m-1", "auto_renew_declined").iter().map(|m| (m["attempt"].clone(), m["next_attempt_on"].clone())).collect();
    assert_eq!(next_days, [(json!(1), json!("2026-12-24")), (json!(2), json!("2026-12-27")), (json!(3), json!("2026-12-30"))]);
    assert_eq!(
        w.mails("m-1", "auto_renew_declined")[0],
        json!({"event_id": "m-1:renewal:2026-12-31:declined:1", "merchant_id": "m-1", "channel": "email", "template": "auto_renew_declined",
               "cycle": E, "attempt": 1, "next_attempt_on": "2026-12-24", "amount": 1800, "currency": "TWD", "card_last4": "4242"})
    );
    assert_eq!(
        w.mails("m-1", "auto_renew_suspended"),
        [json!({"event_id": "m-1:renewal:2026-12-31:suspended", "merchant_id": "m-1", "channel": "email", "template": "auto_renew_suspended",
                "cycle": E, "attempt": 4, "reason": "declined", "expires_on": E, "card_last4": "4242"})]
    );
    let plan = w.plan("m-1").await;
    assert_eq!((plan.expires_on, plan.auto_renew.suspended, plan.paid_orders), (Some(d(E)), Some(SuspendReason::Declined), 1), "the plan runs out");
    let notices = w.store.merchant_items("m-1").await.unwrap().notices;
    assert_eq!(
        notices.iter().map(|n| (n.code.as_str(), n.details.clone())).collect::<Vec<_>>(),
        [("auto_renew_suspended", json!({"reason": "declined", "cycle": E}))]
    );
}

#[tokio::test]
async fn a_soft_decline_then_a_passing_card_renews_on_the_next_policy_day() {
    let w = World::new();
    w.subscribe("m-1", E).await;
    w.gateway.set_card(&token("m-1"), ChargeResult::Declined);
    assert_counts(&w.charge("2026-12-21").await, json!({"declined": 1}));
    assert_counts(&w.charge("2026-12-24").await, json!({"declined": 1}));
    w.gateway.set_card(&token("m-1"), ChargeResult::Succeeded);
    assert_counts(&w.charge("2026-12-26").await, json!({"due": 0}));
    assert_counts(&w.charge("2026-12-27").await, json!({"charged": 1}));
    assert_eq!(w.keys(&token("m-1")), [1, 2, 3].map(|a| key("m-1", a)));
    let plan = w.plan("m-1").await;
    assert_eq!((plan.expires_on, plan.auto_renew.suspended), (Some(d("2027-03-31")), None));
    assert_eq!(w.mails("m-1", "auto_renew_declined").len(), 2, "each decline is notified");
    assert_eq!(w.mails("m-1", "auto_renew_succeeded")[0]["event_id"], "m-1:renewal:2026-12-31:renewed:email");
}

#[tokio::test]
async fn a_hard_decline_is_not_retried_until_a_new_card_is_bound() {
    let w = World::new();
    w.subscribe("m-1", E).await;
    w.gateway.set_card(&token("m-1"), ChargeResult::DeclinedHard);
    assert_counts(&w.charge("2026-12-21").await, json!({"due": 1, "suspended": 1, "declined": 0}));
    for day in ["2026-12-24", "2026-12-27", "2026-12-30"] {
        assert_counts(&w.charge(day).await, json!({"due": 0}));
    }
    assert_eq!(w.keys(&token("m-1")), [key("m-1", 1)]);
    assert_eq!(w.plan("m-1").await.auto_renew.suspended, Some(SuspendReason::DeclinedHard));
    assert_eq!(w.mails("m-1", "auto_renew_suspended")[0]["reason"], "declined_hard");
    assert!(w.mails("m-1", "auto_renew_declined").is_empty());

    // The payment settings bind a new card (plan-checkout): the next run charges it.
    w.edit("m-1", |p| {
        p.auto_renew = p.auto_renew.clone().bind_card("1881");
        p.card_token = Some("tok-new-card".into());
    })
    .await;
    assert_counts(&w.charge("2026-12-31").await, json!({"charged": 1}));
    assert_eq!(w.keys("tok-new-card"), [key("m-1", 2)]);
    assert_eq!(w.plan("m-1").await.expires_on, Some(d("2027-03-31")));
    assert_eq!(w.mails("m-1", "auto_renew_succeeded")[0]["card_last4"], "1881");
}

#[tokio::test]
async fn no_card_when_the_charge_is_due_suspends_without_charging() {
    let w = World::new();
    w.seed(&PlanItem { auto_renew: AutoRenew { card_last4: None, ..auto_renew_on() }, card_token: None, ..World::plan_of("m-1", E) }).await;
    assert_counts(&w.charge("2026-12-21").await, json!({"due": 1, "suspended": 1}));
    assert!(w.gateway.charges().is_empty());
    assert_eq!(w.plan("m-1").await.auto_renew.suspended, Some(SuspendReason::CardNotBound));
    assert_eq!(w.mails("m-1", "auto_renew_suspended")[0]["reason"], "card_not_bound");
    assert_counts(&w.charge("2026-12-22").await, json!({"due": 0}));
}

#[tokio::test]
async fn a_gateway_outage_is_left_for_the_next_run() {
    let w = World::new();
    w.subscribe("m-1", E).await;
    w.gateway.fail_next(Fault::Unavailable, 1);
    assert_counts(&w.charge("2026-12-21").await, json!({"due": 1, "charged": 0, "failed": 1}));
    assert!(w.gateway.charges().is_empty());
    let pending = w.plan("m-1").await.renewal_attempts.expect("the attempt is recorded before the gateway is called");
    assert_eq!(pending.attempts[0].outcome, AttemptOutcome::Pending);
    assert_counts(&w.charge("2026-12-22").await, json!({"charged": 1, "failed": 0}));
    assert_eq!(w.keys(&token("m-1")), [key("m-1", 1)], "the same attempt, re-sent");
}

#[tokio::test]
async fn a_crash_between_the_charge_and_its_record_still_charges_once() {
    let w = World::new();
    w.subscribe("m-1", E).await;
    // The gateway charges, then the answer is lost (as if the job died before recording it).
    w.gateway.fail_next(Fault::AfterWork, 1);
    assert_counts(&w.charge("2026-12-21").await, json!({"charged": 0, "failed": 1}));
    assert_eq!(w.gateway.charges().len(), 1, "the card was charged");
    assert_eq!(w.plan("m-1").await.expires_on, Some(d(E)), "not recorded yet");
    assert!(w.events("m-1", "PlanRenewed").is_empty());

    // The next run (an operator's re-run of the same day) re-sends the same key.
    assert_counts(&w.charge("2026-12-21").await, json!({"charged": 1}));
    assert_eq!(w.keys(&token("m-1")), [key("m-1", 1)], "the repeat was answered with the first charge");
    assert_eq!(w.plan("m-1").await.expires_on, Some(d("2027-03-31")));
    assert_counts(&w.charge("2026-12-22").await, json!({"charged": 0}));
    assert_eq!(w.store.merchant_items("m-1").await.unwrap().orders.len(), 1, "one renewal order");
}

#[tokio::test]
async fn a_charge_whose_announcement_failed_is_recorded_by_the_next_run() {
    let w = World::new();
    w.subscribe("m-1", E).await;
    w.bus.fail_next(1);
    assert_counts(&w.charge("2026-12-21").await, json!({"charged": 0, "failed": 1}));
    assert_eq!(w.plan("m-1").await.expires_on, Some(d(E)));
    assert_counts(&w.charge("2026-12-21").await, json!({"charged": 1}));
    assert_eq!(w.gateway.charges().len(), 1);
    assert_eq!(w.events("m-1", "PlanRenewed").len(), 1);
}

#[tokio::test]
async fn an_attempt_left_pending_on_the_expiry_day_is_resent_after_it() {
    let w = World::new();
    w.subscribe("m-1", E).await;
    w.gateway.fail_next(Fault::AfterWork, 1);
    assert_counts(&w.charge(E).await, json!({"failed": 1}));
    assert_counts(&w.charge("2027-01-01").await, json!({"window": ["2026-12-29", "2027-01-11"], "charged": 1}));
    assert_eq!(w.gateway.charges().len(), 1);
    assert_eq!(w.plan("m-1").await.expires_on, Some(d("2027-03-31")), "renewed from 2027-01-01, not lost");
}

#[tokio::test]
async fn missed_charge_days_are_caught_up_until_the_expiry() {
    let w = World::new();
    w.subscribe("m-1", E).await;
    // No run from T-10 to T-7: T-6 charges attempt 1.
    assert_counts(&w.charge("2026-12-25").await, json!({"charged": 1}));
    assert_eq!(w.keys(&token("m-1")), [key("m-1", 1)]);
    assert_eq!(w.plan("m-1").await.expires_on, Some(d("2027-03-31")));
    // After the expiry nothing is charged any more: a plan never charged simply ends.
    w.subscribe("m-other", E).await;
    assert_counts(&w.charge("2027-01-01").await, json!({"charged": 0, "due": 0}));
    assert!(w.charges(&token("m-other")).is_empty());
}

#[tokio::test]
async fn month_end_expiries() {
    let w = World::new();
    // Expires 2027-01-31: T-10 2027-01-21. Leap day 2028-02-29: T-10 2028-02-19.
    w.subscribe("jan", "2027-01-31").await;
    w.subscribe("leap", "2028-02-29").await;
    assert_counts(&w.charge("2027-01-20").await, json!({"charged": 0}));
    assert_counts(&w.charge("2027-01-21").await, json!({"charged": 1}));
    assert_counts(&w.charge("2028-02-18").await, json!({"charged": 0}));
    assert_counts(&w.charge("2028-02-19").await, json!({"charged": 1}));
    assert_eq!(w.plan("jan").await.expires_on, Some(d("2027-04-30")), "from 2027-02-01, 3 months");
    assert_eq!(w.plan("leap").await.expires_on, Some(d("2028-05-31")), "from 2028-03-01, 3 months");
    assert_eq!(w.keys(&token("jan")), ["renew:jan:2027-01-31:1"]);
    assert_eq!(w.keys(&token("leap")), ["renew:leap:2028-02-29:1"]);
}

#[tokio::test]
async fn the_jobs_read_the_due_plans_not_the_table() {
    let w = World::new();
    // 1,980 plans expiring outside both windows, 20 inside them (expiring 2026-12-31).
    for i in 0..2_000u32 {
        let expires_on = if i % 100 == 0 { E.to_owned() } else { format!("2027-{:02}-{:02}", 2 + i % 11, 1 + i % 28) };
        w.subscribe(&format!("bulk-{i:04}"), &expires_on).await;
    }
    let cutoff = w.cutoff("2026-12-17").await;
    assert_counts(&cutoff, json!({"notified": 20, "items_read": 20, "queries": 15}));
    let run = w.charge("2026-12-21").await;
    assert_counts(&run, json!({"charged": 20, "items_read": 20, "queries": 14, "window": ["2026-12-18", "2026-12-31"]}));
}
