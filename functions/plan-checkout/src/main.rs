//! Wires config, AWS clients and the plan-checkout handler into the Lambda runtime.

use std::sync::Arc;

use einvoice_adapters::events::EventBridgePublisher;
use einvoice_adapters::payment::HttpPaymentGateway;
use einvoice_adapters::store::Store;
use einvoice_adapters::wixtar::HttpWixtarClient;
use einvoice_adapters::{api, aws, telemetry};
use einvoice_domain::SystemClock;
use plan_checkout::{Config, Dependencies, PlanCheckout, SigningSecrets};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let sdk = aws::sdk_config().await;
    let [platform, payment] = aws::read_secrets(&sdk, [&config.platform_secret_id, &config.payment_secret_id]).await?;
    let deps = Dependencies {
        store: Arc::new(Store::new(aws_sdk_dynamodb::Client::new(&sdk), &config.table_name)),
        gateway: Arc::new(HttpPaymentGateway::new(&config.payment_gateway_url)),
        wixtar: Arc::new(HttpWixtarClient::new(&config.wixtar_api_url)),
        events: Arc::new(EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(&sdk), &config.event_bus_name)),
        clock: Arc::new(SystemClock),
    };
    let handler = PlanCheckout::new(&config, SigningSecrets { platform, payment }, deps);
    api::run_lambda(Arc::new(handler)).await
}
