//! The DynamoDB adapter of the store ports: [`Store`], one file per port (`plans.rs`,
//! `idempotency.rs`, `settings.rs`, `mail.rs`, `orders.rs`, `invoices.rs`, `numbers.rs`, `due.rs`,
//! `prizes.rs`),
//! the conditions as DynamoDB expressions. Item layout: docs/table-layout.md.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::StoreError;
use crate::aws::describe;

mod due;
mod idempotency;
mod invoices;
mod mail;
mod numbers;
mod order_writes;
mod orders;
mod plans;
mod prizes;
mod settings;

pub(crate) fn dynamo<E: std::error::Error + 'static>(e: SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>) -> StoreError {
    StoreError::Dynamo(describe(&e))
}

pub(crate) fn to_item<T: Serialize>(value: &T) -> HashMap<String, AttributeValue> {
    serde_dynamo::to_item(value).expect("our items serialize to DynamoDB maps")
}

pub(crate) fn from_item<T: DeserializeOwned>(item: HashMap<String, AttributeValue>) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// One value as a DynamoDB attribute, written the way whole items are (serde_dynamo).
pub(crate) fn attribute<T: Serialize>(value: &T) -> AttributeValue {
    serde_dynamo::to_attribute_value(value).expect("our values serialize to DynamoDB attributes")
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn key(pk: String, sk: impl Into<String>) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

/// The answer of a single-item write with a condition: `true` when it was written, `false` when
/// its condition did not hold (an answer, not an error).
pub(crate) fn condition_held<T, E>(result: Result<T, SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>>) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().and_then(ProvideErrorMetadata::code) == Some("ConditionalCheckFailedException") => Ok(false),
        Err(e) => Err(dynamo(e)),
    }
}

/// A transaction that cancelled because a condition failed is a [`StoreError::Conflict`].
fn transaction_error(
    e: SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> StoreError {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
    if let Some(E::TransactionCanceledException(c)) = e.as_service_error() {
        let conditional = c.cancellation_reasons().iter().any(|r| r.code() == Some("ConditionalCheckFailed"));
        let conflicting = c.cancellation_reasons().iter().any(|r| r.code() == Some("TransactionConflict"));
        if conditional || conflicting {
            return StoreError::Conflict;
        }
    }
    dynamo(e)
}

/// The condition of a whole-item write at `version`: nobody wrote the item since it was read at
/// `version - 1` (version 1: no item existed). Plans, settings and orders are written so.
fn versioned(version: u64) -> (&'static str, Vec<(&'static str, AttributeValue)>) {
    if version <= 1 { ("attribute_not_exists(pk)", vec![]) } else { ("version = :expected", vec![(":expected", AttributeValue::N((version - 1).to_string()))]) }
}

fn put(item: HashMap<String, AttributeValue>, table: &str, condition: &str) -> TransactWriteItem {
    TransactWriteItem::builder()
        .put(Put::builder().table_name(table).set_item(Some(item)).condition_expression(condition).build().expect("put is complete"))
        .build()
}

/// The table, typed.
#[derive(Clone)]
pub struct Store {
    client: Client,
    table: String,
}

impl Store {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, pk: String, sk: &str) -> Result<Option<T>, StoreError> {
        let out = self.client.get_item().table_name(&self.table).set_key(Some(key(pk, sk))).consistent_read(true).send().await.map_err(dynamo)?;
        out.item.map(from_item).transpose()
    }

    /// Reads up to 100 items in one `BatchGetItem` (strongly consistent; keys DynamoDB left
    /// unprocessed are asked for again), each in the position of its key. One round trip
    /// where separate `GetItem`s would be several.
    pub(crate) async fn get_many(&self, keys: &[(String, &str)]) -> Result<Vec<Option<HashMap<String, AttributeValue>>>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut found: HashMap<(String, String), HashMap<String, AttributeValue>> = HashMap::new();
        let mut ask: Vec<HashMap<String, AttributeValue>> = keys.iter().map(|(pk, sk)| key(pk.clone(), *sk)).collect();
        while !ask.is_empty() {
            let request = KeysAndAttributes::builder().set_keys(Some(ask)).consistent_read(true).build().expect("keys are set");
            let out = self.client.batch_get_item().request_items(&self.table, request).send().await.map_err(dynamo)?;
            for item in out.responses().and_then(|r| r.get(&self.table)).into_iter().flatten() {
                let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                found.insert((text("pk"), text("sk")), item.clone());
            }
            ask = out.unprocessed_keys().and_then(|u| u.get(&self.table)).map(|k| k.keys().to_vec()).unwrap_or_default();
        }
        Ok(keys.iter().map(|(pk, sk)| found.remove(&(pk.clone(), (*sk).to_owned()))).collect())
    }

    /// Runs a transaction; a failed condition (or a conflicting transaction) is `Conflict`.
    pub(crate) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        self.client.transact_write_items().set_transact_items(Some(items)).send().await.map(|_| ()).map_err(transaction_error)
    }

    /// Puts `item` unless an item with its key exists; `false` if one did.
    pub(crate) async fn put_if_absent<T: Serialize>(&self, item: &T) -> Result<bool, StoreError> {
        condition_held(
            self.client.put_item().table_name(&self.table).set_item(Some(to_item(item))).condition_expression("attribute_not_exists(pk)").send().await,
        )
    }
}
