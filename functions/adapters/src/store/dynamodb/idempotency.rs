//! [`IdempotencyStore`] on DynamoDB: `Idempotency-Key` records (docs/table-layout.md §3.5, §6.4).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

use super::{Store, dynamo, from_item, key, s, to_item};
use crate::store::{Claim, IdempotencyItem, IdempotencyState, IdempotencyStore, StoreError, keys};

#[async_trait]
impl IdempotencyStore for Store {
    async fn claim_idempotency(&self, record: &IdempotencyItem) -> Result<Claim, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record)))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Claimed),
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c)) => match c.item.clone() {
                    Some(old) => Ok(Claim::Existing(from_item(old)?)),
                    None => self.idempotency(&record.pk).await?.map(Claim::Existing).ok_or(StoreError::Conflict),
                },
                _ => Err(dynamo(e)),
            },
        }
    }

    async fn idempotency(&self, pk: &str) -> Result<Option<IdempotencyItem>, StoreError> {
        self.get(pk.to_owned(), keys::IDEMPOTENCY).await
    }

    async fn release_idempotency(&self, pk: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk.to_owned(), keys::IDEMPOTENCY)))
            .condition_expression("#state = :in_progress")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":in_progress", s(IdempotencyState::InProgress.as_str()))
            .send()
            .await
            .map(|_| ())
            .or_else(|e| match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::delete_item::DeleteItemError::ConditionalCheckFailedException(_)) => Ok(()),
                _ => Err(dynamo(e)),
            })
    }
}
