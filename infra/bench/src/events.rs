//! Invocation events as Lambda delivers them, built on the published example events in
//! `infra/bench/fixtures` (crates `aws_lambda_events` 1.2.1 and `lambda_http` 1.3.2): each
//! fixture is parsed and only the fields a real invocation of this system changes are replaced
//! (method, path, headers, body, ids, times, the stream record's key and image, the rule
//! event's detail). Every other field stays as AWS shapes it, so a function that trips over
//! one of them fails here, not in AWS.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

const HTTP_API: &str = include_str!("../fixtures/example-apigw-v2-request-no-authorizer.json");
const FUNCTION_URL: &str = include_str!("../fixtures/example-lambda-function-url-request.json");
const SCHEDULE: &str = include_str!("../fixtures/example-eventbridge-schedule.json");
const RULE_EVENT: &str = include_str!("../fixtures/example-eventbridge-event-obj.json");
const STREAM_BATCH: &str = include_str!("../fixtures/example-dynamodb-event.json");

const ACCOUNT: &str = "123456789012";

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).expect("infra/bench/fixtures holds valid JSON")
}

fn object(v: &mut Value) -> &mut Map<String, Value> {
    v.as_object_mut().expect("a fixture object")
}

/// The front door of an HTTP request: the HTTP API (payload 2.0, a route per path) or
/// order-webhook's function URL (the same payload, route `$default`, its own host).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Front {
    HttpApi,
    FunctionUrl,
}

/// One HTTP request to a function.
pub struct HttpRequest<'a> {
    pub front: Front,
    pub method: &'a str,
    /// The template's path with its parameters (`/v1/merchants/{merchant_id}/plan`): the HTTP
    /// API's route key.
    pub route: &'a str,
    /// The path as requested.
    pub path: &'a str,
    pub body: &'a str,
    /// `x-signature`, the platform's HMAC over the body.
    pub signature: String,
}

/// The API Gateway HTTP API (payload 2.0) or function URL event of `req`.
pub fn http(req: &HttpRequest<'_>, now: DateTime<Utc>) -> String {
    let mut e = fixture(match req.front {
        Front::HttpApi => HTTP_API,
        Front::FunctionUrl => FUNCTION_URL,
    });
    let route_key = match req.front {
        Front::HttpApi => format!("{} {}", req.method, req.route),
        Front::FunctionUrl => "$default".to_owned(),
    };
    {
        let top = object(&mut e);
        top.insert("routeKey".into(), route_key.clone().into());
        top.insert("rawPath".into(), req.path.into());
        top.insert("rawQueryString".into(), "".into());
        top.remove("cookies");
        if req.body.is_empty() {
            top.remove("body");
        } else {
            top.insert("body".into(), req.body.into());
        }
        top.insert("isBase64Encoded".into(), false.into());
    }
    let headers = object(&mut e["headers"]);
    headers.remove("cookie");
    headers.insert("content-length".into(), req.body.len().to_string().into());
    if !req.body.is_empty() {
        headers.insert("content-type".into(), "application/json".into());
    }
    headers.insert("x-signature".into(), req.signature.clone().into());
    let ctx = &mut e["requestContext"];
    ctx["routeKey"] = route_key.into();
    ctx["http"]["method"] = req.method.into();
    ctx["http"]["path"] = req.path.into();
    ctx["requestId"] = uuid::Uuid::new_v4().to_string().into();
    ctx["time"] = now.format("%d/%b/%Y:%H:%M:%S +0000").to_string().into();
    ctx["timeEpoch"] = now.timestamp_millis().into();
    e.to_string()
}

/// The EventBridge scheduled event of rule `rule` firing at `time` (the job's "now").
pub fn scheduled(rule: &str, time: &str, region: &str) -> String {
    let mut e = fixture(SCHEDULE);
    e["id"] = uuid::Uuid::new_v4().to_string().into();
    e["time"] = time.into();
    e["region"] = region.into();
    e["resources"] = json!([format!("arn:aws:events:{region}:{ACCOUNT}:rule/{rule}")]);
    e.to_string()
}

/// An event of this system's bus (`source`, `detail-type`, `detail`) as rule `rule` delivers
/// it to its Lambda target.
pub fn rule_target(rule: &str, source: &str, detail_type: &str, detail: Value, region: &str) -> String {
    let mut e = fixture(RULE_EVENT);
    e["id"] = uuid::Uuid::new_v4().to_string().into();
    e["source"] = source.into();
    e["detail-type"] = detail_type.into();
    e["detail"] = detail;
    e["time"] = Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string().into();
    e["region"] = region.into();
    e["resources"] = json!([format!("arn:aws:events:{region}:{ACCOUNT}:rule/{rule}")]);
    e.to_string()
}

/// A batch of one stream record per item (NEW_IMAGE, as the table's stream is configured): a
/// `MODIFY` of `item`, as DynamoDB wrote it (DynamoDB JSON, e.g. read back from the table).
pub fn stream_batch(table: &str, items: &[Value], region: &str) -> String {
    let mut e = fixture(STREAM_BATCH);
    let template = e["Records"][0].clone();
    let now = Utc::now();
    let records: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let mut r = template.clone();
            // Only TTL deletions carry a userIdentity.
            object(&mut r).remove("userIdentity");
            r["eventID"] = uuid::Uuid::new_v4().simple().to_string().into();
            r["eventName"] = "MODIFY".into();
            r["awsRegion"] = region.into();
            let keys: Map<String, Value> = ["pk", "sk"].iter().filter_map(|k| item.get(*k).map(|v| ((*k).to_owned(), v.clone()))).collect();
            let db = &mut r["dynamodb"];
            db["ApproximateCreationDateTime"] = now.timestamp().into();
            db["Keys"] = Value::Object(keys);
            db["NewImage"] = item.clone();
            db["SequenceNumber"] = format!("{}{i:03}", now.timestamp_micros()).into();
            db["SizeBytes"] = item.as_object().map_or(0, crate::capacity::item_size).into();
            db["StreamViewType"] = "NEW_IMAGE".into();
            r["eventSourceARN"] = format!("arn:aws:dynamodb:{region}:{ACCOUNT}:table/{table}/stream/2026-12-02T00:00:00.000").into();
            r
        })
        .collect();
    e["Records"] = Value::Array(records);
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn http_events_keep_the_fixture_and_carry_the_request() {
        let now = Utc::now();
        for front in [Front::HttpApi, Front::FunctionUrl] {
            let req = HttpRequest { front, method: "POST", route: "/v1/webhooks/orders", path: "/v1/webhooks/orders", body: "{}", signature: "t=1,v2=ab".into() };
            let e = parse(&http(&req, now));
            assert_eq!(e["version"], "2.0");
            assert_eq!(e["rawPath"], "/v1/webhooks/orders");
            assert_eq!(e["requestContext"]["http"]["method"], "POST");
            assert_eq!(e["headers"]["x-signature"], "t=1,v2=ab");
            assert_eq!(e["headers"]["content-length"], "2");
            assert_eq!(e["body"], "{}");
            assert!(e.get("cookies").is_none());
            // Untouched fixture fields stay: the forwarding headers and the source IP.
            assert_eq!(e["headers"]["x-forwarded-proto"], "https");
            assert!(e["requestContext"]["http"]["sourceIp"].is_string());
            let (route, host) = (e["routeKey"].as_str().unwrap().to_owned(), e["headers"]["host"].as_str().unwrap().to_owned());
            match front {
                Front::HttpApi => assert_eq!((route.as_str(), host.contains("execute-api")), ("POST /v1/webhooks/orders", true)),
                Front::FunctionUrl => assert_eq!((route.as_str(), host.contains("lambda-url")), ("$default", true)),
            }
        }
    }

    #[test]
    fn a_stream_batch_has_one_new_image_record_per_item() {
        let item = json!({"pk": {"S": "ORDER#m#o"}, "sk": {"S": "ORDER"}, "request_pending": {"BOOL": true}});
        let e = parse(&stream_batch("t", &[item.clone(), item.clone()], "ap-northeast-1"));
        let records = e["Records"].as_array().unwrap();
        assert_eq!(records.len(), 2);
        assert_ne!(records[0]["eventID"], records[1]["eventID"]);
        assert_eq!(records[0]["dynamodb"]["NewImage"], item);
        assert_eq!(records[0]["dynamodb"]["Keys"], json!({"pk": {"S": "ORDER#m#o"}, "sk": {"S": "ORDER"}}));
        assert_eq!(records[0]["dynamodb"]["StreamViewType"], "NEW_IMAGE");
        assert_eq!(records[0]["eventSource"], "aws:dynamodb");
    }

    #[test]
    fn schedule_and_rule_events_carry_time_and_detail() {
        let s = parse(&scheduled("r", "2026-12-02T00:05:00+08:00", "ap-northeast-1"));
        assert_eq!((s["detail-type"].as_str(), s["time"].as_str()), (Some("Scheduled Event"), Some("2026-12-02T00:05:00+08:00")));
        let r = parse(&rule_target("r", "einvoice.wixtar-link", "MerchantNotification", json!({"a": 1}), "ap-northeast-1"));
        assert_eq!((r["detail-type"].as_str(), r["detail"]["a"].as_i64()), (Some("MerchantNotification"), Some(1)));
    }
}
