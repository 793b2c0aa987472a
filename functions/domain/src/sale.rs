//! 發票金額與明細: an invoice's lines (商品明細) and its amounts (銷售額, 稅額, 總計), in whole
//! New Taiwan dollars. Which lines and amounts an order makes is [`crate::order::content`].

use serde::{Deserialize, Serialize};

// The invoice's 課稅別 is defined with the line's in `tax`; also reachable as `sale::TaxType`.
pub use crate::tax::TaxType;
use crate::tax::{KindAmounts, TaxKind};

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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

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
    }
}
