//! The issuer's settings (template.yaml's `Environment`) and its in-invocation upload retries.

use std::time::Duration;

use einvoice_adapters::config::{ConfigError, Vars};

/// Settings from the environment (template.yaml sets them in AWS).
#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub event_bus_name: String,
    pub wixtar_api_url: String,
    pub master_key_secret_id: String,
    pub upload: UploadPolicy,
}

impl Config {
    pub fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: vars.required("TABLE_NAME")?,
            event_bus_name: vars.required("EVENT_BUS_NAME")?,
            wixtar_api_url: vars.required("WIXTAR_API_URL")?,
            master_key_secret_id: vars.required("CREDENTIAL_MASTER_KEY_SECRET_ID")?,
            upload: UploadPolicy {
                max_attempts: vars.number("UPLOAD_MAX_ATTEMPTS", 4)?,
                base_delay: Duration::from_millis(vars.number("UPLOAD_BASE_DELAY_MS", 250)?),
            },
        })
    }
}

/// Upload retries within one invocation: exponential backoff with full jitter, bounded.
#[derive(Debug, Clone, Copy)]
pub struct UploadPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
}

impl UploadPolicy {
    /// The pause before attempt `n + 1` (n ≥ 1): a random time up to base × 2^(n−1).
    pub(crate) fn backoff(&self, n: u32) -> Duration {
        let cap = self.base_delay.saturating_mul(1 << n.saturating_sub(1).min(10));
        cap.mul_f64(rand::random::<f64>())
    }
}
