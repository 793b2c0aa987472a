//! Reads template.yaml, the one source of truth for the table definition and the HTTP routes,
//! so the local stack builds the same table and mounts the same routes as AWS would.

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
}

/// The parts of template.yaml the local stack follows.
#[derive(Debug, Clone)]
pub struct Template {
    pub table: TableSpec,
    pub routes: Vec<HttpRoute>,
    pub schedules: Vec<ScheduledFunction>,
    pub event_rules: Vec<EventRule>,
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
        for (name, resource) in resources {
            let name = name.as_str().unwrap_or_default().to_owned();
            match resource.get("Type").and_then(Value::as_str) {
                Some("AWS::DynamoDB::Table") => {
                    let props = resource.get("Properties").cloned().ok_or("table has no Properties")?;
                    table = Some(serde_yaml::from_value(props).map_err(|e| format!("{name}: {e}"))?);
                }
                Some("AWS::Serverless::Function") => {
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
                            event_rules.push(EventRule { function: name.clone(), detail_types });
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
        Ok(Self { table: table.ok_or("template.yaml declares no DynamoDB table")?, routes, schedules, event_rules })
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
    fn invoice_requests_go_to_the_issuer() {
        let t = template();
        assert_eq!(
            t.event_rules,
            [EventRule { function: "InvoiceIssuerFunction".into(), detail_types: vec!["InvoiceRequested".into(), "InvoiceReturnRequested".into()] }]
        );
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
