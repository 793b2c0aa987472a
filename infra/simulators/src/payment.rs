//! Payment-gateway simulator: ATM / card payments for plan orders and card charges.
//! Wire format: docs/payment-gateway-protocol.md.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::faults::{FaultRequest, Faults};

#[derive(Default)]
pub struct PaymentSim {
    faults: Faults,
    /// Payments by order id (the idempotency key of payment creation).
    payments: Mutex<Vec<Value>>,
    charges: Mutex<Vec<Value>>,
    /// card token → (decline, hard)
    cards: Mutex<HashMap<String, (bool, bool)>>,
}

pub fn router() -> Router {
    router_with(Arc::new(PaymentSim::default()))
}

pub fn router_with(sim: Arc<PaymentSim>) -> Router {
    Router::new()
        .route("/v1/payments", post(create_payment))
        .route("/v1/charges", post(charge))
        .route("/_sim/payments", get(list_payments))
        .route("/_sim/charges", get(list_charges))
        .route("/_sim/cards/{card_token}", post(set_card))
        .route("/_sim/faults", post(set_faults))
        .with_state(sim)
}

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({"error": message}))).into_response()
}

async fn create_payment(State(sim): State<Arc<PaymentSim>>, Json(body): Json<Value>) -> Response {
    if let Some(fault) = sim.faults.inject().await {
        return fault;
    }
    let Some(order_id) = body.get("order_id").and_then(Value::as_str).map(str::to_owned) else {
        return bad_request("order_id is required");
    };
    if body.get("amount").and_then(Value::as_u64).unwrap_or(0) == 0 {
        return bad_request("amount must be a positive integer");
    }
    let mut payments = sim.payments.lock().unwrap();
    if let Some(existing) = payments.iter().find(|p| p["order_id"] == order_id.as_str()) {
        return Json(json!({"payment_id": existing["payment_id"], "instructions": existing["instructions"]})).into_response();
    }
    let n = payments.len() + 1;
    let instructions = match body.get("method").and_then(Value::as_str) {
        Some("atm") => json!({
            "method": "atm",
            "bank_code": "822",
            "virtual_account": format!("9{:015}", n),
            "expires_at": (Utc::now() + Duration::days(3)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }),
        Some("card") => {
            json!({"method": "card", "payment_url": format!("https://pay.example.test/checkout/{order_id}")})
        }
        _ => return bad_request("method must be atm or card"),
    };
    let payment_id = format!("pay_{n:06}");
    let mut record = body.clone();
    record["payment_id"] = payment_id.clone().into();
    record["instructions"] = instructions.clone();
    payments.push(record);
    (StatusCode::CREATED, Json(json!({"payment_id": payment_id, "instructions": instructions}))).into_response()
}

async fn charge(State(sim): State<Arc<PaymentSim>>, Json(body): Json<Value>) -> Response {
    if let Some(fault) = sim.faults.inject().await {
        return fault;
    }
    let (Some(token), Some(amount), Some(key)) =
        (body.get("card_token").and_then(Value::as_str), body.get("amount").and_then(Value::as_u64), body.get("idempotency_key").and_then(Value::as_str))
    else {
        return bad_request("card_token, amount and idempotency_key are required");
    };
    let mut charges = sim.charges.lock().unwrap();
    if let Some(existing) = charges.iter().find(|c| c["idempotency_key"] == key) {
        return Json(existing.clone()).into_response();
    }
    let (decline, hard) = sim.cards.lock().unwrap().get(token).copied().unwrap_or((false, false));
    let result = match (decline, hard) {
        (false, _) => "succeeded",
        (true, false) => "declined",
        (true, true) => "declined_hard",
    };
    let record = json!({
        "charge_id": format!("ch_{:06}", charges.len() + 1),
        "card_token": token,
        "amount": amount,
        "idempotency_key": key,
        "result": result,
        "created_at": Utc::now().to_rfc3339(),
    });
    charges.push(record.clone());
    sim.faults.after(Json(record).into_response())
}

async fn list_payments(State(sim): State<Arc<PaymentSim>>) -> Json<Value> {
    Json(Value::Array(sim.payments.lock().unwrap().clone()))
}

async fn list_charges(State(sim): State<Arc<PaymentSim>>) -> Json<Value> {
    Json(Value::Array(sim.charges.lock().unwrap().clone()))
}

#[derive(Deserialize)]
struct CardBehaviour {
    decline: bool,
    #[serde(default)]
    hard: bool,
}

async fn set_card(State(sim): State<Arc<PaymentSim>>, Path(token): Path<String>, Json(b): Json<CardBehaviour>) -> StatusCode {
    sim.cards.lock().unwrap().insert(token, (b.decline, b.hard));
    StatusCode::NO_CONTENT
}

async fn set_faults(State(sim): State<Arc<PaymentSim>>, Json(req): Json<FaultRequest>) -> StatusCode {
    sim.faults.set(req);
    StatusCode::NO_CONTENT
}
