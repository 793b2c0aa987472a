//! Wires config, AWS clients and the notifier handler into the Lambda runtime.

use std::sync::Arc;

use einvoice_adapters::mail::SesMailer;
use einvoice_adapters::store::Store;
use einvoice_adapters::{aws, events, telemetry};
use einvoice_domain::SystemClock;
use notifier::{Config, Dependencies, Notifier};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let sdk = aws::sdk_config().await;
    let deps = Dependencies {
        store: Arc::new(Store::new(aws_sdk_dynamodb::Client::new(&sdk), &config.table_name)),
        mailer: Arc::new(SesMailer::new(SesMailer::client(&sdk), &config.mail_from)),
        clock: Arc::new(SystemClock),
    };
    events::run_lambda(Arc::new(Notifier::new(&config, deps))).await
}
