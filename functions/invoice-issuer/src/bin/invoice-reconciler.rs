//! Wires config, AWS clients and the invoice-reconciler job (every 5 minutes) into the Lambda
//! runtime.

use std::sync::Arc;

use einvoice_adapters::{schedule, telemetry};
use invoice_issuer::reconciler::{InvoiceReconciler, ReconcilerConfig};
use invoice_issuer::{Config, InvoiceIssuer};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let issuer = InvoiceIssuer::from_lambda_env(&config).await?;
    schedule::run_lambda(Arc::new(InvoiceReconciler::new(Arc::new(issuer), ReconcilerConfig::from_env()?))).await
}
