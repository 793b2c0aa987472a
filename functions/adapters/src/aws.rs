//! AWS SDK set-up shared by every function and the local stack.

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::error::DisplayErrorContext;

use crate::secret::Secret;

/// Loads region, credentials and endpoint from the environment (`AWS_ENDPOINT_URL` points the
/// clients at moto locally).
pub async fn sdk_config() -> SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

/// Renders an SDK error with its whole source chain, for logs (never for responses).
pub fn describe<E: std::error::Error>(err: &E) -> String {
    DisplayErrorContext(err).to_string()
}

/// Reads a secret's string value once (cold start); the id is a name or an ARN.
pub async fn read_secret(client: &aws_sdk_secretsmanager::Client, secret_id: &str) -> Result<Secret, String> {
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| format!("cannot read secret {secret_id}: {}", describe(&e)))?;
    out.secret_string().map(Secret::new).ok_or_else(|| format!("secret {secret_id} has no string value"))
}
