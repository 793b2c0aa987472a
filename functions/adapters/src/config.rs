//! Configuration from the environment (set by template.yaml in AWS, by the local stack here).

use einvoice_domain::PlanCatalogue;
use serde::{Deserialize, Serialize};

/// A missing or unusable setting; fatal at cold start.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

pub fn required(name: &str) -> Result<String, ConfigError> {
    std::env::var(name).map_err(|_| ConfigError(format!("environment variable {name} is not set")))
}

pub fn optional(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Prices of the plan catalogue, `PLAN_CATALOGUE` (JSON object months → TWD).
pub fn plan_catalogue(json: &str) -> Result<PlanCatalogue, ConfigError> {
    PlanCatalogue::from_json(json).map_err(ConfigError)
}

/// 美麗科技 contact details sent to the merchant after the first payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WixtarContact {
    pub name: String,
    pub phone: String,
    pub email: String,
    pub website: String,
}

impl Default for WixtarContact {
    fn default() -> Self {
        Self {
            name: "美麗科技 Wixtar".into(),
            phone: "02-2711-9528 #240".into(),
            email: "service@wixtar.com".into(),
            website: "https://www.wixtar.com/product/e-invoice".into(),
        }
    }
}

impl WixtarContact {
    /// `WIXTAR_CONTACT` as JSON, or the published defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        match std::env::var("WIXTAR_CONTACT") {
            Ok(json) if !json.trim().is_empty() => serde_json::from_str(&json).map_err(|e| ConfigError(format!("WIXTAR_CONTACT is not valid: {e}"))),
            _ => Ok(Self::default()),
        }
    }
}
