//! 方案: plan lengths, first-purchase bonus months, prices, and the plan's status.

use std::collections::BTreeMap;
use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::period::UsagePeriod;
use crate::rule::RuleViolation;

/// A plan length the merchant can buy: 3, 6, 12 or 24 months.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct PlanMonths(u8);

impl PlanMonths {
    pub const ALL: [PlanMonths; 4] = [PlanMonths(3), PlanMonths(6), PlanMonths(12), PlanMonths(24)];

    pub fn new(months: u32) -> Result<Self, RuleViolation> {
        Self::ALL
            .into_iter()
            .find(|p| u32::from(p.0) == months)
            .ok_or_else(|| RuleViolation::on_field("invalid_plan", "months", format!("months must be one of 3, 6, 12, 24 (got {months})")))
    }

    pub fn get(self) -> u32 {
        u32::from(self.0)
    }

    /// 首購加贈: first purchase of 12 or 24 months → +2, of 3 or 6 months → +1; renewals get 0.
    pub fn bonus_months(self, first_purchase: bool) -> u32 {
        match (first_purchase, self.0) {
            (false, _) => 0,
            (true, 12 | 24) => 2,
            (true, _) => 1,
        }
    }
}

impl TryFrom<u32> for PlanMonths {
    type Error = RuleViolation;
    fn try_from(m: u32) -> Result<Self, Self::Error> {
        Self::new(m)
    }
}

impl From<PlanMonths> for u32 {
    fn from(p: PlanMonths) -> Self {
        p.get()
    }
}

impl fmt::Display for PlanMonths {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Prices (whole TWD) of every plan length; loaded from configuration, never hard-coded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanCatalogue {
    prices: BTreeMap<PlanMonths, u64>,
}

impl PlanCatalogue {
    /// Parses `{"3": 1800, "6": 3300, "12": 6000, "24": 10800}`: every plan length priced,
    /// nothing else, every price a positive whole number of TWD.
    pub fn from_json(json: &str) -> Result<Self, String> {
        let raw: BTreeMap<String, u64> = serde_json::from_str(json).map_err(|e| format!("plan catalogue is not a JSON object of prices: {e}"))?;
        let mut prices = BTreeMap::new();
        for (months, price) in raw {
            let months: u32 = months.parse().map_err(|_| format!("plan catalogue key {months:?} is not a number"))?;
            let plan = PlanMonths::new(months).map_err(|e| e.message)?;
            if price == 0 {
                return Err(format!("plan catalogue price for {months} months must be positive"));
            }
            prices.insert(plan, price);
        }
        Self::new(prices)
    }

    pub fn new(prices: BTreeMap<PlanMonths, u64>) -> Result<Self, String> {
        for plan in PlanMonths::ALL {
            if !prices.contains_key(&plan) {
                return Err(format!("plan catalogue has no price for {plan} months"));
            }
        }
        Ok(Self { prices })
    }

    pub fn price(&self, plan: PlanMonths) -> u64 {
        self.prices[&plan]
    }

    /// What the merchant is offered, with the bonus that applies to it.
    pub fn offers(&self, first_purchase: bool) -> Vec<PlanOffer> {
        PlanMonths::ALL.into_iter().map(|plan| self.offer(plan, first_purchase)).collect()
    }

    pub fn offer(&self, plan: PlanMonths, first_purchase: bool) -> PlanOffer {
        PlanOffer { months: plan, bonus_months: plan.bonus_months(first_purchase), price: self.price(plan) }
    }
}

/// One line of the plan list shown at verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PlanOffer {
    pub months: PlanMonths,
    pub bonus_months: u32,
    pub price: u64,
}

impl PlanOffer {
    pub fn total_months(&self) -> u32 {
        self.months.get() + self.bonus_months
    }
}

/// What the plan view says about the merchant's Wixtar plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    /// Nothing paid yet.
    None,
    /// Paid; waiting for Wixtar to open the account and the merchant to save credentials (串接).
    AwaitingActivation,
    /// Credentials saved and today ≤ expires_on.
    Active,
    /// Today is after expires_on: no invoices are issued.
    Expired,
}

impl PlanStatus {
    pub fn of(period: Option<&UsagePeriod>, credentials_saved: bool, today: NaiveDate) -> Self {
        match period {
            None => Self::None,
            Some(p) if p.has_expired(today) => Self::Expired,
            Some(_) if credentials_saved => Self::Active,
            Some(_) => Self::AwaitingActivation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogue() -> PlanCatalogue {
        PlanCatalogue::from_json(r#"{"3":1800,"6":3300,"12":6000,"24":10800}"#).unwrap()
    }

    #[test]
    fn only_the_four_lengths_exist() {
        for m in [3, 6, 12, 24] {
            assert_eq!(PlanMonths::new(m).unwrap().get(), m);
        }
        for m in [0, 1, 2, 4, 5, 9, 18, 36, u32::MAX] {
            assert_eq!(PlanMonths::new(m).unwrap_err().code, "invalid_plan");
        }
    }

    #[test]
    fn bonus_rules() {
        let bonus = |m, first| PlanMonths::new(m).unwrap().bonus_months(first);
        assert_eq!([bonus(3, true), bonus(6, true), bonus(12, true), bonus(24, true)], [1, 1, 2, 2]);
        assert_eq!([bonus(3, false), bonus(6, false), bonus(12, false), bonus(24, false)], [0, 0, 0, 0]);
    }

    #[test]
    fn offers_follow_the_catalogue() {
        let offers = catalogue().offers(true);
        let summary: Vec<_> = offers.iter().map(|o| (o.months.get(), o.bonus_months, o.price)).collect();
        assert_eq!(summary, vec![(3, 1, 1800), (6, 1, 3300), (12, 2, 6000), (24, 2, 10800)]);
        assert_eq!(offers[3].total_months(), 26);
        assert!(catalogue().offers(false).iter().all(|o| o.bonus_months == 0));
    }

    #[test]
    fn catalogue_must_be_complete_and_sane() {
        assert!(PlanCatalogue::from_json(r#"{"3":1,"6":1,"12":1}"#).unwrap_err().contains("24"));
        assert!(PlanCatalogue::from_json(r#"{"3":1,"6":1,"12":1,"24":0}"#).is_err());
        assert!(PlanCatalogue::from_json(r#"{"3":1,"6":1,"12":1,"24":1,"5":1}"#).is_err());
        assert!(PlanCatalogue::from_json(r#"{"3":-1}"#).is_err());
        assert!(PlanCatalogue::from_json("[]").is_err());
    }

    #[test]
    fn status_follows_period_credentials_and_today() {
        let p = UsagePeriod::first("2026-01-01".parse().unwrap(), 3);
        let on = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(PlanStatus::of(None, false, on("2026-01-01")), PlanStatus::None);
        assert_eq!(PlanStatus::of(Some(&p), false, on("2026-03-31")), PlanStatus::AwaitingActivation);
        assert_eq!(PlanStatus::of(Some(&p), true, on("2026-03-31")), PlanStatus::Active);
        assert_eq!(PlanStatus::of(Some(&p), true, on("2026-04-01")), PlanStatus::Expired);
        assert_eq!(PlanStatus::of(Some(&p), false, on("2026-04-01")), PlanStatus::Expired);
    }
}
