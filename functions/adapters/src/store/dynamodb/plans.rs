//! [`PlanStore`] on DynamoDB: the plan, plan orders with their order-id pointers, notices, and
//! the `by-expiry` index (docs/table-layout.md §3.1–3.4, §6.1–6.4, §6.7).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono::{DateTime, NaiveDate, Utc};

use super::{Store, condition_held, dynamo, from_item, key, put, s, to_item, versioned};
use crate::store::{
    EXPIRY_INDEX, ExpiringPlans, IdempotencyState, MerchantItems, NoticeItem, OrderRefItem, PlanItem, PlanOrderItem, PlanOrderStatus, PlanStore, StoreError,
    keys,
};

impl Store {
    /// A whole-plan Put that holds only if nobody wrote the plan since it was read at
    /// `plan.version - 1` (version 1: no plan existed).
    fn plan_put(&self, plan: &PlanItem) -> Put {
        let (condition, values) = versioned(plan.version);
        let mut put = Put::builder().table_name(&self.table).set_item(Some(to_item(plan))).condition_expression(condition);
        for (name, value) in values {
            put = put.expression_attribute_values(name, value);
        }
        put.build().expect("put is complete")
    }
}

#[async_trait]
impl PlanStore for Store {
    async fn plan(&self, merchant_id: &str) -> Result<Option<PlanItem>, StoreError> {
        self.get(keys::merchant(merchant_id), keys::PLAN).await
    }

    async fn plan_order(&self, merchant_id: &str, order_id: &str) -> Result<Option<PlanOrderItem>, StoreError> {
        self.get(keys::merchant(merchant_id), &keys::plan_order(order_id)).await
    }

    async fn plan_order_merchant(&self, order_id: &str) -> Result<Option<String>, StoreError> {
        let r: Option<OrderRefItem> = self.get(keys::plan_order(order_id), keys::REF).await?;
        Ok(r.map(|r| r.merchant_id))
    }

    async fn merchant_items(&self, merchant_id: &str) -> Result<MerchantItems, StoreError> {
        let mut items = MerchantItems::default();
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(keys::merchant(merchant_id)))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        while let Some(item) = pages.next().await {
            let item = item.map_err(dynamo)?;
            match item.get("entity").and_then(|v| v.as_s().ok()).map(String::as_str) {
                Some("plan") => items.plan = Some(from_item(item)?),
                Some("invoice_settings") => items.settings = Some(from_item(item)?),
                Some("plan_order") => items.orders.push(from_item(item)?),
                Some("notice") => items.notices.push(from_item(item)?),
                _ => {}
            }
        }
        Ok(items)
    }

    async fn create_plan_order(&self, order: &PlanOrderItem, completes: Option<(&str, u16, &str)>) -> Result<(), StoreError> {
        let reference = OrderRefItem {
            pk: keys::plan_order(&order.order_id),
            sk: keys::REF.into(),
            entity: "plan_order_ref".into(),
            merchant_id: order.merchant_id.clone(),
        };
        let mut items = vec![put(to_item(order), &self.table, "attribute_not_exists(pk)"), put(to_item(&reference), &self.table, "attribute_not_exists(pk)")];
        if let Some((pk, status, body)) = completes {
            items.push(
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name(&self.table)
                            .set_key(Some(key(pk.to_owned(), keys::IDEMPOTENCY)))
                            .update_expression("SET #state = :completed, status_code = :status, response_body = :body")
                            .condition_expression("#state = :in_progress AND resource_id = :rid")
                            .expression_attribute_names("#state", "state")
                            .expression_attribute_values(":completed", s(IdempotencyState::Completed.as_str()))
                            .expression_attribute_values(":in_progress", s(IdempotencyState::InProgress.as_str()))
                            .expression_attribute_values(":status", AttributeValue::N(status.to_string()))
                            .expression_attribute_values(":body", s(body))
                            .expression_attribute_values(":rid", s(order.order_id.clone()))
                            .build()
                            .expect("update is complete"),
                    )
                    .build(),
            );
        }
        self.transact(items).await
    }

    async fn apply_payment(&self, paid_order: &PlanOrderItem, plan: &PlanItem, notice: Option<&NoticeItem>) -> Result<(), StoreError> {
        let order_put = TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(to_item(paid_order)))
                    .condition_expression("#status IN (:pending, :failed)")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":pending", s(PlanOrderStatus::PendingPayment.as_str()))
                    .expression_attribute_values(":failed", s(PlanOrderStatus::Failed.as_str()))
                    .build()
                    .expect("put is complete"),
            )
            .build();
        let plan_put = self.plan_put(plan);
        let mut items = vec![order_put, TransactWriteItem::builder().put(plan_put).build()];
        if let Some(n) = notice {
            items.push(put(to_item(n), &self.table, "attribute_not_exists(pk)"));
        }
        self.transact(items).await
    }

    async fn put_plan(&self, plan: &PlanItem, notice: Option<&NoticeItem>) -> Result<(), StoreError> {
        let mut items = vec![TransactWriteItem::builder().put(self.plan_put(plan)).build()];
        if let Some(n) = notice {
            items.push(put(to_item(n), &self.table, "attribute_not_exists(pk)"));
        }
        self.transact(items).await
    }

    async fn record_renewal(&self, order: &PlanOrderItem, plan: &PlanItem) -> Result<(), StoreError> {
        let reference = OrderRefItem {
            pk: keys::plan_order(&order.order_id),
            sk: keys::REF.into(),
            entity: "plan_order_ref".into(),
            merchant_id: order.merchant_id.clone(),
        };
        let items = vec![
            put(to_item(order), &self.table, "attribute_not_exists(pk)"),
            put(to_item(&reference), &self.table, "attribute_not_exists(pk)"),
            TransactWriteItem::builder().put(self.plan_put(plan)).build(),
        ];
        self.transact(items).await
    }

    async fn plans_expiring(&self, from: NaiveDate, to: NaiveDate) -> Result<ExpiringPlans, StoreError> {
        let mut found = ExpiringPlans::default();
        for day in from.iter_days().take_while(|d| *d <= to) {
            let mut start = None;
            loop {
                let page = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(EXPIRY_INDEX)
                    .key_condition_expression("expires_on = :day")
                    .expression_attribute_values(":day", s(day.to_string()))
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(dynamo)?;
                found.queries += 1;
                found.items_read += u64::try_from(page.scanned_count()).unwrap_or(0);
                for item in page.items() {
                    found.plans.push(from_item(item.clone())?);
                }
                start = page.last_evaluated_key().cloned();
                if start.is_none() {
                    break;
                }
            }
        }
        Ok(found)
    }

    async fn fail_plan_order(&self, merchant_id: &str, order_id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::merchant(merchant_id), keys::plan_order(order_id))))
            .update_expression("SET #status = :failed, failed_at = :at")
            .condition_expression("#status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":failed", s(PlanOrderStatus::Failed.as_str()))
            .expression_attribute_values(":pending", s(PlanOrderStatus::PendingPayment.as_str()))
            .expression_attribute_values(":at", s(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
            .send()
            .await;
        condition_held(result)
    }

    async fn lease_order_effects(&self, merchant_id: &str, order_id: &str, now: DateTime<Utc>, until: DateTime<Utc>) -> Result<bool, StoreError> {
        let stamp = |t: DateTime<Utc>| s(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::merchant(merchant_id), keys::plan_order(order_id))))
            .update_expression("SET effects_lease_until = :until")
            .condition_expression(
                "(pending_onboarding = :t OR pending_notification = :t) \
                 AND (attribute_not_exists(effects_lease_until) OR effects_lease_until < :now)",
            )
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":now", stamp(now))
            .expression_attribute_values(":until", stamp(until))
            .send()
            .await;
        condition_held(result)
    }

    async fn clear_order_flags(&self, merchant_id: &str, order_id: &str, flags: &[&str], release: bool) -> Result<(), StoreError> {
        let mut names: Vec<String> = (0..flags.len()).map(|i| format!("#f{i}")).collect();
        if release {
            names.push("effects_lease_until".into());
        }
        if names.is_empty() {
            return Ok(());
        }
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(keys::merchant(merchant_id), keys::plan_order(order_id))))
            .update_expression(format!("REMOVE {}", names.join(", ")));
        for (i, flag) in flags.iter().enumerate() {
            req = req.expression_attribute_names(format!("#f{i}"), *flag);
        }
        req.send().await.map(|_| ()).map_err(dynamo)
    }
}
