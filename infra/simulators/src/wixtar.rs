//! Wixtar simulator: contact hand-off (onboarding), POS credential check, number-range
//! allocation and query (books of 50), invoice upload and look-up, voids, allowances,
//! unused-number reports and MOF's winners lists (中獎清冊); credential registry, book limits
//! and fault injection for tests.
//! Wire format: docs/wixtar-protocol.md. What Wixtar checks beyond the shapes (the POS
//! identity's form, periods, numbers, the MIG 4.0 tax rules, allowances and voids) is
//! `einvoice_adapters::wixtar::rules`, the statement the in-memory fake refuses with too; the
//! requests are read into the client's own wire types.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use einvoice_adapters::wixtar::rules::{self, HeldAllowance, Refusal};
use einvoice_adapters::wixtar::{AllowanceUpload, InvoiceUpload, PosIdentity, Winner, WireRange};
use serde::{Deserialize, Serialize};
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
    /// Every range handed out, in order of allocation.
    allocations: Mutex<Vec<Allocation>>,
    /// UBN → the most books it may get per period (absent: unlimited).
    book_limits: Mutex<HashMap<String, u32>>,
    /// Uploads, in order of first receipt; keyed by (seller UBN, number).
    invoices: Mutex<Vec<ReceivedInvoice>>,
    /// 空白字軌 reports received.
    unused_reports: Mutex<Vec<Value>>,
    /// Period → MOF's list of winners, once published (`POST /_sim/winners`).
    winners: Mutex<BTreeMap<String, Vec<Winner>>>,
}

/// One book handed out by `/api/v1/pos/number-ranges/allocate`.
#[derive(Debug, Clone, Serialize)]
struct Allocation {
    ubn: String,
    #[serde(flatten)]
    range: WireRange,
    request_id: String,
}

struct ReceivedInvoice {
    ubn: String,
    upload: InvoiceUpload,
    allowances: Vec<ReceivedAllowance>,
    voided: bool,
    /// The `invoice` object as first received, plus `received_count`, `void` and `allowances`.
    record: Value,
}

impl ReceivedInvoice {
    fn held(&self) -> impl Iterator<Item = HeldAllowance<'_>> {
        self.allowances.iter().map(|a| HeldAllowance { number: &a.number, total: a.total, voided: a.voided })
    }
}

struct ReceivedAllowance {
    number: String,
    total: u64,
    voided: bool,
    /// The items as received.
    items: Value,
}

pub fn router() -> Router {
    router_with(Arc::new(WixtarSim::default()))
}

pub fn router_with(sim: Arc<WixtarSim>) -> Router {
    Router::new()
        .route("/api/v1/onboarding", post(onboarding))
        .route("/api/v1/pos/number-ranges/query", post(query_ranges))
        .route("/api/v1/pos/number-ranges/allocate", post(allocate_range))
        .route("/api/v1/invoices", post(upload_invoice))
        .route("/api/v1/invoices/query", post(query_invoice))
        .route("/api/v1/invoices/void", post(void_invoice))
        .route("/api/v1/allowances", post(upload_allowance))
        .route("/api/v1/allowances/void", post(void_allowance))
        .route("/api/v1/pos/number-ranges/unused", post(report_unused))
        .route("/api/v1/pos/winners/query", post(query_winners))
        .route("/_sim/winners", get(list_winners).post(publish_winners))
        .route("/_sim/unused-reports", get(list_unused_reports))
        .route("/_sim/onboarding", get(list_onboarding))
        .route("/_sim/invoices", get(list_invoices))
        .route("/_sim/ranges", get(list_ranges).post(set_book_limit))
        .route("/_sim/credentials", post(register_credentials))
        .route("/_sim/faults", post(set_faults))
        .with_state(sim)
}

fn field<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v.get(name).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn refuse(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({"error": error}))).into_response()
}

/// The answer to a refusal of the rules: `{"error": …}` with its status.
fn refusal(r: Refusal) -> Response {
    refuse(StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST), r.error)
}

async fn onboarding(State(sim): State<Arc<WixtarSim>>, Json(body): Json<Value>) -> Response {
    if let Some(fault) = sim.faults.inject().await {
        return fault;
    }
    let (Some(request_id), Some(_), Some(_)) = (field(&body, "request_id"), field(&body, "ubn"), body.get("contact")) else {
        return refusal(rules::HAND_OFF_INCOMPLETE);
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
    Json(Value::Array(sim.invoices.lock().unwrap().iter().map(|i| i.record.clone()).collect()))
}

async fn list_ranges(State(sim): State<Arc<WixtarSim>>) -> Json<Vec<Allocation>> {
    Json(sim.allocations.lock().unwrap().clone())
}

#[derive(Deserialize)]
struct BookLimit {
    ubn: String,
    /// Absent or `null`: unlimited.
    books: Option<u32>,
}

/// `POST /_sim/ranges {"ubn", "books": N | null}`: the most books the UBN may get per period.
async fn set_book_limit(State(sim): State<Arc<WixtarSim>>, Json(limit): Json<BookLimit>) -> StatusCode {
    let mut limits = sim.book_limits.lock().unwrap();
    match limit.books {
        Some(books) => limits.insert(limit.ubn, books),
        None => limits.remove(&limit.ubn),
    };
    StatusCode::NO_CONTENT
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
    fn matches(&self, pos: &PosIdentity) -> bool {
        let same = |have: &str, want: &Option<String>| want.as_deref().is_none_or(|w| have == w);
        pos.rid == self.rid
            && same(&pos.store_code, &self.store_code)
            && same(&pos.pos_code, &self.pos_code)
            && same(&pos.pid, &self.pid)
            && same(&pos.pname, &self.pname)
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

/// Checks the `pos` object of a POS call: its form ([`rules::check_pos`]) and the set
/// registered for the UBN (if any). The error never echoes the credentials.
fn authenticate_pos(sim: &WixtarSim, body: &Value) -> Result<String, Refusal> {
    let pos: PosIdentity = body.get("pos").and_then(|p| serde_json::from_value(p.clone()).ok()).ok_or(rules::POS_INCOMPLETE)?;
    rules::check_pos(&pos)?;
    let registry = sim.credentials.lock().unwrap();
    match registry.get(&pos.ubn) {
        Some(sets) if !sets.iter().any(|s| s.matches(&pos)) => Err(rules::INVALID_CREDENTIALS),
        _ => Ok(pos.ubn),
    }
}

/// The start of every POS call: an armed fault, then the POS credentials; the caller's UBN.
async fn pos_call(sim: &WixtarSim, body: &Value) -> Result<String, Response> {
    if let Some(fault) = sim.faults.inject().await {
        return Err(fault);
    }
    authenticate_pos(sim, body).map_err(refusal)
}

/// The `period` of a POS call, if well-formed.
#[allow(clippy::result_large_err, reason = "the error is the handler's answer")]
fn period_of(body: &Value) -> Result<&str, Response> {
    field(body, "period").filter(|p| rules::valid_period(p)).ok_or_else(|| refusal(rules::BAD_PERIOD))
}

/// The start of a POS call about a period: [`pos_call`], then its `period`; the caller's UBN and the period.
async fn pos_period_call<'b>(sim: &WixtarSim, body: &'b Value) -> Result<(String, &'b str), Response> {
    let ubn = pos_call(sim, body).await?;
    Ok((ubn, period_of(body)?))
}

/// `POST /api/v1/pos/number-ranges/query`: the ranges assigned to the POS for a period.
async fn query_ranges(State(sim): State<Arc<WixtarSim>>, Json(body): Json<Value>) -> Response {
    let (ubn, period) = match pos_period_call(&sim, &body).await {
        Ok(call) => call,
        Err(refusal) => return refusal,
    };
    let allocations = sim.allocations.lock().unwrap();
    let ranges: Vec<&WireRange> = allocations.iter().filter(|a| a.ubn == ubn && a.range.period == period).map(|a| &a.range).collect();
    Json(json!({"period": period, "ranges": ranges})).into_response()
}

/// `POST /api/v1/pos/number-ranges/allocate`: the next book of 50 for (UBN, period);
/// idempotent by (UBN, request_id).
async fn allocate_range(State(sim): State<Arc<WixtarSim>>, Json(body): Json<Value>) -> Response {
    let ubn = match pos_call(&sim, &body).await {
        Ok(ubn) => ubn,
        Err(refusal) => return refusal,
    };
    let period = match period_of(&body) {
        Ok(period) => period.to_owned(),
        Err(refusal) => return refusal,
    };
    let Some(request_id) = field(&body, "request_id") else {
        return refusal(rules::REQUEST_ID_REQUIRED);
    };
    let limit = sim.book_limits.lock().unwrap().get(&ubn).copied();
    let mut allocations = sim.allocations.lock().unwrap();
    if let Some(known) = allocations.iter().find(|a| a.ubn == ubn && a.request_id == request_id) {
        if known.range.period != period {
            return refuse(StatusCode::CONFLICT, "request_id_conflict");
        }
        let answer = Json(json!({"range": known.range})).into_response();
        drop(allocations);
        return sim.faults.after(answer);
    }
    let books = allocations.iter().filter(|a| a.ubn == ubn && a.range.period == period).count() as u32;
    // Numbers are unique in a period across all sellers (as the MOF hands them out), so a
    // merchant that changes UBN never gets a book that overlaps its old one.
    let issued = allocations.iter().filter(|a| a.range.period == period).count() as u32;
    let Some(range) = rules::nth_book(&period, issued).filter(|_| limit.is_none_or(|max| books < max)) else {
        return refuse(StatusCode::CONFLICT, "no_ranges_available");
    };
    let answer = Json(json!({"range": range})).into_response();
    allocations.push(Allocation { ubn, range, request_id: request_id.to_owned() });
    drop(allocations);
    sim.faults.after(answer)
}

fn accepted(number: &str) -> Response {
    Json(json!({"number": number, "status": "accepted"})).into_response()
}

/// `POST /api/v1/invoices`: an issued invoice, checked by [`rules::check_upload`];
/// idempotent by (UBN, number).
async fn upload_invoice(State(sim): State<Arc<WixtarSim>>, Json(body): Json<Value>) -> Response {
    let ubn = match pos_call(&sim, &body).await {
        Ok(ubn) => ubn,
        Err(refusal) => return refusal,
    };
    let raw = body.get("invoice").cloned().unwrap_or_default();
    let upload: InvoiceUpload = match serde_json::from_value(raw.clone()) {
        Ok(upload) => upload,
        Err(e) => {
            return refuse(StatusCode::BAD_REQUEST, &format!("invoice is malformed: {e}"));
        }
    };
    {
        let allocations = sim.allocations.lock().unwrap();
        if let Err(r) = rules::check_upload(&ubn, &upload, allocations.iter().filter(|a| a.ubn == ubn).map(|a| &a.range)) {
            return refusal(r);
        }
    }
    let number = upload.number.clone();
    {
        let mut invoices = sim.invoices.lock().unwrap();
        match invoices.iter_mut().find(|i| i.ubn == ubn && i.upload.number == number) {
            Some(known) if known.upload != upload => {
                return refuse(StatusCode::CONFLICT, "number_conflict");
            }
            Some(known) => {
                let n = known.record["received_count"].as_u64().unwrap_or(1) + 1;
                known.record["received_count"] = n.into();
            }
            None => {
                let mut record = raw;
                record["received_count"] = 1.into();
                invoices.push(ReceivedInvoice { ubn, upload, allowances: Vec::new(), voided: false, record });
            }
        }
    }
    sim.faults.after(accepted(&number))
}

/// `POST /api/v1/invoices/query`: whether the POS's UBN uploaded `number`.
async fn query_invoice(State(sim): State<Arc<WixtarSim>>, Json(body): Json<Value>) -> Response {
    let ubn = match pos_call(&sim, &body).await {
        Ok(ubn) => ubn,
        Err(refusal) => return refusal,
    };
    let Some(number) = field(&body, "number") else {
        return refusal(rules::NUMBER_REQUIRED);
    };
    let known = sim.invoices.lock().unwrap().iter().any(|i| i.ubn == ubn && i.upload.number == number);
    if !known {
        return refuse(StatusCode::NOT_FOUND, "not_found");
    }
    sim.faults.after(accepted(number))
}

/// A change to one of the POS's invoices after the POS checks: `change` picks the invoice (the
/// index among the UBN's invoices) and changes it, or refuses; the record listed by
/// `/_sim/invoices` then shows `void` and `allowances`, and the answer passes `error_after`.
async fn change_invoice(sim: &WixtarSim, body: &Value, change: impl FnOnce(&mut [&mut ReceivedInvoice]) -> Result<(usize, Value), Refusal>) -> Response {
    let ubn = match pos_call(sim, body).await {
        Ok(ubn) => ubn,
        Err(refusal) => return refusal,
    };
    let answer = {
        let mut all = sim.invoices.lock().unwrap();
        let mut mine: Vec<&mut ReceivedInvoice> = all.iter_mut().filter(|i| i.ubn == ubn).collect();
        let (index, answer) = match change(&mut mine) {
            Ok(done) => done,
            Err(r) => return refusal(r),
        };
        let invoice = &mut mine[index];
        invoice.record["void"] = invoice.voided.into();
        invoice.record["allowances"] =
            invoice.allowances.iter().map(|a| json!({"number": a.number, "total": a.total, "voided": a.voided, "items": a.items})).collect();
        answer
    };
    sim.faults.after(Json(answer).into_response())
}

/// `POST /api/v1/invoices/void` `{"pos", "number", "reason"}`: 作廢; refused while allowances are
/// active ([`rules::may_void`]).
async fn void_invoice(State(sim): State<Arc<WixtarSim>>, Json(body): Json<Value>) -> Response {
    let number = field(&body, "number").map(str::to_owned);
    change_invoice(&sim, &body, |invoices| {
        let number = number.ok_or(rules::NUMBER_REQUIRED)?;
        let index = invoices.iter().position(|i| i.upload.number == number).ok_or(Refusal::not_found())?;
        let invoice = &mut invoices[index];
        rules::may_void(invoice.held())?;
        invoice.voided = true;
        Ok((index, json!({"number": number, "status": "void"})))
    })
    .await
}

/// `POST /api/v1/allowances` `{"pos", "allowance"}` (`AllowanceUpload`): 折讓, idempotent by
/// allowance number, taken as [`rules::take_allowance`] says.
async fn upload_allowance(State(sim): State<Arc<WixtarSim>>, Json(body): Json<Value>) -> Response {
    let allowance = serde_json::from_value::<AllowanceUpload>(body.get("allowance").cloned().unwrap_or_default());
    change_invoice(&sim, &body, |invoices| {
        let allowance = allowance.map_err(|_| Refusal::bad_request("allowance is malformed: it needs number, invoice_number, issued_at, amounts and items"))?;
        let index = invoices.iter().position(|i| i.upload.number == allowance.invoice_number).ok_or(Refusal::not_found())?;
        let invoice = &mut invoices[index];
        if rules::take_allowance(&invoice.upload, invoice.voided, invoice.held(), &allowance)? {
            let items = serde_json::to_value(&allowance.items).unwrap_or_default();
            invoice.allowances.push(ReceivedAllowance { number: allowance.number.clone(), total: allowance.total, voided: false, items });
        }
        Ok((index, json!({"number": allowance.number, "status": "accepted"})))
    })
    .await
}

/// `POST /api/v1/allowances/void` `{"pos", "number", "reason"}`: 作廢折讓, of whichever of the
/// UBN's invoices holds allowance `number`.
async fn void_allowance(State(sim): State<Arc<WixtarSim>>, Json(body): Json<Value>) -> Response {
    let number = field(&body, "number").map(str::to_owned);
    change_invoice(&sim, &body, |invoices| {
        let number = number.ok_or(rules::NUMBER_REQUIRED)?;
        let held = |i: &&mut ReceivedInvoice| i.allowances.iter().any(|a| a.number == number);
        let index = invoices.iter().position(held).ok_or(Refusal::not_found())?;
        for allowance in invoices[index].allowances.iter_mut().filter(|a| a.number == number) {
            allowance.voided = true;
        }
        Ok((index, json!({"number": number, "status": "void"})))
    })
    .await
}

/// `POST /api/v1/pos/number-ranges/unused` `{"pos", "period", "unused": [{track, first, last}]}`:
/// 空白字軌 of a closed period; one report per (UBN, period), a repeat replaces it and is counted.
async fn report_unused(State(sim): State<Arc<WixtarSim>>, Json(body): Json<Value>) -> Response {
    let ubn = match pos_call(&sim, &body).await {
        Ok(ubn) => ubn,
        Err(refusal) => return refusal,
    };
    let (Some(period), Some(unused)) = (field(&body, "period").filter(|p| rules::valid_period(p)), body.get("unused").filter(|u| u.is_array())) else {
        return refusal(rules::UNUSED_REPORT_MALFORMED);
    };
    let mut reports = sim.unused_reports.lock().unwrap();
    let count = match reports.iter().position(|r| r["ubn"] == ubn.as_str() && r["period"] == period) {
        Some(i) => reports.remove(i)["received_count"].as_u64().unwrap_or(1) + 1,
        None => 1,
    };
    reports.push(json!({"ubn": ubn, "period": period, "unused": unused, "received_count": count}));
    drop(reports);
    sim.faults.after(Json(json!({"period": period, "status": "accepted"})).into_response())
}

async fn list_unused_reports(State(sim): State<Arc<WixtarSim>>) -> Json<Value> {
    Json(Value::Array(sim.unused_reports.lock().unwrap().clone()))
}

/// `POST /api/v1/pos/winners/query` `{"pos", "period"}`: the POS checks, the period, then
/// [`rules::winners_for`]: `{"status": "not_yet"}` before the period's list is published, else
/// `{"status": "published", "winners"}` with the UBN's own uploads of that period on it.
async fn query_winners(State(sim): State<Arc<WixtarSim>>, Json(body): Json<Value>) -> Response {
    let (ubn, period) = match pos_period_call(&sim, &body).await {
        Ok(call) => call,
        Err(refusal) => return refusal,
    };
    let answer = {
        let invoices = sim.invoices.lock().unwrap();
        let uploaded = |number: &str| invoices.iter().any(|i| i.ubn == ubn && i.upload.number == number && i.upload.period == period);
        rules::winners_for(sim.winners.lock().unwrap().get(period).map(Vec::as_slice), uploaded)
    };
    sim.faults.after(Json(answer).into_response())
}

#[derive(Deserialize)]
struct WinnersList {
    period: String,
    winners: Vec<Winner>,
}

/// `POST /_sim/winners {"period", "winners": [{"number", "kind", "amount"}]}` → `204`: MOF's
/// list of the period is published (added to what was published of it, [`rules::publish_winners`]);
/// a malformed period or number → `400`, nothing published.
async fn publish_winners(State(sim): State<Arc<WixtarSim>>, Json(list): Json<WinnersList>) -> Response {
    match rules::publish_winners(&mut sim.winners.lock().unwrap(), &list.period, &list.winners) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => refusal(r),
    }
}

/// `GET /_sim/winners` → `{period: [{"number", "kind", "amount"}]}`: what was published.
async fn list_winners(State(sim): State<Arc<WixtarSim>>) -> Json<BTreeMap<String, Vec<Winner>>> {
    Json(sim.winners.lock().unwrap().clone())
}

async fn set_faults(State(sim): State<Arc<WixtarSim>>, Json(req): Json<FaultRequest>) -> StatusCode {
    sim.faults.set(req);
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    //! Drives the router over HTTP on 127.0.0.1 with a minimal HTTP/1.1 client written on
    //! tokio's `TcpStream` (the crate has no HTTP client or `tower` dependency).

    use std::io::ErrorKind;
    use std::net::SocketAddr;

    use tokio::net::TcpStream;

    use super::*;

    const UBN: &str = "04595257";
    const OTHER_UBN: &str = "12345675";

    async fn call(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let stream = TcpStream::connect(addr).await.unwrap();
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: sim\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let mut out = request.as_bytes();
        while !out.is_empty() {
            stream.writable().await.unwrap();
            match stream.try_write(out) {
                Ok(n) => out = &out[n..],
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("write: {e}"),
            }
        }
        let mut answer = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            stream.readable().await.unwrap();
            match stream.try_read(&mut buf) {
                Ok(0) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("read: {e}"),
            }
        }
        let text = String::from_utf8(answer).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let value = if body.is_empty() { Value::Null } else { serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.into())) };
        (status, value)
    }

    fn pos(ubn: &str) -> Value {
        json!({"ubn": ubn, "store_code": "S001", "pos_code": "POS-01", "pid": "PID-1", "rid": "rid-1", "pname": "小明商行 POS"})
    }

    async fn allocate(addr: SocketAddr, ubn: &str, period: &str, request_id: &str) -> (u16, Value) {
        call(addr, "POST", "/api/v1/pos/number-ranges/allocate", Some(json!({"pos": pos(ubn), "period": period, "request_id": request_id}))).await
    }

    fn invoice(number: &str) -> Value {
        json!({
            "number": number, "random_code": "0122", "period": "11512", "issued_at": "2026-11-03T02:04:05Z",
            "order_id": "ord-1", "seller_ubn": UBN, "buyer_ubn": "0000000000", "buyer_name": "",
            "carrier_type": "3J0002", "carrier_id": "/ABC1234", "love_code": null, "print": false,
            "tax_type": 1, "sales_amount": 150, "tax_amount": 0, "total": 150,
            "items": [
                {"description": "紅茶", "quantity": 2, "unit_price": 50, "amount": 100},
                {"description": "綠茶", "quantity": 1, "unit_price": 50, "amount": 50}
            ]
        })
    }

    async fn upload(addr: SocketAddr, ubn: &str, invoice: &Value) -> (u16, Value) {
        call(addr, "POST", "/api/v1/invoices", Some(json!({"pos": pos(ubn), "invoice": invoice}))).await
    }

    async fn find(addr: SocketAddr, ubn: &str, number: &str) -> (u16, Value) {
        call(addr, "POST", "/api/v1/invoices/query", Some(json!({"pos": pos(ubn), "number": number}))).await
    }

    #[test]
    fn tracks_are_two_uppercase_letters() {
        assert_eq!(rules::track_for("11512"), "UA");
        assert_eq!(rules::track_for("11602"), "GE");
        for period in ["11502", "11504", "11612", "09908"] {
            let t = rules::track_for(period);
            assert!(t.len() == 2 && t.bytes().all(|b| b.is_ascii_uppercase()), "{period} → {t}");
        }
    }

    #[tokio::test]
    async fn winners_are_published_listed_and_answered_per_seller() {
        let sim = crate::serve(router(), 0).await.unwrap();
        let (_, book) = allocate(sim.addr, UBN, "11512", "req-1").await;
        let number = format!("UA{}", book["range"]["first"].as_str().unwrap());
        assert_eq!(upload(sim.addr, UBN, &invoice(&number)).await.0, 200);
        let ask = |ubn: &'static str| call(sim.addr, "POST", "/api/v1/pos/winners/query", Some(json!({"pos": pos(ubn), "period": "11512"})));
        assert_eq!(ask(UBN).await, (200, json!({"status": "not_yet"})));
        let list = json!({"period": "11512", "winners": [{"number": number, "kind": "sixth", "amount": 200}, {"number": "UA99999999", "kind": "cloud", "amount": 500}]});
        assert_eq!(call(sim.addr, "POST", "/_sim/winners", Some(list.clone())).await.0, 204);
        assert_eq!(ask(UBN).await, (200, json!({"status": "published", "winners": [{"number": number, "kind": "sixth", "amount": 200}]})));
        assert_eq!(ask(OTHER_UBN).await, (200, json!({"status": "published", "winners": []})));
        assert_eq!(call(sim.addr, "GET", "/_sim/winners", None).await, (200, json!({"11512": list["winners"]})));
        // A malformed list publishes nothing; an unknown kind is refused by the decoder.
        let bad = json!({"period": "11510", "winners": [{"number": "UA1", "kind": "sixth", "amount": 200}]});
        assert_eq!(call(sim.addr, "POST", "/_sim/winners", Some(bad)).await.0, 400);
        assert_eq!(call(sim.addr, "POST", "/_sim/winners", Some(json!({"period": "11511", "winners": []}))).await.0, 400);
        let unknown = json!({"period": "11510", "winners": [{"number": "UA00000001", "kind": "seventh", "amount": 1}]});
        assert_eq!(call(sim.addr, "POST", "/_sim/winners", Some(unknown)).await.0, 422);
        assert_eq!(call(sim.addr, "GET", "/_sim/winners", None).await.1.as_object().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn allocation_is_idempotent_and_books_are_consecutive() {
        let sim = crate::serve(router(), 0).await.unwrap();
        let (status, first) = allocate(sim.addr, UBN, "11512", "req-1").await;
        assert_eq!(status, 200, "{first}");
        assert_eq!(first["range"], json!({"period": "11512", "track": "UA", "first": "00000000", "last": "00000049"}));
        assert_eq!(allocate(sim.addr, UBN, "11512", "req-1").await, (200, first.clone()), "same request_id, same range");
        let (status, second) = allocate(sim.addr, UBN, "11512", "req-2").await;
        assert_eq!(status, 200);
        assert_eq!(second["range"], json!({"period": "11512", "track": "UA", "first": "00000050", "last": "00000099"}));
        let (_, other) = allocate(sim.addr, OTHER_UBN, "11512", "req-1").await;
        assert_eq!(other["range"]["first"], "00000100", "request ids are scoped to the UBN; numbers are unique in the period across sellers");
        let (_, next_period) = allocate(sim.addr, UBN, "11602", "req-3").await;
        assert_eq!(next_period["range"]["first"], "00000000");
        assert_eq!(allocate(sim.addr, UBN, "11602", "req-1").await, (409, json!({"error": "request_id_conflict"})));

        let (status, query) = call(sim.addr, "POST", "/api/v1/pos/number-ranges/query", Some(json!({"pos": pos(UBN), "period": "11512"}))).await;
        assert_eq!(status, 200);
        assert_eq!(query["ranges"], json!([first["range"], second["range"]]));
        let (_, listed) = call(sim.addr, "GET", "/_sim/ranges", None).await;
        assert_eq!(listed.as_array().unwrap().len(), 4);
        assert_eq!(listed[1], json!({"ubn": UBN, "period": "11512", "track": "UA", "first": "00000050", "last": "00000099", "request_id": "req-2"}));
    }

    #[tokio::test]
    async fn book_limit_refuses_with_409() {
        let sim = crate::serve(router(), 0).await.unwrap();
        assert_eq!(call(sim.addr, "POST", "/_sim/ranges", Some(json!({"ubn": UBN, "books": 1}))).await.0, 204);
        assert_eq!(allocate(sim.addr, UBN, "11512", "req-1").await.0, 200);
        assert_eq!(allocate(sim.addr, UBN, "11512", "req-2").await, (409, json!({"error": "no_ranges_available"})));
        assert_eq!(allocate(sim.addr, UBN, "11512", "req-1").await.0, 200, "a repeat still answers its range");
        assert_eq!(allocate(sim.addr, UBN, "11602", "req-3").await.0, 200, "the limit is per period");
        assert_eq!(allocate(sim.addr, OTHER_UBN, "11512", "req-2").await.0, 200, "and per UBN");
        assert_eq!(call(sim.addr, "POST", "/_sim/ranges", Some(json!({"ubn": UBN, "books": null}))).await.0, 204);
        let (status, answer) = allocate(sim.addr, UBN, "11512", "req-2").await;
        assert_eq!((status, &answer["range"]["first"]), (200, &json!("00000100")), "after the other UBN's book");
        assert_eq!(call(sim.addr, "POST", "/_sim/ranges", Some(json!({"ubn": OTHER_UBN, "books": 0}))).await.0, 204);
        assert_eq!(allocate(sim.addr, OTHER_UBN, "11602", "req-9").await.0, 409);
    }

    #[tokio::test]
    async fn uploads_follow_the_tax_type_rules() {
        let sim = crate::serve(router(), 0).await.unwrap();
        assert_eq!(allocate(sim.addr, UBN, "11512", "req-1").await.0, 200);
        let item = |amount: i64, tax_type: u8| json!({"description": "x", "quantity": 1, "unit_price": amount, "amount": amount, "tax_type": tax_type});
        let with = |number: &str, edits: Value| {
            let mut inv = invoice(number);
            for (k, v) in edits.as_object().unwrap() {
                inv[k] = v.clone();
            }
            inv
        };
        let zero = json!({"tax_type": 2, "tax_rate": "0", "sales_amount": 0, "zero_tax_sales_amount": 150, "items": [item(150, 2)],
                          "customs_clearance_mark": 2, "zero_tax_rate_reason": "71"});
        assert_eq!(upload(sim.addr, UBN, &with("UA00000001", zero.clone())).await.0, 200);
        let mut no_reason = zero.clone();
        no_reason["zero_tax_rate_reason"] = Value::Null;
        assert_eq!(upload(sim.addr, UBN, &with("UA00000002", no_reason)).await, (422, json!({"error": "zero_tax_details_missing"})));
        let mut wrong_rate = zero;
        wrong_rate["tax_rate"] = "0.05".into();
        assert_eq!(upload(sim.addr, UBN, &with("UA00000002", wrong_rate)).await, (422, json!({"error": "tax_rate_mismatch"})));
        let free = json!({"tax_type": 3, "tax_rate": "0", "sales_amount": 0, "free_tax_sales_amount": 150, "items": [item(150, 1)]});
        assert_eq!(upload(sim.addr, UBN, &with("UA00000002", free)).await, (422, json!({"error": "item_tax_type_mismatch"})));
        let mixed = json!({"tax_type": 9, "sales_amount": 100, "free_tax_sales_amount": 50, "items": [item(100, 1), item(50, 3)]});
        assert_eq!(upload(sim.addr, UBN, &with("UA00000003", mixed.clone())).await.0, 200);
        let mut split_off = mixed.clone();
        split_off["items"] = json!([item(90, 1), item(60, 3)]);
        assert_eq!(upload(sim.addr, UBN, &with("UA00000004", split_off)).await, (422, json!({"error": "amount_mismatch"})));
        let mut b2b = mixed;
        b2b["buyer_ubn"] = "12345675".into();
        assert_eq!(upload(sim.addr, UBN, &with("UA00000004", b2b)).await, (422, json!({"error": "mixed_tax_b2b"})));
        assert_eq!(upload(sim.addr, UBN, &with("UA00000004", json!({"tax_type": 4}))).await, (422, json!({"error": "invalid_tax_type"})));
        // An allowance of the mixed invoice returns kinds it has, no more of each than it has.
        let allowance = |number: &str, items: Value, total: u64| {
            json!({"pos": pos(UBN), "allowance": {"number": number, "invoice_number": "UA00000003", "issued_at": "2026-11-04T00:00:00Z",
                   "sales_amount": total, "tax_amount": 0, "total": total, "items": items}})
        };
        let zero_part = allowance("UA00000003-1", json!([item(10, 2)]), 10);
        assert_eq!(call(sim.addr, "POST", "/api/v1/allowances", Some(zero_part)).await, (422, json!({"error": "allowance_tax_type_mismatch"})));
        let ok = allowance("UA00000003-1", json!([item(60, 1), item(40, 3)]), 100);
        assert_eq!(call(sim.addr, "POST", "/api/v1/allowances", Some(ok)).await.0, 200);
    }

    #[tokio::test]
    async fn upload_is_idempotent_by_number_and_checked() {
        let sim = crate::serve(router(), 0).await.unwrap();
        assert_eq!(allocate(sim.addr, UBN, "11512", "req-1").await.0, 200);
        let inv = invoice("UA00000007");
        let accepted = json!({"number": "UA00000007", "status": "accepted"});
        assert_eq!(upload(sim.addr, UBN, &inv).await, (200, accepted.clone()));
        assert_eq!(upload(sim.addr, UBN, &inv).await, (200, accepted.clone()), "same content: accepted again");
        let (_, listed) = call(sim.addr, "GET", "/_sim/invoices", None).await;
        let mut expected = inv.clone();
        expected["received_count"] = 2.into();
        assert_eq!(listed, json!([expected]), "recorded once");

        let mut changed = inv.clone();
        changed["total"] = 151.into();
        changed["sales_amount"] = 151.into();
        changed["items"][1]["amount"] = 51.into();
        assert_eq!(upload(sim.addr, UBN, &changed).await, (409, json!({"error": "number_conflict"})));

        let not_allocated = json!({"error": "number_not_allocated"});
        for number in ["UA00000050", "UB00000007", "ua00000007", "UA0000007"] {
            assert_eq!(upload(sim.addr, UBN, &invoice(number)).await, (422, not_allocated.clone()), "{number}");
        }
        let mut other_period = invoice("UA00000008");
        other_period["period"] = "11602".into();
        assert_eq!(upload(sim.addr, UBN, &other_period).await, (422, not_allocated.clone()));

        let mut items_off = invoice("UA00000008");
        items_off["items"][0]["amount"] = 99.into();
        assert_eq!(upload(sim.addr, UBN, &items_off).await, (422, json!({"error": "amount_mismatch"})));
        let mut tax_off = invoice("UA00000008");
        tax_off["tax_amount"] = 7.into();
        assert_eq!(upload(sim.addr, UBN, &tax_off).await, (422, json!({"error": "amount_mismatch"})));
        let mut b2b = invoice("UA00000008");
        for (k, v) in [("buyer_ubn", json!("12345675")), ("buyer_name", json!("某公司")), ("sales_amount", json!(143)), ("tax_amount", json!(7))] {
            b2b[k] = v;
        }
        assert_eq!(upload(sim.addr, UBN, &b2b).await.0, 200);

        let mut seller = invoice("UA00000009");
        seller["seller_ubn"] = OTHER_UBN.into();
        assert_eq!(upload(sim.addr, UBN, &seller).await.0, 400);
        assert_eq!(upload(sim.addr, UBN, &json!({"number": "UA00000009"})).await.0, 400);

        assert_eq!(find(sim.addr, UBN, "UA00000007").await, (200, accepted));
        assert_eq!(find(sim.addr, UBN, "UA00000009").await, (404, json!({"error": "not_found"})));
        assert_eq!(find(sim.addr, OTHER_UBN, "UA00000007").await.0, 404, "only the uploading UBN sees it");
        let (_, listed) = call(sim.addr, "GET", "/_sim/invoices", None).await;
        assert_eq!(listed.as_array().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn error_after_stores_the_upload_then_fails() {
        let sim = crate::serve(router(), 0).await.unwrap();
        assert_eq!(allocate(sim.addr, UBN, "11512", "req-1").await.0, 200);
        assert_eq!(call(sim.addr, "POST", "/_sim/faults", Some(json!({"mode": "error_after", "count": 1}))).await.0, 204);
        let inv = invoice("UA00000000");
        assert_eq!(upload(sim.addr, UBN, &inv).await.0, 500);
        assert_eq!(find(sim.addr, UBN, "UA00000000").await.0, 200, "the upload was stored");
        assert_eq!(upload(sim.addr, UBN, &inv).await.0, 200);
        let (_, listed) = call(sim.addr, "GET", "/_sim/invoices", None).await;
        assert_eq!(listed[0]["received_count"], 2);

        assert_eq!(call(sim.addr, "POST", "/_sim/faults", Some(json!({"mode": "error", "count": 1}))).await.0, 204);
        assert_eq!(allocate(sim.addr, UBN, "11512", "req-2").await.0, 500);
        let (_, listed) = call(sim.addr, "GET", "/_sim/ranges", None).await;
        assert_eq!(listed.as_array().unwrap().len(), 1, "an `error` fault allocates nothing");
        assert_eq!(call(sim.addr, "POST", "/_sim/faults", Some(json!({"mode": "error_after", "count": 1}))).await.0, 204);
        assert_eq!(allocate(sim.addr, UBN, "11512", "req-2").await.0, 500);
        let (status, answer) = allocate(sim.addr, UBN, "11512", "req-2").await;
        assert_eq!((status, &answer["range"]["first"]), (200, &json!("00000050")), "the lost answer is asked again");
    }

    #[tokio::test]
    async fn pos_calls_check_credentials() {
        let sim = crate::serve(router(), 0).await.unwrap();
        assert_eq!(call(sim.addr, "POST", "/_sim/credentials", Some(json!({"ubn": UBN, "rid": "real-rid"}))).await.0, 204);
        let refused = (401, json!({"error": "invalid_credentials"}));
        assert_eq!(allocate(sim.addr, UBN, "11512", "req-1").await, refused);
        assert_eq!(upload(sim.addr, UBN, &invoice("UA00000000")).await, refused);
        assert_eq!(find(sim.addr, UBN, "UA00000000").await, refused);
        let mut real = pos(UBN);
        real["rid"] = "real-rid".into();
        let body = json!({"pos": real, "period": "11512", "request_id": "req-1"});
        assert_eq!(call(sim.addr, "POST", "/api/v1/pos/number-ranges/allocate", Some(body)).await.0, 200);
        let bad = json!({"pos": {"ubn": UBN}, "period": "11512", "request_id": "req-1"});
        assert_eq!(call(sim.addr, "POST", "/api/v1/pos/number-ranges/allocate", Some(bad)).await.0, 400);
        assert_eq!(allocate(sim.addr, OTHER_UBN, "11513", "req-1").await.0, 400, "odd month");
        assert_eq!(allocate(sim.addr, OTHER_UBN, "11512", "").await.0, 400, "request_id required");
    }
}
