//! `GET /v1/merchants/{merchant_id}/orders/{order_id}/invoice/proof`: the 電子發票證明聯 of an
//! issued invoice as one SVG document (drawn by `einvoice_domain::proof_sheet`), from one
//! `BatchGetItem` (order, invoice, the merchant's plan for the seller's company name).

use einvoice_adapters::api::{ApiError, ApiRequest, ApiResponse};
use einvoice_adapters::orders::{InvoiceItem, InvoiceStatus, OrderHead};
use einvoice_domain::clock::taipei_offset;
use einvoice_domain::proof_sheet::{self, PrizeMark, ProofSheet};
use einvoice_domain::{InvoiceNumber, InvoicePeriod, RuleViolation};
use http::StatusCode;

use crate::{OrderWebhook, order_not_found};

pub const SVG: &str = "image/svg+xml";

impl OrderWebhook {
    pub(crate) async fn invoice_proof(&self, req: &ApiRequest, merchant_id: &str, order_id: &str) -> Result<ApiResponse, ApiError> {
        let reprint = reprint(req)?;
        let (order, invoice, plan) = self.deps.store.proof_context(merchant_id, order_id).await?;
        let order = order.ok_or_else(|| order_not_found(order_id))?;
        let invoice = printable(&order, invoice.as_ref())?;
        let seller_name = plan.and_then(|p| p.company_name);
        let svg = render(invoice, seller_name.as_deref(), reprint, None)?;
        tracing::info!(reprint, "invoice proof rendered");
        Ok(svg_response(StatusCode::OK, svg))
    }
}

pub(crate) fn svg_response(status: StatusCode, svg: String) -> ApiResponse {
    ApiResponse { status, content_type: SVG, body: svg }
}

/// `?reprint=true` marks the proof 補印; absent or `false` does not.
fn reprint(req: &ApiRequest) -> Result<bool, ApiError> {
    match req.query_param("reprint") {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(RuleViolation::on_field("invalid_reprint", "reprint", "reprint must be true or false").into()),
    }
}

/// The invoice, if a paper proof may be printed for it: issued, not voided, and printed (B2B,
/// or B2C with neither a carrier nor a donation).
fn printable<'a>(order: &OrderHead, invoice: Option<&'a InvoiceItem>) -> Result<&'a InvoiceItem, ApiError> {
    let invoice = invoice.ok_or_else(|| ApiError::conflict("invoice_not_issued", "the order's invoice is not issued yet: no proof before it has a number"))?;
    if invoice.voided_at.is_some() || order.invoice_status == InvoiceStatus::Void {
        return Err(ApiError::conflict("invoice_void", format!("invoice {} is void (作廢): its proof may not be printed", invoice.number)));
    }
    if !invoice.print {
        return Err(ApiError::conflict("proof_not_printable", "the invoice is kept in a carrier or donated: no paper proof (證明聯) may be printed for it"));
    }
    Ok(invoice)
}

/// The proof of `invoice` (with the 中獎 stamp of `prize`, if any). A stored invoice that does
/// not render is a bug: logged, answered 500.
pub(crate) fn render(invoice: &InvoiceItem, seller_name: Option<&str>, reprint: bool, prize: Option<PrizeMark>) -> Result<String, ApiError> {
    sheet(invoice, seller_name, reprint, prize).and_then(|s| proof_sheet::render(&s)).map_err(|e| {
        tracing::error!(error = %e, "stored invoice does not render as a proof");
        ApiError::internal()
    })
}

fn sheet<'a>(invoice: &'a InvoiceItem, seller_name: Option<&'a str>, reprint: bool, prize: Option<PrizeMark>) -> Result<ProofSheet<'a>, RuleViolation> {
    let b2b = invoice.buyer_identifier.bytes().any(|b| b != b'0');
    Ok(ProofSheet {
        seller_name,
        period: InvoicePeriod::parse(&invoice.period)?,
        number: InvoiceNumber::parse(&invoice.number)?,
        issued_at: invoice.issued_at.with_timezone(&taipei_offset()).naive_local(),
        random_code: &invoice.random_code,
        total: u64::from(invoice.total),
        seller_ubn: &invoice.seller_ubn,
        buyer_ubn: b2b.then_some(invoice.buyer_identifier.as_str()),
        barcode: &invoice.barcode,
        qr_left: &invoice.qr_left,
        qr_right: &invoice.qr_right,
        reprint,
        prize,
    })
}
