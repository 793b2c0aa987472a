//! How the order-side items are written and read back on DynamoDB, shared by the ports' files:
//! a large order's lines apart from the order item, the order's status and due-time updates,
//! the invoice's updates.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};

use super::{Store, attribute, condition_held, dynamo, from_item, key, s, to_item};
use crate::store::StoreError;
use crate::store::orders::{Due, InvoiceItem, InvoiceStatus, OrderItem, OrderLinesItem, StoredLines, due_shard, due_stamp, order_keys, stored_lines};

pub(super) const ORDER_EXISTS: &str = "attribute_exists(pk)";
pub(super) const NO_RETURN_PENDING: &str = "attribute_exists(pk) AND attribute_not_exists(return_pending)";

/// `state.order` of an order item, as a map to take the lines out of or put them back in.
pub(super) fn order_map(item: &mut HashMap<String, AttributeValue>) -> Option<&mut HashMap<String, AttributeValue>> {
    match item.get_mut("state")? {
        AttributeValue::M(state) => match state.get_mut("order")? {
            AttributeValue::M(order) => Some(order),
            _ => None,
        },
        _ => None,
    }
}

/// The order item as written: with its lines, or with `lines_key` naming their own item (then
/// also returned, to be written first).
pub(super) fn order_attributes(order: &OrderItem) -> (HashMap<String, AttributeValue>, Option<StoredLines>) {
    let mut item = to_item(order);
    let lines = stored_lines(&order.state.order);
    match &lines {
        Some(l) => {
            if let Some(o) = order_map(&mut item) {
                o.remove("lines");
            }
            item.insert("lines_key".into(), s(l.key.clone()));
        }
        None => {
            item.remove("lines_key");
        }
    }
    (item, lines)
}

/// The order's invoice status set to `status` and its version moved (so a webhook holding an
/// older copy writes again on fresh data), its due time as `due` says.
pub(super) fn order_status_update(
    table: &str,
    merchant_id: &str,
    order_id: &str,
    status: InvoiceStatus,
    reason: Reason,
    due: Due,
    condition: &str,
) -> TransactWriteItem {
    let mut update = Update::builder()
        .table_name(table)
        .set_key(Some(key(order_keys::order(merchant_id, order_id), order_keys::ORDER)))
        .update_expression(status_expression(status, reason, due))
        .condition_expression(condition)
        .expression_attribute_values(":status", attribute(&status))
        .expression_attribute_values(":one", AttributeValue::N("1".into()));
    for (name, value) in due_values(due, merchant_id, order_id) {
        update = update.expression_attribute_values(name, value);
    }
    TransactWriteItem::builder().update(update.build().expect("update is complete")).build()
}

/// The `SET` and `REMOVE` parts of an update expression that moves the due time as `due` says.
pub(super) fn due_parts(due: Due) -> (Vec<&'static str>, Vec<&'static str>) {
    match due {
        Due::Keep => (vec![], vec![]),
        Due::Later { failed: false, .. } => (vec!["due_at = :due_at", "due_shard = :due_shard"], vec![]),
        Due::Later { failed: true, .. } => (vec!["due_at = :due_at", "due_shard = :due_shard", "retries = if_not_exists(retries, :zero) + :one"], vec![]),
        Due::Done => (vec![], vec!["due_at", "due_shard", "retries"]),
    }
}

/// The values `due_parts` names.
pub(super) fn due_values(due: Due, merchant_id: &str, order_id: &str) -> Vec<(&'static str, AttributeValue)> {
    match due {
        Due::Later { at, failed } => {
            let mut values = vec![(":due_at", s(due_stamp(at))), (":due_shard", s(due_shard(merchant_id, order_id)))];
            if failed {
                values.push((":zero", AttributeValue::N("0".into())));
            }
            values
        }
        Due::Keep | Due::Done => vec![],
    }
}

/// An update of the invoice item itself.
pub(super) fn invoice_update(table: &str, invoice: &InvoiceItem, expression: &str, name: &str, value: AttributeValue) -> TransactWriteItem {
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(key(invoice.pk.clone(), invoice.sk.clone())))
        .update_expression(expression)
        .condition_expression("attribute_exists(pk)")
        .expression_attribute_values(name, value)
        .build()
        .expect("update is complete");
    TransactWriteItem::builder().update(update).build()
}

pub(super) fn conditional_put(table: &str, item: HashMap<String, AttributeValue>, condition: &str, values: &[(&str, AttributeValue)]) -> TransactWriteItem {
    let mut put = Put::builder().table_name(table).set_item(Some(item)).condition_expression(condition);
    for (name, value) in values {
        put = put.expression_attribute_values(*name, value.clone());
    }
    TransactWriteItem::builder().put(put.build().expect("put is complete")).build()
}

/// What a status update does with `invoice_reason`.
#[derive(Clone, Copy)]
pub(super) enum Reason {
    Keep,
    /// Set to `:reason`.
    Set,
    Clear,
}

/// `SET invoice_status = :status` with the version moved; a status that answers the invoice
/// request also clears its claim (`request_pending`).
pub(super) fn status_expression(status: InvoiceStatus, reason: Reason, due: Due) -> String {
    let (mut set, mut removed) = due_parts(due);
    set.extend(["invoice_status = :status", "version = version + :one"]);
    match reason {
        Reason::Keep => {}
        Reason::Set => set.push("invoice_reason = :reason"),
        Reason::Clear => removed.push("invoice_reason"),
    }
    if status.answers_request() {
        removed.push("request_pending");
    }
    update_expression(&set, &removed)
}

pub(super) fn update_expression(set: &[&str], removed: &[&str]) -> String {
    let mut expression = format!("SET {}", set.join(", "));
    if !removed.is_empty() {
        expression.push_str(&format!(" REMOVE {}", removed.join(", ")));
    }
    expression
}

impl Store {
    /// An `UpdateItem` of the order item `ORDER#{merchant_id}#{order_id}` / `ORDER`.
    pub(super) fn order_update(&self, merchant_id: &str, order_id: &str) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client().update_item().table_name(self.table()).set_key(Some(key(order_keys::order(merchant_id, order_id), order_keys::ORDER)))
    }

    /// One item as stored (consistent GetItem).
    pub(super) async fn raw_item(&self, pk: &str, sk: &str) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self.client().get_item().table_name(self.table()).set_key(Some(key(pk.to_owned(), sk))).consistent_read(true).send().await.map_err(dynamo)?;
        Ok(out.item)
    }

    /// An order item as read, made whole: a large order's lines (`lines_key`) are put back into
    /// its state, from `known` when those are the lines (no read), else read from their item.
    pub(super) async fn complete_order(&self, mut raw: HashMap<String, AttributeValue>, known: Option<&StoredLines>) -> Result<OrderItem, StoreError> {
        let key = raw.get("lines_key").and_then(|v| v.as_s().ok()).cloned();
        if let Some(key) = key
            && order_map(&mut raw).is_some_and(|o| !o.contains_key("lines"))
        {
            let lines = match known {
                Some(k) if k.key == key => k.attribute.clone(),
                _ => {
                    let pk = raw.get("pk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                    self.stored_order_lines(&pk, &key).await?
                }
            };
            if let Some(o) = order_map(&mut raw) {
                o.insert("lines".into(), lines);
            }
        }
        from_item(raw)
    }

    /// The `lines` of a large order's lines item (consistent GetItem).
    async fn stored_order_lines(&self, pk: &str, sk: &str) -> Result<AttributeValue, StoreError> {
        let item = self.raw_item(pk, sk).await?;
        item.and_then(|mut i| i.remove("lines")).ok_or_else(|| StoreError::Corrupt(format!("order {pk} names its lines {sk}, which are not stored")))
    }

    /// Writes a large order's lines item, unless it is there already (same key, same lines).
    pub(super) async fn put_order_lines(&self, order: &OrderItem, lines: &StoredLines) -> Result<(), StoreError> {
        let head = OrderLinesItem {
            pk: order.pk.clone(),
            sk: &lines.key,
            entity: "order_lines",
            merchant_id: &order.merchant_id,
            order_id: &order.order_id,
            line_count: lines.count,
            created_at: order.updated_at,
        };
        let mut item = to_item(&head);
        item.insert("lines".into(), lines.attribute.clone());
        let result = self.client().put_item().table_name(self.table()).set_item(Some(item)).condition_expression("attribute_not_exists(pk)").send().await;
        // A failed condition is the answer: nothing to do.
        condition_held(result).map(drop)
    }
}
