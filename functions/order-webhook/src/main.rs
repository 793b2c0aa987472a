//! The order-webhook Lambda: its cold start ([`wiring::cold_start`]) and the HTTP runtime.

use einvoice_adapters::{api, wiring};
use order_webhook::OrderWebhook;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    api::run_lambda(wiring::cold_start::<OrderWebhook>().await?).await
}
