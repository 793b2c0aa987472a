//! What Wixtar checks beyond a request's shape, stated once: the POS identity's form, the
//! period and number formats, its books of 50, the MIG 4.0 tax rules of an upload, and what an
//! allowance or a void may do to an invoice (docs/wixtar-protocol.md §6, §8, "Allowances").
//!
//! The simulator (`infra/simulators/src/wixtar.rs`) answers with these checks and the in-memory
//! fake (`testing::FakeWixtar`) refuses with them, so the two cannot disagree on them; the
//! contract suite (`wixtar/contract.rs`) runs the same calls against both. Pure functions: the
//! callers keep their own state and pass in what a check needs.

use std::collections::BTreeMap;

use super::{AllowanceUpload, InvoiceUpload, PosIdentity, Winner, WinnersAnswer, WireRange};
use crate::upstream::UpstreamError;

/// Numbers per book (本): every allocation hands out one book.
pub const BOOK: u32 = 50;

/// The buyer identifier of a B2C invoice.
const B2C_BUYER: &str = "0000000000";

/// Books of a period there are at most: numbers are 8 digits.
const BOOKS_PER_PERIOD: u32 = 100_000_000 / BOOK;

/// A refusal: the HTTP status and the `error` Wixtar answers with (`{"error": …}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub error: &'static str,
}

impl Refusal {
    pub const fn bad_request(error: &'static str) -> Self {
        Self { status: 400, error }
    }

    pub const fn not_found() -> Self {
        Self { status: 404, error: "not_found" }
    }

    pub const fn conflict(error: &'static str) -> Self {
        Self { status: 409, error }
    }

    pub const fn unprocessable(error: &'static str) -> Self {
        Self { status: 422, error }
    }

    /// The answer's body, `{"error":"…"}`.
    pub fn body(&self) -> String {
        #[derive(serde::Serialize)]
        struct Body<'a> {
            error: &'a str,
        }
        serde_json::to_string(&Body { error: self.error }).expect("a string serializes")
    }
}

/// What the HTTP client makes of the refusal (docs/wixtar-protocol.md §4).
impl From<Refusal> for UpstreamError {
    fn from(r: Refusal) -> Self {
        UpstreamError::Rejected { status: r.status, message: r.body() }
    }
}

/// The refusal of a `pos` that lacks a field (or has an empty one).
pub const POS_INCOMPLETE: Refusal = Refusal::bad_request("pos needs ubn, store_code, pos_code, pid, rid, pname");
/// The refusal of a POS identity Wixtar does not know (never echoes it).
pub const INVALID_CREDENTIALS: Refusal = Refusal { status: 401, error: "invalid_credentials" };
/// The refusals of requests that lack a field.
pub const HAND_OFF_INCOMPLETE: Refusal = Refusal::bad_request("request_id, ubn and contact are required");
pub const REQUEST_ID_REQUIRED: Refusal = Refusal::bad_request("request_id is required");
pub const NUMBER_REQUIRED: Refusal = Refusal::bad_request("number is required");
pub const UNUSED_REPORT_MALFORMED: Refusal = Refusal::bad_request("period and unused are required");

/// The form of the POS identity every POS call carries: all six fields non-empty, the UBN 8
/// digits (its checksum is not checked). Whether Wixtar knows it is the caller's registry.
pub fn check_pos(pos: &PosIdentity) -> Result<(), Refusal> {
    if [&pos.ubn, &pos.store_code, &pos.pos_code, &pos.pid, &pos.rid, &pos.pname].iter().any(|f| f.is_empty()) {
        return Err(POS_INCOMPLETE);
    }
    if pos.ubn.len() != 8 || !pos.ubn.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Refusal::bad_request("pos.ubn must be 8 digits"));
    }
    Ok(())
}

/// 3-digit ROC year + even month, e.g. `11512`.
pub fn valid_period(period: &str) -> bool {
    period.len() == 5 && period.bytes().all(|b| b.is_ascii_digit()) && matches!(&period[3..], "02" | "04" | "06" | "08" | "10" | "12")
}

/// The refusal of a call whose `period` is not [`valid_period`].
pub const BAD_PERIOD: Refusal = Refusal::bad_request("period must be ROC year + even month, e.g. 11512");

/// The 字軌 of a (valid) period: two letters derived from its digits, the same for every UBN,
/// e.g. `UA` for `11512` (`n mod 26`, then `⌊n / 26⌋ mod 26`).
pub fn track_for(period: &str) -> String {
    let n = period.parse::<u32>().unwrap_or(0);
    [n % 26, n / 26 % 26].iter().map(|&i| char::from(b'A' + i as u8)).collect()
}

/// The `index`-th book (from 0) of a period: numbers are handed out per period across every
/// seller (as MOF numbers are unique nationwide), so `index` counts the period's books of all
/// UBNs. `None` past the last 8-digit number.
pub fn nth_book(period: &str, index: u32) -> Option<WireRange> {
    (index < BOOKS_PER_PERIOD).then(|| WireRange {
        period: period.to_owned(),
        track: track_for(period),
        first: format!("{:08}", index * BOOK),
        last: format!("{:08}", index * BOOK + BOOK - 1),
    })
}

/// 2 uppercase letters + 8 digits.
pub fn valid_number(number: &str) -> bool {
    number.len() == 10 && number.bytes().take(2).all(|b| b.is_ascii_uppercase()) && number.bytes().skip(2).all(|b| b.is_ascii_digit())
}

/// Whether `number` lies in `range` (same track, `first` ≤ digits ≤ `last`).
pub fn range_holds(range: &WireRange, number: &str) -> bool {
    valid_number(number) && number[..2] == range.track && number[2..] >= *range.first && number[2..] <= *range.last
}

/// Everything Wixtar checks in an upload from `pos_ubn` before it looks for the number among
/// the uploads it has, in its order: `seller_ubn`, `period` and at least one item (`400`); the
/// number inside one of `ranges` (the UBN's books) for the invoice's period
/// (`422 number_not_allocated`); then the MIG 4.0 tax rules ([`check_tax`], `422`).
pub fn check_upload<'a>(pos_ubn: &str, invoice: &InvoiceUpload, ranges: impl IntoIterator<Item = &'a WireRange>) -> Result<(), Refusal> {
    if invoice.seller_ubn != pos_ubn {
        return Err(Refusal::bad_request("invoice.seller_ubn must be pos.ubn"));
    }
    if !valid_period(&invoice.period) {
        return Err(Refusal::bad_request("invoice.period must be ROC year + even month, e.g. 11512"));
    }
    if invoice.items.is_empty() {
        return Err(Refusal::bad_request("invoice needs at least one item"));
    }
    if !ranges.into_iter().any(|r| r.period == invoice.period && range_holds(r, &invoice.number)) {
        return Err(Refusal::unprocessable("number_not_allocated"));
    }
    check_tax(invoice).map_err(Refusal::unprocessable)
}

/// The amount of each item kind (1 應稅, 2 零稅率, 3 免稅) an invoice's totals declare, tax included.
fn kind_amounts(invoice: &InvoiceUpload) -> [u64; 3] {
    [invoice.sales_amount + invoice.tax_amount, invoice.zero_tax_sales_amount, invoice.free_tax_sales_amount]
}

/// The MIG 4.0 amount and tax-type rules of an invoice (docs/invoices.md §4.5, the errors of
/// docs/wixtar-protocol.md §6): the item amounts add up to `total`; `tax_type` 1/2/3/9 with its
/// `tax_rate`; type 9 B2C only; B2C carries no tax; the four amounts add up to `total`; item
/// kinds the invoice's (any of 1–3 for type 9), each kind's items adding up to its amount; a
/// zero-rated part with customs mark 1/2 and reason 71–79. The `error` of the first broken one.
pub fn check_tax(invoice: &InvoiceUpload) -> Result<(), &'static str> {
    let items_sum: i128 = invoice.items.iter().map(|i| i128::from(i.amount)).sum();
    if items_sum != i128::from(invoice.total) {
        return Err("amount_mismatch");
    }
    let b2c = invoice.buyer_ubn == B2C_BUYER;
    let expected_rate = match invoice.tax_type {
        1 | 9 => "0.05",
        2 | 3 => "0",
        _ => return Err("invalid_tax_type"),
    };
    if invoice.tax_rate != expected_rate {
        return Err("tax_rate_mismatch");
    }
    if invoice.tax_type == 9 && !b2c {
        return Err("mixed_tax_b2b");
    }
    if b2c && invoice.tax_amount != 0 {
        return Err("amount_mismatch");
    }
    let declared = kind_amounts(invoice);
    if declared.iter().map(|&d| u128::from(d)).sum::<u128>() != u128::from(invoice.total) {
        return Err("amount_mismatch");
    }
    let mut by_kind = [0i128; 3];
    for item in &invoice.items {
        let single = invoice.tax_type != 9;
        if !(1..=3).contains(&item.tax_type) || (single && item.tax_type != invoice.tax_type) {
            return Err("item_tax_type_mismatch");
        }
        by_kind[usize::from(item.tax_type - 1)] += i128::from(item.amount);
    }
    if by_kind.iter().zip(declared).any(|(&items, d)| items != i128::from(d)) {
        return Err("amount_mismatch");
    }
    let zero_rated = declared[1] > 0 || invoice.tax_type == 2;
    let mark_ok = matches!(invoice.customs_clearance_mark, Some(1 | 2));
    let reason_ok = invoice.zero_tax_rate_reason.as_deref().is_some_and(|r| r.len() == 2 && matches!(r.parse::<u8>(), Ok(71..=79)));
    if zero_rated && !(mark_ok && reason_ok) {
        return Err("zero_tax_details_missing");
    }
    Ok(())
}

/// One allowance an invoice holds, as the decisions below need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldAllowance<'a> {
    pub number: &'a str,
    pub total: u64,
    pub voided: bool,
}

/// Whether Wixtar takes `allowance` against `invoice` (`voided`: the invoice is void), which
/// already holds `held`: `Ok(true)` to record it, `Ok(false)` for a repeat of an allowance
/// number it holds (answered again, content not compared). A void invoice takes none
/// (`409 invoice_void`); a new one must be positive and fit in what the active allowances leave
/// (`409 allowance_exceeds_invoice`), and return only kinds the invoice has, no more of each
/// than it has ([`allowance_kinds_fit`], `422`).
pub fn take_allowance<'a>(
    invoice: &InvoiceUpload,
    voided: bool,
    held: impl IntoIterator<Item = HeldAllowance<'a>>,
    allowance: &AllowanceUpload,
) -> Result<bool, Refusal> {
    if voided {
        return Err(Refusal::conflict("invoice_void"));
    }
    let mut active = 0u64;
    for a in held {
        if a.number == allowance.number {
            return Ok(false);
        }
        if !a.voided {
            active += a.total;
        }
    }
    if allowance.total == 0 || active + allowance.total > invoice.total {
        return Err(Refusal::conflict("allowance_exceeds_invoice"));
    }
    allowance_kinds_fit(invoice, allowance).map_err(Refusal::unprocessable)?;
    Ok(true)
}

/// An allowance's items each return a kind (MIG item `TaxType` 1–3) the invoice has, no more of
/// it than the invoice declares (`allowance_tax_type_mismatch`), and add up to its `total`
/// (`amount_mismatch`): its tax follows the lines it returns.
pub fn allowance_kinds_fit(invoice: &InvoiceUpload, allowance: &AllowanceUpload) -> Result<(), &'static str> {
    let declared = kind_amounts(invoice);
    let mut sum = 0i128;
    for item in &allowance.items {
        let fits = (1..=3).contains(&item.tax_type) && u64::try_from(item.amount).is_ok_and(|a| declared[usize::from(item.tax_type - 1)] >= a);
        if !fits {
            return Err("allowance_tax_type_mismatch");
        }
        sum += i128::from(item.amount);
    }
    if sum != i128::from(allowance.total) {
        return Err("amount_mismatch");
    }
    Ok(())
}

/// 作廢: an invoice is voided only once none of its allowances is active
/// (`409 allowances_exist`; void them first).
pub fn may_void<'a>(held: impl IntoIterator<Item = HeldAllowance<'a>>) -> Result<(), Refusal> {
    match held.into_iter().any(|a| !a.voided) {
        true => Err(Refusal::conflict("allowances_exist")),
        false => Ok(()),
    }
}

/// What Wixtar answers a UBN about a period's winners: [`WinnersAnswer::NotYet`] while MOF's
/// list of the period is not `published`; else the list's winners whose number the UBN
/// `uploaded` for that period, in the list's order (another seller's numbers are never
/// answered). Void invoices stay on the list: who may claim is decided by the caller.
pub fn winners_for(published: Option<&[Winner]>, uploaded: impl Fn(&str) -> bool) -> WinnersAnswer {
    match published {
        None => WinnersAnswer::NotYet,
        Some(list) => WinnersAnswer::Published { winners: list.iter().filter(|w| uploaded(&w.number)).cloned().collect() },
    }
}

/// The refusal of a winners list to publish that names a malformed number.
pub const WINNER_NUMBER_MALFORMED: Refusal = Refusal::bad_request("winners[].number must be 2 uppercase letters and 8 digits");

/// Publishes `winners` as MOF's list of `period` in `lists` (by period, as the simulator and
/// the fake hold them): a number already listed takes the new kind and amount, others are
/// added in order; an empty list marks the period published with no winners. A malformed
/// period or number publishes nothing.
pub fn publish_winners(lists: &mut BTreeMap<String, Vec<Winner>>, period: &str, winners: &[Winner]) -> Result<(), Refusal> {
    if !valid_period(period) {
        return Err(BAD_PERIOD);
    }
    if winners.iter().any(|w| !valid_number(&w.number)) {
        return Err(WINNER_NUMBER_MALFORMED);
    }
    let list = lists.entry(period.to_owned()).or_default();
    for winner in winners {
        match list.iter_mut().find(|w| w.number == winner.number) {
            Some(known) => *known = winner.clone(),
            None => list.push(winner.clone()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use einvoice_domain::PrizeKind;

    fn winner(number: &str, kind: PrizeKind, amount: u64) -> Winner {
        Winner { number: number.into(), kind, amount }
    }

    #[test]
    fn winners_are_not_yet_then_only_the_uploaded_ones() {
        assert_eq!(winners_for(None, |_| true), WinnersAnswer::NotYet);
        let mut lists = BTreeMap::new();
        publish_winners(&mut lists, "11510", &[winner("UA00000001", PrizeKind::Sixth, 200), winner("UA00000002", PrizeKind::First, 200_000)]).unwrap();
        publish_winners(&mut lists, "11510", &[winner("UA00000001", PrizeKind::Fifth, 1_000), winner("UA00000003", PrizeKind::Cloud, 500)]).unwrap();
        let list = lists["11510"].clone();
        assert_eq!(
            list.iter().map(|w| (w.number.as_str(), w.amount)).collect::<Vec<_>>(),
            [("UA00000001", 1_000), ("UA00000002", 200_000), ("UA00000003", 500)]
        );
        let mine = |n: &str| n != "UA00000002";
        assert_eq!(
            winners_for(Some(&list), mine),
            WinnersAnswer::Published { winners: vec![winner("UA00000001", PrizeKind::Fifth, 1_000), winner("UA00000003", PrizeKind::Cloud, 500)] }
        );
        assert_eq!(winners_for(Some(&[]), |_| true), WinnersAnswer::Published { winners: vec![] });
        assert_eq!(publish_winners(&mut lists, "11512", &[winner("ua00000009", PrizeKind::Sixth, 200)]), Err(WINNER_NUMBER_MALFORMED));
        assert_eq!(publish_winners(&mut lists, "11511", &[]), Err(BAD_PERIOD));
        assert_eq!(lists.keys().collect::<Vec<_>>(), ["11510"], "a malformed list publishes nothing");
        assert_eq!(lists["11510"].len(), 3);
    }

    #[test]
    fn tracks_books_and_numbers() {
        assert_eq!(track_for("11512"), "UA");
        assert_eq!(track_for("11602"), "GE");
        let book = nth_book("11512", 2).unwrap();
        assert_eq!((book.track.as_str(), book.first.as_str(), book.last.as_str()), ("UA", "00000100", "00000149"));
        assert_eq!(nth_book("11512", BOOKS_PER_PERIOD - 1).unwrap().last, "99999999");
        assert_eq!(nth_book("11512", BOOKS_PER_PERIOD), None);
        for (number, inside) in
            [("UA00000100", true), ("UA00000149", true), ("UA00000150", false), ("UB00000120", false), ("ua00000120", false), ("UA0000012", false)]
        {
            assert_eq!(range_holds(&book, number), inside, "{number}");
        }
        assert!(valid_period("11512") && !valid_period("11513") && !valid_period("1151") && !valid_period("1151a"));
    }
}
