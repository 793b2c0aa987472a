//! The upload to Wixtar (上傳), exactly once: bounded retries, and after an ambiguous failure
//! Wixtar is asked before the invoice is sent again.

use einvoice_adapters::crash;
use einvoice_adapters::orders::{Due, InvoiceItem, InvoiceStatus, OrderItem, UploadStatus};
use einvoice_adapters::schedule::JobError;
use einvoice_adapters::upstream::UpstreamError;
use einvoice_adapters::wixtar::{InvoiceUpload, UploadItem};
use einvoice_domain::recovery::{DeadlineState, next_try};

use crate::notices::NOTICE_GRACE;
use crate::{InvoiceIssuer, Seller, WorkOutcome};

/// What an upload came to.
pub(crate) struct Uploaded {
    pub outcome: WorkOutcome,
    /// The order has a return waiting (found by the upload's write).
    pub return_pending: bool,
    /// Uploaded (and announced) by this call, not found uploaded before.
    pub now: bool,
}

impl InvoiceIssuer {
    /// Uploads with bounded retries. After an ambiguous failure (timeout, 5xx) Wixtar is asked
    /// whether it has the number before the invoice is sent again; a repeat of an upload Wixtar
    /// has (same number, same content) is accepted again. A failure is recorded with the time
    /// the reconciler tries again (after `failures` + 1 failed tries), and answered
    /// [`WorkOutcome::UploadFailed`], not as an error. An accepted upload is announced
    /// (`InvoiceIssued`, the buyer's notice) before it is recorded: a crash in between leaves
    /// the upload to be recorded, and the announcement made again, by the reconciler (the
    /// notifier sends a notice once); an announcement that fails leaves the order due a little
    /// later, for the reconciler to make it.
    pub(crate) async fn upload(&self, mut invoice: InvoiceItem, order: &OrderItem, seller: &Seller, sent: Sent) -> Result<Uploaded, JobError> {
        if invoice.upload.status == UploadStatus::Uploaded {
            return Ok(Uploaded { outcome: WorkOutcome::Uploaded { number: invoice.number }, return_pending: false, now: false });
        }
        let (pos, failures) = (&seller.pos, order.retries);
        let body = upload_body(&invoice);
        // An invoice this invocation did not record may have reached Wixtar before a crash.
        let mut ambiguous = sent == Sent::Maybe;
        let mut outcome: Result<(), UpstreamError> = Err(UpstreamError::Unavailable("not tried".into()));
        for n in 1..=self.upload.max_attempts {
            if n > 1 {
                tokio::time::sleep(self.upload.backoff(n - 1)).await;
            }
            invoice.upload.attempts += 1;
            if ambiguous && matches!(self.deps.wixtar.find_invoice(pos, &invoice.number).await, Ok(Some(_))) {
                outcome = Ok(());
                break;
            }
            outcome = self.deps.wixtar.upload_invoice(pos, &body).await.map(|_| ());
            match &outcome {
                Ok(()) | Err(UpstreamError::Rejected { .. }) => break,
                Err(UpstreamError::Unavailable(e)) => {
                    tracing::warn!(attempt = n, error = %e, number = %invoice.number, "upload failed; retrying");
                    ambiguous = true;
                }
            }
        }
        if outcome.is_ok() {
            self.deps.crash_points.pass(crash::AFTER_UPLOAD_ACCEPTED);
        }
        let now = self.deps.clock.now();
        let (status, due, result) = match outcome {
            Ok(()) => {
                invoice.upload.status = UploadStatus::Uploaded;
                invoice.upload.uploaded_at = Some(now);
                invoice.upload.last_error = None;
                let due = match self.announce_upload(&invoice, order, seller).await {
                    true => Due::Done,
                    false => Due::Later { at: now + NOTICE_GRACE, failed: false },
                };
                (InvoiceStatus::Uploaded, due, WorkOutcome::Uploaded { number: invoice.number.clone() })
            }
            Err(e) => {
                invoice.upload.status = UploadStatus::Failed;
                invoice.upload.last_error = Some(e.to_string().chars().take(300).collect());
                let deadline = invoice.upload.deadline;
                match DeadlineState::of(deadline, now) {
                    // Alarm-worthy: the legal upload deadline has passed (metric filter on this field).
                    DeadlineState::Past => {
                        tracing::error!(alarm = "upload_past_deadline", number = %invoice.number, deadline = %deadline, "invoice not uploaded by its legal deadline")
                    }
                    _ if matches!(e, UpstreamError::Rejected { .. }) => {
                        // Wixtar refused the content (credentials, a number it has with other
                        // content): retrying alone may not help.
                        tracing::error!(alarm = "upload_rejected", number = %invoice.number, error = %e, "Wixtar refused the upload")
                    }
                    _ => tracing::warn!(number = %invoice.number, error = %e, "upload failed; the reconciler tries again"),
                }
                let at = next_try(now, failures + 1);
                let result =
                    WorkOutcome::UploadFailed { number: invoice.number.clone(), error: invoice.upload.last_error.clone(), deadline, due_at: at };
                (InvoiceStatus::UploadFailed, Due::Later { at, failed: true }, result)
            }
        };
        let return_pending = self.deps.store.record_upload(&invoice, status, due, now).await?;
        Ok(Uploaded { outcome: result, return_pending, now: true })
    }
}


/// Whether Wixtar may have the invoice already, as far as this invocation knows: an invoice
/// recorded by an earlier invocation (which may have died after Wixtar accepted it) is looked
/// up before it is sent, so it is sent once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    No,
    Maybe,
}

/// What Wixtar receives for an invoice (docs/wixtar-protocol.md).
fn upload_body(invoice: &InvoiceItem) -> InvoiceUpload {
    InvoiceUpload {
        number: invoice.number.clone(),
        random_code: invoice.random_code.clone(),
        period: invoice.period.clone(),
        issued_at: invoice.issued_at,
        order_id: invoice.order_id.clone(),
        seller_ubn: invoice.seller_ubn.clone(),
        buyer_ubn: invoice.buyer_identifier.clone(),
        buyer_name: invoice.buyer_name.clone(),
        carrier_type: invoice.carrier_type.clone(),
        carrier_id: invoice.carrier_id.clone(),
        love_code: invoice.love_code.clone(),
        print: invoice.print,
        tax_type: invoice.tax_type,
        tax_rate: einvoice_adapters::tax::tax_rate(invoice.tax_type),
        sales_amount: u64::from(invoice.sales_amount),
        zero_tax_sales_amount: u64::from(invoice.zero_tax_sales_amount),
        free_tax_sales_amount: u64::from(invoice.free_tax_sales_amount),
        tax_amount: u64::from(invoice.tax_amount),
        total: u64::from(invoice.total),
        customs_clearance_mark: invoice.zero_rating.map(|z| z.customs_clearance.code()),
        zero_tax_rate_reason: invoice.zero_rating.map(|z| z.reason.to_string()),
        items: invoice.lines.iter().map(UploadItem::from).collect(),
    }
}

