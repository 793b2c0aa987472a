//! DynamoDB capacity of the calls the proxy saw: item sizes by DynamoDB's rules, read and
//! write request units (on-demand billing) per call.
//!
//! Sizes follow the DynamoDB developer guide ("Item sizes and formats"): attribute names and
//! strings count their UTF-8 bytes, numbers about one byte per two significant digits plus one,
//! binary its raw bytes, BOOL and NULL one byte, maps and lists three bytes plus one byte per
//! element plus their contents. Reads cost one RRU per 4 KB (half for eventually consistent
//! reads, two for transactional ones), writes one WRU per 1 KB (two in a transaction).
//! Items that calls update are sized as they are in the table after the run (DynamoDB bills
//! the larger of before and after, which for these growing items is the after).

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::aws_proxy::Call;

pub type Key = (String, String);

fn value_size(v: &Value) -> usize {
    let Some(obj) = v.as_object() else { return 0 };
    let Some((kind, inner)) = obj.iter().next() else {
        return 0;
    };
    match kind.as_str() {
        "S" => inner.as_str().map_or(0, str::len),
        "N" => number_size(inner.as_str().unwrap_or("0")),
        "B" => base64::engine::general_purpose::STANDARD.decode(inner.as_str().unwrap_or("")).map_or(0, |b| b.len()),
        "BOOL" | "NULL" => 1,
        "SS" => inner.as_array().map_or(0, |a| a.iter().filter_map(Value::as_str).map(str::len).sum()),
        "NS" => inner.as_array().map_or(0, |a| a.iter().filter_map(Value::as_str).map(number_size).sum()),
        "BS" => inner
            .as_array()
            .map_or(0, |a| a.iter().filter_map(Value::as_str).map(|b| base64::engine::general_purpose::STANDARD.decode(b).map_or(0, |b| b.len())).sum()),
        "L" => 3 + inner.as_array().map_or(0, |a| a.iter().map(|e| 1 + value_size(e)).sum()),
        "M" => 3 + inner.as_object().map_or(0, |m| m.iter().map(|(k, e)| 1 + k.len() + value_size(e)).sum()),
        _ => 0,
    }
}

fn number_size(n: &str) -> usize {
    let digits = n.trim_start_matches('-').replace('.', "");
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len().max(1);
    significant.div_ceil(2) + 1
}

pub fn item_size(item: &Map<String, Value>) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

fn key_of(m: &Map<String, Value>) -> Option<Key> {
    let s = |name: &str| m.get(name).and_then(|v| v.get("S")).and_then(Value::as_str).map(str::to_owned);
    Some((s("pk")?, s("sk").unwrap_or_default()))
}

/// Units of one run's DynamoDB calls, by operation.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Units {
    pub rru: f64,
    pub wru: f64,
    pub by_call: Vec<String>,
}

fn reads(size: usize, consistent: bool) -> f64 {
    let units = size.max(1).div_ceil(4096) as f64;
    if consistent { units } else { units / 2.0 }
}

fn writes(size: usize) -> f64 {
    size.max(1).div_ceil(1024) as f64
}

/// RRU/WRU of `calls`, sizing updated items by `table` (their state after the run).
pub fn units(calls: &[Call], table: &HashMap<Key, usize>) -> Units {
    let mut u = Units::default();
    let size_of = |m: &Map<String, Value>, field: &str| -> usize {
        m.get(field).and_then(Value::as_object).and_then(key_of).and_then(|k| table.get(&k).copied()).unwrap_or(0)
    };
    for c in calls {
        let Some(op) = c.target.strip_prefix("DynamoDB_20120810.") else {
            continue;
        };
        let req: Value = serde_json::from_slice(&c.request).unwrap_or(Value::Null);
        let resp: Value = serde_json::from_slice(&c.response).unwrap_or(Value::Null);
        let req = req.as_object().cloned().unwrap_or_default();
        let consistent = req.get("ConsistentRead").and_then(Value::as_bool).unwrap_or(false);
        let (r, w) = match op {
            "GetItem" => (reads(resp.get("Item").and_then(Value::as_object).map_or(0, item_size), consistent), 0.0),
            "Query" | "Scan" => {
                let total: usize = resp.get("Items").and_then(Value::as_array).map_or(0, |a| a.iter().filter_map(Value::as_object).map(item_size).sum());
                (reads(total, consistent), 0.0)
            }
            "BatchGetItem" => {
                let mut r = 0.0;
                if let Some(tables) = req.get("RequestItems").and_then(Value::as_object) {
                    for spec in tables.values() {
                        let consistent = spec.get("ConsistentRead").and_then(Value::as_bool).unwrap_or(false);
                        for key in spec.get("Keys").and_then(Value::as_array).into_iter().flatten() {
                            let size = key.as_object().and_then(key_of).and_then(|k| table.get(&k).copied()).unwrap_or(0);
                            r += reads(size, consistent);
                        }
                    }
                }
                (r, 0.0)
            }
            "PutItem" => (0.0, writes(req.get("Item").and_then(Value::as_object).map_or(0, item_size))),
            "UpdateItem" | "DeleteItem" => (0.0, writes(size_of(&req, "Key"))),
            "TransactWriteItems" => {
                let mut w = 0.0;
                for action in req.get("TransactItems").and_then(Value::as_array).into_iter().flatten() {
                    let Some(a) = action.as_object() else {
                        continue;
                    };
                    for (kind, body) in a {
                        let Some(body) = body.as_object() else {
                            continue;
                        };
                        let size = match kind.as_str() {
                            "Put" => body.get("Item").and_then(Value::as_object).map_or(0, item_size),
                            _ => size_of(body, "Key"),
                        };
                        w += 2.0 * writes(size);
                    }
                }
                (0.0, w)
            }
            "TransactGetItems" => {
                let mut r = 0.0;
                for action in req.get("TransactItems").and_then(Value::as_array).into_iter().flatten() {
                    if let Some(get) = action.get("Get").and_then(Value::as_object) {
                        r += 2.0 * reads(size_of(get, "Key"), true);
                    }
                }
                (r, 0.0)
            }
            "BatchWriteItem" => {
                let mut w = 0.0;
                if let Some(tables) = req.get("RequestItems").and_then(Value::as_object) {
                    for reqs in tables.values() {
                        for r in reqs.as_array().into_iter().flatten() {
                            if let Some(item) = r.pointer("/PutRequest/Item").and_then(Value::as_object) {
                                w += writes(item_size(item));
                            } else {
                                w += 1.0;
                            }
                        }
                    }
                }
                (0.0, w)
            }
            _ => (0.0, 0.0),
        };
        u.rru += r;
        u.wru += w;
        u.by_call.push(format!(
            "{op} {}{}",
            if r > 0.0 { format!("{r} RRU") } else { String::new() },
            if w > 0.0 { format!("{w} WRU") } else { String::new() }
        ));
    }
    u
}

/// One DynamoDB call to moto's JSON API, unsigned (moto reads only the region of the
/// credential scope).
async fn dynamodb(http: &reqwest::Client, moto: &str, operation: &str, body: &Value) -> Result<Value, String> {
    http.post(moto)
        .header("x-amz-target", format!("DynamoDB_20120810.{operation}"))
        .header("content-type", "application/x-amz-json-1.0")
        .header("authorization", "AWS4-HMAC-SHA256 Credential=bench/20260101/ap-northeast-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())
}

/// The item at (`pk`, `sk`) as DynamoDB JSON, the form a stream record's image has.
pub async fn item(moto: &str, table: &str, pk: &str, sk: &str) -> Result<Value, String> {
    let key = serde_json::json!({"pk": {"S": pk}, "sk": {"S": sk}});
    let resp = dynamodb(&reqwest::Client::new(), moto, "GetItem", &serde_json::json!({"TableName": table, "Key": key, "ConsistentRead": true})).await?;
    resp.get("Item").cloned().ok_or_else(|| format!("no item {pk} / {sk} in {table}: {resp}"))
}

/// The table's items by entity (count, largest size) from [`table_sizes`], as a report line.
pub fn print_entities(entities: &BTreeMap<String, (usize, usize)>) {
    println!(
        "\nitems in the table (count, largest bytes): {}",
        entities.iter().map(|(e, (n, max))| format!("{e} {n}× ≤{max} B")).collect::<Vec<_>>().join(", ")
    );
}

/// Every item of the table with its size, read through moto's JSON API (no SDK types).
pub async fn table_sizes(moto: &str, table: &str) -> Result<(HashMap<Key, usize>, BTreeMap<String, (usize, usize)>), String> {
    let http = reqwest::Client::new();
    let mut sizes = HashMap::new();
    let mut by_entity: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut start: Option<Value> = None;
    loop {
        let mut body = serde_json::json!({"TableName": table});
        if let Some(k) = start.take() {
            body["ExclusiveStartKey"] = k;
        }
        let resp = dynamodb(&http, moto, "Scan", &body).await?;
        for item in resp.get("Items").and_then(Value::as_array).into_iter().flatten() {
            let Some(m) = item.as_object() else { continue };
            let size = item_size(m);
            if let Some(k) = key_of(m) {
                sizes.insert(k, size);
            }
            let entity = m.get("entity").and_then(|v| v.get("S")).and_then(Value::as_str).unwrap_or("?").to_owned();
            let e = by_entity.entry(entity).or_insert((0, 0));
            e.0 += 1;
            e.1 = e.1.max(size);
        }
        match resp.get("LastEvaluatedKey") {
            Some(k) if !k.is_null() => start = Some(k.clone()),
            _ => break,
        }
    }
    Ok((sizes, by_entity))
}
