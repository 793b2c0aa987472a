//! `./infra/soak`: a platform's worst day against a running local stack. Merchants each ship
//! orders whose paid / shipped / received webhooks are delivered three times with the same
//! `event_id` plus one extra delivery, shuffled, from concurrent clients; halfway Wixtar
//! starts failing and crash points are armed. Then the reconciler is fired at its backoff
//! points until nothing is due, and the outcome is counted from what Wixtar received:
//! deliveries, 5xx, orders, uploaded, duplicates, lost. Then it times each filtered `/_local/*`
//! read (also once before the first delivery, on the fresh stack) and each schedule fire, the
//! renewal charge also from several clients at once. Prints figures; exits 1 when an order was
//! lost or invoiced twice, or (with a goal, `./infra/soak-day`) a timed answer took longer.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use serde_json::{Value, json};

use crate::client::ContractClient;

#[derive(Debug, Clone)]
pub struct SoakConfig {
    pub base_url: String,
    pub wixtar_url: String,
    pub merchants: usize,
    pub orders_per_merchant: usize,
    pub clients: usize,
    pub wixtar_errors: u32,
    pub crashes_per_point: u32,
    /// Merchants with a paid plan and nothing else, so the table holds as many as the suites
    /// leave (the renewal jobs read plans by expiry day among them).
    pub idle_merchants: usize,
    /// The longest a timed `/_local/*` read or schedule fire may take at the end (None: printed,
    /// not judged).
    pub goal: Option<Duration>,
}

struct Delivery {
    merchant: String,
    event_id: String,
    order: Value,
}

/// Reconciler runs at most after the deliveries: a day of 5-minute steps.
const RECONCILER_RUNS_MAX: usize = 24 * 12;

/// Valid UBNs (統一編號), one per merchant.
fn ubns(n: usize) -> Vec<String> {
    (4_595_257u32..).map(|n| format!("{n:08}")).filter(|u| einvoice_domain::Ubn::parse(u).is_ok()).take(n).collect()
}

fn order(id: &str, payment: &str, delivery: &str) -> Value {
    json!({
        "id": id, "currency": "TWD", "payment_status": payment, "delivery_status": delivery, "cancelled": false, "logistics": "tcat",
        "lines": [{"sku": "TEA-01", "name": "凍頂烏龍茶 150g", "quantity": 2, "unit_price": 500}],
        "shipping_fee": 100, "discount": 50, "total": 1050, "buyer": {"name": "陳小華", "email": "hua@example.com"}
    })
}

/// The merchant's contact, who its plan mails go to.
const CONTACT: &str = "ming@example.com.tw";

/// A paid 12-month plan (no invoice settings yet).
async fn buy_plan(c: &ContractClient, merchant: &str, ubn: &str) -> Result<(), String> {
    let base = format!("/v1/merchants/{merchant}");
    let checkout = json!({
        "ubn": ubn, "months": 12, "payment_method": "atm", "auto_renew": false,
        "contact": {"name": "王小明", "email": CONTACT, "phone": "0912-345-678"},
        "company": {"name": "小明商行有限公司", "ubn": ubn, "address": "台北市中山區南京東路一段1號", "invoice_email": "ap@example.com.tw"}
    });
    let order = c.post(&format!("{base}/plan/checkout"), &checkout).await;
    let id = order.body["order_id"].as_str().ok_or(format!("checkout: {} {}", order.status, order.body))?;
    let paid_at = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let paid = c.notify(&json!({"order_id": id, "status": "paid", "paid_at": paid_at})).await;
    if paid.status != 200 {
        return Err(format!("payment: {} {}", paid.status, paid.body));
    }
    Ok(())
}

async fn setup_merchant(c: &ContractClient, merchant: &str, ubn: &str) -> Result<(), String> {
    buy_plan(c, merchant, ubn).await?;
    let base = format!("/v1/merchants/{merchant}");
    let settings = json!({
        "enabled": true, "provider": "wixtar", "show_at_checkout": true, "issue_on": ["shipment"],
        "credentials": {"ubn": ubn, "store_code": "S001", "pos_code": "POS-01", "pid": "PID-000123", "rid": "soak-rid-0001", "pname": "soak POS",
                        "aes_key": "9a8b7c6d5e4f30211203f4e5d6c7b8a9"}
    });
    let saved = c.platform(reqwest::Method::PUT, &format!("{base}/invoice-settings"), Some(&settings), None).await;
    if saved.status != 200 {
        return Err(format!("settings: {} {}", saved.status, saved.body));
    }
    Ok(())
}

/// Runs the soak; returns the process exit code (1 when something was lost or duplicated).
pub async fn run(config: SoakConfig) -> i32 {
    match soak(config).await {
        Ok(clean) => i32::from(!clean),
        Err(e) => {
            eprintln!("soak failed: {e}");
            2
        }
    }
}

async fn soak(config: SoakConfig) -> Result<bool, String> {
    let c = ContractClient::local(&config.base_url);
    let run_id = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let merchants: Vec<String> = (0..config.merchants).map(|i| format!("soak-{run_id}-{i}")).collect();
    let ubns = ubns(config.merchants + config.idle_merchants);
    for (merchant, ubn) in merchants.iter().zip(&ubns) {
        setup_merchant(&c, merchant, ubn).await?;
    }
    if config.idle_merchants > 0 {
        let started = Instant::now();
        for (i, ubn) in ubns[config.merchants..].iter().enumerate() {
            buy_plan(&c, &format!("soak-{run_id}-idle-{i}"), ubn).await?;
        }
        println!("soak: {} more merchants with a paid plan in {:.1} s", config.idle_merchants, started.elapsed().as_secs_f64());
    }
    let fresh = time_reads(&c, &merchants[0]).await;
    let mut deliveries = Vec::new();
    let mut orders = Vec::new();
    for merchant in &merchants {
        for n in 0..config.orders_per_merchant {
            let id = format!("{merchant}-o{n:04}");
            let events = [("paid", order(&id, "paid", "pending")), ("shipped", order(&id, "paid", "shipped")), ("received", order(&id, "paid", "received"))];
            for (name, body) in &events {
                for _ in 0..3 {
                    deliveries.push(Delivery { merchant: merchant.clone(), event_id: format!("{id}-{name}"), order: body.clone() });
                }
            }
            let (name, body) = &events[rand::random_range(0..events.len())];
            deliveries.push(Delivery { merchant: merchant.clone(), event_id: format!("{id}-{name}"), order: body.clone() });
            orders.push((merchant.clone(), id));
        }
    }
    deliveries.shuffle(&mut rand::rng());
    let total = deliveries.len();
    println!("soak: {} merchants × {} orders, {total} deliveries from {} clients", config.merchants, config.orders_per_merchant, config.clients);

    let queue = Arc::new(tokio::sync::Mutex::new(deliveries));
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..config.clients {
        let (queue, sent, c, cfg) = (queue.clone(), sent.clone(), c.clone(), config.clone());
        clients.spawn(async move {
            let mut answers: Vec<(u16, Duration)> = Vec::new();
            loop {
                let Some(d) = queue.lock().await.pop() else { break };
                // Halfway: Wixtar fails for a while and every crash point fires.
                if sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == total / 2 {
                    c.admin_post(&format!("{}/_sim/faults", cfg.wixtar_url), &json!({"mode": "error", "count": cfg.wixtar_errors})).await;
                    for point in einvoice_adapters::crash::ALL {
                        c.admin_post(&format!("{}/_local/crashes", cfg.base_url), &json!({"point": point.name, "count": cfg.crashes_per_point})).await;
                    }
                }
                let body = json!({"event_id": d.event_id, "occurred_at": chrono::Utc::now().to_rfc3339(), "merchant_id": d.merchant, "order": d.order});
                let t = Instant::now();
                let r = c.post("/v1/webhooks/orders", &body).await;
                answers.push((r.status, t.elapsed()));
            }
            answers
        });
    }
    let mut answers = Vec::new();
    while let Some(done) = clients.join_next().await {
        answers.extend(done.map_err(|e| e.to_string())?);
    }
    let sending = started.elapsed();

    // The reconciler every 5 minutes of its clock (it is due work's clock, not the wall's, that
    // moves) until a run finds nothing due and no earlier run left work retrying: work that
    // backs off (doubling from 1 minute, capped at 30) is not due at the next step but is not
    // done either. At most a day of runs.
    let mut runs = Vec::new();
    let mut at = chrono::Utc::now();
    let mut retrying = false;
    for _ in 0..RECONCILER_RUNS_MAX {
        at += chrono::Duration::minutes(5);
        let r = c
            .raw(
                reqwest::Method::POST,
                "/_local/schedules/invoice-reconciler",
                json!({"time": at}).to_string().into_bytes(),
                &[("content-type", "application/json".into())],
            )
            .await;
        let idle = r.status == 200 && r.body["due"] == 0;
        if r.status == 200 && !idle {
            retrying = r.body["retrying"].as_u64().unwrap_or(0) > 0;
        }
        runs.push(r.body);
        if idle && !retrying {
            break;
        }
    }

    // The outcome, from what Wixtar received and what the contract shows.
    let uploads = c.admin_get(&format!("{}/_sim/invoices", config.wixtar_url)).await;
    let uploads = uploads.as_array().cloned().unwrap_or_default();
    let mut per_order: HashMap<String, usize> = HashMap::new();
    let mut per_number: HashMap<(String, String), usize> = HashMap::new();
    for u in &uploads {
        *per_order.entry(u["order_id"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
        *per_number.entry((u["seller_ubn"].as_str().unwrap_or_default().to_owned(), u["number"].as_str().unwrap_or_default().to_owned())).or_default() += 1;
    }
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    let mut uploaded = 0;
    let mut lost = Vec::new();
    for (merchant, id) in &orders {
        let view = c.get(&format!("/v1/merchants/{merchant}/orders/{id}/invoice")).await;
        let status = view.body["status"].as_str().unwrap_or("?").to_owned();
        if status == "uploaded" && per_order.get(id) == Some(&1) {
            uploaded += 1;
        } else {
            lost.push(format!("{id}: {status}, {} at Wixtar", per_order.get(id).unwrap_or(&0)));
        }
        *statuses.entry(status).or_default() += 1;
    }
    let duplicate_invoices = per_order.values().filter(|n| **n > 1).count();
    let duplicate_numbers = per_number.values().filter(|n| **n > 1).count();
    let ours: HashSet<&str> = orders.iter().map(|(_, id)| id.as_str()).collect();
    let server_errors = answers.iter().filter(|(s, _)| *s >= 500).count();
    let mut latencies: Vec<Duration> = answers.iter().map(|(_, d)| *d).collect();
    latencies.sort();
    let pct = |p: f64| latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1))).copied().unwrap_or_default();
    let dead = c.admin_get(&format!("{}/_local/dead-letters", config.base_url)).await;
    let stream = c.admin_get(&format!("{}/_local/stream", config.base_url)).await;

    println!("deliveries         {total}");
    println!(
        "5xx                {server_errors} (a delivery whose Lambda crashed after its write answers 502; the claim is committed and the event's other deliveries are answered from it)"
    );
    println!("orders             {}", orders.len());
    println!("uploaded           {uploaded}");
    println!(
        "duplicates         {} (orders with two invoices at Wixtar: {duplicate_invoices}, numbers used twice: {duplicate_numbers})",
        duplicate_invoices + duplicate_numbers
    );
    println!("lost               {}", lost.len());
    println!("statuses           {statuses:?}");
    println!(
        "sending            {:.1} s, {:.0} deliveries/s; latency p50 {} ms, p99 {} ms, max {} ms, over 10 s: {}",
        sending.as_secs_f64(),
        total as f64 / sending.as_secs_f64(),
        pct(0.5).as_millis(),
        pct(0.99).as_millis(),
        latencies.last().copied().unwrap_or_default().as_millis(),
        latencies.iter().filter(|d| **d > Duration::from_secs(10)).count()
    );
    let busy: Vec<String> = runs.iter().filter(|r| r["due"] != 0).map(|r| r.to_string()).collect();
    println!("reconciler runs    {} ({} found nothing due): {}", runs.len(), runs.len() - busy.len(), busy.join(" "));
    println!("stream             {stream}");
    println!("dead letters       {}", dead.as_array().map_or(0, Vec::len));
    println!("uploads at Wixtar  {} (for these orders: {})", uploads.len(), per_order.keys().filter(|o| ours.contains(o.as_str())).count());
    for l in lost.iter().take(10) {
        println!("  lost: {l}");
    }

    // The stack after the run: each read as on the fresh stack, and each schedule.
    let end = time_reads(&c, &merchants[0]).await;
    let fires = time_fires(&c, at + chrono::Duration::minutes(5)).await;
    println!(
        "timed answers      (fresh = before the first delivery; goal: {})",
        config.goal.map_or("none".into(), |g| format!("each under {} ms", g.as_millis()))
    );
    println!("  {:<84} {:>9} {:>9} {:>10}", "request", "fresh ms", "end ms", "end bytes");
    for (before, after) in fresh.iter().zip(&end) {
        println!("  {:<84} {:>9} {:>9} {:>10}", after.what, before.took.as_millis(), after.took.as_millis(), after.bytes);
    }
    for fire in &fires {
        println!("  {:<84} {:>9} {:>9} {:>10}", fire.what, "", fire.took.as_millis(), fire.bytes);
    }
    let failed: Vec<&Timed> = end.iter().chain(&fires).filter(|t| t.status != 200).collect();
    let slow: Vec<&Timed> = end.iter().chain(&fires).filter(|t| t.judged && config.goal.is_some_and(|g| t.took > g)).collect();
    for t in &failed {
        println!("  not 200: {} answered {}", t.what, t.status);
    }
    for t in &slow {
        println!("  over the goal: {} took {} ms", t.what, t.took.as_millis());
    }
    Ok(lost.is_empty() && duplicate_invoices + duplicate_numbers == 0 && failed.is_empty() && slow.is_empty())
}

/// One timed answer.
struct Timed {
    what: String,
    status: u16,
    bytes: usize,
    took: Duration,
    /// Held to the goal (a filtered read, a schedule fire); the whole lists are shown only.
    judged: bool,
}

async fn timed(c: &ContractClient, method: reqwest::Method, path: &str, body: Option<Value>, judged: bool) -> Timed {
    let headers = [("content-type", "application/json".to_owned())];
    let started = Instant::now();
    let r = c.raw(method.clone(), path, body.map(|b| b.to_string().into_bytes()).unwrap_or_default(), &headers).await;
    Timed { what: format!("{method} {path}"), status: r.status, bytes: r.text.len(), took: started.elapsed(), judged }
}

/// Each `/_local/*` read: with the filters a test or a developer uses, and whole.
async fn time_reads(c: &ContractClient, merchant: &str) -> Vec<Timed> {
    let mut out = Vec::new();
    for (path, judged) in [
        (format!("/_local/mail?to={CONTACT}"), true),
        (format!("/_local/mail?merchant_id={merchant}"), true),
        (format!("/_local/mail?to={CONTACT}&limit=1"), true),
        (format!("/_local/events?merchant_id={merchant}&limit=100"), true),
        ("/_local/events?detail_type=MerchantNotification".to_owned(), true),
        (format!("/_local/events?merchant_id={merchant}&detail_type=MerchantNotification"), true),
        (format!("/_local/dead-letters?merchant_id={merchant}"), true),
        ("/_local/dead-letters?limit=10".to_owned(), true),
        ("/_local/stream".to_owned(), true),
        ("/_local/crashes".to_owned(), true),
        ("/_local/mail".to_owned(), false),
        ("/_local/events".to_owned(), false),
        ("/_local/dead-letters".to_owned(), false),
    ] {
        out.push(timed(c, reqwest::Method::GET, &path, None, judged).await);
    }
    out
}

/// Each schedule once at `at`, then the renewal charge from four clients at once (overlapping
/// runs: each answer timed).
async fn time_fires(c: &ContractClient, at: chrono::DateTime<chrono::Utc>) -> Vec<Timed> {
    let body = || Some(json!({"time": at}));
    let mut out = Vec::new();
    for name in ["renewal-cutoff", "renewal-charge", "period-close", "invoice-reconciler"] {
        out.push(timed(c, reqwest::Method::POST, &format!("/_local/schedules/{name}"), body(), true).await);
    }
    let mut overlapping = tokio::task::JoinSet::new();
    for client in 1..=4 {
        let (c, body) = (c.clone(), body());
        overlapping.spawn(async move { (client, timed(&c, reqwest::Method::POST, "/_local/schedules/renewal-charge", body, true).await) });
    }
    let mut runs = overlapping.join_all().await;
    runs.sort_by_key(|(client, _)| *client);
    for (client, mut t) in runs {
        t.what = format!("{} (client {client} of 4 at once)", t.what);
        out.push(t);
    }
    out
}
