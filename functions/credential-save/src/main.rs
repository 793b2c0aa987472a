//! Wires config, AWS clients and the credential-save handler into the Lambda runtime.

use std::sync::Arc;

use credential_save::{Config, CredentialSave, Dependencies};
use einvoice_adapters::crypto::MasterKeys;
use einvoice_adapters::provider::{Providers, WixtarProvider};
use einvoice_adapters::store::Store;
use einvoice_adapters::wixtar::HttpWixtarClient;
use einvoice_adapters::{api, aws, telemetry};
use einvoice_domain::SystemClock;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    telemetry::init();
    let config = Config::from_env()?;
    let sdk = aws::sdk_config().await;
    let [platform, master] = aws::read_secrets(&sdk, [&config.platform_secret_id, &config.master_key_secret_id]).await?;
    let deps = Dependencies {
        store: Arc::new(Store::new(aws_sdk_dynamodb::Client::new(&sdk), &config.table_name)),
        providers: Providers { wixtar: Arc::new(WixtarProvider(Arc::new(HttpWixtarClient::new(&config.wixtar_api_url)))) },
        master_keys: MasterKeys::from_secret(&master)?,
        platform_secret: platform,
        clock: Arc::new(SystemClock),
    };
    api::run_lambda(Arc::new(CredentialSave::new(deps))).await
}
