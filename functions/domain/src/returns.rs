//! 退貨 / 退款 of an invoiced order: 作廢 (void) while the invoice's period is still open, 折讓
//! (allowance) after it, or for a partial refund. Pure: the caller passes what the invoice
//! already carries and the time.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::invoice::InvoicePeriod;
use crate::sale::untaxed_amount;
use crate::tax::KindAmounts;

/// An allowance (折讓單) already made against an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowanceRecord {
    /// `{invoice number}-{n}` (n from 1): the provider's idempotency key.
    pub number: String,
    /// Tax-inclusive amount returned.
    pub amount: u32,
    /// `amount` by tax kind.
    pub parts: KindAmounts,
    /// The allowance was voided (作廢折讓), so it no longer counts.
    pub voided: bool,
}

/// What the invoice side knows when a return arrives.
#[derive(Debug, Clone, Copy)]
pub struct InvoiceFacts<'a> {
    pub period: InvoicePeriod,
    pub total: u32,
    /// The invoice's tax-inclusive amount of each kind (adds up to `total`).
    pub parts: KindAmounts,
    pub voided: bool,
    pub allowances: &'a [AllowanceRecord],
}

impl InvoiceFacts<'_> {
    /// What the active allowances returned so far.
    pub fn allowed(&self) -> u32 {
        self.allowances.iter().filter(|a| !a.voided).map(|a| a.amount).sum()
    }

    /// What each kind has left after the active allowances.
    pub fn left(&self) -> KindAmounts {
        let allowed = self.allowances.iter().filter(|a| !a.voided).fold(KindAmounts::default(), |sum, a| sum.saturating_add(&a.parts));
        self.parts.saturating_sub(&allowed)
    }
}

/// What the order says was returned: everything (cancelled, refunded, returned) or an amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refund {
    Full,
    Partial(u32),
}

/// The next step to bring the invoice in line with the order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnStep {
    /// Nothing (more) to do.
    Nothing,
    /// 作廢折讓: an active allowance must be voided before the invoice can be (one per step).
    VoidAllowance { number: String },
    /// 作廢發票: the whole invoice, its period still open.
    VoidInvoice,
    /// 開立折讓: `amount` more, as allowance number `number`, split by kind as `parts`.
    Allowance { number: String, amount: u32, parts: KindAmounts },
}

/// Decides the next step. A full return while the period is open for void (until 23:59:59 on
/// the 13th of the odd month after it) voids the invoice — after voiding its allowances, one
/// at a time; after that, or for a partial refund, the part not yet returned becomes an
/// allowance, never more than what is left on the invoice. Repeats decide `Nothing`.
///
/// The allowance's tax follows the lines it returns. A return names an amount, not lines, so
/// the amount is split over the kinds in proportion to what each has left (largest remainder,
/// [`KindAmounts::apportion`]): a full return takes exactly what is left of each kind; a
/// partial one of a single-kind invoice is all of that kind.
pub fn next_return_step(invoice: InvoiceFacts<'_>, refund: Refund, invoice_number: &str, now: DateTime<Utc>) -> ReturnStep {
    if invoice.voided {
        return ReturnStep::Nothing;
    }
    if refund == Refund::Full && invoice.period.is_open_for_void(now) {
        return match invoice.allowances.iter().find(|a| !a.voided) {
            Some(active) => ReturnStep::VoidAllowance { number: active.number.clone() },
            None => ReturnStep::VoidInvoice,
        };
    }
    let target = match refund {
        Refund::Full => invoice.total,
        Refund::Partial(amount) => amount.min(invoice.total),
    };
    let allowed = invoice.allowed();
    if target <= allowed {
        return ReturnStep::Nothing;
    }
    let amount = target - allowed;
    ReturnStep::Allowance { number: format!("{invoice_number}-{}", invoice.allowances.len() + 1), amount, parts: invoice.left().apportion(amount) }
}

/// Sales and tax of an allowance, split like the invoice's totals: B2B, the taxable part into
/// its untaxed part and 5% tax; B2C, tax 0; zero-rated and tax-free parts never carry tax.
pub fn allowance_amounts(parts: KindAmounts, b2b: bool) -> (u32, u32) {
    let tax = if b2b { parts.taxable - untaxed_amount(parts.taxable) } else { 0 };
    let total = u32::try_from(parts.sum()).unwrap_or(u32::MAX);
    (total - tax, tax)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tax::TaxKind;
    use proptest::prelude::*;

    fn taxable(amount: u32) -> KindAmounts {
        KindAmounts::only(TaxKind::Taxable, amount)
    }

    fn record(number: &str, parts: KindAmounts, voided: bool) -> AllowanceRecord {
        AllowanceRecord { number: number.into(), amount: parts.sum() as u32, parts, voided }
    }

    fn period() -> InvoicePeriod {
        "11512".parse().unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn facts(allowances: &[AllowanceRecord]) -> InvoiceFacts<'_> {
        InvoiceFacts { period: period(), total: 1050, parts: KindAmounts::only(TaxKind::Taxable, 1050), voided: false, allowances }
    }

    #[test]
    fn full_return_voids_until_the_13th_then_allows() {
        let open = at("2027-01-13T23:59:59+08:00");
        let closed = at("2027-01-14T00:00:00+08:00");
        assert_eq!(next_return_step(facts(&[]), Refund::Full, "UA00000001", open), ReturnStep::VoidInvoice);
        assert_eq!(
            next_return_step(facts(&[]), Refund::Full, "UA00000001", closed),
            ReturnStep::Allowance { number: "UA00000001-1".into(), amount: 1050, parts: taxable(1050) }
        );
    }

    #[test]
    fn partial_refunds_add_up_and_never_exceed_the_total() {
        let now = at("2026-12-01T10:00:00+08:00");
        let first = next_return_step(facts(&[]), Refund::Partial(300), "UA1", now);
        assert_eq!(first, ReturnStep::Allowance { number: "UA1-1".into(), amount: 300, parts: taxable(300) });
        let done = [record("UA1-1", taxable(300), false)];
        assert_eq!(next_return_step(facts(&done), Refund::Partial(300), "UA1", now), ReturnStep::Nothing, "a repeat");
        assert_eq!(
            next_return_step(facts(&done), Refund::Partial(9999), "UA1", now),
            ReturnStep::Allowance { number: "UA1-2".into(), amount: 750, parts: taxable(750) }
        );
    }

    #[test]
    fn allowances_are_voided_before_the_invoice() {
        let now = at("2026-12-01T10:00:00+08:00");
        let mut allowances = vec![record("UA1-1", taxable(300), false)];
        assert_eq!(next_return_step(facts(&allowances), Refund::Full, "UA1", now), ReturnStep::VoidAllowance { number: "UA1-1".into() });
        allowances[0].voided = true;
        assert_eq!(next_return_step(facts(&allowances), Refund::Full, "UA1", now), ReturnStep::VoidInvoice);
        let voided = InvoiceFacts { voided: true, ..facts(&allowances) };
        assert_eq!(next_return_step(voided, Refund::Full, "UA1", now), ReturnStep::Nothing, "a second void is harmless");
    }

    #[test]
    fn b2b_allowances_split_the_tax() {
        assert_eq!(allowance_amounts(taxable(1050), true), (1000, 50));
        assert_eq!(allowance_amounts(taxable(300), true), (286, 14));
        assert_eq!(allowance_amounts(taxable(300), false), (300, 0));
        // Zero-rated and tax-free parts carry no tax, B2B too (a zero-rated B2B invoice).
        assert_eq!(allowance_amounts(KindAmounts::only(TaxKind::ZeroRated, 1050), true), (1050, 0));
        assert_eq!(allowance_amounts(KindAmounts { taxable: 105, zero_rated: 0, tax_free: 50 }, true), (150, 5));
    }

    #[test]
    fn allowances_of_a_mixed_invoice_follow_what_each_kind_has_left() {
        let now = at("2027-02-01T10:00:00+08:00");
        let parts = KindAmounts { taxable: 600, zero_rated: 0, tax_free: 400 };
        let facts = |allowances| InvoiceFacts { period: period(), total: 1000, parts, voided: false, allowances };
        // A partial refund splits 6 : 4.
        let first = next_return_step(facts(&[]), Refund::Partial(250), "UA1", now);
        assert_eq!(first, ReturnStep::Allowance { number: "UA1-1".into(), amount: 250, parts: KindAmounts { taxable: 150, zero_rated: 0, tax_free: 100 } });
        // The rest (period closed: an allowance) takes exactly what each kind has left.
        let done = [record("UA1-1", KindAmounts { taxable: 150, zero_rated: 0, tax_free: 100 }, false)];
        let rest = next_return_step(facts(&done), Refund::Full, "UA1", now);
        assert_eq!(rest, ReturnStep::Allowance { number: "UA1-2".into(), amount: 750, parts: KindAmounts { taxable: 450, zero_rated: 0, tax_free: 300 } });
        // A voided allowance gives its parts back.
        let voided = [record("UA1-1", KindAmounts { taxable: 150, zero_rated: 0, tax_free: 100 }, true)];
        assert_eq!(facts(&voided).left(), parts);
    }

    proptest! {
        #[test]
        fn allowance_parts_add_up_and_never_exceed_what_is_left(
            taxable in 0u32..100_000, zero_rated in 0u32..100_000, tax_free in 0u32..100_000, refunds in proptest::collection::vec(1u32..50_000, 1..5),
        ) {
            let parts = KindAmounts { taxable, zero_rated, tax_free };
            let total = parts.sum() as u32;
            prop_assume!(total > 0);
            let now = at("2027-02-01T10:00:00+08:00");
            let mut allowances: Vec<AllowanceRecord> = Vec::new();
            let mut refunded = 0u32;
            for r in refunds {
                refunded = (refunded + r).min(total);
                let facts = InvoiceFacts { period: period(), total, parts, voided: false, allowances: &allowances };
                let left = facts.left();
                if let ReturnStep::Allowance { number, amount, parts: got } = next_return_step(facts, Refund::Partial(refunded), "UA1", now) {
                    prop_assert_eq!(got.sum(), u64::from(amount));
                    prop_assert!(got.taxable <= left.taxable && got.zero_rated <= left.zero_rated && got.tax_free <= left.tax_free);
                    let (sales, tax) = allowance_amounts(got, true);
                    prop_assert_eq!(sales + tax, amount);
                    allowances.push(record(&number, got, false));
                }
            }
            let facts = InvoiceFacts { period: period(), total, parts, voided: false, allowances: &allowances };
            prop_assert_eq!(facts.allowed(), refunded);
        }
    }
}
