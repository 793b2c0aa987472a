//! 課稅別: taxable (應稅), zero-rated (零稅率) and tax-free (免稅) lines, the merchant's default
//! and zero-rating details, and how an order's total splits into the MIG 4.0 amounts
//! `SalesAmount` / `ZeroTaxSalesAmount` / `FreeTaxSalesAmount` (docs/invoices.md, "Tax types").
//!
//! Rules applied (sources in docs/invoices.md):
//! - one kind of line → TaxType 1, 2 or 3; more than one → TaxType 9 (混合), B2C only and only
//!   for a merchant approved for it (`mixed_tax_approved`); B2B mixed orders are refused
//!   (`mixed_tax_b2b`), unapproved B2C mixed orders too (`mixed_tax_not_approved`);
//! - a line's kind is its own `tax_type`, else the merchant's `default_tax_type`;
//! - kinds are weighed by their lines' subtotals; shipping (運費) is apportioned by those
//!   weights, then the discount (折扣) by each kind's goods + shipping, both by largest
//!   remainder (ties to taxable, then zero-rated, then tax-free), so every part is ≥ 0 and the
//!   parts add up exactly to the total.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::order::Order;
use crate::rule::RuleViolation;
use crate::sale::{DESCRIPTION_MAX, DISCOUNT_DESCRIPTION, InvoiceLine, SHIPPING_DESCRIPTION, TaxType, invoice_total};

/// `NotIssuable` reason: a B2B order with lines of more than one tax kind (TaxType 9 is for
/// B2C invoices only).
pub const MIXED_TAX_B2B: &str = "mixed_tax_b2b";
/// `NotIssuable` reason: a B2C order with more than one tax kind from a merchant not approved
/// for TaxType 9 (混合稅率需經核可).
pub const MIXED_TAX_NOT_APPROVED: &str = "mixed_tax_not_approved";
/// `NotIssuable` reason: zero-rated lines, but the merchant's settings lack the customs
/// clearance mark and the zero-tax-rate reason.
pub const ZERO_TAX_DETAILS_MISSING: &str = "zero_tax_details_missing";

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

    fn index(self) -> usize {
        self as usize
    }

    /// Short Chinese label used in split 運費 / 折扣 line descriptions.
    fn label(self) -> &'static str {
        match self {
            Self::Taxable => "應稅",
            Self::ZeroRated => "零稅率",
            Self::TaxFree => "免稅",
        }
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
    fn from_array(a: [u32; 3]) -> Self {
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
fn apportion(amount: u32, weights: [u64; 3]) -> [u32; 3] {
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

/// How an order's lines classify: which kinds it has and the invoice's TaxType.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaxPlan {
    pub tax_type: TaxType,
    /// Σ subtotals of each kind's lines.
    goods: [u64; 3],
    /// What shipping is apportioned by: `goods`, or 1 for the first kind present when there are
    /// only free items.
    weights: [u64; 3],
}

/// The kind of an order line under `settings`.
fn line_kind(order: &Order, i: usize, settings: &TaxSettings) -> TaxKind {
    order.lines[i].tax_type.unwrap_or(settings.default_tax_type)
}

/// Classifies the order without building anything (see the module rules): `mixed_tax_b2b`,
/// `mixed_tax_not_approved` (on `order.lines`) or `zero_tax_details_missing` (on
/// `zero_tax_reason`) when it cannot be one invoice. Assumes [`invoice_total`] passed.
pub fn tax_plan(order: &Order, settings: &TaxSettings, b2b: bool) -> Result<TaxPlan, RuleViolation> {
    let mut goods = [0u64; 3];
    let mut seen = [false; 3];
    for (i, l) in order.lines.iter().enumerate() {
        let k = line_kind(order, i, settings).index();
        seen[k] = true;
        goods[k] += u64::from(l.quantity) * u64::from(l.unit_price);
    }
    let mut weights = goods;
    if weights == [0; 3] {
        // Only free items (the total is shipping): the first kind present carries it.
        let first = seen.iter().position(|&s| s).unwrap_or(0);
        weights[first] = 1;
    }
    let present: Vec<TaxKind> = TaxKind::ALL.into_iter().filter(|k| weights[k.index()] > 0).collect();
    if present.contains(&TaxKind::ZeroRated) && settings.zero_rating.is_none() {
        return Err(RuleViolation::on_field(
            ZERO_TAX_DETAILS_MISSING,
            "zero_tax_reason",
            "the order has zero-rated lines but the invoice settings have no customs_clearance and zero_tax_reason",
        ));
    }
    let tax_type = match present[..] {
        [single] => single.tax_type(),
        _ if b2b => {
            return Err(RuleViolation::on_field(
                MIXED_TAX_B2B,
                "order.lines",
                "a B2B invoice has one tax type: lines of more than one tax_type cannot be one invoice for a buyer with a UBN (TaxType 9 is B2C only)",
            ));
        }
        _ if !settings.mixed_tax_approved => {
            return Err(RuleViolation::on_field(
                MIXED_TAX_NOT_APPROVED,
                "order.lines",
                "lines of more than one tax_type need TaxType 9 (混合), which needs the tax office's approval: set mixed_tax_approved once approved",
            ));
        }
        _ => TaxType::Mixed,
    };
    Ok(TaxPlan { tax_type, goods, weights })
}

/// An order's invoice content under its tax types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxedSale {
    pub tax_type: TaxType,
    /// The invoice lines, each with its kind; a mixed invoice has one 運費 and one 折扣 line
    /// per kind that has a share of them.
    pub lines: Vec<InvoiceLine>,
    /// Tax-inclusive amount of each kind; adds up to the total.
    pub parts: KindAmounts,
    /// Present when any part is zero-rated.
    pub zero_rating: Option<ZeroRating>,
}

/// Builds the invoice content: lines, the total split by kind, the TaxType. Violations: those
/// of [`invoice_total`] and [`tax_plan`].
pub fn taxed_sale(order: &Order, settings: &TaxSettings, b2b: bool) -> Result<TaxedSale, RuleViolation> {
    invoice_total(order)?;
    let plan = tax_plan(order, settings, b2b)?;
    let single = TaxKind::of_tax_type(plan.tax_type);
    let goods = plan.goods;
    let shipping = apportion(order.shipping_fee, plan.weights);
    // Goods + shipping of each kind fit in u64 and their sum is ≥ the discount.
    let before_discount = [0, 1, 2].map(|i| goods[i] + u64::from(shipping[i]));
    let discount = apportion(order.discount, before_discount);
    // ≥ 0: the discount share of a kind never exceeds its goods + shipping; ≤ total.
    let parts = KindAmounts::from_array([0, 1, 2].map(|i| (before_discount[i] - u64::from(discount[i])) as u32));

    let mut lines = Vec::with_capacity(order.lines.len() + 2);
    for (i, l) in order.lines.iter().enumerate() {
        let unit_price = i64::from(l.unit_price);
        lines.push(InvoiceLine {
            description: l.name.chars().take(DESCRIPTION_MAX).collect(),
            quantity: l.quantity,
            unit_price,
            amount: i64::from(l.quantity) * unit_price,
            tax_type: single.unwrap_or_else(|| line_kind(order, i, settings)),
        });
    }
    for (base, shares, sign) in [(SHIPPING_DESCRIPTION, shipping, 1), (DISCOUNT_DESCRIPTION, discount, -1)] {
        for kind in TaxKind::ALL {
            let amount = sign * i64::from(shares[kind.index()]);
            if amount == 0 {
                continue;
            }
            let description = if single.is_some() { base.to_owned() } else { format!("{base}({})", kind.label()) };
            lines.push(InvoiceLine { description, quantity: 1, unit_price: amount, amount, tax_type: kind });
        }
    }
    let zero_rating = if plan.weights[TaxKind::ZeroRated.index()] > 0 { settings.zero_rating } else { None };
    Ok(TaxedSale { tax_type: plan.tax_type, lines, parts, zero_rating })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The order's total is what its lines, shipping and discount make.
    fn order(lines: &[(u32, u32, Option<TaxKind>)], shipping_fee: u32, discount: u32) -> Order {
        let goods: i64 = lines.iter().map(|&(q, p, _)| i64::from(q) * i64::from(p)).sum();
        let total = u32::try_from(goods + i64::from(shipping_fee) - i64::from(discount)).unwrap();
        crate::sale::test_order(lines, shipping_fee, discount, total)
    }

    fn zero_rating() -> ZeroRating {
        ZeroRating { customs_clearance: CustomsClearance::Customs, reason: ZeroTaxReason::parse("71").unwrap() }
    }

    fn approved() -> TaxSettings {
        TaxSettings { default_tax_type: TaxKind::Taxable, zero_rating: Some(zero_rating()), mixed_tax_approved: true }
    }

    const T: Option<TaxKind> = Some(TaxKind::Taxable);
    const Z: Option<TaxKind> = Some(TaxKind::ZeroRated);
    const F: Option<TaxKind> = Some(TaxKind::TaxFree);

    #[test]
    fn one_kind_gives_its_tax_type_and_the_default_fills_unmarked_lines() {
        let free = TaxSettings { default_tax_type: TaxKind::TaxFree, ..TaxSettings::default() };
        let sale = taxed_sale(&order(&[(2, 100, None), (1, 50, F)], 60, 10), &free, false).unwrap();
        assert_eq!(sale.tax_type, TaxType::Exempt);
        assert_eq!(sale.parts, KindAmounts::only(TaxKind::TaxFree, 300));
        let shown: Vec<_> = sale.lines.iter().map(|l| (l.description.as_str(), l.amount, l.tax_type)).collect();
        assert_eq!(shown, [("品項0", 200, TaxKind::TaxFree), ("品項1", 50, TaxKind::TaxFree), ("運費", 60, TaxKind::TaxFree), ("折扣", -10, TaxKind::TaxFree)]);
        assert_eq!(sale.zero_rating, None);
        let sale = taxed_sale(&order(&[(1, 1050, None)], 0, 0), &TaxSettings::default(), false).unwrap();
        assert_eq!((sale.tax_type, sale.parts), (TaxType::Taxable, KindAmounts::only(TaxKind::Taxable, 1050)));
    }

    #[test]
    fn zero_rated_b2b_invoice_carries_its_reason_and_no_tax() {
        let settings = TaxSettings { default_tax_type: TaxKind::ZeroRated, zero_rating: Some(zero_rating()), mixed_tax_approved: false };
        let sale = taxed_sale(&order(&[(3, 350, None)], 0, 0), &settings, true).unwrap();
        assert_eq!(sale.tax_type, TaxType::ZeroRated);
        assert_eq!(sale.zero_rating, Some(zero_rating()));
        let a = crate::sale::Amounts::new(sale.parts, true, sale.tax_type);
        assert_eq!((a.sales_amount, a.zero_tax_sales_amount, a.tax_amount, a.total, a.untaxed_total()), (0, 1050, 0, 1050, 1050));
        // Zero-rated lines without the details in the settings: not issuable.
        let e = taxed_sale(&order(&[(1, 10, Z)], 0, 0), &TaxSettings::default(), true).unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), (ZERO_TAX_DETAILS_MISSING, Some("zero_tax_reason")));
    }

    #[test]
    fn mixed_needs_b2c_and_approval() {
        let o = order(&[(1, 100, T), (1, 200, F)], 0, 0);
        assert_eq!(taxed_sale(&o, &approved(), true).unwrap_err().code, MIXED_TAX_B2B);
        let unapproved = TaxSettings { mixed_tax_approved: false, ..approved() };
        assert_eq!(taxed_sale(&o, &unapproved, false).unwrap_err().code, MIXED_TAX_NOT_APPROVED);
        let sale = taxed_sale(&o, &approved(), false).unwrap();
        assert_eq!((sale.tax_type, sale.parts), (TaxType::Mixed, KindAmounts { taxable: 100, zero_rated: 0, tax_free: 200 }));
        // A free gift of another kind does not make an invoice mixed.
        let gift = order(&[(1, 100, T), (1, 0, F)], 0, 0);
        let sale = taxed_sale(&gift, &unapproved, true).unwrap();
        assert_eq!(sale.tax_type, TaxType::Taxable);
        assert!(sale.lines.iter().all(|l| l.tax_type == TaxKind::Taxable));
    }

    #[test]
    fn shipping_and_discount_are_apportioned_and_split_into_lines_per_kind() {
        // Goods 300 taxable, 100 zero-rated, 600 tax-free; shipping 100 → 30/10/60;
        // discount 55 over 330/110/660 → 16.5/5.5/33 → 17/5/33 (tie of .5 to taxable).
        let sale = taxed_sale(&order(&[(3, 100, T), (1, 100, Z), (2, 300, F)], 100, 55), &approved(), false).unwrap();
        assert_eq!(sale.parts, KindAmounts { taxable: 313, zero_rated: 105, tax_free: 627 });
        let shown: Vec<_> = sale.lines.iter().skip(3).map(|l| (l.description.as_str(), l.amount, l.tax_type)).collect();
        assert_eq!(
            shown,
            [
                ("運費(應稅)", 30, TaxKind::Taxable),
                ("運費(零稅率)", 10, TaxKind::ZeroRated),
                ("運費(免稅)", 60, TaxKind::TaxFree),
                ("折扣(應稅)", -17, TaxKind::Taxable),
                ("折扣(零稅率)", -5, TaxKind::ZeroRated),
                ("折扣(免稅)", -33, TaxKind::TaxFree),
            ]
        );
        assert_eq!(sale.zero_rating, Some(zero_rating()));
    }

    #[test]
    fn a_discount_larger_than_the_taxable_lines_never_makes_a_part_negative() {
        // Taxable 100, tax-free 1000, discount 500 (five times the taxable lines).
        let sale = taxed_sale(&order(&[(1, 100, T), (1, 1000, F)], 0, 500), &approved(), false).unwrap();
        assert_eq!(sale.parts, KindAmounts { taxable: 55, zero_rated: 0, tax_free: 545 });
        // Taxable 1, tax-free 1000, discount 1000: the taxable part may reach 0, never below.
        let sale = taxed_sale(&order(&[(1, 1, T), (1, 1000, F)], 0, 1000), &approved(), false).unwrap();
        assert_eq!(sale.parts.sum(), 1);
        assert_eq!(sale.tax_type, TaxType::Mixed);
    }

    #[test]
    fn only_free_items_put_the_shipping_on_the_first_kind_present() {
        let sale = taxed_sale(&order(&[(1, 0, F), (1, 0, Z)], 80, 0), &approved(), false).unwrap();
        assert_eq!((sale.tax_type, sale.parts), (TaxType::ZeroRated, KindAmounts::only(TaxKind::ZeroRated, 80)));
    }

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

    fn kind() -> impl Strategy<Value = Option<TaxKind>> {
        prop_oneof![Just(None), Just(T), Just(Z), Just(F)]
    }

    proptest! {
        #[test]
        fn parts_and_lines_always_add_up_to_the_total(
            lines in proptest::collection::vec((1u32..20, 0u32..5_000, kind()), 1..6),
            shipping_fee in 0u32..1_000,
            discount in 0u32..20_000,
        ) {
            let goods: i64 = lines.iter().map(|&(q, p, _)| i64::from(q) * i64::from(p)).sum();
            prop_assume!(goods + i64::from(shipping_fee) - i64::from(discount) > 0);
            let o = order(&lines, shipping_fee, discount);
            let sale = taxed_sale(&o, &approved(), false).unwrap();
            prop_assert_eq!(sale.parts.sum(), u64::from(o.total));
            prop_assert_eq!(sale.lines.iter().map(|l| l.amount).sum::<i64>(), i64::from(o.total));
            for k in TaxKind::ALL {
                // Each kind's lines add up to its part, which is never negative.
                let of_kind: i64 = sale.lines.iter().filter(|l| l.tax_type == k).map(|l| l.amount).sum();
                prop_assert_eq!(of_kind, i64::from(sale.parts.get(k)));
            }
            let kinds = sale.lines.iter().filter(|l| l.amount > 0).map(|l| l.tax_type).collect::<std::collections::BTreeSet<_>>();
            prop_assert_eq!(sale.tax_type == TaxType::Mixed, kinds.len() > 1);
            for b2b in [false, true] {
                let a = crate::sale::Amounts::new(sale.parts, b2b, sale.tax_type);
                prop_assert_eq!(a.sales_amount + a.tax_amount + a.zero_tax_sales_amount + a.free_tax_sales_amount, o.total);
            }
        }
    }
}
