//! Issuing (開立): the content checked, a number taken, the proof's codes made, the invoice
//! recorded once.

use std::time::Duration;

use einvoice_adapters::contracts::{Channel, Contract, MerchantNotification, NoInvoiceNumbers, Template};
use einvoice_adapters::crash;
use einvoice_adapters::orders::{Due, InvoiceItem, InvoiceStatus, OrderItem, UploadState, UploadStatus, order_keys};
use einvoice_adapters::schedule::JobError;
use einvoice_adapters::store::StoreError;
use einvoice_domain::proof::{self, ProofInput, ProofItem};
use einvoice_domain::recovery::next_try;
use einvoice_domain::{AesKey, Amounts, InvoicePeriod, RandomCode, taipei_date, taxed_sale, upload_deadline};

use crate::{InvoiceIssuer, Seller, Sent, WorkOutcome, failed};

/// Retries of recording an invoice after a transient failure (not a second invoice).
const RECORD_RETRIES: usize = 4;

impl InvoiceIssuer {
    /// Issues the order's invoice if it has none, uploads it, then returns it if its order was
    /// cancelled or refunded: whatever of that is not done yet.
    pub(crate) async fn issue(&self, merchant_id: &str, order_id: &str) -> Result<WorkOutcome, JobError> {
        let store = &self.deps.store;
        // One read: the order, an invoice already issued, the merchant's settings.
        let context = store.issue_context(merchant_id, order_id).await?;
        let settings = self.open_settings(context.settings)?;
        let seller = Seller::of(&settings);
        let Some(order) = context.order else {
            return Err(JobError(format!("no order {order_id} of {merchant_id}")));
        };
        if let Some(invoice) = context.invoice {
            // Redelivery: the number is taken; the upload (and a return) may be left.
            return self.finish(invoice, &order, &seller, Sent::Maybe).await;
        }
        if !matches!(order.invoice_status, InvoiceStatus::Issuing | InvoiceStatus::NoInvoiceNumbers) {
            tracing::info!(status = ?order.invoice_status, "order not waiting for an invoice; nothing to do");
            return Ok(WorkOutcome::NotRequested { status: order.invoice_status });
        }
        let seller_ubn = settings.credentials.ubn;
        let aes_key = AesKey::parse(&settings.credentials.aes_key).map_err(failed)?;

        // Content rules are checked before any number is taken.
        let content = order.state.order.buyer.parse().and_then(|buyer| Ok((taxed_sale(&order.state.order, &settings.tax, buyer.is_b2b())?, buyer)));
        let (sale, buyer) = match content {
            Ok(c) => c,
            Err(violation) => {
                store.set_invoice_status(merchant_id, order_id, InvoiceStatus::NotIssuable, Some(violation.code), Due::Done).await?;
                return Ok(WorkOutcome::NotIssuable { reason: violation.code });
            }
        };

        let now = self.deps.clock.now();
        let period = InvoicePeriod::containing(taipei_date(now));
        let numbers = self.numbers.next(store.as_ref(), self.deps.wixtar.as_ref(), &seller.pos, merchant_id, &period, now).await.map_err(failed)?;
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
                self.finish(invoice, &order, &seller, Sent::No).await
            }
            Err(StoreError::Conflict) => {
                // Another delivery issued this order's invoice first: the number we took is
                // recorded as unused, and that invoice is finished.
                store
                    .record_skipped_number(merchant_id, &invoice.period, &invoice.number, order_id, "order already invoiced by a concurrent delivery", now)
                    .await?;
                tracing::warn!(number = %invoice.number, "number unused: order invoiced concurrently");
                match store.invoice(merchant_id, order_id).await? {
                    Some(existing) => self.finish(existing, &order, &seller, Sent::Maybe).await,
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

    /// Wixtar has no numbers left for the merchant: the order waits in `no_invoice_numbers`, tried
    /// again with backoff (the merchant may add 字軌 at any time), and the merchant is told.
    async fn out_of_numbers(&self, order: &OrderItem, period: &InvoicePeriod) -> Result<WorkOutcome, JobError> {
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
        Ok(WorkOutcome::NoInvoiceNumbers)
    }

}
