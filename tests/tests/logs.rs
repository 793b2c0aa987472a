//! What the functions log: structured JSON with the request's ids, and never a secret.

use std::io::Write;
use std::sync::{Arc, Mutex};

use e2e_tests::{TEST_AES_KEY, TEST_RID, checkout, merchant, settings_body, start};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn logs_are_json_with_ids_and_no_secrets() {
    let captured = Captured::default();
    let sink = captured.clone();
    // This test binary holds one test, so the process-wide subscriber is ours to set.
    einvoice_adapters::telemetry::init_with(move || sink.clone(), einvoice_adapters::telemetry::filter_from(Some("info")));
    let h = start().await;
    let m = merchant();
    let order = h.checkout(&m, &checkout(6, "card", true)).await;
    let id = order.body["order_id"].as_str().unwrap();
    let paid = h
        .c
        .notify(&json!({"order_id": id, "status": "paid", "paid_at": "2026-06-01T10:00:00+08:00", "card_token": "tok_live_SECRET_9876", "card_last4": "9876"}))
        .await;
    assert_eq!(paid.status, 200);
    // Credential save: accepted, refused by Wixtar, and with Wixtar down.
    assert_eq!(h.save_settings(&m, &settings_body()).await.status, 200);
    assert_eq!(h.settings(&m).await.status, 200);
    h.c.admin_post(&format!("{}/_sim/credentials", h.stack.wixtar.url()), &json!({"ubn": "04595257", "rid": "another"})).await;
    assert_eq!(h.save_settings(&m, &settings_body()).await.status, 422);
    h.fault(&h.stack.wixtar, "error", 1).await;
    assert_eq!(h.save_settings(&m, &settings_body()).await.status, 200);
    let bad = h.c.raw(reqwest::Method::GET, &format!("/v1/merchants/{m}/plan"), vec![], &[("x-signature", "t=1,v2=00".into())]).await;
    assert_eq!(bad.status, 401);

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("every log line is JSON")).collect();
    assert!(lines.len() >= 4, "{text}");
    let handled: Vec<&Value> = lines.iter().filter(|l| l["fields"]["message"] == "handled").collect();
    assert!(handled.iter().all(|l| l["span"]["request_id"].is_string()));
    assert!(lines.iter().any(|l| l["span"]["merchant_id"] == m.as_str() && l["span"]["order_id"] == id));
    assert!(lines.iter().any(|l| l["fields"]["message"] == "invoice settings saved" && l["span"]["merchant_id"] == m.as_str()));
    for secret in ["tok_live_SECRET_9876", "local-signing-secret", "local-payment-secret", TEST_RID, TEST_AES_KEY, &TEST_AES_KEY.to_uppercase()] {
        assert!(!text.contains(secret), "{secret} leaked into the logs");
    }
}
