//! The period-close Lambda: its cold start ([`wiring::cold_start`]) and the schedule's runtime.

use einvoice_adapters::{schedule, wiring};
use period_close::PeriodClose;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    schedule::run_lambda(wiring::cold_start::<PeriodClose>().await?).await
}
