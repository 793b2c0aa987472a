//! Wires config, AWS clients and the invoice-issuer handler (the table's stream) into the
//! Lambda runtime.

use std::sync::Arc;

use einvoice_adapters::{stream, telemetry};
use invoice_issuer::{Config, InvoiceIssuer};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let issuer = InvoiceIssuer::from_lambda_env(&config).await?;
    stream::run_lambda(Arc::new(issuer)).await
}
