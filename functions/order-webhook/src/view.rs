//! What order-webhook answers: the webhook's `{"order_id","invoice"}` and the invoice view
//! (`GET …/orders/{order_id}/invoice`), as serde structs of the contract's fields.

use chrono::{DateTime, Utc};
use einvoice_adapters::orders::{AllowanceItem, AllowanceStatus, InvoiceItem, InvoiceStatus, OrderHead};
use einvoice_domain::InvoiceLine;
use einvoice_domain::settings::IssueTrigger;
use einvoice_domain::tax::{CustomsClearance, ZeroTaxReason};
use serde::Serialize;

/// The webhook's answer.
#[derive(Debug, Serialize)]
pub struct WebhookAnswer<'a> {
    pub order_id: &'a str,
    pub invoice: InvoiceSummary<'a>,
}

/// The `invoice` object of the webhook answer.
#[derive(Debug, Serialize)]
pub struct InvoiceSummary<'a> {
    pub status: InvoiceStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<&'a str>,
}

impl<'a> WebhookAnswer<'a> {
    pub fn of(order: &'a OrderHead) -> Self {
        Self {
            order_id: &order.order_id,
            invoice: InvoiceSummary { status: order.invoice_status, reason: order.invoice_reason.as_deref(), field: order.invoice_field.as_deref() },
        }
    }
}

/// The invoice view: the order's invoice status, and the invoice's fields once it is issued
/// (`null` until then).
#[derive(Debug, Serialize)]
pub struct InvoiceView<'a> {
    pub order_id: &'a str,
    pub status: InvoiceStatus,
    pub reason: Option<&'a str>,
    pub field: Option<&'a str>,
    pub trigger: Option<IssueTrigger>,
    pub number: Option<&'a str>,
    pub random_code: Option<&'a str>,
    pub period: Option<&'a str>,
    pub issued_at: Option<DateTime<Utc>>,
    pub seller_ubn: Option<&'a str>,
    pub buyer_identifier: Option<&'a str>,
    pub buyer_name: Option<&'a str>,
    pub carrier: Option<CarrierView<'a>>,
    pub love_code: Option<&'a str>,
    pub print: Option<bool>,
    pub tax_type: Option<u8>,
    pub sales_amount: Option<u32>,
    pub zero_tax_sales_amount: Option<u32>,
    pub free_tax_sales_amount: Option<u32>,
    pub tax_amount: Option<u32>,
    pub total: Option<u32>,
    pub customs_clearance: Option<CustomsClearance>,
    pub zero_tax_reason: Option<ZeroTaxReason>,
    pub lines: Option<&'a [InvoiceLine]>,
    pub barcode: Option<&'a str>,
    pub qr_left: Option<&'a str>,
    pub qr_right: Option<&'a str>,
    pub voided_at: Option<DateTime<Utc>>,
    pub allowances: &'a [AllowanceItem],
    /// What the live allowances (折讓) add up to.
    pub allowed_amount: u32,
    pub upload: UploadView<'a>,
}

/// The invoice's carrier (載具).
#[derive(Debug, Serialize)]
pub struct CarrierView<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub id: Option<&'a str>,
}

/// Where the upload to Wixtar stands (`none` before the invoice is issued).
#[derive(Debug, Serialize)]
pub struct UploadView<'a> {
    pub status: &'static str,
    pub attempts: u32,
    pub last_error: Option<&'a str>,
    pub deadline: Option<DateTime<Utc>>,
    pub uploaded_at: Option<DateTime<Utc>>,
}

impl<'a> InvoiceView<'a> {
    pub fn of(order: &'a OrderHead, invoice: Option<&'a InvoiceItem>) -> Self {
        let upload = invoice.map(|i| &i.upload);
        let zero_rating = invoice.and_then(|i| i.zero_rating);
        Self {
            order_id: &order.order_id,
            status: order.invoice_status,
            reason: order.invoice_reason.as_deref(),
            field: order.invoice_field.as_deref(),
            trigger: invoice.map(|i| i.trigger).or(order.invoice_trigger),
            number: invoice.map(|i| i.number.as_str()),
            random_code: invoice.map(|i| i.random_code.as_str()),
            period: invoice.map(|i| i.period.as_str()),
            issued_at: invoice.map(|i| i.issued_at),
            seller_ubn: invoice.map(|i| i.seller_ubn.as_str()),
            buyer_identifier: invoice.map(|i| i.buyer_identifier.as_str()),
            buyer_name: invoice.map(|i| i.buyer_name.as_str()),
            carrier: invoice.and_then(|i| i.carrier_type.as_deref().map(|kind| CarrierView { kind, id: i.carrier_id.as_deref() })),
            love_code: invoice.and_then(|i| i.love_code.as_deref()),
            print: invoice.map(|i| i.print),
            tax_type: invoice.map(|i| i.tax_type),
            sales_amount: invoice.map(|i| i.sales_amount),
            zero_tax_sales_amount: invoice.map(|i| i.zero_tax_sales_amount),
            free_tax_sales_amount: invoice.map(|i| i.free_tax_sales_amount),
            tax_amount: invoice.map(|i| i.tax_amount),
            total: invoice.map(|i| i.total),
            customs_clearance: zero_rating.map(|z| z.customs_clearance),
            zero_tax_reason: zero_rating.map(|z| z.reason),
            lines: invoice.map(|i| i.lines.as_slice()),
            barcode: invoice.map(|i| i.barcode.as_str()),
            qr_left: invoice.map(|i| i.qr_left.as_str()),
            qr_right: invoice.map(|i| i.qr_right.as_str()),
            voided_at: invoice.and_then(|i| i.voided_at),
            allowances: invoice.map_or(&[], |i| i.allowances.as_slice()),
            allowed_amount: invoice.map_or(0, |i| i.allowances.iter().filter(|a| a.status != AllowanceStatus::Void).map(|a| a.amount).sum()),
            upload: UploadView {
                status: upload.map_or("none", |u| u.status.as_str()),
                attempts: upload.map_or(0, |u| u.attempts),
                last_error: upload.and_then(|u| u.last_error.as_deref()),
                deadline: upload.map(|u| u.deadline),
                uploaded_at: upload.and_then(|u| u.uploaded_at),
            },
        }
    }
}
