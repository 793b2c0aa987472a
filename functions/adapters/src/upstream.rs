//! Calling our HTTP providers (Wixtar, the payment gateway): one client, bounded timeouts,
//! and one mapping of transport failures and status codes to errors.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// What went wrong talking to a provider.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// Timeout, connection failure, 5xx or 429: the same call may succeed later.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// A 4xx: the provider refused this request; retrying it unchanged will not help.
    #[error("provider rejected the request ({status}): {message}")]
    Rejected { status: u16, message: String },
}

/// Makes rustls with ring the process's crypto provider (reqwest is built without one of its
/// own, so that aws-lc-rs is not linked). Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A reqwest client with the timeouts every provider call uses.
pub fn http_client() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(8))
        .pool_idle_timeout(Duration::from_secs(50))
        .build()
        .expect("the TLS stack initialises")
}

/// POSTs `body` as JSON and decodes a 2xx JSON answer.
pub async fn post_json<B: Serialize + ?Sized, T: DeserializeOwned>(client: &reqwest::Client, url: &str, body: &B) -> Result<T, UpstreamError> {
    let resp = client.post(url).json(body).send().await.map_err(|e| UpstreamError::Unavailable(transport(&e)))?;
    let status = resp.status();
    if status.is_success() {
        return resp.json().await.map_err(|e| UpstreamError::Unavailable(format!("unreadable answer: {}", transport(&e))));
    }
    let message = resp.text().await.unwrap_or_default().chars().take(300).collect::<String>();
    if status.is_server_error() || status.as_u16() == 429 {
        Err(UpstreamError::Unavailable(format!("HTTP {status}: {message}")))
    } else {
        Err(UpstreamError::Rejected { status: status.as_u16(), message })
    }
}

fn transport(e: &reqwest::Error) -> String {
    // URLs carry no secret: credentials travel in bodies.
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_decode() {
        "bad body"
    } else {
        "transport error"
    };
    format!("{kind}: {e}")
}
