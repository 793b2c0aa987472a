//! AWS SDK set-up shared by every function and the local stack.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::error::DisplayErrorContext;

use crate::secret::Secret;

/// Loads region, credentials and endpoint from the environment (`AWS_ENDPOINT_URL` points the
/// clients at moto locally). One TLS stack: the HTTPS client is rustls with ring, the same
/// crypto provider reqwest gets (see [`crate::upstream::install_crypto_provider`]).
pub async fn sdk_config() -> SdkConfig {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    crate::upstream::install_crypto_provider();
    let https = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(https).load().await
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
