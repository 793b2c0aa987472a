//! [`InvoiceStore`] on DynamoDB: the invoice item, its number guard, upload, allowances and
//! void (docs/table-layout.md §3.8–3.9, §6.9–6.11).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::order_writes::{NO_RETURN_PENDING, ORDER_EXISTS, Reason, conditional_put, invoice_update, order_status_update};
use super::{Store, attribute, condition_held, dynamo, key, s, to_item};
use crate::store::orders::{AllowanceItem, AllowanceStatus, Due, InvoiceItem, InvoiceStatus, NumberGuardItem, order_keys};
use crate::store::{InvoiceStore, StoreError};

#[async_trait]
impl InvoiceStore for Store {
    async fn invoice(&self, merchant_id: &str, order_id: &str) -> Result<Option<InvoiceItem>, StoreError> {
        self.get(order_keys::order(merchant_id, order_id), order_keys::INVOICE).await
    }

    async fn record_invoice(&self, invoice: &InvoiceItem) -> Result<(), StoreError> {
        let guard = NumberGuardItem {
            pk: order_keys::invoice_number(&invoice.seller_ubn, &invoice.number),
            sk: order_keys::REF.into(),
            entity: "invoice_number".into(),
            merchant_id: invoice.merchant_id.clone(),
            order_id: invoice.order_id.clone(),
        };
        // The upload follows at once; if it does not, the reconciler takes it up.
        let due = Due::Later { at: invoice.issued_at + einvoice_domain::recovery::HANDOFF_GRACE, failed: false };
        let items = vec![
            conditional_put(self.table(), super::period::stored_invoice(invoice), "attribute_not_exists(pk)", &[]),
            conditional_put(self.table(), to_item(&guard), "attribute_not_exists(pk)", &[]),
            order_status_update(self.table(), &invoice.merchant_id, &invoice.order_id, InvoiceStatus::Issued, Reason::Clear, due, ORDER_EXISTS),
        ];
        self.client().transact_write_items().set_transact_items(Some(items)).send().await.map(|_| ()).map_err(|e| {
            use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
            match e.as_service_error() {
                // The invoice or the number exists: a second invoice, never to be written.
                Some(E::TransactionCanceledException(c)) if c.cancellation_reasons().iter().take(2).any(|r| r.code() == Some("ConditionalCheckFailed")) => {
                    StoreError::Conflict
                }
                _ => dynamo(e),
            }
        })
    }

    async fn add_allowance(&self, invoice: &InvoiceItem, known: usize, allowance: &AllowanceItem) -> Result<(), StoreError> {
        let list = attribute(&[allowance]);
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(invoice.pk.clone(), invoice.sk.clone())))
            .update_expression("SET allowances = list_append(if_not_exists(allowances, :empty), :new)")
            .condition_expression(if known == 0 {
                "attribute_exists(pk) AND attribute_not_exists(allowances)"
            } else {
                "attribute_exists(allowances) AND size(allowances) = :n"
            })
            .expression_attribute_values(":empty", AttributeValue::L(vec![]))
            .expression_attribute_values(":new", list);
        let result = if known == 0 { result } else { result.expression_attribute_values(":n", AttributeValue::N(known.to_string())) };
        if condition_held(result.send().await)? { Ok(()) } else { Err(StoreError::Conflict) }
    }

    async fn set_allowance_status(&self, invoice: &InvoiceItem, index: usize, status: AllowanceStatus) -> Result<(), StoreError> {
        self.client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(invoice.pk.clone(), invoice.sk.clone())))
            .update_expression(format!("SET allowances[{index}].#status = :status"))
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(status.as_str()))
            .send()
            .await
            .map(|_| ())
            .map_err(dynamo)
    }

    async fn record_void(&self, invoice: &InvoiceItem, at: DateTime<Utc>) -> Result<(), StoreError> {
        let stamp = s(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        self.transact(vec![
            invoice_update(self.table(), invoice, "SET voided_at = if_not_exists(voided_at, :at)", ":at", stamp),
            order_status_update(self.table(), &invoice.merchant_id, &invoice.order_id, InvoiceStatus::Void, Reason::Keep, Due::Keep, ORDER_EXISTS),
        ])
        .await
    }

    async fn record_upload(&self, invoice: &InvoiceItem, order_status: InvoiceStatus, due: Due, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let write = |order_condition: &str, due: Due| {
            vec![
                invoice_update(self.table(), invoice, "SET upload = :upload", ":upload", attribute(&invoice.upload)),
                order_status_update(self.table(), &invoice.merchant_id, &invoice.order_id, order_status, Reason::Keep, due, order_condition),
            ]
        };
        let result = self.client().transact_write_items().set_transact_items(Some(write(NO_RETURN_PENDING, due))).send().await;
        let Err(e) = result else { return Ok(false) };
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
        let return_pending = matches!(e.as_service_error(), Some(E::TransactionCanceledException(c))
            if c.cancellation_reasons().get(1).and_then(|r| r.code()) == Some("ConditionalCheckFailed"));
        if !return_pending {
            return Err(dynamo(e));
        }
        let due = match due {
            Due::Done => Due::Later { at: now + einvoice_domain::recovery::HANDOFF_GRACE, failed: false },
            later => later,
        };
        self.transact(write(ORDER_EXISTS, due)).await?;
        Ok(true)
    }
}
