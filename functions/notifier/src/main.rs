//! The notifier Lambda: its cold start ([`wiring::cold_start`]) and the EventBridge runtime.

use einvoice_adapters::{events, wiring};
use notifier::Notifier;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    events::run_lambda(wiring::cold_start::<Notifier>().await?).await
}
