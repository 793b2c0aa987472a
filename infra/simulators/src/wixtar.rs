//! Wixtar simulator: contact hand-off (onboarding), POS credential check, number-range
//! allocation and query (books of 50), invoice upload and look-up; credential registry, book
//! limits and fault injection for tests.
//! Wire format: docs/wixtar-protocol.md.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::faults::{FaultRequest, Faults};

/// Numbers per book (本): every allocation hands out one book.
const BOOK: u32 = 50;

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
}

/// One book handed out by `/api/v1/pos/number-ranges/allocate`.
#[derive(Debug, Clone, Serialize)]
struct Allocation {
    ubn: String,
    period: String,
    track: String,
    first: String,
    last: String,
    request_id: String,
}

impl Allocation {
    fn wire(&self) -> Value {
        json!({"period": self.period, "track": self.track, "first": self.first, "last": self.last})
    }

    fn contains(&self, number: &str) -> bool {
        let (track, digits) = number.split_at(2);
        let n = |s: &str| s.parse::<u32>().unwrap_or(u32::MAX);
        track == self.track && (n(&self.first)..=n(&self.last)).contains(&n(digits))
    }
}

/// The invoice of an upload, as the simulator checks and compares it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Upload {
    number: String,
    random_code: String,
    period: String,
    issued_at: DateTime<Utc>,
    order_id: String,
    seller_ubn: String,
    buyer_ubn: String,
    buyer_name: String,
    carrier_type: Option<String>,
    carrier_id: Option<String>,
    love_code: Option<String>,
    print: bool,
    tax_type: u8,
    #[serde(default = "taxable_rate")]
    tax_rate: String,
    sales_amount: u64,
    #[serde(default)]
    zero_tax_sales_amount: u64,
    #[serde(default)]
    free_tax_sales_amount: u64,
    tax_amount: u64,
    total: u64,
    #[serde(default)]
    customs_clearance_mark: Option<u8>,
    #[serde(default)]
    zero_tax_rate_reason: Option<String>,
    items: Vec<UploadItem>,
}

fn taxable_rate() -> String {
    "0.05".into()
}

fn taxable() -> u8 {
    1
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
struct UploadItem {
    description: String,
    quantity: u32,
    unit_price: i64,
    amount: i64,
    #[serde(default = "taxable")]
    tax_type: u8,
}

impl Upload {
    /// The amount of each item kind (1 應稅, 2 零稅率, 3 免稅) the totals declare, tax included.
    fn kind_amounts(&self) -> [u64; 3] {
        [self.sales_amount + self.tax_amount, self.zero_tax_sales_amount, self.free_tax_sales_amount]
    }

    /// The MIG 4.0 tax-type rules Wixtar would check (docs/invoices.md, "Tax types").
    fn check_tax(&self) -> Result<(), &'static str> {
        let b2c = self.buyer_ubn == "0000000000";
        let expected_rate = match self.tax_type {
            1 | 9 => "0.05",
            2 | 3 => "0",
            _ => return Err("invalid_tax_type"),
        };
        if self.tax_rate != expected_rate {
            return Err("tax_rate_mismatch");
        }
        if self.tax_type == 9 && !b2c {
            return Err("mixed_tax_b2b");
        }
        if b2c && self.tax_amount != 0 {
            return Err("amount_mismatch");
        }
        let declared = self.kind_amounts();
        if u128::from(declared[0]) + u128::from(declared[1]) + u128::from(declared[2]) != u128::from(self.total) {
            return Err("amount_mismatch");
        }
        let mut by_kind = [0i128; 3];
        for item in &self.items {
            let single = self.tax_type != 9;
            if !(1..=3).contains(&item.tax_type) || (single && item.tax_type != self.tax_type) {
                return Err("item_tax_type_mismatch");
            }
            by_kind[usize::from(item.tax_type - 1)] += i128::from(item.amount);
        }
        if by_kind.iter().zip(declared).any(|(&items, d)| items != i128::from(d)) {
            return Err("amount_mismatch");
        }
        let zero_rated = declared[1] > 0 || self.tax_type == 2;
        let mark_ok = matches!(self.customs_clearance_mark, Some(1 | 2));
        let reason_ok = self.zero_tax_rate_reason.as_deref().is_some_and(|r| matches!(r.parse::<u8>(), Ok(71..=79)) && r.len() == 2);
        if zero_rated && !(mark_ok && reason_ok) {
            return Err("zero_tax_details_missing");
        }
        Ok(())
    }
}

struct ReceivedInvoice {
    ubn: String,
    upload: Upload,
    /// (allowance number, total, voided)
    /// (number, total, voided, items as received)
    allowances: Vec<(String, u64, bool, Value)>,
    voided: bool,
    /// The `invoice` object as first received, plus `received_count`.
    record: Value,
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

async fn onboarding(State(sim): State<Arc<WixtarSim>>, Json(body): Json<Value>) -> Response {
    if let Some(fault) = sim.faults.inject().await {
        return fault;
    }
    let (Some(request_id), Some(_), Some(_)) = (field(&body, "request_id"), field(&body, "ubn"), body.get("contact")) else {
        return refuse(StatusCode::BAD_REQUEST, "request_id, ubn and contact are required");
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
#[allow(clippy::result_large_err, reason = "the error is the handler's answer")]
fn authenticate_pos(sim: &WixtarSim, body: &Value) -> Result<String, Response> {
    let pos = body.get("pos").cloned().unwrap_or_default();
    if POS_FIELDS.iter().any(|f| field(&pos, f).is_none()) {
        return Err(refuse(StatusCode::BAD_REQUEST, "pos needs ubn, store_code, pos_code, pid, rid, pname"));
    }
    let ubn = field(&pos, "ubn").unwrap_or_default().to_owned();
    if ubn.len() != 8 || !ubn.bytes().all(|b| b.is_ascii_digit()) {
        return Err(refuse(StatusCode::BAD_REQUEST, "pos.ubn must be 8 digits"));
    }
    let registry = sim.credentials.lock().unwrap();
    match registry.get(&ubn) {
        Some(sets) if !sets.iter().any(|s| s.matches(&pos)) => Err(refuse(StatusCode::UNAUTHORIZED, "invalid_credentials")),
        _ => Ok(ubn),
    }
}

/// The start of every POS call: an armed fault, then the POS credentials; the caller's UBN.
async fn pos_call(sim: &WixtarSim, body: &Value) -> Result<String, Response> {
    if let Some(fault) = sim.faults.inject().await {
        return Err(fault);
    }
    authenticate_pos(sim, body)
}

fn valid_period(period: &str) -> bool {
    period.len() == 5 && period.bytes().all(|b| b.is_ascii_digit()) && matches!(&period[3..], "02" | "04" | "06" | "08" | "10" | "12")
}

/// The `period` of a POS call, if well-formed.
#[allow(clippy::result_large_err, reason = "the error is the handler's answer")]
fn period_of(body: &Value) -> Result<&str, Response> {
    field(body, "period").filter(|p| valid_period(p)).ok_or_else(|| refuse(StatusCode::BAD_REQUEST, "period must be ROC year + even month, e.g. 11512"))
}

/// The 字軌 the simulator uses for a (valid) period: two letters derived from its digits, the
/// same for every UBN, e.g. `UA` for `11512`.
fn track_for(period: &str) -> String {
    let n = period.parse::<u32>().unwrap_or(0);
    [n % 26, n / 26 % 26].iter().map(|&i| char::from(b'A' + i as u8)).collect()
}

/// 2 uppercase letters + 8 digits.
fn valid_number(number: &str) -> bool {
    number.len() == 10 && number.bytes().take(2).all(|b| b.is_ascii_uppercase()) && number.bytes().skip(2).all(|b| b.is_ascii_digit())
}

/// `POST /api/v1/pos/number-ranges/query`: the ranges assigned to the POS for a period.
async fn query_ranges(State(sim): State<Arc<WixtarSim>>, Json(body): Json<Value>) -> Response {
    let ubn = match pos_call(&sim, &body).await {
        Ok(ubn) => ubn,
        Err(refusal) => return refusal,
    };
    let period = match period_of(&body) {
        Ok(period) => period,
        Err(refusal) => return refusal,
    };
    let allocations = sim.allocations.lock().unwrap();
    let ranges: Vec<Value> = allocations.iter().filter(|a| a.ubn == ubn && a.period == period).map(Allocation::wire).collect();
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
        return refuse(StatusCode::BAD_REQUEST, "request_id is required");
    };
    let limit = sim.book_limits.lock().unwrap().get(&ubn).copied();
    let mut allocations = sim.allocations.lock().unwrap();
    if let Some(known) = allocations.iter().find(|a| a.ubn == ubn && a.request_id == request_id) {
        if known.period != period {
            return refuse(StatusCode::CONFLICT, "request_id_conflict");
        }
        let answer = Json(json!({"range": known.wire()})).into_response();
        drop(allocations);
        return sim.faults.after(answer);
    }
    let books = allocations.iter().filter(|a| a.ubn == ubn && a.period == period).count() as u32;
    // Numbers are unique in a period across all sellers (as the MOF hands them out), so a
    // merchant that changes UBN never gets a book that overlaps its old one.
    let issued = allocations.iter().filter(|a| a.period == period).count() as u32;
    if limit.is_some_and(|max| books >= max) || u64::from(issued + 1) * u64::from(BOOK) > 100_000_000 {
        return refuse(StatusCode::CONFLICT, "no_ranges_available");
    }
    let allocation = Allocation {
        ubn,
        track: track_for(&period),
        first: format!("{:08}", issued * BOOK),
        last: format!("{:08}", issued * BOOK + BOOK - 1),
        period,
        request_id: request_id.to_owned(),
    };
    let answer = Json(json!({"range": allocation.wire()})).into_response();
    allocations.push(allocation);
    drop(allocations);
    sim.faults.after(answer)
}

fn accepted(number: &str) -> Response {
    Json(json!({"number": number, "status": "accepted"})).into_response()
}

/// `POST /api/v1/invoices`: an issued invoice; idempotent by (UBN, number).
async fn upload_invoice(State(sim): State<Arc<WixtarSim>>, Json(body): Json<Value>) -> Response {
    let ubn = match pos_call(&sim, &body).await {
        Ok(ubn) => ubn,
        Err(refusal) => return refusal,
    };
    let raw = body.get("invoice").cloned().unwrap_or_default();
    let upload: Upload = match serde_json::from_value(raw.clone()) {
        Ok(upload) => upload,
        Err(e) => {
            return refuse(StatusCode::BAD_REQUEST, &format!("invoice is malformed: {e}"));
        }
    };
    if upload.seller_ubn != ubn {
        return refuse(StatusCode::BAD_REQUEST, "invoice.seller_ubn must be pos.ubn");
    }
    if !valid_period(&upload.period) {
        return refuse(StatusCode::BAD_REQUEST, "invoice.period must be ROC year + even month, e.g. 11512");
    }
    if upload.items.is_empty() {
        return refuse(StatusCode::BAD_REQUEST, "invoice needs at least one item");
    }
    let allocated =
        valid_number(&upload.number) && sim.allocations.lock().unwrap().iter().any(|a| a.ubn == ubn && a.period == upload.period && a.contains(&upload.number));
    if !allocated {
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, "number_not_allocated");
    }
    let items_sum: i128 = upload.items.iter().map(|i| i128::from(i.amount)).sum();
    if items_sum != i128::from(upload.total) {
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, "amount_mismatch");
    }
    if let Err(code) = upload.check_tax() {
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, code);
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
        return refuse(StatusCode::BAD_REQUEST, "number is required");
    };
    let known = sim.invoices.lock().unwrap().iter().any(|i| i.ubn == ubn && i.upload.number == number);
    if !known {
        return refuse(StatusCode::NOT_FOUND, "not_found");
    }
    sim.faults.after(accepted(number))
}

/// Runs `change` on the POS's invoice `number` (404 if unknown) after the usual checks; the
/// record listed by `/_sim/invoices` shows `void` and `allowances`.
async fn with_invoice(
    sim: &WixtarSim,
    body: &Value,
    number: Option<&str>,
    change: impl FnOnce(&mut ReceivedInvoice) -> Result<Response, Response>,
) -> Response {
    let ubn = match pos_call(sim, body).await {
        Ok(ubn) => ubn,
        Err(refusal) => return refusal,
    };
    let Some(number) = number else {
        return refuse(StatusCode::BAD_REQUEST, "number is required");
    };
    let answer = {
        let mut invoices = sim.invoices.lock().unwrap();
        let Some(invoice) = invoices.iter_mut().find(|i| i.ubn == ubn && i.upload.number == number) else {
            return refuse(StatusCode::NOT_FOUND, "not_found");
        };
        let answer = change(invoice);
        invoice.record["void"] = invoice.voided.into();
        invoice.record["allowances"] =
            invoice.allowances.iter().map(|(n, total, voided, items)| json!({"number": n, "total": total, "voided": voided, "items": items})).collect();
        answer
    };
    match answer {
        Ok(done) => sim.faults.after(done),
        Err(refusal) => refusal,
    }
}

/// `POST /api/v1/invoices/void` `{"pos", "number", "reason"}`: 作廢; refused while allowances are active.
async fn void_invoice(State(sim): State<Arc<WixtarSim>>, Json(body): Json<Value>) -> Response {
    let number = field(&body, "number").map(str::to_owned);
    with_invoice(&sim, &body, number.as_deref(), |invoice| {
        if invoice.allowances.iter().any(|(_, _, voided, _)| !voided) {
            return Err(refuse(StatusCode::CONFLICT, "allowances_exist"));
        }
        invoice.voided = true;
        Ok(Json(json!({"number": invoice.upload.number, "status": "void"})).into_response())
    })
    .await
}

/// `POST /api/v1/allowances` `{"pos", "allowance": {number, invoice_number, total, …}}`: 折讓,
/// idempotent by allowance number, never more than what is left on the invoice.
async fn upload_allowance(State(sim): State<Arc<WixtarSim>>, Json(body): Json<Value>) -> Response {
    let allowance = body.get("allowance").cloned().unwrap_or_default();
    let invoice_number = field(&allowance, "invoice_number").map(str::to_owned);
    let (Some(number), Some(total)) = (field(&allowance, "number").map(str::to_owned), allowance.get("total").and_then(Value::as_u64)) else {
        return refuse(StatusCode::BAD_REQUEST, "allowance needs number, invoice_number and total");
    };
    with_invoice(&sim, &body, invoice_number.as_deref(), |invoice| {
        if invoice.voided {
            return Err(refuse(StatusCode::CONFLICT, "invoice_void"));
        }
        if !invoice.allowances.iter().any(|(n, _, _, _)| *n == number) {
            let allowed: u64 = invoice.allowances.iter().filter(|(_, _, v, _)| !v).map(|(_, t, _, _)| t).sum();
            if total == 0 || allowed + total > invoice.upload.total {
                return Err(refuse(StatusCode::CONFLICT, "allowance_exceeds_invoice"));
            }
            let items = allowance.get("items").cloned().unwrap_or_default();
            if let Err(code) = allowance_kinds_fit(&invoice.upload, &items, total) {
                return Err(refuse(StatusCode::UNPROCESSABLE_ENTITY, code));
            }
            invoice.allowances.push((number.clone(), total, false, items));
        }
        Ok(Json(json!({"number": number, "status": "accepted"})).into_response())
    })
    .await
}

/// An allowance's items add up to its total, and each returns a kind the invoice has (its
/// tax follows the lines it returns): `allowance_tax_type_mismatch` otherwise.
fn allowance_kinds_fit(invoice: &Upload, items: &Value, total: u64) -> Result<(), &'static str> {
    let declared = invoice.kind_amounts();
    let mut sum = 0i64;
    for item in items.as_array().map(Vec::as_slice).unwrap_or_default() {
        let amount = item.get("amount").and_then(Value::as_i64).unwrap_or(0);
        let kind = item.get("tax_type").and_then(Value::as_u64).unwrap_or(1);
        let fits = (1..=3).contains(&kind) && declared[(kind - 1) as usize] >= u64::try_from(amount).unwrap_or(u64::MAX);
        if !fits {
            return Err("allowance_tax_type_mismatch");
        }
        sum += amount;
    }
    if u64::try_from(sum).ok() != Some(total) {
        return Err("amount_mismatch");
    }
    Ok(())
}

/// `POST /api/v1/allowances/void` `{"pos", "number"}`: 作廢折讓.
async fn void_allowance(State(sim): State<Arc<WixtarSim>>, Json(body): Json<Value>) -> Response {
    let number = field(&body, "number").map(str::to_owned).unwrap_or_default();
    let invoice_number = number.rsplit_once('-').map(|(invoice, _)| invoice.to_owned());
    with_invoice(&sim, &body, invoice_number.as_deref(), |invoice| {
        let Some(allowance) = invoice.allowances.iter_mut().find(|(n, _, _, _)| *n == number) else {
            return Err(refuse(StatusCode::NOT_FOUND, "not_found"));
        };
        allowance.2 = true;
        Ok(Json(json!({"number": number, "status": "void"})).into_response())
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
    let (Some(period), Some(unused)) = (field(&body, "period").filter(|p| valid_period(p)), body.get("unused").filter(|u| u.is_array())) else {
        return refuse(StatusCode::BAD_REQUEST, "period and unused are required");
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
        assert_eq!(track_for("11512"), "UA");
        assert_eq!(track_for("11602"), "GE");
        for period in ["11502", "11504", "11612", "09908"] {
            let t = track_for(period);
            assert!(t.len() == 2 && t.bytes().all(|b| b.is_ascii_uppercase()), "{period} → {t}");
        }
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
