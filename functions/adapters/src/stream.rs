//! The table's DynamoDB stream, as an event source mapping hands it to a Lambda: batches of
//! records (`{"Records": [...]}`) answered with the records that failed
//! (`ReportBatchItemFailures`), so a retry starts from the first failure instead of redoing
//! the whole batch.

use std::collections::HashMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A batch of stream records (the Lambda event of a DynamoDB event source mapping).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamEvent {
    #[serde(rename = "Records", default)]
    pub records: Vec<StreamRecord>,
}

/// One change of one item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamRecord {
    #[serde(rename = "eventID", default)]
    pub event_id: String,
    /// `INSERT`, `MODIFY` or `REMOVE`.
    #[serde(rename = "eventName")]
    pub event_name: String,
    #[serde(rename = "eventSource", default)]
    pub event_source: String,
    pub dynamodb: StreamChange,
}

/// The `dynamodb` part of a record: keys, the item after the change (the table's stream view
/// is `NEW_IMAGE`), and its position in the shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamChange {
    #[serde(rename = "SequenceNumber")]
    pub sequence_number: String,
    #[serde(rename = "Keys", default)]
    pub keys: HashMap<String, serde_json::Value>,
    /// The item in DynamoDB JSON (`{"attr": {"S": "…"}}`).
    #[serde(rename = "NewImage", default, skip_serializing_if = "Option::is_none")]
    pub new_image: Option<HashMap<String, serde_json::Value>>,
}

impl StreamRecord {
    /// A string attribute of the new image.
    pub fn string(&self, name: &str) -> Option<&str> {
        self.dynamodb.new_image.as_ref()?.get(name)?.get("S")?.as_str()
    }

    /// A boolean attribute of the new image (absent: `false`).
    pub fn flag(&self, name: &str) -> bool {
        let value = self.dynamodb.new_image.as_ref().and_then(|image| image.get(name)).and_then(|v| v.get("BOOL"));
        value.and_then(serde_json::Value::as_bool).unwrap_or(false)
    }
}

/// The answer to a batch: the records to be retried, by sequence number. The mapping retries
/// from the lowest one; an empty list means the whole batch is done.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchResponse {
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<BatchItemFailure>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

impl BatchResponse {
    pub fn failed(sequence_numbers: impl IntoIterator<Item = String>) -> Self {
        Self { batch_item_failures: sequence_numbers.into_iter().map(|item_identifier| BatchItemFailure { item_identifier }).collect() }
    }

    pub fn is_success(&self) -> bool {
        self.batch_item_failures.is_empty()
    }
}

/// Something an event source mapping on the table's stream invokes.
#[async_trait]
pub trait StreamHandler: Send + Sync + 'static {
    async fn handle(&self, records: &[StreamRecord]) -> BatchResponse;
}

/// Waits until the stream has carried the writes committed so far to their consumers. Nothing
/// in AWS waits for it (the webhook answers `issuing`); the local stack's stream poller does,
/// so that its answers can show what the invoice-issuer made of a claim.
#[async_trait]
pub trait StreamSettled: Send + Sync {
    async fn settled(&self);
}

/// Serves `handler` in the Lambda runtime, one stream batch per invocation.
pub async fn run_lambda<H: StreamHandler>(handler: std::sync::Arc<H>) -> Result<(), lambda_http::lambda_runtime::Error> {
    use lambda_http::lambda_runtime::{self, LambdaEvent};
    lambda_runtime::run(lambda_runtime::service_fn(move |event: LambdaEvent<StreamEvent>| {
        let handler = handler.clone();
        async move { Ok::<_, lambda_runtime::Error>(handler.handle(&event.payload.records).await) }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_lambda_event_shape() {
        let event: StreamEvent = serde_json::from_value(json!({"Records": [{
            "eventID": "1", "eventName": "MODIFY", "eventVersion": "1.1", "eventSource": "aws:dynamodb", "awsRegion": "ap-northeast-1",
            "dynamodb": {"ApproximateCreationDateTime": 1_700_000_000, "Keys": {"pk": {"S": "ORDER#m#o"}, "sk": {"S": "ORDER"}},
                         "NewImage": {"merchant_id": {"S": "m"}, "request_pending": {"BOOL": true}, "version": {"N": "3"}},
                         "SequenceNumber": "111", "SizeBytes": 26, "StreamViewType": "NEW_IMAGE"},
            "eventSourceARN": "arn:aws:dynamodb:ap-northeast-1:123456789012:table/t/stream/2026"
        }]}))
        .unwrap();
        let record = &event.records[0];
        assert_eq!(record.string("merchant_id"), Some("m"));
        assert!(record.flag("request_pending"));
        assert!(!record.flag("return_pending"));
        assert_eq!(record.dynamodb.sequence_number, "111");
    }

    #[test]
    fn answers_in_the_report_batch_item_failures_shape() {
        let answer = serde_json::to_value(BatchResponse::failed(["42".to_owned()])).unwrap();
        assert_eq!(answer, json!({"batchItemFailures": [{"itemIdentifier": "42"}]}));
        assert_eq!(serde_json::to_value(BatchResponse::default()).unwrap(), json!({"batchItemFailures": []}));
    }
}
