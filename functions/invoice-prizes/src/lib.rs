//! invoice-prizes Lambda (中獎, daily at 10:00 Asia/Taipei): from the 26th of each odd month it
//! asks Wixtar, for every merchant that had invoice numbers in the period just drawn, which of
//! its invoices won, until it has the list ("not yet" → the next run). Each winner is marked on
//! its invoice; a B2C winner on the platform's member carrier (會員載具, not donated, not void:
//! the seller's duty) is mailed `invoice_won`, and the merchant's contact one `prizes_to_print`
//! with the proofs to print and send. Other winners are marked and nobody is mailed. Once a
//! merchant's list is fully handled it is recorded, and the period is not asked again; a
//! period's claim window ending stops it too.
//!
//! Every step repeats safely: marking the same prize changes nothing, each mail has a
//! deterministic `event_id` (the notifier sends it once), and the list is recorded as handled
//! only after everything of it is done, so a crash anywhere is finished by the next run.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use einvoice_adapters::config::{ConfigError, Vars};
use einvoice_adapters::contracts::{Channel, Contract, InvoiceWonNotice, MerchantNotification, NoticeInvoice, PrizeToPrint, PrizesToPrint, Template};
use einvoice_adapters::crash::{self, CrashPoints};
use einvoice_adapters::crypto::MasterKeys;
use einvoice_adapters::events::{DomainEvent, EventPublisher};
use einvoice_adapters::orders::InvoiceItem;
use einvoice_adapters::schedule::{self, JobError, ScheduledJob};
use einvoice_adapters::store::{NumberLedger, OrderStore, PrizeItem, PrizeListItem, PrizeMarked, PrizeStore, SettingsStore, StoreError};
use einvoice_adapters::wiring::{Edges, Function};
use einvoice_adapters::wixtar::{PosIdentity, Winner, WinnersAnswer, WixtarClient};
use einvoice_domain::text::mask_email;
use einvoice_domain::{InvoicePeriod, periods_to_ask, taipei_date};
use serde::Serialize;

/// Settings from the environment (template.yaml sets them in AWS).
#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub event_bus_name: String,
    pub wixtar_api_url: String,
    pub master_key_secret_id: String,
}

impl Config {
    pub fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: vars.required("TABLE_NAME")?,
            event_bus_name: vars.required("EVENT_BUS_NAME")?,
            wixtar_api_url: vars.required("WIXTAR_API_URL")?,
            master_key_secret_id: vars.required("CREDENTIAL_MASTER_KEY_SECRET_ID")?,
        })
    }
}

/// What the job needs from the table: the period registry (who had numbers in a period), the
/// settings (the POS it asks under), the orders (the buyer's address) and the prizes.
pub trait PrizesStore: NumberLedger + SettingsStore + OrderStore + PrizeStore {}
impl<T: NumberLedger + SettingsStore + OrderStore + PrizeStore + ?Sized> PrizesStore for T {}

pub struct Dependencies {
    pub store: Arc<dyn PrizesStore>,
    pub wixtar: Arc<dyn WixtarClient>,
    pub events: Arc<dyn EventPublisher>,
    pub master_keys: MasterKeys,
    pub crash_points: Arc<CrashPoints>,
}

pub struct InvoicePrizes {
    deps: Dependencies,
}

impl Function for InvoicePrizes {
    type Config = Config;

    fn config(vars: &impl Vars) -> Result<Config, ConfigError> {
        Config::from_vars(vars)
    }

    async fn wire(config: &Config, edges: &impl Edges) -> Result<Self, ConfigError> {
        Ok(Self::new(Dependencies {
            store: Arc::new(edges.store(&config.table_name)),
            wixtar: edges.wixtar(&config.wixtar_api_url),
            events: edges.events(&config.event_bus_name),
            master_keys: edges.master_keys(&config.master_key_secret_id).await?,
            crash_points: edges.crash_points(),
        }))
    }
}

/// What one run did (its answer and its log line).
#[derive(Debug, Default, Serialize)]
pub struct RunSummary {
    pub job: &'static str,
    pub today: String,
    /// The drawn periods asked about.
    pub periods: Vec<String>,
    /// Merchant × period pairs whose list was handled before: not asked again.
    pub already_handled: u64,
    /// Wixtar does not have MOF's list yet: asked again by the next run.
    pub not_yet: u64,
    /// Lists handled by this run.
    pub handled: u64,
    /// Winners marked on their invoices (this run; the same prize again counts too).
    pub winners: u64,
    /// Member-carrier winners the buyer was mailed about.
    pub buyers_told: u64,
    /// Winners nobody is mailed about (MOF's, the paper holder's, a charity's, or not claimable).
    pub marked_only: u64,
    /// Merchant × period pairs that failed: the next run does them again.
    pub failed: u64,
}

/// What handling one merchant's period came to.
enum Handled {
    Before,
    NotYet,
    Now { winners: u64, told: u64, marked_only: u64 },
}

fn failed(e: impl std::fmt::Display) -> JobError {
    JobError(e.to_string())
}

impl InvoicePrizes {
    pub fn new(deps: Dependencies) -> Self {
        Self { deps }
    }

    async fn merchant(&self, merchant_id: &str, period: &InvoicePeriod, now: DateTime<Utc>) -> Result<Handled, JobError> {
        let store = &self.deps.store;
        let p = period.to_string();
        if store.prize_list(merchant_id, &p).await?.is_some() {
            return Ok(Handled::Before);
        }
        let settings = store.settings(merchant_id).await?.ok_or_else(|| failed("no invoice settings"))?.open(&self.deps.master_keys).map_err(failed)?;
        let pos = PosIdentity::from(&settings.credentials);
        let winners = match self.deps.wixtar.winners(&pos, &p).await.map_err(failed)? {
            WinnersAnswer::NotYet => return Ok(Handled::NotYet),
            WinnersAnswer::Published { winners } => winners,
        };
        let (seller_name, seller_ubn) = (settings.credentials.pname.clone(), settings.credentials.ubn.to_string());
        let (mut told, mut marked_only) = (0, 0);
        let mut to_print = Vec::new();
        let mut mails: Vec<DomainEvent> = Vec::new();
        for winner in &winners {
            let Some((prize, invoice)) = self.mark(merchant_id, &seller_ubn, winner, now).await? else { continue };
            let order_id = invoice.order_id;
            self.deps.crash_points.pass(crash::AFTER_PRIZE_MARKED);
            if !prize.claimant.is_seller() {
                marked_only += 1;
                continue;
            }
            to_print.push(PrizeToPrint { order_id: order_id.clone(), number: winner.number.clone(), kind: prize.kind, amount: prize.amount });
            let Some((to, name)) = self.buyer(merchant_id, &order_id).await? else {
                tracing::warn!(merchant_id, order_id, number = %winner.number, "member-carrier winner without a buyer address: only the merchant is told");
                continue;
            };
            let notice = InvoiceWonNotice {
                invoice: NoticeInvoice {
                    order_id: order_id.clone(),
                    seller_name: seller_name.clone(),
                    seller_ubn: seller_ubn.clone(),
                    number: winner.number.clone(),
                    issued_at: invoice.issued_at,
                },
                period: *period,
                kind: prize.kind,
                amount: prize.amount,
            };
            tracing::info!(merchant_id, order_id, number = %winner.number, to = %mask_email(&to), "winner told");
            mails.push(
                MerchantNotification {
                    event_id: format!("{merchant_id}:{order_id}:prize:{p}:invoice-won"),
                    merchant_id: merchant_id.into(),
                    channel: Channel::Email,
                    to: vec![to],
                    contact_name: name,
                    template: Template::InvoiceWon(notice),
                }
                .to_event(),
            );
            told += 1;
        }
        // The seller's winners, told once the mails are out (bookkeeping: the send ledger guards).
        let told_orders: Vec<String> = to_print.iter().map(|p| p.order_id.clone()).collect();
        if !to_print.is_empty() {
            mails.push(
                MerchantNotification {
                    event_id: format!("{merchant_id}:prizes-to-print:{p}"),
                    merchant_id: merchant_id.into(),
                    channel: Channel::Email,
                    to: Vec::new(),
                    contact_name: None,
                    template: Template::PrizesToPrint(PrizesToPrint { period: *period, prizes: to_print }),
                }
                .to_event(),
            );
        }
        if !mails.is_empty() {
            self.deps.events.publish(&mails).await.map_err(failed)?;
        }
        for order_id in &told_orders {
            store.record_prize_notified(merchant_id, order_id, now).await?;
        }
        let list = PrizeListItem::new(merchant_id, &p, winners.iter().map(|w| w.number.clone()).collect(), now);
        store.record_prize_list(&list).await?;
        tracing::info!(merchant_id, period = %p, winners = winners.len(), told, marked_only, "prize list handled");
        Ok(Handled::Now { winners: winners.len() as u64, told, marked_only })
    }

    /// Marks one winner of MOF's list on its invoice (returned with the prize as stored);
    /// `None` for a number this merchant did not issue here (logged: Wixtar answers only the
    /// seller's own numbers).
    async fn mark(&self, merchant_id: &str, seller_ubn: &str, winner: &Winner, now: DateTime<Utc>) -> Result<Option<(PrizeItem, InvoiceItem)>, JobError> {
        let store = &self.deps.store;
        let Some(invoice) = store.invoice_by_number(seller_ubn, &winner.number).await? else {
            tracing::warn!(merchant_id, number = %winner.number, "winning number not issued here; ignored");
            return Ok(None);
        };
        if invoice.merchant_id != merchant_id {
            tracing::warn!(merchant_id, number = %winner.number, "winning number belongs to another merchant of the same UBN; left to its own list");
            return Ok(None);
        }
        let prize = PrizeItem::new(&invoice, winner.kind, winner.amount, now);
        match store.mark_prize(merchant_id, &invoice.order_id, &prize).await {
            Ok(PrizeMarked::Marked(p) | PrizeMarked::Unchanged(p)) => Ok(Some((p, invoice))),
            Ok(PrizeMarked::NoInvoice) => Ok(None),
            Err(StoreError::Conflict) => {
                tracing::error!(alarm = "prize_conflict", merchant_id, number = %winner.number, "Wixtar's list gives this invoice another prize than the one marked");
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The buyer's address and name, from the order.
    async fn buyer(&self, merchant_id: &str, order_id: &str) -> Result<Option<(String, Option<String>)>, JobError> {
        let Some(order) = self.deps.store.order(merchant_id, order_id).await? else { return Ok(None) };
        let buyer = &order.state.order.buyer;
        Ok(buyer.email_address().map(|a| (a.to_owned(), buyer.given_name().map(str::to_owned))))
    }
}

#[async_trait]
impl ScheduledJob for InvoicePrizes {
    fn name(&self) -> &'static str {
        "invoice-prizes"
    }

    async fn run(&self, now: DateTime<Utc>) -> Result<serde_json::Value, JobError> {
        let today = taipei_date(now);
        let mut summary = RunSummary { job: self.name(), today: today.to_string(), ..Default::default() };
        for period in periods_to_ask(today) {
            summary.periods.push(period.to_string());
            for merchant_id in self.deps.store.period_merchants(&period.to_string()).await? {
                match self.merchant(&merchant_id, &period, now).await {
                    Ok(Handled::Before) => summary.already_handled += 1,
                    Ok(Handled::NotYet) => summary.not_yet += 1,
                    Ok(Handled::Now { winners, told, marked_only }) => {
                        summary.handled += 1;
                        summary.winners += winners;
                        summary.buyers_told += told;
                        summary.marked_only += marked_only;
                    }
                    Err(e) => {
                        tracing::warn!(merchant_id, period = %period, error = %e, "prizes left for the next run");
                        summary.failed += 1;
                    }
                }
            }
        }
        schedule::summary(&summary)
    }
}

#[cfg(test)]
mod tests;
