//! 發票內容: the invoice an order's content makes: its total (總計), its lines (商品明細) and its
//! 銷售額 split by 課稅別 into `SalesAmount` / `ZeroTaxSalesAmount` / `FreeTaxSalesAmount`.
//!
//! The lines, the shipping fee (運費) and the discount (折扣, a negative line) must add up
//! exactly to the order total, and the total must not be 0 (an invoice of 0 cannot be issued).
//! Arithmetic is checked: nothing wraps.
//!
//! 課稅別 rules applied (sources in docs/invoices.md, "Tax types"):
//! - one kind of line → TaxType 1, 2 or 3; more than one → TaxType 9 (混合), B2C only and only
//!   for a merchant approved for it (`mixed_tax_approved`); B2B mixed orders are refused
//!   (`mixed_tax_b2b`), unapproved B2C mixed orders too (`mixed_tax_not_approved`);
//! - a line's kind is its own `tax_type`, else the merchant's `default_tax_type`;
//! - kinds are weighed by their lines' subtotals; shipping (運費) is apportioned by those
//!   weights, then the discount (折扣) by each kind's goods + shipping, both by largest
//!   remainder (ties to taxable, then zero-rated, then tax-free), so every part is ≥ 0 and the
//!   parts add up exactly to the total.

use super::model::Order;
use crate::rule::RuleViolation;
use crate::sale::{DESCRIPTION_MAX, DISCOUNT_DESCRIPTION, InvoiceLine, SHIPPING_DESCRIPTION};
use crate::tax::{KindAmounts, TaxKind, TaxSettings, TaxType, ZeroRating, apportion};

/// `NotIssuable` reason: a B2B order with lines of more than one tax kind (TaxType 9 is for
/// B2C invoices only).
pub const MIXED_TAX_B2B: &str = "mixed_tax_b2b";
/// `NotIssuable` reason: a B2C order with more than one tax kind from a merchant not approved
/// for TaxType 9 (混合稅率需經核可).
pub const MIXED_TAX_NOT_APPROVED: &str = "mixed_tax_not_approved";
/// `NotIssuable` reason: zero-rated lines, but the merchant's settings lack the customs
/// clearance mark and the zero-tax-rate reason.
pub const ZERO_TAX_DETAILS_MISSING: &str = "zero_tax_details_missing";

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

impl Order {
    /// Whether an invoice could be built from this content: a valid buyer (carrier, love code,
    /// UBN, company name), lines that add up to a non-zero total, and tax types that make one
    /// invoice ([`tax_plan`]). Allocates nothing when valid.
    pub fn check_invoice_content(&self, tax: &TaxSettings) -> Result<(), RuleViolation> {
        let b2b = self.buyer.check_is_b2b()?;
        invoice_total(self)?;
        tax_plan(self, tax, b2b)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::order::model::OrderLine;
    use crate::order::tests::{parse, valid};
    use crate::sale::Amounts;
    use crate::tax::{CustomsClearance, ZeroTaxReason};

    /// An order with these lines `(quantity, unit_price, tax_type)` and amounts.
    fn test_order(lines: &[(u32, u32, Option<TaxKind>)], shipping_fee: u32, discount: u32, total: u32) -> Order {
        let mut o = parse(valid()).unwrap();
        o.lines = lines
            .iter()
            .enumerate()
            .map(|(i, &(quantity, unit_price, tax_type))| OrderLine { sku: None, name: format!("品項{i}"), quantity, unit_price, tax_type })
            .collect();
        (o.shipping_fee, o.discount, o.total) = (shipping_fee, discount, total);
        o
    }

    /// Lines `(quantity, unit_price)` of the default kind, and a total that need not add up.
    fn with_total(lines: &[(u32, u32)], shipping_fee: u32, discount: u32, total: u32) -> Order {
        let lines: Vec<(u32, u32, Option<TaxKind>)> = lines.iter().map(|&(q, p)| (q, p, None)).collect();
        test_order(&lines, shipping_fee, discount, total)
    }

    /// The order's total is what its lines, shipping and discount make.
    fn order(lines: &[(u32, u32, Option<TaxKind>)], shipping_fee: u32, discount: u32) -> Order {
        let goods: i64 = lines.iter().map(|&(q, p, _)| i64::from(q) * i64::from(p)).sum();
        let total = u32::try_from(goods + i64::from(shipping_fee) - i64::from(discount)).unwrap();
        test_order(lines, shipping_fee, discount, total)
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
    fn lines_shipping_and_discount_add_up() {
        let o = with_total(&[(2, 150), (1, 99)], 60, 50, 409);
        let lines = invoice_lines(&o).unwrap();
        let shown: Vec<_> = lines.iter().map(|l| (l.description.as_str(), l.quantity, l.unit_price, l.amount)).collect();
        assert_eq!(shown, [("品項0", 2, 150, 300), ("品項1", 1, 99, 99), ("運費", 1, 60, 60), ("折扣", 1, -50, -50)]);
        assert_eq!(lines.iter().map(|l| l.amount).sum::<i64>(), 409);
        assert_eq!(invoice_total(&o), Ok(409));
        // No zero lines for shipping or discount.
        assert_eq!(invoice_lines(&with_total(&[(3, 10)], 0, 0, 30)).unwrap().len(), 1);
    }

    #[test]
    fn mismatch_and_zero_total_are_refused() {
        for o in [with_total(&[(2, 150)], 0, 0, 299), with_total(&[(1, 10)], 0, 20, 0), with_total(&[(1, 10)], 5, 0, 10)] {
            let e = invoice_lines(&o).unwrap_err();
            assert_eq!((e.code, e.field.as_deref()), ("total_mismatch", Some("order.total")), "{}", e.message);
        }
        for o in [with_total(&[(1, 0)], 0, 0, 0), with_total(&[(1, 100)], 0, 100, 0)] {
            let e = invoice_lines(&o).unwrap_err();
            assert_eq!((e.code, e.field.as_deref()), ("zero_total", Some("order.total")));
        }
        // Free items are fine next to paid ones.
        assert!(invoice_lines(&with_total(&[(1, 0), (1, 5)], 0, 0, 5)).is_ok());
    }

    #[test]
    fn huge_amounts_do_not_wrap() {
        let o = with_total(&[(u32::MAX, u32::MAX); 3], u32::MAX, 0, u32::MAX);
        assert_eq!(invoice_total(&o).unwrap_err().code, "total_mismatch");
        let o = with_total(&[(u32::MAX, 1)], 0, 0, u32::MAX);
        assert_eq!(invoice_total(&o), Ok(u32::MAX));
    }

    #[test]
    fn long_descriptions_are_cut() {
        let mut o = with_total(&[(1, 10)], 0, 0, 10);
        o.lines[0].name = "品".repeat(300);
        assert_eq!(invoice_lines(&o).unwrap()[0].description.chars().count(), DESCRIPTION_MAX);
    }

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
        let a = Amounts::new(sale.parts, true, sale.tax_type);
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
                let a = Amounts::new(sale.parts, b2b, sale.tax_type);
                prop_assert_eq!(a.sales_amount + a.tax_amount + a.zero_tax_sales_amount + a.free_tax_sales_amount, o.total);
            }
        }

        #[test]
        fn lines_always_sum_to_the_accepted_total(
            lines in proptest::collection::vec((1u32..100, 0u32..10_000), 1..6),
            shipping_fee in 0u32..500,
            discount in 0u32..500,
        ) {
            let sum: i64 = lines.iter().map(|&(q, p)| i64::from(q) * i64::from(p)).sum::<i64>() + i64::from(shipping_fee) - i64::from(discount);
            prop_assume!(sum > 0);
            let o = with_total(&lines, shipping_fee, discount, u32::try_from(sum).unwrap());
            let got = invoice_lines(&o).unwrap();
            prop_assert_eq!(got.iter().map(|l| l.amount).sum::<i64>(), sum);
            prop_assert!(got.iter().all(|l| l.amount == i64::from(l.quantity) * l.unit_price));
        }
    }
}
