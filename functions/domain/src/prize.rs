//! 統一發票中獎: the bimonthly draw (開獎), MOF's prize kinds (獎別), the claim window (領獎期間)
//! and who acts for a winning invoice (DESIGN.md §7).
//!
//! Dates (統一發票給獎辦法; MOF's announcements):
//! - MOF draws on the 25th of the odd month after the period (11510, Sep–Oct 2026 → 2026-11-25;
//!   11512 → 2027-01-25) and hands the 中獎清冊 to the value-added centres around the 28th–29th;
//! - the winners are asked of Wixtar from the 26th of that month ([`InvoicePeriod::winners_asked_from`]);
//! - prizes are claimed from the 6th of the month after the draw for three months
//!   (11510 → 2026-12-06 … 2027-03-05). When that last day is a Saturday, Sunday or holiday
//!   the law (行政程序法 §48) moves it to the next working day; [`ClaimWindow::last_day`] is
//!   the nominal day MOF's rule names, never later than the real one, so a buyer told it
//!   cannot miss the deadline (holidays need a calendar this crate does not hold).
//!
//! The prize amount always comes from MOF's list (via Wixtar); it is never computed here.

use std::fmt;

use chrono::{Datelike, Months, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::buyer::CarrierKind;
use crate::invoice::InvoicePeriod;

/// 開獎日: the day of the odd month on which MOF draws.
pub const DRAW_DAY: u32 = 25;
/// The day of the draw month from which Wixtar is asked for the winners.
pub const FIRST_ASK_DAY: u32 = 26;
/// 領獎期間 starts on this day of the month after the draw month …
pub const CLAIM_START_DAY: u32 = 6;
/// … and lasts this many months.
pub const CLAIM_MONTHS: u32 = 3;

/// 領獎期間: the inclusive dates on which a prize of a period can be claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClaimWindow {
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
}

impl ClaimWindow {
    /// Whether a prize can be claimed on `date` (both ends included).
    pub fn contains(&self, date: NaiveDate) -> bool {
        self.first_day <= date && date <= self.last_day
    }

    /// Whether the window is over on `date`: nothing is claimed (or asked, or mailed) any more.
    pub fn has_ended(&self, date: NaiveDate) -> bool {
        date > self.last_day
    }
}

impl InvoicePeriod {
    /// 開獎日: the 25th of the odd month after the period (11512 → 2027-01-25).
    pub fn draw_date(&self) -> NaiveDate {
        self.last_day().succ_opt().expect("a period is far from chrono's limits").with_day(DRAW_DAY).expect("every month has a 25th")
    }

    /// The first day Wixtar is asked for the period's winners: the day after the draw (the 26th).
    pub fn winners_asked_from(&self) -> NaiveDate {
        self.draw_date().with_day(FIRST_ASK_DAY).expect("every month has a 26th")
    }

    /// 領獎期間: from the 6th of the month after the draw month, three months, the last day
    /// included (11510 → 2026-12-06 … 2027-03-05).
    pub fn claim_window(&self) -> ClaimWindow {
        let draw = self.draw_date();
        let first_day = (draw.with_day(1).expect("the 1st exists") + Months::new(1)).with_day(CLAIM_START_DAY).expect("every month has a 6th");
        let last_day = (first_day + Months::new(CLAIM_MONTHS)).pred_opt().expect("a period is far from chrono's limits");
        ClaimWindow { first_day, last_day }
    }

    /// Whether the winners of this period are asked of Wixtar on `date`: from its 26th
    /// ([`Self::winners_asked_from`]) until its claim window has ended, both included.
    pub fn winners_asked_on(&self, date: NaiveDate) -> bool {
        self.winners_asked_from() <= date && !self.claim_window().has_ended(date)
    }
}

/// The periods whose winners the daily job asks Wixtar about on `today` (Asia/Taipei), oldest
/// first: every period from its 26th ([`InvoicePeriod::winners_asked_from`]) until its claim
/// window has ended.
///
/// Windows overlap: from the 26th of an odd month to the 5th of the next odd month two periods
/// are open (e.g. on 2027-02-01: 11510, whose claims run to 2027-03-05, and 11512, drawn on
/// 2027-01-25); otherwise one. The job skips a period once it holds that period's list (a
/// merchant's answer other than "not yet"), so an open period costs one call a day only until
/// its list arrives. Because every day of the range asks, a day the job did not run is caught
/// up by the next run; nothing hangs on running on one exact day.
pub fn periods_to_ask(today: NaiveDate) -> Vec<InvoicePeriod> {
    // The newest period that can be open is the one before today's; the claim window of a
    // period ends in the third odd month after its draw, so three periods back is enough.
    let newest = InvoicePeriod::containing(today).previous();
    let mut open: Vec<InvoicePeriod> = [newest.previous().previous(), newest.previous(), newest].into_iter().filter(|p| p.winners_asked_on(today)).collect();
    open.sort();
    open
}

/// 獎別: the prize kinds of MOF's list (115 年: 特別獎 1 組, 特獎 1 組, 頭獎至六獎各 3 組, and
/// 雲端發票專屬獎 of 100 萬, 2,000, 800 and 500 元). The amount of each comes with the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrizeKind {
    /// 特別獎 (1,000 萬元): all 8 digits equal the 特別獎 number.
    Special,
    /// 特獎 (200 萬元): all 8 digits equal the 特獎 number.
    Grand,
    /// 頭獎 (20 萬元): all 8 digits equal a 頭獎 number.
    First,
    /// 二獎 (4 萬元): the last 7 digits of a 頭獎 number.
    Second,
    /// 三獎 (1 萬元): the last 6 digits.
    Third,
    /// 四獎 (4,000 元): the last 5 digits.
    Fourth,
    /// 五獎 (1,000 元): the last 4 digits.
    Fifth,
    /// 六獎 (200 元): the last 3 digits.
    Sixth,
    /// 雲端發票專屬獎: cloud invoices (on a carrier, not printed) only; MOF's list names it by
    /// its amount (100 萬元獎, 2,000 元獎, 800 元獎, 500 元獎), which the list carries.
    Cloud,
}

impl PrizeKind {
    pub const ALL: [Self; 9] = [Self::Special, Self::Grand, Self::First, Self::Second, Self::Third, Self::Fourth, Self::Fifth, Self::Sixth, Self::Cloud];

    /// The wire name (`special`, …, `cloud`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Special => "special",
            Self::Grand => "grand",
            Self::First => "first",
            Self::Second => "second",
            Self::Third => "third",
            Self::Fourth => "fourth",
            Self::Fifth => "fifth",
            Self::Sixth => "sixth",
            Self::Cloud => "cloud",
        }
    }

    /// The name MOF prints: 特別獎, 特獎, 頭獎, 二獎 … 六獎, 雲端發票專屬獎.
    pub fn label(self) -> &'static str {
        match self {
            Self::Special => "特別獎",
            Self::Grand => "特獎",
            Self::First => "頭獎",
            Self::Second => "二獎",
            Self::Third => "三獎",
            Self::Fourth => "四獎",
            Self::Fifth => "五獎",
            Self::Sixth => "六獎",
            Self::Cloud => "雲端發票專屬獎",
        }
    }
}

impl fmt::Display for PrizeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who acts for a winning invoice (DESIGN.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Claimant {
    /// 會員載具 (B2C, not donated, not void): the seller tells the buyer and prints the winning
    /// proof (中獎電子發票證明聯) once. Ours.
    Seller,
    /// 手機條碼 / 自然人憑證: MOF tells the buyer (and pays into their account).
    Mof,
    /// 紙本證明聯: the buyer holds the printed proof and claims with it.
    PaperHolder,
    /// 捐贈: the charity of the love code (受捐贈機構) claims.
    Charity,
    /// B2B (買受人為營業人) or void (作廢): the prize cannot be claimed.
    NotClaimable,
}

impl Claimant {
    /// Whether the seller must mail the buyer and print the winning proof.
    pub fn is_seller(self) -> bool {
        self == Self::Seller
    }
}

/// What [`claimant`] needs to know of a winning invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WinnerFacts {
    /// The buyer has a UBN (三聯式).
    pub b2b: bool,
    /// The void (作廢) was accepted.
    pub void: bool,
    /// Donated by love code (愛心碼), whether or not it also went to a carrier.
    pub donated: bool,
    /// The carrier the invoice went to; `None`: a paper proof was printed (B2C).
    pub carrier: Option<CarrierKind>,
}

/// Who acts for a winner: void and B2B first (cannot claim), then a donation (the charity,
/// even with a carrier), then by carrier: member → the seller, mobile or certificate → MOF,
/// none → the holder of the paper proof.
pub fn claimant(facts: WinnerFacts) -> Claimant {
    match facts {
        WinnerFacts { void: true, .. } | WinnerFacts { b2b: true, .. } => Claimant::NotClaimable,
        WinnerFacts { donated: true, .. } => Claimant::Charity,
        WinnerFacts { carrier: Some(CarrierKind::Member), .. } => Claimant::Seller,
        WinnerFacts { carrier: Some(CarrierKind::Mobile | CarrierKind::Certificate), .. } => Claimant::Mof,
        WinnerFacts { carrier: None, .. } => Claimant::PaperHolder,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn p(s: &str) -> InvoicePeriod {
        InvoicePeriod::parse(s).unwrap()
    }

    fn window(from: &str, to: &str) -> ClaimWindow {
        ClaimWindow { first_day: d(from), last_day: d(to) }
    }

    #[test]
    fn draw_is_on_the_25th_of_the_odd_month_after_the_period() {
        assert_eq!(p("11510").draw_date(), d("2026-11-25"));
        assert_eq!(p("11512").draw_date(), d("2027-01-25"));
        assert_eq!(p("11502").draw_date(), d("2026-03-25"));
        assert_eq!(p("11508").draw_date(), d("2026-09-25"));
        assert_eq!(p("11510").winners_asked_from(), d("2026-11-26"));
        assert_eq!(p("11512").winners_asked_from(), d("2027-01-26"));
    }

    #[test]
    fn claim_window_runs_from_the_6th_after_the_draw_for_three_months() {
        // MOF's published windows: 114年9-10月 → 114-12-06 … 115-03-05; 114年11-12月 → 115-02-06 … 115-05-05.
        assert_eq!(p("11410").claim_window(), window("2025-12-06", "2026-03-05"));
        assert_eq!(p("11412").claim_window(), window("2026-02-06", "2026-05-05"));
        assert_eq!(p("11510").claim_window(), window("2026-12-06", "2027-03-05"));
        assert_eq!(p("11512").claim_window(), window("2027-02-06", "2027-05-05"));
        assert_eq!(p("11502").claim_window(), window("2026-04-06", "2026-07-05"));
        assert_eq!(p("11508").claim_window(), window("2026-10-06", "2027-01-05"));
        // Across a February end, leap or not: the window still ends on the 5th.
        assert_eq!(p("11610").claim_window(), window("2027-12-06", "2028-03-05"));
        let w = p("11510").claim_window();
        assert!(!w.contains(d("2026-12-05")) && w.contains(d("2026-12-06")));
        assert!(w.contains(d("2027-02-28")) && w.contains(d("2027-03-05")) && !w.contains(d("2027-03-06")));
        assert!(!w.has_ended(d("2027-03-05")) && w.has_ended(d("2027-03-06")));
    }

    #[test]
    fn a_period_is_asked_from_its_26th_until_its_claim_window_ends() {
        let period = p("11510");
        assert!(!period.winners_asked_on(d("2026-11-25")), "the draw day itself: MOF has no list yet");
        assert!(period.winners_asked_on(d("2026-11-26")));
        assert!(period.winners_asked_on(d("2027-03-05")));
        assert!(!period.winners_asked_on(d("2027-03-06")));
        assert!(!period.winners_asked_on(d("2026-10-31")), "not before the period ended");
    }

    #[test]
    fn periods_to_ask_on_each_boundary_day() {
        let ask = |day: &str| periods_to_ask(d(day)).iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(ask("2026-11-25"), ["11508"], "11508 (drawn 09-25) is still open; 11510 not yet");
        assert_eq!(ask("2026-11-26"), ["11508", "11510"]);
        assert_eq!(ask("2027-01-05"), ["11508", "11510"], "11508's last claim day");
        assert_eq!(ask("2027-01-06"), ["11510"]);
        assert_eq!(ask("2027-01-25"), ["11510"]);
        // Nov–Dec is drawn in January of the next year.
        assert_eq!(ask("2027-01-26"), ["11510", "11512"]);
        assert_eq!(ask("2027-02-28"), ["11510", "11512"]);
        assert_eq!(ask("2027-03-05"), ["11510", "11512"]);
        assert_eq!(ask("2027-03-06"), ["11512"]);
        assert_eq!(ask("2027-03-26"), ["11512", "11602"]);
        // 11408's claims run to 2026-01-05.
        assert_eq!(ask("2026-01-01"), ["11408", "11410"]);
    }

    #[test]
    fn prize_kinds_have_snake_case_names_and_mof_labels() {
        let names: Vec<String> = PrizeKind::ALL.iter().map(|k| serde_json::to_value(k).unwrap().as_str().unwrap().to_owned()).collect();
        assert_eq!(names, ["special", "grand", "first", "second", "third", "fourth", "fifth", "sixth", "cloud"]);
        for k in PrizeKind::ALL {
            assert_eq!(k.to_string(), k.as_str());
            assert_eq!(serde_json::from_value::<PrizeKind>(k.as_str().into()).unwrap(), k);
        }
        assert_eq!(PrizeKind::ALL.map(PrizeKind::label), ["特別獎", "特獎", "頭獎", "二獎", "三獎", "四獎", "五獎", "六獎", "雲端發票專屬獎"]);
        assert!(serde_json::from_value::<PrizeKind>("seventh".into()).is_err());
    }

    #[test]
    fn who_acts_for_a_winner() {
        let b2c = |carrier, donated| WinnerFacts { b2b: false, void: false, donated, carrier };
        assert_eq!(claimant(b2c(Some(CarrierKind::Member), false)), Claimant::Seller);
        assert_eq!(claimant(b2c(Some(CarrierKind::Mobile), false)), Claimant::Mof);
        assert_eq!(claimant(b2c(Some(CarrierKind::Certificate), false)), Claimant::Mof);
        assert_eq!(claimant(b2c(None, false)), Claimant::PaperHolder);
        assert_eq!(claimant(b2c(None, true)), Claimant::Charity);
        assert_eq!(claimant(b2c(Some(CarrierKind::Member), true)), Claimant::Charity, "donated from a member carrier");
        assert_eq!(claimant(WinnerFacts { void: true, ..b2c(Some(CarrierKind::Member), false) }), Claimant::NotClaimable);
        assert_eq!(claimant(WinnerFacts { b2b: true, ..b2c(None, false) }), Claimant::NotClaimable);
        assert!(Claimant::Seller.is_seller() && !Claimant::Mof.is_seller());
        assert_eq!(serde_json::to_value(Claimant::PaperHolder).unwrap(), "paper_holder");
        assert_eq!(serde_json::to_value(Claimant::NotClaimable).unwrap(), "not_claimable");
    }

    proptest! {
        #[test]
        fn every_day_asks_one_or_two_periods_each_in_its_window(days in 0i64..(365 * 30)) {
            let today = d("2020-01-01") + chrono::Duration::days(days);
            let open = periods_to_ask(today);
            prop_assert!((1..=2).contains(&open.len()), "{today}: {open:?}");
            for period in &open {
                prop_assert!(period.winners_asked_on(today));
                prop_assert_eq!(period.draw_date().day(), 25);
                prop_assert_eq!(period.draw_date().month() % 2, 1);
                prop_assert!(period.draw_date() > period.last_day());
                let w = period.claim_window();
                prop_assert_eq!((w.first_day.day(), w.last_day.day()), (6, 5));
            }
            // Nothing open is missed: the periods around today that are asked are all returned.
            let mut candidate = InvoicePeriod::containing(today);
            for _ in 0..6 {
                prop_assert_eq!(candidate.winners_asked_on(today), open.contains(&candidate), "{} on {}", candidate, today);
                candidate = candidate.previous();
            }
        }
    }
}
