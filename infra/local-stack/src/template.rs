//! Reads template.yaml, the one source of truth for the table definition, the HTTP routes, the
//! schedules, the event rules and the stream's event source mappings, so the local stack builds
//! the same table and wires the same triggers as AWS would.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_yaml::Value;

/// The `AWS::DynamoDB::Table` resource's properties that matter for creating it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableSpec {
    pub attribute_definitions: Vec<AttributeDefinition>,
    pub key_schema: Vec<KeyElement>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<GlobalSecondaryIndex>,
    pub billing_mode: String,
    pub time_to_live_specification: Option<TtlSpec>,
    #[serde(default)]
    pub stream_specification: Option<StreamSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamSpec {
    pub stream_view_type: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDefinition {
    pub attribute_name: String,
    pub attribute_type: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyElement {
    pub attribute_name: String,
    pub key_type: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GlobalSecondaryIndex {
    pub index_name: String,
    pub key_schema: Vec<KeyElement>,
    pub projection: Projection,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Projection {
    pub projection_type: String,
    #[serde(default)]
    pub non_key_attributes: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TtlSpec {
    pub attribute_name: String,
    pub enabled: bool,
}

/// One `HttpApi` event of a function: which function answers `method path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRoute {
    pub function: String,
    pub method: String,
    /// With `{name}` placeholders, e.g. `/v1/merchants/{merchant_id}/plan`.
    pub path: String,
}

impl HttpRoute {
    /// Whether a concrete path matches this route's pattern (`{x}` = one non-empty segment).
    pub fn matches_path(&self, path: &str) -> bool {
        let want: Vec<&str> = self.path.split('/').filter(|s| !s.is_empty()).collect();
        let got: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        want.len() == got.len() && want.iter().zip(&got).all(|(w, g)| (w.starts_with('{') && w.ends_with('}')) || w == g)
    }
}

/// A function fired by an EventBridge schedule (`Type: Schedule` event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledFunction {
    /// Logical id, e.g. `RenewalCutoffFunction`.
    pub function: String,
    /// Its binary (`Metadata.BuildProperties.Binary`), e.g. `renewal-cutoff`: the name in
    /// `POST /_local/schedules/{name}`.
    pub name: String,
    /// e.g. `cron(5 16 * * ? *)`.
    pub schedule: String,
}

/// A function an EventBridge rule on the application bus invokes (`Type: EventBridgeRule`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRule {
    pub function: String,
    /// The pattern's `detail-type` values.
    pub detail_types: Vec<String>,
    /// Retries of a failed (asynchronous) invocation before it is dead-lettered: the function's
    /// `EventInvokeConfig.MaximumRetryAttempts` (Lambda's default, 2, without it).
    pub retries: u32,
}

/// A function an event source mapping on the table's stream invokes (`Type: DynamoDB`), with
/// the mapping's batching, retry policy and filter criteria.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamMapping {
    pub function: String,
    /// `TRIM_HORIZON` or `LATEST`.
    pub starting_position: String,
    pub batch_size: usize,
    /// Retries of a failed batch before its records go to the on-failure destination.
    pub maximum_retry_attempts: u32,
    pub bisect_on_error: bool,
    /// `FunctionResponseTypes: [ReportBatchItemFailures]`.
    pub report_batch_item_failures: bool,
    /// `FilterCriteria.Filters[].Pattern`, parsed; a record passes when any matches (none: all).
    pub filters: Vec<serde_json::Value>,
}

/// One of a function's `Environment.Variables`, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    Literal(String),
    /// `!Ref Name`: a parameter or a resource.
    Ref(String),
}

/// The parts of template.yaml the local stack follows.
#[derive(Debug, Clone)]
pub struct Template {
    pub table: TableSpec,
    pub routes: Vec<HttpRoute>,
    pub schedules: Vec<ScheduledFunction>,
    pub event_rules: Vec<EventRule>,
    pub stream_mappings: Vec<StreamMapping>,
    /// Each function's environment (`Globals` first, then its own), by logical id.
    pub environments: BTreeMap<String, BTreeMap<String, EnvValue>>,
    /// `Parameters` with a `Default`.
    pub parameter_defaults: BTreeMap<String, String>,
}

/// `Environment.Variables` of a function or of `Globals.Function`.
fn environment(holder: Option<&Value>, owner: &str) -> Result<BTreeMap<String, EnvValue>, String> {
    let variables = holder.and_then(|h| h.get("Environment")).and_then(|e| e.get("Variables")).and_then(Value::as_mapping);
    let mut env = BTreeMap::new();
    for (name, value) in variables.into_iter().flatten() {
        let name = name.as_str().ok_or_else(|| format!("{owner}: an environment variable name is not a string"))?.to_owned();
        let value = match value {
            Value::Tagged(tagged) if tagged.tag == "Ref" => EnvValue::Ref(tagged.value.as_str().unwrap_or_default().to_owned()),
            Value::String(s) => EnvValue::Literal(s.clone()),
            Value::Number(n) => EnvValue::Literal(n.to_string()),
            Value::Bool(b) => EnvValue::Literal(b.to_string()),
            other => return Err(format!("{owner}: {name} is {other:?}; the local stack resolves literals and !Ref only")),
        };
        env.insert(name, value);
    }
    Ok(env)
}

impl Template {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        // CloudFormation tags (!Ref, !Sub, …) parse as tagged values and are left alone.
        let doc: Value = serde_yaml::from_str(text).map_err(|e| format!("template.yaml: {e}"))?;
        let resources = doc.get("Resources").and_then(Value::as_mapping).ok_or("template.yaml has no Resources")?;
        let mut table = None;
        let mut routes = Vec::new();
        let mut schedules = Vec::new();
        let mut event_rules = Vec::new();
        let mut stream_mappings = Vec::new();
        let mut environments = BTreeMap::new();
        let globals = environment(doc.get("Globals").and_then(|g| g.get("Function")), "Globals")?;
        let parameter_defaults = doc
            .get("Parameters")
            .and_then(Value::as_mapping)
            .into_iter()
            .flatten()
            .filter_map(|(name, p)| {
                let default = match p.get("Default")? {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => return None,
                };
                Some((name.as_str()?.to_owned(), default))
            })
            .collect();
        for (name, resource) in resources {
            let name = name.as_str().unwrap_or_default().to_owned();
            match resource.get("Type").and_then(Value::as_str) {
                Some("AWS::DynamoDB::Table") => {
                    let props = resource.get("Properties").cloned().ok_or("table has no Properties")?;
                    table = Some(serde_yaml::from_value(props).map_err(|e| format!("{name}: {e}"))?);
                }
                Some("AWS::Serverless::Function") => {
                    let mut env = globals.clone();
                    env.extend(environment(resource.get("Properties"), &name)?);
                    environments.insert(name.clone(), env);
                    let events = resource.get("Properties").and_then(|p| p.get("Events")).and_then(Value::as_mapping);
                    for (_, event) in events.into_iter().flatten() {
                        if event.get("Type").and_then(Value::as_str) == Some("Schedule") {
                            let binary = resource.get("Metadata").and_then(|m| m.get("BuildProperties")).and_then(|b| b.get("Binary"));
                            let expression = event.get("Properties").and_then(|p| p.get("Schedule")).and_then(Value::as_str);
                            let (Some(binary), Some(expression)) = (binary.and_then(Value::as_str), expression) else {
                                return Err(format!("{name}: Schedule event without Schedule or Binary"));
                            };
                            schedules.push(ScheduledFunction { function: name.clone(), name: binary.into(), schedule: expression.into() });
                            continue;
                        }
                        if event.get("Type").and_then(Value::as_str) == Some("EventBridgeRule") {
                            let types = event.get("Properties").and_then(|p| p.get("Pattern")).and_then(|p| p.get("detail-type"));
                            let detail_types: Vec<String> =
                                types.and_then(Value::as_sequence).into_iter().flatten().filter_map(|t| t.as_str().map(str::to_owned)).collect();
                            let retries = resource
                                .get("Properties")
                                .and_then(|p| p.get("EventInvokeConfig"))
                                .and_then(|c| c.get("MaximumRetryAttempts"))
                                .and_then(Value::as_u64)
                                .map_or(2, |n| u32::try_from(n).unwrap_or(2));
                            event_rules.push(EventRule { function: name.clone(), detail_types, retries });
                            continue;
                        }
                        if event.get("Type").and_then(Value::as_str) == Some("DynamoDB") {
                            stream_mappings.push(stream_mapping(&name, event.get("Properties"))?);
                            continue;
                        }
                        if event.get("Type").and_then(Value::as_str) != Some("HttpApi") {
                            continue;
                        }
                        let props = event.get("Properties");
                        let field = |k: &str| props.and_then(|p| p.get(k)).and_then(Value::as_str).map(str::to_owned);
                        let (Some(path), Some(method)) = (field("Path"), field("Method")) else {
                            return Err(format!("{name}: HttpApi event without Path or Method"));
                        };
                        routes.push(HttpRoute { function: name.clone(), method: method.to_uppercase(), path });
                    }
                }
                _ => {}
            }
        }
        let table = table.ok_or("template.yaml declares no DynamoDB table")?;
        Ok(Self { table, routes, schedules, event_rules, stream_mappings, environments, parameter_defaults })
    }
}

/// A `Type: DynamoDB` event's properties.
fn stream_mapping(function: &str, props: Option<&Value>) -> Result<StreamMapping, String> {
    let prop = |k: &str| props.and_then(|p| p.get(k));
    let number = |k: &str, default: u64| prop(k).and_then(Value::as_u64).unwrap_or(default);
    let mut filters = Vec::new();
    for filter in prop("FilterCriteria").and_then(|f| f.get("Filters")).and_then(Value::as_sequence).into_iter().flatten() {
        let pattern = filter.get("Pattern").and_then(Value::as_str).ok_or_else(|| format!("{function}: a stream filter without Pattern"))?;
        filters.push(serde_json::from_str(pattern).map_err(|e| format!("{function}: stream filter pattern: {e}"))?);
    }
    let response_types = prop("FunctionResponseTypes").and_then(Value::as_sequence);
    Ok(StreamMapping {
        function: function.to_owned(),
        starting_position: prop("StartingPosition").and_then(Value::as_str).unwrap_or("LATEST").to_owned(),
        batch_size: usize::try_from(number("BatchSize", 100)).unwrap_or(100).max(1),
        maximum_retry_attempts: u32::try_from(number("MaximumRetryAttempts", 3)).unwrap_or(3),
        bisect_on_error: prop("BisectBatchOnFunctionError").and_then(Value::as_bool).unwrap_or(false),
        report_batch_item_failures: response_types.is_some_and(|types| types.iter().any(|t| t.as_str() == Some("ReportBatchItemFailures"))),
        filters,
    })
}

/// Whether a record (as the Lambda event carries it) matches an event filter pattern: every
/// field the pattern names matches — an object recursively, a list when the value equals one
/// of its entries or an `{"exists": bool}` entry holds (Lambda event filtering's rules, for the
/// operators this template uses).
pub fn pattern_matches(pattern: &serde_json::Value, record: Option<&serde_json::Value>) -> bool {
    use serde_json::Value as Json;
    match pattern {
        Json::Object(fields) => fields.iter().all(|(name, want)| pattern_matches(want, record.and_then(|r| r.get(name)))),
        Json::Array(options) => options.iter().any(|option| match option.get("exists").and_then(Json::as_bool) {
            Some(exists) => record.is_some() == exists,
            None => record == Some(option),
        }),
        scalar => record == Some(scalar),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Template {
        Template::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml")).unwrap()
    }

    #[test]
    fn reads_the_table_with_its_expiry_index_and_ttl() {
        let t = template();
        assert_eq!(t.table.billing_mode, "PAY_PER_REQUEST");
        assert_eq!(t.table.key_schema.iter().map(|k| k.attribute_name.as_str()).collect::<Vec<_>>(), ["pk", "sk"]);
        let gsi = &t.table.global_secondary_indexes[0];
        assert_eq!(gsi.index_name, einvoice_adapters::store::EXPIRY_INDEX);
        assert_eq!(gsi.key_schema[0].attribute_name, "expires_on");
        assert_eq!(t.table.time_to_live_specification.as_ref().unwrap().attribute_name, "ttl");
    }

    #[test]
    fn every_contract_route_is_declared() {
        let t = template();
        for (method, path) in [
            ("GET", "/healthz"),
            ("POST", "/v1/merchants/m1/plan/verify"),
            ("POST", "/v1/merchants/m1/plan/checkout"),
            ("GET", "/v1/merchants/m1/plan"),
            ("POST", "/v1/payments/notify"),
            ("PUT", "/v1/merchants/m1/plan/auto-renew"),
            ("PUT", "/v1/merchants/m1/payment-card"),
            ("PUT", "/v1/merchants/m1/invoice-settings"),
            ("GET", "/v1/merchants/m1/invoice-settings"),
            ("POST", "/v1/webhooks/orders"),
            ("GET", "/v1/merchants/m1/orders/o1/invoice"),
        ] {
            assert!(t.routes.iter().any(|r| r.method == method && r.matches_path(path)), "{method} {path}");
        }
        assert!(!t.routes[0].matches_path("/v1/merchants//plan"));
    }

    #[test]
    fn order_claims_reach_the_issuer_through_the_stream() {
        let t = template();
        assert_eq!(t.table.stream_specification.as_ref().map(|s| s.stream_view_type.as_str()), Some("NEW_IMAGE"));
        let [mapping] = &t.stream_mappings[..] else { panic!("one stream mapping: {:?}", t.stream_mappings) };
        assert_eq!(mapping.function, "InvoiceIssuerFunction");
        assert!(mapping.bisect_on_error && mapping.report_batch_item_failures);
        assert!(mapping.maximum_retry_attempts > 0);
        assert!(t.event_rules.iter().all(|r| r.function != "InvoiceIssuerFunction"), "no InvoiceRequested rule any more");
        let order = |image: serde_json::Value| serde_json::json!({"eventName": "MODIFY", "dynamodb": {"NewImage": image}});
        let passes = |record: serde_json::Value| mapping.filters.iter().any(|f| pattern_matches(f, Some(&record)));
        assert!(passes(order(serde_json::json!({"entity": {"S": "order"}, "request_pending": {"BOOL": true}}))));
        assert!(passes(order(serde_json::json!({"entity": {"S": "order"}, "return_pending": {"BOOL": true}}))));
        // After a failed try the reconciler owns the retries: its writes do not loop back.
        assert!(!passes(order(serde_json::json!({"entity": {"S": "order"}, "request_pending": {"BOOL": true}, "retries": {"N": "1"}}))));
        assert!(!passes(order(serde_json::json!({"entity": {"S": "order"}}))));
        assert!(!passes(order(serde_json::json!({"entity": {"S": "invoice"}, "request_pending": {"BOOL": true}}))));
        assert!(!passes(serde_json::json!({"eventName": "REMOVE", "dynamodb": {}})));
    }

    #[test]
    fn patterns_match_values_nested_objects_and_existence() {
        let pattern = serde_json::json!({"a": {"S": ["x", "y"]}, "b": {"N": [{"exists": false}]}});
        assert!(pattern_matches(&pattern, Some(&serde_json::json!({"a": {"S": "y"}}))));
        assert!(!pattern_matches(&pattern, Some(&serde_json::json!({"a": {"S": "z"}}))));
        assert!(!pattern_matches(&pattern, Some(&serde_json::json!({"a": {"S": "x"}, "b": {"N": "0"}}))));
        assert!(!pattern_matches(&pattern, Some(&serde_json::json!({}))));
        assert!(pattern_matches(&serde_json::json!({"c": [{"exists": true}]}), Some(&serde_json::json!({"c": 1}))));
    }

    #[test]
    fn reads_each_functions_environment_with_the_globals() {
        let t = template();
        let env = &t.environments["InvoiceReconcilerFunction"];
        assert_eq!(env["TABLE_NAME"], EnvValue::Ref("StateTable".into()));
        assert_eq!(env["WIXTAR_API_URL"], EnvValue::Ref("WixtarApiUrl".into()));
        assert_eq!(env["UPLOAD_MAX_ATTEMPTS"], EnvValue::Literal("2".into()));
        assert_eq!(t.environments["InvoiceIssuerFunction"]["UPLOAD_MAX_ATTEMPTS"], EnvValue::Literal("4".into()));
        assert_eq!(t.parameter_defaults["MailFromAddress"], "noreply@example.com");
    }

    #[test]
    fn merchant_notifications_go_to_the_notifier_alone() {
        let t = template();
        let notified: Vec<&EventRule> = t.event_rules.iter().filter(|r| r.detail_types.iter().any(|d| d == "MerchantNotification")).collect();
        assert_eq!(notified, [&EventRule { function: "NotifierFunction".into(), detail_types: vec!["MerchantNotification".into()], retries: 2 }]);
    }

    #[test]
    fn renewal_jobs_run_just_after_midnight_in_taipei() {
        let t = template();
        let at = |name: &str| t.schedules.iter().find(|s| s.name == name).map(|s| s.schedule.clone());
        // 16:05 / 16:10 UTC = 00:05 / 00:10 Asia/Taipei (UTC+8).
        assert_eq!(at("renewal-cutoff").as_deref(), Some("cron(5 16 * * ? *)"));
        assert_eq!(at("renewal-charge").as_deref(), Some("cron(10 16 * * ? *)"));
    }
}
