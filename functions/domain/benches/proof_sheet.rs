//! Drawing the 電子發票證明聯: `proof_sheet::render` (Code 39 bars, both QR codes at one version,
//! the SVG text), no I/O.
//!
//! `cargo bench -p einvoice-domain --bench proof_sheet` (figures in docs/benchmarks.md; target
//! under 1 ms a proof). Besides criterion's wall-clock medians it prints the CPU time per render
//! (utime + stime of this process from /proc), which other processes sharing the cores do not
//! inflate.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use einvoice_domain::Ubn;
use einvoice_domain::invoice::{AesKey, InvoiceNumber, InvoicePeriod, RandomCode};
use einvoice_domain::proof::{self, ProofInput, ProofItem};
use einvoice_domain::proof_sheet::{self, ProofSheet};

/// FIPS-197's AES-128 example key: public, not a merchant's.
const TEST_KEY: &str = "2B7E151628AED2A6ABF7158809CF4F3C";

/// The codes of an invoice with `items` Chinese-named lines, as the issuer builds them.
fn codes(items: usize, buyer: Option<&str>) -> proof::Proof {
    let items: Vec<ProofItem> = (0..items).map(|i| ProofItem { name: format!("阿里山高山烏龍茶 150g 禮盒 #{i}"), quantity: 2, unit_price: 450 }).collect();
    let key = AesKey::parse(TEST_KEY).unwrap();
    proof::build(&ProofInput {
        number: InvoiceNumber::parse("UA00000057").unwrap(),
        period: InvoicePeriod::parse("11512").unwrap(),
        issued_on: "2026-11-15".parse().unwrap(),
        random_code: RandomCode::parse("0122").unwrap(),
        untaxed_amount: proof::untaxed_from_total(1850),
        total: 1850,
        buyer_ubn: buyer.map(|b| Ubn::parse(b).unwrap()),
        seller_ubn: Ubn::parse("04595257").unwrap(),
        items: &items,
        aes_key: &key,
    })
    .unwrap()
}

fn sheet<'a>(codes: &'a proof::Proof, buyer: Option<&'a str>) -> ProofSheet<'a> {
    ProofSheet {
        seller_name: Some("小明商行有限公司"),
        period: InvoicePeriod::parse("11512").unwrap(),
        number: InvoiceNumber::parse("UA00000057").unwrap(),
        issued_at: "2026-11-15T14:03:21".parse().unwrap(),
        random_code: "0122",
        total: 1850,
        seller_ubn: "04595257",
        buyer_ubn: buyer,
        barcode: &codes.barcode,
        qr_left: &codes.qr_left,
        qr_right: &codes.qr_right,
        reprint: false,
        prize: None,
    }
}

/// CPU time of this process so far, in clock ticks (1/100 s), from /proc/self/stat.
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn print_cpu_per_render(name: &str, sheet: &ProofSheet) {
    const RUNS: u32 = 1000;
    let Some(before) = cpu_ticks() else { return };
    for _ in 0..RUNS {
        black_box(proof_sheet::render(black_box(sheet)).unwrap());
    }
    if let Some(after) = cpu_ticks() {
        println!("{name}: {:.3} ms of CPU per render ({} ticks for {RUNS} renders)", (after - before) as f64 * 10.0 / f64::from(RUNS), after - before);
    }
}

fn bench_render(c: &mut Criterion) {
    let mut g = c.benchmark_group("proof_sheet");
    // One line: both codes at the minimum version 6. Twenty lines: the codes full (190 bytes
    // each, version 8), the largest proof the issuer's codes can ask for.
    for (name, items, buyer) in [("render_b2c_1_item", 1, None), ("render_b2c_20_items", 20, None), ("render_b2b_20_items", 20, Some("22099131"))] {
        let codes = codes(items, buyer);
        let sheet = sheet(&codes, buyer);
        let svg = proof_sheet::render(&sheet).unwrap();
        println!("{name}: {} bytes of SVG, qr_left {} bytes, qr_right {} bytes", svg.len(), codes.qr_left.len(), codes.qr_right.len());
        print_cpu_per_render(name, &sheet);
        g.bench_function(name, |b| b.iter(|| proof_sheet::render(black_box(&sheet)).unwrap()));
    }
    g.finish();
}

criterion_group!(benches, bench_render);
criterion_main!(benches);
