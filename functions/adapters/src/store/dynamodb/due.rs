//! [`DueIndex`] on DynamoDB: the order's `due_at` / `due_shard` / `retries`, and the sparse
//! `by-due` index over them (docs/table-layout.md §4.2, §6.13).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};

use super::order_writes::{due_parts, due_values, update_expression};
use super::{Store, condition_held, dynamo, from_item, s};
use crate::store::orders::{DUE_INDEX, DUE_SHARDS, Due, DueOrder, due_stamp};
use crate::store::{DueIndex, StoreError};

#[async_trait]
impl DueIndex for Store {
    async fn defer(&self, merchant_id: &str, order_id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let due = Due::Later { at, failed: true };
        let (set, _) = due_parts(due);
        let mut update = self
            .order_update(merchant_id, order_id)
            .update_expression(update_expression(&[set.as_slice(), &["version = version + :one"]].concat(), &[]))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":one", AttributeValue::N("1".into()));
        for (name, value) in due_values(due, merchant_id, order_id) {
            update = update.expression_attribute_values(name, value);
        }
        if condition_held(update.send().await)? { Ok(()) } else { Err(StoreError::Conflict) }
    }

    async fn settle_due(&self, merchant_id: &str, order_id: &str, seen: &str) -> Result<bool, StoreError> {
        let result = self
            .order_update(merchant_id, order_id)
            .update_expression("REMOVE due_at, due_shard, retries SET version = version + :one")
            .condition_expression("due_at = :seen")
            .expression_attribute_values(":seen", s(seen))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await;
        condition_held(result)
    }

    async fn due_orders(&self, now: DateTime<Utc>, limit: usize) -> Result<(Vec<DueOrder>, bool), StoreError> {
        let mut due = Vec::new();
        let mut more = false;
        let limit_i32 = i32::try_from(limit.max(1)).unwrap_or(i32::MAX);
        for shard in 0..DUE_SHARDS {
            let out = self
                .client()
                .query()
                .table_name(self.table())
                .index_name(DUE_INDEX)
                .key_condition_expression("due_shard = :shard AND due_at <= :now")
                .expression_attribute_values(":shard", s(format!("DUE#{shard}")))
                .expression_attribute_values(":now", s(due_stamp(now)))
                .limit(limit_i32)
                .send()
                .await
                .map_err(dynamo)?;
            more |= out.last_evaluated_key().is_some();
            for item in out.items() {
                due.push(from_item::<DueOrder>(item.clone())?);
            }
        }
        due.sort_by(|a, b| a.due_at.cmp(&b.due_at));
        more |= due.len() > limit;
        due.truncate(limit);
        Ok((due, more))
    }
}
