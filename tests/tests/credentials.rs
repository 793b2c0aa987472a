//! Credential save (串接) through the local stack: validation, masking, the Wixtar connection
//! check, sealing at rest with AAD and master-key rotation, and plan activation.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use e2e_tests::{Harness, TEST_AES_KEY, TEST_RID, merchant, settings_body, start};
use einvoice_adapters::secret::Secret;
use einvoice_adapters::signature::{SignedRequest, sign};
use reqwest::Method;
use serde_json::{Value, json};

fn codes(warnings: &Value) -> Vec<&str> {
    warnings.as_array().unwrap().iter().map(|w| w["code"].as_str().unwrap()).collect()
}

/// The stored settings item of a merchant, as DynamoDB holds it.
async fn settings_item(h: &Harness, m: &str) -> HashMap<String, AttributeValue> {
    let client = aws_sdk_dynamodb::Client::new(&h.stack.sdk);
    client
        .get_item()
        .table_name(&h.stack.config.table_name)
        .key("pk", AttributeValue::S(format!("MERCHANT#{m}")))
        .key("sk", AttributeValue::S("SETTINGS".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("settings item")
}

fn key_id(item: &HashMap<String, AttributeValue>, field: &str) -> String {
    item[field].as_m().unwrap()["key_id"].as_s().unwrap().clone()
}

async fn register_at_wixtar(h: &Harness, body: Value) {
    assert_eq!(h.c.admin_post(&format!("{}/_sim/credentials", h.stack.wixtar.url()), &body).await, 204);
}

/// Every item of the table, printed: no RID or AES KEY in any form may appear in it.
async fn assert_no_plaintext_secrets(h: &Harness, secrets: &[&str]) {
    let dump = format!("{:?}", h.items().await);
    for secret in secrets {
        for form in [secret.to_string(), secret.to_lowercase(), secret.to_uppercase()] {
            assert!(!dump.contains(&form), "{form} is stored in clear");
        }
    }
}

#[tokio::test]
async fn save_then_read_masked() {
    let h = start().await;
    let m = merchant();
    let r = h.save_settings(&m, &settings_body()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let c = &r.body["credentials"];
    assert_eq!(c["ubn"], "04595257");
    assert_eq!(c["store_code"], "S001");
    assert_eq!(c["pos_code"], "POS-01");
    assert_eq!(c["pid"], "PID-000123");
    assert_eq!(c["pname"], "小明商行 POS");
    assert_eq!(c["rid"], format!("{}CRET", "*".repeat(TEST_RID.len() - 4)));
    assert_eq!(c["aes_key"], format!("{}b8a9", "*".repeat(28)));
    assert_eq!(r.body["enabled"], true);
    assert_eq!(r.body["provider"], "wixtar");
    assert_eq!(r.body["issue_on"], json!(["shipment"]));
    assert_eq!(r.body["credentials_check"]["status"], "accepted");
    assert_eq!(codes(&r.body["warnings"]), ["plan_not_paid"]);
    assert!(!r.body.to_string().contains(TEST_RID) && !r.body.to_string().contains(TEST_AES_KEY));

    let read = h.settings(&m).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body, r.body);

    let item = settings_item(&h, &m).await;
    assert_eq!(item["entity"].as_s().unwrap(), "invoice_settings");
    assert_eq!(item["store_code"].as_s().unwrap(), "S001", "plain fields are readable in the console");
    assert_eq!(key_id(&item, "rid"), "k1");
    assert_no_plaintext_secrets(&h, &[TEST_RID, TEST_AES_KEY]).await;
}

#[tokio::test]
async fn nothing_saved_reads_as_defaults() {
    let h = start().await;
    let r = h.settings(&merchant()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["configured"], false);
    assert_eq!(r.body["credentials"], Value::Null);
    assert_eq!(r.body["issue_on"], json!(["shipment"]));
}

#[tokio::test]
async fn saving_credentials_activates_a_paid_plan() {
    let h = start().await;
    let m = merchant();
    h.set_now("2026-03-02T09:00:00+08:00");
    h.buy(&m, 3, "2026-03-01T10:00:00+08:00").await;
    assert_eq!(h.view(&m).await["status"], "awaiting_activation");
    let r = h.save_settings(&m, &settings_body()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["plan_status"], "active");
    assert!(codes(&r.body["warnings"]).is_empty());
    assert_eq!(h.view(&m).await["status"], "active");
    // Past the expiry the plan is expired, credentials or not.
    h.set_now("2026-07-01T00:00:00+08:00");
    assert_eq!(h.view(&m).await["status"], "expired");
}

#[tokio::test]
async fn updating_one_field_keeps_the_others() {
    let h = start().await;
    let m = merchant();
    register_at_wixtar(&h, json!({"ubn": "04595257", "rid": TEST_RID})).await;
    let first = h.save_settings(&m, &settings_body()).await;
    assert_eq!(first.status, 200);
    let nonce_before = settings_item(&h, &m).await["rid"].as_m().unwrap()["nonce"].clone();

    // Only the store code is sent; RID and AES KEY are left out.
    let update = json!({"enabled": true, "provider": "wixtar", "show_at_checkout": true, "credentials": {"store_code": "S002"}});
    let r = h.save_settings(&m, &update).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["credentials"]["store_code"], "S002");
    assert_eq!(r.body["credentials"]["rid"], first.body["credentials"]["rid"]);
    assert_eq!(r.body["credentials"]["aes_key"], first.body["credentials"]["aes_key"]);
    assert_eq!(r.body["credentials"]["pid"], "PID-000123");

    // A form that sends back what GET showed (masked secrets) changes nothing either: Wixtar,
    // which knows only the real RID, still accepts the save.
    let mut echoed = settings_body();
    echoed["credentials"] = h.settings(&m).await.body["credentials"].clone();
    echoed["issue_on"] = json!(["shipment", "pickup"]);
    let r = h.save_settings(&m, &echoed).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["issue_on"], json!(["shipment", "pickup"]));
    assert_eq!(r.body["credentials_check"]["status"], "accepted");
    // Every save seals afresh (new nonce).
    assert_ne!(settings_item(&h, &m).await["rid"].as_m().unwrap()["nonce"], nonce_before);
    assert_eq!(settings_item(&h, &m).await["version"].as_n().unwrap(), "3");
}

#[tokio::test]
async fn every_validation_error_names_its_field_and_writes_nothing() {
    let h = start().await;
    let m = merchant();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("/credentials/ubn", json!("04595258"), "invalid_ubn"),
        ("/credentials/ubn", json!("1234"), "invalid_ubn"),
        ("/credentials/store_code", json!(""), "missing_field"),
        ("/credentials/store_code", json!("門市一"), "invalid_field"),
        ("/credentials/store_code", json!("S".repeat(21)), "field_too_long"),
        ("/credentials/pos_code", json!("POS 01"), "invalid_field"),
        ("/credentials/pos_code", json!("P".repeat(21)), "field_too_long"),
        ("/credentials/pid", json!("P".repeat(41)), "field_too_long"),
        ("/credentials/pid", json!("PID/1"), "invalid_field"),
        ("/credentials/rid", json!("has space"), "invalid_field"),
        ("/credentials/rid", json!("R".repeat(65)), "field_too_long"),
        ("/credentials/pname", json!(" "), "missing_field"),
        ("/credentials/pname", json!("名".repeat(61)), "field_too_long"),
        ("/credentials/aes_key", json!("0123456789abcdef"), "invalid_aes_key"),
        ("/credentials/aes_key", json!("zz23456789abcdef0123456789abcdef"), "invalid_aes_key"),
        ("/credentials/aes_key", json!(format!("{TEST_AES_KEY}00")), "invalid_aes_key"),
        ("/provider", json!("ecpay"), "unsupported_provider"),
        ("/issue_on", json!([]), "invalid_issue_on"),
        ("/issue_on", json!(["delivery"]), "invalid_issue_on"),
    ];
    for (pointer, value, code) in cases {
        let mut body = settings_body();
        *body.pointer_mut(pointer).unwrap() = value;
        let r = h.save_settings(&m, &body).await;
        assert_eq!((r.status, r.error_code()), (422, Some(code)), "{pointer}: {:?}", r.body);
        let field = pointer.trim_start_matches('/').replace('/', ".");
        assert_eq!(r.body["error"]["field"], field.as_str(), "{pointer}");
        assert!(!r.body.to_string().contains(TEST_RID) && !r.body.to_string().contains(TEST_AES_KEY));
    }
    for missing in ["enabled", "provider", "credentials"] {
        let mut body = settings_body();
        body.as_object_mut().unwrap().remove(missing);
        let r = h.save_settings(&m, &body).await;
        assert_eq!((r.status, r.error_code(), r.body["error"]["field"].as_str()), (422, Some("missing_field"), Some(missing)));
    }
    for wrong_type in [json!({"enabled": "yes"}), json!({"issue_on": "shipment"}), json!({"credentials": {"ubn": 4595257}})] {
        let mut body = settings_body();
        for (k, v) in wrong_type.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = h.save_settings(&m, &body).await;
        assert_eq!((r.status, r.error_code()), (400, Some("malformed_json")), "{wrong_type}");
    }
    // Unsigned, or signed with a stale time: 401.
    let bytes = serde_json::to_vec(&settings_body()).unwrap();
    let path = format!("/v1/merchants/{m}/invoice-settings");
    let stale = sign(&Secret::new("local-signing-secret"), chrono::Utc::now().timestamp() - 301, &SignedRequest::new("PUT", &path, &bytes));
    for headers in [vec![], vec![("x-signature", stale)]] {
        assert_eq!(h.c.raw(Method::PUT, &path, bytes.clone(), &headers).await.status, 401);
    }
    assert!(h.items().await.is_empty(), "a refused save wrote to the table");
    assert_eq!(h.settings(&m).await.body["configured"], false);
}

#[tokio::test]
async fn each_warning() {
    let h = start().await;
    let m = merchant();
    h.buy(&m, 12, "2026-03-01T10:00:00+08:00").await;
    h.set_now("2026-03-05T10:00:00+08:00");
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"issue_on": ["shipment"], "show_at_checkout": true}), vec![]),
        (json!({"issue_on": ["pickup"], "show_at_checkout": true}), vec!["pickup_without_shipment"]),
        (json!({"issue_on": ["pickup", "shipment"], "show_at_checkout": true}), vec![]),
        (json!({"issue_on": ["payment"], "show_at_checkout": true}), vec!["issue_on_payment"]),
        (json!({"issue_on": ["shipment"], "show_at_checkout": false}), vec!["show_at_checkout_off"]),
        (json!({"issue_on": ["pickup", "payment"], "show_at_checkout": false}), vec!["pickup_without_shipment", "issue_on_payment", "show_at_checkout_off"]),
    ];
    for (edit, expected) in cases {
        let mut body = settings_body();
        for (k, v) in edit.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = h.save_settings(&m, &body).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(codes(&r.body["warnings"]), expected, "{edit}");
        assert!(r.body["warnings"].as_array().unwrap().iter().all(|w| w["message"].as_str().unwrap().len() > 20));
        assert_eq!(codes(&h.settings(&m).await.body["warnings"]), expected, "GET shows the same warnings");
    }
    // Without shipment selected, issue_on omitted means the recommended default.
    let mut body = settings_body();
    body.as_object_mut().unwrap().remove("issue_on");
    assert_eq!(h.save_settings(&m, &body).await.body["issue_on"], json!(["shipment"]));
}

#[tokio::test]
async fn provider_rejection_saves_nothing() {
    let h = start().await;
    let m = merchant();
    register_at_wixtar(&h, json!({"ubn": "04595257", "rid": "the-real-rid"})).await;
    let r = h.save_settings(&m, &settings_body()).await;
    assert_eq!((r.status, r.error_code()), (422, Some("provider_rejected_credentials")), "{:?}", r.body);
    assert!(!r.body.to_string().contains(TEST_RID));
    assert!(h.items().await.is_empty());

    // A set of credentials per UBN: another POS registered too, with its own codes.
    register_at_wixtar(
        &h,
        json!([{"ubn": "04595257", "rid": TEST_RID, "pos_code": "POS-01"}, {"ubn": "04595257", "rid": "second-pos-rid", "pos_code": "POS-02"}]),
    )
    .await;
    assert_eq!(h.save_settings(&m, &settings_body()).await.status, 200);
    let mut wrong_pos = settings_body();
    wrong_pos["credentials"]["pos_code"] = json!("POS-02");
    let r = h.save_settings(&m, &wrong_pos).await;
    assert_eq!(r.error_code(), Some("provider_rejected_credentials"));
    assert_eq!(h.settings(&m).await.body["credentials"]["pos_code"], "POS-01", "the refused update changed nothing");
}

#[tokio::test]
async fn provider_down_saves_with_a_warning() {
    let h = start().await;
    let m = merchant();
    for mode in ["error", "timeout"] {
        h.fault(&h.stack.wixtar, mode, 1).await;
        let r = h.save_settings(&m, &settings_body()).await;
        assert_eq!(r.status, 200, "{mode}: {:?}", r.body);
        assert!(codes(&r.body["warnings"]).contains(&"provider_unreachable"), "{mode}");
        assert_eq!(r.body["credentials_check"]["status"], "unreachable");
        assert!(codes(&h.settings(&m).await.body["warnings"]).contains(&"provider_unreachable"));
    }
    // Wixtar back: the next save is checked again.
    let r = h.save_settings(&m, &settings_body()).await;
    assert_eq!(r.body["credentials_check"]["status"], "accepted");
    assert!(!codes(&r.body["warnings"]).contains(&"provider_unreachable"));
}

#[tokio::test]
async fn master_key_rotation_keeps_old_items_readable() {
    let h = start().await;
    let (old, new) = (merchant(), merchant());
    assert_eq!(h.save_settings(&old, &settings_body()).await.status, 200);
    assert_eq!(key_id(&settings_item(&h, &old).await, "aes_key"), "k1");

    // The operator adds k2 and makes it current; new Lambda instances pick it up.
    let secrets = aws_sdk_secretsmanager::Client::new(&h.stack.sdk);
    let id = &h.stack.secret_ids().master_key;
    let current = secrets.get_secret_value().secret_id(id).send().await.unwrap().secret_string.unwrap();
    let mut set: Value = serde_json::from_str(&current).unwrap();
    set["k2"] = json!("second-master-key-material-0123456789abcdefghijklmnop");
    set["current"] = json!("k2");
    secrets.put_secret_value().secret_id(id).secret_string(set.to_string()).send().await.unwrap();
    h.stack.cold_start().await.unwrap();

    let read = h.settings(&old).await;
    assert_eq!(read.status, 200, "items sealed with k1 still open: {:?}", read.body);
    assert_eq!(read.body["credentials"]["aes_key"], format!("{}b8a9", "*".repeat(28)));
    assert_eq!(h.save_settings(&new, &settings_body()).await.status, 200);
    assert_eq!(key_id(&settings_item(&h, &new).await, "rid"), "k2", "new writes use the current key");
    assert_eq!(key_id(&settings_item(&h, &old).await, "rid"), "k1", "old items are not rewritten by reads");
    // Re-saving moves an old item to the new key.
    assert_eq!(h.save_settings(&old, &json!({"enabled": true, "provider": "wixtar", "show_at_checkout": true})).await.status, 200);
    assert_eq!(key_id(&settings_item(&h, &old).await, "rid"), "k2");
    assert_eq!(h.settings(&old).await.body["credentials"]["rid"], read.body["credentials"]["rid"]);

    // A key set that lost k1 cannot open k1 items: a clear error, not garbage.
    let k1_only = merchant();
    set["current"] = json!("k1");
    secrets.put_secret_value().secret_id(id).secret_string(set.to_string()).send().await.unwrap();
    h.stack.cold_start().await.unwrap();
    assert_eq!(h.save_settings(&k1_only, &settings_body()).await.status, 200);
    set.as_object_mut().unwrap().remove("k1");
    set["current"] = json!("k2");
    secrets.put_secret_value().secret_id(id).secret_string(set.to_string()).send().await.unwrap();
    h.stack.cold_start().await.unwrap();
    let r = h.settings(&k1_only).await;
    assert_eq!((r.status, r.error_code()), (409, Some("stored_credentials_unreadable")));
    assert_no_plaintext_secrets(&h, &[TEST_RID, TEST_AES_KEY]).await;
}

#[tokio::test]
async fn ciphertext_copied_to_another_merchant_does_not_decrypt() {
    let h = start().await;
    let (a, b) = (merchant(), merchant());
    let mut other = settings_body();
    other["credentials"]["rid"] = json!("merchant-b-rid");
    assert_eq!(h.save_settings(&a, &settings_body()).await.status, 200);
    assert_eq!(h.save_settings(&b, &other).await.status, 200);

    // An attacker (or a bad script) copies A's sealed RID over B's, in DynamoDB directly.
    let a_rid = settings_item(&h, &a).await["rid"].clone();
    let client = aws_sdk_dynamodb::Client::new(&h.stack.sdk);
    client
        .update_item()
        .table_name(&h.stack.config.table_name)
        .key("pk", AttributeValue::S(format!("MERCHANT#{b}")))
        .key("sk", AttributeValue::S("SETTINGS".into()))
        .update_expression("SET rid = :rid")
        .expression_attribute_values(":rid", a_rid)
        .send()
        .await
        .unwrap();
    let r = h.settings(&b).await;
    assert_eq!((r.status, r.error_code()), (409, Some("stored_credentials_unreadable")), "{:?}", r.body);
    assert!(!r.body.to_string().contains(TEST_RID) && !r.body.to_string().contains("CRET"));
    // A partial update cannot keep what cannot be read…
    let partial = json!({"enabled": true, "provider": "wixtar", "show_at_checkout": true, "credentials": {"store_code": "S009"}});
    assert_eq!(h.save_settings(&b, &partial).await.error_code(), Some("stored_credentials_unreadable"));
    // …but saving every field again repairs it.
    assert_eq!(h.save_settings(&b, &other).await.status, 200);
    assert_eq!(h.settings(&b).await.body["credentials"]["rid"], format!("{}-rid", "*".repeat(10)));
    // The swap into another field of the same merchant fails the same way.
    let a_item = settings_item(&h, &a).await;
    client
        .update_item()
        .table_name(&h.stack.config.table_name)
        .key("pk", AttributeValue::S(format!("MERCHANT#{a}")))
        .key("sk", AttributeValue::S("SETTINGS".into()))
        .update_expression("SET aes_key = :rid")
        .expression_attribute_values(":rid", a_item["rid"].clone())
        .send()
        .await
        .unwrap();
    assert_eq!(h.settings(&a).await.error_code(), Some("stored_credentials_unreadable"));
}

#[tokio::test]
async fn concurrent_saves_never_interleave() {
    let h = start().await;
    let m = merchant();
    assert_eq!(h.save_settings(&m, &settings_body()).await.status, 200);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let c = h.c.clone();
        let path = format!("/v1/merchants/{m}/invoice-settings");
        let mut body = settings_body();
        body["credentials"]["store_code"] = json!(format!("S{i:03}"));
        tasks.spawn(async move { c.platform(Method::PUT, &path, Some(&body), None).await });
    }
    let mut saved = 0;
    while let Some(r) = tasks.join_next().await {
        let r = r.unwrap();
        match r.status {
            200 => saved += 1,
            409 => assert_eq!(r.error_code(), Some("settings_changed_concurrently")),
            other => panic!("unexpected {other}: {:?}", r.body),
        }
    }
    assert!(saved >= 1);
    let item = settings_item(&h, &m).await;
    assert_eq!(item["version"].as_n().unwrap(), &(1 + saved).to_string(), "every accepted save is one version");
    assert_eq!(h.settings(&m).await.status, 200);
}

/// A body signed for merchant A's settings is refused on merchant B's path, and B keeps its
/// own settings; a signed GET is good on its own path only (issue 20: v2 signatures).
#[tokio::test]
async fn a_signature_is_bound_to_its_method_and_path() {
    let h = start().await;
    let (a, b) = (merchant(), merchant());
    assert_eq!(h.save_settings(&b, &settings_body()).await.status, 200);
    let before = settings_item(&h, &b).await;

    let mut body_a = settings_body();
    body_a["credentials"]["store_code"] = json!("STORE-A");
    let bytes = serde_json::to_vec(&body_a).unwrap();
    let path_a = format!("/v1/merchants/{a}/invoice-settings");
    let path_b = format!("/v1/merchants/{b}/invoice-settings");
    let headers = h.c.signed_headers(&Secret::new("local-signing-secret"), &Method::PUT, &path_a, &bytes, None);
    let r = h.c.raw(Method::PUT, &path_b, bytes.clone(), &headers).await;
    assert_eq!((r.status, r.error_code()), (401, Some("invalid_signature")), "{:?}", r.body);
    assert_eq!(settings_item(&h, &b).await, before, "B's settings changed under A's signature");
    // The same headers on A's own path are good.
    assert_eq!(h.c.raw(Method::PUT, &path_a, bytes, &headers).await.status, 200);

    // A signed empty-body GET of A's settings does not open B's, nor A's plan.
    let get = h.c.signed_headers(&Secret::new("local-signing-secret"), &Method::GET, &path_a, b"", None);
    assert_eq!(h.c.raw(Method::GET, &path_a, vec![], &get).await.status, 200);
    assert_eq!(h.c.raw(Method::GET, &path_b, vec![], &get).await.status, 401);
    assert_eq!(h.c.raw(Method::GET, &format!("/v1/merchants/{a}/plan"), vec![], &get).await.status, 401);
    assert_eq!(h.c.raw(Method::GET, &format!("{path_a}?x=1"), vec![], &get).await.status, 401);
}
