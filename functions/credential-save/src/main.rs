//! The credential-save Lambda: its cold start ([`wiring::cold_start`]) and the HTTP runtime.

use credential_save::CredentialSave;
use einvoice_adapters::{api, wiring};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    api::run_lambda(wiring::cold_start::<CredentialSave>().await?).await
}
