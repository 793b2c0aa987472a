//! The handler's decisions against the in-memory ports (`einvoice_adapters::testing`): what
//! tests/tests/credentials.rs drives end to end through the local stack, here without moto or
//! the Wixtar simulator. Requests are signed as the platform signs them; refusing bad
//! signatures, and the route's place behind API Gateway, stay end to end.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use einvoice_adapters::api::ApiRequest;
use einvoice_adapters::provider::WixtarProvider;
use einvoice_adapters::signature::{self, SignedRequest, sign};
use einvoice_adapters::testing::{FakeWixtar, Fault, MemoryStore};
use einvoice_domain::FixedClock;

use super::*;
use serde_json::{Value, json};

/// AES KEY and RID of the settings saved here (never to be seen in clear).
const RID: &str = "Rid-9f3e7c1a-SECRET";
const AES_KEY: &str = "9a8b7c6d5e4f30211203f4e5d6c7b8a9";
const UBN: &str = "04595257";
const SIGNING_SECRET: &str = "unit-signing-secret";
const K1: &str = r#"{"current": "k1", "k1": "first-master-key-material-0123456789abcdefghij"}"#;
const K1_K2: &str = r#"{"current": "k2", "k1": "first-master-key-material-0123456789abcdefghij", "k2": "second-master-key-material-0123456789abcdefghij"}"#;
const K2: &str = r#"{"current": "k2", "k2": "second-master-key-material-0123456789abcdefghij"}"#;

fn at(time: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(time).expect("a time").to_utc()
}

/// When the saves happen unless a test moves the clock.
const NOW: &str = "2026-03-05T10:00:00+08:00";

/// A valid `PUT …/invoice-settings` body.
fn settings_body() -> Value {
    json!({
        "enabled": true, "provider": "wixtar", "show_at_checkout": true, "issue_on": ["shipment"],
        "credentials": {"ubn": UBN, "store_code": "S001", "pos_code": "POS-01", "pid": "PID-000123", "rid": RID, "pname": "小明商行 POS", "aes_key": AES_KEY}
    })
}

/// `body` with the top-level fields of `edit` replaced.
fn edited(edit: Value) -> Value {
    let mut body = settings_body();
    for (k, v) in edit.as_object().expect("an object") {
        body[k] = v.clone();
    }
    body
}

fn keys(json: &str) -> MasterKeys {
    MasterKeys::from_secret(&Secret::new(json)).expect("a key set")
}

fn codes(body: &Value) -> Vec<&str> {
    body["warnings"].as_array().expect("warnings").iter().map(|w| w["code"].as_str().expect("a code")).collect()
}

/// A request signed now for its own method and target, as the platform sends it.
fn request(method: Method, merchant: &str, body: Option<&Value>) -> ApiRequest {
    let path = format!("/v1/merchants/{merchant}/invoice-settings");
    let bytes = body.map(|b| serde_json::to_vec(b).expect("JSON")).unwrap_or_default();
    let header = sign(&Secret::new(SIGNING_SECRET), Utc::now().timestamp(), &SignedRequest::new(method.as_str(), &path, &bytes));
    let mut headers = http::HeaderMap::new();
    headers.insert(signature::HEADER, header.parse().expect("a header value"));
    ApiRequest { method, path, query: String::new(), headers, body: bytes.into(), request_id: "req-unit".into() }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    body: Value,
}

impl Reply {
    fn error(&self) -> (u16, &str, Option<&str>) {
        (self.status, self.body["error"]["code"].as_str().unwrap_or_default(), self.body["error"]["field"].as_str())
    }
}

/// The handler over fakes: a table in memory, Wixtar in memory, a fixed clock.
struct World {
    store: MemoryStore,
    wixtar: Arc<FakeWixtar>,
    clock: Arc<FixedClock>,
    handler: Arc<CredentialSave>,
}

impl World {
    fn new() -> Self {
        let (store, wixtar, clock) = (MemoryStore::new(), Arc::new(FakeWixtar::new()), Arc::new(FixedClock::at(at(NOW))));
        let handler = Arc::new(Self::handler(&store, &wixtar, &clock, K1));
        Self { store, wixtar, clock, handler }
    }

    fn handler(store: &MemoryStore, wixtar: &Arc<FakeWixtar>, clock: &Arc<FixedClock>, master_keys: &str) -> CredentialSave {
        CredentialSave::new(Dependencies {
            store: Arc::new(store.clone()),
            providers: Providers { wixtar: Arc::new(WixtarProvider(wixtar.clone())) },
            master_keys: keys(master_keys),
            platform_secret: Secret::new(SIGNING_SECRET),
            clock: clock.clone(),
        })
    }

    /// The same table, Wixtar and clock, behind an instance that read another master-key set
    /// (a cold start after the operator rotated it).
    fn cold_start(&self, master_keys: &str) -> Self {
        let handler = Arc::new(Self::handler(&self.store, &self.wixtar, &self.clock, master_keys));
        Self { store: self.store.clone(), wixtar: self.wixtar.clone(), clock: self.clock.clone(), handler }
    }

    async fn call(&self, req: ApiRequest) -> Reply {
        let response = self.handler.handle(req).await;
        Reply { status: response.status.as_u16(), body: serde_json::from_str(&response.body).expect("a JSON body") }
    }

    async fn put(&self, m: &str, body: &Value) -> Reply {
        self.call(request(Method::PUT, m, Some(body))).await
    }

    async fn get(&self, m: &str) -> Reply {
        self.call(request(Method::GET, m, None)).await
    }

    async fn item(&self, m: &str) -> Option<SettingsItem> {
        self.store.settings(m).await.unwrap()
    }

    /// Writes `item` over the stored one, as an operator (or an attacker) editing the table would.
    async fn overwrite(&self, mut item: SettingsItem) {
        item.version += 1;
        self.store.put_settings(&item).await.expect("nobody else writes meanwhile");
    }

    /// A plan paid for the usage period `starts_on..=expires_on`.
    async fn paid_plan(&self, m: &str, starts_on: &str, expires_on: &str) {
        let plan = PlanItem {
            ubn: Some(UBN.into()),
            starts_on: Some(starts_on.parse().unwrap()),
            expires_on: Some(expires_on.parse().unwrap()),
            paid_orders: 1,
            version: 1,
            ..PlanItem::empty(m, at(NOW))
        };
        self.store.put_plan(&plan, None).await.expect("a new plan");
    }
}

#[tokio::test]
async fn save_then_read_masked() {
    let w = World::new();
    let r = w.put("m-1", &settings_body()).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let expected = json!({
        "merchant_id": "m-1", "configured": true, "enabled": true, "provider": "wixtar", "show_at_checkout": true, "buyer_notices": true,
        "issue_on": ["shipment"], "default_tax_type": "taxable", "customs_clearance": null, "zero_tax_reason": null, "mixed_tax_approved": false,
        "credentials": {"ubn": UBN, "store_code": "S001", "pos_code": "POS-01", "pid": "PID-000123", "rid": "***************CRET",
                        "pname": "小明商行 POS", "aes_key": "****************************b8a9"},
        "credentials_check": {"status": "accepted", "checked_at": "2026-03-05T02:00:00Z"},
        "plan_status": "none", "updated_at": "2026-03-05T02:00:00Z", "warnings": [PLAN_NOT_PAID],
    });
    assert_eq!(r.body, expected);
    let read = w.get("m-1").await;
    assert_eq!((read.status, &read.body), (200, &expected), "GET shows what PUT answered");
}

#[tokio::test]
async fn aes_key_and_rid_are_stored_sealed_for_their_merchant_and_field() {
    let w = World::new();
    assert_eq!(w.put("m-1", &settings_body()).await.status, 200);
    let item = w.item("m-1").await.expect("saved");
    let stored = serde_json::to_string(&item).unwrap();
    for secret in [RID, AES_KEY] {
        for form in [secret.to_owned(), secret.to_lowercase(), secret.to_uppercase()] {
            assert!(!stored.contains(&form), "{form} is stored in clear: {stored}");
        }
    }
    assert_eq!((item.entity.as_str(), item.store_code.as_str(), item.version), ("invoice_settings", "S001", 1), "plain fields are readable");
    assert_eq!((item.rid.key_id.as_str(), item.aes_key.key_id.as_str()), ("k1", "k1"));
    let k1 = keys(K1);
    assert_eq!(k1.open("m-1", "rid", &item.rid).unwrap().expose(), RID);
    assert_eq!(k1.open("m-1", "aes_key", &item.aes_key).unwrap().expose(), AES_KEY);
    // AAD = merchant id + field: the ciphertext opens for nobody else and as nothing else.
    assert!(k1.open("m-2", "rid", &item.rid).is_err());
    assert!(k1.open("m-1", "aes_key", &item.rid).is_err());
}

#[tokio::test]
async fn ciphertext_copied_to_another_merchant_does_not_open() {
    let w = World::new();
    let mut other = settings_body();
    other["credentials"]["rid"] = json!("merchant-b-rid");
    assert_eq!(w.put("a", &settings_body()).await.status, 200);
    assert_eq!(w.put("b", &other).await.status, 200);

    let a = w.item("a").await.unwrap();
    w.overwrite(SettingsItem { rid: a.rid.clone(), ..w.item("b").await.unwrap() }).await;
    let r = w.get("b").await;
    assert_eq!(r.error(), (409, "stored_credentials_unreadable", None), "{:?}", r.body);
    assert!(!r.body.to_string().contains(RID) && !r.body.to_string().contains("CRET"));
    // A partial update cannot keep what cannot be read…
    let partial = json!({"enabled": true, "provider": "wixtar", "show_at_checkout": true, "credentials": {"store_code": "S009"}});
    assert_eq!(w.put("b", &partial).await.error().1, "stored_credentials_unreadable");
    assert_eq!(w.item("b").await.unwrap().store_code, "S001", "nothing written");
    // …but saving every field again repairs it.
    assert_eq!(w.put("b", &other).await.status, 200);
    assert_eq!(w.get("b").await.body["credentials"]["rid"], "**********-rid");
    // Swapped into the other field of the same merchant, it fails the same way.
    w.overwrite(SettingsItem { aes_key: a.rid, ..w.item("a").await.unwrap() }).await;
    assert_eq!(w.get("a").await.error(), (409, "stored_credentials_unreadable", None));
}

#[tokio::test]
async fn every_validation_error_names_its_field_and_writes_nothing() {
    let w = World::new();
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
        ("/credentials/aes_key", json!(format!("{AES_KEY}00")), "invalid_aes_key"),
        ("/provider", json!("ecpay"), "unsupported_provider"),
        ("/issue_on", json!([]), "invalid_issue_on"),
        ("/issue_on", json!(["delivery"]), "invalid_issue_on"),
    ];
    for (pointer, value, code) in cases {
        let mut body = settings_body();
        *body.pointer_mut(pointer).unwrap() = value;
        let r = w.put("m-1", &body).await;
        let field = pointer.trim_start_matches('/').replace('/', ".");
        assert_eq!(r.error(), (422, code, Some(field.as_str())), "{pointer}: {:?}", r.body);
        assert!(!r.body.to_string().contains(RID) && !r.body.to_string().contains(AES_KEY));
    }
    for missing in ["enabled", "provider", "credentials"] {
        let mut body = settings_body();
        body.as_object_mut().unwrap().remove(missing);
        assert_eq!(w.put("m-1", &body).await.error(), (422, "missing_field", Some(missing)));
    }
    for wrong_type in [json!({"enabled": "yes"}), json!({"issue_on": "shipment"}), json!({"credentials": {"ubn": 4595257}})] {
        assert_eq!(w.put("m-1", &edited(wrong_type.clone())).await.error(), (400, "malformed_json", None), "{wrong_type}");
    }
    assert_eq!(w.item("m-1").await, None, "a refused save wrote to the table");
    assert_eq!(w.get("m-1").await.body["configured"], false);
}

#[tokio::test]
async fn each_warning_including_pickup_only_for_custom_logistics() {
    let w = World::new();
    w.paid_plan("m-1", "2026-03-01", "2027-04-30").await;
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({"issue_on": ["shipment"], "show_at_checkout": true}), vec![]),
        (json!({"issue_on": ["pickup"], "show_at_checkout": true}), vec!["pickup_without_shipment"]),
        (json!({"issue_on": ["pickup", "shipment"], "show_at_checkout": true}), vec![]),
        (json!({"issue_on": ["payment"], "show_at_checkout": true}), vec!["issue_on_payment"]),
        (json!({"issue_on": ["shipment"], "show_at_checkout": false}), vec!["show_at_checkout_off"]),
        (json!({"issue_on": ["pickup", "payment"], "show_at_checkout": false}), vec!["pickup_without_shipment", "issue_on_payment", "show_at_checkout_off"]),
    ];
    for (edit, expected) in cases {
        let r = w.put("m-1", &edited(edit.clone())).await;
        assert_eq!((r.status, codes(&r.body)), (200, expected.clone()), "{edit}");
        assert_eq!(codes(&w.get("m-1").await.body), expected, "GET shows the same warnings: {edit}");
    }
    let pickup_only = w.put("m-1", &edited(json!({"issue_on": ["pickup"]}))).await;
    let message = pickup_only.body["warnings"][0]["message"].as_str().unwrap();
    assert!(message.contains("custom logistics") && message.contains("自訂物流"), "{message}");
    // issue_on left out: the recommended default.
    let mut body = settings_body();
    body.as_object_mut().unwrap().remove("issue_on");
    assert_eq!(w.put("m-1", &body).await.body["issue_on"], json!(["shipment"]));
}

#[tokio::test]
async fn credentials_wixtar_rejects_are_refused_with_422_and_save_nothing() {
    let w = World::new();
    w.wixtar.register(UBN, "the-real-rid");
    let r = w.put("m-1", &settings_body()).await;
    assert_eq!(r.error(), (422, "provider_rejected_credentials", Some("credentials")), "{:?}", r.body);
    assert!(!r.body.to_string().contains(RID));
    assert_eq!(w.item("m-1").await, None);

    // Saved once Wixtar knows them; a later update with a RID it does not know changes nothing.
    w.wixtar.register(UBN, RID);
    assert_eq!(w.put("m-1", &settings_body()).await.status, 200);
    let before = w.item("m-1").await;
    let mut wrong = settings_body();
    wrong["credentials"]["rid"] = json!("another-rid");
    assert_eq!(w.put("m-1", &wrong).await.error().1, "provider_rejected_credentials");
    assert_eq!(w.item("m-1").await, before);
}

#[tokio::test]
async fn wixtar_unreachable_saves_unchecked_with_a_warning() {
    let w = World::new();
    w.paid_plan("m-1", "2026-03-01", "2027-04-30").await;
    for fault in [Fault::Unavailable, Fault::AfterWork] {
        w.wixtar.fail_next(fault, 1);
        let r = w.put("m-1", &settings_body()).await;
        assert_eq!((r.status, codes(&r.body)), (200, vec!["provider_unreachable"]), "{fault:?}: {:?}", r.body);
        assert_eq!(r.body["credentials_check"]["status"], "unreachable");
        assert_eq!(codes(&w.get("m-1").await.body), ["provider_unreachable"], "GET still says so");
    }
    // Wixtar back: the next save is checked again.
    let r = w.put("m-1", &settings_body()).await;
    assert_eq!((r.body["credentials_check"]["status"].as_str(), codes(&r.body)), (Some("accepted"), vec![]));
    assert_eq!(w.item("m-1").await.unwrap().version, 3);
}

#[tokio::test]
async fn concurrent_saves_never_interleave() {
    let w = World::new();
    assert_eq!(w.put("m-1", &settings_body()).await.status, 200);
    let mut saves = tokio::task::JoinSet::new();
    for i in 0..10 {
        let mut body = settings_body();
        body["credentials"]["store_code"] = json!(format!("S{i:03}"));
        let handler = w.handler.clone();
        saves.spawn(async move { handler.handle(request(Method::PUT, "m-1", Some(&body))).await });
    }
    let replies = saves.join_all().await;
    let saved = replies.iter().filter(|r| r.status == StatusCode::OK).count();
    let conflicts = replies.iter().filter(|r| r.status == StatusCode::CONFLICT && r.body.contains("\"settings_changed_concurrently\"")).count();
    assert_eq!(saved + conflicts, 10, "{replies:?}");
    assert!(saved >= 1 && conflicts >= 1, "the saves did not overlap: this test proves nothing ({saved} saved)");
    let item = w.item("m-1").await.unwrap();
    assert_eq!(item.version, 1 + saved as u64, "every accepted save is one version");
    assert_eq!(w.get("m-1").await.body["credentials"]["store_code"], item.store_code.as_str());
}

#[tokio::test]
async fn saving_credentials_activates_a_paid_plan() {
    let w = World::new();
    w.paid_plan("m-1", "2026-03-01", "2026-06-30").await;
    assert_eq!(w.get("m-1").await.body["configured"], false, "awaiting activation: nothing saved");
    let r = w.put("m-1", &settings_body()).await;
    assert_eq!((r.status, r.body["plan_status"].as_str(), codes(&r.body)), (200, Some("active"), vec![]));
    assert!(w.item("m-1").await.is_some(), "the saved settings are what activates the plan (plan view)");
    // Past the expiry the plan is expired, credentials or not.
    w.clock.set(Some(at("2026-07-01T00:00:00+08:00")));
    assert_eq!(w.get("m-1").await.body["plan_status"], "expired");
    w.clock.set(Some(at("2026-06-30T23:59:00+08:00")));
    assert_eq!(w.get("m-1").await.body["plan_status"], "active", "the expiry day is still covered");
}

#[tokio::test]
async fn nothing_saved_reads_as_defaults() {
    let w = World::new();
    let r = w.get("m-1").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        json!({"merchant_id": "m-1", "configured": false, "enabled": false, "provider": "wixtar", "show_at_checkout": false,
               "buyer_notices": true, "issue_on": ["shipment"], "credentials": null, "warnings": []})
    );
}

#[tokio::test]
async fn updating_one_field_keeps_the_others() {
    let w = World::new();
    // Wixtar knows only the real RID: every later save is checked with it.
    w.wixtar.register(UBN, RID);
    let first = w.put("m-1", &settings_body()).await;
    assert_eq!(first.status, 200);
    let nonce_before = w.item("m-1").await.unwrap().rid.nonce;

    let update = json!({"enabled": true, "provider": "wixtar", "show_at_checkout": true, "credentials": {"store_code": "S002"}});
    let r = w.put("m-1", &update).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let mut expected = first.body["credentials"].clone();
    expected["store_code"] = json!("S002");
    assert_eq!(r.body["credentials"], expected);

    // A form that sends back what GET showed (masked secrets) keeps them too.
    let mut echoed = settings_body();
    echoed["credentials"] = w.get("m-1").await.body["credentials"].clone();
    echoed["issue_on"] = json!(["shipment", "pickup"]);
    let r = w.put("m-1", &echoed).await;
    assert_eq!((r.status, r.body["issue_on"].clone(), r.body["credentials_check"]["status"].as_str()), (200, json!(["shipment", "pickup"]), Some("accepted")));
    let item = w.item("m-1").await.unwrap();
    assert_eq!(keys(K1).open("m-1", "rid", &item.rid).unwrap().expose(), RID);
    assert_ne!(item.rid.nonce, nonce_before, "every save seals afresh");
    assert_eq!(item.version, 3);
}

#[tokio::test]
async fn master_key_rotation_keeps_old_items_readable() {
    let w = World::new();
    assert_eq!(w.put("old", &settings_body()).await.status, 200);
    let rotated = w.cold_start(K1_K2);
    let read = rotated.get("old").await;
    assert_eq!((read.status, read.body["credentials"]["aes_key"].as_str()), (200, Some("****************************b8a9")), "k1 items still open");
    assert_eq!(rotated.put("new", &settings_body()).await.status, 200);
    assert_eq!(rotated.item("new").await.unwrap().rid.key_id, "k2", "new writes use the current key");
    assert_eq!(rotated.item("old").await.unwrap().rid.key_id, "k1", "reads rewrite nothing");
    // Re-saving moves an old item to the current key.
    assert_eq!(rotated.put("old", &json!({"enabled": true, "provider": "wixtar", "show_at_checkout": true})).await.status, 200);
    assert_eq!(rotated.item("old").await.unwrap().aes_key.key_id, "k2");
    assert_eq!(rotated.get("old").await.body["credentials"]["rid"], read.body["credentials"]["rid"]);

    // A key set that lost k1 cannot open k1 items: a clear error, not garbage.
    assert_eq!(w.put("k1-only", &settings_body()).await.status, 200);
    assert_eq!(w.cold_start(K2).get("k1-only").await.error(), (409, "stored_credentials_unreadable", None));
}
