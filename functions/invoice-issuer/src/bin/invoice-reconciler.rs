//! The invoice-reconciler Lambda (every 5 minutes): its cold start ([`wiring::cold_start`]) and
//! the schedule's runtime.

use einvoice_adapters::{schedule, wiring};
use invoice_issuer::reconciler::InvoiceReconciler;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    schedule::run_lambda(wiring::cold_start::<InvoiceReconciler>().await?).await
}
