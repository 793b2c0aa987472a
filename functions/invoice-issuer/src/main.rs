//! The invoice-issuer Lambda (the table's stream): its cold start ([`wiring::cold_start`]) and
//! the stream's runtime.

use einvoice_adapters::{stream, wiring};
use invoice_issuer::InvoiceIssuer;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    stream::run_lambda(wiring::cold_start::<InvoiceIssuer>().await?).await
}
