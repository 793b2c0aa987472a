//! 使用期限: the usage period a paid plan gives, and the dates of the auto-renew cycle.

use chrono::{Days, Months, NaiveDate};
use serde::{Deserialize, Serialize};

/// Days before expiry after which auto-renew can no longer be cancelled (T-15 is the last day).
pub const CANCEL_DAYS_BEFORE_EXPIRY: u64 = 15;
/// Days before expiry on which the card is charged (T-10).
pub const CHARGE_DAYS_BEFORE_EXPIRY: u64 = 10;

/// An inclusive range of Asia/Taipei dates during which the merchant may issue invoices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsagePeriod {
    pub starts_on: NaiveDate,
    pub expires_on: NaiveDate,
}

/// The last day `months` calendar months from `start` covers: start + months (day clamped to
/// the month's length) − 1 day.
pub fn last_day_covered(start: NaiveDate, months: u32) -> NaiveDate {
    let end = start.checked_add_months(Months::new(months)).expect("plan dates are far from chrono's limits");
    end - Days::new(1)
}

impl UsagePeriod {
    /// The first period bought: from the payment date for `total_months` (plan + bonus).
    pub fn first(paid_on: NaiveDate, total_months: u32) -> Self {
        Self { starts_on: paid_on, expires_on: last_day_covered(paid_on, total_months) }
    }

    /// Whether `today` is inside the period (expiry day included).
    pub fn covers(&self, today: NaiveDate) -> bool {
        self.starts_on <= today && today <= self.expires_on
    }

    pub fn has_expired(&self, today: NaiveDate) -> bool {
        today > self.expires_on
    }

    /// The period after buying `months` more, paid on `paid_on` (續購): contiguous extension
    /// from expires_on + 1 day while the plan has not expired on the payment date; a fresh
    /// period from the payment date once it has.
    pub fn extend(&self, paid_on: NaiveDate, months: u32) -> Self {
        if self.has_expired(paid_on) {
            return Self::first(paid_on, months);
        }
        let next_start = self.expires_on + Days::new(1);
        Self { starts_on: self.starts_on, expires_on: last_day_covered(next_start, months) }
    }

    /// The auto-renew dates that belong to this period's expiry.
    pub fn auto_renew_dates(&self) -> AutoRenewDates {
        AutoRenewDates::for_expiry(self.expires_on)
    }
}

/// 自動續約 dates for one expiry: the last day to cancel (T-15) and the charge day (T-10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AutoRenewDates {
    pub cancel_deadline: NaiveDate,
    pub charge_on: NaiveDate,
}

impl AutoRenewDates {
    pub fn for_expiry(expires_on: NaiveDate) -> Self {
        Self { cancel_deadline: expires_on - Days::new(CANCEL_DAYS_BEFORE_EXPIRY), charge_on: expires_on - Days::new(CHARGE_DAYS_BEFORE_EXPIRY) }
    }

    /// Cancelling is accepted up to and including the deadline day.
    pub fn can_cancel(&self, today: NaiveDate) -> bool {
        today <= self.cancel_deadline
    }

    /// After the deadline the coming renewal is locked.
    pub fn is_locked(&self, today: NaiveDate) -> bool {
        !self.can_cancel(today)
    }

    /// A cycle change made before the charge day applies to that charge.
    pub fn cycle_change_applies_to_coming_charge(&self, today: NaiveDate) -> bool {
        today < self.charge_on
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn first_period_is_inclusive_of_both_ends() {
        let p = UsagePeriod::first(d("2026-03-15"), 14);
        assert_eq!(p.expires_on, d("2027-05-14"));
        assert!(p.covers(d("2027-05-14")));
        assert!(!p.covers(d("2027-05-15")));
    }

    #[test]
    fn month_end_is_clamped_before_subtracting_a_day() {
        // Jan 31 + 1 month = Feb 28 (clamped), − 1 day.
        assert_eq!(UsagePeriod::first(d("2026-01-31"), 1).expires_on, d("2026-02-27"));
        // Jan 31 + 4 months (3 + 1 bonus) = May 31, − 1 day.
        assert_eq!(UsagePeriod::first(d("2026-01-31"), 4).expires_on, d("2026-05-30"));
        // Leap year: Jan 31 2028 + 1 month = Feb 29.
        assert_eq!(UsagePeriod::first(d("2028-01-31"), 1).expires_on, d("2028-02-28"));
        // Aug 31 + 6 months = Feb 28 2027 (clamped).
        assert_eq!(UsagePeriod::first(d("2026-08-31"), 6).expires_on, d("2027-02-27"));
    }

    #[test]
    fn renewal_extends_from_the_day_after_expiry() {
        let p = UsagePeriod::first(d("2026-01-31"), 4); // to 2026-05-30
        let r = p.extend(d("2026-05-30"), 3); // paid on the expiry day itself
        assert_eq!(r.starts_on, d("2026-01-31"));
        // next start 2026-05-31 + 3 months = 2026-08-31, − 1 day
        assert_eq!(r.expires_on, d("2026-08-30"));
        let early = p.extend(d("2026-02-01"), 12);
        assert_eq!(early.expires_on, d("2027-05-30"));
    }

    #[test]
    fn renewal_after_expiry_starts_on_the_payment_date() {
        let p = UsagePeriod::first(d("2026-01-01"), 3); // to 2026-03-31
        let r = p.extend(d("2026-04-01"), 6);
        assert_eq!(r, UsagePeriod { starts_on: d("2026-04-01"), expires_on: d("2026-09-30") });
    }

    #[test]
    fn auto_renew_boundaries() {
        let dates = AutoRenewDates::for_expiry(d("2026-12-31"));
        assert_eq!(dates.cancel_deadline, d("2026-12-16"));
        assert_eq!(dates.charge_on, d("2026-12-21"));
        assert!(dates.can_cancel(d("2026-12-16")));
        assert!(!dates.can_cancel(d("2026-12-17")));
        assert!(dates.is_locked(d("2026-12-17")));
        assert!(dates.cycle_change_applies_to_coming_charge(d("2026-12-20")));
        assert!(!dates.cycle_change_applies_to_coming_charge(d("2026-12-21")));
        // Leap day expiry.
        let leap = AutoRenewDates::for_expiry(d("2028-02-29"));
        assert_eq!(leap.cancel_deadline, d("2028-02-14"));
        assert_eq!(leap.charge_on, d("2028-02-19"));
    }

    proptest! {
        #[test]
        fn extension_never_leaves_a_gap_or_overlap(
            start in 0i64..3650, months in prop::sample::select(vec![3u32, 6, 12, 24, 4, 7, 14, 26]),
            more in prop::sample::select(vec![3u32, 6, 12, 24]), paid_offset in 0i64..2000,
        ) {
            let start = d("2025-01-01") + chrono::Duration::days(start);
            let p = UsagePeriod::first(start, months);
            prop_assert!(p.expires_on >= start);
            let paid_on = start + chrono::Duration::days(paid_offset);
            let r = p.extend(paid_on, more);
            if paid_on <= p.expires_on {
                prop_assert_eq!(r.starts_on, p.starts_on);
                prop_assert_eq!(r.expires_on, last_day_covered(p.expires_on + Days::new(1), more));
                prop_assert!(r.expires_on > p.expires_on);
            } else {
                prop_assert_eq!(r.starts_on, paid_on);
            }
        }
    }
}
