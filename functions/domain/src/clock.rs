//! Time as an input: handlers take a [`Clock`], date rules take dates.

use std::sync::Mutex;

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

/// Where "now" comes from. Production uses [`SystemClock`]; tests and the local stack inject one.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;

    /// Today's calendar date in Asia/Taipei, the date every plan rule is stated in.
    fn today_in_taipei(&self) -> NaiveDate {
        taipei_date(self.now())
    }
}

/// The machine's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that says what it is told; `None` means "follow the system clock".
#[derive(Debug, Default)]
pub struct FixedClock(Mutex<Option<DateTime<Utc>>>);

impl FixedClock {
    pub fn at(now: DateTime<Utc>) -> Self {
        Self(Mutex::new(Some(now)))
    }

    pub fn set(&self, now: Option<DateTime<Utc>>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = now;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).unwrap_or_else(Utc::now)
    }
}

/// Asia/Taipei is UTC+8 all year (no daylight saving since 1979).
pub fn taipei_offset() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

/// The Asia/Taipei calendar date of an instant.
pub fn taipei_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&taipei_offset()).date_naive()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taipei_date_turns_at_16_utc() {
        let before = DateTime::parse_from_rfc3339("2026-01-30T15:59:59Z").unwrap().to_utc();
        let after = DateTime::parse_from_rfc3339("2026-01-30T16:00:00Z").unwrap().to_utc();
        assert_eq!(taipei_date(before), NaiveDate::from_ymd_opt(2026, 1, 30).unwrap());
        assert_eq!(taipei_date(after), NaiveDate::from_ymd_opt(2026, 1, 31).unwrap());
    }

    #[test]
    fn fixed_clock_can_be_moved_and_released() {
        let t = DateTime::parse_from_rfc3339("2026-03-01T00:00:00+08:00").unwrap().to_utc();
        let clock = FixedClock::at(t);
        assert_eq!(clock.now(), t);
        assert_eq!(clock.today_in_taipei(), NaiveDate::from_ymd_opt(2026, 3, 1).unwrap());
        clock.set(None);
        assert!(clock.now() > t);
    }
}
