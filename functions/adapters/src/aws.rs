//! AWS SDK set-up shared by every function and the local stack.

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_dynamodb::config::BehaviorVersion;
use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
use aws_smithy_async::time::{SharedTimeSource, SystemTimeSource};
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::SdkConfig;
use aws_types::region::Region;
use aws_sdk_dynamodb::error::DisplayErrorContext;

use crate::secret::Secret;

/// The SDK configuration from the environment, as Lambda sets it: `AWS_REGION`, the execution
/// role's `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, and
/// `AWS_ENDPOINT_URL` (moto, locally). Built directly rather than through aws-config, whose
/// provider chains (profiles, SSO, STS, IMDS) a Lambda never uses. Standard retries (3
/// attempts), a 3.1 s connect timeout. One TLS stack: the HTTPS client is rustls with ring, the
/// crypto provider reqwest gets too (see [`crate::upstream::install_crypto_provider`]).
pub async fn sdk_config() -> SdkConfig {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    crate::upstream::install_crypto_provider();
    let https = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mut config = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")).map(Region::new))
        .http_client(https)
        .sleep_impl(SharedAsyncSleep::new(TokioSleep::new()))
        .time_source(SharedTimeSource::new(SystemTimeSource::new()))
        .retry_config(RetryConfig::standard())
        .timeout_config(TimeoutConfig::builder().connect_timeout(Duration::from_millis(3100)).build());
    if let (Some(id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        let credentials = Credentials::new(id, secret, env("AWS_SESSION_TOKEN"), None, "environment");
        config = config.credentials_provider(SharedCredentialsProvider::new(credentials));
    }
    if let Some(url) = env("AWS_ENDPOINT_URL") {
        config = config.endpoint_url(url);
    }
    config.build()
}

/// Renders an SDK error with its whole source chain, for logs (never for responses).
pub fn describe<E: std::error::Error>(err: &E) -> String {
    DisplayErrorContext(err).to_string()
}

/// Reads a secret's string value once (cold start); the id is a name or an ARN.
pub async fn read_secret(client: &aws_sdk_secretsmanager::Client, secret_id: &str) -> Result<Secret, String> {
    let out = client.get_secret_value().secret_id(secret_id).send().await.map_err(|e| format!("cannot read secret {secret_id}: {}", describe(&e)))?;
    out.secret_string().map(Secret::new).ok_or_else(|| format!("secret {secret_id} has no string value"))
}

/// Reads several secrets at once (cold start), in the order of `ids`.
pub async fn read_secrets<const N: usize>(sdk: &SdkConfig, ids: [&str; N]) -> Result<[Secret; N], String> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let mut tasks = tokio::task::JoinSet::new();
    for (i, id) in ids.into_iter().enumerate() {
        let (client, id) = (client.clone(), id.to_owned());
        tasks.spawn(async move { (i, read_secret(&client, &id).await) });
    }
    let mut read: [Option<Secret>; N] = std::array::from_fn(|_| None);
    while let Some(done) = tasks.join_next().await {
        let (i, secret) = done.map_err(|e| format!("reading a secret panicked: {e}"))?;
        read[i] = Some(secret?);
    }
    Ok(read.map(|s| s.expect("every secret was read")))
}
