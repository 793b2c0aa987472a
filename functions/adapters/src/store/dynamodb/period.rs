//! [`PeriodInvoices`] on DynamoDB: the sparse `by-period` index (docs/table-layout.md §4.3),
//! one `Query` per page, in number order.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{Store, dynamo, from_item, s};
use crate::store::orders::{PERIOD_INDEX, PeriodCursor, PeriodInvoice, PeriodInvoicePage, item_size, order_keys, query_read_units};
use crate::store::{PeriodInvoices, StoreError};

/// The attribute that puts an invoice item in [`PERIOD_INDEX`].
pub(super) const PERIOD_KEY: &str = "period_key";

/// The invoice item as [`InvoiceStore::record_invoice`](crate::store::InvoiceStore::record_invoice)
/// writes it: the invoice, with its `period_key` (benchmarks seed invoices with it).
pub fn stored_invoice(invoice: &crate::store::orders::InvoiceItem) -> HashMap<String, AttributeValue> {
    let mut item = super::to_item(invoice);
    item.insert(PERIOD_KEY.into(), s(order_keys::period_invoices(&invoice.merchant_id, &invoice.period)));
    item
}

#[async_trait]
impl PeriodInvoices for Store {
    async fn period_invoices(&self, merchant_id: &str, period: &str, after: Option<&PeriodCursor>, limit: usize) -> Result<PeriodInvoicePage, StoreError> {
        let partition = order_keys::period_invoices(merchant_id, period);
        let start = after.map(|c| {
            HashMap::from([
                (PERIOD_KEY.to_owned(), s(partition.clone())),
                ("number".to_owned(), s(c.number.clone())),
                ("pk".to_owned(), s(order_keys::order(merchant_id, &c.order_id))),
                ("sk".to_owned(), s(order_keys::INVOICE)),
            ])
        });
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .index_name(PERIOD_INDEX)
            .key_condition_expression("#key = :key")
            .expression_attribute_names("#key", PERIOD_KEY)
            .expression_attribute_values(":key", s(partition))
            .set_exclusive_start_key(start)
            .limit(i32::try_from(limit.max(1)).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(dynamo)?;
        let bytes: usize = out.items().iter().map(item_size).sum();
        let invoices = out.items().iter().map(|i| from_item::<PeriodInvoice>(i.clone())).collect::<Result<Vec<_>, _>>()?;
        let next = out.last_evaluated_key().and(invoices.last()).map(|i| PeriodCursor { number: i.number.clone(), order_id: i.order_id.clone() });
        Ok(PeriodInvoicePage { items_read: u64::try_from(out.scanned_count()).unwrap_or(0), read_units: query_read_units(bytes), invoices, next })
    }
}
