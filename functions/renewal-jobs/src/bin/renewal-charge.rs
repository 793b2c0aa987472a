//! Wires config, AWS clients and the renewal-charge job into the Lambda runtime.

use std::sync::Arc;

use einvoice_adapters::{schedule, telemetry};
use renewal_jobs::{Config, Dependencies, RenewalCharge};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let deps = Dependencies::from_config(&config).await;
    schedule::run_lambda(Arc::new(RenewalCharge::new(&config, deps))).await
}
