//! credential-save Lambda (串接): the merchant's Wixtar credentials and invoice settings.
//!
//! `PUT /v1/merchants/{merchant_id}/invoice-settings` checks every field, asks Wixtar whether
//! it knows the credentials, seals AES KEY and RID (AES-256-GCM) and saves; `GET` returns the
//! settings with both secrets masked (last 4).

use std::sync::Arc;

use einvoice_adapters::api::{self, ApiError, ApiRequest, ApiResponse, HttpHandler};
use einvoice_adapters::config::{ConfigError, Vars};
use einvoice_adapters::crypto::MasterKeys;
use einvoice_adapters::provider::{Providers, WixtarProvider};
use einvoice_adapters::secret::Secret;
use einvoice_adapters::settings::{CredentialCheck, SettingsError, SettingsItem};
use einvoice_adapters::store::{PlanItem, PlanStore, SettingsStore, StoreError};
use einvoice_adapters::upstream::UpstreamError;
use einvoice_adapters::wiring::{Edges, Function};
use chrono::{DateTime, Utc};
use einvoice_domain::settings::{InvoiceSettings, InvoiceSettingsWire, Provider, SettingsWarning, mask_last4, settings_warnings};
use einvoice_domain::tax::{CustomsClearance, TaxKind, ZeroTaxReason};
use einvoice_domain::{Clock, PlanStatus, Ubn};
use http::{Method, StatusCode};
use serde::Serialize;

/// Settings from the environment (template.yaml sets them in AWS).
#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub wixtar_api_url: String,
    pub platform_secret_id: String,
    pub master_key_secret_id: String,
}

impl Config {
    pub fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: vars.required("TABLE_NAME")?,
            wixtar_api_url: vars.required("WIXTAR_API_URL")?,
            platform_secret_id: vars.required("PLATFORM_SIGNING_SECRET_ID")?,
            master_key_secret_id: vars.required("CREDENTIAL_MASTER_KEY_SECRET_ID")?,
        })
    }
}

impl Function for CredentialSave {
    type Config = Config;

    fn config(vars: &impl Vars) -> Result<Config, ConfigError> {
        Config::from_vars(vars)
    }

    async fn wire(config: &Config, edges: &impl Edges) -> Result<Self, ConfigError> {
        let [platform_secret, master] = edges.secrets([&config.platform_secret_id, &config.master_key_secret_id]).await?;
        Ok(Self::new(Dependencies {
            store: Arc::new(edges.store(&config.table_name)),
            providers: Providers { wixtar: Arc::new(WixtarProvider(edges.wixtar(&config.wixtar_api_url))) },
            master_keys: MasterKeys::from_secret(&master)?,
            platform_secret,
            clock: edges.clock(),
        }))
    }
}

/// What credential-save needs from the table: the settings, and the plan they activate.
pub trait CredentialStore: SettingsStore + PlanStore {}
impl<T: SettingsStore + PlanStore + ?Sized> CredentialStore for T {}

/// The outside world the handler needs.
pub struct Dependencies {
    pub store: Arc<dyn CredentialStore>,
    pub providers: Providers,
    pub master_keys: MasterKeys,
    pub platform_secret: Secret,
    pub clock: Arc<dyn Clock>,
}

/// The handler.
pub struct CredentialSave {
    deps: Dependencies,
}

const PROVIDER_UNREACHABLE: SettingsWarning = SettingsWarning {
    code: "provider_unreachable",
    message: "Wixtar could not be reached to check these credentials; they were saved unchecked and are checked again when invoices are issued.",
};

const PLAN_NOT_PAID: SettingsWarning =
    SettingsWarning { code: "plan_not_paid", message: "No paid Wixtar plan yet: invoices are issued once a plan is paid (購買方案後才會開立發票)." };

fn unreadable(e: SettingsError) -> ApiError {
    tracing::error!(error = %e, "stored credentials cannot be opened");
    ApiError::conflict(
        "stored_credentials_unreadable",
        "the stored credentials cannot be decrypted for this merchant; save every credential field again to replace them",
    )
}

impl CredentialSave {
    pub fn new(deps: Dependencies) -> Self {
        Self { deps }
    }

    async fn route(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let merchant = match req.segments()[..] {
            ["v1", "merchants", m, "invoice-settings"] => m,
            _ => return Err(ApiError::route_not_found(req)),
        };
        if req.method != Method::GET && req.method != Method::PUT {
            return Err(ApiError::method_not_allowed(req));
        }
        api::authenticate(req, &self.deps.platform_secret)?;
        let merchant = api::record_merchant(merchant)?;
        if req.method == Method::PUT { self.save(&merchant, req).await } else { self.read(&merchant).await }
    }

    /// `PUT`: validate, check with the provider, seal, save. Nothing is written on any error.
    async fn save(&self, merchant_id: &str, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let wire: InvoiceSettingsWire = req.json()?;
        let stored = self.deps.store.settings(merchant_id).await?;
        let (previous, unreadable_error) = match stored.as_ref().map(|item| item.open(&self.deps.master_keys)) {
            Some(Ok(settings)) => (Some(settings), None),
            Some(Err(e)) => (None, Some(e)),
            None => (None, None),
        };
        if let Some(e) = unreadable_error {
            // Fields left out would keep values that can no longer be read.
            if !wire.credentials.as_ref().is_some_and(|c| c.is_complete()) {
                return Err(unreadable(e));
            }
        }
        let settings = wire.parse(previous.as_ref().map(|s| &s.credentials))?;

        let now = self.deps.clock.now();
        let check = self.check_with_provider(&settings).await?;
        let version = stored.as_ref().map_or(1, |item| item.version + 1);
        let item = SettingsItem::seal(merchant_id, &settings, &self.deps.master_keys, check, version, now);
        match self.deps.store.put_settings(&item).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => {
                return Err(ApiError::conflict(
                    "settings_changed_concurrently",
                    "the settings were saved by another request meanwhile; read them and try again",
                ));
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(
            enabled = settings.enabled,
            show_at_checkout = settings.show_at_checkout,
            buyer_notices = settings.buyer_notices,
            issue_on = ?settings.issue_on.names(),
            credentials_check = ?check,
            key_id = %item.rid.key_id,
            version,
            "invoice settings saved"
        );
        self.respond(merchant_id, &item, &settings).await
    }

    /// Asks the provider about the credentials: a rejection refuses the save; an outage lets it
    /// through, marked unchecked.
    async fn check_with_provider(&self, settings: &InvoiceSettings) -> Result<CredentialCheck, ApiError> {
        let provider = self.deps.providers.get(settings.provider);
        match provider.check_credentials(settings, self.deps.clock.today_in_taipei()).await {
            Ok(()) => Ok(CredentialCheck::Accepted),
            Err(UpstreamError::Rejected { status, .. }) if status == 401 || status == 403 => {
                tracing::info!(status, "provider rejected the credentials");
                Err(ApiError {
                    status: StatusCode::UNPROCESSABLE_ENTITY,
                    code: "provider_rejected_credentials",
                    message: "Wixtar does not accept these credentials: check 統一編號, 門市店碼, POS機碼, PID, RID and PNAME in Wixtar's 加值中心 (營業人資訊 → 下載)".into(),
                    field: Some("credentials".into()),
                })
            }
            Err(e) => {
                tracing::warn!(error = %e, "provider unreachable; saving the credentials unchecked");
                Ok(CredentialCheck::Unreachable)
            }
        }
    }

    /// `GET`: the stored settings, masked; defaults when nothing was saved.
    async fn read(&self, merchant_id: &str) -> Result<ApiResponse, ApiError> {
        let Some(item) = self.deps.store.settings(merchant_id).await? else {
            return Ok(ApiResponse::ok(&UnconfiguredView {
                merchant_id,
                configured: false,
                enabled: false,
                provider: Provider::Wixtar,
                show_at_checkout: false,
                buyer_notices: true,
                issue_on: &["shipment"],
                credentials: None,
                warnings: &[],
            }));
        };
        let settings = item.open(&self.deps.master_keys).map_err(unreadable)?;
        self.respond(merchant_id, &item, &settings).await
    }

    async fn respond(&self, merchant_id: &str, item: &SettingsItem, settings: &InvoiceSettings) -> Result<ApiResponse, ApiError> {
        let plan = self.deps.store.plan(merchant_id).await?;
        let period = plan.as_ref().and_then(PlanItem::period);
        let plan_status = PlanStatus::of(period.as_ref(), true, self.deps.clock.today_in_taipei());
        let mut warnings = settings_warnings(&settings.issue_on, settings.show_at_checkout);
        if item.credentials_check == CredentialCheck::Unreachable {
            warnings.push(PROVIDER_UNREACHABLE);
        }
        if plan_status == PlanStatus::None {
            warnings.push(PLAN_NOT_PAID);
        }
        Ok(ApiResponse::ok(&settings_view(merchant_id, item, settings, plan_status, &warnings)))
    }
}

/// The answer when nothing was saved: the defaults a first save starts from.
#[derive(Debug, Serialize)]
struct UnconfiguredView<'a> {
    merchant_id: &'a str,
    configured: bool,
    enabled: bool,
    provider: Provider,
    show_at_checkout: bool,
    buyer_notices: bool,
    issue_on: &'a [&'a str],
    credentials: Option<MaskedCredentials<'a>>,
    warnings: &'a [SettingsWarning],
}

/// The saved settings (串接設定), every credential shown, AES KEY and RID masked to their last 4.
#[derive(Debug, Serialize)]
struct SettingsView<'a> {
    merchant_id: &'a str,
    configured: bool,
    enabled: bool,
    provider: Provider,
    show_at_checkout: bool,
    /// 買受人通知.
    buyer_notices: bool,
    issue_on: Vec<&'static str>,
    default_tax_type: TaxKind,
    customs_clearance: Option<CustomsClearance>,
    zero_tax_reason: Option<ZeroTaxReason>,
    mixed_tax_approved: bool,
    credentials: MaskedCredentials<'a>,
    credentials_check: CheckView,
    plan_status: PlanStatus,
    updated_at: DateTime<Utc>,
    warnings: &'a [SettingsWarning],
}

#[derive(Debug, Serialize)]
struct MaskedCredentials<'a> {
    ubn: &'a Ubn,
    store_code: &'a str,
    pos_code: &'a str,
    pid: &'a str,
    /// 認證碼, masked.
    rid: String,
    pname: &'a str,
    /// AES KEY, masked.
    aes_key: String,
}

/// What Wixtar said of the credentials when they were saved (連線檢查).
#[derive(Debug, Serialize)]
struct CheckView {
    status: CredentialCheck,
    checked_at: DateTime<Utc>,
}

fn settings_view<'a>(merchant_id: &'a str, item: &SettingsItem, settings: &'a InvoiceSettings, plan_status: PlanStatus, warnings: &'a [SettingsWarning]) -> SettingsView<'a> {
    let c = &settings.credentials;
    SettingsView {
        merchant_id,
        configured: true,
        enabled: settings.enabled,
        provider: settings.provider,
        show_at_checkout: settings.show_at_checkout,
        buyer_notices: settings.buyer_notices,
        issue_on: settings.issue_on.names(),
        default_tax_type: settings.tax.default_tax_type,
        customs_clearance: settings.tax.zero_rating.map(|z| z.customs_clearance),
        zero_tax_reason: settings.tax.zero_rating.map(|z| z.reason),
        mixed_tax_approved: settings.tax.mixed_tax_approved,
        credentials: MaskedCredentials {
            ubn: &c.ubn,
            store_code: &c.store_code,
            pos_code: &c.pos_code,
            pid: &c.pid,
            rid: mask_last4(&c.rid),
            pname: &c.pname,
            aes_key: mask_last4(&c.aes_key),
        },
        credentials_check: CheckView { status: item.credentials_check, checked_at: item.checked_at },
        plan_status,
        updated_at: item.updated_at,
        warnings,
    }
}

#[async_trait::async_trait]
impl HttpHandler for CredentialSave {
    async fn handle(&self, req: ApiRequest) -> ApiResponse {
        api::instrumented(&req, self.route(&req)).await
    }
}

#[cfg(test)]
mod tests;
