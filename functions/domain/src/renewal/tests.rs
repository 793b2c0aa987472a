//! Fixtures shared by the renewal rooms' tests, and the scenarios that cross rooms (a date
//! boundary seen by the cutoff rule, the change rule and the charge rule at once).

use chrono::NaiveDate;

use super::*;
use crate::plan::PlanMonths;

pub(super) fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

pub(super) fn m(n: u32) -> PlanMonths {
    PlanMonths::new(n).unwrap()
}

/// Auto-renew on with a `months` cycle and card 4242, as a card checkout leaves it.
pub(super) fn on(months: u32) -> AutoRenew {
    AutoRenew::default().turned_on_by_checkout(m(months), "4242")
}

pub(super) fn req(enabled: bool, months: Option<u32>) -> AutoRenewRequest {
    AutoRenewRequest { enabled, months: months.map(m) }
}

pub(super) const E: &str = "2026-12-31"; // cancel deadline 12-16, charge on 12-21

pub(super) fn due(state: &AutoRenew, expires: &str, today: &str, attempts: &ChargeAttempts) -> ChargeDecision {
    charge_due("shop-1", state, d(expires), d(today), attempts, &RetryPolicy::default())
}

pub(super) fn order(decision: ChargeDecision) -> ChargeOrder {
    match decision {
        ChargeDecision::Charge(o) => o,
        other => panic!("expected a charge, got {other:?}"),
    }
}

/// Runs the job once for expiry `E`-like plans: start, gateway answer, apply.
pub(super) fn run(state: &AutoRenew, expires: NaiveDate, attempts: &ChargeAttempts, today: &str, outcome: ChargeOutcome) -> ChargeApplied {
    let o = order(charge_due("shop-1", state, expires, d(today), attempts, &RetryPolicy::default()));
    let started = start_charge(attempts, &o, d(today));
    apply_charge_outcome(state, expires, &started, &o, outcome, d(today), &RetryPolicy::default())
}

#[test]
fn month_end_and_leap_year_expiries() {
    // Expiring Jan 31: deadline Jan 16, charge Jan 21; 3 months from Feb 1 → Apr 30.
    let jan = "2027-01-31";
    assert!(change_auto_renew(&on(3), Some(d(jan)), d("2027-01-16"), &req(false, None)).is_ok());
    assert!(change_auto_renew(&on(3), Some(d(jan)), d("2027-01-17"), &req(false, None)).is_err());
    assert!(matches!(due(&on(3), jan, "2027-01-20", &ChargeAttempts::for_cycle(d(jan))), ChargeDecision::NotDue(_)));
    let a = run(&on(3), d(jan), &ChargeAttempts::for_cycle(d(jan)), "2027-01-21", ChargeOutcome::Succeeded);
    assert_eq!(a.expires_on, d("2027-04-30"));
    // Expiring Feb 29 2028: deadline Feb 14, charge Feb 19; 12 months from Mar 1 → Feb 28 2029.
    let leap = "2028-02-29";
    assert_eq!(cutoff_due(&on(12), d(leap), d("2028-02-14"), None), None);
    assert_eq!(cutoff_due(&on(12), d(leap), d("2028-02-15"), None).unwrap().charge_on, d("2028-02-19"));
    assert!(matches!(due(&on(12), leap, "2028-02-18", &ChargeAttempts::for_cycle(d(leap))), ChargeDecision::NotDue(_)));
    let a = run(&on(12), d(leap), &ChargeAttempts::for_cycle(d(leap)), "2028-02-19", ChargeOutcome::Succeeded);
    assert_eq!(a.expires_on, d("2029-02-28"));
    // Expiring Feb 28 2028: the renewal starts on Feb 29; 12 months → Feb 28 2029 (clamped) − 1.
    let a = run(&on(12), d("2028-02-28"), &ChargeAttempts::for_cycle(d("2028-02-28")), "2028-02-18", ChargeOutcome::Succeeded);
    assert_eq!(a.expires_on, d("2029-02-27"));
    // Expiring Mar 10 2028: the charge day is the leap day.
    assert_eq!(order(due(&on(3), "2028-03-10", "2028-02-29", &ChargeAttempts::for_cycle(d("2028-03-10")))).attempt, 1);
}
