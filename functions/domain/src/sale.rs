//! 發票金額與明細: the invoice's lines (商品明細) and its amounts (銷售額, 稅額, 總計).
//!
//! Amounts are whole New Taiwan dollars. An order's lines, its shipping fee (運費) and its
//! discount (折扣, a negative line) must add up exactly to the order total, and the total must
//! not be 0 (an invoice of 0 cannot be issued). Arithmetic is checked: nothing wraps.

use serde::{Deserialize, Serialize};

use crate::order::Order;
use crate::rule::RuleViolation;
use crate::tax::{KindAmounts, TaxKind, TaxSettings, taxed_sale};

/// Description of the shipping-fee line.
pub const SHIPPING_DESCRIPTION: &str = "運費";
/// Description of the (negative) discount line.
pub const DISCOUNT_DESCRIPTION: &str = "折扣";
/// Longest line description an invoice carries (MIG `Description`, 256 characters); longer
/// product names are cut.
pub const DESCRIPTION_MAX: usize = 256;

/// One 商品明細 line of the invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLine {
    pub description: String,
    pub quantity: u32,
    /// 單價; negative only on the discount line.
    pub unit_price: i64,
    /// 小計 = quantity × unit_price.
    pub amount: i64,
    /// 課稅別 of the line (MIG `ProductItem/TaxType`); invoices stored before tax types are taxable.
    #[serde(default)]
    pub tax_type: TaxKind,
}

/// The invoice total the order's content adds up to, checked without building the lines:
/// Σ quantity × unit_price + shipping fee − discount must equal `order.total`
/// (`total_mismatch` on `order.total`), and must not be 0 (`zero_total` on `order.total`).
pub fn invoice_total(order: &Order) -> Result<u32, RuleViolation> {
    let lines = order.lines.iter().try_fold(0i64, |sum, l| {
        let amount = i64::try_from(u64::from(l.quantity) * u64::from(l.unit_price)).ok()?;
        sum.checked_add(amount)
    });
    let sum = lines.and_then(|s| s.checked_add(i64::from(order.shipping_fee))).and_then(|s| s.checked_sub(i64::from(order.discount)));
    if sum != Some(i64::from(order.total)) {
        let lines = lines.map_or_else(|| "more than the largest amount".to_owned(), |s| s.to_string());
        return Err(RuleViolation::on_field(
            "total_mismatch",
            "order.total",
            format!("order.total {} is not lines {lines} + shipping_fee {} - discount {}", order.total, order.shipping_fee, order.discount),
        ));
    }
    if order.total == 0 {
        return Err(RuleViolation::on_field("zero_total", "order.total", "order.total is 0: an invoice of 0 cannot be issued"));
    }
    Ok(order.total)
}

/// The invoice lines of an order whose lines are all taxable or say their own kind, as
/// [`taxed_sale`] builds them for a merchant with default tax settings: one per order line,
/// then `運費` for a non-zero shipping fee, then a negative `折扣` line for a non-zero discount.
/// Their amounts add up exactly to the total (see [`invoice_total`] for the violations).
pub fn invoice_lines(order: &Order) -> Result<Vec<InvoiceLine>, RuleViolation> {
    taxed_sale(order, &TaxSettings::default(), false).map(|sale| sale.lines)
}

/// 課稅別.
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

/// round(total / 1.05), half up, in integers: the untaxed sales amount (未稅銷售額) of a
/// tax-inclusive 5% total. Also what the left QR code carries for B2C invoices.
/// (An exact half never occurs: 200 × total is never an odd multiple of 105.)
pub fn untaxed_amount(total: u32) -> u32 {
    let rounded = crate::proof::untaxed_from_total(u64::from(total));
    // rounded ≤ total, so it fits.
    u32::try_from(rounded).unwrap_or(total)
}

/// 金額: what the invoice's totals carry (MIG 4.0 `Amount`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amounts {
    /// 應稅銷售額 (`SalesAmount`): the taxable part, tax-inclusive for B2C, untaxed for B2B.
    pub sales_amount: u32,
    /// 零稅率銷售額 (`ZeroTaxSalesAmount`).
    pub zero_tax_sales_amount: u32,
    /// 免稅銷售額 (`FreeTaxSalesAmount`).
    pub free_tax_sales_amount: u32,
    /// 稅額 (`TaxAmount`): 5% of the taxable part for B2B, 0 for B2C.
    pub tax_amount: u32,
    /// 總計 = the four above.
    pub total: u32,
    pub tax_type: TaxType,
}

impl Amounts {
    /// From the tax-inclusive amount of each kind. B2C: the taxable part as it is, tax 0. B2B:
    /// the taxable part split into [`untaxed_amount`] and 5% tax. Zero-rated and tax-free
    /// parts carry no tax either way.
    pub fn new(parts: KindAmounts, b2b: bool, tax_type: TaxType) -> Self {
        let sales_amount = if b2b { untaxed_amount(parts.taxable) } else { parts.taxable };
        // The parts of one invoice add up to its u32 total.
        let total = u32::try_from(parts.sum()).unwrap_or(u32::MAX);
        Self {
            sales_amount,
            zero_tax_sales_amount: parts.zero_rated,
            free_tax_sales_amount: parts.tax_free,
            tax_amount: parts.taxable - sales_amount,
            total,
            tax_type,
        }
    }

    /// 未稅銷售額 of the left QR code: total minus the 5% tax in the taxable part, B2C too
    /// (round(taxable / 1.05) + zero-rated + tax-free).
    pub fn untaxed_total(&self) -> u32 {
        let taxable = self.sales_amount + self.tax_amount;
        self.total - (taxable - untaxed_amount(taxable))
    }
}

/// An order with these lines `(quantity, unit_price, tax_type)` and amounts, for the unit tests
/// of this crate.
#[cfg(test)]
pub(crate) fn test_order(lines: &[(u32, u32, Option<TaxKind>)], shipping_fee: u32, discount: u32, total: u32) -> Order {
    use crate::order::{OrderLine, OrderWire};
    let mut o: Order = serde_json::from_value::<OrderWire>(serde_json::json!({
        "id": "A1", "currency": "TWD", "payment_status": "paid", "delivery_status": "pending",
        "cancelled": false, "logistics": "tcat",
        "lines": [{"sku": "S", "name": "n", "quantity": 1, "unit_price": 1}],
        "shipping_fee": 0, "discount": 0, "total": 1, "buyer": {}
    }))
    .expect("a valid order")
    .parse()
    .expect("a valid order");
    o.lines = lines
        .iter()
        .enumerate()
        .map(|(i, &(quantity, unit_price, tax_type))| OrderLine { sku: None, name: format!("品項{i}"), quantity, unit_price, tax_type })
        .collect();
    (o.shipping_fee, o.discount, o.total) = (shipping_fee, discount, total);
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn order(lines: &[(u32, u32)], shipping_fee: u32, discount: u32, total: u32) -> Order {
        let lines: Vec<(u32, u32, Option<TaxKind>)> = lines.iter().map(|&(q, p)| (q, p, None)).collect();
        test_order(&lines, shipping_fee, discount, total)
    }

    #[test]
    fn lines_shipping_and_discount_add_up() {
        let o = order(&[(2, 150), (1, 99)], 60, 50, 409);
        let lines = invoice_lines(&o).unwrap();
        let shown: Vec<_> = lines.iter().map(|l| (l.description.as_str(), l.quantity, l.unit_price, l.amount)).collect();
        assert_eq!(shown, [("品項0", 2, 150, 300), ("品項1", 1, 99, 99), ("運費", 1, 60, 60), ("折扣", 1, -50, -50)]);
        assert_eq!(lines.iter().map(|l| l.amount).sum::<i64>(), 409);
        assert_eq!(invoice_total(&o), Ok(409));
        // No zero lines for shipping or discount.
        assert_eq!(invoice_lines(&order(&[(3, 10)], 0, 0, 30)).unwrap().len(), 1);
    }

    #[test]
    fn mismatch_and_zero_total_are_refused() {
        for o in [order(&[(2, 150)], 0, 0, 299), order(&[(1, 10)], 0, 20, 0), order(&[(1, 10)], 5, 0, 10)] {
            let e = invoice_lines(&o).unwrap_err();
            assert_eq!((e.code, e.field.as_deref()), ("total_mismatch", Some("order.total")), "{}", e.message);
        }
        for o in [order(&[(1, 0)], 0, 0, 0), order(&[(1, 100)], 0, 100, 0)] {
            let e = invoice_lines(&o).unwrap_err();
            assert_eq!((e.code, e.field.as_deref()), ("zero_total", Some("order.total")));
        }
        // Free items are fine next to paid ones.
        assert!(invoice_lines(&order(&[(1, 0), (1, 5)], 0, 0, 5)).is_ok());
    }

    #[test]
    fn huge_amounts_do_not_wrap() {
        let o = order(&[(u32::MAX, u32::MAX); 3], u32::MAX, 0, u32::MAX);
        assert_eq!(invoice_total(&o).unwrap_err().code, "total_mismatch");
        let o = order(&[(u32::MAX, 1)], 0, 0, u32::MAX);
        assert_eq!(invoice_total(&o), Ok(u32::MAX));
    }

    #[test]
    fn long_descriptions_are_cut() {
        let mut o = order(&[(1, 10)], 0, 0, 10);
        o.lines[0].name = "品".repeat(300);
        assert_eq!(invoice_lines(&o).unwrap()[0].description.chars().count(), DESCRIPTION_MAX);
    }

    #[test]
    fn b2c_and_b2b_amounts() {
        let taxable = KindAmounts::only(TaxKind::Taxable, 1050);
        let a = Amounts::new(taxable, false, TaxType::Taxable);
        assert_eq!((a.sales_amount, a.tax_amount, a.total, a.untaxed_total()), (1050, 0, 1050, 1000));
        let a = Amounts::new(taxable, true, TaxType::Taxable);
        assert_eq!((a.sales_amount, a.tax_amount, a.total, a.untaxed_total()), (1000, 50, 1050, 1000));
        for (kind, t) in [(TaxKind::ZeroRated, TaxType::ZeroRated), (TaxKind::TaxFree, TaxType::Exempt)] {
            for b2b in [false, true] {
                let a = Amounts::new(KindAmounts::only(kind, 1050), b2b, t);
                assert_eq!((a.sales_amount, a.tax_amount, a.total, a.untaxed_total()), (0, 0, 1050, 1050));
                assert_eq!(a.zero_tax_sales_amount + a.free_tax_sales_amount, 1050);
            }
        }
    }

    #[test]
    fn mixed_b2c_rounds_only_the_taxable_part_for_the_qr_code() {
        // Taxable 21 → round(21 / 1.05) = 20; 31 → 29.52… → 30; 32 → 30.47… → 30; 33 → 31.43… → 31.
        for (taxable, untaxed_taxable) in [(21, 20), (31, 30), (32, 30), (33, 31), (0, 0), (1, 1)] {
            let parts = KindAmounts { taxable, zero_rated: 7, tax_free: 100 };
            let a = Amounts::new(parts, false, TaxType::Mixed);
            assert_eq!((a.sales_amount, a.tax_amount, a.total), (taxable, 0, taxable + 107));
            assert_eq!(a.untaxed_total(), untaxed_taxable + 107, "{taxable}");
        }
    }

    #[test]
    fn rounding_boundaries() {
        // total / 1.05 just below and just above .5.
        for (total, sales) in [
            (0, 0),
            (1, 1),
            (2, 2),
            (10, 10),
            (11, 10),
            (21, 20),
            (31, 30),
            (32, 30),
            (33, 31),
            (52, 50),
            (53, 50),
            (54, 51),
            (105, 100),
            (1000, 952),
            (4_294_967_295, 4_090_445_043),
        ] {
            assert_eq!(untaxed_amount(total), sales, "{total}");
        }
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

    proptest! {
        #[test]
        fn amounts_add_up_to_the_total(taxable in 0u32..1 << 30, zero_rated in 0u32..1 << 30, tax_free in 0u32..1 << 30, b2b: bool) {
            let a = Amounts::new(KindAmounts { taxable, zero_rated, tax_free }, b2b, TaxType::Mixed);
            let sum = [a.sales_amount, a.tax_amount, a.zero_tax_sales_amount, a.free_tax_sales_amount].map(u64::from).iter().sum::<u64>();
            prop_assert_eq!(sum, u64::from(taxable) + u64::from(zero_rated) + u64::from(tax_free));
            prop_assert_eq!(u64::from(a.total), sum);
            prop_assert!(a.untaxed_total() <= a.total);
            prop_assert_eq!(a.total - a.untaxed_total(), taxable - untaxed_amount(taxable));
        }

        #[test]
        fn untaxed_agrees_with_float_rounding(total: u32) {
            // Never within 1/210 of a half, so f64 rounding is exact enough here.
            prop_assert_eq!(u64::from(untaxed_amount(total)), (f64::from(total) / 1.05).round() as u64);
        }

        #[test]
        fn lines_always_sum_to_the_accepted_total(
            lines in proptest::collection::vec((1u32..100, 0u32..10_000), 1..6),
            shipping_fee in 0u32..500,
            discount in 0u32..500,
        ) {
            let sum: i64 = lines.iter().map(|&(q, p)| i64::from(q) * i64::from(p)).sum::<i64>() + i64::from(shipping_fee) - i64::from(discount);
            prop_assume!(sum > 0);
            let o = order(&lines, shipping_fee, discount, u32::try_from(sum).unwrap());
            let got = invoice_lines(&o).unwrap();
            prop_assert_eq!(got.iter().map(|l| l.amount).sum::<i64>(), sum);
            prop_assert!(got.iter().all(|l| l.amount == i64::from(l.quantity) * l.unit_price));
        }
    }
}
