//! `--webhook-load`: what a burst of deliveries of one order and the largest order cost the
//! order-webhook release binary (docs/benchmarks.md §8).
//!
//! - **Contention**: `concurrency` order-webhook processes on one Runtime API stand-in (Lambda
//!   runs one invocation per instance at a time: N concurrent deliveries are N instances), then
//!   that many deliveries of one new order at once, each its own event (distinct `event_id`s,
//!   statuses paid/pending … paid/received and unpaid, `occurred_at`s spread over 50 s, the
//!   content the same). Per run: p50 and p99 (nearest rank) of the deliveries' latencies, the
//!   burst's wall time, its DynamoDB calls and write units, and the order's merged state checked.
//! - **Largest order**: an order with as many lines as fit the 256 KiB body limit, through one
//!   warm order-webhook and one invoice-issuer: webhook paid (new order), webhook shipped (claim),
//!   the claim's stream record to the issuer, webhook received, a redelivery of it under a new
//!   `event_id`, then the invoice view. Per step: latency, AWS calls, RRU and WRU.
//!
//! Write units are computed from item sizes by DynamoDB's rules (`capacity.rs`): moto answers
//! `ReturnConsumedCapacity` with a constant, not with what DynamoDB would bill. A failed
//! conditional write is counted at its item's size, as DynamoDB bills it. Index writes (the
//! `by-due` GSI) are not counted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use crate::aws_proxy::{calls_text, count};
use crate::capacity;
use crate::events::Front;
use crate::launcher::Launcher;
use crate::runtime_api::{Outcome, RuntimeApi};
use crate::scenarios::{Scenario, check, http_body, webhook_answer};
use crate::stats::{median, ms, percentile};
use crate::world::{World, sample_order};

/// The contract's body limit (413 above it).
const BODY_LIMIT: usize = 256 * 1024;

/// The order with the most lines whose webhook body stays under the 256 KiB limit.
fn largest_order(w: &World, id: &str, delivery: &str) -> (Value, usize, usize) {
    let line = |i: usize| json!({"sku": format!("SKU-{i:05}"), "name": format!("凍頂烏龍茶 150g 第{i}號"), "quantity": 1, "unit_price": 10});
    let order = |n: usize| {
        let mut o = sample_order(id, "paid", delivery);
        o["lines"] = Value::Array((0..n).map(line).collect());
        (o["shipping_fee"], o["discount"], o["total"]) = (json!(0), json!(0), json!(10 * n));
        o
    };
    let body_len = |n: usize| w.webhook_body(&format!("{id}-received-again"), chrono::Utc::now(), &order(n)).len();
    // Binary search on the line count: the longest body of the run (its longest event id) fits.
    let (mut lo, mut hi): (usize, usize) = (1, 10_000);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if body_len(mid) <= BODY_LIMIT { lo = mid } else { hi = mid - 1 }
    }
    (order(lo), lo, body_len(lo))
}

#[derive(Debug, Clone, Serialize)]
struct BurstRun {
    deliveries: usize,
    wall_ms: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    answers: BTreeMap<u16, usize>,
    calls: BTreeMap<String, usize>,
    wru: f64,
    rru: f64,
}

/// An HTTP answer's status and JSON body.
fn status_of(outcome: &Outcome) -> Result<(u16, Value), String> {
    let v = outcome.json()?;
    let status = v["statusCode"].as_u64().ok_or_else(|| format!("no statusCode in {v}"))? as u16;
    Ok((status, http_body(&v)))
}

/// Hands out all `events` at once; their (latency, outcome) in completion order.
async fn all_at_once(api: &Arc<RuntimeApi>, events: Vec<String>, within: Duration) -> Result<Vec<(Duration, Outcome)>, String> {
    let mut set = tokio::task::JoinSet::new();
    for e in events {
        let api = api.clone();
        set.spawn(async move { api.invoke_within(e, within).await });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.map_err(|e| e.to_string())??);
    }
    Ok(out)
}

/// Waits until `n` instances are idle, each polling for its next event.
async fn all_polling(api: &RuntimeApi, n: usize) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while api.polling() < n {
        if Instant::now() > deadline {
            return Err(format!("only {} of {n} order-webhook instances poll for events", api.polling()));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// One burst of `n` deliveries of one new order over `n` warm instances.
async fn burst(w: &World, api: &Arc<RuntimeApi>, n: usize, run: usize) -> Result<BurstRun, String> {
    let order_id = format!("burst-{run}-{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
    let base = chrono::Utc::now() - chrono::Duration::minutes(10);
    let statuses = [("unpaid", "pending"), ("paid", "pending"), ("paid", "shipped"), ("paid", "received"), ("unpaid", "pending")];
    let events: Vec<String> = (0..n)
        .map(|i| {
            let (payment, delivery) = statuses[i % statuses.len()];
            let occurred = base + chrono::Duration::seconds(((i * 17) % 50) as i64);
            w.order_webhook(Front::HttpApi, &format!("{order_id}-ev-{i}"), occurred, &sample_order(&order_id, payment, delivery))
        })
        .collect();
    all_polling(api, n).await?;
    w.proxy.take();
    let started = Instant::now();
    let results = all_at_once(api, events, Duration::from_secs(300)).await?;
    let wall = started.elapsed();
    let calls = w.proxy.take();
    let mut latencies = Vec::new();
    let mut answers = BTreeMap::new();
    for (latency, outcome) in results {
        let (status, body) = status_of(&outcome)?;
        if status != 200 && status != 202 {
            return Err(format!("a delivery answered {status}: {body}"));
        }
        *answers.entry(status).or_insert(0) += 1;
        latencies.push(ms(latency));
    }
    latencies.sort_by(f64::total_cmp);
    // The merge of all n: paid, received (the furthest statuses), one claim.
    let item = w.order_item(&w.merchant, &order_id).await?;
    let state = &item["state"]["M"]["order"]["M"];
    let got = (state["payment_status"]["S"].as_str(), state["delivery_status"]["S"].as_str(), item["invoice_status"]["S"].as_str());
    if got != (Some("paid"), Some("received"), Some("issuing")) {
        return Err(format!("burst {run}: the order ended as {got:?}: {item}"));
    }
    let (table, _) = capacity::table_sizes(&w.moto_url, &w.stack.config.table_name).await?;
    let u = capacity::units(&calls, &table);
    Ok(BurstRun {
        deliveries: n,
        wall_ms: ms(wall),
        p50_ms: percentile(&latencies, 50.0),
        p99_ms: percentile(&latencies, 99.0),
        max_ms: *latencies.last().unwrap_or(&0.0),
        answers,
        calls: count(&calls),
        wru: u.wru,
        rru: u.rru,
    })
}

#[derive(Debug, Clone, Serialize)]
struct LargeStep {
    step: &'static str,
    latency_ms: f64,
    calls: BTreeMap<String, usize>,
    rru: f64,
    wru: f64,
}

/// Delivers the largest order at `delivery` as event `{id}-{suffix}`; order-webhook must
/// answer with the invoice at `status`.
async fn deliver_largest(
    w: &World,
    api: &RuntimeApi,
    id: &str,
    suffix: &str,
    at: chrono::DateTime<chrono::Utc>,
    delivery: &str,
    status: &str,
) -> Result<Duration, String> {
    let (d, o) = api.invoke(w.order_webhook(Front::HttpApi, &format!("{id}-{suffix}"), at, &largest_order(w, id, delivery).0)).await?;
    webhook_answer(&o, status).map_err(|e| format!("large webhook {}: {e}", suffix.replace('-', " ")))?;
    Ok(d)
}

/// The largest accepted order through its life, warm processes.
async fn largest(w: &World, launcher: &Launcher) -> Result<Value, String> {
    let (ow_api, _ow) = launcher.start_with_api(w, "order-webhook", "large-order-webhook.log").await?;
    let (ii_api, _ii) = launcher.start_with_api(w, "invoice-issuer", "large-invoice-issuer.log").await?;
    // Warm both on a small order first (connections, the settings read), outside the figures.
    let warm = format!("warm-{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
    let (_, o) =
        ow_api.invoke(w.order_webhook(Front::HttpApi, &format!("{warm}-shipped"), chrono::Utc::now(), &sample_order(&warm, "paid", "shipped"))).await?;
    webhook_answer(&o, "issuing").map_err(|e| format!("warm-up webhook: {e}"))?;
    let (_, o) = ii_api.invoke(w.claim_record(&w.merchant, &warm).await?).await?;
    check(Scenario::InvoiceIssuer, &o).map_err(|e| format!("warm-up issuer: {e}"))?;
    w.proxy.take();

    let id = format!("largest-{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
    let (_, lines, body_bytes) = largest_order(w, &id, "pending");
    let base = chrono::Utc::now() - chrono::Duration::seconds(60);
    let at = |secs: i64| base + chrono::Duration::seconds(secs);
    let mut steps = Vec::new();
    let mut record = |step: &'static str, d: Duration| steps.push((step, d, w.proxy.take()));
    record("webhook paid (new order)", deliver_largest(w, &ow_api, &id, "paid", at(0), "pending", "waiting").await?);
    record("webhook shipped (claim)", deliver_largest(w, &ow_api, &id, "shipped", at(1), "shipped", "issuing").await?);
    let (d, o) = ii_api.invoke_within(w.claim_record(&w.merchant, &id).await?, Duration::from_secs(300)).await?;
    let answer = check(Scenario::InvoiceIssuer, &o).map_err(|e| format!("large invoice-issuer: {e}"))?;
    eprintln!("largest order: invoice-issuer answered {answer}");
    record("claim stream record to invoice-issuer", d);
    record("webhook received (status only)", deliver_largest(w, &ow_api, &id, "received", at(2), "received", "uploaded").await?);
    record("webhook received again, new event_id (changes nothing)", deliver_largest(w, &ow_api, &id, "received-again", at(2), "received", "uploaded").await?);
    let path = format!("/v1/merchants/{}/orders/{id}/invoice", w.merchant);
    let (d, o) = ow_api.invoke(w.signed_http(Front::HttpApi, "GET", "/v1/merchants/{merchant_id}/orders/{order_id}/invoice", &path, "")).await?;
    let (status, view) = status_of(&o)?;
    if status != 200 || view["lines"].as_array().map(Vec::len) != Some(lines) {
        return Err(format!("invoice view of the largest order: {status}, {} lines", view["lines"].as_array().map_or(0, Vec::len)));
    }
    record("invoice view", d);

    let (table, entities) = capacity::table_sizes(&w.moto_url, &w.stack.config.table_name).await?;
    let out: Vec<LargeStep> = steps
        .iter()
        .map(|(step, d, calls)| {
            let u = capacity::units(calls, &table);
            LargeStep { step, latency_ms: ms(*d), calls: count(calls), rru: u.rru, wru: u.wru }
        })
        .collect();
    println!("\n| largest accepted order: {lines} lines, webhook body {body_bytes} B (limit {BODY_LIMIT}) | latency (ms) | AWS calls | RRU | WRU |");
    println!("|---|---:|---|---:|---:|");
    for s in &out {
        println!("| {} | {:.1} | {} | {} | {} |", s.step, s.latency_ms, calls_text(&s.calls), s.rru, s.wru);
    }
    capacity::print_entities(&entities);
    Ok(json!({"lines": lines, "body_bytes": body_bytes, "steps": out, "entities": entities}))
}

/// Both measurements; the JSON for `--json`.
pub async fn run(w: &World, launcher: &Launcher, concurrency: usize, runs: usize) -> Result<Value, String> {
    // N instances of order-webhook on one Runtime API: each takes one delivery at a time.
    let api = Arc::new(RuntimeApi::start().await);
    let mut instances = Vec::new();
    for i in 0..concurrency {
        instances.push(launcher.spawn(w, &api, "order-webhook", &format!("burst-order-webhook-{i}.log"), &[])?);
    }
    all_polling(&api, concurrency).await?;
    // Warm the instances (a first call opens connections): two rounds of one small new order each.
    for round in 0..2 {
        let warm: Vec<String> = (0..concurrency)
            .map(|i| {
                let id = format!("warm-{round}-{i}-{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
                w.order_webhook(Front::HttpApi, &format!("{id}-paid"), chrono::Utc::now(), &sample_order(&id, "unpaid", "pending"))
            })
            .collect();
        all_polling(&api, concurrency).await?;
        all_at_once(&api, warm, Duration::from_secs(120)).await?;
    }
    let mut bursts = Vec::new();
    for run in 0..runs {
        let b = burst(w, &api, concurrency, run).await?;
        eprintln!("burst {run}: p50 {:.0} ms, p99 {:.0} ms, wall {:.0} ms, {} WRU", b.p50_ms, b.p99_ms, b.wall_ms, b.wru);
        bursts.push(b);
    }
    drop(instances);
    println!(
        "\n| {concurrency} concurrent deliveries of one order (distinct event_ids, mixed statuses) | p50 (ms) | p99 (ms) | wall (ms) | answers | DynamoDB calls | WRU | WRU per delivery |"
    );
    println!("|---|---:|---:|---:|---|---|---:|---:|");
    for (i, b) in bursts.iter().enumerate() {
        let answers = b.answers.iter().map(|(s, n)| format!("{n}× {s}")).collect::<Vec<_>>().join(", ");
        println!(
            "| run {} | {:.0} | {:.0} | {:.0} | {answers} | {} | {} | {:.2} |",
            i + 1,
            b.p50_ms,
            b.p99_ms,
            b.wall_ms,
            calls_text(&b.calls),
            b.wru,
            b.wru / b.deliveries as f64
        );
    }
    println!(
        "| **median of {runs}** | {:.0} | {:.0} | {:.0} | | | {} | |",
        median(bursts.iter().map(|b| b.p50_ms).collect()),
        median(bursts.iter().map(|b| b.p99_ms).collect()),
        median(bursts.iter().map(|b| b.wall_ms).collect()),
        median(bursts.iter().map(|b| b.wru).collect())
    );
    let large = largest(w, launcher).await?;
    Ok(json!({"concurrency": concurrency, "bursts": bursts, "largest_order": large}))
}
