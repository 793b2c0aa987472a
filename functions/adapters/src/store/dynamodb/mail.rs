//! [`MailLedger`] on DynamoDB: the send record of each merchant e-mail (docs/table-layout.md
//! §3.14, §6.14).

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};

use super::{Store, dynamo, from_item, key, s};
use crate::mail::{MAIL, MailClaim, MailItem, MailStatus, mail_key};
use crate::store::{MailLedger, StoreError};

fn millis(t: DateTime<Utc>) -> AttributeValue {
    s(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
}

#[async_trait::async_trait]
impl MailLedger for Store {
    async fn claim_mail(&self, record: &MailItem, now: DateTime<Utc>) -> Result<MailClaim, StoreError> {
        let lease = record.lease_until.ok_or_else(|| StoreError::Corrupt("a claim needs a lease".into()))?;
        let to = serde_dynamo::to_attribute_value(&record.to).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(record.pk.clone(), &record.sk)))
            .update_expression(
                "SET entity = :entity, event_id = :event_id, merchant_id = :merchant_id, template = :template, #to = :to, subject = :subject, \
                 #status = :sending, lease_until = :lease, attempts = if_not_exists(attempts, :zero) + :one, \
                 created_at = if_not_exists(created_at, :now), updated_at = :now, #ttl = :ttl",
            )
            .condition_expression("attribute_not_exists(pk) OR (#status <> :sent AND (attribute_not_exists(lease_until) OR lease_until < :now))")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#to", "to")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":entity", s(record.entity.clone()))
            .expression_attribute_values(":event_id", s(record.event_id.clone()))
            .expression_attribute_values(":merchant_id", s(record.merchant_id.clone()))
            .expression_attribute_values(":template", s(record.template.clone()))
            .expression_attribute_values(":to", to)
            .expression_attribute_values(":subject", s(record.subject.clone()))
            .expression_attribute_values(":sending", s(MailStatus::Sending.as_str()))
            .expression_attribute_values(":sent", s(MailStatus::Sent.as_str()))
            .expression_attribute_values(":lease", millis(lease))
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":now", millis(now))
            .expression_attribute_values(":ttl", AttributeValue::N(record.ttl.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(MailClaim::Claimed),
            Err(e) => e,
        };
        let Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c)) = err.as_service_error() else {
            return Err(dynamo(err));
        };
        let existing: MailItem = match c.item.clone() {
            Some(old) => from_item(old)?,
            None => self.get(mail_key(&record.event_id), MAIL).await?.ok_or(StoreError::Conflict)?,
        };
        Ok(if existing.status == MailStatus::Sent { MailClaim::Sent(existing) } else { MailClaim::Busy(existing) })
    }

    async fn mail_sent(&self, event_id: &str, message_id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(mail_key(event_id), MAIL)))
            .update_expression("SET #status = :sent, message_id = :id, sent_at = :at, updated_at = :at REMOVE lease_until, last_error")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":sent", s(MailStatus::Sent.as_str()))
            .expression_attribute_values(":id", s(message_id))
            .expression_attribute_values(":at", millis(at))
            .send()
            .await
            .map(|_| ())
            .map_err(dynamo)
    }

    async fn mail_failed(&self, event_id: &str, error: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let result = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key(mail_key(event_id), MAIL)))
            .update_expression("SET #status = :failed, last_error = :error, updated_at = :at REMOVE lease_until")
            .condition_expression("#status = :sending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":failed", s(MailStatus::Failed.as_str()))
            .expression_attribute_values(":sending", s(MailStatus::Sending.as_str()))
            .expression_attribute_values(":error", s(error))
            .expression_attribute_values(":at", millis(at))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(_)) => Ok(()),
                _ => Err(dynamo(e)),
            },
        }
    }

    async fn mail_record(&self, event_id: &str) -> Result<Option<MailItem>, StoreError> {
        self.get(mail_key(event_id), MAIL).await
    }
}

impl Store {
    /// Every send record of the table (a scan: for tests, never a function; the local stack keeps its own list).
    pub async fn mail_records(&self) -> Result<Vec<MailItem>, StoreError> {
        let mut pages = self
            .client()
            .scan()
            .table_name(self.table())
            .filter_expression("entity = :mail")
            .expression_attribute_values(":mail", s("mail"))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let mut out = Vec::new();
        while let Some(item) = pages.next().await {
            out.push(from_item(item.map_err(dynamo)?)?);
        }
        Ok(out)
    }
}
