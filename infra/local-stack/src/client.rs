//! A client of the HTTP contract that signs like the platform and the payment gateway do.
//! Used by the demo and the end-to-end tests.

use einvoice_adapters::secret::Secret;
use einvoice_adapters::signature;
use serde_json::Value;

/// Local default secrets (DESIGN.md §5).
pub const LOCAL_PLATFORM_SECRET: &str = "local-signing-secret";
pub const LOCAL_PAYMENT_SECRET: &str = "local-payment-secret";

#[derive(Clone)]
pub struct ContractClient {
    pub base_url: String,
    pub http: reqwest::Client,
    platform: Secret,
    payment: Secret,
    /// Unix time to sign with; None = the real clock. Follows the stack's injected clock.
    signing_time: std::sync::Arc<std::sync::Mutex<Option<i64>>>,
}

/// A response: status and JSON body (`Value::Null` when the body is not JSON), and the body
/// as text with its content type (the invoice proof is SVG).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub content_type: String,
    pub text: String,
}

impl Reply {
    pub fn error_code(&self) -> Option<&str> {
        self.body.pointer("/error/code").and_then(Value::as_str)
    }
}

impl ContractClient {
    pub fn new(base_url: impl Into<String>, platform_secret: &str, payment_secret: &str) -> Self {
        Self {
            base_url: base_url.into(),
            http: reqwest::Client::new(),
            platform: Secret::new(platform_secret),
            payment: Secret::new(payment_secret),
            signing_time: Default::default(),
        }
    }

    pub fn local(base_url: impl Into<String>) -> Self {
        Self::new(base_url, LOCAL_PLATFORM_SECRET, LOCAL_PAYMENT_SECRET)
    }

    /// The time signatures are made at.
    pub fn now(&self) -> i64 {
        self.signing_time.lock().unwrap().unwrap_or_else(|| chrono::Utc::now().timestamp())
    }

    /// Signs as if it were `at` (None: the real clock), to match a stack whose clock was moved.
    pub fn sign_at(&self, at: Option<i64>) {
        *self.signing_time.lock().unwrap() = at;
    }

    /// Sends `body` as is, with the given headers (`X-Signature` and others), no signing.
    pub async fn raw(&self, method: reqwest::Method, path: &str, body: Vec<u8>, headers: &[(&str, String)]) -> Reply {
        let mut req = self.http.request(method, format!("{}{path}", self.base_url)).body(body);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let resp = req.send().await.expect("local stack answers");
        let status = resp.status().as_u16();
        let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let text = resp.text().await.unwrap_or_default();
        Reply { status, body: serde_json::from_str(&text).unwrap_or(Value::Null), content_type, text }
    }

    /// `X-Signature` (v2) for `method` on `target` (path and `?query` as sent) with `body`,
    /// plus the JSON content type and the `Idempotency-Key` if given.
    pub fn signed_headers(&self, secret: &Secret, method: &reqwest::Method, target: &str, body: &[u8], key: Option<&str>) -> Vec<(&'static str, String)> {
        let signed = signature::SignedRequest::new(method.as_str(), target, body);
        let mut headers = vec![("x-signature", signature::sign(secret, self.now(), &signed)), ("content-type", "application/json".to_owned())];
        if let Some(key) = key {
            headers.push(("idempotency-key", key.to_owned()));
        }
        headers
    }

    /// A platform-signed request; `body` None sends an empty body.
    pub async fn platform(&self, method: reqwest::Method, path: &str, body: Option<&Value>, key: Option<&str>) -> Reply {
        let bytes = body.map(|b| serde_json::to_vec(b).unwrap()).unwrap_or_default();
        let headers = self.signed_headers(&self.platform, &method, path, &bytes, key);
        self.raw(method, path, bytes, &headers).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.platform(reqwest::Method::POST, path, Some(body), None).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.platform(reqwest::Method::GET, path, None, None).await
    }

    /// The payment gateway's callback, signed with its secret.
    pub async fn notify(&self, body: &Value) -> Reply {
        let bytes = serde_json::to_vec(body).unwrap();
        let headers = self.signed_headers(&self.payment, &reqwest::Method::POST, "/v1/payments/notify", &bytes, None);
        self.raw(reqwest::Method::POST, "/v1/payments/notify", bytes, &headers).await
    }

    /// An unsigned JSON GET (simulators' and the local stack's admin endpoints).
    pub async fn admin_get(&self, url: &str) -> Value {
        self.http.get(url).send().await.expect("admin endpoint answers").json().await.expect("admin JSON")
    }

    pub async fn admin_post(&self, url: &str, body: &Value) -> u16 {
        self.http.post(url).json(body).send().await.expect("admin endpoint answers").status().as_u16()
    }
}
