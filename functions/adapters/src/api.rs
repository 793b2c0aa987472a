//! HTTP plumbing shared by every HTTP function: a plain request/response pair that both the
//! Lambda runtime (API Gateway HTTP API) and the local stack speak, the contract's error
//! shape, body limits, JSON decoding and routing helpers.

use std::future::Future;

use bytes::Bytes;
use chrono::Utc;
use http::{HeaderMap, Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use einvoice_domain::RuleViolation;
use tracing::Instrument;

use crate::secret::Secret;
use crate::signature;

/// Largest accepted request body (256 KiB); larger is a 413.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// One HTTP request as the handlers see it, whoever delivered it.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    pub path: String,
    /// The raw query string (`reprint=true`), empty when there is none.
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// API Gateway's request id, or one made up by the local stack.
    pub request_id: String,
}

impl ApiRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The request target as sent: path and `?query` (percent-encoding kept), what a
    /// signature covers.
    pub fn target(&self) -> String {
        if self.query.is_empty() { self.path.clone() } else { format!("{}?{}", self.path, self.query) }
    }

    /// The value of query parameter `name` (first occurrence, not percent-decoded).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
    }

    /// Path segments without empty ones: `/v1/merchants/m1/plan` → `["v1","merchants","m1","plan"]`.
    pub fn segments(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }

    /// Decodes the body as JSON into `T`: syntax errors and wrong types are a 400.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.body)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", format!("request body is not valid JSON of the expected shape: {e}")))
    }
}

/// One HTTP response: JSON text unless a handler says otherwise (the invoice proof's SVG).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: String,
}

pub const JSON: &str = "application/json; charset=utf-8";

impl ApiResponse {
    pub fn json(status: StatusCode, body: &impl Serialize) -> Self {
        Self::json_text(status, serde_json::to_string(body).expect("response bodies serialize"))
    }

    /// A JSON body already serialized (a stored response being replayed).
    pub fn json_text(status: StatusCode, body: String) -> Self {
        Self { status, content_type: JSON, body }
    }

    pub fn ok(body: &impl Serialize) -> Self {
        Self::json(StatusCode::OK, body)
    }
}

/// The contract's error: `{"error": {"code", "message", "field"?}}` with its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), field: None }
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// A dependency (DynamoDB, a provider) failed; the caller may retry. The detail is logged
    /// by the caller, never returned.
    pub fn unavailable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }

    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "unexpected error; it has been logged")
    }

    pub fn route_not_found(req: &ApiRequest) -> Self {
        Self::not_found("route_not_found", format!("no route for {} {}", req.method, req.path))
    }

    pub fn method_not_allowed(req: &ApiRequest) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", format!("{} is not allowed on {}", req.method, req.path))
    }

    pub fn into_response(self) -> ApiResponse {
        /// `{"error": {"code", "message", "field"?}}`: the contract's error shape.
        #[derive(Serialize)]
        struct Body<'a> {
            error: Detail<'a>,
        }
        #[derive(Serialize)]
        struct Detail<'a> {
            code: &'a str,
            message: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            field: Option<&'a str>,
        }
        let body = Body { error: Detail { code: self.code, message: &self.message, field: self.field.as_deref() } };
        ApiResponse::json(self.status, &body)
    }
}

impl From<RuleViolation> for ApiError {
    fn from(v: RuleViolation) -> Self {
        Self { status: StatusCode::UNPROCESSABLE_ENTITY, code: v.code, message: v.message, field: v.field }
    }
}

/// Refuses bodies over [`MAX_BODY_BYTES`] before anything else looks at them.
pub fn check_body_size(req: &ApiRequest) -> Result<(), ApiError> {
    if req.body.len() > MAX_BODY_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body is {} bytes; the limit is {MAX_BODY_BYTES}", req.body.len()),
        ));
    }
    Ok(())
}

/// `GET /healthz`, unsigned.
pub fn healthz() -> ApiResponse {
    #[derive(Serialize)]
    struct Health {
        status: &'static str,
    }
    ApiResponse::ok(&Health { status: "ok" })
}

/// Adapters between the Lambda runtime (API Gateway HTTP API events) and [`ApiRequest`].
pub mod lambda {
    use super::*;
    use lambda_http::{Body, Request, RequestExt, Response};

    pub fn to_api_request(req: Request) -> ApiRequest {
        let request_id = req.lambda_context_ref().map(|c| c.request_id.clone()).unwrap_or_default();
        let raw_path = req.raw_http_path().to_owned();
        let (parts, body) = req.into_parts();
        let body = match body {
            Body::Empty => Bytes::new(),
            Body::Text(t) => Bytes::from(t),
            Body::Binary(b) => Bytes::from(b),
            _ => Bytes::new(),
        };
        let query = parts.uri.query().unwrap_or_default().to_owned();
        // `rawPath` of the HTTP API event: the path as the client sent it, which is what the
        // platform signed (the URI's path may have been normalised on the way).
        let path = Some(raw_path).filter(|p| !p.is_empty()).unwrap_or_else(|| parts.uri.path().to_owned());
        ApiRequest { method: parts.method, path, query, headers: parts.headers, body, request_id }
    }

    pub fn from_api_response(resp: ApiResponse) -> Response<Body> {
        Response::builder()
            .status(resp.status)
            .header(http::header::CONTENT_TYPE, resp.content_type)
            .body(Body::Text(resp.body))
            .expect("status and header are valid")
    }
}

/// Something that answers HTTP requests: every HTTP function's handler, mounted by the Lambda
/// runtime in AWS and by the local stack here.
#[async_trait::async_trait]
pub trait HttpHandler: Send + Sync + 'static {
    async fn handle(&self, req: ApiRequest) -> ApiResponse;
}

/// Runs an [`HttpHandler`] in the Lambda runtime (API Gateway HTTP API payload 2.0).
pub async fn run_lambda<H: HttpHandler>(handler: std::sync::Arc<H>) -> Result<(), lambda_http::Error> {
    lambda_http::run(lambda_http::service_fn(move |req| {
        let handler = handler.clone();
        async move {
            let resp = handler.handle(lambda::to_api_request(req)).await;
            Ok::<_, std::convert::Infallible>(lambda::from_api_response(resp))
        }
    }))
    .await
}

/// The `Idempotency-Key` header, if present: 1–255 printable ASCII characters.
pub fn idempotency_key(req: &ApiRequest) -> Result<Option<String>, ApiError> {
    let Some(raw) = req.headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = raw.to_str().ok().map(str::trim).unwrap_or_default();
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err(ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_idempotency_key",
            message: "Idempotency-Key must be 1 to 255 printable ASCII characters".into(),
            field: None,
        });
    }
    Ok(Some(key.to_owned()))
}

/// A merchant id from the path: 1–64 of `A-Z a-z 0-9 _ -`.
pub fn merchant_id(raw: &str) -> Result<String, ApiError> {
    let ok = !raw.is_empty() && raw.len() <= 64 && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "invalid_merchant_id",
            message: "merchant_id must be 1 to 64 letters, digits, '_' or '-'".into(),
            field: Some("merchant_id".into()),
        })
    }
}

/// Records the path's merchant id in the request span once it is known to be well formed.
pub fn record_merchant(raw: &str) -> Result<String, ApiError> {
    let id = merchant_id(raw)?;
    tracing::Span::current().record("merchant_id", id.as_str());
    Ok(id)
}

/// The gate every signed route passes: body size (413), then `X-Signature` against `secret`
/// over the method, the target as sent and the raw body (401). Nothing has been read or written when it refuses. The signature's time is checked
/// against the wall clock, not the handler's clock (which may be set to another day to re-run
/// a date): it guards against replays in real time (DESIGN §5).
pub fn authenticate(req: &ApiRequest, secret: &Secret) -> Result<(), ApiError> {
    check_body_size(req)?;
    let target = req.target();
    let signed = signature::SignedRequest::new(req.method.as_str(), &target, &req.body);
    signature::verify(secret, req.header(signature::HEADER), &signed, Utc::now()).map_err(|e| ApiError::unauthorized(e.code(), e.to_string()))
}

/// Runs one request inside a span carrying request_id, method, path, and the merchant_id and
/// order_id the handler records; logs the status and duration; turns errors into the
/// contract's error shape.
pub async fn instrumented<F>(req: &ApiRequest, handle: F) -> ApiResponse
where
    F: Future<Output = Result<ApiResponse, ApiError>>,
{
    let span = tracing::info_span!(
        "request",
        request_id = %req.request_id,
        method = %req.method,
        path = %req.path,
        merchant_id = tracing::field::Empty,
        order_id = tracing::field::Empty,
    );
    async {
        let started = std::time::Instant::now();
        let response = handle.await.unwrap_or_else(ApiError::into_response);
        tracing::info!(status = response.status.as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "handled");
        response
    }
    .instrument(span)
    .await
}
