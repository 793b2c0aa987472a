//! The merchant's invoice settings and Wixtar credentials (串接) as stored: plain attributes an
//! operator can read, except AES KEY and RID, which exist only as AES-256-GCM ciphertext
//! (`crypto.rs`, AAD = merchant id + field name).

use chrono::{DateTime, Utc};
use einvoice_domain::settings::{InvoiceSettings, IssueOn, Provider, WixtarCredentials};
use einvoice_domain::tax::{CustomsClearance, TaxKind, TaxSettings, ZeroRating, ZeroTaxReason};
use einvoice_domain::{RuleViolation, Ubn};
use serde::{Deserialize, Serialize};

use crate::crypto::{CryptoError, MasterKeys, Sealed};
use crate::store::keys;

/// AAD field names of the sealed credentials.
pub const RID_FIELD: &str = "rid";
pub const AES_KEY_FIELD: &str = "aes_key";

/// What the provider said about the credentials when they were saved (連線檢查).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialCheck {
    /// The provider answered with these credentials.
    Accepted,
    /// The provider could not be reached; saved unverified.
    Unreachable,
}

fn notices_on() -> bool {
    true
}

/// `MERCHANT#{merchant_id}` / `SETTINGS`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingsItem {
    pub pk: String,
    pub sk: String,
    pub entity: String,
    pub merchant_id: String,
    pub enabled: bool,
    pub provider: Provider,
    pub show_at_checkout: bool,
    pub issue_on: Vec<String>,
    /// 課稅別 of lines that do not say (absent on settings saved before tax types: taxable).
    #[serde(default)]
    pub default_tax_type: TaxKind,
    /// 通關方式 and 零稅率原因, for zero-rated lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customs_clearance: Option<CustomsClearance>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zero_tax_reason: Option<ZeroTaxReason>,
    /// Approved for TaxType 9 (mixed) invoices.
    #[serde(default)]
    pub mixed_tax_approved: bool,
    /// 買受人通知 (absent on settings saved before buyer notices: on).
    #[serde(default = "notices_on")]
    pub buyer_notices: bool,
    pub ubn: String,
    pub store_code: String,
    pub pos_code: String,
    pub pid: String,
    pub pname: String,
    /// 認證碼, sealed.
    pub rid: Sealed,
    /// AES KEY, sealed.
    pub aes_key: Sealed,
    pub credentials_check: CredentialCheck,
    pub checked_at: DateTime<Utc>,
    /// Optimistic-concurrency counter: 1 on the first save, +1 on each later one.
    pub version: u64,
    pub updated_at: DateTime<Utc>,
}

/// Why stored settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// A plain attribute no longer passes the domain's rules (edited by hand?).
    #[error("stored settings break a rule: {0}")]
    Invalid(RuleViolation),
}

impl SettingsItem {
    /// Seals `settings` for `merchant_id` under the current master key.
    pub fn seal(merchant_id: &str, settings: &InvoiceSettings, keys: &MasterKeys, check: CredentialCheck, version: u64, now: DateTime<Utc>) -> Self {
        let c = &settings.credentials;
        Self {
            pk: keys::merchant(merchant_id),
            sk: keys::SETTINGS.into(),
            entity: "invoice_settings".into(),
            merchant_id: merchant_id.into(),
            enabled: settings.enabled,
            provider: settings.provider,
            show_at_checkout: settings.show_at_checkout,
            buyer_notices: settings.buyer_notices,
            issue_on: settings.issue_on.names().into_iter().map(str::to_owned).collect(),
            default_tax_type: settings.tax.default_tax_type,
            customs_clearance: settings.tax.zero_rating.map(|z| z.customs_clearance),
            zero_tax_reason: settings.tax.zero_rating.map(|z| z.reason),
            mixed_tax_approved: settings.tax.mixed_tax_approved,
            ubn: c.ubn.to_string(),
            store_code: c.store_code.clone(),
            pos_code: c.pos_code.clone(),
            pid: c.pid.clone(),
            pname: c.pname.clone(),
            rid: keys.seal(merchant_id, RID_FIELD, &c.rid),
            aes_key: keys.seal(merchant_id, AES_KEY_FIELD, &c.aes_key),
            credentials_check: check,
            checked_at: now,
            version,
            updated_at: now,
        }
    }

    /// The settings in the clear. Fails if a sealed value was made for another merchant or
    /// field, was tampered with, or its master key is gone.
    pub fn open(&self, keys: &MasterKeys) -> Result<InvoiceSettings, SettingsError> {
        let rid = keys.open(&self.merchant_id, RID_FIELD, &self.rid)?;
        let aes_key = keys.open(&self.merchant_id, AES_KEY_FIELD, &self.aes_key)?;
        let credentials = WixtarCredentials {
            ubn: Ubn::parse(&self.ubn).map_err(SettingsError::Invalid)?,
            store_code: self.store_code.clone(),
            pos_code: self.pos_code.clone(),
            pid: self.pid.clone(),
            rid: rid.expose().to_owned(),
            pname: self.pname.clone(),
            aes_key: aes_key.expose().to_owned(),
        };
        Ok(InvoiceSettings {
            enabled: self.enabled,
            provider: self.provider,
            show_at_checkout: self.show_at_checkout,
            buyer_notices: self.buyer_notices,
            issue_on: IssueOn::parse(Some(&self.issue_on)).map_err(SettingsError::Invalid)?,
            tax: self.tax_settings(),
            credentials,
        })
    }

    /// The tax settings (no secret needed).
    pub fn tax_settings(&self) -> TaxSettings {
        let zero_rating = self.customs_clearance.zip(self.zero_tax_reason).map(|(customs_clearance, reason)| ZeroRating { customs_clearance, reason });
        TaxSettings { default_tax_type: self.default_tax_type, zero_rating, mixed_tax_approved: self.mixed_tax_approved }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn settings() -> InvoiceSettings {
        let wire: einvoice_domain::settings::InvoiceSettingsWire = serde_json::from_value(serde_json::json!({
            "enabled": true, "provider": "wixtar", "show_at_checkout": true, "issue_on": ["shipment", "payment"],
            "default_tax_type": "zero_rated", "customs_clearance": "customs", "zero_tax_reason": "72", "mixed_tax_approved": true,
            "credentials": {"ubn": "04595257", "store_code": "S001", "pos_code": "P01", "pid": "PID-1",
                "rid": "RID-Secret-0001", "pname": "小明商行", "aes_key": "0123456789abcdef0123456789ABCDEF"}
        }))
        .unwrap();
        wire.parse(None).unwrap()
    }

    #[test]
    fn sealed_items_hold_no_plaintext_and_open_back() {
        let keys = MasterKeys::from_secret(&Secret::new(MasterKeys::generate_json("k1"))).unwrap();
        let item = SettingsItem::seal("m1", &settings(), &keys, CredentialCheck::Accepted, 1, Utc::now());
        let stored = serde_json::to_string(&item).unwrap();
        assert!(!stored.contains("RID-Secret") && !stored.contains("0123456789abcdef"));
        assert_eq!(item.issue_on, ["payment", "shipment"]);
        assert_eq!(item.open(&keys).unwrap(), settings());
        let mut moved = item.clone();
        moved.merchant_id = "m2".into();
        assert_eq!(moved.open(&keys).unwrap_err(), SettingsError::Crypto(CryptoError::Undecryptable));
    }
}
