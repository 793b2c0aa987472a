//! The period report (期別報表) for the 401/403 VAT return through the local stack: a period with
//! a B2C, a B2B, a voided invoice and a B2B allowance adds up to the invoice views and to what
//! the Wixtar simulator received; the CSV reads back with a standard reader; malformed periods
//! are refused; another merchant's invoices never appear.

use e2e_tests::{Harness, order, start};
use einvoice_adapters::store::NumberLedger;
use einvoice_adapters::wixtar::UnusedSpan;
use serde_json::{Value, json};

const PERIOD: &str = "11512";
const ITEM: &str = "凍頂烏龍茶, 150g 禮盒";

async fn event(h: &Harness, m: &str, event_id: &str, order: &Value, at: &str) {
    let body = json!({"event_id": event_id, "occurred_at": at, "merchant_id": m, "order": order});
    let r = h.c.post("/v1/webhooks/orders", &body).await;
    assert!(r.status == 200 || r.status == 202, "{:?}", r.body);
}

/// An order of one line named [`ITEM`] (total 1050), to `buyer` if given.
fn shop_order(id: &str, delivery: &str, buyer: Option<Value>) -> Value {
    let mut o = order(id, "paid", delivery, "tcat");
    o["lines"][0]["name"] = json!(ITEM);
    if let Some(b) = buyer {
        o["buyer"] = b;
    }
    o
}

fn b2b_buyer() -> Value {
    json!({"name": "王經理", "email": "wang@example.com", "ubn": "22099131", "company_name": "台灣積體電路"})
}

async fn report(h: &Harness, m: &str, query: &str) -> e2e_tests::Reply {
    h.c.get(&format!("/v1/merchants/{m}/periods/{PERIOD}/report{query}")).await
}

/// The sum of `field` over `items` (absent: 0).
fn sum(items: &[Value], field: &str) -> u64 {
    items.iter().map(|i| i[field].as_u64().unwrap_or(0)).sum()
}

/// Reads a CSV answer: BOM, header, rows.
fn csv_rows(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let body = text.strip_prefix('\u{feff}').expect("the CSV starts with a UTF-8 BOM");
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let header = reader.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = reader.records().map(|r| r.expect("a well-formed CSV row").iter().map(str::to_owned).collect()).collect();
    (header, rows)
}

#[tokio::test]
async fn a_periods_report_adds_up_to_the_invoice_views_and_the_uploads() {
    let h = start().await;
    let m = h.invoicing_merchant(&["shipment"]).await;
    let other = h.invoicing_merchant(&["shipment"]).await;
    h.set_now("2026-12-05T10:00:00+08:00");
    let at = "2026-12-05T10:00:00+08:00";
    event(&h, &m, "b2c", &shop_order("pr-b2c", "shipped", None), at).await;
    event(&h, &m, "b2b", &shop_order("pr-b2b", "shipped", Some(b2b_buyer())), at).await;
    event(&h, &m, "void", &shop_order("pr-void", "shipped", None), at).await;
    event(&h, &other, "theirs", &shop_order("pr-theirs", "shipped", None), at).await;
    // A partial refund of the B2B order: an allowance; the third order cancelled: void.
    h.set_now("2026-12-06T10:00:00+08:00");
    let mut refund = shop_order("pr-b2b", "received", Some(b2b_buyer()));
    refund["refunded_amount"] = json!(300);
    event(&h, &m, "refund", &refund, "2026-12-06T10:00:00+08:00").await;
    let mut cancel = shop_order("pr-void", "shipped", None);
    cancel["cancelled"] = json!(true);
    event(&h, &m, "cancel", &cancel, "2026-12-06T10:00:00+08:00").await;

    let mut views = Vec::new();
    for id in ["pr-b2c", "pr-b2b", "pr-void"] {
        let view = h.invoice(&m, id).await.body;
        assert_eq!(view["period"], PERIOD, "{view}");
        views.push(view);
    }
    assert_eq!(views.iter().map(|v| v["status"].as_str().unwrap()).collect::<Vec<_>>(), ["uploaded", "uploaded", "void"]);
    let live: Vec<Value> = views.iter().filter(|v| v["voided_at"].is_null()).cloned().collect();
    let b2b: Vec<Value> = live.iter().filter(|v| v["buyer_identifier"] != "0000000000").cloned().collect();
    let b2c: Vec<Value> = live.iter().filter(|v| v["buyer_identifier"] == "0000000000").cloned().collect();
    assert_eq!((b2b.len(), b2c.len()), (1, 1));
    let allowances: Vec<Value> = views.iter().flat_map(|v| v["allowances"].as_array().unwrap().clone()).filter(|a| a["status"] == "uploaded").collect();
    assert_eq!(allowances.len(), 1, "{views:?}");
    let figures = |views: &[Value]| {
        json!({
            "sales_amount": sum(views, "sales_amount"), "tax_amount": sum(views, "tax_amount"),
            "zero_tax_sales_amount": sum(views, "zero_tax_sales_amount"), "free_tax_sales_amount": sum(views, "free_tax_sales_amount"),
            "total": sum(views, "total"),
        })
    };

    let r = report(&h, &m, "").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.content_type.starts_with("application/json"), "{}", r.content_type);
    let b = &r.body;
    assert_eq!((b["period"].as_str(), b["seller_ubn"].as_str(), b["closed"].as_bool()), (Some(PERIOD), Some("04595257"), Some(false)));
    assert_eq!(b["counts"], json!({"issued": 3, "void": 1, "allowances": 1, "numbers_unused": 0}));
    assert_eq!(b["totals"], figures(&live));
    assert_eq!(b["by_buyer"], json!({"b2b": figures(&b2b), "b2c": figures(&b2c)}));
    assert_eq!((&b["allowances"]["amount"], &b["allowances"]["tax_amount"]), (&json!(sum(&allowances, "amount")), &json!(sum(&allowances, "tax_amount"))));
    assert_eq!((b["allowances"]["amount"].as_u64(), b["allowances"]["tax_amount"].as_u64()), (Some(300), Some(14)), "the B2B allowance, tax split");
    assert_eq!(b["unused"], json!([]));
    // B2C tax-inclusive with tax 0, B2B split, as the views show them.
    assert_eq!((b["by_buyer"]["b2c"]["sales_amount"].as_u64(), b["by_buyer"]["b2c"]["tax_amount"].as_u64()), (Some(1050), Some(0)));
    assert_eq!((b["by_buyer"]["b2b"]["sales_amount"].as_u64(), b["by_buyer"]["b2b"]["tax_amount"].as_u64()), (Some(1000), Some(50)));

    // What Wixtar received for the live invoices adds up to the same totals.
    let mut uploads = Vec::new();
    for id in ["pr-b2c", "pr-b2b"] {
        uploads.extend(h.uploads(id).await);
    }
    assert_eq!(uploads.len(), 2);
    assert!(uploads.iter().all(|u| u["void"] != true), "{uploads:?}");
    for field in ["sales_amount", "tax_amount", "zero_tax_sales_amount", "free_tax_sales_amount", "total"] {
        assert_eq!(b["totals"][field].as_u64(), Some(sum(&uploads, field)), "{field}: {uploads:?}");
    }
    let voided = h.uploads("pr-void").await;
    assert_eq!(voided[0]["void"], true, "the void one was voided at Wixtar too");

    // The CSV, asked for by query and by Accept: one row per invoice and per allowance.
    let csv = report(&h, &m, "?format=csv").await;
    assert_eq!((csv.status, csv.content_type.as_str()), (200, "text/csv; charset=utf-8"), "{}", csv.text);
    let target = format!("/v1/merchants/{m}/periods/{PERIOD}/report");
    let mut headers = h.c.signed_headers(&local_stack_secret(), &reqwest::Method::GET, &target, &[], None);
    headers.push(("accept", "text/csv".into()));
    let by_accept = h.c.raw(reqwest::Method::GET, &target, Vec::new(), &headers).await;
    assert_eq!((by_accept.status, &by_accept.text), (200, &csv.text));
    let (header, rows) = csv_rows(&csv.text);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("column {name} in {header:?}"));
    assert_eq!(rows.len(), 4, "3 invoices and 1 allowance: {rows:?}");
    assert!(rows.iter().all(|r| r.len() == header.len()));
    let numbers: Vec<&str> = views.iter().map(|v| v["number"].as_str().unwrap()).collect();
    let invoice_rows: Vec<&Vec<String>> = rows.iter().filter(|r| r[col("kind")] == "invoice").collect();
    let mut listed: Vec<&str> = invoice_rows.iter().map(|r| r[col("number")].as_str()).collect();
    listed.sort_unstable();
    let mut expected = numbers.clone();
    expected.sort_unstable();
    assert_eq!(listed, expected);
    let void_row = invoice_rows.iter().find(|r| r[col("number")] == numbers[2]).unwrap();
    assert_eq!(void_row[col("status")], "void");
    assert!(invoice_rows.iter().filter(|r| r[col("number")] != numbers[2]).all(|r| r[col("status")] == "uploaded"));
    let allowance_row = rows.iter().find(|r| r[col("kind")] == "allowance").unwrap();
    assert_eq!((allowance_row[col("number")].as_str(), allowance_row[col("invoice_number")].as_str()), (format!("{}-1", numbers[1]).as_str(), numbers[1]));
    assert_eq!(
        (allowance_row[col("buyer_ubn")].as_str(), allowance_row[col("total")].as_str(), allowance_row[col("tax_amount")].as_str()),
        ("22099131", "300", "14")
    );
    // The comma in the item name stays inside its cell.
    let b2c_row = invoice_rows.iter().find(|r| r[col("number")] == numbers[0]).unwrap();
    assert!(b2c_row[col("items")].starts_with(ITEM), "{b2c_row:?}");
    assert_eq!((b2c_row[col("buyer")].as_str(), b2c_row[col("buyer_ubn")].as_str(), b2c_row[col("date")].as_str()), ("b2c", "", "2026-12-05"));
    // The rows that count add up to the JSON totals.
    let counted = |keep: &dyn Fn(&Vec<String>) -> bool, c: &str| rows.iter().filter(|r| keep(r)).map(|r| r[col(c)].parse::<u64>().unwrap()).sum::<u64>();
    let live_row = |r: &Vec<String>| r[col("kind")] == "invoice" && r[col("status")] != "void";
    for field in ["sales_amount", "tax_amount", "zero_tax_sales_amount", "free_tax_sales_amount", "total"] {
        assert_eq!(b["totals"][field].as_u64(), Some(counted(&live_row, field)), "{field}");
    }

    // Another merchant's invoices never appear, and its own report has only its own.
    let theirs = h.invoice(&other, "pr-theirs").await.body;
    assert!(rows.iter().all(|r| r[col("order_id")] != "pr-theirs"));
    let their_report = report(&h, &other, "").await.body;
    assert_eq!(their_report["counts"], json!({"issued": 1, "void": 0, "allowances": 0, "numbers_unused": 0}));
    assert_eq!(their_report["totals"]["total"], theirs["total"]);
    let (_, their_rows) = csv_rows(&report(&h, &other, "?format=csv").await.text);
    assert_eq!(their_rows.iter().map(|r| r[col("order_id")].as_str()).collect::<Vec<_>>(), ["pr-theirs"]);

    // After the period closes: closed, with the unused numbers reported to Wixtar.
    let fired = h.fire("period-close", "2027-01-02T10:00:00+08:00").await;
    assert_eq!(fired.status, 200, "{:?}", fired.body);
    let closed = report(&h, &m, "").await.body;
    assert_eq!(closed["closed"], true, "{closed}");
    let spans = closed["unused"].as_array().unwrap();
    assert!(!spans.is_empty(), "a book of 50 with 3 used leaves numbers unused: {closed}");
    let size = |s: &Value| s["last"].as_str().unwrap().parse::<u64>().unwrap() - s["first"].as_str().unwrap().parse::<u64>().unwrap() + 1;
    assert_eq!(closed["counts"]["numbers_unused"].as_u64(), Some(spans.iter().map(size).sum()));
    // As the period close recorded them (the simulator keeps one report per UBN and period,
    // and both merchants here share a UBN, so the store's close record is the reference).
    let close = h.stack.store().period_numbers(&m, PERIOD).await.unwrap().closed.expect("the close record");
    let recorded: Vec<String> = spans.iter().map(|s| serde_json::from_value::<UnusedSpan>(s.clone()).unwrap().stored()).collect();
    assert_eq!((recorded, closed["counts"]["numbers_unused"].as_u64()), (close.unused, Some(u64::from(close.unused_count))));
    assert_eq!((closed["totals"].clone(), closed["counts"]["issued"].clone()), (b["totals"].clone(), b["counts"]["issued"].clone()));
}

fn local_stack_secret() -> einvoice_adapters::secret::Secret {
    einvoice_adapters::secret::Secret::new(local_stack::client::LOCAL_PLATFORM_SECRET)
}

#[tokio::test]
async fn malformed_periods_are_refused_and_an_empty_period_is_zeros() {
    let h = start().await;
    let m = h.invoicing_merchant(&["shipment"]).await;
    for period in ["11511", "11501", "11513", "11500", "1151", "115120", "11a12", "abcde"] {
        let r = h.c.get(&format!("/v1/merchants/{m}/periods/{period}/report")).await;
        assert_eq!((r.status, r.error_code()), (422, Some("invalid_period")), "{period}: {:?}", r.body);
    }
    let r = h.c.get(&format!("/v1/merchants/{m}/periods/11402/report")).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let zeros = json!({"sales_amount": 0, "tax_amount": 0, "zero_tax_sales_amount": 0, "free_tax_sales_amount": 0, "total": 0});
    assert_eq!(
        (&r.body["counts"], &r.body["totals"], &r.body["by_buyer"]["b2b"], &r.body["closed"]),
        (&json!({"issued": 0, "void": 0, "allowances": 0, "numbers_unused": 0}), &zeros, &zeros, &json!(false))
    );
    let csv = h.c.get(&format!("/v1/merchants/{m}/periods/11402/report?format=csv")).await;
    let (header, rows) = csv_rows(&csv.text);
    assert_eq!((header.len(), rows.len()), (15, 0));
}
