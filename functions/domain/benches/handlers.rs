//! Handler CPU without I/O: what order-webhook and invoice-issuer compute per order.
//!
//! `cargo bench -p einvoice-domain --bench handlers` (see docs/benchmarks.md for the figures
//! and targets: decision ≤ 20 µs, invoice build with QR codes ≤ 50 µs).

use std::hint::black_box;

use chrono::{DateTime, NaiveDate, Utc};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use einvoice_domain::invoice::{AesKey, InvoiceNumber, InvoicePeriod, RandomCode};
use einvoice_domain::order::{IssueSettings, OrderWire};
use einvoice_domain::proof::{self, ProofInput, ProofItem};
use einvoice_domain::sale::Amounts;
use einvoice_domain::settings::IssueOn;
use einvoice_domain::{Order, OrderState, PlanStatus, TaxSettings, Ubn, decide, taxed_sale};

/// FIPS-197's AES-128 example key: public, not a merchant's.
const TEST_KEY: &str = "2B7E151628AED2A6ABF7158809CF4F3C";

/// A typical shop order: three lines, shipping fee, discount, a mobile-barcode carrier.
fn order_json(payment: &str, delivery: &str, lines: usize) -> String {
    let line = |i: usize| format!(r#"{{"sku": "SKU-{i}", "name": "阿里山高山烏龍茶 150g 禮盒 #{i}", "quantity": 2, "unit_price": 450}}"#);
    let body: Vec<String> = (0..lines).map(line).collect();
    let total = 900 * lines as i64 + 100 - 50;
    format!(
        r#"{{"id": "SO-2026_0001", "currency": "TWD", "payment_status": "{payment}", "delivery_status": "{delivery}",
            "cancelled": false, "logistics": "tcat", "lines": [{}], "shipping_fee": 100, "discount": 50, "total": {total},
            "buyer": {{"name": "王小明", "email": "ming@example.com", "carrier": {{"type": "mobile", "id": "/ABC1234"}}}}}}"#,
        body.join(",")
    )
}

fn order(payment: &str, delivery: &str, lines: usize) -> Order {
    serde_json::from_str::<OrderWire>(&order_json(payment, delivery, lines)).unwrap().parse().unwrap()
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000 + secs, 0).unwrap()
}

/// The state order-webhook decides on after a "paid" then a "shipped" webhook.
fn merged_state(lines: usize) -> OrderState {
    OrderState::new(order("paid", "pending", lines), at(0)).merge(order("unpaid", "shipped", lines), at(60))
}

fn settings() -> IssueSettings {
    let on = vec!["shipment".to_owned(), "pickup".to_owned()];
    IssueSettings { enabled: true, provider_is_wixtar: true, show_at_checkout: true, issue_on: IssueOn::parse(Some(&on)).unwrap(), tax: TaxSettings::default() }
}

fn bench_decision(c: &mut Criterion) {
    let mut g = c.benchmark_group("order_webhook");
    let state = merged_state(3);
    let settings = settings();
    // Sanity: the benchmarked path is the one that issues (full content check).
    assert!(matches!(decide(&state, &settings, PlanStatus::Active), einvoice_domain::Decision::Issue { .. }));

    g.bench_function("decide/3_lines", |b| b.iter(|| decide(black_box(&state), black_box(&settings), black_box(PlanStatus::Active))));
    let big = merged_state(20);
    g.bench_function("decide/20_lines", |b| b.iter(|| decide(black_box(&big), black_box(&settings), black_box(PlanStatus::Active))));

    // Merge the newer event into the stored state, then decide (what one webhook does in CPU).
    let newer = order("paid", "shipped", 3);
    g.bench_function("merge_and_decide/3_lines", |b| {
        b.iter_batched(
            || (state.clone(), newer.clone()),
            |(s, n)| {
                let merged = s.merge(n, at(120));
                decide(&merged, &settings, PlanStatus::Active)
            },
            BatchSize::SmallInput,
        )
    });

    // The whole body from JSON: decode, check, merge, decide.
    let body = order_json("paid", "shipped", 3);
    g.bench_function("parse_merge_decide/3_lines", |b| {
        b.iter_batched(
            || state.clone(),
            |s| {
                let o = serde_json::from_str::<OrderWire>(black_box(&body)).unwrap().parse().unwrap();
                let merged = s.merge(o, at(120));
                decide(&merged, &settings, PlanStatus::Active)
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// What invoice-issuer computes between taking a number and writing the invoice: buyer,
/// lines (運費 and 折扣 lines included), amounts, proof items, barcode and both QR codes.
fn build_invoice(order: &Order, number: InvoiceNumber, key: &AesKey, seller: Ubn) -> proof::Proof {
    let buyer = order.buyer.parse().unwrap();
    let sale = taxed_sale(order, &TaxSettings::default(), buyer.is_b2b()).unwrap();
    let amounts = Amounts::new(sale.parts, buyer.is_b2b(), sale.tax_type);
    let items: Vec<ProofItem> = sale.lines.iter().map(|l| ProofItem { name: l.description.clone(), quantity: l.quantity, unit_price: l.unit_price }).collect();
    let issued_on = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
    proof::build(&ProofInput {
        number,
        period: InvoicePeriod::containing(issued_on),
        issued_on,
        random_code: RandomCode::from_u16(1234).unwrap(),
        untaxed_amount: u64::from(amounts.untaxed_total()),
        total: u64::from(amounts.total),
        buyer_ubn: buyer.ubn(),
        seller_ubn: seller,
        items: &items,
        aes_key: key,
    })
    .unwrap()
}

fn bench_invoice(c: &mut Criterion) {
    let mut g = c.benchmark_group("invoice_issuer");
    let key = AesKey::parse(TEST_KEY).unwrap();
    let seller = Ubn::parse("04595252").unwrap();
    let number = InvoiceNumber::parse("AB11223344").unwrap();
    for lines in [3usize, 20] {
        let o = merged_state(lines).order;
        let p = build_invoice(&o, number, &key, seller);
        assert!(p.qr_left.len() >= 77 && p.qr_right.starts_with("**"));
        g.bench_function(format!("build_invoice/{lines}_lines"), |b| b.iter(|| build_invoice(black_box(&o), black_box(number), &key, seller)));
    }
    // proof::build alone (barcode + AES block + QR strings).
    let items: Vec<ProofItem> = (0..5).map(|i| ProofItem { name: format!("阿里山高山烏龍茶 #{i}"), quantity: 2, unit_price: 450 }).collect();
    let issued_on = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
    let input = ProofInput {
        number,
        period: InvoicePeriod::containing(issued_on),
        issued_on,
        random_code: RandomCode::from_u16(1234).unwrap(),
        untaxed_amount: 4286,
        total: 4500,
        buyer_ubn: None,
        seller_ubn: seller,
        items: &items,
        aes_key: &key,
    };
    g.bench_function("proof_build/5_items", |b| b.iter(|| proof::build(black_box(&input)).unwrap()));
    g.finish();
}

criterion_group!(benches, bench_decision, bench_invoice);
criterion_main!(benches);
