//! Wixtar simulator: contact hand-off (onboarding), credential registry; invoices come later.
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
    /// UBN → the RID Wixtar issued; other RIDs for that UBN are rejected.
    credentials: Mutex<HashMap<String, String>>,
    invoices: Mutex<Vec<Value>>,
}

pub fn router() -> Router {
    router_with(Arc::new(WixtarSim::default()))
}

pub fn router_with(sim: Arc<WixtarSim>) -> Router {
    Router::new()
        .route("/api/v1/onboarding", post(onboarding))
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

#[derive(Deserialize)]
struct Credentials {
    ubn: String,
    rid: String,
}

async fn register_credentials(State(sim): State<Arc<WixtarSim>>, Json(c): Json<Credentials>) -> StatusCode {
    sim.credentials.lock().unwrap().insert(c.ubn, c.rid);
    StatusCode::NO_CONTENT
}

async fn set_faults(State(sim): State<Arc<WixtarSim>>, Json(req): Json<FaultRequest>) -> StatusCode {
    sim.faults.set(req);
    StatusCode::NO_CONTENT
}
