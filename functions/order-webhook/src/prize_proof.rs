//! `POST /v1/merchants/{merchant_id}/orders/{order_id}/invoice/prize-proof`: the winning proof
//! (中獎電子發票證明聯) of a member-carrier winner, printed once (DESIGN.md §7): a lost printed
//! winning proof is never printed again.
//!
//! One `BatchGetItem` (order, invoice, plan: as the proof) and, for the print itself, one
//! conditional `UpdateItem` ([`PrizeStore::record_prize_printed`]) that writes `printed_at` only
//! if nothing was printed: of concurrent requests exactly one is answered 201. The document is
//! drawn from the invoice and that `printed_at`, so a repeat of the request that printed (its
//! `Idempotency-Key`) gets the same bytes; any other request is 409.
//!
//! [`PrizeStore::record_prize_printed`]: einvoice_adapters::store::PrizeStore::record_prize_printed

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use einvoice_adapters::api::{self, ApiError, ApiRequest, ApiResponse};
use einvoice_adapters::orders::{InvoiceItem, InvoiceStatus, OrderHead};
use einvoice_adapters::store::{PrizeItem, PrizeStamp};
use einvoice_domain::Claimant;
use einvoice_domain::clock::taipei_offset;
use einvoice_domain::proof_sheet::PrizeMark;
use http::StatusCode;
use serde::de::IgnoredAny;

use crate::proof::{render, svg_response};
use crate::{OrderWebhook, order_not_found};

/// The body: none, or an empty JSON object (the print takes no options).
fn no_body(req: &ApiRequest) -> Result<(), ApiError> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let fields = req.json::<BTreeMap<String, IgnoredAny>>()?;
    match fields.keys().next() {
        None => Ok(()),
        Some(field) => {
            Err(ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", format!("the body takes no fields (none or {{}}): unknown field `{field}`")))
        }
    }
}

impl OrderWebhook {
    pub(crate) async fn prize_proof(&self, req: &ApiRequest, merchant_id: &str, order_id: &str) -> Result<ApiResponse, ApiError> {
        let key = api::idempotency_key(req)?;
        no_body(req)?;
        let (order, invoice, plan) = self.deps.store.proof_context(merchant_id, order_id).await?;
        let order = order.ok_or_else(|| order_not_found(order_id))?;
        let (invoice, prize) = printable_winner(&order, invoice.as_ref())?;
        let seller_name = plan.and_then(|p| p.company_name);
        // Without a key the request is its own: a fresh id no other request holds.
        let request = key.unwrap_or_else(|| format!("request-{}", uuid::Uuid::new_v4().simple()));
        let draw = |printed_at| render(invoice, seller_name.as_deref(), false, Some(mark(prize, printed_at)));
        let (printed_at, svg) = match (prize.printed_at, prize.printed_by.as_deref()) {
            // The request that printed, again (its answer was lost): the same document.
            (Some(at), Some(by)) if by == request => (at, draw(at)?),
            (Some(at), _) => return Err(already_printed(at)),
            (None, _) => {
                let now = self.deps.clock.now();
                // Drawn before the print is recorded: an invoice that does not render must not
                // use up its one print.
                let svg = draw(now)?;
                match self.deps.store.record_prize_printed(merchant_id, order_id, &request, now).await? {
                    PrizeStamp::Recorded(at) if at == now => (at, svg),
                    // A concurrent repeat of this request printed first.
                    PrizeStamp::Recorded(at) => (at, draw(at)?),
                    PrizeStamp::AlreadyRecorded(at) => {
                        tracing::warn!(printed_at = %at, "winning proof printed by a concurrent request; refused");
                        return Err(already_printed(at));
                    }
                    PrizeStamp::NotAWinner => return Err(not_a_winner(&invoice.number)),
                }
            }
        };
        tracing::info!(number = %invoice.number, kind = %prize.kind, printed_at = %printed_at, "winning proof printed");
        Ok(svg_response(StatusCode::CREATED, svg))
    }
}

/// The invoice and its prize, if the seller prints its winning proof: issued, a winner, and on
/// the platform's member carrier (not donated, not void, B2C).
fn printable_winner<'a>(order: &OrderHead, invoice: Option<&'a InvoiceItem>) -> Result<(&'a InvoiceItem, &'a PrizeItem), ApiError> {
    let invoice = invoice.ok_or_else(|| ApiError::conflict("invoice_not_issued", "the order's invoice is not issued yet: it has no number to win with"))?;
    let prize = invoice.prize.as_ref().ok_or_else(|| not_a_winner(&invoice.number))?;
    // Who acts was decided when it was marked; a void since (it cannot be: the void deadline is
    // before the draw) prints nothing either.
    let void = invoice.voided_at.is_some() || order.invoice_status == InvoiceStatus::Void;
    let claimant = if void { Claimant::NotClaimable } else { prize.claimant };
    let why = match claimant {
        Claimant::Seller => return Ok((invoice, prize)),
        Claimant::Mof => "it went to a mobile barcode or citizen certificate carrier: MOF tells the buyer and pays the prize",
        Claimant::PaperHolder => "its paper proof was printed: the buyer holds it and claims with it",
        Claimant::Charity => "it was donated: the charity of its love code claims the prize",
        Claimant::NotClaimable => "a B2B or void invoice cannot claim a prize",
    };
    Err(ApiError::conflict("prize_proof_not_printable", format!("invoice {} won, but the seller prints no winning proof for it: {why}", invoice.number)))
}

fn mark(prize: &PrizeItem, printed_at: DateTime<Utc>) -> PrizeMark {
    PrizeMark { kind: prize.kind, amount: prize.amount, printed_at: printed_at.with_timezone(&taipei_offset()).naive_local() }
}

fn not_a_winner(number: &str) -> ApiError {
    ApiError::conflict("not_a_winner", format!("invoice {number} did not win (MOF's list does not name it): there is no winning proof"))
}

fn already_printed(at: DateTime<Utc>) -> ApiError {
    let at = at.with_timezone(&taipei_offset()).format("%Y-%m-%d %H:%M:%S");
    ApiError::conflict("prize_proof_already_printed", format!("the winning proof was printed at {at} (Asia/Taipei); it is printed once and never again"))
}
