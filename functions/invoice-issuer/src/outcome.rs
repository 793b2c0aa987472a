//! What one order's invoice work came to: the issuer's answer, the reconciler's input.

use chrono::{DateTime, Utc};
use einvoice_adapters::orders::InvoiceStatus;
use serde::Serialize;

/// The result of [`crate::InvoiceIssuer::work`], logged and counted by the reconciler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum WorkOutcome {
    /// Wixtar has the invoice (already, or now).
    Uploaded { number: String },
    /// The upload failed; the reconciler tries again at `due_at`.
    UploadFailed { number: String, error: Option<String>, deadline: DateTime<Utc>, due_at: DateTime<Utc> },
    /// Something else failed; recorded to be tried again at `due_at`.
    RetryLater { error: String, due_at: DateTime<Utc> },
    /// The order is not waiting for an invoice.
    NotRequested { status: InvoiceStatus },
    /// The order's content breaks a rule (不可開立): no number was taken.
    NotIssuable { reason: &'static str },
    /// Wixtar has no numbers left for the merchant (字軌用完).
    NoInvoiceNumbers,
    /// A return found no invoice to return yet.
    NoInvoice,
    /// A cancelled or refunded order's invoice was brought in line (作廢 / 折讓).
    Returned { steps: Vec<ReturnDone> },
}

/// One return step done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ReturnDone {
    VoidAllowance { void_allowance: String },
    VoidInvoice { void_invoice: String },
    Allowance { allowance: String, amount: u32 },
}

impl WorkOutcome {
    /// Nothing is left to do for the order.
    pub fn is_finished(&self) -> bool {
        matches!(self, Self::Uploaded { .. } | Self::Returned { .. } | Self::NotIssuable { .. } | Self::NotRequested { .. } | Self::NoInvoice)
    }

    /// The upload deadline of an invoice still not uploaded, when this outcome knows it.
    pub fn upload_deadline(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::UploadFailed { deadline, .. } => Some(*deadline),
            _ => None,
        }
    }
}
