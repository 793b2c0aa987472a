//! [`NumberLedger`] on DynamoDB: 字軌 ranges and their counters, skipped numbers, the period
//! registry and the close record (docs/table-layout.md §3.10–3.13, §6.8, §6.12).

use std::collections::{BTreeSet, HashMap, HashSet};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};

use super::{Store, condition_held, dynamo, from_item, key, s, to_item};
use crate::store::orders::{PeriodCloseItem, PeriodMerchantItem, PeriodNumbers, RangeItem, SkippedNumberItem, order_keys};
use crate::store::{NumberLedger, StoreError};

#[async_trait]
impl NumberLedger for Store {
    async fn ranges(&self, merchant_id: &str, period: &str) -> Result<Vec<RangeItem>, StoreError> {
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk AND begins_with(sk, :range)")
            .expression_attribute_values(":pk", s(order_keys::ranges(merchant_id, period)))
            .expression_attribute_values(":range", s("RANGE#"))
            .consistent_read(true)
            .send()
            .await
            .map_err(dynamo)?;
        out.items().iter().map(|i| from_item(i.clone())).collect()
    }

    async fn add_range(&self, range: &RangeItem) -> Result<bool, StoreError> {
        let listed = PeriodMerchantItem {
            pk: order_keys::period(&range.period),
            sk: crate::store::keys::merchant(&range.merchant_id),
            entity: "period_merchant".into(),
            merchant_id: range.merchant_id.clone(),
            period: range.period.clone(),
        };
        self.client().put_item().table_name(self.table()).set_item(Some(to_item(&listed))).send().await.map_err(dynamo)?;
        self.put_if_absent(range).await
    }

    async fn take_block(&self, range: &RangeItem, wanted: u32) -> Result<Option<(u32, u32)>, StoreError> {
        let wanted = wanted.max(1);
        // The whole block fits while `next + wanted - 1 <= last`.
        let latest_start = i64::from(range.last) + 1 - i64::from(wanted);
        let counter =
            |item: Option<&HashMap<String, AttributeValue>>| item.and_then(|a| a.get("next")).and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<u32>().ok());
        // Each round that loses the tail to a concurrent taker starts over.
        for _ in 0..8 {
            let result = self
                .client()
                .update_item()
                .table_name(self.table())
                .set_key(Some(key(range.pk.clone(), range.sk.clone())))
                .update_expression("SET #next = #next + :n")
                .condition_expression("#next <= :latest_start")
                .expression_attribute_names("#next", "next")
                .expression_attribute_values(":n", AttributeValue::N(wanted.to_string()))
                .expression_attribute_values(":latest_start", AttributeValue::N(latest_start.to_string()))
                .return_values(ReturnValue::UpdatedOld)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .send()
                .await;
            let seen = match result {
                Ok(out) => {
                    let first = counter(out.attributes()).ok_or_else(|| StoreError::Corrupt("range update returned no counter".into()))?;
                    return Ok(Some((first, wanted)));
                }
                Err(e) => match e.as_service_error() {
                    Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c)) => counter(c.item()),
                    _ => return Err(dynamo(e)),
                },
            };
            // Fewer than `wanted` left: take what is left, if the counter did not move meanwhile.
            let Some(seen) = seen.filter(|n| *n <= range.last) else {
                return Ok(None);
            };
            let rest = self
                .client()
                .update_item()
                .table_name(self.table())
                .set_key(Some(key(range.pk.clone(), range.sk.clone())))
                .update_expression("SET #next = :end")
                .condition_expression("#next = :seen")
                .expression_attribute_names("#next", "next")
                .expression_attribute_values(":seen", AttributeValue::N(seen.to_string()))
                .expression_attribute_values(":end", AttributeValue::N((range.last + 1).to_string()))
                .send()
                .await;
            // Otherwise another taker moved the counter first: start over.
            if condition_held(rest)? {
                return Ok(Some((seen, range.last + 1 - seen)));
            }
        }
        Err(StoreError::Dynamo("number range contended: no block after 8 rounds".into()))
    }

    async fn numbers_in_use(&self, seller_ubn: &str, numbers: &[String]) -> Result<HashSet<String>, StoreError> {
        // Each number once (BatchGetItem refuses a key twice), 100 keys per call.
        let distinct: Vec<&String> = numbers.iter().collect::<BTreeSet<_>>().into_iter().collect();
        let mut used = HashSet::new();
        for chunk in distinct.chunks(100) {
            let keys: Vec<(String, &str)> = chunk.iter().map(|n| (order_keys::invoice_number(seller_ubn, n), order_keys::REF)).collect();
            let found = self.get_many(&keys).await?;
            used.extend(chunk.iter().zip(found).filter(|(_, guard)| guard.is_some()).map(|(n, _)| (*n).clone()));
        }
        Ok(used)
    }

    async fn record_skipped_number(
        &self,
        merchant_id: &str,
        period: &str,
        number: &str,
        order_id: &str,
        reason: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let item = SkippedNumberItem {
            pk: order_keys::ranges(merchant_id, period),
            sk: order_keys::skipped(number),
            entity: "skipped_number".into(),
            number: number.into(),
            order_id: order_id.into(),
            reason: reason.into(),
            at,
        };
        self.client().put_item().table_name(self.table()).set_item(Some(to_item(&item))).send().await.map(|_| ()).map_err(dynamo)
    }

    async fn period_merchants(&self, period: &str) -> Result<Vec<String>, StoreError> {
        let mut merchants = Vec::new();
        let mut pages = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(order_keys::period(period)))
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            let item: PeriodMerchantItem = from_item(item.map_err(dynamo)?)?;
            merchants.push(item.merchant_id);
        }
        Ok(merchants)
    }

    async fn period_numbers(&self, merchant_id: &str, period: &str) -> Result<PeriodNumbers, StoreError> {
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(order_keys::ranges(merchant_id, period)))
            .consistent_read(true)
            .send()
            .await
            .map_err(dynamo)?;
        let mut numbers = PeriodNumbers::default();
        for item in out.items() {
            match item.get("entity").and_then(|e| e.as_s().ok()).map(String::as_str) {
                Some("number_range") => numbers.ranges.push(from_item(item.clone())?),
                Some("skipped_number") => numbers.skipped.push(from_item::<SkippedNumberItem>(item.clone())?.number),
                Some("period_close") => numbers.closed = Some(from_item(item.clone())?),
                _ => {}
            }
        }
        Ok(numbers)
    }

    async fn record_period_close(&self, close: &PeriodCloseItem) -> Result<bool, StoreError> {
        self.put_if_absent(close).await
    }
}
