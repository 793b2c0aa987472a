//! 統一發票 basics: invoice numbers (發票號碼), tracks (字軌), bimonthly periods (期別),
//! number ranges (字軌號碼區間), random codes (隨機碼), the QR AES key, and the legal deadlines
//! (void 作廢, upload 上傳) that hang on them.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Days, NaiveDate, TimeDelta, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::clock::{taipei_date, taipei_offset};
use crate::rule::RuleViolation;

/// Sequences are 8 digits: 00000000..=99999999.
const SEQUENCE_SPACE: u32 = 100_000_000;

/// `FromStr`, and serde's `try_from = "String"` / `into = "String"`, for types with a
/// `parse(&str) -> Result<Self, RuleViolation>` and a `Display`.
macro_rules! text_conversions {
    ($($t:ty),*) => {$(
        impl FromStr for $t {
            type Err = RuleViolation;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $t {
            type Error = RuleViolation;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl From<$t> for String {
            fn from(v: $t) -> Self {
                v.to_string()
            }
        }
    )*};
}

/// `Display` through the type's `as_str`.
macro_rules! display_as_str {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}

display_as_str!(Track, InvoiceNumber, RandomCode);
text_conversions!(Track, InvoiceNumber, RandomCode, InvoicePeriod);

fn ascii_str(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("only ASCII is ever stored")
}

/// 字軌: the 2 uppercase ASCII letters in front of an invoice number, e.g. `UZ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Track([u8; 2]);

impl Track {
    pub fn parse(input: &str) -> Result<Self, RuleViolation> {
        match input.as_bytes() {
            &[a, b] if a.is_ascii_uppercase() && b.is_ascii_uppercase() => Ok(Self([a, b])),
            _ => Err(RuleViolation::on_field("invalid_track", "track", "track must be exactly 2 uppercase letters A-Z")),
        }
    }

    pub fn as_str(&self) -> &str {
        ascii_str(&self.0)
    }
}

/// 發票號碼: 字軌 (2 uppercase letters) + 8 digits, e.g. `UZ17690872`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InvoiceNumber([u8; 10]);

impl InvoiceNumber {
    pub fn parse(input: &str) -> Result<Self, RuleViolation> {
        let bytes = input.as_bytes();
        let valid = bytes.len() == 10 && bytes[..2].iter().all(u8::is_ascii_uppercase) && bytes[2..].iter().all(u8::is_ascii_digit);
        if !valid {
            return Err(RuleViolation::on_field("invalid_invoice_number", "invoice_number", "invoice_number must be 2 uppercase letters followed by 8 digits"));
        }
        let mut out = [0u8; 10];
        out.copy_from_slice(bytes);
        Ok(Self(out))
    }

    /// The number `sequence` of `track`; `None` when the sequence has more than 8 digits.
    pub fn from_parts(track: Track, sequence: u32) -> Option<Self> {
        if sequence >= SEQUENCE_SPACE {
            return None;
        }
        let mut out = [0u8; 10];
        out[..2].copy_from_slice(&track.0);
        out[2..].copy_from_slice(format!("{sequence:08}").as_bytes());
        Some(Self(out))
    }

    /// The 字軌 letters, e.g. `"UZ"`.
    pub fn track(&self) -> &str {
        ascii_str(&self.0[..2])
    }

    pub fn track_code(&self) -> Track {
        Track([self.0[0], self.0[1]])
    }

    /// The 8 digits as a number, e.g. `17690872`.
    pub fn sequence(&self) -> u32 {
        self.0[2..].iter().fold(0, |n, d| n * 10 + u32::from(d - b'0'))
    }

    pub fn as_str(&self) -> &str {
        ascii_str(&self.0)
    }
}

/// 期別: a bimonthly invoice period, written as ROC year (3 digits) + its even month,
/// e.g. `11512` = Nov–Dec 2026. ROC years 001–999 (1912–2910) are representable.
///
/// Ordered chronologically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InvoicePeriod {
    roc_year: u16,
    /// 2, 4, …, 12.
    end_month: u8,
}

const ROC_OFFSET: i32 = 1911;
const MAX_ROC_YEAR: u16 = 999;

impl InvoicePeriod {
    /// Parses `yyyMM`: 3-digit ROC year (≥ 001) + even month 02–12.
    pub fn parse(input: &str) -> Result<Self, RuleViolation> {
        let bad = || RuleViolation::on_field("invalid_period", "period", "period must be a 3-digit ROC year and an even month 02-12, e.g. 11512");
        let bytes = input.as_bytes();
        if bytes.len() != 5 || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        let roc_year: u16 = input[..3].parse().map_err(|_| bad())?;
        let end_month: u8 = input[3..].parse().map_err(|_| bad())?;
        if roc_year == 0 || !(2..=12).contains(&end_month) || end_month % 2 != 0 {
            return Err(bad());
        }
        Ok(Self { roc_year, end_month })
    }

    /// The period a (Taipei) calendar date falls in: Jan–Feb → 02, Mar–Apr → 04, …
    ///
    /// # Panics
    /// If the date is outside ROC years 1–999 (1912–2910).
    pub fn containing(date: NaiveDate) -> Self {
        let roc_year = date.year() - ROC_OFFSET;
        assert!((1..=i32::from(MAX_ROC_YEAR)).contains(&roc_year), "{date} is outside the ROC years an invoice period can name");
        let month = date.month() as u8;
        Self { roc_year: roc_year as u16, end_month: month + month % 2 }
    }

    pub fn roc_year(&self) -> u16 {
        self.roc_year
    }

    /// The even month that names the period (2, 4, …, 12).
    pub fn end_month(&self) -> u32 {
        u32::from(self.end_month)
    }

    fn gregorian_year(&self) -> i32 {
        i32::from(self.roc_year) + ROC_OFFSET
    }

    pub fn first_day(&self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.gregorian_year(), self.end_month() - 1, 1).expect("valid period month")
    }

    pub fn last_day(&self) -> NaiveDate {
        let (y, m) = self.month_after();
        NaiveDate::from_ymd_opt(y, m, 1).expect("valid month").pred_opt().expect("not the first date ever")
    }

    /// Whether a (Taipei) calendar date falls inside this period.
    pub fn contains(&self, date: NaiveDate) -> bool {
        self.first_day() <= date && date <= self.last_day()
    }

    /// The (year, month) right after the period's last month: always an odd month.
    fn month_after(&self) -> (i32, u32) {
        if self.end_month == 12 { (self.gregorian_year() + 1, 1) } else { (self.gregorian_year(), self.end_month() + 1) }
    }

    /// # Panics
    /// After period 99912.
    pub fn next(&self) -> Self {
        if self.end_month == 12 {
            assert!(self.roc_year < MAX_ROC_YEAR, "no invoice period after 99912");
            Self { roc_year: self.roc_year + 1, end_month: 2 }
        } else {
            Self { roc_year: self.roc_year, end_month: self.end_month + 2 }
        }
    }

    /// # Panics
    /// Before period 00102.
    pub fn previous(&self) -> Self {
        if self.end_month == 2 {
            assert!(self.roc_year > 1, "no invoice period before 00102");
            Self { roc_year: self.roc_year - 1, end_month: 12 }
        } else {
            Self { roc_year: self.roc_year, end_month: self.end_month - 2 }
        }
    }

    /// 作廢期限: the last instant an invoice of this period may be voided — 23:59:59 Asia/Taipei
    /// on the 13th of the (odd) month after the period, when the period is filed. E.g. 11512 →
    /// 2027-01-13T23:59:59+08:00. After that a return is an allowance (折讓).
    pub fn void_deadline(&self) -> DateTime<Utc> {
        let (y, m) = self.month_after();
        taipei_end_of_day(NaiveDate::from_ymd_opt(y, m, 13).expect("the 13th exists"))
    }

    /// Voiding is allowed up to and including the deadline second (…23:59:59.999 Taipei).
    pub fn is_open_for_void(&self, now: DateTime<Utc>) -> bool {
        now < self.void_deadline() + TimeDelta::seconds(1)
    }
}

impl fmt::Display for InvoicePeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03}{:02}", self.roc_year, self.end_month)
    }
}

/// 23:59:59 Asia/Taipei on `date`, as an instant.
fn taipei_end_of_day(date: NaiveDate) -> DateTime<Utc> {
    let local = date.and_hms_opt(23, 59, 59).expect("23:59:59 exists");
    taipei_offset().from_local_datetime(&local).single().expect("a fixed offset is unambiguous").to_utc()
}

/// 上傳期限 of a B2C invoice: the end of the second day after issue — issued on Taipei date D,
/// it must be uploaded by D+2 23:59:59 Asia/Taipei.
pub fn upload_deadline(issued_at: DateTime<Utc>) -> DateTime<Utc> {
    taipei_end_of_day(taipei_date(issued_at) + Days::new(2))
}

/// 字軌號碼區間: an inclusive run of invoice numbers of one track in one period, as Wixtar hands
/// them out (usually books of 50, e.g. 00000000–00000049; any non-empty run is accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawNumberRange", into = "RawNumberRange")]
pub struct NumberRange {
    period: InvoicePeriod,
    track: Track,
    first: u32,
    last: u32,
}

/// The wire/storage shape of a [`NumberRange`]; checked on the way in.
#[derive(Serialize, Deserialize)]
struct RawNumberRange {
    period: InvoicePeriod,
    track: Track,
    first: u32,
    last: u32,
}

impl NumberRange {
    /// `first` and `last` are the 8-digit sequences, both included; `first ≤ last ≤ 99999999`.
    pub fn new(period: InvoicePeriod, track: Track, first: u32, last: u32) -> Result<Self, RuleViolation> {
        if last >= SEQUENCE_SPACE {
            return Err(RuleViolation::on_field("invalid_number_range", "number_range", "number range end must have at most 8 digits"));
        }
        if first > last {
            return Err(RuleViolation::on_field("invalid_number_range", "number_range", "number range start must not be after its end"));
        }
        Ok(Self { period, track, first, last })
    }

    pub fn period(&self) -> InvoicePeriod {
        self.period
    }

    pub fn track(&self) -> Track {
        self.track
    }

    pub fn first(&self) -> InvoiceNumber {
        InvoiceNumber::from_parts(self.track, self.first).expect("checked in new")
    }

    pub fn last(&self) -> InvoiceNumber {
        InvoiceNumber::from_parts(self.track, self.last).expect("checked in new")
    }

    /// How many numbers the range holds (at least 1).
    #[allow(clippy::len_without_is_empty)] // a range is never empty
    pub fn len(&self) -> u32 {
        self.last - self.first + 1
    }

    /// The number `offset` places after the first one; `None` past the end.
    pub fn number_at(&self, offset: u32) -> Option<InvoiceNumber> {
        if offset >= self.len() {
            return None;
        }
        InvoiceNumber::from_parts(self.track, self.first + offset)
    }

    /// Where `number` sits in the range, if it is in it.
    pub fn offset_of(&self, number: &InvoiceNumber) -> Option<u32> {
        self.contains(number).then(|| number.sequence() - self.first)
    }

    pub fn contains(&self, number: &InvoiceNumber) -> bool {
        number.track_code() == self.track && (self.first..=self.last).contains(&number.sequence())
    }
}

impl TryFrom<RawNumberRange> for NumberRange {
    type Error = RuleViolation;
    fn try_from(r: RawNumberRange) -> Result<Self, Self::Error> {
        Self::new(r.period, r.track, r.first, r.last)
    }
}

impl From<NumberRange> for RawNumberRange {
    fn from(r: NumberRange) -> Self {
        Self { period: r.period, track: r.track, first: r.first, last: r.last }
    }
}

/// 隨機碼: the 4-digit random code printed on the proof and used to claim prizes.
/// Generating it (from a CSPRNG) is the adapter's job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RandomCode([u8; 4]);

impl RandomCode {
    /// `n` zero-padded to 4 digits; `None` when `n ≥ 10000`.
    pub fn from_u16(n: u16) -> Option<Self> {
        if n >= 10_000 {
            return None;
        }
        let mut out = [0u8; 4];
        out.copy_from_slice(format!("{n:04}").as_bytes());
        Some(Self(out))
    }

    pub fn parse(input: &str) -> Result<Self, RuleViolation> {
        match input.as_bytes() {
            bytes @ &[_, _, _, _] if bytes.iter().all(u8::is_ascii_digit) => {
                let mut out = [0u8; 4];
                out.copy_from_slice(bytes);
                Ok(Self(out))
            }
            _ => Err(RuleViolation::on_field("invalid_random_code", "random_code", "random_code must be exactly 4 digits")),
        }
    }

    pub fn as_str(&self) -> &str {
        ascii_str(&self.0)
    }
}

/// The merchant's QR-code AES KEY (加密金鑰, made from the 種子密碼 on the MOF platform):
/// 32 hex characters = 16 bytes, used for the 24-character 加密驗證資訊 of the left QR code.
/// A secret: its `Debug` hides it and it has no `Display` or serde.
#[derive(Clone)]
pub struct AesKey([u8; 16]);

impl AesKey {
    /// Exactly 32 hex characters (either case). The error never repeats the input.
    pub fn parse(input: &str) -> Result<Self, RuleViolation> {
        let mut key = [0u8; 16];
        if input.len() != 32 || hex::decode_to_slice(input, &mut key).is_err() {
            return Err(RuleViolation::on_field("invalid_aes_key", "aes_key", "aes_key must be exactly 32 hex characters"));
        }
        Ok(Self(key))
    }

    pub(crate) fn bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Debug for AesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AesKey(***)")
    }
}

/// A block of consecutive numbers an issuer instance leased from one 字軌 range (預取號段), so
/// that one counter write serves many invoices. Numbers of a block that its instance never
/// uses are unused numbers (空白未使用字軌): period close reports them by their missing guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberBlock {
    track: Track,
    next: u32,
    end: u32,
    size: u32,
    leased_at: DateTime<Utc>,
}

impl NumberBlock {
    /// The most numbers leased at once: at most this many are left unused by an instance that
    /// stops, and one counter write serves this many invoices at full speed.
    pub const MAX_SIZE: u32 = 64;

    /// A block used up within this time was too small: the next one is twice as large.
    pub const BUSY_WITHIN: TimeDelta = TimeDelta::seconds(10);

    /// `count` sequences from `first` of `track`, leased at `leased_at` (`count` ≥ 1).
    pub fn new(track: Track, first: u32, count: u32, leased_at: DateTime<Utc>) -> Self {
        Self { track, next: first, end: first + count.max(1), size: count.max(1), leased_at }
    }

    /// The next number of the block, if any is left.
    pub fn take(&mut self) -> Option<InvoiceNumber> {
        if self.next >= self.end {
            return None;
        }
        self.next += 1;
        InvoiceNumber::from_parts(self.track, self.next - 1)
    }

    /// Numbers still in the block.
    pub fn remaining(&self) -> u32 {
        self.end - self.next
    }

    /// How many numbers to lease after `previous` (used up) at `now`: twice as many while
    /// blocks are used up within [`Self::BUSY_WITHIN`], up to [`Self::MAX_SIZE`]; back to one
    /// when orders trickle in, so a quiet merchant never has more than one number in flight.
    pub fn next_size(previous: Option<&Self>, now: DateTime<Utc>) -> u32 {
        match previous {
            Some(p) if now - p.leased_at < Self::BUSY_WITHIN => (p.size * 2).min(Self::MAX_SIZE),
            _ => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn p(s: &str) -> InvoicePeriod {
        InvoicePeriod::parse(s).unwrap()
    }

    #[test]
    fn invoice_number_parts() {
        let n = InvoiceNumber::parse("UZ17690872").unwrap();
        assert_eq!(n.track(), "UZ");
        assert_eq!(n.track_code(), Track::parse("UZ").unwrap());
        assert_eq!(n.sequence(), 17_690_872);
        assert_eq!(n.to_string(), "UZ17690872");
        assert_eq!(InvoiceNumber::parse("AB00000000").unwrap().sequence(), 0);
        assert_eq!(InvoiceNumber::from_parts(Track::parse("AB").unwrap(), 49), Some(InvoiceNumber::parse("AB00000049").unwrap()));
        assert_eq!(InvoiceNumber::from_parts(Track::parse("AB").unwrap(), 100_000_000), None);
    }

    #[test]
    fn invoice_number_rejects_bad_shapes() {
        for bad in ["uz17690872", "UZ1769087", "UZ176908721", "U217690872", "UZ-17690872", "", "UZ1769087a", "ＵＺ17690872", "UZ１7690872"] {
            assert_eq!(InvoiceNumber::parse(bad).unwrap_err().code, "invalid_invoice_number", "{bad}");
        }
        for bad in ["", "A", "ab", "A1", "ABC", "ＡＢ"] {
            assert_eq!(Track::parse(bad).unwrap_err().code, "invalid_track", "{bad}");
        }
    }

    #[test]
    fn invoice_number_serde_is_a_string() {
        let n = InvoiceNumber::parse("UZ17690872").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"UZ17690872\"");
        assert_eq!(serde_json::from_str::<InvoiceNumber>("\"UZ17690872\"").unwrap(), n);
        assert!(serde_json::from_str::<InvoiceNumber>("\"UZ1769087\"").is_err());
    }

    #[test]
    fn period_contains_each_bimonth() {
        for (date, period) in [
            ("2026-01-01", "11502"),
            ("2026-02-28", "11502"),
            ("2026-03-01", "11504"),
            ("2026-06-30", "11506"),
            ("2026-07-15", "11508"),
            ("2026-10-31", "11510"),
            ("2026-11-01", "11512"),
            ("2026-12-31", "11512"),
            ("2015-03-07", "10404"),
            ("1912-01-01", "00102"),
        ] {
            assert_eq!(InvoicePeriod::containing(d(date)).to_string(), period, "{date}");
        }
    }

    #[test]
    fn period_parse_rejects_odd_and_out_of_range_months() {
        for bad in ["11501", "11513", "11500", "11511", "00002", "1151", "115122", "11a12", "", " 11512", "-1112"] {
            assert_eq!(InvoicePeriod::parse(bad).unwrap_err().code, "invalid_period", "{bad}");
        }
        assert_eq!(p("09902").to_string(), "09902");
        assert_eq!(p("09902").roc_year(), 99);
    }

    #[test]
    fn period_days_and_neighbours() {
        let nd = p("11512");
        assert_eq!(nd.first_day(), d("2026-11-01"));
        assert_eq!(nd.last_day(), d("2026-12-31"));
        assert_eq!(nd.next(), p("11602"));
        assert_eq!(nd.previous(), p("11510"));
        assert_eq!(p("11602").previous(), nd);
        // Leap and non-leap February.
        assert_eq!(p("11702").last_day(), d("2028-02-29"));
        assert_eq!(p("11502").last_day(), d("2026-02-28"));
        assert_eq!(p("11504").last_day(), d("2026-04-30"));
        assert!(nd.contains(d("2026-11-01")) && nd.contains(d("2026-12-31")));
        assert!(!nd.contains(d("2026-10-31")) && !nd.contains(d("2027-01-01")));
        assert!(p("11510") < nd && nd < p("11602"));
    }

    #[test]
    fn period_serde_is_a_string() {
        assert_eq!(serde_json::to_string(&p("11512")).unwrap(), "\"11512\"");
        assert_eq!(serde_json::from_str::<InvoicePeriod>("\"10404\"").unwrap(), p("10404"));
        assert!(serde_json::from_str::<InvoicePeriod>("\"10403\"").is_err());
    }

    #[test]
    fn void_deadline_is_the_13th_of_the_next_odd_month_in_taipei() {
        assert_eq!(p("11512").void_deadline(), t("2027-01-13T23:59:59+08:00"));
        assert_eq!(p("11502").void_deadline(), t("2026-03-13T23:59:59+08:00"));
        assert_eq!(p("11510").void_deadline(), t("2026-11-13T15:59:59Z"));
        let period = p("11512");
        assert!(period.is_open_for_void(t("2026-12-31T12:00:00+08:00")));
        assert!(period.is_open_for_void(t("2027-01-13T23:59:59+08:00")));
        assert!(period.is_open_for_void(t("2027-01-13T23:59:59.999+08:00")));
        assert!(!period.is_open_for_void(t("2027-01-14T00:00:00+08:00")));
        assert!(!period.is_open_for_void(t("2027-01-13T16:00:00Z")));
    }

    #[test]
    fn upload_deadline_is_end_of_day_two_days_after_the_taipei_issue_date() {
        // 2026-01-30 23:30 Taipei (15:30 UTC) → Feb 1 23:59:59 Taipei.
        assert_eq!(upload_deadline(t("2026-01-30T15:30:00Z")), t("2026-02-01T23:59:59+08:00"));
        // 2026-01-30 16:00 UTC is already Jan 31 in Taipei → Feb 2.
        assert_eq!(upload_deadline(t("2026-01-30T16:00:00Z")), t("2026-02-02T23:59:59+08:00"));
        // Across a year and a leap day.
        assert_eq!(upload_deadline(t("2026-12-30T10:00:00+08:00")), t("2027-01-01T23:59:59+08:00"));
        assert_eq!(upload_deadline(t("2028-02-28T00:00:00+08:00")), t("2028-03-01T23:59:59+08:00"));
    }

    #[test]
    fn number_range_book_of_fifty() {
        let r = NumberRange::new(p("11512"), Track::parse("UZ").unwrap(), 0, 49).unwrap();
        assert_eq!(r.len(), 50);
        assert_eq!(r.first().to_string(), "UZ00000000");
        assert_eq!(r.last().to_string(), "UZ00000049");
        assert_eq!(r.number_at(0), Some(r.first()));
        assert_eq!(r.number_at(49).unwrap().to_string(), "UZ00000049");
        assert_eq!(r.number_at(50), None);
        assert!(r.contains(&InvoiceNumber::parse("UZ00000017").unwrap()));
        assert_eq!(r.offset_of(&InvoiceNumber::parse("UZ00000017").unwrap()), Some(17));
        assert!(!r.contains(&InvoiceNumber::parse("UZ00000050").unwrap()));
        assert!(!r.contains(&InvoiceNumber::parse("UY00000017").unwrap()));
        assert_eq!(r.offset_of(&InvoiceNumber::parse("UY00000017").unwrap()), None);
    }

    #[test]
    fn number_range_edges() {
        let track = Track::parse("ZZ").unwrap();
        let single = NumberRange::new(p("11502"), track, 99_999_999, 99_999_999).unwrap();
        assert_eq!(single.len(), 1);
        assert_eq!(single.number_at(0).unwrap().to_string(), "ZZ99999999");
        assert_eq!(single.number_at(u32::MAX), None);
        for (first, last) in [(10, 9), (0, 100_000_000), (100_000_000, 100_000_001)] {
            assert_eq!(NumberRange::new(p("11502"), track, first, last).unwrap_err().code, "invalid_number_range");
        }
        let whole = NumberRange::new(p("11502"), track, 0, 99_999_999).unwrap();
        assert_eq!(whole.len(), 100_000_000);
    }

    #[test]
    fn number_range_serde_checks_on_the_way_in() {
        let r = NumberRange::new(p("11512"), Track::parse("UZ").unwrap(), 50, 99).unwrap();
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, r#"{"period":"11512","track":"UZ","first":50,"last":99}"#);
        assert_eq!(serde_json::from_str::<NumberRange>(&json).unwrap(), r);
        assert!(serde_json::from_str::<NumberRange>(r#"{"period":"11512","track":"UZ","first":99,"last":50}"#).is_err());
    }

    #[test]
    fn random_code_is_four_digits() {
        assert_eq!(RandomCode::from_u16(122).unwrap().to_string(), "0122");
        assert_eq!(RandomCode::from_u16(0).unwrap().to_string(), "0000");
        assert_eq!(RandomCode::from_u16(9999).unwrap().to_string(), "9999");
        assert_eq!(RandomCode::from_u16(10_000), None);
        assert_eq!(RandomCode::parse("0122").unwrap(), RandomCode::from_u16(122).unwrap());
        for bad in ["122", "01223", "01a2", "    ", "", "０１２２"] {
            assert_eq!(RandomCode::parse(bad).unwrap_err().code, "invalid_random_code", "{bad}");
        }
        assert_eq!(serde_json::to_string(&RandomCode::from_u16(7).unwrap()).unwrap(), "\"0007\"");
    }

    #[test]
    fn aes_key_parses_hex_and_hides_itself() {
        let key = AesKey::parse("2B7E151628AED2A6ABF7158809CF4F3C").unwrap();
        assert_eq!(key.bytes()[..3], [0x2b, 0x7e, 0x15]);
        assert_eq!(AesKey::parse("2b7e151628aed2a6abf7158809cf4f3c").unwrap().bytes(), key.bytes());
        assert_eq!(format!("{key:?}"), "AesKey(***)");
        for bad in [
            "",
            "2B7E151628AED2A6ABF7158809CF4F3",
            "2B7E151628AED2A6ABF7158809CF4F3C00",
            "2B7E151628AED2A6ABF7158809CF4F3G",
            " 2B7E151628AED2A6ABF7158809CF4F3",
        ] {
            let err = AesKey::parse(bad).unwrap_err();
            assert_eq!(err.code, "invalid_aes_key");
            assert!(bad.is_empty() || !err.message.contains(bad));
        }
    }

    proptest! {
        #[test]
        fn period_round_trips_and_tiles_the_calendar(days in 0i64..(365 * 200)) {
            let date = d("1950-01-01") + chrono::Duration::days(days);
            let period = InvoicePeriod::containing(date);
            prop_assert!(period.contains(date));
            prop_assert_eq!(InvoicePeriod::parse(&period.to_string()).unwrap(), period);
            prop_assert_eq!(period.to_string().len(), 5);
            prop_assert_eq!(period.next().first_day(), period.last_day() + Days::new(1));
            prop_assert_eq!(period.next().previous(), period);
            prop_assert_eq!(InvoicePeriod::containing(period.first_day()), period);
            prop_assert_eq!(InvoicePeriod::containing(period.last_day()), period);
            // The void window closes after the period ends, in the odd month after it.
            let deadline = taipei_date(period.void_deadline());
            prop_assert!(deadline > period.last_day());
            prop_assert_eq!(deadline.month() % 2, 1);
            prop_assert_eq!(deadline.day(), 13);
        }

        #[test]
        fn invoice_number_round_trips(track in "[A-Z]{2}", seq in 0u32..100_000_000) {
            let n = InvoiceNumber::from_parts(Track::parse(&track).unwrap(), seq).unwrap();
            prop_assert_eq!(n.sequence(), seq);
            prop_assert_eq!(n.track(), track.as_str());
            prop_assert_eq!(InvoiceNumber::parse(&n.to_string()).unwrap(), n);
        }

        #[test]
        fn range_offsets_and_numbers_agree(first in 0u32..100_000_000, len in 1u32..1000, offset in 0u32..1100) {
            let last = first.saturating_add(len - 1).min(99_999_999);
            let r = NumberRange::new(p("11512"), Track::parse("AB").unwrap(), first, last).unwrap();
            match r.number_at(offset) {
                Some(n) => {
                    prop_assert!(offset < r.len());
                    prop_assert!(r.contains(&n));
                    prop_assert_eq!(r.offset_of(&n), Some(offset));
                }
                None => prop_assert!(offset >= r.len()),
            }
        }
    }

    #[test]
    fn a_block_hands_out_its_numbers_once_in_order() {
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 2, 0, 0).unwrap();
        let mut b = NumberBlock::new(Track::parse("AB").unwrap(), 12_345_678, 3, t);
        let taken: Vec<String> = std::iter::from_fn(|| b.take()).map(|n| n.to_string()).collect();
        assert_eq!(taken, ["AB12345678", "AB12345679", "AB12345680"]);
        assert_eq!(b.remaining(), 0);
        assert_eq!(b.take(), None);
    }

    #[test]
    fn block_sizes_double_while_busy_and_fall_back_to_one_when_quiet() {
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 2, 0, 0).unwrap();
        let track = Track::parse("AB").unwrap();
        assert_eq!(NumberBlock::next_size(None, t), 1);
        let block = |size| NumberBlock::new(track, 1, size, t);
        // Used up 9.999 s after the lease: busy. At exactly 10 s: not.
        let busy = t + TimeDelta::milliseconds(9_999);
        assert_eq!(NumberBlock::next_size(Some(&block(1)), busy), 2);
        assert_eq!(NumberBlock::next_size(Some(&block(16)), busy), 32);
        assert_eq!(NumberBlock::next_size(Some(&block(64)), busy), 64);
        assert_eq!(NumberBlock::next_size(Some(&block(64)), t + NumberBlock::BUSY_WITHIN), 1);
    }
}
