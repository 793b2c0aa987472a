//! 買受人通知: the buyer told of their invoice — issued (開立), voided (作廢), given an allowance
//! (折讓) — once Wixtar accepted it. Each notice is a `MerchantNotification` for the buyer with a
//! deterministic `event_id`, so the notifier's send ledger makes it one mail however often it
//! is published. An upload is announced before it is recorded and a return before it is marked
//! done, so a crash in between is finished, and announced again, by the reconciler.

use chrono::{DateTime, Utc};
use einvoice_adapters::contracts::{
    AllowanceIssuedNotice, Channel, Contract, InvoiceDestination, InvoiceIssued, InvoiceIssuedNotice, InvoiceVoidedNotice, MaskedCarrierId, MerchantNotification,
    NoticeInvoice, Template,
};
use einvoice_adapters::events::DomainEvent;
use einvoice_adapters::orders::{AllowanceStatus, InvoiceItem, OrderItem, due_stamp};
use einvoice_adapters::schedule::JobError;
use einvoice_adapters::wixtar::PosIdentity;
use einvoice_domain::CarrierKind;
use einvoice_domain::settings::InvoiceSettings;
use einvoice_domain::text::mask_email;

use crate::{InvoiceIssuer, failed};

/// How long an upload's notices may take before the reconciler publishes them instead.
pub(crate) const NOTICE_GRACE: chrono::Duration = chrono::Duration::minutes(2);

/// The seller as the issuer acts for it: its Wixtar identity, its name and whether its buyers
/// are told.
pub(crate) struct Seller {
    pub pos: PosIdentity,
    /// 賣方名稱 (the Wixtar PNAME of the merchant's settings).
    pub name: String,
    pub buyer_notices: bool,
}

impl Seller {
    pub fn of(settings: &InvoiceSettings) -> Self {
        Self { pos: PosIdentity::from(&settings.credentials), name: settings.credentials.pname.clone(), buyer_notices: settings.buyer_notices }
    }

    /// The buyer's address when the buyer is to be told: the setting on and an address on the order.
    pub fn buyer_to_tell<'a>(&self, order: &'a OrderItem) -> Option<&'a str> {
        order.state.order.buyer.email_address().filter(|_| self.buyer_notices)
    }
}

impl InvoiceIssuer {
    /// Once Wixtar accepted the upload: `InvoiceIssued` on the bus and, when the buyer is told,
    /// `invoice_issued`; `false` when they could not be published.
    pub(crate) async fn announce_upload(&self, invoice: &InvoiceItem, order: &OrderItem, seller: &Seller) -> bool {
        let (m, o) = (&invoice.merchant_id, &invoice.order_id);
        let mut events = vec![
            InvoiceIssued {
                event_id: format!("{m}:{o}:invoice-issued"),
                merchant_id: m.clone(),
                order_id: o.clone(),
                number: invoice.number.clone(),
                total: u64::from(invoice.total),
                issued_at: invoice.issued_at,
            }
            .to_event(),
        ];
        if let Some(to) = seller.buyer_to_tell(order) {
            let notice = InvoiceIssuedNotice {
                invoice: notice_invoice(invoice, seller),
                random_code: invoice.random_code.clone(),
                total: u64::from(invoice.total),
                destination: destination(invoice),
            };
            events.push(buyer_notice(invoice, order, to, format!("{m}:{o}:buyer:invoice-issued"), Template::InvoiceIssued(notice)));
        }
        match self.deps.events.publish(&events).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "invoice notices not published; the reconciler publishes them");
                false
            }
        }
    }

    /// The order leaves the due index (unless a newer due time was set meanwhile).
    pub(crate) async fn settle(&self, merchant_id: &str, order_id: &str, due: DateTime<Utc>) {
        if let Err(e) = self.deps.store.settle_due(merchant_id, order_id, &due_stamp(due)).await {
            tracing::warn!(error = %e, "announced; the reconciler settles the order");
        }
    }

    /// After a return is done: `invoice_voided` for a voided invoice and `allowance_issued` for
    /// each accepted allowance, when the buyer is told. Published before the return is marked
    /// done, so a failure leaves the order due and the reconciler publishes them again (the
    /// notifier sends each once).
    pub(crate) async fn announce_returns(&self, invoice: &InvoiceItem, order: &OrderItem, seller: &Seller) -> Result<(), JobError> {
        let Some(to) = seller.buyer_to_tell(order) else { return Ok(()) };
        let (m, o) = (&invoice.merchant_id, &invoice.order_id);
        let mut events = Vec::new();
        if let Some(voided_at) = invoice.voided_at {
            let notice = InvoiceVoidedNotice { invoice: notice_invoice(invoice, seller), total: u64::from(invoice.total), voided_at };
            events.push(buyer_notice(invoice, order, to, format!("{m}:{o}:buyer:invoice-voided"), Template::InvoiceVoided(notice)));
        }
        for allowance in invoice.allowances.iter().filter(|a| a.status == AllowanceStatus::Uploaded) {
            let notice = AllowanceIssuedNotice {
                invoice: notice_invoice(invoice, seller),
                allowance_number: allowance.number.clone(),
                amount: u64::from(allowance.amount),
                allowance_issued_at: allowance.issued_at,
            };
            let event_id = format!("{m}:{o}:buyer:allowance:{}", allowance.number);
            events.push(buyer_notice(invoice, order, to, event_id, Template::AllowanceIssued(notice)));
        }
        if events.is_empty() {
            return Ok(());
        }
        self.deps.events.publish(&events).await.map_err(failed)
    }
}

/// The seller and the invoice, as every buyer notice names them.
fn notice_invoice(invoice: &InvoiceItem, seller: &Seller) -> NoticeInvoice {
    NoticeInvoice {
        order_id: invoice.order_id.clone(),
        seller_name: seller.name.clone(),
        seller_ubn: invoice.seller_ubn.clone(),
        number: invoice.number.clone(),
        issued_at: invoice.issued_at,
    }
}

/// Where the invoice went (發票去向): a donation first, then a carrier (its id masked), else paper.
pub(crate) fn destination(invoice: &InvoiceItem) -> InvoiceDestination {
    if let Some(love_code) = &invoice.love_code {
        return InvoiceDestination::Donated { love_code: love_code.clone() };
    }
    match (invoice.carrier_type.as_deref().and_then(CarrierKind::from_type_code), &invoice.carrier_id) {
        (Some(carrier), Some(id)) => InvoiceDestination::Carrier { carrier, id: MaskedCarrierId::new(id) },
        _ => InvoiceDestination::Paper,
    }
}

fn buyer_notice(invoice: &InvoiceItem, order: &OrderItem, to: &str, event_id: String, template: Template) -> DomainEvent {
    tracing::info!(to = %mask_email(to), template = template.name(), "buyer notice published");
    MerchantNotification {
        event_id,
        merchant_id: invoice.merchant_id.clone(),
        channel: Channel::Email,
        to: vec![to.to_owned()],
        contact_name: order.state.order.buyer.given_name().map(str::to_owned),
        template,
    }
    .to_event()
}
