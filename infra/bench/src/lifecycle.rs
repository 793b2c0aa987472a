//! `--lifecycle N` (docs/benchmarks.md §5): N orders through their happy path with warm
//! order-webhook and invoice-issuer processes (webhook paid → webhook shipped → the claim's
//! stream record to invoice-issuer → webhook received), each step's AWS calls and DynamoDB units.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use crate::aws_proxy::{Call, calls_text, count};
use crate::capacity;
use crate::events::Front;
use crate::launcher::Launcher;
use crate::scenarios::{Scenario, check, webhook_answer};
use crate::stats::{median, ms};
use crate::world::{World, sample_order};

#[derive(Debug, Clone, Serialize)]
struct Step {
    step: &'static str,
    function: &'static str,
    calls: BTreeMap<String, usize>,
    rru: f64,
    wru: f64,
    latency_ms: f64,
    detail: Vec<String>,
}

/// One step of one order as it ran.
struct Ran {
    step: &'static str,
    function: &'static str,
    took: Duration,
    calls: Vec<Call>,
}

/// Prints the steps of the last order (steady state) with the median latency of each step over
/// all `orders`; the JSON for `--json`.
pub async fn run(w: &World, launcher: &Launcher, orders: usize) -> Result<Value, String> {
    let (ow_api, _ow) = launcher.start_with_api(w, "order-webhook", "lifecycle-order-webhook.log").await?;
    let (ii_api, _ii) = launcher.start_with_api(w, "invoice-issuer", "lifecycle-invoice-issuer.log").await?;
    let init = w.proxy.take();
    let m = &w.merchant;
    let mut all: Vec<Vec<Ran>> = Vec::new();
    for k in 0..orders {
        let order_id = format!("life-{k}-{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
        let hook = |step: &str, delivery: &str| {
            w.order_webhook(Front::HttpApi, &format!("{order_id}-{step}"), chrono::Utc::now(), &sample_order(&order_id, "paid", delivery))
        };
        let mut steps = Vec::new();
        let mut record = |step, function, took| steps.push(Ran { step, function, took, calls: w.proxy.take() });
        let (d, o) = ow_api.invoke(hook("paid", "pending")).await?;
        webhook_answer(&o, "waiting").map_err(|e| format!("webhook paid: {e}"))?;
        record("webhook paid, not shipped (waiting)", "order-webhook", d);
        let (d, o) = ow_api.invoke(hook("shipped", "shipped")).await?;
        webhook_answer(&o, "issuing").map_err(|e| format!("webhook shipped: {e}"))?;
        record("webhook shipped (issue: claim, the stream hands it over)", "order-webhook", d);
        let (d, o) = ii_api.invoke(w.claim_record(m, &order_id).await?).await?;
        let answer = check(Scenario::InvoiceIssuer, &o).map_err(|e| format!("invoice-issuer: {e}"))?;
        if k == 0 {
            eprintln!("lifecycle: invoice-issuer answered {answer}");
        }
        record("claim stream record (number, proof, record, upload)", "invoice-issuer", d);
        let (d, o) = ow_api.invoke(hook("received", "received")).await?;
        webhook_answer(&o, "uploaded").map_err(|e| format!("webhook received: {e}"))?;
        record("webhook received (already invoiced)", "order-webhook", d);
        all.push(steps);
    }
    let (table, entities) = capacity::table_sizes(&w.moto_url, &w.stack.config.table_name).await?;
    let last = all.last().ok_or("no orders")?;
    let mut out = Vec::new();
    for (i, ran) in last.iter().enumerate() {
        let u = capacity::units(&ran.calls, &table);
        let latency = median(all.iter().map(|o| ms(o[i].took)).collect());
        out.push(Step { step: ran.step, function: ran.function, calls: count(&ran.calls), rru: u.rru, wru: u.wru, latency_ms: latency, detail: u.by_call });
    }
    println!("\n| step of one order (steady state, last of {orders}) | function | AWS calls | RRU | WRU | latency, median (ms) |");
    println!("|---|---|---|---:|---:|---:|");
    for s in &out {
        println!("| {} | {} | {} | {} | {} | {:.1} |", s.step, s.function, calls_text(&s.calls), s.rru, s.wru, s.latency_ms);
    }
    let (rru, wru): (f64, f64) = out.iter().fold((0.0, 0.0), |a, s| (a.0 + s.rru, a.1 + s.wru));
    println!(
        "| **per order** | | {} | {rru} | {wru} | |",
        calls_text(&out.iter().fold(BTreeMap::new(), |mut acc, s| {
            for (k, v) in &s.calls {
                *acc.entry(k.clone()).or_insert(0) += v;
            }
            acc
        }))
    );
    capacity::print_entities(&entities);
    Ok(json!({"orders": orders, "init_calls": count(&init), "steps": out, "entities": entities}))
}
