//! `./infra/run demo`: a merchant buys a Wixtar plan, pays by ATM, renews by card with
//! auto-renew, saves its Wixtar credentials, gets an e-invoice (and its printable proof) for a
//! shipped order, and its auto-renewal is locked (T-15) and charged (T-10) by the daily jobs; the e-mails sent.
//! Prints each step.

use serde_json::{Value, json};

use crate::client::{ContractClient, Reply};

fn step(n: usize, title: &str, reply: &Reply) {
    println!("\n── step {n}: {title} → HTTP {}", reply.status);
    println!("{}", serde_json::to_string_pretty(&reply.body).unwrap_or_default());
}

fn expect(reply: &Reply, status: u16) -> Result<(), String> {
    if reply.status == status { Ok(()) } else { Err(format!("expected HTTP {status}, got {}: {}", reply.status, reply.body)) }
}

/// Runs the walkthrough; returns the process exit code.
/// `wixtar_url`: the Wixtar simulator whose admin endpoints the demo reads.
pub async fn run(base_url: &str, wixtar_url: &str) -> i32 {
    match walk(base_url, wixtar_url).await {
        Ok(()) => {
            println!("\ndemo finished: every step answered as the contract says");
            0
        }
        Err(e) => {
            eprintln!("\ndemo failed: {e}");
            1
        }
    }
}

async fn walk(base_url: &str, wixtar_url: &str) -> Result<(), String> {
    let c = ContractClient::local(base_url);
    let merchant = format!("demo-shop-{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
    let base = format!("/v1/merchants/{merchant}");
    println!("demo against {base_url}, merchant {merchant}");

    let health = c.raw(reqwest::Method::GET, "/healthz", vec![], &[]).await;
    step(1, "GET /healthz", &health);
    expect(&health, 200)?;

    let bad = c.post(&format!("{base}/plan/verify"), &json!({"ubn": "12345678"})).await;
    step(2, "verify a UBN with a wrong check digit (統一編號檢查碼)", &bad);
    expect(&bad, 422)?;

    let verify = c.post(&format!("{base}/plan/verify"), &json!({"ubn": "04595257"})).await;
    step(3, "verify 04595257: first purchase, bonus months on every plan", &verify);
    expect(&verify, 200)?;

    let checkout_body = |months: u32, method: &str, auto_renew: bool| {
        json!({
            "ubn": "04595257", "months": months, "payment_method": method, "auto_renew": auto_renew,
            "contact": {"name": "王小明", "email": "ming@example.com.tw", "phone": "0912-345-678"},
            "company": {"name": "小明商行有限公司", "ubn": "04595257", "address": "台北市中山區南京東路一段1號", "invoice_email": "ap@example.com.tw"}
        })
    };
    let order = c.platform(reqwest::Method::POST, &format!("{base}/plan/checkout"), Some(&checkout_body(12, "atm", false)), Some("demo-1")).await;
    step(4, "checkout 12 months by ATM (首購 +2 months), with an Idempotency-Key", &order);
    expect(&order, 201)?;
    let order_id = order.body["order_id"].as_str().unwrap_or_default().to_owned();

    let replay = c.platform(reqwest::Method::POST, &format!("{base}/plan/checkout"), Some(&checkout_body(12, "atm", false)), Some("demo-1")).await;
    step(5, "the same checkout again with the same Idempotency-Key: the first answer, no second order", &replay);
    expect(&replay, 201)?;

    let paid = c.notify(&json!({"order_id": order_id, "status": "paid", "paid_at": "2026-01-31T10:00:00+08:00"})).await;
    step(6, "the gateway reports the ATM transfer paid on 2026-01-31 (Taipei)", &paid);
    expect(&paid, 200)?;
    let again = c.notify(&json!({"order_id": order_id, "status": "paid", "paid_at": "2026-01-31T10:00:00+08:00"})).await;
    step(7, "the gateway repeats the callback: harmless, the period is extended once", &again);
    expect(&again, 200)?;

    let view = c.get(&format!("{base}/plan")).await;
    step(8, "plan view: awaiting activation, 使用期限 2026-01-31 … 2027-03-30, Wixtar notice", &view);
    expect(&view, 200)?;

    let renewal = c.post(&format!("{base}/plan/checkout"), &checkout_body(3, "card", true)).await;
    step(9, "renew 3 months by card with auto-renew (續購: no bonus)", &renewal);
    expect(&renewal, 201)?;
    let renewal_id = renewal.body["order_id"].as_str().unwrap_or_default().to_owned();
    let paid = c
        .notify(&json!({"order_id": renewal_id, "status": "paid", "paid_at": "2026-06-01T09:00:00+08:00", "card_token": "tok_demo_visa", "card_last4": "4242"}))
        .await;
    step(10, "the card payment succeeds; the card is bound for auto-renew", &paid);
    expect(&paid, 200)?;

    let view = c.get(&format!("{base}/plan")).await;
    step(11, "plan view: extended from 2027-03-31 to 2027-06-29, auto-renew on, T-15 / T-10 dates", &view);
    expect(&view, 200)?;

    let wixtar = c.admin_get(&format!("{wixtar_url}/_sim/onboarding")).await;
    let handed: Vec<&Value> = wixtar.as_array().into_iter().flatten().filter(|r| r["merchant_id"] == merchant.as_str()).collect();
    println!("\n── step 12: what the Wixtar simulator received for {merchant} (contact hand-off, once)");
    println!("{}", serde_json::to_string_pretty(&handed).unwrap_or_default());
    if handed.len() != 1 {
        return Err(format!("expected one hand-off, got {}", handed.len()));
    }

    let settings = json!({
        "enabled": true, "provider": "wixtar", "show_at_checkout": true, "issue_on": ["shipment"],
        "credentials": {"ubn": "04595257", "store_code": "S001", "pos_code": "POS-01", "pid": "PID-000123",
                        "rid": "Demo-RID-7f3a91", "pname": "小明商行 POS", "aes_key": "9a8b7c6d5e4f30211203f4e5d6c7b8a9"}
    });
    let saved = c.platform(reqwest::Method::PUT, &format!("{base}/invoice-settings"), Some(&settings), None).await;
    step(13, "save Wixtar credentials (串接): checked with Wixtar, AES KEY and RID sealed, shown masked", &saved);
    expect(&saved, 200)?;
    let view = c.get(&format!("{base}/plan")).await;
    println!("\n── step 14: the plan is now {} (使用期限 {} … {})", view.body["status"], view.body["starts_on"], view.body["expires_on"]);
    if view.body["status"] != "active" {
        return Err(format!("expected an active plan, got {}", view.body["status"]));
    }

    let order_id = format!("demo-order-{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
    let order = |delivery: &str| {
        json!({"id": order_id, "currency": "TWD", "payment_status": "paid", "delivery_status": delivery, "cancelled": false,
               "logistics": "tcat", "lines": [{"sku": "TEA-01", "name": "凍頂烏龍茶 150g", "quantity": 2, "unit_price": 500}],
               "shipping_fee": 100, "discount": 50, "total": 1050,
               "buyer": {"name": "陳小華", "email": "hua@example.com"}})
    };
    let hook = |event_id: &str, delivery: &str| json!({"event_id": format!("{order_id}-{event_id}"), "occurred_at": chrono::Utc::now().to_rfc3339(), "merchant_id": merchant, "order": order(delivery)});
    let paid = c.post("/v1/webhooks/orders", &hook("paid", "pending")).await;
    step(15, "order webhook: paid, not shipped yet → the invoice waits (issue on shipment)", &paid);
    expect(&paid, 202)?;
    let shipped = c.post("/v1/webhooks/orders", &hook("shipped", "shipped")).await;
    step(16, "order webhook: shipped (已出貨) → one e-invoice issued and uploaded to Wixtar", &shipped);
    expect(&shipped, 202)?;
    let repeat = c.post("/v1/webhooks/orders", &hook("shipped", "shipped")).await;
    step(17, "the same webhook again: seen before, nothing changes", &repeat);
    let invoice = c.get(&format!("{base}/orders/{order_id}/invoice")).await;
    step(18, "the invoice: number, random code, period, amounts, barcode and QR codes, upload", &invoice);
    expect(&invoice, 200)?;
    let uploads = c.admin_get(&format!("{wixtar_url}/_sim/invoices")).await;
    let received = uploads.as_array().into_iter().flatten().filter(|i| i["order_id"] == order_id.as_str()).count();
    println!("\n── step 19: Wixtar received {received} upload(s) for {order_id}");
    if received != 1 {
        return Err(format!("expected one upload, got {received}"));
    }
    let proof = c.get(&format!("{base}/orders/{order_id}/invoice/proof")).await;
    expect(&proof, 200)?;
    let dir = std::env::current_dir().map_err(|e| e.to_string())?.join("target/demo");
    let file = dir.join(format!("proof-{order_id}.svg"));
    std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&file, &proof.text)).map_err(|e| format!("writing {}: {e}", file.display()))?;
    println!("\n── step 20: the printable proof (電子發票證明聯, {}, {} bytes) written to {}", proof.content_type, proof.text.len(), file.display());

    // After the invoice (DESIGN §7): the buyer told, the draw, the winner told and printed once.
    let buyer_mails = c.admin_get(&format!("{base_url}/_local/mail?to=hua@example.com&merchant_id={merchant}")).await;
    let issued: Vec<&Value> = buyer_mails.as_array().into_iter().flatten().filter(|m| m["template"] == "invoice_issued").collect();
    println!("\n── step 21: the buyer's notice (電子發票開立通知, GET /_local/mail?to=), {} mail(s)", issued.len());
    let [notice] = issued[..] else {
        return Err(format!("expected one invoice_issued mail to the buyer, got {}", issued.len()));
    };
    println!("{}\n{}", notice["subject"].as_str().unwrap_or_default(), notice["text"].as_str().unwrap_or_default());

    // A second order, its invoice on the platform's member carrier (會員載具): the one that wins.
    let member_order = format!("{order_id}-m");
    let mut member = order("shipped");
    member["id"] = json!(member_order);
    member["buyer"]["carrier"] = json!({"type": "member", "id": "demo-member-42"});
    let hook = json!({"event_id": format!("{member_order}-shipped"), "occurred_at": chrono::Utc::now().to_rfc3339(), "merchant_id": merchant, "order": member});
    expect(&c.post("/v1/webhooks/orders", &hook).await, 202)?;
    let invoice = c.get(&format!("{base}/orders/{member_order}/invoice")).await;
    expect(&invoice, 200)?;
    let order_id = member_order;
    let number = invoice.body["number"].as_str().unwrap_or_default().to_owned();
    let period: einvoice_domain::InvoicePeriod = invoice.body["period"].as_str().unwrap_or_default().parse().map_err(|e| format!("period: {e:?}"))?;
    let list = json!({"period": period.to_string(), "winners": [{"number": number, "kind": "sixth", "amount": 200}]});
    let published = c.admin_post(&format!("{wixtar_url}/_sim/winners"), &list).await;
    println!("\n── step 22: order {order_id} invoiced on the member carrier; MOF's list for {period} reaches Wixtar (POST /_sim/winners → {published}): {number} wins 六獎 NT$200");
    let asked_on = format!("{}T10:00:00+08:00", period.winners_asked_from());
    let body = serde_json::to_vec(&json!({"time": asked_on})).unwrap_or_default();
    let prizes = c.raw(reqwest::Method::POST, "/_local/schedules/invoice-prizes", body, &[("content-type", "application/json".into())]).await;
    step(23, &format!("invoice-prizes on {asked_on}: the winner marked, the buyer and the merchant told"), &prizes);
    expect(&prizes, 200)?;
    let won = c.get(&format!("{base}/orders/{order_id}/invoice")).await;
    println!("\n── step 24: the invoice view's prize: {}", won.body["prize"]);
    let told = c.admin_get(&format!("{base_url}/_local/mail?merchant_id={merchant}")).await;
    for m in told.as_array().into_iter().flatten().filter(|m| m["template"] == "invoice_won" || m["template"] == "prizes_to_print") {
        println!("{} → {}: {}", m["template"], m["to"], m["subject"].as_str().unwrap_or_default());
    }
    let printed = c.platform(reqwest::Method::POST, &format!("{base}/orders/{order_id}/invoice/prize-proof"), None, Some("demo-print-1")).await;
    expect(&printed, 201)?;
    let file = dir.join(format!("prize-proof-{order_id}.svg"));
    std::fs::write(&file, &printed.text).map_err(|e| format!("writing {}: {e}", file.display()))?;
    println!("\n── step 25: the winning proof (中獎證明聯) printed once → HTTP 201, written to {}", file.display());
    let again = c.platform(reqwest::Method::POST, &format!("{base}/orders/{order_id}/invoice/prize-proof"), None, Some("demo-print-1")).await;
    println!("\n── step 26: the same request again (same Idempotency-Key) → HTTP {}, the same document: {}", again.status, again.text == printed.text);
    let other = c.platform(reqwest::Method::POST, &format!("{base}/orders/{order_id}/invoice/prize-proof"), None, Some("demo-print-2")).await;
    step(27, "another print request: refused, a winning proof is printed once", &other);
    expect(&other, 409)?;

    let fire = |job: &'static str, time: &'static str| {
        let c = c.clone();
        async move {
            let body = serde_json::to_vec(&json!({"time": time})).unwrap_or_default();
            c.raw(reqwest::Method::POST, &format!("/_local/schedules/{job}"), body, &[("content-type", "application/json".into())]).await
        }
    };
    let cutoff = fire("renewal-cutoff", "2027-06-15T00:05:00+08:00").await;
    step(28, "renewal-cutoff on 2027-06-15 (the day after T-15): the renewal is locked, the merchant told", &cutoff);
    expect(&cutoff, 200)?;
    let charge = fire("renewal-charge", "2027-06-19T00:10:00+08:00").await;
    step(29, "renewal-charge on 2027-06-19 (T-10): the card is charged once for 3 months", &charge);
    expect(&charge, 200)?;
    let again = fire("renewal-charge", "2027-06-19T00:10:00+08:00").await;
    step(30, "the same day fired again: nothing more is charged", &again);
    let view = c.get(&format!("{base}/plan")).await;
    println!(
        "\n── step 31: 使用期限 now ends {} (from 2027-06-30, 3 months); orders: {}",
        view.body["expires_on"],
        view.body["orders"].as_array().map_or(0, Vec::len)
    );
    if view.body["expires_on"] != "2027-09-29" {
        return Err(format!("expected expiry 2027-09-29, got {}", view.body["expires_on"]));
    }

    let events = c.admin_get(&format!("{base_url}/_local/events?merchant_id={merchant}")).await;
    let mine: Vec<&Value> = events.as_array().into_iter().flatten().collect();
    println!("\n── step 32: events published to EventBridge for {merchant} (GET /_local/events?merchant_id=)");
    for e in &mine {
        println!("{} {}", e["detail_type"], e["detail"]["event_id"]);
    }

    let mails = c.admin_get(&format!("{base_url}/_local/mail?merchant_id={merchant}")).await;
    let mine: Vec<&Value> = mails.as_array().into_iter().flatten().collect();
    println!("\n── step 33: e-mails SES accepted for {merchant} (GET /_local/mail?merchant_id=), one per notification");
    for m in &mine {
        println!("{} → {}: {}", m["template"], m["to"], m["subject"].as_str().unwrap_or_default());
    }
    let purchase: Vec<&&Value> = mine.iter().filter(|m| m["template"] == "wixtar_purchase_confirmation").collect();
    let [mail] = purchase[..] else {
        return Err(format!("expected one purchase mail, got {}", purchase.len()));
    };
    println!("\nthe purchase mail, to {}:\n{}\n\n{}", mail["to"], mail["subject"].as_str().unwrap_or_default(), mail["text"].as_str().unwrap_or_default());
    Ok(())
}
