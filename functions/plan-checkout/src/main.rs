//! The plan-checkout Lambda: its cold start ([`wiring::cold_start`]) and the HTTP runtime.

use einvoice_adapters::{api, wiring};
use plan_checkout::PlanCheckout;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    api::run_lambda(wiring::cold_start::<PlanCheckout>().await?).await
}
