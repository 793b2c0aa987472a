//! The table's DynamoDB stream, read from moto the way a Lambda event source mapping reads it
//! (template.yaml's `Type: DynamoDB` events): records in order, filtered by the mapping's
//! patterns, in batches of its `BatchSize`; a batch whose handler crashes or fails is retried,
//! bisected when the mapping says so, from the first failed record when the handler reports
//! batch item failures, and after `MaximumRetryAttempts` goes to the on-failure destination
//! (the local dead letters). Handlers run in their own task, so a crash ends the invocation,
//! not the poller.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_dynamodbstreams::types::{AttributeValue, ShardIteratorType};
use einvoice_adapters::aws::describe;
use einvoice_adapters::stream::{BatchResponse, StreamHandler, StreamRecord, StreamSettled};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::calls::AwsCalls;
use crate::template::{StreamMapping, pattern_matches};

/// Records read per `GetRecords`.
const READ_LIMIT: i32 = 100;
/// How often the stream is read when nothing local wrote to the table.
const IDLE_POLL: Duration = Duration::from_millis(500);
/// The longest a caller waits for the stream to catch up.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A batch that failed every retry: what the on-failure destination would receive.
#[derive(Debug, Clone, Serialize)]
pub struct FailedBatch {
    pub function: String,
    pub records: Vec<StreamRecord>,
    pub error: String,
}

/// Something in the local stack that watches the table's changes as they are read (the
/// mailbox: the send records the notifier marks sent), beside the functions the mappings invoke.
pub trait StreamObserver: Send + Sync {
    fn observe(&self, records: &[StreamRecord]);
}

/// What the stream's consumers have done, for tests and the admin endpoints.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct StreamStats {
    pub records_read: u64,
    pub records_delivered: u64,
    pub invocations: u64,
    pub failed_invocations: u64,
}

pub struct StreamPoller {
    client: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    mappings: Vec<StreamMapping>,
    targets: RwLock<HashMap<String, Arc<dyn StreamHandler>>>,
    observers: RwLock<Vec<Arc<dyn StreamObserver>>>,
    failed: Mutex<Vec<FailedBatch>>,
    stats: Mutex<StreamStats>,
    calls: Arc<AwsCalls>,
    /// When the last read that reached the end of the stream started (its records handled).
    caught_up: watch::Sender<Instant>,
}

impl StreamPoller {
    /// Finds the table's stream; `None` when the table has none or nothing consumes it.
    pub async fn new(sdk: &aws_config::SdkConfig, table: &str, mappings: Vec<StreamMapping>, calls: Arc<AwsCalls>) -> Result<Option<Arc<Self>>, String> {
        if mappings.is_empty() {
            return Ok(None);
        }
        let table_description = aws_sdk_dynamodb::Client::new(sdk).describe_table().table_name(table).send().await.map_err(|e| describe(&e))?;
        let Some(stream_arn) = table_description.table().and_then(|t| t.latest_stream_arn()).map(str::to_owned) else {
            return Err(format!("template.yaml maps {} to the stream of table {table}, which has none", mappings[0].function));
        };
        Ok(Some(Arc::new(Self {
            client: aws_sdk_dynamodbstreams::Client::new(sdk),
            stream_arn,
            mappings,
            targets: RwLock::new(HashMap::new()),
            observers: RwLock::new(Vec::new()),
            failed: Mutex::new(Vec::new()),
            stats: Mutex::new(StreamStats::default()),
            calls,
            caught_up: watch::Sender::new(Instant::now() - Duration::from_secs(3600)),
        })))
    }

    /// The functions the mappings invoke (replaced on a cold start).
    pub fn route(&self, targets: HashMap<String, Arc<dyn StreamHandler>>) {
        *self.targets.write().unwrap_or_else(|e| e.into_inner()) = targets;
    }

    /// Shows every record read from now on to `observer` (every record: no mapping's filter).
    pub fn observe(&self, observer: Arc<dyn StreamObserver>) {
        self.observers.write().unwrap_or_else(|e| e.into_inner()).push(observer);
    }

    pub fn mappings(&self) -> &[StreamMapping] {
        &self.mappings
    }

    pub fn failed_batches(&self) -> Vec<FailedBatch> {
        self.failed.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn stats(&self) -> StreamStats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the stream until the stack stops (the task is aborted with it).
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let poller = self.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = poller.follow().await {
                    tracing::warn!(error = %e, "stream reader stopped; starting again");
                    tokio::time::sleep(IDLE_POLL).await;
                }
            }
        })
    }

    /// Follows the shard from the mapping's starting position.
    async fn follow(&self) -> Result<(), String> {
        let stream = self.client.describe_stream().stream_arn(&self.stream_arn).send().await.map_err(|e| describe(&e))?;
        let shard = stream.stream_description().and_then(|d| d.shards().first()).and_then(|s| s.shard_id()).ok_or("the stream has no shard")?.to_owned();
        let position = ShardIteratorType::from(self.mappings[0].starting_position.as_str());
        let mut iterator = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.stream_arn)
            .shard_id(shard)
            .shard_iterator_type(position)
            .send()
            .await
            .map_err(|e| describe(&e))?
            .shard_iterator
            .ok_or("no shard iterator")?;
        loop {
            let started = Instant::now();
            let out = self.client.get_records().shard_iterator(&iterator).limit(READ_LIMIT).send().await.map_err(|e| describe(&e))?;
            let records: Vec<StreamRecord> = out.records().iter().filter_map(lambda_record).collect();
            let reached_end = records.len() < READ_LIMIT as usize;
            self.stats.lock().unwrap_or_else(|e| e.into_inner()).records_read += records.len() as u64;
            let observers = self.observers.read().unwrap_or_else(|e| e.into_inner()).clone();
            for observer in observers {
                observer.observe(&records);
            }
            for mapping in &self.mappings {
                let passing: Vec<StreamRecord> = records.iter().filter(|r| passes(mapping, r)).cloned().collect();
                for batch in passing.chunks(mapping.batch_size) {
                    self.deliver(mapping, batch.to_vec()).await;
                }
            }
            iterator = out.next_shard_iterator.ok_or("the shard was closed")?;
            if reached_end {
                self.caught_up.send_replace(started);
                let _ = tokio::time::timeout(IDLE_POLL, self.calls.table_touched.notified()).await;
            }
        }
    }

    /// One batch through the mapping's retry policy.
    async fn deliver(&self, mapping: &StreamMapping, batch: Vec<StreamRecord>) {
        let mut queue = VecDeque::from([(batch, 0u32)]);
        while let Some((batch, retries)) = queue.pop_front() {
            let (retry, error) = match self.invoke(&mapping.function, &batch).await {
                Ok(answer) if answer.is_success() || !mapping.report_batch_item_failures => continue,
                Ok(answer) => {
                    // Retried from the first record reported failed.
                    let first = answer.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).min_by(|a, b| (a.len(), *a).cmp(&(b.len(), *b)));
                    let from = batch.iter().position(|r| Some(r.dynamodb.sequence_number.as_str()) == first).unwrap_or(0);
                    (batch[from..].to_vec(), format!("{} record(s) reported failed", answer.batch_item_failures.len()))
                }
                Err(error) if mapping.bisect_on_error && batch.len() > 1 && retries < mapping.maximum_retry_attempts => {
                    let (first, second) = batch.split_at(batch.len() / 2);
                    queue.push_front((second.to_vec(), retries + 1));
                    queue.push_front((first.to_vec(), retries + 1));
                    tracing::warn!(function = %mapping.function, error, "stream batch failed; bisected");
                    continue;
                }
                Err(error) => (batch, error),
            };
            if retries < mapping.maximum_retry_attempts {
                tokio::time::sleep(Duration::from_millis(20 << retries.min(6))).await;
                queue.push_front((retry, retries + 1));
            } else {
                tracing::error!(function = %mapping.function, error, records = retry.len(), "stream batch failed every retry; sent to the on-failure destination");
                self.failed.lock().unwrap_or_else(|e| e.into_inner()).push(FailedBatch { function: mapping.function.clone(), records: retry, error });
            }
        }
    }

    /// Invokes the function with a batch in its own task (Lambda semantics: a crash ends the
    /// invocation); `Err` when it crashed.
    async fn invoke(&self, function: &str, batch: &[StreamRecord]) -> Result<BatchResponse, String> {
        let Some(handler) = self.targets.read().unwrap_or_else(|e| e.into_inner()).get(function).cloned() else {
            return Err(format!("no function {function} mounted"));
        };
        {
            let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
            stats.invocations += 1;
            stats.records_delivered += batch.len() as u64;
        }
        let records = batch.to_vec();
        let name = function.to_owned();
        let result = crate::calls::invoke(function, async move { handler.handle(&records).await }).await;
        result.map_err(|e| {
            self.stats.lock().unwrap_or_else(|e| e.into_inner()).failed_invocations += 1;
            crate::crashed(&name, e)
        })
    }

    /// Delivers every failed batch again (an operator's redrive); returns (redriven, still failing).
    pub async fn redrive(&self) -> (usize, usize) {
        let batches = std::mem::take(&mut *self.failed.lock().unwrap_or_else(|e| e.into_inner()));
        let mut ok = 0;
        for batch in &batches {
            match self.invoke(&batch.function, &batch.records).await {
                Ok(answer) if answer.is_success() => ok += 1,
                Ok(_) => self.failed.lock().unwrap_or_else(|e| e.into_inner()).push(batch.clone()),
                Err(error) => self.failed.lock().unwrap_or_else(|e| e.into_inner()).push(FailedBatch { error, ..batch.clone() }),
            }
        }
        (ok, batches.len() - ok)
    }
}

#[async_trait]
impl StreamSettled for StreamPoller {
    /// Waits until a read of the stream that started after this call reached its end and its
    /// records were handled (at most 30 s).
    async fn settled(&self) {
        let since = Instant::now();
        self.calls.table_touched.notify_one();
        let mut caught_up = self.caught_up.subscribe();
        let _ = tokio::time::timeout(SETTLE_TIMEOUT, caught_up.wait_for(|at| *at >= since)).await;
    }
}

fn passes(mapping: &StreamMapping, record: &StreamRecord) -> bool {
    if mapping.filters.is_empty() {
        return true;
    }
    let record = serde_json::to_value(record).unwrap_or_default();
    mapping.filters.iter().any(|pattern| pattern_matches(pattern, Some(&record)))
}

/// A streams-API record as Lambda hands it to a function (DynamoDB JSON images).
fn lambda_record(record: &aws_sdk_dynamodbstreams::types::Record) -> Option<StreamRecord> {
    let change = record.dynamodb()?;
    let image = |attributes: Option<&HashMap<String, AttributeValue>>| attributes.map(|a| a.iter().map(|(k, v)| (k.clone(), attribute_json(v))).collect());
    let value = json!({
        "eventID": record.event_id(),
        "eventName": record.event_name().map(|n| n.as_str()),
        "eventSource": "aws:dynamodb",
        "dynamodb": {
            "SequenceNumber": change.sequence_number(),
            "Keys": image(change.keys()).unwrap_or(Value::Null),
            "NewImage": image(change.new_image()),
        },
    });
    serde_json::from_value(strip_nulls(value)).ok()
}

fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(fields.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, strip_nulls(v))).collect()),
        other => other,
    }
}

/// One attribute in DynamoDB JSON (`{"S": "…"}`, `{"N": "…"}`, `{"M": {…}}`, …).
fn attribute_json(value: &AttributeValue) -> Value {
    use base64::Engine as _;
    let b64 = |b: &aws_sdk_dynamodbstreams::primitives::Blob| Value::from(base64::engine::general_purpose::STANDARD.encode(b.as_ref()));
    match value {
        AttributeValue::S(s) => json!({"S": s}),
        AttributeValue::N(n) => json!({"N": n}),
        AttributeValue::Bool(b) => json!({"BOOL": b}),
        AttributeValue::Null(n) => json!({"NULL": n}),
        AttributeValue::B(b) => json!({"B": b64(b)}),
        AttributeValue::Ss(v) => json!({"SS": v}),
        AttributeValue::Ns(v) => json!({"NS": v}),
        AttributeValue::Bs(v) => json!({"BS": v.iter().map(b64).collect::<Vec<_>>()}),
        AttributeValue::L(v) => json!({"L": v.iter().map(attribute_json).collect::<Vec<_>>()}),
        AttributeValue::M(m) => json!({"M": m.iter().map(|(k, v)| (k.clone(), attribute_json(v))).collect::<serde_json::Map<_, _>>()}),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_attributes_become_dynamodb_json() {
        let mut map = HashMap::new();
        map.insert("n".to_owned(), AttributeValue::N("3".into()));
        let value = AttributeValue::M(map);
        assert_eq!(attribute_json(&value), json!({"M": {"n": {"N": "3"}}}));
        assert_eq!(
            attribute_json(&AttributeValue::L(vec![AttributeValue::Bool(true), AttributeValue::S("x".into())])),
            json!({"L": [{"BOOL": true}, {"S": "x"}]})
        );
    }
}
