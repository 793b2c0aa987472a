//! Merchants made through the local stack's HTTP contract: plans checked out, paid, locked.

use local_stack::client::ContractClient;
use serde_json::{Value, json};

/// The merchant every scenario uses: a 12-month plan paid by ATM 3 days ago, and settings that
/// issue on shipment.
pub async fn merchant(c: &ContractClient, m: &str) -> Result<(), String> {
    paid_plan(c, m, None).await?;
    let settings = json!({
        "enabled": true, "provider": "wixtar", "show_at_checkout": true, "issue_on": ["shipment"],
        "credentials": {"ubn": "04595257", "store_code": "S001", "pos_code": "POS-01", "pid": "PID-000123",
                        "rid": "Bench-RID-7f3a91", "pname": "小明商行 POS", "aes_key": "9a8b7c6d5e4f30211203f4e5d6c7b8a9"}
    });
    let saved = c.platform(reqwest::Method::PUT, &format!("/v1/merchants/{m}/invoice-settings"), Some(&settings), None).await;
    if saved.status != 200 {
        return Err(format!("settings: {} {}", saved.status, saved.body));
    }
    let view = c.get(&format!("/v1/merchants/{m}/plan")).await;
    if view.body["status"] != "active" {
        return Err(format!("plan is {} after seeding", view.body["status"]));
    }
    Ok(())
}

/// When the renewal jobs are due for an auto-renew plan: T-15 (cutoff) and T-10 (charge).
#[derive(Default)]
pub struct RenewalDates {
    pub cutoff_time: String,
    pub charge_time: String,
}

/// A fresh merchant with an auto-renew plan paid by card 3 days ago; its renewal dates.
pub async fn auto_renew_merchant(c: &ContractClient) -> Result<RenewalDates, String> {
    let m = format!("b-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    paid_plan(c, &m, Some(&format!("tok-{m}"))).await?;
    let view = c.get(&format!("/v1/merchants/{m}/plan")).await;
    let expires = view.body["expires_on"].as_str().and_then(|d| d.parse::<chrono::NaiveDate>().ok()).ok_or("plan view has no expires_on")?;
    let at = |days: i64, hm: &str| format!("{}T{hm}:00+08:00", expires - chrono::Duration::days(days));
    Ok(RenewalDates { cutoff_time: at(15, "00:05"), charge_time: at(10, "00:10") })
}

/// Runs the local stack's renewal cutoff at `time` (RFC 3339).
pub async fn local_cutoff(c: &ContractClient, time: &str) -> Result<(), String> {
    let body = serde_json::to_vec(&json!({"time": time})).unwrap_or_default();
    let r = c.raw(reqwest::Method::POST, "/_local/schedules/renewal-cutoff", body, &[("content-type", "application/json".into())]).await;
    if r.status != 200 {
        return Err(format!("local cutoff before the charge: {} {}", r.status, r.body));
    }
    Ok(())
}

/// Checks out a 12-month plan for `m` and pays it 3 days ago: by ATM, or on auto-renew by the
/// card of token `card`.
async fn paid_plan(c: &ContractClient, m: &str, card: Option<&str>) -> Result<(), String> {
    let method = if card.is_some() { "card" } else { "atm" };
    let order = c.post(&format!("/v1/merchants/{m}/plan/checkout"), &checkout_body(12, method, card.is_some())).await;
    if order.status != 201 {
        return Err(format!("checkout: {} {}", order.status, order.body));
    }
    let id = order.body["order_id"].as_str().unwrap_or_default().to_owned();
    let paid_at = (chrono::Utc::now() - chrono::Duration::days(3)).to_rfc3339();
    let mut paid = json!({"order_id": id, "status": "paid", "paid_at": paid_at});
    if let Some(token) = card {
        (paid["card_token"], paid["card_last4"]) = (json!(token), json!("4242"));
    }
    let paid = c.notify(&paid).await;
    if paid.status != 200 {
        return Err(format!("payment: {} {}", paid.status, paid.body));
    }
    Ok(())
}

fn checkout_body(months: u32, method: &str, auto_renew: bool) -> Value {
    json!({
        "ubn": "04595257", "months": months, "payment_method": method, "auto_renew": auto_renew,
        "contact": {"name": "王小明", "email": "ming@example.com.tw", "phone": "0912-345-678"},
        "company": {"name": "小明商行有限公司", "ubn": "04595257", "address": "台北市中山區南京東路一段1號", "invoice_email": "ap@example.com.tw"}
    })
}
