//! The plan view's 自動續約 object: the setting as of today, with its 取消期限 (cancel
//! deadline, T-15), 扣款日 (charge day, T-10) and whether the coming renewal is locked.

use chrono::NaiveDate;
use serde::Serialize;

use super::{AutoRenew, SuspendReason};
use crate::period::AutoRenewDates;
use crate::plan::PlanMonths;

/// The plan view's `auto_renew` object. Dates are `None` only when nothing is paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AutoRenewView {
    pub enabled: bool,
    /// Cycle of the coming renewal.
    pub months: Option<PlanMonths>,
    /// Cycle chosen on or after the charge day: applies from the renewal after the coming one.
    pub next_months: Option<PlanMonths>,
    pub cancel_deadline: Option<NaiveDate>,
    pub charge_on: Option<NaiveDate>,
    /// [`AutoRenew::is_locked`]: exactly when turning auto-renew off is refused.
    pub locked: bool,
    pub suspended: Option<SuspendReason>,
}

pub fn auto_renew_view(state: &AutoRenew, expires_on: Option<NaiveDate>, today: NaiveDate) -> AutoRenewView {
    let settled = state.settled_if_paid(expires_on);
    let dates = expires_on.map(AutoRenewDates::for_expiry);
    AutoRenewView {
        enabled: settled.enabled,
        months: settled.months,
        next_months: settled.next.map(|n| n.months),
        cancel_deadline: dates.map(|d| d.cancel_deadline),
        charge_on: dates.map(|d| d.charge_on),
        locked: expires_on.is_some_and(|e| settled.is_locked(e, today)),
        suspended: settled.suspended,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::renewal::change_auto_renew;
    use crate::renewal::tests::{E, d, on, req};
    use proptest::prelude::*;

    #[test]
    fn view_boundaries() {
        let v = |s: &AutoRenew, today| auto_renew_view(s, Some(d(E)), d(today));
        assert!(!v(&on(3), "2026-12-16").locked);
        assert!(v(&on(3), "2026-12-17").locked);
        assert!(v(&on(3), "2026-12-31").locked);
        assert!(!v(&on(3), "2027-01-01").locked);
        assert!(!v(&AutoRenew { enabled: false, ..on(3) }, "2026-12-20").locked);
        assert!(!v(&on(3).suspend(SuspendReason::DeclinedHard), "2026-12-20").locked);
        let full = v(&on(3), "2026-12-01");
        assert_eq!((full.cancel_deadline, full.charge_on), (Some(d("2026-12-16")), Some(d("2026-12-21"))));
        let none = auto_renew_view(&AutoRenew::default(), None, d("2026-12-01"));
        assert_eq!((none.enabled, none.cancel_deadline, none.charge_on, none.locked), (false, None, None, false));
        let json = serde_json::to_value(&full).unwrap();
        assert_eq!(json["cancel_deadline"], "2026-12-16");
        assert_eq!(json["months"], 3);
    }

    proptest! {
        #[test]
        fn turning_off_is_refused_exactly_when_the_view_says_locked(
            months in prop::sample::select(vec![3u32, 6, 12, 24]),
            enabled in any::<bool>(), suspended in any::<bool>(), offset in -40i64..10,
        ) {
            let mut s = AutoRenew { enabled, ..on(months) };
            if suspended { s = s.suspend(SuspendReason::Declined); }
            let today = d(E) + chrono::Duration::days(offset);
            let view = auto_renew_view(&s, Some(d(E)), today);
            let r = change_auto_renew(&s, Some(d(E)), today, &req(false, None));
            prop_assert_eq!(r.is_err(), view.locked);
            prop_assert_eq!(view.locked, enabled && !suspended && (-14..=0).contains(&offset));
            // A cycle change is never refused for the deadline.
            if enabled && offset <= 0 {
                prop_assert!(change_auto_renew(&s, Some(d(E)), today, &req(true, Some(24))).is_ok());
            }
        }
    }
}
