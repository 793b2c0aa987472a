//! The e-invoice provider (加值中心) behind one trait, so that a second provider (e.g. ECPay)
//! is a new implementation and a new [`Provider`] variant, not a rewrite of the functions.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use einvoice_domain::invoice::InvoicePeriod;
use einvoice_domain::settings::{InvoiceSettings, Provider};

use crate::upstream::UpstreamError;
use crate::wixtar::{PosIdentity, WixtarClient};

#[async_trait]
pub trait InvoiceProvider: Send + Sync {
    /// Asks the provider whether it accepts the settings' credentials (連線檢查), on `today`
    /// (Asia/Taipei). `Rejected` means it does not; `Unavailable` that it could not be asked.
    async fn check_credentials(&self, settings: &InvoiceSettings, today: NaiveDate) -> Result<(), UpstreamError>;
}

/// Wixtar checks a POS by answering its number-range query for the current period.
pub struct WixtarProvider(pub Arc<dyn WixtarClient>);

#[async_trait]
impl InvoiceProvider for WixtarProvider {
    async fn check_credentials(&self, settings: &InvoiceSettings, today: NaiveDate) -> Result<(), UpstreamError> {
        let period = InvoicePeriod::containing(today).to_string();
        self.0.number_ranges(&PosIdentity::from(&settings.credentials), &period).await.map(|_| ())
    }
}

/// One client per provider the product supports.
#[derive(Clone)]
pub struct Providers {
    pub wixtar: Arc<dyn InvoiceProvider>,
}

impl Providers {
    pub fn get(&self, provider: Provider) -> &dyn InvoiceProvider {
        match provider {
            Provider::Wixtar => self.wixtar.as_ref(),
        }
    }
}
