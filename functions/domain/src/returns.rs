//! 退貨 / 退款 of an invoiced order: 作廢 (void) while the invoice's period is still open, 折讓
//! (allowance) after it, or for a partial refund. Pure: the caller passes what the invoice
//! already carries and the time.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::invoice::InvoicePeriod;
use crate::sale::untaxed_amount;

/// An allowance (折讓單) already made against an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowanceRecord {
    /// `{invoice number}-{n}` (n from 1): the provider's idempotency key.
    pub number: String,
    /// Tax-inclusive amount returned.
    pub amount: u32,
    /// The allowance was voided (作廢折讓), so it no longer counts.
    pub voided: bool,
}

/// What the invoice side knows when a return arrives.
#[derive(Debug, Clone, Copy)]
pub struct InvoiceFacts<'a> {
    pub period: InvoicePeriod,
    pub total: u32,
    pub voided: bool,
    pub allowances: &'a [AllowanceRecord],
}

impl InvoiceFacts<'_> {
    /// What the active allowances returned so far.
    pub fn allowed(&self) -> u32 {
        self.allowances.iter().filter(|a| !a.voided).map(|a| a.amount).sum()
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
    /// 開立折讓: `amount` more, as allowance number `number`.
    Allowance { number: String, amount: u32 },
}

/// Decides the next step. A full return while the period is open for void (until 23:59:59 on
/// the 13th of the odd month after it) voids the invoice — after voiding its allowances, one
/// at a time; after that, or for a partial refund, the part not yet returned becomes an
/// allowance, never more than what is left on the invoice. Repeats decide `Nothing`.
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
    ReturnStep::Allowance { number: format!("{invoice_number}-{}", invoice.allowances.len() + 1), amount: target - allowed }
}

/// Sales and tax of an allowance: split like the invoice's totals (B2B taxable: untaxed part
/// and 5% tax; B2C: tax-inclusive, tax 0).
pub fn allowance_amounts(amount: u32, b2b: bool) -> (u32, u32) {
    if b2b {
        let sales = untaxed_amount(amount);
        (sales, amount - sales)
    } else {
        (amount, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn period() -> InvoicePeriod {
        "11512".parse().unwrap()
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn facts(allowances: &[AllowanceRecord]) -> InvoiceFacts<'_> {
        InvoiceFacts { period: period(), total: 1050, voided: false, allowances }
    }

    #[test]
    fn full_return_voids_until_the_13th_then_allows() {
        let open = at("2027-01-13T23:59:59+08:00");
        let closed = at("2027-01-14T00:00:00+08:00");
        assert_eq!(next_return_step(facts(&[]), Refund::Full, "UA00000001", open), ReturnStep::VoidInvoice);
        assert_eq!(next_return_step(facts(&[]), Refund::Full, "UA00000001", closed), ReturnStep::Allowance { number: "UA00000001-1".into(), amount: 1050 });
    }

    #[test]
    fn partial_refunds_add_up_and_never_exceed_the_total() {
        let now = at("2026-12-01T10:00:00+08:00");
        let first = next_return_step(facts(&[]), Refund::Partial(300), "UA1", now);
        assert_eq!(first, ReturnStep::Allowance { number: "UA1-1".into(), amount: 300 });
        let done = [AllowanceRecord { number: "UA1-1".into(), amount: 300, voided: false }];
        assert_eq!(next_return_step(facts(&done), Refund::Partial(300), "UA1", now), ReturnStep::Nothing, "a repeat");
        assert_eq!(next_return_step(facts(&done), Refund::Partial(9999), "UA1", now), ReturnStep::Allowance { number: "UA1-2".into(), amount: 750 });
    }

    #[test]
    fn allowances_are_voided_before_the_invoice() {
        let now = at("2026-12-01T10:00:00+08:00");
        let mut allowances = vec![AllowanceRecord { number: "UA1-1".into(), amount: 300, voided: false }];
        assert_eq!(next_return_step(facts(&allowances), Refund::Full, "UA1", now), ReturnStep::VoidAllowance { number: "UA1-1".into() });
        allowances[0].voided = true;
        assert_eq!(next_return_step(facts(&allowances), Refund::Full, "UA1", now), ReturnStep::VoidInvoice);
        let voided = InvoiceFacts { voided: true, ..facts(&allowances) };
        assert_eq!(next_return_step(voided, Refund::Full, "UA1", now), ReturnStep::Nothing, "a second void is harmless");
    }

    #[test]
    fn b2b_allowances_split_the_tax() {
        assert_eq!(allowance_amounts(1050, true), (1000, 50));
        assert_eq!(allowance_amounts(300, true), (286, 14));
        assert_eq!(allowance_amounts(300, false), (300, 0));
    }
}
