//! Tax types (課稅別) through the local stack: one invoice of each MIG TaxType — 1 taxable,
//! 2 zero-rated (B2B), 3 tax-free, 9 mixed (B2C, approved merchant) — issued, uploaded to the
//! Wixtar simulator, shown on the invoice view, and returned (void or allowance); orders that
//! cannot be one invoice refused; the settings rules.

use e2e_tests::{Harness, order, settings_body, start};
use serde_json::{Value, json};

/// A merchant with an active plan and these tax settings on top of the usual ones.
async fn merchant_with(h: &Harness, tax: Value) -> String {
    let m = h.invoicing_merchant(&["shipment"]).await;
    let mut body = settings_body();
    for (k, v) in tax.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = h.save_settings(&m, &body).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    m
}

/// A shipped order with these lines, shipping fee and discount (total computed), for `buyer`.
fn shipped(id: &str, lines: Value, shipping_fee: u32, discount: u32, buyer: Option<Value>) -> Value {
    let mut o = order(id, "paid", "shipped", "tcat");
    let goods: u64 = lines.as_array().unwrap().iter().map(|l| l["quantity"].as_u64().unwrap() * l["unit_price"].as_u64().unwrap()).sum();
    o["lines"] = lines;
    o["shipping_fee"] = shipping_fee.into();
    o["discount"] = discount.into();
    o["total"] = (goods + u64::from(shipping_fee) - u64::from(discount)).into();
    if let Some(b) = buyer {
        o["buyer"] = b;
    }
    o
}

fn line(name: &str, quantity: u32, unit_price: u32, tax_type: Option<&str>) -> Value {
    let mut l = json!({"sku": name, "name": name, "quantity": quantity, "unit_price": unit_price});
    if let Some(t) = tax_type {
        l["tax_type"] = t.into();
    }
    l
}

async fn event(h: &Harness, m: &str, event_id: &str, order: &Value, at: &str) -> Value {
    let body = json!({"event_id": event_id, "occurred_at": at, "merchant_id": m, "order": order});
    let r = h.c.post("/v1/webhooks/orders", &body).await;
    assert!(r.status == 200 || r.status == 202, "{:?}", r.body);
    r.body
}

/// Issues `order` on 2026-12-05 (period 11512) and returns the invoice view.
async fn issue(h: &Harness, m: &str, order: &Value) -> Value {
    h.set_now("2026-12-05T10:00:00+08:00");
    let r = event(h, m, "ship", order, "2026-12-05T10:00:00+08:00").await;
    assert_eq!(r["invoice"]["status"], "uploaded", "{r}");
    h.invoice(m, order["id"].as_str().unwrap()).await.body
}

/// The untaxed sales and total the left QR code carries (8 hex digits each after number, date
/// and random code).
fn qr_amounts(view: &Value) -> (u64, u64) {
    let qr = view["qr_left"].as_str().unwrap();
    (u64::from_str_radix(&qr[21..29], 16).unwrap(), u64::from_str_radix(&qr[29..37], 16).unwrap())
}

/// (sales, zero-rated, tax-free, tax, total) of a view or an upload.
fn amounts(v: &Value) -> [u64; 5] {
    ["sales_amount", "zero_tax_sales_amount", "free_tax_sales_amount", "tax_amount", "total"].map(|k| v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}")))
}

fn item_kinds(items: &Value) -> Vec<(i64, u64)> {
    items.as_array().unwrap().iter().map(|i| (i["amount"].as_i64().unwrap(), i["tax_type"].as_u64().unwrap())).collect()
}

async fn upload(h: &Harness, id: &str) -> Value {
    let uploads = h.uploads(id).await;
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    uploads.into_iter().next().unwrap()
}

#[tokio::test]
async fn taxable_b2c_invoice_is_type_1_with_the_untaxed_qr_amount() {
    let h = start().await;
    let m = merchant_with(&h, json!({})).await;
    let view = issue(&h, &m, &shipped("tt-1", json!([line("茶", 2, 500, None)]), 100, 50, None)).await;
    assert_eq!(view["tax_type"], 1);
    assert_eq!(amounts(&view), [1050, 0, 0, 0, 1050]);
    assert_eq!(qr_amounts(&view), (1000, 1050), "round(1050 / 1.05)");
    let sent = upload(&h, "tt-1").await;
    assert_eq!((sent["tax_type"].as_u64(), sent["tax_rate"].as_str()), (Some(1), Some("0.05")));
    assert_eq!(sent["customs_clearance_mark"], Value::Null);
    // Returned after the period closed: an allowance, all taxable.
    h.set_now("2027-01-20T10:00:00+08:00");
    let mut cancelled = shipped("tt-1", json!([line("茶", 2, 500, None)]), 100, 50, None);
    cancelled["cancelled"] = true.into();
    event(&h, &m, "cancel", &cancelled, "2027-01-20T10:00:00+08:00").await;
    let allowance = &h.invoice(&m, "tt-1").await.body["allowances"][0];
    assert_eq!((allowance["amount"].as_u64(), allowance["zero_tax_amount"].as_u64(), allowance["free_tax_amount"].as_u64()), (Some(1050), Some(0), Some(0)));
    assert_eq!(item_kinds(&upload(&h, "tt-1").await["allowances"][0]["items"]), [(1050, 1)]);
}

#[tokio::test]
async fn zero_rated_b2b_invoice_carries_customs_and_reason_and_no_tax() {
    let h = start().await;
    let m = merchant_with(&h, json!({"default_tax_type": "zero_rated", "customs_clearance": "customs", "zero_tax_reason": "71"})).await;
    let settings = h.settings(&m).await.body;
    assert_eq!(
        (&settings["default_tax_type"], &settings["customs_clearance"], &settings["zero_tax_reason"]),
        (&json!("zero_rated"), &json!("customs"), &json!("71"))
    );
    let buyer = json!({"name": "王經理", "ubn": "22099131", "company_name": "台灣積體電路"});
    let view = issue(&h, &m, &shipped("zr-1", json!([line("外銷茶葉", 3, 350, None)]), 0, 0, Some(buyer.clone()))).await;
    assert_eq!(view["tax_type"], 2);
    assert_eq!(amounts(&view), [0, 1050, 0, 0, 1050], "no 5% split for zero-rated, B2B too");
    assert_eq!((&view["customs_clearance"], &view["zero_tax_reason"]), (&json!("customs"), &json!("71")));
    assert_eq!(qr_amounts(&view), (1050, 1050));
    assert_eq!(&view["qr_left"].as_str().unwrap()[37..45], "22099131");
    let sent = upload(&h, "zr-1").await;
    assert_eq!((sent["tax_type"].as_u64(), sent["tax_rate"].as_str()), (Some(2), Some("0")));
    assert_eq!((sent["customs_clearance_mark"].as_u64(), sent["zero_tax_rate_reason"].as_str()), (Some(2), Some("71")));
    assert_eq!(item_kinds(&sent["items"]), [(1050, 2)]);
    // A partial refund: an allowance of the zero-rated kind, no tax.
    let mut refunded = shipped("zr-1", json!([line("外銷茶葉", 3, 350, None)]), 0, 0, Some(buyer));
    refunded["refunded_amount"] = 350.into();
    event(&h, &m, "refund", &refunded, "2026-12-06T10:00:00+08:00").await;
    let allowance = &h.invoice(&m, "zr-1").await.body["allowances"][0];
    let parts = ["amount", "zero_tax_amount", "sales_amount", "tax_amount"].map(|k| allowance[k].as_u64().unwrap());
    assert_eq!(parts, [350, 350, 350, 0]);
    assert_eq!(item_kinds(&upload(&h, "zr-1").await["allowances"][0]["items"]), [(350, 2)]);
}

#[tokio::test]
async fn tax_free_lines_make_a_type_3_invoice_that_voids() {
    let h = start().await;
    let m = merchant_with(&h, json!({})).await;
    let o = shipped("tf-1", json!([line("高麗菜", 4, 80, Some("tax_free")), line("教科書", 1, 380, Some("tax_free"))]), 60, 0, None);
    let view = issue(&h, &m, &o).await;
    assert_eq!(view["tax_type"], 3);
    assert_eq!(amounts(&view), [0, 0, 760, 0, 760]);
    assert_eq!(qr_amounts(&view), (760, 760));
    assert!(view["lines"].as_array().unwrap().iter().all(|l| l["tax_type"] == "tax_free"), "{}", view["lines"]);
    let sent = upload(&h, "tf-1").await;
    assert_eq!(item_kinds(&sent["items"]), [(320, 3), (380, 3), (60, 3)]);
    let mut cancelled = o.clone();
    cancelled["cancelled"] = true.into();
    let r = event(&h, &m, "cancel", &cancelled, "2026-12-06T10:00:00+08:00").await;
    assert_eq!(r["invoice"]["status"], "void", "{r}");
    assert_eq!(upload(&h, "tf-1").await["void"], true);
}

#[tokio::test]
async fn mixed_b2c_invoice_is_type_9_split_by_kind_and_its_allowance_follows_the_kinds() {
    let h = start().await;
    let m = merchant_with(&h, json!({"mixed_tax_approved": true})).await;
    // Taxable 300, tax-free 700; shipping 100 → 30 / 70; discount 50 over 330 / 770 → 15 / 35.
    let lines = json!([line("醬油", 1, 300, None), line("米", 1, 700, Some("tax_free"))]);
    let view = issue(&h, &m, &shipped("mx-1", lines.clone(), 100, 50, None)).await;
    assert_eq!(view["tax_type"], 9);
    assert_eq!(amounts(&view), [315, 0, 735, 0, 1050]);
    assert_eq!(qr_amounts(&view), (300 + 735, 1050), "round(315 / 1.05) + tax-free");
    let sent = upload(&h, "mx-1").await;
    assert_eq!((sent["tax_type"].as_u64(), sent["tax_rate"].as_str()), (Some(9), Some("0.05")));
    assert_eq!(item_kinds(&sent["items"]), [(300, 1), (700, 3), (30, 1), (70, 3), (-15, 1), (-35, 3)]);
    // Cancelled after the period closed: one allowance returning each kind.
    h.set_now("2027-01-20T10:00:00+08:00");
    let mut cancelled = shipped("mx-1", lines, 100, 50, None);
    cancelled["cancelled"] = true.into();
    event(&h, &m, "cancel", &cancelled, "2027-01-20T10:00:00+08:00").await;
    let view = h.invoice(&m, "mx-1").await.body;
    let allowance = &view["allowances"][0];
    assert_eq!((allowance["amount"].as_u64(), allowance["free_tax_amount"].as_u64(), allowance["tax_amount"].as_u64()), (Some(1050), Some(735), Some(0)));
    assert_eq!(item_kinds(&upload(&h, "mx-1").await["allowances"][0]["items"]), [(315, 1), (735, 3)]);
}

#[tokio::test]
async fn orders_that_cannot_be_one_invoice_are_not_issuable() {
    let h = start().await;
    let lines = json!([line("醬油", 1, 300, None), line("米", 1, 700, Some("tax_free"))]);
    let buyer = json!({"name": "王經理", "ubn": "22099131", "company_name": "台灣積體電路"});
    let approved = merchant_with(&h, json!({"mixed_tax_approved": true})).await;
    let unapproved = merchant_with(&h, json!({})).await;
    for (m, id, buyer, reason) in [
        (&approved, "nb-1", Some(buyer), "mixed_tax_b2b"),
        (&unapproved, "nb-2", None, "mixed_tax_not_approved"),
        (&unapproved, "nb-3", None, "zero_tax_details_missing"),
    ] {
        let mut o = shipped(id, lines.clone(), 0, 0, buyer);
        if id == "nb-3" {
            o["lines"][1]["tax_type"] = "zero_rated".into();
            o["lines"][0]["tax_type"] = "zero_rated".into();
        }
        let r = event(&h, m, "ship", &o, &chrono::Utc::now().to_rfc3339()).await;
        assert_eq!((r["invoice"]["status"].as_str(), r["invoice"]["reason"].as_str()), (Some("not_issuable"), Some(reason)), "{r}");
        assert!(h.uploads(id).await.is_empty());
    }
    // A line with an unknown tax type is a 422 naming it.
    let mut o = shipped("nb-4", lines, 0, 0, None);
    o["lines"][1]["tax_type"] = "exempt".into();
    let r = h.order_event(&unapproved, "bad", &o).await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (422, Some("invalid_tax_type")), "{:?}", r.body);
}

#[tokio::test]
async fn zero_rated_default_needs_customs_and_reason_and_a_refused_save_changes_nothing() {
    let h = start().await;
    let m = merchant_with(&h, json!({"default_tax_type": "tax_free"})).await;
    let before = h.settings(&m).await.body;
    for (tax, field) in [
        (json!({"default_tax_type": "zero_rated"}), "customs_clearance"),
        (json!({"default_tax_type": "zero_rated", "customs_clearance": "non_customs"}), "zero_tax_reason"),
        (json!({"default_tax_type": "zero_rated", "customs_clearance": "customs", "zero_tax_reason": "80"}), "zero_tax_reason"),
    ] {
        let mut body = settings_body();
        for (k, v) in tax.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = h.save_settings(&m, &body).await;
        assert_eq!(r.status, 422, "{:?}", r.body);
        assert!(r.body["error"]["message"].as_str().unwrap().contains(field), "{:?}", r.body);
    }
    assert_eq!(h.settings(&m).await.body["default_tax_type"], before["default_tax_type"]);
    assert_eq!(before["default_tax_type"], "tax_free");
}
