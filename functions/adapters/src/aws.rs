//! AWS SDK set-up shared by every function and the local stack.

use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_dynamodb::config::BehaviorVersion;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};
use aws_smithy_async::time::{SharedTimeSource, SystemTimeSource};
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::SdkConfig;
use aws_types::region::Region;

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

/// Reads the secrets a function needs at cold start, in the order of `ids`, in one round trip:
/// `GetSecretValue` for one, `BatchGetSecretValue` for several (one call instead of N, which
/// the cold start would otherwise wait for side by side at best).
pub async fn read_secrets<const N: usize>(sdk: &SdkConfig, ids: [&str; N]) -> Result<[Secret; N], String> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    if let [id] = ids[..] {
        let secret = read_secret(&client, id).await?;
        return Ok(std::array::from_fn(|_| secret.clone()));
    }
    let out = client
        .batch_get_secret_value()
        .set_secret_id_list(Some(ids.iter().map(|id| (*id).to_owned()).collect()))
        .send()
        .await
        .map_err(|e| format!("cannot read secrets {}: {}", ids.join(", "), describe(&e)))?;
    if let Some(e) = out.errors().first() {
        return Err(format!("cannot read secret {}: {}", e.secret_id().unwrap_or("?"), e.error_code().unwrap_or("error")));
    }
    let mut read: [Option<Secret>; N] = std::array::from_fn(|_| None);
    for value in out.secret_values() {
        let named = |id: &&str| value.arn() == Some(*id) || value.name() == Some(*id);
        if let Some(i) = ids.iter().position(|id| named(&id)) {
            read[i] = value.secret_string().map(Secret::new);
        }
    }
    let missing: Vec<&str> = ids.iter().zip(&read).filter(|(_, s)| s.is_none()).map(|(id, _)| *id).collect();
    if !missing.is_empty() {
        return Err(format!("secrets without a string value: {}", missing.join(", ")));
    }
    Ok(read.map(|s| s.expect("every secret was read")))
}
