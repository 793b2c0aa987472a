//! Wixtar simulator: contact hand-off (onboarding), POS credential check and number-range
//! query, credential registry; invoices come later.
//! Wire format: docs/wixtar-protocol.md.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::faults::{FaultRequest, Faults};

#[derive(Default)]
pub struct WixtarSim {
    faults: Faults,
    /// Hand-offs by request_id, in arrival order of first receipt.
    onboarding: Mutex<Vec<Value>>,
    /// UBN → the POS credentials Wixtar issued for it; while a UBN has none registered any
    /// well-formed credentials are accepted, after that only a registered set is.
    credentials: Mutex<HashMap<String, Vec<RegisteredPos>>>,
    /// (UBN, period) → ranges assigned.
    ranges: Mutex<HashMap<(String, String), Vec<Value>>>,
    invoices: Mutex<Vec<Value>>,
}

pub fn router() -> Router {
    router_with(Arc::new(WixtarSim::default()))
}

pub fn router_with(sim: Arc<WixtarSim>) -> Router {
    Router::new()
        .route("/api/v1/onboarding", post(onboarding))
        .route("/api/v1/pos/number-ranges/query", post(query_ranges))
        .route("/_sim/onboarding", get(list_onboarding))
        .route("/_sim/invoices", get(list_invoices))
        .route("/_sim/credentials", post(register_credentials))
        .route("/_sim/faults", post(set_faults))
        .with_state(sim)
}

fn field<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v.get(name).and_then(Value::as_str).filter(|s| !s.is_empty())
}

async fn onboarding(State(sim): State<Arc<WixtarSim>>, Json(body): Json<Value>) -> Response {
    if let Some(fault) = sim.faults.inject().await {
        return fault;
    }
    let (Some(request_id), Some(_), Some(_)) = (field(&body, "request_id"), field(&body, "ubn"), body.get("contact")) else {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "request_id, ubn and contact are required"}))).into_response();
    };
    let reference = format!("WX-{request_id}");
    let mut list = sim.onboarding.lock().unwrap();
    match list.iter_mut().find(|r| field(r, "request_id") == Some(request_id)) {
        Some(existing) => {
            let n = existing["received_count"].as_u64().unwrap_or(1) + 1;
            existing["received_count"] = n.into();
        }
        None => {
            let mut record = body.clone();
            record["reference"] = reference.clone().into();
            record["received_count"] = 1.into();
            list.push(record);
        }
    }
    Json(json!({"reference": reference})).into_response()
}

async fn list_onboarding(State(sim): State<Arc<WixtarSim>>) -> Json<Value> {
    Json(Value::Array(sim.onboarding.lock().unwrap().clone()))
}

async fn list_invoices(State(sim): State<Arc<WixtarSim>>) -> Json<Value> {
    Json(Value::Array(sim.invoices.lock().unwrap().clone()))
}

/// One set of POS credentials Wixtar issued; fields left out match anything.
#[derive(Debug, Clone, Deserialize)]
pub struct RegisteredPos {
    ubn: String,
    rid: String,
    store_code: Option<String>,
    pos_code: Option<String>,
    pid: Option<String>,
    pname: Option<String>,
}

impl RegisteredPos {
    fn matches(&self, pos: &Value) -> bool {
        let same = |name: &str, want: &Option<String>| want.as_deref().is_none_or(|w| field(pos, name) == Some(w));
        field(pos, "rid") == Some(self.rid.as_str())
            && same("store_code", &self.store_code)
            && same("pos_code", &self.pos_code)
            && same("pid", &self.pid)
            && same("pname", &self.pname)
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Registration {
    One(RegisteredPos),
    Many(Vec<RegisteredPos>),
}

/// `POST /_sim/credentials`: one set or an array of sets; they replace what the UBNs they
/// name had.
async fn register_credentials(State(sim): State<Arc<WixtarSim>>, Json(r): Json<Registration>) -> StatusCode {
    let sets = match r {
        Registration::One(one) => vec![one],
        Registration::Many(many) => many,
    };
    let mut registry = sim.credentials.lock().unwrap();
    for ubn in sets.iter().map(|s| s.ubn.clone()).collect::<std::collections::BTreeSet<_>>() {
        registry.insert(ubn.clone(), sets.iter().filter(|s| s.ubn == ubn).cloned().collect());
    }
    StatusCode::NO_CONTENT
}

const POS_FIELDS: [&str; 6] = ["ubn", "store_code", "pos_code", "pid", "rid", "pname"];

/// Checks the `pos` object of a POS call: every field present, the UBN 8 digits, and the set
/// registered for the UBN (if any). The error never echoes the credentials.
fn authenticate_pos(sim: &WixtarSim, body: &Value) -> Result<String, Response> {
    let pos = body.get("pos").cloned().unwrap_or_default();
    if POS_FIELDS.iter().any(|f| field(&pos, f).is_none()) {
        return Err((StatusCode::BAD_REQUEST, Json(json!({"error": "pos needs ubn, store_code, pos_code, pid, rid, pname"}))).into_response());
    }
    let ubn = field(&pos, "ubn").unwrap_or_default().to_owned();
    if ubn.len() != 8 || !ubn.bytes().all(|b| b.is_ascii_digit()) {
        return Err((StatusCode::BAD_REQUEST, Json(json!({"error": "pos.ubn must be 8 digits"}))).into_response());
    }
    let registry = sim.credentials.lock().unwrap();
    match registry.get(&ubn) {
        Some(sets) if !sets.iter().any(|s| s.matches(&pos)) => {
            Err((StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_credentials"}))).into_response())
        }
        _ => Ok(ubn),
    }
}

fn valid_period(period: &str) -> bool {
    period.len() == 5
        && period.bytes().all(|b| b.is_ascii_digit())
        && matches!(&period[3..], "02" | "04" | "06" | "08" | "10" | "12")
}

/// `POST /api/v1/pos/number-ranges/query`: the ranges assigned to the POS for a period.
async fn query_ranges(State(sim): State<Arc<WixtarSim>>, Json(body): Json<Value>) -> Response {
    if let Some(fault) = sim.faults.inject().await {
        return fault;
    }
    let ubn = match authenticate_pos(&sim, &body) {
        Ok(ubn) => ubn,
        Err(refusal) => return refusal,
    };
    let Some(period) = field(&body, "period").filter(|p| valid_period(p)) else {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "period must be ROC year + even month, e.g. 11512"}))).into_response();
    };
    let ranges = sim.ranges.lock().unwrap().get(&(ubn, period.to_owned())).cloned().unwrap_or_default();
    Json(json!({"period": period, "ranges": ranges})).into_response()
}

async fn set_faults(State(sim): State<Arc<WixtarSim>>, Json(req): Json<FaultRequest>) -> StatusCode {
    sim.faults.set(req);
    StatusCode::NO_CONTENT
}
