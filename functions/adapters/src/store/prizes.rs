//! 中獎 on the invoice item: the `prize` map MOF's list puts on a winning invoice
//! (`ORDER#{merchant_id}#{order_id}` / `INVOICE`, docs/table-layout.md §3.8, §6.14), and the
//! answers of the [`PrizeStore`](super::PrizeStore) port that writes it.
//!
//! A run of the prize job marks (mark → mail → record notified); a crash between the steps is
//! repaired by running again: marking the same prize again changes nothing, the mail is sent
//! once by the notifier's send ledger (keyed on a deterministic `event_id`), so `notified_at`
//! is bookkeeping, not the guard. The printed proof is guarded here: `printed_at` is written
//! by the one conditional write that allows the print.

use chrono::{DateTime, Utc};
use einvoice_domain::buyer::B2C_BUYER_IDENTIFIER;
use einvoice_domain::{CarrierKind, Claimant, PrizeKind, WinnerFacts, claimant};
use serde::{Deserialize, Serialize};

use super::orders::{InvoiceItem, order_keys};

/// `prize` on a winning invoice (中獎發票).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrizeItem {
    /// The drawn period, `yyyMM` (the invoice's own).
    pub period: String,
    pub kind: PrizeKind,
    /// NT$, from MOF's list (never computed).
    pub amount: u64,
    /// Who acts for the winner, decided when marked ([`InvoiceItem::claimant`]); it cannot
    /// change after the draw (the void deadline, the 13th, is before it).
    pub claimant: Claimant,
    pub marked_at: DateTime<Utc>,
    /// When the buyer's `invoice_won` mail was handed over (bookkeeping; the send ledger
    /// guards the mail itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notified_at: Option<DateTime<Utc>>,
    /// When the winning proof was printed: once, ever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub printed_at: Option<DateTime<Utc>>,
    /// The request that printed it (its `Idempotency-Key`): a repeat of that request may
    /// render the same document again (a crash after the write must not lose the print).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub printed_by: Option<String>,
}

impl PrizeItem {
    /// A prize as marked from MOF's list, for `invoice` (its period and claimant).
    pub fn new(invoice: &InvoiceItem, kind: PrizeKind, amount: u64, at: DateTime<Utc>) -> Self {
        Self {
            period: invoice.period.clone(),
            kind,
            amount,
            claimant: invoice.claimant(),
            marked_at: at,
            notified_at: None,
            printed_at: None,
            printed_by: None,
        }
    }

    /// The same prize of MOF's list (period, kind and amount), whatever was recorded since.
    pub fn same_prize(&self, other: &Self) -> bool {
        (&self.period, self.kind, self.amount) == (&other.period, other.kind, other.amount)
    }

    /// As a mark writes it: nothing recorded yet.
    pub(crate) fn as_marked(&self) -> Self {
        Self { notified_at: None, printed_at: None, printed_by: None, ..self.clone() }
    }
}

impl InvoiceItem {
    /// What the prize rules need of this invoice ([`einvoice_domain::claimant`]). A carrier
    /// type code we never issue to counts as no carrier.
    pub fn winner_facts(&self) -> WinnerFacts {
        WinnerFacts {
            b2b: self.buyer_identifier != B2C_BUYER_IDENTIFIER,
            void: self.voided_at.is_some(),
            donated: self.love_code.is_some(),
            carrier: self.carrier_type.as_deref().and_then(CarrierKind::from_type_code),
        }
    }

    /// Who acts for this invoice if it wins.
    pub fn claimant(&self) -> Claimant {
        claimant(self.winner_facts())
    }
}

/// What marking a winner did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrizeMarked {
    /// Written now.
    Marked(PrizeItem),
    /// The same prize was marked before: nothing changed; here it is as stored (with what was
    /// recorded since).
    Unchanged(PrizeItem),
    /// No such invoice.
    NoInvoice,
}

/// What recording a step of a prize (`notified_at`, `printed_at`) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrizeStamp {
    /// This call recorded it, at this time (for a print: or an earlier call of the same
    /// request did, at this time).
    Recorded(DateTime<Utc>),
    /// Someone recorded it before, at this time: nothing changed.
    AlreadyRecorded(DateTime<Utc>),
    /// No such invoice, or it did not win.
    NotAWinner,
}

/// `RANGES#{merchant_id}#{period}` / `PRIZES`: the merchant's list of winning invoices of a
/// drawn period (中獎清冊) is handled — every winner marked and told — so the prize job does not
/// ask Wixtar for it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrizeListItem {
    pub pk: String,
    pub sk: String,
    pub entity: String,
    pub merchant_id: String,
    pub period: String,
    /// The winning numbers Wixtar answered (maybe none).
    pub numbers: Vec<String>,
    pub handled_at: DateTime<Utc>,
}

impl PrizeListItem {
    pub fn new(merchant_id: &str, period: &str, numbers: Vec<String>, at: DateTime<Utc>) -> Self {
        Self {
            pk: order_keys::ranges(merchant_id, period),
            sk: order_keys::PRIZES.into(),
            entity: "prize_list".into(),
            merchant_id: merchant_id.into(),
            period: period.into(),
            numbers,
            handled_at: at,
        }
    }
}
