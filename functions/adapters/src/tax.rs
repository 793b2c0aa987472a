//! 課稅別 at the edges: the per-kind amounts of stored invoices and allowances, and how lines
//! and allowances go to Wixtar (MIG `TaxType`, `TaxRate`, per-item `TaxType`).

use einvoice_domain::tax::{KindAmounts, TaxKind};
use einvoice_domain::{InvoiceLine, TaxType};

use crate::orders::{AllowanceItem, InvoiceItem};
use crate::wixtar::UploadItem;

impl InvoiceItem {
    /// The invoice's tax-inclusive amount of each kind (adds up to `total`).
    pub fn parts(&self) -> KindAmounts {
        KindAmounts { taxable: self.sales_amount + self.tax_amount, zero_rated: self.zero_tax_sales_amount, tax_free: self.free_tax_sales_amount }
    }
}

impl AllowanceItem {
    /// The allowance's tax-inclusive amount of each kind (adds up to `amount`).
    pub fn parts(&self) -> KindAmounts {
        KindAmounts { taxable: self.amount - self.zero_tax_amount - self.free_tax_amount, zero_rated: self.zero_tax_amount, tax_free: self.free_tax_amount }
    }
}

/// MIG `TaxRate` of an invoice TaxType code: `"0.05"` for taxable and mixed, else `"0"`.
pub fn tax_rate(tax_type: u8) -> String {
    match TaxType::from_code(tax_type).map(TaxType::rate_percent) {
        Ok(5) => "0.05".into(),
        _ => "0".into(),
    }
}

impl From<&InvoiceLine> for UploadItem {
    fn from(l: &InvoiceLine) -> Self {
        Self { description: l.description.clone(), quantity: l.quantity, unit_price: l.unit_price, amount: l.amount, tax_type: l.tax_type.tax_type().code() }
    }
}

/// An allowance's lines: one `退貨折讓` line per kind it returns, labelled by kind when there
/// is more than one, so its tax follows the kinds it returns.
pub fn allowance_items(parts: KindAmounts) -> Vec<UploadItem> {
    let kinds: Vec<TaxKind> = TaxKind::ALL.into_iter().filter(|&k| parts.get(k) > 0).collect();
    let label = |k: TaxKind| match k {
        _ if kinds.len() == 1 => "退貨折讓".to_owned(),
        TaxKind::Taxable => "退貨折讓(應稅)".to_owned(),
        TaxKind::ZeroRated => "退貨折讓(零稅率)".to_owned(),
        TaxKind::TaxFree => "退貨折讓(免稅)".to_owned(),
    };
    kinds
        .iter()
        .map(|&k| {
            let amount = i64::from(parts.get(k));
            UploadItem { description: label(k), quantity: 1, unit_price: amount, amount, tax_type: k.tax_type().code() }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowance_lines_follow_the_kinds() {
        let one = allowance_items(KindAmounts::only(TaxKind::TaxFree, 300));
        assert_eq!(one.iter().map(|i| (i.description.as_str(), i.amount, i.tax_type)).collect::<Vec<_>>(), [("退貨折讓", 300, 3)]);
        let mixed = allowance_items(KindAmounts { taxable: 100, zero_rated: 0, tax_free: 50 });
        assert_eq!(
            mixed.iter().map(|i| (i.description.as_str(), i.amount, i.tax_type)).collect::<Vec<_>>(),
            [("退貨折讓(應稅)", 100, 1), ("退貨折讓(免稅)", 50, 3)]
        );
        assert_eq!((tax_rate(1), tax_rate(2), tax_rate(3), tax_rate(9)), ("0.05".into(), "0".into(), "0".into(), "0.05".into()));
    }
}
