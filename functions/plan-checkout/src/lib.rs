//! plan-checkout Lambda: plan verification, checkout (購買 / 續購), the payment gateway's
//! callback and the plan view (使用期限, notices, orders).

mod auto_renew;
mod checkout;
mod payment_callback;
#[cfg(test)]
mod tests;
mod verify;
mod view;

use std::sync::Arc;

use einvoice_adapters::api::{self, ApiError, ApiRequest, ApiResponse, HttpHandler};
use einvoice_adapters::config::{self, ConfigError, Vars, WixtarContact};
use einvoice_adapters::events::EventPublisher;
use einvoice_adapters::payment::PaymentGateway;
use einvoice_adapters::secret::Secret;
use einvoice_adapters::store::{IdempotencyStore, PlanStore};
use einvoice_adapters::wiring::{Edges, Function};
use einvoice_adapters::wixtar::WixtarClient;
use einvoice_domain::{Clock, PlanCatalogue};
use http::Method;

/// Settings from the environment (template.yaml sets them in AWS).
#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub event_bus_name: String,
    pub payment_gateway_url: String,
    pub wixtar_api_url: String,
    pub plan_catalogue: PlanCatalogue,
    pub wixtar_contact: WixtarContact,
    pub platform_secret_id: String,
    pub payment_secret_id: String,
}

impl Config {
    pub fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: vars.required("TABLE_NAME")?,
            event_bus_name: vars.required("EVENT_BUS_NAME")?,
            payment_gateway_url: vars.required("PAYMENT_GATEWAY_URL")?,
            wixtar_api_url: vars.required("WIXTAR_API_URL")?,
            plan_catalogue: config::plan_catalogue(&vars.required("PLAN_CATALOGUE")?)?,
            wixtar_contact: WixtarContact::from_vars(vars)?,
            platform_secret_id: vars.required("PLATFORM_SIGNING_SECRET_ID")?,
            payment_secret_id: vars.required("PAYMENT_SIGNING_SECRET_ID")?,
        })
    }
}

impl Function for PlanCheckout {
    type Config = Config;

    fn config(vars: &impl Vars) -> Result<Config, ConfigError> {
        Config::from_vars(vars)
    }

    async fn wire(config: &Config, edges: &impl Edges) -> Result<Self, ConfigError> {
        let [platform, payment] = edges.secrets([&config.platform_secret_id, &config.payment_secret_id]).await?;
        let deps = Dependencies {
            store: Arc::new(edges.store(&config.table_name)),
            gateway: edges.gateway(&config.payment_gateway_url),
            wixtar: edges.wixtar(&config.wixtar_api_url),
            events: edges.events(&config.event_bus_name),
            clock: edges.clock(),
        };
        Ok(Self::new(config, SigningSecrets { platform, payment }, deps))
    }
}

/// The signing secrets this function checks requests with.
#[derive(Debug, Clone)]
pub struct SigningSecrets {
    /// The platform's (merchant-facing routes).
    pub platform: Secret,
    /// The payment gateway's (`/v1/payments/notify`).
    pub payment: Secret,
}

/// What plan-checkout needs from the table: plans, plan orders and notices, and
/// `Idempotency-Key` records.
pub trait CheckoutStore: PlanStore + IdempotencyStore {}
impl<T: PlanStore + IdempotencyStore + ?Sized> CheckoutStore for T {}

/// The handler and everything it talks to.
pub struct PlanCheckout {
    pub(crate) store: Arc<dyn CheckoutStore>,
    pub(crate) gateway: Arc<dyn PaymentGateway>,
    pub(crate) wixtar: Arc<dyn WixtarClient>,
    pub(crate) events: Arc<dyn EventPublisher>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) catalogue: PlanCatalogue,
    pub(crate) wixtar_contact: WixtarContact,
    pub(crate) secrets: SigningSecrets,
}

/// The outside world the handler needs.
pub struct Dependencies {
    pub store: Arc<dyn CheckoutStore>,
    pub gateway: Arc<dyn PaymentGateway>,
    pub wixtar: Arc<dyn WixtarClient>,
    pub events: Arc<dyn EventPublisher>,
    pub clock: Arc<dyn Clock>,
}

/// The routes this function serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    Healthz,
    Verify(&'a str),
    Checkout(&'a str),
    PlanView(&'a str),
    AutoRenew(&'a str),
    PaymentCard(&'a str),
    PaymentCallback,
}

impl<'a> Route<'a> {
    fn resolve(method: &Method, segments: &[&'a str]) -> Result<Self, bool> {
        let (route, allowed) = match segments {
            ["healthz"] => (Route::Healthz, Method::GET),
            ["v1", "merchants", m, "plan", "verify"] => (Route::Verify(m), Method::POST),
            ["v1", "merchants", m, "plan", "checkout"] => (Route::Checkout(m), Method::POST),
            ["v1", "merchants", m, "plan"] => (Route::PlanView(m), Method::GET),
            ["v1", "merchants", m, "plan", "auto-renew"] => (Route::AutoRenew(m), Method::PUT),
            ["v1", "merchants", m, "payment-card"] => (Route::PaymentCard(m), Method::PUT),
            ["v1", "payments", "notify"] => (Route::PaymentCallback, Method::POST),
            // Err(true): the path exists with another method.
            _ => return Err(false),
        };
        if *method == allowed { Ok(route) } else { Err(true) }
    }
}

impl PlanCheckout {
    pub fn new(config: &Config, secrets: SigningSecrets, deps: Dependencies) -> Self {
        Self {
            store: deps.store,
            gateway: deps.gateway,
            wixtar: deps.wixtar,
            events: deps.events,
            clock: deps.clock,
            catalogue: config.plan_catalogue.clone(),
            wixtar_contact: config.wixtar_contact.clone(),
            secrets,
        }
    }

    async fn route(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let segments = req.segments();
        let route = Route::resolve(&req.method, &segments)
            .map_err(|method_exists| if method_exists { ApiError::method_not_allowed(req) } else { ApiError::route_not_found(req) })?;
        if route == Route::Healthz {
            return Ok(api::healthz());
        }
        let secret = if route == Route::PaymentCallback { &self.secrets.payment } else { &self.secrets.platform };
        api::authenticate(req, secret)?;
        match route {
            Route::Healthz => Ok(api::healthz()),
            Route::Verify(m) => self.verify(&api::record_merchant(m)?, req).await,
            Route::Checkout(m) => self.checkout(&api::record_merchant(m)?, req).await,
            Route::PlanView(m) => self.plan_view(&api::record_merchant(m)?).await,
            Route::AutoRenew(m) => self.put_auto_renew(&api::record_merchant(m)?, req).await,
            Route::PaymentCard(m) => self.put_payment_card(&api::record_merchant(m)?, req).await,
            Route::PaymentCallback => self.payment_callback(req).await,
        }
    }
}

#[async_trait::async_trait]
impl HttpHandler for PlanCheckout {
    async fn handle(&self, req: ApiRequest) -> ApiResponse {
        api::instrumented(&req, self.route(&req)).await
    }
}
