//! The invoice proof (電子發票證明聯) through the local stack: the SVG rendered to PNG by
//! `rsvg-convert` (librsvg2-bin) and read back by `zbarimg` (zbar-tools) — the barcode and both
//! QR codes decode to exactly the invoice view's `barcode`, `qr_left` and `qr_right`; a headless
//! Chromium screenshot saved under `target/proof/` for a person to look at; the refusals.
//!
//! `./infra/test` installs the three Debian packages; without them these tests fail (they never
//! skip).

use std::path::PathBuf;

use e2e_tests::scan::{expected_symbols, out_dir, rasterize, run, scan};
use e2e_tests::{Harness, Reply, order, start};
use serde_json::{Value, json};

async fn proof(h: &Harness, m: &str, id: &str, query: &str) -> Reply {
    h.c.get(&format!("/v1/merchants/{m}/orders/{id}/invoice/proof{query}")).await
}

/// An issued invoice for `buyer`, with Chinese item names; `three_lines` or the one line of
/// [`order`] (then the right code is only `**運費:1:100:折扣:1:-50`). Returns (merchant,
/// invoice view).
async fn issued(h: &Harness, id: &str, buyer: Value, three_lines: bool) -> (String, Value) {
    let m = h.invoicing_merchant(&["shipment"]).await;
    let mut o = order(id, "paid", "shipped", "tcat");
    if three_lines {
        o["lines"] = json!([
            {"sku": "TEA-01", "name": "凍頂烏龍茶 150g", "quantity": 2, "unit_price": 500},
            {"sku": "CUP-02", "name": "鶯歌手拉坯茶杯：青瓷", "quantity": 1, "unit_price": 380},
            {"sku": "BOX-03", "name": "禮盒包裝", "quantity": 1, "unit_price": 20}
        ]);
        o["total"] = json!(1450);
    }
    o["buyer"] = buyer;
    let r = h.order_event(&m, "ship", &o).await;
    assert_eq!(r.body["invoice"]["status"], "uploaded", "{:?}", r.body);
    let view = h.invoice(&m, id).await;
    assert_eq!(view.status, 200);
    (m, view.body)
}

fn assert_svg(r: &Reply) {
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.content_type, "image/svg+xml");
    assert!(r.text.starts_with("<?xml") && r.text.contains(r#"width="57mm" height="90mm""#));
}

#[tokio::test]
async fn b2c_proof_scans_back_to_the_invoice_view() {
    let h = start().await;
    let (m, view) = issued(&h, "proof-b2c", json!({"name": "陳小華", "email": "hua@example.com"}), true).await;
    assert!(view["qr_right"].as_str().unwrap().len() > 2, "items continue in the right code: {view}");

    let r = proof(&h, &m, "proof-b2c", "").await;
    assert_svg(&r);
    let number = view["number"].as_str().unwrap();
    for shown in ["小明商行有限公司", ">電子發票證明聯<", &format!(">{}-{}<", &number[..2], &number[2..]), ">總計:1450<", ">賣方:04595257<"]
    {
        assert!(r.text.contains(shown), "{shown} missing");
    }
    assert!(!r.text.contains("買方") && !r.text.contains("補印"));
    assert_eq!(scan(&rasterize("proof-b2c", &r.text)), expected_symbols(&view));

    let again = proof(&h, &m, "proof-b2c", "?reprint=true").await;
    assert_svg(&again);
    assert!(again.text.contains(">電子發票證明聯補印<"));
    assert_eq!(scan(&rasterize("proof-b2c-reprint", &again.text)), expected_symbols(&view));
    assert!(!proof(&h, &m, "proof-b2c", "?reprint=false").await.text.contains("補印"));
    let bad = proof(&h, &m, "proof-b2c", "?reprint=yes").await;
    assert_eq!((bad.status, bad.error_code()), (422, Some("invalid_reprint")));
}

#[tokio::test]
async fn b2b_proof_scans_back_and_shows_the_buyer() {
    let h = start().await;
    let buyer = json!({"name": "王經理", "email": "a@b.tw", "ubn": "22099131", "company_name": "台灣積體電路"});
    let (m, view) = issued(&h, "proof-b2b", buyer, false).await;
    assert_eq!(view["qr_right"], "**運費:1:100:折扣:1:-50");
    let r = proof(&h, &m, "proof-b2b", "").await;
    assert_svg(&r);
    assert!(r.text.contains(">買方:22099131<") && r.text.contains(">格式:25<") && r.text.contains(">總計:1050<"));
    assert_eq!(scan(&rasterize("proof-b2b", &r.text)), expected_symbols(&view));
}

#[tokio::test]
async fn chromium_screenshot_of_the_proof() {
    let h = start().await;
    let (m, view) = issued(&h, "proof-shot", json!({"name": "陳小華"}), true).await;
    let r = proof(&h, &m, "proof-shot", "").await;
    assert_svg(&r);
    let dir = out_dir();
    let svg = dir.join("proof-chromium.svg");
    std::fs::write(&svg, &r.text).unwrap();
    let shot = dir.join("proof-chromium.png");
    let _ = std::fs::remove_file(&shot);
    // 57 × 90 mm is 216 × 341 CSS pixels; 4 device pixels each.
    let profile = tempdir("chromium-profile");
    run(
        "chromium",
        &[
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--force-device-scale-factor=4",
            "--window-size=216,341",
            &format!("--user-data-dir={}", profile.display()),
            &format!("--screenshot={}", shot.display()),
            &format!("file://{}", svg.canonicalize().unwrap().display()),
        ],
    );
    let png = std::fs::read(&shot).expect("chromium wrote the screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    // What the browser drew scans too.
    assert_eq!(scan(&shot), expected_symbols(&view));
    println!("screenshot: {}", shot.display());
    let _ = std::fs::remove_dir_all(profile);
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{name}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn proofs_are_refused_when_no_paper_may_be_printed() {
    let h = start().await;
    let m = h.invoicing_merchant(&["shipment"]).await;
    let r = proof(&h, &m, "nobody", "").await;
    assert_eq!((r.status, r.error_code()), (404, Some("order_not_found")));

    // Not issued yet (waiting for shipment).
    h.order_event(&m, "w", &order("waiting", "paid", "pending", "tcat")).await;
    let r = proof(&h, &m, "waiting", "").await;
    assert_eq!((r.status, r.error_code()), (409, Some("invoice_not_issued")));

    // B2C kept in a carrier, or donated: no paper.
    for (id, buyer) in
        [("carrier", json!({"name": "a", "carrier": {"type": "mobile", "id": "/ABC1234"}})), ("donated", json!({"name": "a", "love_code": "168"}))]
    {
        let mut o = order(id, "paid", "shipped", "tcat");
        o["buyer"] = buyer;
        assert_eq!(h.order_event(&m, id, &o).await.body["invoice"]["status"], "uploaded");
        let r = proof(&h, &m, id, "").await;
        assert_eq!((r.status, r.error_code()), (409, Some("proof_not_printable")), "{id}");
    }

    // Voided (作廢): issued, then the order cancelled while the period is open.
    h.order_event(&m, "v1", &order("voided", "paid", "shipped", "tcat")).await;
    assert_eq!(proof(&h, &m, "voided", "").await.status, 200);
    let mut cancelled = order("voided", "paid", "shipped", "tcat");
    cancelled["cancelled"] = json!(true);
    assert_eq!(h.order_event(&m, "v2", &cancelled).await.body["invoice"]["status"], "void");
    let r = proof(&h, &m, "voided", "").await;
    assert_eq!((r.status, r.error_code()), (409, Some("invoice_void")));
}

/// Any company name the checkout accepts gives a proof that parses as XML and shows the name;
/// one with a Unicode noncharacter (U+FFFE, U+FFFF, U+FDD0…) is refused at the door and nothing
/// is written (issue 20).
#[tokio::test]
async fn any_accepted_company_name_gives_a_proof_that_parses() {
    let h = start().await;
    for bad in ["小明商行\u{FFFE}", "\u{FFFF}有限公司", "A\u{FDD0}B", "Shop\u{10FFFF}"] {
        let m = e2e_tests::merchant();
        let mut body = e2e_tests::checkout(12, "atm", false);
        body["company"]["name"] = json!(bad);
        let r = h.checkout(&m, &body).await;
        assert_eq!((r.status, r.error_code(), r.body["error"]["field"].as_str()), (422, Some("invalid_field"), Some("company.name")), "{bad:?}");
    }
    assert!(h.items().await.is_empty(), "a refused checkout wrote to the table");

    for (i, name) in ["<script>&amp;\"'</script>", "]]><!-- x -->", "😀 茶 𠀀 \u{202E}RTL\u{202C}", "A\u{FFFD}B", "  spaced  "].into_iter().enumerate() {
        let m = e2e_tests::merchant();
        let mut body = e2e_tests::checkout(12, "atm", false);
        body["company"]["name"] = json!(name);
        let r = h.checkout(&m, &body).await;
        assert_eq!(r.status, 201, "{name:?}: {:?}", r.body);
        let paid = h.pay(r.body["order_id"].as_str().unwrap(), &(chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339()).await;
        assert_eq!(paid.status, 200);
        assert_eq!(h.save_settings(&m, &e2e_tests::settings_body()).await.status, 200);
        let id = format!("o-name-{i}");
        assert_eq!(h.order_event(&m, &format!("{id}-e"), &order(&id, "paid", "shipped", "tcat")).await.status, 202);
        let r = proof(&h, &m, &id, "").await;
        assert_eq!(r.status, 200, "{name:?}: {:?}", r.body);
        let doc = roxmltree::Document::parse(&r.text).unwrap_or_else(|e| panic!("{name:?}: the proof is not XML: {e}"));
        let first_text = doc.descendants().find(|n| n.has_tag_name("text")).and_then(|n| n.text()).unwrap_or_default();
        assert_eq!(first_text, name.trim(), "the seller name line");
    }
}
