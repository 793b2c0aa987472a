//! The invoice-prizes Lambda: its cold start ([`wiring::cold_start`]) and the schedule's runtime.

use einvoice_adapters::{schedule, wiring};
use invoice_prizes::InvoicePrizes;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    schedule::run_lambda(wiring::cold_start::<InvoicePrizes>().await?).await
}
