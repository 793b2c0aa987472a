//! Wires config, AWS clients and the order-webhook handler into the Lambda runtime.

use std::sync::Arc;

use einvoice_adapters::store::Store;
use einvoice_adapters::{api, aws, telemetry};
use einvoice_domain::SystemClock;
use order_webhook::{Config, Dependencies, OrderWebhook};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let sdk = aws::sdk_config().await;
    let [platform_secret] = aws::read_secrets(&sdk, [&config.platform_secret_id]).await?;
    let deps = Dependencies {
        store: Arc::new(Store::new(aws_sdk_dynamodb::Client::new(&sdk), &config.table_name)),
        clock: Arc::new(SystemClock),
        platform_secret,
        crash_points: Default::default(),
        read_back: None,
    };
    api::run_lambda(Arc::new(OrderWebhook::new(deps))).await
}
