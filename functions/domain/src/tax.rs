//! 課稅別: taxable (應稅), zero-rated (零稅率) and tax-free (免稅), as a line's kind ([`TaxKind`])
//! and as the invoice's MIG 4.0 [`TaxType`] (1, 2, 3, or 9 混合); the merchant's default and
//! zero-rating details ([`TaxSettings`]); amounts per kind ([`KindAmounts`]) and their split
//! by largest remainder. Which kinds an order makes and how its total splits is
//! [`crate::order::content`] (docs/invoices.md, "Tax types").

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::rule::RuleViolation;

/// A line's 課稅別.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaxKind {
    /// 應稅 (5%).
    #[default]
    Taxable,
    /// 零稅率.
    ZeroRated,
    /// 免稅.
    TaxFree,
}

impl TaxKind {
    /// In tie-break order.
    pub const ALL: [Self; 3] = [Self::Taxable, Self::ZeroRated, Self::TaxFree];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Taxable => "taxable",
            Self::ZeroRated => "zero_rated",
            Self::TaxFree => "tax_free",
        }
    }

    /// `invalid_tax_type` on `field` for anything but the three wire names.
    pub fn parse(value: &str, field: &str) -> Result<Self, RuleViolation> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == value)
            .ok_or_else(|| RuleViolation::on_field("invalid_tax_type", field, format!("{field} must be taxable, zero_rated or tax_free (got {value:?})")))
    }

    /// The invoice TaxType of an invoice of only this kind.
    pub fn tax_type(self) -> TaxType {
        match self {
            Self::Taxable => TaxType::Taxable,
            Self::ZeroRated => TaxType::ZeroRated,
            Self::TaxFree => TaxType::Exempt,
        }
    }

    /// The kind of a single-kind tax type (`None` for mixed).
    pub fn of_tax_type(t: TaxType) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.tax_type() == t)
    }

    /// Position in [`Self::ALL`] and in per-kind arrays.
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// Short Chinese label used in split 運費 / 折扣 line descriptions.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Taxable => "應稅",
            Self::ZeroRated => "零稅率",
            Self::TaxFree => "免稅",
        }
    }
}

/// The invoice's 課稅別 (MIG `TaxType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum TaxType {
    /// 應稅 (1), 5%: the default.
    #[default]
    Taxable = 1,
    /// 零稅率 (2).
    ZeroRated = 2,
    /// 免稅 (3).
    Exempt = 3,
    /// 混合應稅與免稅或零稅率 (9): B2C only, for merchants approved for it.
    Mixed = 9,
}

impl TaxType {
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Result<Self, RuleViolation> {
        match code {
            1 => Ok(Self::Taxable),
            2 => Ok(Self::ZeroRated),
            3 => Ok(Self::Exempt),
            9 => Ok(Self::Mixed),
            other => Err(RuleViolation::on_field("invalid_tax_type", "tax_type", format!("tax_type must be 1, 2, 3 or 9 (got {other})"))),
        }
    }

    /// 稅率 in percent (MIG `TaxRate`): 5 for taxable and mixed (the rate of its taxable
    /// part), 0 for zero-rated and tax-free.
    pub fn rate_percent(self) -> u8 {
        match self {
            Self::Taxable | Self::Mixed => 5,
            Self::ZeroRated | Self::Exempt => 0,
        }
    }
}

impl TryFrom<u8> for TaxType {
    type Error = RuleViolation;
    fn try_from(code: u8) -> Result<Self, Self::Error> {
        Self::from_code(code)
    }
}

impl From<TaxType> for u8 {
    fn from(t: TaxType) -> Self {
        t.code()
    }
}

/// 通關方式註記 (MIG `CustomsClearanceMark`): 1 非經海關出口, 2 經海關出口.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomsClearance {
    /// 非經海關出口 (1).
    NonCustoms,
    /// 經海關出口 (2).
    Customs,
}

impl CustomsClearance {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NonCustoms => "non_customs",
            Self::Customs => "customs",
        }
    }

    /// The MIG code.
    pub fn code(self) -> u8 {
        match self {
            Self::NonCustoms => 1,
            Self::Customs => 2,
        }
    }

    pub fn parse(value: &str) -> Result<Self, RuleViolation> {
        match value {
            "non_customs" => Ok(Self::NonCustoms),
            "customs" => Ok(Self::Customs),
            other => {
                Err(RuleViolation::on_field("invalid_field", "customs_clearance", format!("customs_clearance must be customs or non_customs (got {other:?})")))
            }
        }
    }
}

/// 零稅率原因 (MIG `ZeroTaxRateReason`): `71`–`79`, the paragraph 1–9 of 營業稅法 §7 that
/// makes the sale zero-rated (71 外銷貨物, 72 與外銷有關之勞務, 73 免稅商店, 74 保稅區營運,
/// 75 國際運輸, 76 國際運輸用船舶航空器及遠洋漁船, 77 其所用貨物或修繕勞務, 78–79 保稅區營業人
/// 銷售與課稅區營業人供外銷).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ZeroTaxReason(u8);

impl ZeroTaxReason {
    pub fn parse(value: &str) -> Result<Self, RuleViolation> {
        match value.parse::<u8>() {
            Ok(code @ 71..=79) if value.len() == 2 => Ok(Self(code)),
            _ => Err(RuleViolation::on_field(
                "invalid_field",
                "zero_tax_reason",
                format!("zero_tax_reason must be a MIG code from \"71\" to \"79\" (got {value:?})"),
            )),
        }
    }

    pub fn code(self) -> u8 {
        self.0
    }
}

impl fmt::Display for ZeroTaxReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl TryFrom<String> for ZeroTaxReason {
    type Error = RuleViolation;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ZeroTaxReason> for String {
    fn from(r: ZeroTaxReason) -> Self {
        r.to_string()
    }
}

/// What a zero-rated invoice (or the zero-rated part of a mixed one) must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZeroRating {
    pub customs_clearance: CustomsClearance,
    pub reason: ZeroTaxReason,
}

/// The merchant's tax settings (發票設定 › 課稅別).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TaxSettings {
    /// The kind of a line that does not say.
    pub default_tax_type: TaxKind,
    /// Needed as soon as any line is zero-rated.
    pub zero_rating: Option<ZeroRating>,
    /// Approved by the tax office for TaxType 9 (混合應稅與免稅或零稅率, 需經核可).
    pub mixed_tax_approved: bool,
}

impl TaxSettings {
    /// From the settings body: `default_tax_type` defaults to taxable; `customs_clearance` and
    /// `zero_tax_reason` come together or not at all, and are required (422 `missing_field`)
    /// when the default is zero-rated.
    pub fn parse(
        default_tax_type: Option<&str>,
        customs_clearance: Option<&str>,
        zero_tax_reason: Option<&str>,
        mixed_tax_approved: Option<bool>,
    ) -> Result<Self, RuleViolation> {
        let default_tax_type = default_tax_type.map(|t| TaxKind::parse(t, "default_tax_type")).transpose()?.unwrap_or_default();
        let customs_clearance = customs_clearance.map(CustomsClearance::parse).transpose()?;
        let reason = zero_tax_reason.map(ZeroTaxReason::parse).transpose()?;
        let zero_rating = match (customs_clearance, reason) {
            (Some(customs_clearance), Some(reason)) => Some(ZeroRating { customs_clearance, reason }),
            (None, None) if default_tax_type != TaxKind::ZeroRated => None,
            (None, _) => return Err(missing_zero_detail("customs_clearance")),
            (Some(_), None) => return Err(missing_zero_detail("zero_tax_reason")),
        };
        Ok(Self { default_tax_type, zero_rating, mixed_tax_approved: mixed_tax_approved.unwrap_or(false) })
    }
}

fn missing_zero_detail(field: &str) -> RuleViolation {
    RuleViolation::on_field(
        "missing_field",
        field,
        format!("{field} is required for zero-rated sales (零稅率須填通關方式與零稅率原因): give customs_clearance and zero_tax_reason together"),
    )
}

/// An amount per tax kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KindAmounts {
    pub taxable: u32,
    pub zero_rated: u32,
    pub tax_free: u32,
}

impl KindAmounts {
    pub(crate) fn from_array(a: [u32; 3]) -> Self {
        Self { taxable: a[0], zero_rated: a[1], tax_free: a[2] }
    }

    fn to_array(self) -> [u32; 3] {
        [self.taxable, self.zero_rated, self.tax_free]
    }

    /// All of `amount` in one kind.
    pub fn only(kind: TaxKind, amount: u32) -> Self {
        let mut a = [0; 3];
        a[kind.index()] = amount;
        Self::from_array(a)
    }

    pub fn get(&self, kind: TaxKind) -> u32 {
        self.to_array()[kind.index()]
    }

    pub fn sum(&self) -> u64 {
        self.to_array().iter().map(|&a| u64::from(a)).sum()
    }

    /// `self − other` per kind, floored at 0.
    pub fn saturating_sub(&self, other: &Self) -> Self {
        let (a, b) = (self.to_array(), other.to_array());
        Self::from_array([0, 1, 2].map(|i| a[i].saturating_sub(b[i])))
    }

    /// `self + other` per kind (saturating).
    pub fn saturating_add(&self, other: &Self) -> Self {
        let (a, b) = (self.to_array(), other.to_array());
        Self::from_array([0, 1, 2].map(|i| a[i].saturating_add(b[i])))
    }

    /// `amount` split in proportion to `self` (largest remainder; ties to taxable, then
    /// zero-rated, then tax-free). When `amount ≤ self.sum()`, no kind gets more than it has.
    /// All of it goes to taxable when every weight is 0.
    pub fn apportion(&self, amount: u32) -> Self {
        Self::from_array(apportion(amount, self.to_array().map(u64::from)))
    }
}

/// Largest-remainder apportionment of `amount` by `weights`: the parts add up to `amount`;
/// each is floor or ceil of its exact share. All to the first weight when they are all 0.
pub(crate) fn apportion(amount: u32, weights: [u64; 3]) -> [u32; 3] {
    let total: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    if total == 0 {
        return [amount, 0, 0];
    }
    let exact = weights.map(|w| u128::from(amount) * u128::from(w));
    // Each floor ≤ amount, so it fits.
    let mut parts = exact.map(|e| (e / total) as u32);
    let mut left = amount - parts.iter().sum::<u32>();
    let mut order = [0usize, 1, 2];
    // Largest fractional part first; stable sort keeps the tie-break order.
    order.sort_by_key(|&i| std::cmp::Reverse(exact[i] % total));
    for i in order {
        if left == 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_rules() {
        let s = TaxSettings::parse(None, None, None, None).unwrap();
        assert_eq!(s, TaxSettings::default());
        let e = TaxSettings::parse(Some("zero_rated"), None, None, None).unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), ("missing_field", Some("customs_clearance")));
        let e = TaxSettings::parse(Some("zero_rated"), Some("customs"), None, None).unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), ("missing_field", Some("zero_tax_reason")));
        let e = TaxSettings::parse(None, None, Some("71"), None).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("customs_clearance"), "both or neither");
        let s = TaxSettings::parse(Some("zero_rated"), Some("non_customs"), Some("79"), Some(true)).unwrap();
        assert_eq!(s.zero_rating.map(|z| (z.customs_clearance.code(), z.reason.code())), Some((1, 79)));
        assert!(s.mixed_tax_approved);
        for (bad, field) in [("exempt", "default_tax_type")] {
            assert_eq!(TaxSettings::parse(Some(bad), None, None, None).unwrap_err().field.as_deref(), Some(field));
        }
        for bad in ["70", "80", "7", "071", "7a", ""] {
            assert_eq!(ZeroTaxReason::parse(bad).unwrap_err().code, "invalid_field", "{bad}");
        }
        assert_eq!(CustomsClearance::parse("yes").unwrap_err().field.as_deref(), Some("customs_clearance"));
        assert_eq!(serde_json::to_value(ZeroTaxReason::parse("72").unwrap()).unwrap(), "72");
    }

    #[test]
    fn apportion_edges() {
        assert_eq!(apportion(10, [0, 0, 0]), [10, 0, 0]);
        assert_eq!(apportion(1, [1, 1, 1]), [1, 0, 0]);
        assert_eq!(apportion(2, [1, 1, 1]), [1, 1, 0]);
        assert_eq!(apportion(u32::MAX, [u64::MAX, u64::MAX, 1]), [2_147_483_648, 2_147_483_647, 0]);
        assert_eq!(KindAmounts { taxable: 1, zero_rated: 0, tax_free: 3 }.apportion(2), KindAmounts { taxable: 1, zero_rated: 0, tax_free: 1 });
    }

    #[test]
    fn tax_type_codes() {
        assert_eq!(TaxType::default().code(), 1);
        assert_eq!(serde_json::to_value(TaxType::Exempt).unwrap(), 3);
        assert_eq!(serde_json::from_value::<TaxType>(2.into()).unwrap(), TaxType::ZeroRated);
        assert_eq!(serde_json::from_value::<TaxType>(9.into()).unwrap(), TaxType::Mixed);
        assert_eq!(TaxType::from_code(4).unwrap_err().code, "invalid_tax_type");
        assert_eq!((TaxType::Taxable.rate_percent(), TaxType::Exempt.rate_percent(), TaxType::Mixed.rate_percent()), (5, 0, 5));
    }
}
