//! Configuration from the environment (set by template.yaml in AWS, by the local stack here).

use einvoice_domain::PlanCatalogue;
use serde::{Deserialize, Serialize};

/// A missing or unusable setting; fatal at cold start.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// A master key set that does not open is fatal at cold start like any other setting.
impl From<crate::crypto::CryptoError> for ConfigError {
    fn from(e: crate::crypto::CryptoError) -> Self {
        Self(e.to_string())
    }
}

/// A function's environment variables: the Lambda's own ([`ProcessEnv`]), or the ones the local
/// stack resolves from the function's `Environment` in template.yaml (a map).
pub trait Vars {
    fn var(&self, name: &str) -> Option<String>;

    fn required(&self, name: &str) -> Result<String, ConfigError> {
        self.var(name).ok_or_else(|| ConfigError(format!("environment variable {name} is not set")))
    }

    fn optional(&self, name: &str, default: &str) -> String {
        self.var(name).unwrap_or_else(|| default.to_owned())
    }

    /// A number, `default` when unset; set but not a number is an error.
    fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, ConfigError> {
        match self.var(name) {
            None => Ok(default),
            Some(text) => text.trim().parse().map_err(|_| ConfigError(format!("{name} is not a number: {text:?}"))),
        }
    }
}

/// The process environment (a Lambda's `Environment` from template.yaml).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Vars for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Vars for std::collections::BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
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
    pub fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        match vars.var("WIXTAR_CONTACT") {
            Some(json) if !json.trim().is_empty() => serde_json::from_str(&json).map_err(|e| ConfigError(format!("WIXTAR_CONTACT is not valid: {e}"))),
            _ => Ok(Self::default()),
        }
    }
}
