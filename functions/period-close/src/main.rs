//! Wires config, AWS clients and the period-close job into the Lambda runtime.

use std::sync::Arc;

use einvoice_adapters::crypto::MasterKeys;
use einvoice_adapters::store::Store;
use einvoice_adapters::wixtar::HttpWixtarClient;
use einvoice_adapters::{aws, schedule, telemetry};
use period_close::{Config, Dependencies, PeriodClose};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let sdk = aws::sdk_config().await;
    let [master] = aws::read_secrets(&sdk, [&config.master_key_secret_id]).await?;
    let deps = Dependencies {
        store: Arc::new(Store::new(aws_sdk_dynamodb::Client::new(&sdk), &config.table_name)),
        wixtar: Arc::new(HttpWixtarClient::new(&config.wixtar_api_url)),
        master_keys: MasterKeys::from_secret(&master)?,
    };
    schedule::run_lambda(Arc::new(PeriodClose::new(&config, deps))).await
}
