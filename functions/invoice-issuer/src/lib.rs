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

pub mod reconciler;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use einvoice_adapters::config::{self, ConfigError};
use einvoice_adapters::contracts::{Channel, Contract, InvoiceIssued, MerchantNotification, NoInvoiceNumbers, Template};
use einvoice_adapters::crash::{self, CrashPoints};
use einvoice_adapters::crypto::MasterKeys;
use einvoice_adapters::events::EventPublisher;
use einvoice_adapters::numbers::NumberAllocator;
use einvoice_adapters::orders::{AllowanceItem, AllowanceStatus, Due, InvoiceItem, InvoiceStatus, OrderItem, UploadState, UploadStatus, order_keys};
use einvoice_adapters::schedule::JobError;
use einvoice_adapters::store::{DueIndex, InvoiceStore, NumberLedger, OrderStore, StoreError};
use einvoice_adapters::stream::{BatchResponse, StreamHandler, StreamRecord};
use einvoice_adapters::upstream::UpstreamError;
use einvoice_adapters::wixtar::{AllowanceUpload, InvoiceUpload, PosIdentity, UploadItem, WixtarClient};
use einvoice_domain::proof::{self, ProofInput, ProofItem};
use einvoice_domain::recovery::{DeadlineState, next_try};
use einvoice_domain::returns::{AllowanceRecord, InvoiceFacts, Refund, ReturnStep, allowance_amounts, next_return_step};
use einvoice_domain::settings::InvoiceSettings;
use einvoice_domain::{AesKey, Amounts, Clock, InvoicePeriod, RandomCode, taipei_date, taxed_sale, upload_deadline};
use serde_json::{Value, json};

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
    pub fn from_env() -> Result<Self, ConfigError> {
        let number = |name: &str, default: &str| config::optional(name, default).parse::<u64>().map_err(|_| ConfigError(format!("{name} is not a number")));
        Ok(Self {
            table_name: config::required("TABLE_NAME")?,
            event_bus_name: config::required("EVENT_BUS_NAME")?,
            wixtar_api_url: config::required("WIXTAR_API_URL")?,
            master_key_secret_id: config::required("CREDENTIAL_MASTER_KEY_SECRET_ID")?,
            upload: UploadPolicy {
                max_attempts: u32::try_from(number("UPLOAD_MAX_ATTEMPTS", "4")?).unwrap_or(4),
                base_delay: Duration::from_millis(number("UPLOAD_BASE_DELAY_MS", "250")?),
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
    fn backoff(&self, n: u32) -> Duration {
        let cap = self.base_delay.saturating_mul(1 << n.saturating_sub(1).min(10));
        cap.mul_f64(rand::random::<f64>())
    }
}

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

/// Retries of recording an invoice after a transient failure (not a second invoice).
const RECORD_RETRIES: usize = 4;

fn failed(e: impl std::fmt::Display) -> JobError {
    JobError(e.to_string())
}

impl InvoiceIssuer {
    pub fn new(config: &Config, deps: Dependencies) -> Self {
        Self { deps, upload: config.upload, numbers: Default::default() }
    }

    /// The issuer as a Lambda's cold start builds it: AWS clients from Lambda's environment,
    /// the master key set read once (shared by the invoice-issuer and invoice-reconciler
    /// binaries).
    pub async fn from_lambda_env(config: &Config) -> Result<Self, lambda_http::Error> {
        use einvoice_adapters::aws;
        let sdk = aws::sdk_config().await;
        let [master] = aws::read_secrets(&sdk, [&config.master_key_secret_id]).await?;
        let deps = Dependencies {
            store: Arc::new(einvoice_adapters::store::Store::new(aws_sdk_dynamodb::Client::new(&sdk), &config.table_name)),
            wixtar: Arc::new(einvoice_adapters::wixtar::HttpWixtarClient::new(&config.wixtar_api_url)),
            events: Arc::new(einvoice_adapters::events::EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(&sdk), &config.event_bus_name)),
            master_keys: MasterKeys::from_secret(&master)?,
            clock: Arc::new(einvoice_domain::SystemClock),
            crash_points: Default::default(),
        };
        Ok(Self::new(config, deps))
    }

    /// Does what is left of an order's invoice work, in a span naming it. When it fails without
    /// having recorded when to try again, that is recorded (`failures` tries failed before this
    /// one): the answer is then `{"result": "retry_later"}`. `Err` only when not even that
    /// could be recorded.
    pub async fn work(&self, merchant_id: &str, order_id: &str, failures: u32) -> Result<Value, JobError> {
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
                        Ok(json!({"result": "retry_later", "error": error.to_string(), "due_at": at}))
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

    /// Issues the order's invoice if it has none, uploads it, then returns it if its order was
    /// cancelled or refunded: whatever of that is not done yet.
    async fn issue(&self, merchant_id: &str, order_id: &str) -> Result<Value, JobError> {
        let store = &self.deps.store;
        // One read: the order, an invoice already issued, the merchant's settings.
        let context = store.issue_context(merchant_id, order_id).await?;
        let settings = self.open_settings(context.settings)?;
        let pos = PosIdentity::from(&settings.credentials);
        let Some(order) = context.order else {
            return Err(JobError(format!("no order {order_id} of {merchant_id}")));
        };
        if let Some(invoice) = context.invoice {
            // Redelivery: the number is taken; the upload (and a return) may be left.
            return self.finish(invoice, &order, &pos, Sent::Maybe).await;
        }
        if !matches!(order.invoice_status, InvoiceStatus::Issuing | InvoiceStatus::NoInvoiceNumbers) {
            tracing::info!(status = ?order.invoice_status, "order not waiting for an invoice; nothing to do");
            return Ok(json!({"result": "not_requested", "status": order.invoice_status}));
        }
        let seller_ubn = settings.credentials.ubn;
        let aes_key = AesKey::parse(&settings.credentials.aes_key).map_err(failed)?;

        // Content rules are checked before any number is taken.
        let content = order.state.order.buyer.parse().and_then(|buyer| Ok((taxed_sale(&order.state.order, &settings.tax, buyer.is_b2b())?, buyer)));
        let (sale, buyer) = match content {
            Ok(c) => c,
            Err(violation) => {
                store.set_invoice_status(merchant_id, order_id, InvoiceStatus::NotIssuable, Some(violation.code), Due::Done).await?;
                return Ok(json!({"result": "not_issuable", "reason": violation.code}));
            }
        };

        let now = self.deps.clock.now();
        let period = InvoicePeriod::containing(taipei_date(now));
        let numbers = self.numbers.next(store.as_ref(), self.deps.wixtar.as_ref(), &pos, merchant_id, &period, now).await.map_err(failed)?;
        let Some(number) = numbers else {
            return self.out_of_numbers(&order, &period).await;
        };
        self.deps.crash_points.pass(crash::AFTER_NUMBER_RESERVED);
        let random_code = RandomCode::from_u16(rand::random_range(0..10_000)).expect("below 10000");
        let amounts = Amounts::new(sale.parts, buyer.is_b2b(), sale.tax_type);
        let items: Vec<ProofItem> =
            sale.lines.iter().map(|l| ProofItem { name: l.description.clone(), quantity: l.quantity, unit_price: l.unit_price }).collect();
        let proof = proof::build(&ProofInput {
            number,
            period,
            issued_on: taipei_date(now),
            random_code,
            untaxed_amount: u64::from(amounts.untaxed_total()),
            total: u64::from(amounts.total),
            buyer_ubn: buyer.ubn(),
            seller_ubn,
            items: &items,
            aes_key: &aes_key,
        })
        .map_err(failed)?;

        let invoice = InvoiceItem {
            pk: order_keys::order(merchant_id, order_id),
            sk: order_keys::INVOICE.into(),
            entity: "invoice".into(),
            merchant_id: merchant_id.into(),
            order_id: order_id.into(),
            number: number.to_string(),
            random_code: random_code.to_string(),
            period: period.to_string(),
            issued_at: now,
            trigger: order.invoice_trigger.unwrap_or(einvoice_domain::settings::IssueTrigger::Shipment),
            seller_ubn: seller_ubn.to_string(),
            buyer_identifier: buyer.buyer_identifier(),
            buyer_name: buyer.name().to_owned(),
            carrier_type: buyer.carrier_type_code().map(str::to_owned),
            carrier_id: buyer.carrier().map(|c| c.id().to_owned()),
            love_code: buyer.love_code().map(|l| l.as_str().to_owned()),
            print: buyer.print_required(),
            tax_type: amounts.tax_type.code(),
            sales_amount: amounts.sales_amount,
            tax_amount: amounts.tax_amount,
            total: amounts.total,
            zero_tax_sales_amount: amounts.zero_tax_sales_amount,
            free_tax_sales_amount: amounts.free_tax_sales_amount,
            zero_rating: sale.zero_rating,
            lines: sale.lines,
            barcode: proof.barcode,
            qr_left: proof.qr_left,
            qr_right: proof.qr_right,
            upload: UploadState { status: UploadStatus::Pending, attempts: 0, last_error: None, uploaded_at: None, deadline: upload_deadline(now) },
            allowances: Vec::new(),
            voided_at: None,
            prize: None,
        };
        let mut recorded = store.record_invoice(&invoice).await;
        for _ in 0..RECORD_RETRIES {
            // A clash with a concurrent write of the order (not a second invoice): try again.
            match &recorded {
                Err(StoreError::Conflict) | Ok(()) => break,
                Err(e) => tracing::warn!(error = %e, "recording the invoice failed; retrying"),
            }
            tokio::time::sleep(Duration::from_millis(rand::random_range(10..60))).await;
            recorded = store.record_invoice(&invoice).await;
        }
        match recorded {
            Ok(()) => {
                tracing::info!(number = %invoice.number, period = %invoice.period, total = invoice.total, "invoice issued");
                self.deps.crash_points.pass(crash::AFTER_INVOICE_RECORDED);
                self.finish(invoice, &order, &pos, Sent::No).await
            }
            Err(StoreError::Conflict) => {
                // Another delivery issued this order's invoice first: the number we took is
                // recorded as unused, and that invoice is finished.
                store
                    .record_skipped_number(merchant_id, &invoice.period, &invoice.number, order_id, "order already invoiced by a concurrent delivery", now)
                    .await?;
                tracing::warn!(number = %invoice.number, "number unused: order invoiced concurrently");
                match store.invoice(merchant_id, order_id).await? {
                    Some(existing) => self.finish(existing, &order, &pos, Sent::Maybe).await,
                    None => Err(failed("invoice write conflicted but no invoice exists")),
                }
            }
            Err(e) => {
                // The number will not be used: say why, for the period's unused-number report.
                let reason = format!("invoice could not be recorded: {e}");
                if let Err(record) = store.record_skipped_number(merchant_id, &invoice.period, &invoice.number, order_id, &reason, now).await {
                    tracing::error!(number = %invoice.number, error = %record, "unused number not recorded; period close finds it by its missing guard");
                }
                Err(e.into())
            }
        }
    }

    /// Uploads an issued invoice, then returns it if its order was cancelled or refunded: as read
    /// at the start, or meanwhile (the upload's write finds the order's return flag).
    async fn finish(&self, invoice: InvoiceItem, order: &OrderItem, pos: &PosIdentity, sent: Sent) -> Result<Value, JobError> {
        let (merchant_id, order_id) = (invoice.merchant_id.clone(), invoice.order_id.clone());
        let (uploaded, return_pending) = self.upload(invoice, order.retries, pos, sent).await?;
        let is_uploaded = uploaded["result"] == "uploaded";
        if is_uploaded && (return_pending || order.return_pending || order.state.order.is_returned()) {
            return self.returns(&merchant_id, &order_id, pos).await;
        }
        Ok(uploaded)
    }

    /// Wixtar has no numbers left for the merchant: the order waits in `no_invoice_numbers`, tried
    /// again with backoff (the merchant may add 字軌 at any time), and the merchant is told.
    async fn out_of_numbers(&self, order: &OrderItem, period: &InvoicePeriod) -> Result<Value, JobError> {
        let (m, o) = (&order.merchant_id, &order.order_id);
        let due = Due::Later { at: next_try(self.deps.clock.now(), order.retries + 1), failed: true };
        self.deps.store.set_invoice_status(m, o, InvoiceStatus::NoInvoiceNumbers, Some("no_invoice_numbers"), due).await?;
        tracing::warn!(period = %period, "no invoice numbers left");
        let event = MerchantNotification {
            event_id: format!("{m}:no-invoice-numbers:{period}"),
            merchant_id: m.clone(),
            channel: Channel::Email,
            to: Vec::new(),
            contact_name: None,
            template: Template::NoInvoiceNumbers(NoInvoiceNumbers {
                period: period.to_string(),
                order_id: Some(o.clone()),
                message: Some("美麗科技字軌已用完：請至美麗科技加值中心新增字軌。No invoice numbers left: add number ranges (字軌) in Wixtar.".into()),
            }),
        }
        .to_event();
        if let Err(e) = self.deps.events.publish(&[event]).await {
            tracing::warn!(error = %e, "no-invoice-numbers notification not published");
        }
        Ok(json!({"result": "no_invoice_numbers"}))
    }

    /// Brings an uploaded invoice in line with a cancelled or refunded order, one idempotent step
    /// at a time ([`next_return_step`]): void while the period is open (allowances first),
    /// else, or for a partial refund, an allowance for what is not yet returned.
    async fn returns(&self, merchant_id: &str, order_id: &str, pos: &PosIdentity) -> Result<Value, JobError> {
        let store = &self.deps.store;
        let mut steps = Vec::new();
        // Each pass does one step; a return needs at most (allowances + 1) of them.
        for _ in 0..MAX_RETURN_STEPS {
            let (Some(order), Some(invoice)) = store.order_and_invoice(merchant_id, order_id).await? else {
                // Not issued yet: the issuer's own run finds the order's return flag when it
                // records the upload, and returns it then.
                return Ok(json!({"result": "no_invoice"}));
            };
            if invoice.upload.status != UploadStatus::Uploaded {
                // A return needs the invoice at the provider first.
                let (uploaded, _) = self.upload(invoice.clone(), order.retries, pos, Sent::Maybe).await?;
                if uploaded["result"] != "uploaded" {
                    return Ok(uploaded);
                }
                continue;
            }
            if let Some((index, pending)) = invoice.allowances.iter().enumerate().find(|(_, a)| a.status == AllowanceStatus::Pending) {
                // Recorded before a crash or a failed call: send it again (same number).
                let body = allowance_body(&invoice, pending);
                self.deps.wixtar.upload_allowance(pos, &body).await.map_err(failed)?;
                self.deps.crash_points.pass(crash::AFTER_RETURN_ACCEPTED);
                store.set_allowance_status(&invoice, index, AllowanceStatus::Uploaded).await?;
                continue;
            }
            let records: Vec<AllowanceRecord> = invoice
                .allowances
                .iter()
                .map(|a| AllowanceRecord { number: a.number.clone(), amount: a.amount, parts: a.parts(), voided: a.status == AllowanceStatus::Void })
                .collect();
            let period: InvoicePeriod = invoice.period.parse().map_err(failed)?;
            let facts = InvoiceFacts { period, total: invoice.total, parts: invoice.parts(), voided: invoice.voided_at.is_some(), allowances: &records };
            let refund = if order.state.order.is_cancelled() { Refund::Full } else { Refund::Partial(order.state.order.refunded_amount) };
            let now = self.deps.clock.now();
            match next_return_step(facts, refund, &invoice.number, now) {
                ReturnStep::Nothing => {
                    // Done: the order's return flag goes (unless a newer return came meanwhile).
                    store.finish_return(merchant_id, order_id, order.version).await?;
                    break;
                }
                ReturnStep::VoidAllowance { number } => {
                    self.deps.wixtar.void_allowance(pos, &number, "order cancelled").await.map_err(failed)?;
                    self.deps.crash_points.pass(crash::AFTER_RETURN_ACCEPTED);
                    let index = invoice.allowances.iter().position(|a| a.number == number).expect("decided from these allowances");
                    store.set_allowance_status(&invoice, index, AllowanceStatus::Void).await?;
                    tracing::info!(allowance = %number, "allowance voided");
                    steps.push(json!({"void_allowance": number}));
                }
                ReturnStep::VoidInvoice => {
                    self.deps.wixtar.void_invoice(pos, &invoice.number, "order cancelled").await.map_err(failed)?;
                    self.deps.crash_points.pass(crash::AFTER_RETURN_ACCEPTED);
                    store.record_void(&invoice, now).await?;
                    tracing::info!(number = %invoice.number, "invoice voided");
                    steps.push(json!({"void_invoice": invoice.number}));
                }
                ReturnStep::Allowance { number, amount, parts } => {
                    let (sales_amount, tax_amount) = allowance_amounts(parts, invoice.buyer_identifier != einvoice_domain::buyer::B2C_BUYER_IDENTIFIER);
                    let (zero_tax_amount, free_tax_amount) = (parts.zero_rated, parts.tax_free);
                    let allowance = AllowanceItem {
                        number: number.clone(),
                        amount,
                        zero_tax_amount,
                        free_tax_amount,
                        sales_amount,
                        tax_amount,
                        issued_at: now,
                        status: AllowanceStatus::Pending,
                    };
                    match store.add_allowance(&invoice, invoice.allowances.len(), &allowance).await {
                        // Another processor added one meanwhile: decide again on fresh data.
                        Err(StoreError::Conflict) => continue,
                        other => other?,
                    }
                    self.deps.wixtar.upload_allowance(pos, &allowance_body(&invoice, &allowance)).await.map_err(failed)?;
                    self.deps.crash_points.pass(crash::AFTER_RETURN_ACCEPTED);
                    store.set_allowance_status(&invoice, invoice.allowances.len(), AllowanceStatus::Uploaded).await?;
                    tracing::info!(allowance = %number, amount, "allowance issued");
                    steps.push(json!({"allowance": number, "amount": amount}));
                }
            }
        }
        Ok(json!({"result": "returned", "steps": steps}))
    }

    /// The merchant's settings, opened (AES KEY and RID in the clear).
    fn open_settings(&self, settings: Option<einvoice_adapters::settings::SettingsItem>) -> Result<InvoiceSettings, JobError> {
        settings.ok_or_else(|| failed("no invoice settings"))?.open(&self.deps.master_keys).map_err(failed)
    }

    /// Uploads with bounded retries. After an ambiguous failure (timeout, 5xx) Wixtar is asked
    /// whether it has the number before the invoice is sent again; a repeat of an upload Wixtar
    /// has (same number, same content) is accepted again. A failure is recorded with the time
    /// the reconciler tries again (after `failures` + 1 failed tries), and answered
    /// `{"result": "upload_failed"}`, not as an error.
    /// Also says whether the order has a return waiting (found by the same write).
    async fn upload(&self, mut invoice: InvoiceItem, failures: u32, pos: &PosIdentity, sent: Sent) -> Result<(Value, bool), JobError> {
        if invoice.upload.status == UploadStatus::Uploaded {
            return Ok((json!({"result": "uploaded", "number": invoice.number}), false));
        }
        let body = upload_body(&invoice);
        // An invoice this invocation did not record may have reached Wixtar before a crash.
        let mut ambiguous = sent == Sent::Maybe;
        let mut outcome: Result<(), UpstreamError> = Err(UpstreamError::Unavailable("not tried".into()));
        for n in 1..=self.upload.max_attempts {
            if n > 1 {
                tokio::time::sleep(self.upload.backoff(n - 1)).await;
            }
            invoice.upload.attempts += 1;
            if ambiguous && matches!(self.deps.wixtar.find_invoice(pos, &invoice.number).await, Ok(Some(_))) {
                outcome = Ok(());
                break;
            }
            outcome = self.deps.wixtar.upload_invoice(pos, &body).await.map(|_| ());
            match &outcome {
                Ok(()) | Err(UpstreamError::Rejected { .. }) => break,
                Err(UpstreamError::Unavailable(e)) => {
                    tracing::warn!(attempt = n, error = %e, number = %invoice.number, "upload failed; retrying");
                    ambiguous = true;
                }
            }
        }
        if outcome.is_ok() {
            self.deps.crash_points.pass(crash::AFTER_UPLOAD_ACCEPTED);
        }
        let now = self.deps.clock.now();
        let (status, due, result) = match outcome {
            Ok(()) => {
                invoice.upload.status = UploadStatus::Uploaded;
                invoice.upload.uploaded_at = Some(now);
                invoice.upload.last_error = None;
                (InvoiceStatus::Uploaded, Due::Done, json!({"result": "uploaded", "number": invoice.number}))
            }
            Err(e) => {
                invoice.upload.status = UploadStatus::Failed;
                invoice.upload.last_error = Some(e.to_string().chars().take(300).collect());
                let deadline = invoice.upload.deadline;
                match DeadlineState::of(deadline, now) {
                    // Alarm-worthy: the legal upload deadline has passed (metric filter on this field).
                    DeadlineState::Past => {
                        tracing::error!(alarm = "upload_past_deadline", number = %invoice.number, deadline = %deadline, "invoice not uploaded by its legal deadline")
                    }
                    _ if matches!(e, UpstreamError::Rejected { .. }) => {
                        // Wixtar refused the content (credentials, a number it has with other
                        // content): retrying alone may not help.
                        tracing::error!(alarm = "upload_rejected", number = %invoice.number, error = %e, "Wixtar refused the upload")
                    }
                    _ => tracing::warn!(number = %invoice.number, error = %e, "upload failed; the reconciler tries again"),
                }
                let at = next_try(now, failures + 1);
                let result =
                    json!({"result": "upload_failed", "number": invoice.number, "error": invoice.upload.last_error, "deadline": deadline, "due_at": at});
                (InvoiceStatus::UploadFailed, Due::Later { at, failed: true }, result)
            }
        };
        let return_pending = self.deps.store.record_upload(&invoice, status, due, now).await?;
        if status == InvoiceStatus::Uploaded {
            let event = InvoiceIssued {
                event_id: format!("{}:{}:invoice-issued", invoice.merchant_id, invoice.order_id),
                merchant_id: invoice.merchant_id.clone(),
                order_id: invoice.order_id.clone(),
                number: invoice.number.clone(),
                total: u64::from(invoice.total),
                issued_at: invoice.issued_at,
            }
            .to_event();
            if let Err(e) = self.deps.events.publish(&[event]).await {
                tracing::warn!(error = %e, "InvoiceIssued not published");
            }
        }
        Ok((result, return_pending))
    }
}

/// Whether Wixtar may have the invoice already, as far as this invocation knows: an invoice
/// recorded by an earlier invocation (which may have died after Wixtar accepted it) is looked
/// up before it is sent, so it is sent once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    No,
    Maybe,
}

/// Return steps tried in one invocation (each allowance voided, then the invoice).
const MAX_RETURN_STEPS: usize = 12;

/// What Wixtar receives for an allowance: one line for the returned amount.
fn allowance_body(invoice: &InvoiceItem, a: &AllowanceItem) -> AllowanceUpload {
    AllowanceUpload {
        number: a.number.clone(),
        invoice_number: invoice.number.clone(),
        issued_at: a.issued_at,
        sales_amount: u64::from(a.sales_amount),
        tax_amount: u64::from(a.tax_amount),
        total: u64::from(a.amount),
        items: einvoice_adapters::tax::allowance_items(a.parts()),
    }
}

/// What Wixtar receives for an invoice (docs/wixtar-protocol.md).
fn upload_body(invoice: &InvoiceItem) -> InvoiceUpload {
    InvoiceUpload {
        number: invoice.number.clone(),
        random_code: invoice.random_code.clone(),
        period: invoice.period.clone(),
        issued_at: invoice.issued_at,
        order_id: invoice.order_id.clone(),
        seller_ubn: invoice.seller_ubn.clone(),
        buyer_ubn: invoice.buyer_identifier.clone(),
        buyer_name: invoice.buyer_name.clone(),
        carrier_type: invoice.carrier_type.clone(),
        carrier_id: invoice.carrier_id.clone(),
        love_code: invoice.love_code.clone(),
        print: invoice.print,
        tax_type: invoice.tax_type,
        tax_rate: einvoice_adapters::tax::tax_rate(invoice.tax_type),
        sales_amount: u64::from(invoice.sales_amount),
        zero_tax_sales_amount: u64::from(invoice.zero_tax_sales_amount),
        free_tax_sales_amount: u64::from(invoice.free_tax_sales_amount),
        tax_amount: u64::from(invoice.tax_amount),
        total: u64::from(invoice.total),
        customs_clearance_mark: invoice.zero_rating.map(|z| z.customs_clearance.code()),
        zero_tax_rate_reason: invoice.zero_rating.map(|z| z.reason.to_string()),
        items: invoice.lines.iter().map(UploadItem::from).collect(),
    }
}

/// The claims a stream batch carries: each order once (a later record of the same order
/// supersedes an earlier one: the work reads the order afresh), with the sequence numbers of
/// its records.
fn claims(records: &[StreamRecord]) -> Vec<((String, String), Vec<String>)> {
    let mut claims: Vec<((String, String), Vec<String>)> = Vec::new();
    for record in records {
        let (Some(m), Some(o)) = (record.string("merchant_id"), record.string("order_id")) else {
            tracing::warn!(sequence_number = %record.dynamodb.sequence_number, "stream record without an order; ignored");
            continue;
        };
        let order = (m.to_owned(), o.to_owned());
        let sequence = record.dynamodb.sequence_number.clone();
        match claims.iter_mut().find(|(known, _)| *known == order) {
            Some((_, sequences)) => sequences.push(sequence),
            None => claims.push((order, vec![sequence])),
        }
    }
    claims
}

#[async_trait]
impl StreamHandler for InvoiceIssuer {
    /// The orders of a batch are worked on concurrently; an order whose work could not even be
    /// deferred fails its records, which the mapping retries.
    async fn handle(&self, records: &[StreamRecord]) -> BatchResponse {
        let claims = claims(records);
        let results = futures_util::future::join_all(claims.iter().map(|((m, o), _)| self.work(m, o, 0))).await;
        let failed = claims.into_iter().zip(results).filter(|(_, result)| result.is_err()).flat_map(|((_, sequences), _)| sequences);
        BatchResponse::failed(failed)
    }
}

#[cfg(test)]
mod tests;
