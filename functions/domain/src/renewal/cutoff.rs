//! 續約鎖定 (renewal cutoff): after the 取消期限 (cancel deadline, T-15) the coming renewal can
//! no longer be cancelled; the renewal-cutoff job tells the merchant once per cycle.

use std::ops::RangeInclusive;

use chrono::{Days, NaiveDate};
use serde::Serialize;

use super::{AutoRenew, day_after};
use crate::period::{AutoRenewDates, CANCEL_DAYS_BEFORE_EXPIRY};
use crate::plan::PlanMonths;

/// Default look-back of [`cutoff_window`]: every expiry whose renewal is locked and not yet
/// expired (a lock notice is still worth sending up to the expiry day).
pub const CUTOFF_LOOK_BACK_DAYS: u64 = CANCEL_DAYS_BEFORE_EXPIRY - 1;

/// Expiry days (`by-expiry` GSI keys) the cutoff job reads: a renewal locks on expiry − 14
/// (the day after T-15), so today's new locks expire on today + 14; `look_back_days` more
/// days back catch up missed runs (never before today: expired plans are not locked).
pub fn cutoff_window(today: NaiveDate, look_back_days: u64) -> RangeInclusive<NaiveDate> {
    let newest = today + Days::new(CANCEL_DAYS_BEFORE_EXPIRY - 1);
    let oldest = newest.checked_sub_days(Days::new(look_back_days)).map_or(today, |d| d.max(today));
    oldest..=newest
}

/// 續約鎖定通知: the coming renewal can no longer be cancelled. The integrator prices it with
/// the catalogue (`price(months)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CutoffNotice {
    /// The expiry being renewed; store it as `renewal_locked_for`.
    pub cycle: NaiveDate,
    pub locked_from: NaiveDate,
    pub charge_on: NaiveDate,
    pub months: PlanMonths,
    pub card_last4: String,
}

/// Whether the cutoff job must notify now: auto-renew on, not suspended, card bound, the
/// renewal locked (cancel deadline < today ≤ expiry) and not yet notified for this expiry
/// (`already_locked_for` = the `cycle` of the last notice sent). Catches up: any run from
/// T-14 to the expiry day sends it once.
pub fn cutoff_due(state: &AutoRenew, expires_on: NaiveDate, today: NaiveDate, already_locked_for: Option<NaiveDate>) -> Option<CutoffNotice> {
    let settled = state.settled(expires_on);
    if !settled.is_locked(expires_on, today) || already_locked_for == Some(expires_on) {
        return None;
    }
    let dates = AutoRenewDates::for_expiry(expires_on);
    Some(CutoffNotice {
        cycle: expires_on,
        locked_from: day_after(dates.cancel_deadline),
        charge_on: dates.charge_on,
        months: settled.months?,
        card_last4: settled.card_last4?,
    })
}

#[cfg(test)]
mod tests {
    use chrono::Days;

    use super::*;
    use crate::renewal::SuspendReason;
    use crate::renewal::tests::{E, d, m, on};

    #[test]
    fn cutoff_locks_from_the_day_after_the_deadline_once_per_cycle() {
        let due = |s: &AutoRenew, today, sent| cutoff_due(s, d(E), d(today), sent);
        assert_eq!(due(&on(3), "2026-12-16", None), None);
        let n = due(&on(3), "2026-12-17", None).unwrap();
        assert_eq!(n, CutoffNotice { cycle: d(E), locked_from: d("2026-12-17"), charge_on: d("2026-12-21"), months: m(3), card_last4: "4242".into() });
        // Catch-up: still due later, up to the expiry day; once sent, never again.
        assert_eq!(due(&on(3), "2026-12-21", None), Some(n.clone()));
        assert_eq!(due(&on(3), "2026-12-31", None), Some(n));
        assert_eq!(due(&on(3), "2027-01-01", None), None);
        assert_eq!(due(&on(3), "2026-12-18", Some(d(E))), None);
        // A notice of an older cycle does not count.
        assert!(due(&on(3), "2026-12-18", Some(d("2026-09-30"))).is_some());
        assert_eq!(due(&AutoRenew { enabled: false, ..on(3) }, "2026-12-18", None), None);
        assert_eq!(due(&on(3).suspend(SuspendReason::Declined), "2026-12-18", None), None);
        assert_eq!(due(&AutoRenew { card_last4: None, ..on(3) }, "2026-12-18", None), None);
    }

    #[test]
    fn cutoff_window_covers_todays_locks_and_the_missed_ones() {
        let today = d("2026-12-01");
        assert_eq!(cutoff_window(today, CUTOFF_LOOK_BACK_DAYS), d("2026-12-01")..=d("2026-12-15"));
        assert_eq!(cutoff_window(today, 0), d("2026-12-15")..=d("2026-12-15"));
        assert_eq!(cutoff_window(today, 3), d("2026-12-12")..=d("2026-12-15"));
        assert_eq!(cutoff_window(today, 400), d("2026-12-01")..=d("2026-12-15"));
        // The newest day of the window is exactly the one whose renewal locks today.
        let newest = *cutoff_window(today, 0).start();
        assert!(cutoff_due(&on(3), newest, today, None).is_some());
        assert!(cutoff_due(&on(3), newest + Days::new(1), today, None).is_none());
    }
}
