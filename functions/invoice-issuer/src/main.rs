//! Wires config, AWS clients and the invoice-issuer handler into the Lambda runtime.

use std::sync::Arc;

use einvoice_adapters::crypto::MasterKeys;
use einvoice_adapters::events::{self, EventBridgePublisher};
use einvoice_adapters::store::Store;
use einvoice_adapters::wixtar::HttpWixtarClient;
use einvoice_adapters::{aws, telemetry};
use einvoice_domain::SystemClock;
use invoice_issuer::{Config, Dependencies, InvoiceIssuer};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let sdk = aws::sdk_config().await;
    let [master] = aws::read_secrets(&sdk, [&config.master_key_secret_id]).await?;
    let deps = Dependencies {
        store: Store::new(aws_sdk_dynamodb::Client::new(&sdk), &config.table_name),
        wixtar: Arc::new(HttpWixtarClient::new(&config.wixtar_api_url)),
        events: Arc::new(EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(&sdk), &config.event_bus_name)),
        master_keys: MasterKeys::from_secret(&master)?,
        clock: Arc::new(SystemClock),
    };
    events::run_lambda(Arc::new(InvoiceIssuer::new(&config, deps))).await
}
