//! [`OrderStore`] on DynamoDB: the order item, a large order's lines item, and the reads that
//! bring an order together with what its handler needs (docs/table-layout.md §3.7, §3.7a, §6.6).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use super::order_writes::{Reason, due_values, order_attributes, status_expression};
use super::versioned;
use super::{Store, attribute, condition_held, dynamo, from_item, s};
use crate::store::orders::{Due, InvoiceItem, InvoiceStatus, IssueContext, OrderHead, OrderItem, OrderWrite, WebhookContext, order_keys, stored_lines};
use crate::store::{OrderStore, PlanItem, StoreError, keys};

#[async_trait]
impl OrderStore for Store {
    async fn order(&self, merchant_id: &str, order_id: &str) -> Result<Option<OrderItem>, StoreError> {
        match self.raw_item(&order_keys::order(merchant_id, order_id), order_keys::ORDER).await? {
            Some(raw) => Ok(Some(self.complete_order(raw, None).await?)),
            None => Ok(None),
        }
    }

    async fn order_head(&self, merchant_id: &str, order_id: &str) -> Result<Option<OrderHead>, StoreError> {
        self.get(order_keys::order(merchant_id, order_id), order_keys::ORDER).await
    }

    async fn webhook_context(&self, merchant_id: &str, order_id: &str, event: &einvoice_domain::Order) -> Result<WebhookContext, StoreError> {
        let merchant = keys::merchant(merchant_id);
        let keys = [(order_keys::order(merchant_id, order_id), order_keys::ORDER), (merchant.clone(), keys::SETTINGS), (merchant, keys::PLAN)];
        let [order, settings, plan]: [_; 3] = self.get_many(&keys).await?.try_into().expect("one answer per key");
        let order = match order {
            Some(raw) => Some(self.complete_order(raw, stored_lines(event).as_ref()).await?),
            None => None,
        };
        Ok(WebhookContext { order, settings: settings.map(from_item).transpose()?, plan: plan.map(from_item).transpose()? })
    }

    async fn order_and_invoice(&self, merchant_id: &str, order_id: &str) -> Result<(Option<OrderItem>, Option<InvoiceItem>), StoreError> {
        let pk = order_keys::order(merchant_id, order_id);
        let [order, invoice]: [_; 2] =
            self.get_many(&[(pk.clone(), order_keys::ORDER), (pk, order_keys::INVOICE)]).await?.try_into().expect("one answer per key");
        let order = match order {
            Some(raw) => Some(self.complete_order(raw, None).await?),
            None => None,
        };
        Ok((order, invoice.map(from_item).transpose()?))
    }

    async fn invoice_view_context(&self, merchant_id: &str, order_id: &str) -> Result<(Option<OrderHead>, Option<InvoiceItem>), StoreError> {
        let pk = order_keys::order(merchant_id, order_id);
        let [order, invoice]: [_; 2] =
            self.get_many(&[(pk.clone(), order_keys::ORDER), (pk, order_keys::INVOICE)]).await?.try_into().expect("one answer per key");
        Ok((order.map(from_item).transpose()?, invoice.map(from_item).transpose()?))
    }

    async fn proof_context(&self, merchant_id: &str, order_id: &str) -> Result<(Option<OrderHead>, Option<InvoiceItem>, Option<PlanItem>), StoreError> {
        let pk = order_keys::order(merchant_id, order_id);
        let keys = [(pk.clone(), order_keys::ORDER), (pk, order_keys::INVOICE), (keys::merchant(merchant_id), keys::PLAN)];
        let [order, invoice, plan]: [_; 3] = self.get_many(&keys).await?.try_into().expect("one answer per key");
        Ok((order.map(from_item).transpose()?, invoice.map(from_item).transpose()?, plan.map(from_item).transpose()?))
    }

    async fn issue_context(&self, merchant_id: &str, order_id: &str) -> Result<IssueContext, StoreError> {
        let order = order_keys::order(merchant_id, order_id);
        let keys = [(order.clone(), order_keys::ORDER), (order, order_keys::INVOICE), (keys::merchant(merchant_id), keys::SETTINGS)];
        let [order, invoice, settings]: [_; 3] = self.get_many(&keys).await?.try_into().expect("one answer per key");
        let order = match order {
            Some(raw) => Some(self.complete_order(raw, None).await?),
            None => None,
        };
        Ok(IssueContext { order, invoice: invoice.map(from_item).transpose()?, settings: settings.map(from_item).transpose()? })
    }

    async fn save_order(&self, order: &OrderItem, previous: Option<&OrderItem>) -> Result<OrderWrite, StoreError> {
        use aws_sdk_dynamodb::operation::put_item::PutItemError;
        let (item, lines) = order_attributes(order);
        if let Some(l) = &lines
            && previous.and_then(|p| p.lines_key.as_deref()) != Some(l.key.as_str())
        {
            self.put_order_lines(order, l).await?;
        }
        let (condition, values) = versioned(order.version);
        let mut put = self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression(condition)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (name, value) in values {
            put = put.expression_attribute_values(name, value);
        }
        match put.send().await {
            Ok(_) => Ok(OrderWrite::Saved),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(c)) => {
                    let current = match c.item() {
                        Some(raw) => Some(Box::new(self.complete_order(raw.clone(), lines.as_ref()).await?)),
                        None => None,
                    };
                    Ok(OrderWrite::Stale(current))
                }
                _ => Err(dynamo(e)),
            },
        }
    }

    async fn finish_return(&self, merchant_id: &str, order_id: &str, seen_version: u64) -> Result<(), StoreError> {
        let result = self
            .order_update(merchant_id, order_id)
            .update_expression("REMOVE return_pending, due_at, due_shard, retries SET version = version + :one")
            .condition_expression("version = :seen")
            .expression_attribute_values(":seen", AttributeValue::N(seen_version.to_string()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await;
        // A failed condition is the answer: nothing to do.
        condition_held(result).map(drop)
    }

    async fn set_invoice_status(&self, merchant_id: &str, order_id: &str, status: InvoiceStatus, reason: Option<&str>, due: Due) -> Result<(), StoreError> {
        let mut update = self
            .order_update(merchant_id, order_id)
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":status", attribute(&status))
            .expression_attribute_values(":one", AttributeValue::N("1".into()));
        for (name, value) in due_values(due, merchant_id, order_id) {
            update = update.expression_attribute_values(name, value);
        }
        update = match reason {
            Some(r) => update.update_expression(status_expression(status, Reason::Set, due)).expression_attribute_values(":reason", s(r)),
            None => update.update_expression(status_expression(status, Reason::Clear, due)),
        };
        if condition_held(update.send().await)? { Ok(()) } else { Err(StoreError::Conflict) }
    }
}

#[cfg(any(test, feature = "testing"))]
#[async_trait]
impl crate::store::contract::OrderLinesProbe for Store {
    /// The order partition's `LINES#…` items (a consistent query).
    async fn order_lines_items(&self, merchant_id: &str, order_id: &str) -> Result<Vec<(String, chrono::DateTime<chrono::Utc>)>, StoreError> {
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk AND begins_with(sk, :lines)")
            .expression_attribute_values(":pk", s(order_keys::order(merchant_id, order_id)))
            .expression_attribute_values(":lines", s(order_keys::LINES_PREFIX))
            .consistent_read(true)
            .send()
            .await
            .map_err(dynamo)?;
        #[derive(serde::Deserialize)]
        struct Written {
            sk: String,
            created_at: chrono::DateTime<chrono::Utc>,
        }
        out.items().iter().map(|item| from_item::<Written>(item.clone()).map(|w| (w.sk, w.created_at))).collect()
    }
}
