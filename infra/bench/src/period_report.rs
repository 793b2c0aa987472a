//! `period-report`: what the period report (期別報表) costs for one merchant's period of many
//! invoices, against moto (docs/benchmarks.md §9).
//!
//! `period-report [--invoices 10000] [--noise 2000] [--runs 3] [--root <checkout>]`
//!
//! Starts its own moto and a local stack (table from template.yaml, the `by-period` index
//! included), seeds `--invoices` invoices of one merchant in period 11512 as `record_invoice`
//! writes them (`BatchWriteItem`, 25 a call; 1 in 10 B2B, 1 in 50 void, 1 in 20 with an
//! accepted allowance) and `--noise` each of another merchant in 11512 and of the same merchant
//! in 11510, then measures `--runs` times: the store's paged read (`period_invoices`, 1,000 a
//! page: pages, index items read, read request units, time), and the report over HTTP through
//! the local stack as JSON and as CSV (time, size). It also prints what the same pages would
//! cost as whole invoice items, and what a Scan of the seeded table would read.

#[path = "moto.rs"]
mod moto;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use chrono::{DateTime, Utc};
use einvoice_adapters::orders::{
    AllowanceItem, AllowanceStatus, InvoiceItem, PeriodCursor, UploadState, UploadStatus, item_size, order_keys, query_read_units,
};
use einvoice_adapters::store::{PeriodInvoices, Store, stored_invoice};
use einvoice_domain::InvoiceLine;
use einvoice_domain::settings::IssueTrigger;
use einvoice_domain::tax::TaxKind;
use local_stack::client::ContractClient;
use local_stack::{LocalConfig, LocalStack};
use serde_json::json;

const PERIOD: &str = "11512";
const PAGE: usize = 1000;

struct Args {
    invoices: usize,
    noise: usize,
    runs: usize,
    root: PathBuf,
}

fn args() -> Args {
    let mut a = Args { invoices: 10_000, noise: 2_000, runs: 3, root: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..") };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--invoices" => a.invoices = val().parse().expect("--invoices N"),
            "--noise" => a.noise = val().parse().expect("--noise N"),
            "--runs" => a.runs = val().parse().expect("--runs N"),
            "--root" => a.root = val().into(),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

fn main() {
    let a = args();
    let log = std::env::temp_dir().join(format!("period-report-moto-{}.log", std::process::id()));
    let moto = moto::Moto::start(&a.root, &log);
    // SAFETY: no other thread exists yet.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL", &moto.url);
        std::env::set_var("AWS_REGION", "ap-northeast-1");
        std::env::set_var("AWS_ACCESS_KEY_ID", "bench");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "bench");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio");
    let code = rt.block_on(run(&a));
    drop(rt);
    drop(moto);
    std::process::exit(code);
}

/// Invoice `i` of `merchant` in `period`: a three-line order of 1,050 with its proof codes, as
/// the issuer records it.
fn invoice(merchant: &str, period: &str, i: usize, at: DateTime<Utc>) -> InvoiceItem {
    let order_id = format!("order-{period}-{i:06}");
    let number = format!("{}{:08}", if period == PERIOD { "UA" } else { "TB" }, i);
    let b2b = i % 10 == 0;
    let line = |description: &str, quantity: u32, unit_price: i64| InvoiceLine {
        description: description.into(),
        quantity,
        unit_price,
        amount: i64::from(quantity) * unit_price,
        tax_type: TaxKind::Taxable,
    };
    let allowances = if i % 20 == 3 {
        let tax = if b2b { 14 } else { 0 };
        vec![AllowanceItem {
            number: format!("{number}-1"),
            amount: 300,
            zero_tax_amount: 0,
            free_tax_amount: 0,
            sales_amount: 300 - tax,
            tax_amount: tax,
            issued_at: at,
            status: AllowanceStatus::Uploaded,
        }]
    } else {
        Vec::new()
    };
    InvoiceItem {
        pk: order_keys::order(merchant, &order_id),
        sk: order_keys::INVOICE.into(),
        entity: "invoice".into(),
        merchant_id: merchant.into(),
        order_id,
        number: number.clone(),
        random_code: format!("{:04}", i % 10_000),
        period: period.into(),
        issued_at: at,
        trigger: IssueTrigger::Shipment,
        seller_ubn: "04595257".into(),
        buyer_identifier: if b2b { "22099131".into() } else { "0000000000".into() },
        buyer_name: if b2b { "台灣積體電路".into() } else { "陳小華".into() },
        carrier_type: (!b2b).then(|| "3J0002".into()),
        carrier_id: (!b2b).then(|| "/AB+.-12".into()),
        love_code: None,
        print: b2b,
        tax_type: 1,
        sales_amount: if b2b { 1000 } else { 1050 },
        tax_amount: if b2b { 50 } else { 0 },
        total: 1050,
        zero_tax_sales_amount: 0,
        free_tax_sales_amount: 0,
        zero_rating: None,
        lines: vec![line("凍頂烏龍茶 150g", 2, 500), line("運費", 1, 100), line("折扣", 1, -50)],
        barcode: format!("{period}{number}0122"),
        qr_left: format!(
            "{number}1151205012200000000000041a{}04595257dGhlIHZlcmlmaWNhdGlvbiBibG9jaw==:**********:3:3:1:凍頂烏龍茶 150g:2:500:",
            if b2b { "22099131" } else { "00000000" }
        ),
        qr_right: "**運費:1:100:折扣:1:-50".into(),
        upload: UploadState { status: UploadStatus::Uploaded, attempts: 1, last_error: None, uploaded_at: Some(at), deadline: at + chrono::Duration::days(2) },
        allowances,
        voided_at: (i % 50 == 7).then_some(at),
        prize: None,
    }
}

/// Writes the items, 25 a `BatchWriteItem`, until DynamoDB has taken every one.
async fn seed(client: &aws_sdk_dynamodb::Client, table: &str, items: Vec<HashMap<String, AttributeValue>>) -> Result<(), String> {
    for chunk in items.chunks(25) {
        let mut requests: Vec<WriteRequest> = chunk
            .iter()
            .map(|item| WriteRequest::builder().put_request(PutRequest::builder().set_item(Some(item.clone())).build().expect("item set")).build())
            .collect();
        while !requests.is_empty() {
            let out = client.batch_write_item().request_items(table, requests).send().await.map_err(|e| format!("BatchWriteItem: {e:?}"))?;
            requests = out.unprocessed_items().and_then(|u| u.get(table)).cloned().unwrap_or_default();
        }
    }
    Ok(())
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

async fn run(a: &Args) -> i32 {
    let stack = match LocalStack::start(LocalConfig { consume_stream: false, ..LocalConfig::isolated() }).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("local stack: {e}");
            return 1;
        }
    };
    let store: Store = stack.store();
    let client = aws_sdk_dynamodb::Client::new(&einvoice_adapters::aws::sdk_config().await);
    let table = stack.config.table_name.clone();
    let (merchant, other) = ("bench-report", "bench-other");
    let at = DateTime::parse_from_rfc3339("2026-12-05T10:00:00+08:00").expect("time").to_utc();
    let ours: Vec<InvoiceItem> = (0..a.invoices).map(|i| invoice(merchant, PERIOD, i, at)).collect();
    let noise: Vec<InvoiceItem> = (0..a.noise).map(|i| invoice(other, PERIOD, i, at)).chain((0..a.noise).map(|i| invoice(merchant, "11510", i, at))).collect();
    let started = Instant::now();
    let items: Vec<_> = ours.iter().chain(&noise).map(stored_invoice).collect();
    let table_bytes: usize = items.iter().map(item_size).sum();
    if let Err(e) = seed(&client, &table, items).await {
        eprintln!("seeding: {e}");
        return 1;
    }
    eprintln!("seeded {} invoices of {merchant} in {PERIOD}, {} others, in {}", ours.len(), noise.len(), ms(started.elapsed()));

    // What the same pages would read as whole invoice items, and a Scan of the table.
    let full_units: f64 = ours.chunks(PAGE).map(|page| query_read_units(page.iter().map(|i| item_size(&stored_invoice(i))).sum())).sum();
    let scan_units = query_read_units(table_bytes);

    let (mut store_times, mut json_times, mut csv_times) = (Vec::new(), Vec::new(), Vec::new());
    let (mut pages, mut items_read, mut read_units) = (0, 0, 0.0);
    let c = ContractClient::local(stack.url());
    let path = format!("/v1/merchants/{merchant}/periods/{PERIOD}/report");
    let (mut report, mut csv_bytes, mut csv_lines) = (serde_json::Value::Null, 0, 0);
    for _ in 0..a.runs {
        let t = Instant::now();
        let (mut after, mut n, mut read, mut units, mut seen): (Option<PeriodCursor>, usize, u64, f64, usize) = (None, 0, 0, 0.0, 0);
        loop {
            let page = match store.period_invoices(merchant, PERIOD, after.as_ref(), PAGE).await {
                Ok(p) => p,
                Err(e) => {
                    eprintln!("period_invoices: {e}");
                    return 1;
                }
            };
            (n, read, units, seen) = (n + 1, read + page.items_read, units + page.read_units, seen + page.invoices.len());
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        store_times.push(t.elapsed());
        (pages, items_read, read_units) = (n, read, units);
        if seen != a.invoices {
            eprintln!("read {seen} invoices, seeded {}", a.invoices);
            return 1;
        }
        let t = Instant::now();
        let r = c.get(&path).await;
        json_times.push(t.elapsed());
        if r.status != 200 {
            eprintln!("report: {} {}", r.status, r.text);
            return 1;
        }
        report = r.body;
        let t = Instant::now();
        let r = c.get(&format!("{path}?format=csv")).await;
        csv_times.push(t.elapsed());
        if r.status != 200 {
            eprintln!("CSV report: {} {}", r.status, r.text);
            return 1;
        }
        (csv_bytes, csv_lines) = (r.text.len(), r.text.lines().count());
    }
    let issued = report["counts"]["issued"].as_u64().unwrap_or(0);
    if issued != a.invoices as u64 {
        eprintln!("the report counts {issued} invoices, seeded {}", a.invoices);
        return 1;
    }
    println!("## Period report: {} invoices of one merchant in one period, moto ({} runs, medians)\n", a.invoices, a.runs);
    println!("| what | figure |\n|---|---|");
    println!(
        "| table | {} invoices ({} of this merchant's period, {} of another merchant's same period, {} of this merchant's period before) |",
        ours.len() + noise.len(),
        ours.len(),
        a.noise,
        a.noise
    );
    println!("| `by-period` queries (pages of {PAGE}) | {pages} |");
    println!("| index items read | {items_read} |");
    println!("| read request units (index, eventually consistent) | {read_units} |");
    println!("| the same pages as whole invoice items | {full_units} RRU |");
    println!("| a Scan of this table instead (lower bound) | {scan_units} RRU |");
    println!("| store read, all pages | {} |", ms(median(store_times)));
    println!("| `GET …/report` (JSON) through the local stack | {} |", ms(median(json_times)));
    println!("| `GET …/report?format=csv` | {} ({} bytes, {} lines) |", ms(median(csv_times)), csv_bytes, csv_lines);
    println!(
        "\n{}",
        json!({"invoices": a.invoices, "pages": pages, "items_read": items_read, "read_units": read_units, "full_item_units": full_units, "scan_units": scan_units,
               "counts": report["counts"], "totals": report["totals"], "allowances": report["allowances"]})
    );
    0
}
