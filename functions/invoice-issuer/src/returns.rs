//! Returns (退貨): a cancelled or refunded order's invoice voided (作廢) or given allowances
//! (折讓), one idempotent step at a time.

use einvoice_adapters::crash;
use einvoice_adapters::orders::{AllowanceItem, AllowanceStatus, InvoiceItem, UploadStatus};
use einvoice_adapters::schedule::JobError;
use einvoice_adapters::store::StoreError;
use einvoice_adapters::wixtar::AllowanceUpload;
use einvoice_domain::InvoicePeriod;
use einvoice_domain::returns::{AllowanceRecord, InvoiceFacts, Refund, ReturnStep, allowance_amounts, next_return_step};

use crate::{InvoiceIssuer, ReturnDone, Seller, Sent, WorkOutcome, failed};

/// Return steps tried in one invocation (each allowance voided, then the invoice).
const MAX_RETURN_STEPS: usize = 12;

impl InvoiceIssuer {
    /// Brings an uploaded invoice in line with a cancelled or refunded order, one idempotent step
    /// at a time ([`next_return_step`]): void while the period is open (allowances first),
    /// else, or for a partial refund, an allowance for what is not yet returned.
    pub(crate) async fn returns(&self, merchant_id: &str, order_id: &str, seller: &Seller) -> Result<WorkOutcome, JobError> {
        let store = &self.deps.store;
        let pos = &seller.pos;
        let mut steps = Vec::new();
        // Each pass does one step; a return needs at most (allowances + 1) of them.
        for _ in 0..MAX_RETURN_STEPS {
            let (Some(order), Some(invoice)) = store.order_and_invoice(merchant_id, order_id).await? else {
                // Not issued yet: the issuer's own run finds the order's return flag when it
                // records the upload, and returns it then.
                return Ok(WorkOutcome::NoInvoice);
            };
            if invoice.upload.status != UploadStatus::Uploaded {
                // A return needs the invoice at the provider first.
                let uploaded = self.upload(invoice.clone(), &order, seller, Sent::Maybe).await?;
                if !matches!(uploaded.outcome, WorkOutcome::Uploaded { .. }) {
                    return Ok(uploaded.outcome);
                }
                continue;
            }
            if let Some((index, pending)) = invoice.allowances.iter().enumerate().find(|(_, a)| a.status == AllowanceStatus::Pending) {
                // Recorded before a crash or a failed call: send it again (same number).
                let body = allowance_body(&invoice, pending);
                self.deps.wixtar.upload_allowance(pos, &body).await.map_err(failed)?;
                self.deps.crash_points.pass(crash::AFTER_RETURN_ACCEPTED);
                store.set_allowance_status(&invoice, index, AllowanceStatus::Uploaded).await?;
                continue;
            }
            let records: Vec<AllowanceRecord> = invoice
                .allowances
                .iter()
                .map(|a| AllowanceRecord { number: a.number.clone(), amount: a.amount, parts: a.parts(), voided: a.status == AllowanceStatus::Void })
                .collect();
            let period: InvoicePeriod = invoice.period.parse().map_err(failed)?;
            let facts = InvoiceFacts { period, total: invoice.total, parts: invoice.parts(), voided: invoice.voided_at.is_some(), allowances: &records };
            let refund = if order.state.order.is_cancelled() { Refund::Full } else { Refund::Partial(order.state.order.refunded_amount) };
            let now = self.deps.clock.now();
            match next_return_step(facts, refund, &invoice.number, now) {
                ReturnStep::Nothing => {
                    // Done: the buyer is told (of the invoice again too, in case its own
                    // announcement failed), then the order's return flag goes (unless a newer
                    // return came meanwhile).
                    self.announce_upload(&invoice, &order, seller).await;
                    self.announce_returns(&invoice, &order, seller).await?;
                    store.finish_return(merchant_id, order_id, order.version).await?;
                    break;
                }
                ReturnStep::VoidAllowance { number } => {
                    self.deps.wixtar.void_allowance(pos, &number, "order cancelled").await.map_err(failed)?;
                    self.deps.crash_points.pass(crash::AFTER_RETURN_ACCEPTED);
                    let index = invoice.allowances.iter().position(|a| a.number == number).expect("decided from these allowances");
                    store.set_allowance_status(&invoice, index, AllowanceStatus::Void).await?;
                    tracing::info!(allowance = %number, "allowance voided");
                    steps.push(ReturnDone::VoidAllowance { void_allowance: number });
                }
                ReturnStep::VoidInvoice => {
                    self.deps.wixtar.void_invoice(pos, &invoice.number, "order cancelled").await.map_err(failed)?;
                    self.deps.crash_points.pass(crash::AFTER_RETURN_ACCEPTED);
                    store.record_void(&invoice, now).await?;
                    tracing::info!(number = %invoice.number, "invoice voided");
                    steps.push(ReturnDone::VoidInvoice { void_invoice: invoice.number });
                }
                ReturnStep::Allowance { number, amount, parts } => {
                    let (sales_amount, tax_amount) = allowance_amounts(parts, invoice.buyer_identifier != einvoice_domain::buyer::B2C_BUYER_IDENTIFIER);
                    let (zero_tax_amount, free_tax_amount) = (parts.zero_rated, parts.tax_free);
                    let allowance = AllowanceItem {
                        number: number.clone(),
                        amount,
                        zero_tax_amount,
                        free_tax_amount,
                        sales_amount,
                        tax_amount,
                        issued_at: now,
                        status: AllowanceStatus::Pending,
                    };
                    match store.add_allowance(&invoice, invoice.allowances.len(), &allowance).await {
                        // Another processor added one meanwhile: decide again on fresh data.
                        Err(StoreError::Conflict) => continue,
                        other => other?,
                    }
                    self.deps.wixtar.upload_allowance(pos, &allowance_body(&invoice, &allowance)).await.map_err(failed)?;
                    self.deps.crash_points.pass(crash::AFTER_RETURN_ACCEPTED);
                    store.set_allowance_status(&invoice, invoice.allowances.len(), AllowanceStatus::Uploaded).await?;
                    tracing::info!(allowance = %number, amount, "allowance issued");
                    steps.push(ReturnDone::Allowance { allowance: number, amount });
                }
            }
        }
        Ok(WorkOutcome::Returned { steps })
    }

}

/// What Wixtar receives for an allowance: one line for the returned amount.
fn allowance_body(invoice: &InvoiceItem, a: &AllowanceItem) -> AllowanceUpload {
    AllowanceUpload {
        number: a.number.clone(),
        invoice_number: invoice.number.clone(),
        issued_at: a.issued_at,
        sales_amount: u64::from(a.sales_amount),
        tax_amount: u64::from(a.tax_amount),
        total: u64::from(a.amount),
        items: einvoice_adapters::tax::allowance_items(a.parts()),
    }
}

