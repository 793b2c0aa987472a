//! 串接設定: the merchant's Wixtar credentials and invoice settings, parsed so that only valid
//! values exist, and the warnings a merchant should see when saving them.
//!
//! Field limits (docs/credentials.md gives the reasons): Wixtar's POS SDK identifies a shop by
//! short ASCII codes, so store code, POS code and PID are 1–20/1–20/1–40 of `A-Z a-z 0-9 - _`;
//! RID is 1–64 printable ASCII without spaces; PNAME is 1–60 characters of any script; the AES
//! KEY is exactly 32 hexadecimal characters (AES-128, used for the QR verification block).

use serde::{Deserialize, Serialize};

use crate::rule::RuleViolation;
use crate::tax::TaxSettings;
use crate::ubn::Ubn;

/// When an invoice is issued (發票開立時間).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueTrigger {
    /// 付款時: payment status becomes paid (已收到款項).
    Payment,
    /// 出貨時: delivery status becomes shipped (已出貨). The recommended default.
    Shipment,
    /// 取貨時: delivery status becomes received (已收貨); only for tracked carriers.
    Pickup,
}

impl IssueTrigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Payment => "payment",
            Self::Shipment => "shipment",
            Self::Pickup => "pickup",
        }
    }

    pub fn parse(s: &str) -> Result<Self, RuleViolation> {
        match s {
            "payment" => Ok(Self::Payment),
            "shipment" => Ok(Self::Shipment),
            "pickup" => Ok(Self::Pickup),
            other => {
                Err(RuleViolation::on_field("invalid_issue_on", "issue_on", format!("issue_on entries must be payment, shipment or pickup (got {other:?})")))
            }
        }
    }
}

/// A non-empty, duplicate-free, ordered set of triggers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssueOn(Vec<IssueTrigger>);

impl IssueOn {
    /// `None` means "not given": shipment, the recommended default.
    pub fn parse(values: Option<&[String]>) -> Result<Self, RuleViolation> {
        let Some(values) = values else {
            return Ok(Self(vec![IssueTrigger::Shipment]));
        };
        let mut triggers = values.iter().map(|v| IssueTrigger::parse(v)).collect::<Result<Vec<_>, _>>()?;
        triggers.sort();
        triggers.dedup();
        if triggers.is_empty() {
            return Err(RuleViolation::on_field("invalid_issue_on", "issue_on", "issue_on needs at least one of payment, shipment, pickup"));
        }
        Ok(Self(triggers))
    }

    pub fn contains(&self, t: IssueTrigger) -> bool {
        self.0.contains(&t)
    }

    pub fn triggers(&self) -> &[IssueTrigger] {
        &self.0
    }

    /// The wire names, in lifecycle order (`["payment", "shipment"]`).
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|t| t.as_str()).collect()
    }
}

/// A warning shown after saving settings that are allowed but probably not what the merchant wants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingsWarning {
    pub code: &'static str,
    pub message: &'static str,
}

/// What the merchant should be told about these choices.
pub fn settings_warnings(issue_on: &IssueOn, show_at_checkout: bool) -> Vec<SettingsWarning> {
    let mut warnings = Vec::new();
    if issue_on.contains(IssueTrigger::Pickup) && !issue_on.contains(IssueTrigger::Shipment) {
        warnings.push(SettingsWarning {
            code: "pickup_without_shipment",
            message: "Orders shipped with custom logistics never reach 'received', so with only pickup selected they can never be invoiced; select shipment too (自訂物流請勾選出貨時).",
        });
    }
    if issue_on.contains(IssueTrigger::Payment) {
        warnings.push(SettingsWarning {
            code: "issue_on_payment",
            message: "Invoices issued at payment must be voided when buyers cancel before shipping; shipment is recommended.",
        });
    }
    if !show_at_checkout {
        warnings.push(SettingsWarning {
            code: "show_at_checkout_off",
            message: "'Show invoice at checkout' is off: no invoice will be issued automatically (記得開啟結帳頁顯示發票).",
        });
    }
    warnings
}

fn ascii_code(value: &Option<String>, field: &str, max: usize, extra: &[u8]) -> Result<String, RuleViolation> {
    let v = value.as_deref().unwrap_or_default();
    if v.is_empty() {
        return Err(RuleViolation::on_field("missing_field", field, format!("{field} is required")));
    }
    if v.len() > max {
        return Err(RuleViolation::on_field("field_too_long", field, format!("{field} is longer than {max} characters")));
    }
    if !v.bytes().all(|b| b.is_ascii_alphanumeric() || extra.contains(&b)) {
        return Err(RuleViolation::on_field("invalid_field", field, format!("{field} has characters Wixtar does not issue")));
    }
    Ok(v.to_owned())
}

/// The seven values Wixtar gives a POS machine (from 美麗科技加值中心 → 營業人資訊 → 下載).
#[derive(Clone, PartialEq, Eq)]
pub struct WixtarCredentials {
    pub ubn: Ubn,
    pub store_code: String,
    pub pos_code: String,
    pub pid: String,
    /// 認證碼: secret.
    pub rid: String,
    pub pname: String,
    /// 32 hex characters: secret.
    pub aes_key: String,
}

impl std::fmt::Debug for WixtarCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WixtarCredentials")
            .field("ubn", &self.ubn)
            .field("store_code", &self.store_code)
            .field("pos_code", &self.pos_code)
            .field("pid", &self.pid)
            .field("rid", &"***")
            .field("pname", &self.pname)
            .field("aes_key", &"***")
            .finish()
    }
}

/// The credentials as they arrive.
#[derive(Debug, Default, Deserialize)]
pub struct CredentialsWire {
    pub ubn: Option<String>,
    pub store_code: Option<String>,
    pub pos_code: Option<String>,
    pub pid: Option<String>,
    pub rid: Option<String>,
    pub pname: Option<String>,
    pub aes_key: Option<String>,
}

/// `••••1234` style masking (遮罩): every character but the last 4 replaced by `*`; a value of
/// 4 characters or fewer is masked whole (its "last 4" would be all of it).
pub fn mask_last4(value: &str) -> String {
    let n = value.chars().count();
    if n <= 4 {
        return "*".repeat(n);
    }
    let keep: String = value.chars().skip(n - 4).collect();
    format!("{}{}", "*".repeat(n.saturating_sub(4)), keep)
}

/// A field of an update: omitted keeps the stored value; for a secret, sending back the
/// masked value the API showed also keeps it (a form that round-trips a GET changes nothing).
fn updated(given: Option<String>, stored: Option<&str>, secret: bool) -> Option<String> {
    match (given, stored) {
        (None, Some(old)) => Some(old.to_owned()),
        (Some(new), Some(old)) if secret && new == mask_last4(old) => Some(old.to_owned()),
        (given, _) => given,
    }
}

impl CredentialsWire {
    /// Whether every field is given (nothing would be taken from stored values).
    pub fn is_complete(&self) -> bool {
        [&self.ubn, &self.store_code, &self.pos_code, &self.pid, &self.rid, &self.pname, &self.aes_key].iter().all(|f| f.is_some())
    }

    /// Checks each field; violations name `credentials.<field>`.
    pub fn parse(self) -> Result<WixtarCredentials, RuleViolation> {
        self.parse_over(None)
    }

    /// Checks an update of `stored`: omitted fields keep their stored values (see [`updated`]).
    pub fn parse_over(self, stored: Option<&WixtarCredentials>) -> Result<WixtarCredentials, RuleViolation> {
        let field = |name: &str| format!("credentials.{name}");
        let old = |pick: fn(&WixtarCredentials) -> String| stored.map(pick);
        let keep = |given: Option<String>, pick: fn(&WixtarCredentials) -> String, secret: bool| updated(given, old(pick).as_deref(), secret);
        let ubn = keep(self.ubn, |c| c.ubn.to_string(), false);
        let ubn = Ubn::parse(ubn.as_deref().unwrap_or_default()).map_err(|e| e.at(field("ubn")))?;
        let store_code = ascii_code(&keep(self.store_code, |c| c.store_code.clone(), false), &field("store_code"), 20, b"-_")?;
        let pos_code = ascii_code(&keep(self.pos_code, |c| c.pos_code.clone(), false), &field("pos_code"), 20, b"-_")?;
        let pid = ascii_code(&keep(self.pid, |c| c.pid.clone(), false), &field("pid"), 40, b"-_")?;
        let printable: Vec<u8> = (b'!'..=b'~').filter(|b| !b.is_ascii_alphanumeric()).collect();
        let rid = ascii_code(&keep(self.rid, |c| c.rid.clone(), true), &field("rid"), 64, &printable)?;
        let pname = crate::checkout::text(&keep(self.pname, |c| c.pname.clone(), false), &field("pname"), 60)?;
        let aes_key = keep(self.aes_key, |c| c.aes_key.clone(), true).unwrap_or_default();
        if aes_key.len() != 32 || !aes_key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(RuleViolation::on_field("invalid_aes_key", field("aes_key"), "credentials.aes_key must be exactly 32 hexadecimal characters"));
        }
        Ok(WixtarCredentials { ubn, store_code, pos_code, pid, rid, pname, aes_key })
    }
}

/// The e-invoice provider (加值中心) that issues the merchant's invoices. Only Wixtar today; a
/// second provider (e.g. ECPay) is a new variant with its own credentials and client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Wixtar,
}

impl Provider {
    pub fn parse(s: &str) -> Result<Self, RuleViolation> {
        match s {
            "wixtar" => Ok(Self::Wixtar),
            other => Err(RuleViolation::on_field("unsupported_provider", "provider", format!("provider must be \"wixtar\" (got {other:?})"))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Wixtar => "wixtar",
        }
    }
}

/// 發票設定: whether and when invoices are issued, and with which provider credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceSettings {
    /// 啟用電子發票.
    pub enabled: bool,
    pub provider: Provider,
    /// 結帳頁顯示發票: without it nothing is issued automatically.
    pub show_at_checkout: bool,
    pub issue_on: IssueOn,
    /// 課稅別: default line kind, zero-rating details, TaxType 9 approval.
    pub tax: TaxSettings,
    pub credentials: WixtarCredentials,
    /// 買受人通知: the buyer is mailed when an invoice is issued, voided or given an allowance
    /// (on unless the platform mails its own notices).
    pub buyer_notices: bool,
}

/// The settings body as it arrives (`PUT …/invoice-settings`).
#[derive(Debug, Default, Deserialize)]
pub struct InvoiceSettingsWire {
    pub enabled: Option<bool>,
    pub provider: Option<String>,
    pub show_at_checkout: Option<bool>,
    pub issue_on: Option<Vec<String>>,
    /// `taxable` (default), `zero_rated` or `tax_free`.
    pub default_tax_type: Option<String>,
    /// `customs` (經海關出口) or `non_customs` (非經海關出口).
    pub customs_clearance: Option<String>,
    /// MIG zero-tax-rate reason, `"71"`–`"79"`.
    pub zero_tax_reason: Option<String>,
    /// Approved for TaxType 9 (mixed) invoices.
    pub mixed_tax_approved: Option<bool>,
    /// Mail the buyer about their invoices (default on).
    pub buyer_notices: Option<bool>,
    pub credentials: Option<CredentialsWire>,
}

impl InvoiceSettingsWire {
    /// Checks a save over what is `stored` (None for the first save). `enabled` and `provider`
    /// are required; `show_at_checkout` defaults to off, `issue_on` to shipment and the tax
    /// settings to taxable ([`TaxSettings::parse`]); credential fields left out keep their
    /// stored values.
    pub fn parse(self, stored: Option<&WixtarCredentials>) -> Result<InvoiceSettings, RuleViolation> {
        let enabled = self.enabled.ok_or_else(|| RuleViolation::on_field("missing_field", "enabled", "enabled is required"))?;
        let provider = Provider::parse(self.provider.as_deref().ok_or_else(|| RuleViolation::on_field("missing_field", "provider", "provider is required"))?)?;
        let issue_on = IssueOn::parse(self.issue_on.as_deref())?;
        let tax =
            TaxSettings::parse(self.default_tax_type.as_deref(), self.customs_clearance.as_deref(), self.zero_tax_reason.as_deref(), self.mixed_tax_approved)?;
        let credentials = match (self.credentials, stored) {
            (Some(wire), stored) => wire.parse_over(stored)?,
            (None, Some(stored)) => stored.clone(),
            (None, None) => {
                return Err(RuleViolation::on_field("missing_field", "credentials", "credentials are required on the first save"));
            }
        };
        let show_at_checkout = self.show_at_checkout.unwrap_or(false);
        Ok(InvoiceSettings { enabled, provider, show_at_checkout, issue_on, tax, credentials, buyer_notices: self.buyer_notices.unwrap_or(true) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire() -> CredentialsWire {
        CredentialsWire {
            ubn: Some("04595257".into()),
            store_code: Some("S001".into()),
            pos_code: Some("POS01".into()),
            pid: Some("PID-123456".into()),
            rid: Some("Rid!Secret#2026".into()),
            pname: Some("小明商行 POS".into()),
            aes_key: Some("0123456789abcdef0123456789ABCDEF".into()),
        }
    }

    #[test]
    fn valid_credentials_parse_and_never_debug_print_secrets() {
        let c = wire().parse().unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("Rid!Secret") && !shown.contains("0123456789abcdef"));
    }

    #[test]
    fn each_field_is_checked() {
        type Edit = fn(&mut CredentialsWire);
        let cases: Vec<(Edit, &str, &str)> = vec![
            (|w| w.ubn = Some("12345678".into()), "invalid_ubn", "credentials.ubn"),
            (|w| w.store_code = None, "missing_field", "credentials.store_code"),
            (|w| w.store_code = Some("門市".into()), "invalid_field", "credentials.store_code"),
            (|w| w.pos_code = Some("P".repeat(21)), "field_too_long", "credentials.pos_code"),
            (|w| w.pid = Some("a b".into()), "invalid_field", "credentials.pid"),
            (|w| w.rid = Some("has space".into()), "invalid_field", "credentials.rid"),
            (|w| w.pname = Some("".into()), "missing_field", "credentials.pname"),
            (|w| w.aes_key = Some("0123".into()), "invalid_aes_key", "credentials.aes_key"),
            (|w| w.aes_key = Some("g123456789abcdef0123456789abcdef".into()), "invalid_aes_key", "credentials.aes_key"),
        ];
        for (edit, code, field) in cases {
            let mut w = wire();
            edit(&mut w);
            let e = w.parse().unwrap_err();
            assert_eq!((e.code, e.field.as_deref()), (code, Some(field)));
        }
    }

    #[test]
    fn an_update_keeps_omitted_and_masked_fields() {
        let stored = wire().parse().unwrap();
        let update = CredentialsWire { store_code: Some("S002".into()), rid: Some(mask_last4(&stored.rid)), ..Default::default() };
        let c = update.parse_over(Some(&stored)).unwrap();
        assert_eq!(c.store_code, "S002");
        assert_eq!((c.rid.as_str(), c.aes_key.as_str(), c.pid.as_str()), (stored.rid.as_str(), stored.aes_key.as_str(), "PID-123456"));
        // A new secret replaces the old one; a bad one is refused even on update.
        let c = CredentialsWire { rid: Some("New-RID".into()), ..Default::default() }.parse_over(Some(&stored)).unwrap();
        assert_eq!(c.rid, "New-RID");
        let e = CredentialsWire { aes_key: Some("xyz".into()), ..Default::default() }.parse_over(Some(&stored)).unwrap_err();
        assert_eq!(e.code, "invalid_aes_key");
        // Nothing stored: every field is required.
        assert_eq!(CredentialsWire::default().parse_over(None).unwrap_err().field.as_deref(), Some("credentials.ubn"));
    }

    #[test]
    fn settings_need_enabled_provider_and_first_credentials() {
        let parse = |v: serde_json::Value, stored: Option<&WixtarCredentials>| serde_json::from_value::<InvoiceSettingsWire>(v).unwrap().parse(stored);
        let e = parse(serde_json::json!({"provider": "wixtar"}), None).unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), ("missing_field", Some("enabled")));
        let e = parse(serde_json::json!({"enabled": true, "provider": "ecpay"}), None).unwrap_err();
        assert_eq!(e.code, "unsupported_provider");
        let e = parse(serde_json::json!({"enabled": true, "provider": "wixtar"}), None).unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), ("missing_field", Some("credentials")));
        let stored = wire().parse().unwrap();
        let s = parse(serde_json::json!({"enabled": true, "provider": "wixtar"}), Some(&stored)).unwrap();
        assert_eq!((s.show_at_checkout, s.issue_on.names()), (false, vec!["shipment"]));
        assert_eq!(s.credentials, stored);
    }

    #[test]
    fn masking_keeps_the_last_four() {
        assert_eq!(mask_last4("super-secret-value"), "**************alue");
        assert_eq!(mask_last4("abcd"), "****");
        assert_eq!(mask_last4("門市代碼五"), "*市代碼五");
    }

    #[test]
    fn issue_on_defaults_to_shipment_and_must_not_be_empty() {
        assert_eq!(IssueOn::parse(None).unwrap().triggers(), [IssueTrigger::Shipment]);
        let both = IssueOn::parse(Some(&["pickup".into(), "shipment".into(), "pickup".into()])).unwrap();
        assert_eq!(both.triggers(), [IssueTrigger::Shipment, IssueTrigger::Pickup]);
        assert_eq!(IssueOn::parse(Some(&[])).unwrap_err().code, "invalid_issue_on");
        assert_eq!(IssueOn::parse(Some(&["delivery".into()])).unwrap_err().code, "invalid_issue_on");
    }

    #[test]
    fn warnings() {
        let codes = |on: &[&str], show| {
            let on: Vec<String> = on.iter().map(|s| s.to_string()).collect();
            settings_warnings(&IssueOn::parse(Some(&on)).unwrap(), show).iter().map(|w| w.code).collect::<Vec<_>>()
        };
        assert!(codes(&["shipment"], true).is_empty());
        assert_eq!(codes(&["pickup"], true), ["pickup_without_shipment"]);
        assert!(codes(&["pickup", "shipment"], true).is_empty());
        assert_eq!(codes(&["payment"], true), ["issue_on_payment"]);
        assert_eq!(codes(&["shipment"], false), ["show_at_checkout_off"]);
    }
}
