//! invoice-issuer Lambda (開立發票): fed by the table's stream with the order writes that claim
//! an invoice or a return, it gives the order its one e-invoice: a number from the merchant's
//! 字軌 ranges (atomic, never twice), a random code from the OS CSPRNG, amounts and lines per the
//! Taiwan rules, the proof's barcode and QR codes (AES verification block with the merchant's
//! AES KEY), then the upload to Wixtar with bounded retries; then a void or allowances for a
//! cancelled or refunded order. Every step is idempotent: a redelivery finds the invoice and
//! only finishes what is left.
//!
//! Work that cannot be finished now (Wixtar down, no numbers) is recorded with the time it is
//! next due, and the invoice-reconciler ([`reconciler`], the same crate's second Lambda) takes
//! it up from there with backoff: a stream record fails only when not even that could be
//! recorded.
//!
//! Rooms: [`config`] (settings, upload retries), `issue` (number, content, proof, record),
//! `upload` (to Wixtar, exactly once), `returns` (void, allowances), `stream` (the stream
//! batch), [`outcome`] (what the work came to), [`reconciler`] (the 5-minute job).

pub mod config;
mod issue;
mod notices;
pub mod outcome;
pub mod reconciler;
mod returns;
mod stream;
mod upload;

use std::sync::Arc;

use einvoice_adapters::config::{ConfigError, Vars};
use einvoice_adapters::crash::CrashPoints;
use einvoice_adapters::crypto::MasterKeys;
use einvoice_adapters::events::EventPublisher;
use einvoice_adapters::numbers::NumberAllocator;
use einvoice_adapters::orders::{InvoiceItem, InvoiceStatus, OrderItem};
use einvoice_adapters::schedule::JobError;
use einvoice_adapters::store::{DueIndex, InvoiceStore, NumberLedger, OrderStore};
use einvoice_adapters::wiring::{Edges, Function};
use einvoice_adapters::wixtar::WixtarClient;
use einvoice_domain::Clock;
use einvoice_domain::recovery::next_try;
use einvoice_domain::settings::InvoiceSettings;

pub use config::{Config, UploadPolicy};
pub use outcome::{ReturnDone, WorkOutcome};
use notices::Seller;
use upload::Sent;

/// What the invoice-issuer and the reconciler need from the table: the order and its claim,
/// its invoice, the merchant's number ledger, and the due index.
pub trait IssuerStore: OrderStore + InvoiceStore + NumberLedger + DueIndex {}
impl<T: OrderStore + InvoiceStore + NumberLedger + DueIndex + ?Sized> IssuerStore for T {}

pub struct Dependencies {
    pub store: Arc<dyn IssuerStore>,
    pub wixtar: Arc<dyn WixtarClient>,
    pub events: Arc<dyn EventPublisher>,
    pub master_keys: MasterKeys,
    pub clock: Arc<dyn Clock>,
    pub crash_points: Arc<CrashPoints>,
}

pub struct InvoiceIssuer {
    deps: Dependencies,
    upload: UploadPolicy,
    /// The number blocks this instance leased.
    numbers: NumberAllocator,
}

fn failed(e: impl std::fmt::Display) -> JobError {
    JobError(e.to_string())
}

impl Function for InvoiceIssuer {
    type Config = Config;

    fn config(vars: &impl Vars) -> Result<Config, ConfigError> {
        Config::from_vars(vars)
    }

    /// The master key set is read once per instance (the invoice-issuer's and the
    /// invoice-reconciler's).
    async fn wire(config: &Config, edges: &impl Edges) -> Result<Self, ConfigError> {
        let deps = Dependencies {
            store: Arc::new(edges.store(&config.table_name)),
            wixtar: edges.wixtar(&config.wixtar_api_url),
            events: edges.events(&config.event_bus_name),
            master_keys: edges.master_keys(&config.master_key_secret_id).await?,
            clock: edges.clock(),
            crash_points: edges.crash_points(),
        };
        Ok(Self::new(config, deps))
    }
}

impl InvoiceIssuer {
    pub fn new(config: &Config, deps: Dependencies) -> Self {
        Self { deps, upload: config.upload, numbers: Default::default() }
    }

    /// Does what is left of an order's invoice work, in a span naming it. When it fails without
    /// having recorded when to try again, that is recorded (`failures` tries failed before this
    /// one): the answer is then [`WorkOutcome::RetryLater`]. `Err` only when not even that
    /// could be recorded.
    pub async fn work(&self, merchant_id: &str, order_id: &str, failures: u32) -> Result<WorkOutcome, JobError> {
        let span = tracing::info_span!("invoice", merchant_id = %merchant_id, order_id = %order_id);
        tracing::Instrument::instrument(
            async {
                let error = match self.issue(merchant_id, order_id).await {
                    Ok(done) => return Ok(done),
                    Err(e) => e,
                };
                let at = next_try(self.deps.clock.now(), failures + 1);
                match self.deps.store.defer(merchant_id, order_id, at).await {
                    Ok(()) => {
                        tracing::warn!(error = %error, due_at = %at, "invoice work failed; the reconciler tries again");
                        Ok(WorkOutcome::RetryLater { error: error.to_string(), due_at: at })
                    }
                    Err(e) => {
                        tracing::error!(error = %error, defer_error = %e, "invoice work failed and its retry could not be recorded");
                        Err(error)
                    }
                }
            },
            span,
        )
        .await
    }

    /// Uploads an issued invoice and announces it (unless the order shows that done before),
    /// then returns it if its order was cancelled or refunded: as read at the start, or
    /// meanwhile (the upload's write finds the order's return flag).
    async fn finish(&self, invoice: InvoiceItem, order: &OrderItem, seller: &Seller, sent: Sent) -> Result<WorkOutcome, JobError> {
        let (merchant_id, order_id) = (invoice.merchant_id.clone(), invoice.order_id.clone());
        let uploaded = self.upload(invoice.clone(), order, seller, sent).await?;
        if !matches!(uploaded.outcome, WorkOutcome::Uploaded { .. }) {
            return Ok(uploaded.outcome);
        }
        let returning = uploaded.return_pending || order.return_pending || order.state.order.is_returned();
        if !uploaded.now
            && !returning
            && order.invoice_status == InvoiceStatus::Uploaded
            && let Some(due) = order.due_at
        {
            // Recorded uploaded but left due: its announcement failed (or did not finish). A
            // return keeps the order due for itself, and announces the upload again when done.
            if self.announce_upload(&invoice, order, seller).await {
                self.settle(&merchant_id, &order_id, due).await;
            }
        }
        if returning {
            return self.returns(&merchant_id, &order_id, seller).await;
        }
        Ok(uploaded.outcome)
    }

    /// The merchant's settings, opened (AES KEY and RID in the clear).
    fn open_settings(&self, settings: Option<einvoice_adapters::settings::SettingsItem>) -> Result<InvoiceSettings, JobError> {
        settings.ok_or_else(|| failed("no invoice settings"))?.open(&self.deps.master_keys).map_err(failed)
    }

}

#[cfg(test)]
mod tests;
