//! The HTTP contract's cross-cutting rules through the local stack: signatures, body limits,
//! malformed JSON, Idempotency-Key, routing.

use e2e_tests::{ContractClient, checkout, merchant, start};
use einvoice_adapters::secret::Secret;
use einvoice_adapters::signature::{SignedRequest, sign};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn healthz_is_unsigned() {
    let h = start().await;
    let r = h.c.raw(Method::GET, "/healthz", vec![], &[]).await;
    assert_eq!((r.status, r.body.clone()), (200, json!({"status": "ok"})));
}

#[tokio::test]
async fn bad_signatures_are_401_and_write_nothing() {
    let h = start().await;
    let m = merchant();
    let path = format!("/v1/merchants/{m}/plan/checkout");
    let body = serde_json::to_vec(&checkout(12, "atm", false)).unwrap();
    let now = chrono::Utc::now().timestamp();
    let secret = Secret::new("local-signing-secret");
    let on = |path: &str, body: &[u8], t: i64, secret: &Secret| sign(secret, t, &SignedRequest::new("POST", path, body));
    let other_merchant = format!("/v1/merchants/{}/plan/checkout", merchant());
    let v1 = {
        // The retired v1 scheme: HMAC over "<t>." + body only.
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"local-signing-secret").unwrap();
        mac.update(format!("{now}.").as_bytes());
        mac.update(&body);
        format!("t={now},v1={}", hex::encode(mac.finalize().into_bytes()))
    };
    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("missing", vec![]),
        ("wrong secret", vec![("x-signature", on(&path, &body, now, &Secret::new("guess")))]),
        ("other body", vec![("x-signature", on(&path, b"{}", now, &secret))]),
        ("other merchant's path", vec![("x-signature", on(&other_merchant, &body, now, &secret))]),
        ("other method", vec![("x-signature", sign(&secret, now, &SignedRequest::new("PUT", &path, &body)))]),
        ("with a query it was not signed with", vec![("x-signature", on(&format!("{path}?x=1"), &body, now, &secret))]),
        ("v1 only", vec![("x-signature", v1)]),
        ("301 s old", vec![("x-signature", on(&path, &body, now - 301, &secret))]),
        // `now` was read before the cases run, which take a few seconds: ahead by 301 s at the
        // start would be 300 s by the time it is sent (the ±300/301 s boundary is a unit test
        // of the signature).
        ("more than 300 s ahead", vec![("x-signature", on(&path, &body, now + 310, &secret))]),
        ("garbage", vec![("x-signature", "v2=abc".into())]),
        ("payment secret on a platform route", vec![("x-signature", on(&path, &body, now, &Secret::new("local-payment-secret")))]),
    ];
    for (name, headers) in cases {
        let r = h.c.raw(Method::POST, &path, body.clone(), &headers).await;
        assert_eq!(r.status, 401, "{name}: {:?}", r.body);
        assert!(r.error_code().is_some(), "{name}");
    }
    // A payment callback signed with the platform secret is refused too.
    let notify = serde_json::to_vec(&json!({"order_id": "x", "status": "failed"})).unwrap();
    let r = h.c.raw(Method::POST, "/v1/payments/notify", notify.clone(), &[("x-signature", on("/v1/payments/notify", &notify, now, &secret))]).await;
    assert_eq!(r.status, 401);
    // GETs are signed over the empty body.
    let r = h.c.raw(Method::GET, &format!("/v1/merchants/{m}/plan"), vec![], &[]).await;
    assert_eq!(r.status, 401);
    // Within the window either way is fine.
    let r = h.c.raw(Method::POST, &path, body.clone(), &[("x-signature", on(&path, &body, now - 290, &secret))]).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let items = h.items().await;
    assert_eq!(items.len(), 2, "only the one accepted checkout wrote (order + order pointer)");
}

#[tokio::test]
async fn secrets_are_never_in_responses() {
    let h = start().await;
    let r = h.c.raw(Method::POST, "/v1/payments/notify", b"{}".to_vec(), &[("x-signature", "t=1,v2=00".into())]).await;
    assert!(!r.body.to_string().contains("local-payment-secret"));
    assert!(!r.body.to_string().contains("local-signing-secret"));
}

#[tokio::test]
async fn malformed_json_is_400_and_oversized_bodies_are_413() {
    let h = start().await;
    let m = merchant();
    for bad in [&b"{not json"[..], b"", b"[1,2]", b"\"text\"", br#"{"months": "twelve"}"#, br#"{"auto_renew": "yes"}"#] {
        let path = format!("/v1/merchants/{m}/plan/checkout");
        let headers = [("x-signature", sign(&Secret::new("local-signing-secret"), ContractClient::local("").now(), &SignedRequest::new("POST", &path, bad)))];
        let r = h.c.raw(Method::POST, &path, bad.to_vec(), &headers).await;
        assert_eq!((r.status, r.error_code()), (400, Some("malformed_json")), "{:?}", String::from_utf8_lossy(bad));
    }
    let mut big = checkout(12, "atm", false);
    big["contact"]["name"] = json!("x".repeat(256 * 1024));
    let r = h.c.platform(Method::POST, &format!("/v1/merchants/{m}/plan/checkout"), Some(&big), None).await;
    assert_eq!((r.status, r.error_code()), (413, Some("payload_too_large")));
    // Exactly at the limit is not "over": it is then judged on its content.
    let mut body = checkout(12, "atm", false);
    body["company"]["address"] = json!("a");
    let base = serde_json::to_vec(&body).unwrap().len();
    body["company"]["address"] = json!(format!("a{}", " ".repeat(256 * 1024 - base)));
    assert_eq!(serde_json::to_vec(&body).unwrap().len(), 256 * 1024);
    let r = h.c.platform(Method::POST, &format!("/v1/merchants/{m}/plan/checkout"), Some(&body), None).await;
    assert_eq!(r.status, 201, "{:?}", r.error_code());
}

#[tokio::test]
async fn idempotency_key_replays_the_first_response() {
    let h = start().await;
    let m = merchant();
    let path = format!("/v1/merchants/{m}/plan/checkout");
    let body = checkout(12, "card", true);
    let first = h.c.platform(Method::POST, &path, Some(&body), Some("key-1")).await;
    assert_eq!(first.status, 201);
    for _ in 0..3 {
        let again = h.c.platform(Method::POST, &path, Some(&body), Some("key-1")).await;
        assert_eq!((again.status, &again.body), (201, &first.body));
    }
    let misuse = h.c.platform(Method::POST, &path, Some(&checkout(3, "card", true)), Some("key-1")).await;
    assert_eq!((misuse.status, misuse.error_code()), (409, Some("idempotency_key_reused")));
    // The same key for another merchant is another key.
    let other = h.c.platform(Method::POST, &format!("/v1/merchants/{}/plan/checkout", merchant()), Some(&body), Some("key-1")).await;
    assert_eq!(other.status, 201);
    assert_ne!(other.body["order_id"], first.body["order_id"]);
    // A new key is a new order.
    let second = h.c.platform(Method::POST, &path, Some(&body), Some("key-2")).await;
    assert_ne!(second.body["order_id"], first.body["order_id"]);
    assert_eq!(h.view(&m).await["orders"].as_array().unwrap().len(), 2);
    let bad = h.c.platform(Method::POST, &path, Some(&body), Some(&"k".repeat(256))).await;
    assert_eq!((bad.status, bad.error_code()), (422, Some("invalid_idempotency_key")));
    // The gateway was asked for one payment per order.
    let payments = h.c.admin_get(&format!("{}/_sim/payments", h.stack.payment.url())).await;
    let mine = payments.as_array().unwrap().iter().filter(|p| p["merchant_id"] == m.as_str()).count();
    assert_eq!(mine, 2);
}

#[tokio::test]
async fn concurrent_requests_with_one_key_make_one_order() {
    let h = start().await;
    let m = merchant();
    let path = format!("/v1/merchants/{m}/plan/checkout");
    let body = checkout(6, "atm", false);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let (c, path, body) = (h.c.clone(), path.clone(), body.clone());
        tasks.spawn(async move { c.platform(Method::POST, &path, Some(&body), Some("same-key")).await });
    }
    let mut order_ids = std::collections::BTreeSet::new();
    while let Some(r) = tasks.join_next().await {
        let r = r.unwrap();
        assert_eq!(r.status, 201, "{:?}", r.body);
        order_ids.insert(r.body["order_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(order_ids.len(), 1, "{order_ids:?}");
    assert_eq!(h.view(&m).await["orders"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_failed_request_frees_its_key() {
    let h = start().await;
    let m = merchant();
    let path = format!("/v1/merchants/{m}/plan/checkout");
    let body = checkout(3, "atm", false);
    h.c.admin_post(&format!("{}/_sim/faults", h.stack.payment.url()), &json!({"mode": "error", "count": 1})).await;
    let r = h.c.platform(Method::POST, &path, Some(&body), Some("retry-me")).await;
    assert_eq!(r.status, 503);
    let r = h.c.platform(Method::POST, &path, Some(&body), Some("retry-me")).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
}

#[tokio::test]
async fn unknown_routes_methods_and_merchant_ids() {
    let h = start().await;
    let r = h.c.get("/v1/nothing").await;
    assert_eq!((r.status, r.error_code()), (404, Some("route_not_found")));
    let r = h.c.platform(Method::DELETE, "/v1/merchants/m1/plan", None, None).await;
    assert_eq!((r.status, r.error_code()), (405, Some("method_not_allowed")));
    let r = h.c.get("/v1/merchants/bad%20id/plan").await;
    assert_eq!((r.status, r.error_code()), (422, Some("invalid_merchant_id")));
}

/// Signatures are checked against the wall clock, not the handlers' clock (DESIGN §5): with the
/// stack's clock on another day, a request signed now is accepted and one signed at the
/// stack's time is refused.
#[tokio::test]
async fn signatures_are_checked_against_the_wall_clock_not_the_handlers_clock() {
    let h = start().await;
    let m = merchant();
    h.set_now("2027-06-15T00:05:00+08:00");
    let r = h.c.get(&format!("/v1/merchants/{m}/plan")).await;
    assert_eq!(r.status, 200, "signed with the real time: {:?}", r.body);
    h.c.sign_at(Some(e2e_tests::at("2027-06-15T00:05:00+08:00").timestamp()));
    let r = h.c.get(&format!("/v1/merchants/{m}/plan")).await;
    assert_eq!((r.status, r.error_code()), (401, Some("signature_expired")), "{:?}", r.body);
}
