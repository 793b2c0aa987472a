//! 續約扣款 (renewal charge): the card is charged on the 扣款日 (charge day, T-10); a soft
//! decline is retried on the [`RetryPolicy`]'s days (T-7, T-4, T-1), a hard one suspends
//! auto-renew. At most one successful charge per cycle.

use std::ops::RangeInclusive;

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

use super::{AutoRenew, SuspendReason, day_after};
use crate::period::{AutoRenewDates, CHARGE_DAYS_BEFORE_EXPIRY, last_day_covered};
use crate::plan::PlanMonths;

/// Expiry days the charge job reads: charges are due from T-10 up to the expiry day.
pub fn charge_window(today: NaiveDate) -> RangeInclusive<NaiveDate> {
    today..=today + Days::new(CHARGE_DAYS_BEFORE_EXPIRY)
}

/// Days before expiry on which a softly declined renewal is tried again (after T-10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    retry_days_before_expiry: Vec<u64>,
}

impl Default for RetryPolicy {
    /// T-7, T-4, T-1.
    fn default() -> Self {
        Self { retry_days_before_expiry: vec![7, 4, 1] }
    }
}

impl RetryPolicy {
    /// Distinct days, each after the charge day (0–9 days before expiry); any order.
    pub fn new(days: impl IntoIterator<Item = u64>) -> Result<Self, String> {
        let mut days: Vec<u64> = days.into_iter().collect();
        if let Some(bad) = days.iter().find(|&&d| d >= CHARGE_DAYS_BEFORE_EXPIRY) {
            return Err(format!("retry day {bad} is not after the charge day: retry days must be 0 to {} days before expiry", CHARGE_DAYS_BEFORE_EXPIRY - 1));
        }
        days.sort_unstable_by(|a, b| b.cmp(a));
        let before = days.len();
        days.dedup();
        if days.len() != before {
            return Err("retry days must be distinct".into());
        }
        Ok(Self { retry_days_before_expiry: days })
    }

    pub fn retry_days_before_expiry(&self) -> &[u64] {
        &self.retry_days_before_expiry
    }

    /// The scheduled attempt days of a cycle, in order: charge_on, then each retry day.
    pub fn attempt_days(&self, expires_on: NaiveDate) -> Vec<NaiveDate> {
        let charge_on = AutoRenewDates::for_expiry(expires_on).charge_on;
        std::iter::once(charge_on).chain(self.retry_days_before_expiry.iter().map(|&d| expires_on - Days::new(d))).collect()
    }

    /// The first scheduled day after a declined attempt, `None` when that decline is final
    /// (hard, or no scheduled day left after the day it was made).
    pub fn next_attempt_day(&self, expires_on: NaiveDate, declined: &ChargeAttempt) -> Option<NaiveDate> {
        if declined.outcome == AttemptOutcome::DeclinedHard {
            return None;
        }
        self.attempt_days(expires_on).into_iter().find(|&d| d > declined.on)
    }
}

/// What became of one charge attempt. `pending`: recorded before calling the gateway, outcome
/// not known yet (a crash, a timeout): the same attempt is sent again with the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Pending,
    Succeeded,
    Declined,
    DeclinedHard,
}

/// One charge attempt of a cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeAttempt {
    /// 1, 2, …: part of the idempotency key.
    pub attempt: u32,
    /// The (Taipei) day of the run that started it.
    pub on: NaiveDate,
    /// The cycle charged; a resumed attempt charges the same.
    pub months: PlanMonths,
    pub outcome: AttemptOutcome,
}

/// The renewal charge attempts of one cycle, stored on the plan item, e.g.
/// `{"cycle_expires_on":"2026-12-31","attempts":[{"attempt":1,"on":"2026-12-21","months":3,"outcome":"declined"}]}`.
/// A record of another cycle than the plan's expiry counts as no attempt (except a pending
/// one, which is always resumed first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeAttempts {
    pub cycle_expires_on: NaiveDate,
    #[serde(default)]
    pub attempts: Vec<ChargeAttempt>,
}

impl ChargeAttempts {
    /// No attempt yet: what to pass when the plan item has none stored.
    pub fn for_cycle(expires_on: NaiveDate) -> Self {
        Self { cycle_expires_on: expires_on, attempts: Vec::new() }
    }

    pub fn pending(&self) -> Option<&ChargeAttempt> {
        self.attempts.iter().find(|a| a.outcome == AttemptOutcome::Pending)
    }

    fn of_cycle(&self, expires_on: NaiveDate) -> &[ChargeAttempt] {
        if self.cycle_expires_on == expires_on { &self.attempts } else { &[] }
    }
}

/// The gateway's answer to `POST /v1/charges` (`result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargeOutcome {
    Succeeded,
    /// Soft decline: may succeed later.
    Declined,
    /// Expired or stolen card: not worth retrying.
    DeclinedHard,
}

impl ChargeOutcome {
    /// `succeeded`, `declined`, `declined_hard`.
    pub fn parse(result: &str) -> Option<Self> {
        match result {
            "succeeded" => Some(Self::Succeeded),
            "declined" => Some(Self::Declined),
            "declined_hard" => Some(Self::DeclinedHard),
            _ => None,
        }
    }
}

impl From<ChargeOutcome> for AttemptOutcome {
    fn from(o: ChargeOutcome) -> Self {
        match o {
            ChargeOutcome::Succeeded => Self::Succeeded,
            ChargeOutcome::Declined => Self::Declined,
            ChargeOutcome::DeclinedHard => Self::DeclinedHard,
        }
    }
}

/// The gateway idempotency key of a renewal charge: `renew:{merchant_id}:{cycle}:{attempt}`,
/// e.g. `renew:demo-shop:2026-12-31:1`. Only these three go in, so any re-run of a decision
/// sends the same key, and the gateway charges it at most once.
pub fn renewal_charge_key(merchant_id: &str, cycle: NaiveDate, attempt: u32) -> String {
    format!("renew:{merchant_id}:{cycle}:{attempt}")
}

/// A charge the job must send: `amount = catalogue.price(months)`, the bound card's token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChargeOrder {
    /// The expiry being renewed.
    pub cycle: NaiveDate,
    pub attempt: u32,
    pub months: PlanMonths,
    pub idempotency_key: String,
    /// The attempt was already started (pending): this is a re-send, not a new charge.
    pub resumed: bool,
}

/// Why nothing is charged for a plan today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum NotDue {
    Disabled,
    Suspended {
        suspended: SuspendReason,
    },
    BeforeChargeDay {
        charge_on: NaiveDate,
    },
    /// Past the expiry day: nothing new is charged (the plan simply expires).
    Expired,
    /// Declined; the next attempt is on this day (or the first run after it).
    WaitingForRetry {
        next_attempt_on: NaiveDate,
    },
}

/// What the renewal-charge job does for one plan today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum ChargeDecision {
    Charge(ChargeOrder),
    NotDue(NotDue),
    /// This cycle's charge succeeded already (a stale read or a re-run).
    AlreadyCharged {
        cycle: NaiveDate,
    },
    /// Store `state.suspend(reason)` and notify the merchant; nothing is charged.
    Suspend {
        reason: SuspendReason,
    },
}

/// 續約扣款: what to do for a plan expiring on `expires_on`, in this order:
/// 1. an attempt still `pending` (of any cycle) is re-sent with its key and months, whatever
///    the day or the setting: its charge may have gone through;
/// 2. this cycle already succeeded → `AlreadyCharged`;
/// 3. today outside [charge_on, expires_on] → `NotDue` (`Expired` after expiry);
/// 4. auto-renew off → `Disabled`; suspended → `Suspended`; no card → `Suspend(card_not_bound)`;
/// 5. no attempt yet → attempt 1 (from T-10, caught up on any later day up to expiry);
///    after a soft decline → the next attempt once the first scheduled day after that decline
///    has come (a missed day is caught up on the next run, and one run consumes every
///    scheduled day up to its date); after a final decline that the merchant has lifted
///    (new card, turned on again) → one more attempt.
pub fn charge_due(
    merchant_id: &str,
    state: &AutoRenew,
    expires_on: NaiveDate,
    today: NaiveDate,
    attempts: &ChargeAttempts,
    retry: &RetryPolicy,
) -> ChargeDecision {
    let order = |cycle, attempt, months, resumed| {
        ChargeDecision::Charge(ChargeOrder { cycle, attempt, months, idempotency_key: renewal_charge_key(merchant_id, cycle, attempt), resumed })
    };
    if let Some(p) = attempts.pending() {
        return order(attempts.cycle_expires_on, p.attempt, p.months, true);
    }
    let history = attempts.of_cycle(expires_on);
    if history.iter().any(|a| a.outcome == AttemptOutcome::Succeeded) {
        return ChargeDecision::AlreadyCharged { cycle: expires_on };
    }
    let charge_on = AutoRenewDates::for_expiry(expires_on).charge_on;
    if today > expires_on {
        return ChargeDecision::NotDue(NotDue::Expired);
    }
    if today < charge_on {
        return ChargeDecision::NotDue(NotDue::BeforeChargeDay { charge_on });
    }
    let settled = state.settled(expires_on);
    let Some(months) = settled.months.filter(|_| settled.enabled) else {
        return ChargeDecision::NotDue(NotDue::Disabled);
    };
    if let Some(suspended) = settled.suspended {
        return ChargeDecision::NotDue(NotDue::Suspended { suspended });
    }
    if !settled.card_bound() {
        return ChargeDecision::Suspend { reason: SuspendReason::CardNotBound };
    }
    let Some(last) = history.iter().max_by_key(|a| a.attempt) else {
        return order(expires_on, 1, months, false);
    };
    match retry.next_attempt_day(expires_on, last) {
        Some(day) if day > today => ChargeDecision::NotDue(NotDue::WaitingForRetry { next_attempt_on: day }),
        _ => order(expires_on, last.attempt + 1, months, false),
    }
}

/// The attempts to store (conditionally) before calling the gateway: the order's attempt as
/// `pending`, started today. Unchanged when already recorded (a resumed attempt).
pub fn start_charge(attempts: &ChargeAttempts, order: &ChargeOrder, today: NaiveDate) -> ChargeAttempts {
    let mut a = if attempts.cycle_expires_on == order.cycle { attempts.clone() } else { ChargeAttempts::for_cycle(order.cycle) };
    if !a.attempts.iter().any(|x| x.attempt == order.attempt) {
        a.attempts.push(ChargeAttempt { attempt: order.attempt, on: today, months: order.months, outcome: AttemptOutcome::Pending });
    }
    a
}

/// What the merchant is told after a charge (each decline is notified).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChargeEffect {
    /// 續約成功: the period now ends on `expires_on`.
    Renewed { cycle: NaiveDate, attempt: u32, months: PlanMonths, expires_on: NaiveDate },
    /// 扣款失敗: tried again on `next_attempt_on`.
    Declined { cycle: NaiveDate, attempt: u32, next_attempt_on: NaiveDate },
    /// 扣款失敗, auto-renew suspended: the plan runs to its expiry.
    Suspended { cycle: NaiveDate, attempt: u32, reason: SuspendReason },
}

/// The plan item after a charge outcome; write it conditionally (the version read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeApplied {
    pub state: AutoRenew,
    pub expires_on: NaiveDate,
    pub attempts: ChargeAttempts,
    /// `None`: nothing changed (the attempt's outcome was recorded already) or a superseded
    /// cycle was declined.
    pub effect: Option<ChargeEffect>,
}

/// Records the gateway's answer to `order` (started with [`start_charge`] or not).
/// - already recorded → nothing changes (`effect: None`): applying twice is harmless;
/// - succeeded → expiry = `last_day_covered(expires_on + 1, months)` (contiguous, even when
///   the answer is learnt after expiry: the charge was started before it), and a queued cycle
///   change becomes the cycle;
/// - declined → retried on the next scheduled day, or, when none is left, suspended
///   (`declined`); declined hard → suspended (`declined_hard`) at once;
/// - a decline of a superseded cycle (the expiry moved since, by a manual 續購) is only
///   recorded.
pub fn apply_charge_outcome(
    state: &AutoRenew,
    expires_on: NaiveDate,
    attempts: &ChargeAttempts,
    order: &ChargeOrder,
    outcome: ChargeOutcome,
    today: NaiveDate,
    retry: &RetryPolicy,
) -> ChargeApplied {
    let mut attempts = start_charge(attempts, order, today);
    let unchanged = |attempts| ChargeApplied { state: state.clone(), expires_on, attempts, effect: None };
    let Some(record) = attempts.attempts.iter_mut().find(|x| x.attempt == order.attempt) else { unreachable!("start_charge records the order's attempt") };
    if record.outcome != AttemptOutcome::Pending {
        return unchanged(attempts);
    }
    record.outcome = outcome.into();
    let record = *record;
    let (cycle, attempt) = (order.cycle, order.attempt);
    let suspended = |reason| ChargeApplied {
        state: state.clone().suspend(reason),
        expires_on,
        attempts: attempts.clone(),
        effect: Some(ChargeEffect::Suspended { cycle, attempt, reason }),
    };
    match outcome {
        ChargeOutcome::Succeeded => {
            let renewed = last_day_covered(day_after(expires_on), record.months.get());
            ChargeApplied {
                state: state.settled(renewed),
                expires_on: renewed,
                effect: Some(ChargeEffect::Renewed { cycle, attempt, months: record.months, expires_on: renewed }),
                attempts,
            }
        }
        _ if cycle != expires_on => unchanged(attempts),
        ChargeOutcome::DeclinedHard => suspended(SuspendReason::DeclinedHard),
        ChargeOutcome::Declined => match retry.next_attempt_day(cycle, &record) {
            None => suspended(SuspendReason::Declined),
            Some(next_attempt_on) => {
                ChargeApplied { state: state.clone(), expires_on, effect: Some(ChargeEffect::Declined { cycle, attempt, next_attempt_on }), attempts }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::renewal::NextCycle;
    use crate::renewal::tests::{E, d, due, m, on, order, run};
    use proptest::prelude::*;

    #[test]
    fn charge_window_runs_from_today_to_the_charge_day_of_expiries_ten_days_ahead() {
        assert_eq!(charge_window(d("2026-12-01")), d("2026-12-01")..=d("2026-12-11"));
    }

    #[test]
    fn charged_on_t10_not_t11_and_caught_up_until_expiry() {
        let none = ChargeAttempts::for_cycle(d(E));
        assert_eq!(due(&on(3), E, "2026-12-20", &none), ChargeDecision::NotDue(NotDue::BeforeChargeDay { charge_on: d("2026-12-21") }));
        let o = order(due(&on(3), E, "2026-12-21", &none));
        assert_eq!(o, ChargeOrder { cycle: d(E), attempt: 1, months: m(3), idempotency_key: "renew:shop-1:2026-12-31:1".into(), resumed: false });
        assert_eq!(order(due(&on(3), E, "2026-12-31", &none)), o);
        assert_eq!(due(&on(3), E, "2027-01-01", &none), ChargeDecision::NotDue(NotDue::Expired));
        assert_eq!(due(&AutoRenew { enabled: false, ..on(3) }, E, "2026-12-21", &none), ChargeDecision::NotDue(NotDue::Disabled));
        assert_eq!(due(&AutoRenew { card_last4: None, ..on(3) }, E, "2026-12-21", &none), ChargeDecision::Suspend { reason: SuspendReason::CardNotBound });
        assert_eq!(
            due(&on(3).suspend(SuspendReason::CardNotBound), E, "2026-12-21", &none),
            ChargeDecision::NotDue(NotDue::Suspended { suspended: SuspendReason::CardNotBound })
        );
    }

    #[test]
    fn success_extends_from_the_day_after_expiry_and_promotes_the_queued_cycle() {
        let s = AutoRenew { next: Some(NextCycle { months: m(12), after_expiry: d(E) }), ..on(3) };
        let a = run(&s, d(E), &ChargeAttempts::for_cycle(d(E)), "2026-12-21", ChargeOutcome::Succeeded);
        assert_eq!(a.expires_on, d("2027-03-31"));
        assert_eq!(a.state, on(12));
        assert_eq!(a.effect, Some(ChargeEffect::Renewed { cycle: d(E), attempt: 1, months: m(3), expires_on: d("2027-03-31") }));
        // A re-run (stale read or not) finds the cycle paid; the new cycle is not due for months.
        assert_eq!(due(&s, E, "2026-12-22", &a.attempts), ChargeDecision::AlreadyCharged { cycle: d(E) });
        assert!(matches!(due(&a.state, "2027-03-31", "2026-12-22", &a.attempts), ChargeDecision::NotDue(NotDue::BeforeChargeDay { .. })));
        // Applying the same answer again changes nothing.
        let o = order(due(&s, E, "2026-12-21", &ChargeAttempts::for_cycle(d(E))));
        let again = apply_charge_outcome(&s, d(E), &a.attempts, &o, ChargeOutcome::Succeeded, d("2026-12-21"), &RetryPolicy::default());
        assert_eq!((again.expires_on, again.effect, &again.attempts), (d(E), None, &a.attempts));
    }

    #[test]
    fn soft_declines_are_retried_on_t7_t4_t1_then_suspend() {
        let s = on(3);
        let a = run(&s, d(E), &ChargeAttempts::for_cycle(d(E)), "2026-12-21", ChargeOutcome::Declined);
        assert_eq!(a.effect, Some(ChargeEffect::Declined { cycle: d(E), attempt: 1, next_attempt_on: d("2026-12-24") }));
        assert_eq!(a.state, s);
        let wait = ChargeDecision::NotDue(NotDue::WaitingForRetry { next_attempt_on: d("2026-12-24") });
        assert_eq!(due(&s, E, "2026-12-21", &a.attempts), wait);
        assert_eq!(due(&s, E, "2026-12-23", &a.attempts), wait);
        let a = run(&s, d(E), &a.attempts, "2026-12-24", ChargeOutcome::Declined);
        assert_eq!(a.attempts.attempts[1].attempt, 2);
        assert_eq!(a.effect, Some(ChargeEffect::Declined { cycle: d(E), attempt: 2, next_attempt_on: d("2026-12-27") }));
        let a = run(&s, d(E), &a.attempts, "2026-12-27", ChargeOutcome::Declined);
        assert_eq!(due(&s, E, "2026-12-29", &a.attempts), ChargeDecision::NotDue(NotDue::WaitingForRetry { next_attempt_on: d("2026-12-30") }));
        let a = run(&s, d(E), &a.attempts, "2026-12-30", ChargeOutcome::Declined);
        assert_eq!(a.effect, Some(ChargeEffect::Suspended { cycle: d(E), attempt: 4, reason: SuspendReason::Declined }));
        assert_eq!(a.state.suspended, Some(SuspendReason::Declined));
        assert_eq!(a.expires_on, d(E));
        assert_eq!(due(&a.state, E, "2026-12-31", &a.attempts), ChargeDecision::NotDue(NotDue::Suspended { suspended: SuspendReason::Declined }));
        // A new card lifts the suspension: one more attempt, up to expiry.
        let rebound = a.state.clone().bind_card("1881");
        let o = order(due(&rebound, E, "2026-12-31", &a.attempts));
        assert_eq!((o.attempt, o.idempotency_key.as_str()), (5, "renew:shop-1:2026-12-31:5"));
        assert_eq!(due(&rebound, E, "2027-01-01", &a.attempts), ChargeDecision::NotDue(NotDue::Expired));
    }

    #[test]
    fn a_missed_retry_day_is_caught_up_and_consumes_the_days_before_it() {
        let s = on(3);
        let a = run(&s, d(E), &ChargeAttempts::for_cycle(d(E)), "2026-12-21", ChargeOutcome::Declined);
        // T-7 missed: attempt 2 on T-6 (caught up), next retry still T-4.
        let a = run(&s, d(E), &a.attempts, "2026-12-25", ChargeOutcome::Declined);
        assert_eq!(a.effect, Some(ChargeEffect::Declined { cycle: d(E), attempt: 2, next_attempt_on: d("2026-12-27") }));
        // T-4 and T-1 both missed: one attempt on the expiry day, which is the last.
        let a = run(&s, d(E), &a.attempts, "2026-12-31", ChargeOutcome::Declined);
        assert_eq!(a.effect, Some(ChargeEffect::Suspended { cycle: d(E), attempt: 3, reason: SuspendReason::Declined }));
        // Only the first attempt made late (e.g. the job was down from T-10 to T-2): one retry left.
        let a = run(&s, d(E), &ChargeAttempts::for_cycle(d(E)), "2026-12-29", ChargeOutcome::Declined);
        assert_eq!(a.effect, Some(ChargeEffect::Declined { cycle: d(E), attempt: 1, next_attempt_on: d("2026-12-30") }));
    }

    #[test]
    fn a_hard_decline_suspends_at_once() {
        let a = run(&on(3), d(E), &ChargeAttempts::for_cycle(d(E)), "2026-12-21", ChargeOutcome::DeclinedHard);
        assert_eq!(a.effect, Some(ChargeEffect::Suspended { cycle: d(E), attempt: 1, reason: SuspendReason::DeclinedHard }));
        assert_eq!(a.state.suspended, Some(SuspendReason::DeclinedHard));
        assert!(matches!(due(&a.state, E, "2026-12-24", &a.attempts), ChargeDecision::NotDue(NotDue::Suspended { .. })));
    }

    #[test]
    fn a_pending_attempt_is_resent_with_the_same_key_whatever_happens_meanwhile() {
        let none = ChargeAttempts::for_cycle(d(E));
        let first = order(due(&on(3), E, "2026-12-21", &none));
        let started = start_charge(&none, &first, d("2026-12-21"));
        assert_eq!(start_charge(&started, &first, d("2026-12-22")), started);
        // Crash after calling the gateway: every later run re-sends attempt 1 with its months,
        // even past expiry, with the card replaced or after a cycle change.
        for (state, today) in [
            (on(3), "2026-12-21"),
            (on(3), "2026-12-25"),
            (on(3), "2027-01-03"),
            (on(12), "2026-12-22"),
            (AutoRenew { card_last4: None, ..on(3) }, "2026-12-22"),
        ] {
            let o = order(due(&state, E, today, &started));
            assert_eq!((o.idempotency_key.as_str(), o.months, o.resumed), ("renew:shop-1:2026-12-31:1", m(3), true));
        }
        // The answer learnt after expiry still renews contiguously.
        let resumed = order(due(&on(3), E, "2027-01-03", &started));
        let a = apply_charge_outcome(&on(3), d(E), &started, &resumed, ChargeOutcome::Succeeded, d("2027-01-03"), &RetryPolicy::default());
        assert_eq!(a.expires_on, d("2027-03-31"));
    }

    #[test]
    fn a_superseded_cycle_is_resumed_and_extends_the_current_period() {
        // Attempt pending for 2026-12-31 when a manual 續購 moved the expiry to 2027-03-31.
        let none = ChargeAttempts::for_cycle(d(E));
        let o = order(due(&on(3), E, "2026-12-21", &none));
        let started = start_charge(&none, &o, d("2026-12-21"));
        let moved = d("2027-03-31");
        let again = order(due(&on(3), "2027-03-31", "2026-12-22", &started));
        assert_eq!(again.idempotency_key, o.idempotency_key);
        let declined = apply_charge_outcome(&on(3), moved, &started, &again, ChargeOutcome::DeclinedHard, d("2026-12-22"), &RetryPolicy::default());
        assert_eq!((declined.state, declined.expires_on, declined.effect), (on(3), moved, None));
        let paid = apply_charge_outcome(&on(3), moved, &started, &again, ChargeOutcome::Succeeded, d("2026-12-22"), &RetryPolicy::default());
        assert_eq!(paid.expires_on, d("2027-06-30"));
    }

    #[test]
    fn retry_policy_is_validated() {
        assert_eq!(RetryPolicy::default().retry_days_before_expiry(), &[7, 4, 1]);
        assert_eq!(RetryPolicy::new([1, 7, 4]).unwrap(), RetryPolicy::default());
        assert!(RetryPolicy::new([10]).is_err());
        assert!(RetryPolicy::new([3, 3]).is_err());
        assert_eq!(RetryPolicy::new([]).unwrap().attempt_days(d(E)), vec![d("2026-12-21")]);
        assert_eq!(RetryPolicy::default().attempt_days(d(E)), vec![d("2026-12-21"), d("2026-12-24"), d("2026-12-27"), d("2026-12-30")]);
        // No retry days: the first soft decline is final.
        let none = ChargeAttempts::for_cycle(d(E));
        let o = order(due(&on(3), E, "2026-12-21", &none));
        let a = apply_charge_outcome(&on(3), d(E), &none, &o, ChargeOutcome::Declined, d("2026-12-21"), &RetryPolicy::new([]).unwrap());
        assert_eq!(a.state.suspended, Some(SuspendReason::Declined));
    }

    #[test]
    fn stored_attempts_are_plain_json() {
        let a = start_charge(&ChargeAttempts::for_cycle(d(E)), &order(due(&on(3), E, "2026-12-21", &ChargeAttempts::for_cycle(d(E)))), d("2026-12-21"));
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"cycle_expires_on": "2026-12-31", "attempts": [{"attempt": 1, "on": "2026-12-21", "months": 3, "outcome": "pending"}]})
        );
        assert_eq!(serde_json::from_value::<ChargeAttempts>(json).unwrap(), a);
        assert_eq!(ChargeOutcome::parse("declined_hard"), Some(ChargeOutcome::DeclinedHard));
        assert_eq!(ChargeOutcome::parse("ok"), None);
    }

    // --- properties ---------------------------------------------------------------------------

    /// The plan item as the store holds it, with its optimistic-concurrency version.
    #[derive(Debug, Clone)]
    struct Item {
        state: AutoRenew,
        expires_on: NaiveDate,
        attempts: ChargeAttempts,
        version: u64,
    }

    #[derive(Debug, Clone, Copy)]
    enum Step {
        /// A job run on `E + day` reading the item fresh, or the snapshot the previous run
        /// read (an overlapping run); `crash` 0: none, 1: after start, 2: after the gateway.
        Run { day: i64, overlapping: bool, crash: u8 },
        /// The merchant binds a card again (lifts a suspension).
        Rebind,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            8 => (-16i64..=2, any::<bool>(), 0u8..3).prop_map(|(day, overlapping, crash)| Step::Run { day, overlapping, crash }),
            1 => Just(Step::Rebind),
        ]
    }

    fn outcome() -> impl Strategy<Value = ChargeOutcome> {
        prop_oneof![
            1 => Just(ChargeOutcome::Succeeded),
            3 => Just(ChargeOutcome::Declined),
            1 => Just(ChargeOutcome::DeclinedHard),
        ]
    }

    proptest! {
        #[test]
        fn at_most_one_successful_charge_per_cycle(
            steps in prop::collection::vec(step(), 1..40),
            answers in prop::collection::vec(outcome(), 1..12),
            months in prop::sample::select(vec![3u32, 6, 12, 24]),
        ) {
            let e = d(E);
            let policy = RetryPolicy::default();
            let mut item = Item { state: on(months), expires_on: e, attempts: ChargeAttempts::for_cycle(e), version: 1 };
            let mut previous = item.clone();
            // The gateway: one answer per idempotency key, the first one it gave.
            let mut gateway: HashMap<String, ChargeOutcome> = HashMap::new();
            let mut next_answer = answers.iter().cycle();
            for s in steps {
                let (day, overlapping, crash) = match s {
                    Step::Rebind => {
                        item.state = item.state.clone().bind_card("1881");
                        item.version += 1;
                        continue;
                    }
                    Step::Run { day, overlapping, crash } => (day, overlapping, crash),
                };
                let today = e + chrono::Duration::days(day);
                let snap = if overlapping { previous.clone() } else { item.clone() };
                previous = snap.clone();
                match charge_due("shop-1", &snap.state, snap.expires_on, today, &snap.attempts, &policy) {
                    ChargeDecision::Charge(o) => {
                        prop_assert_eq!(&o.idempotency_key, &renewal_charge_key("shop-1", o.cycle, o.attempt));
                        let started = start_charge(&snap.attempts, &o, today);
                        let mut version = snap.version;
                        if started != snap.attempts {
                            if item.version != version { continue; }
                            item.attempts = started.clone();
                            item.version += 1;
                            version = item.version;
                        }
                        if crash == 1 { continue; }
                        let answer = *gateway.entry(o.idempotency_key.clone()).or_insert_with(|| *next_answer.next().unwrap());
                        if crash == 2 { continue; }
                        let applied = apply_charge_outcome(&snap.state, snap.expires_on, &started, &o, answer, today, &policy);
                        if item.version != version { continue; }
                        item = Item { state: applied.state, expires_on: applied.expires_on, attempts: applied.attempts, version: version + 1 };
                    }
                    ChargeDecision::Suspend { reason } => {
                        if item.version == snap.version {
                            item.state = item.state.clone().suspend(reason);
                            item.version += 1;
                        }
                    }
                    ChargeDecision::NotDue(_) | ChargeDecision::AlreadyCharged { .. } => {}
                }
            }
            let successes: Vec<_> = gateway.iter().filter(|(_, a)| **a == ChargeOutcome::Succeeded).map(|(k, _)| k).collect();
            prop_assert!(successes.len() <= 1, "charged twice: {:?}", successes);
            prop_assert!(gateway.keys().all(|k| k.starts_with("renew:shop-1:2026-12-31:")));
            let renewed = last_day_covered(e + Days::new(1), months);
            prop_assert!(item.expires_on == e || item.expires_on == renewed);
            if item.expires_on == renewed {
                prop_assert_eq!(successes.len(), 1);
            }
        }
    }
}
