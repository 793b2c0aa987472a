//! [`SettingsStore`] on DynamoDB: the invoice-settings item (docs/table-layout.md §3.6, §6.5).


use super::{Store, dynamo, to_item, versioned};
use crate::settings::SettingsItem;
use crate::store::{SettingsStore, StoreError, keys};

#[async_trait::async_trait]
impl SettingsStore for Store {
    async fn settings(&self, merchant_id: &str) -> Result<Option<SettingsItem>, StoreError> {
        self.get(keys::merchant(merchant_id), keys::SETTINGS).await
    }

    async fn put_settings(&self, item: &SettingsItem) -> Result<(), StoreError> {
        let (condition, values) = versioned(item.version);
        let mut put = self.client().put_item().table_name(self.table()).set_item(Some(to_item(item))).condition_expression(condition);
        for (name, value) in values {
            put = put.expression_attribute_values(name, value);
        }
        match put.send().await {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(_)) => Err(StoreError::Conflict),
                _ => Err(dynamo(e)),
            },
        }
    }
}
