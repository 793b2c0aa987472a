//! When unfinished invoice work is next due (補傳): the hand-off grace, the retry backoff and
//! the deadline warning the invoice-reconciler goes by.

use chrono::{DateTime, Duration, Utc};

/// How long a claim or an issued invoice is left to the stream's invoice-issuer before the
/// reconciler takes it up.
pub const HANDOFF_GRACE: Duration = Duration::minutes(2);

/// The first retry's delay; each later one doubles it.
pub const FIRST_RETRY: Duration = Duration::minutes(1);

/// The longest pause between two tries: an outage never leaves an invoice untried for longer.
pub const MAX_RETRY: Duration = Duration::minutes(30);

/// Within this much of its upload deadline, an invoice not yet uploaded raises the alarm.
pub const DEADLINE_WARNING: Duration = Duration::hours(6);

/// The pause after the `failures`-th failed try (1 → 1 min, 2 → 2 min, … capped at 30 min).
/// There is no last try: work is retried until it is done.
pub fn retry_delay(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    (FIRST_RETRY * (1 << doublings)).min(MAX_RETRY)
}

/// When work that failed for the `failures`-th time is tried again.
pub fn next_try(now: DateTime<Utc>, failures: u32) -> DateTime<Utc> {
    now + retry_delay(failures)
}

/// Where an invoice not yet uploaded stands against its legal upload deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineState {
    InTime,
    /// Within [`DEADLINE_WARNING`] of the deadline.
    Near,
    Past,
}

impl DeadlineState {
    pub fn of(deadline: DateTime<Utc>, now: DateTime<Utc>) -> Self {
        if now > deadline {
            Self::Past
        } else if deadline - now <= DEADLINE_WARNING {
            Self::Near
        } else {
            Self::InTime
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn backoff_doubles_from_one_minute_up_to_thirty() {
        let minutes: Vec<i64> = (1..=8).map(|n| retry_delay(n).num_minutes()).collect();
        assert_eq!(minutes, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(retry_delay(0), FIRST_RETRY);
        assert_eq!(retry_delay(u32::MAX), MAX_RETRY);
    }

    #[test]
    fn deadline_warning_starts_six_hours_before_and_past_is_after_the_last_second() {
        let deadline = at("2026-12-04T15:59:59Z");
        assert_eq!(DeadlineState::of(deadline, at("2026-12-04T09:59:58Z")), DeadlineState::InTime);
        assert_eq!(DeadlineState::of(deadline, at("2026-12-04T09:59:59Z")), DeadlineState::Near);
        assert_eq!(DeadlineState::of(deadline, deadline), DeadlineState::Near);
        assert_eq!(DeadlineState::of(deadline, at("2026-12-04T16:00:00Z")), DeadlineState::Past);
    }

    proptest! {
        /// An outage of any length never leaves more than 30 minutes between two tries, so
        /// work issued in it is tried within 30 minutes of the provider coming back.
        #[test]
        fn tries_are_never_more_than_thirty_minutes_apart(failures in 0u32..10_000) {
            prop_assert!(retry_delay(failures) <= MAX_RETRY);
            prop_assert!(retry_delay(failures) >= FIRST_RETRY);
            prop_assert!(retry_delay(failures + 1) >= retry_delay(failures));
        }
    }
}
