//! `Idempotency-Key` for mutating POSTs: one conditional put claims the key; the response is
//! stored in the same transaction that creates the resource; a repeat with the same body gets
//! the first response, with another body a 409 `idempotency_key_reused`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use http::StatusCode;
use sha2::{Digest, Sha256};

use crate::api::{ApiError, ApiResponse};
use crate::store::{Claim, IdempotencyItem, IdempotencyState, IdempotencyStore, keys};

/// How long a key is remembered.
pub const RETENTION_HOURS: i64 = 24;
/// An in-progress claim older than this is taken over (its first request died).
pub const STALE_AFTER_SECONDS: i64 = 30;
/// How long a concurrent repeat waits for the first request to finish.
const WAIT_FOR_FIRST: Duration = Duration::from_secs(4);

/// What a request holding an `Idempotency-Key` should do.
#[derive(Debug)]
pub enum Begin {
    /// Do the work, creating the resource with this id, and complete the record.
    Proceed { record_pk: String, resource_id: String },
    /// Answer what the first request answered.
    Replay(ApiResponse),
}

pub fn body_sha256(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

fn replay(record: &IdempotencyItem) -> Option<ApiResponse> {
    match (record.state, record.status_code, &record.response_body) {
        (IdempotencyState::Completed, Some(status), Some(body)) => Some(ApiResponse::json_text(StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body.clone())),
        _ => None,
    }
}

/// Claims `key` for this request (scoped by merchant and route) or resolves what an earlier
/// request with the same key decided.
pub async fn begin(
    store: &(impl IdempotencyStore + ?Sized),
    merchant_id: &str,
    route: &str,
    key: &str,
    body: &[u8],
    new_resource_id: String,
    now: DateTime<Utc>,
) -> Result<Begin, ApiError> {
    let record = IdempotencyItem {
        pk: keys::idempotency(merchant_id, route, key),
        sk: keys::IDEMPOTENCY.into(),
        entity: "idempotency".into(),
        request_sha256: body_sha256(body),
        state: IdempotencyState::InProgress,
        resource_id: new_resource_id.clone(),
        status_code: None,
        response_body: None,
        created_at: now,
        ttl: (now + chrono::Duration::hours(RETENTION_HOURS)).timestamp(),
    };
    let mut existing = match store.claim_idempotency(&record).await? {
        Claim::Claimed => {
            return Ok(Begin::Proceed { record_pk: record.pk, resource_id: new_resource_id });
        }
        Claim::Existing(existing) => existing,
    };
    if existing.request_sha256 != record.request_sha256 {
        return Err(ApiError::conflict("idempotency_key_reused", "this Idempotency-Key was used with a different request body"));
    }
    let deadline = tokio::time::Instant::now() + WAIT_FOR_FIRST;
    loop {
        if let Some(response) = replay(&existing) {
            return Ok(Begin::Replay(response));
        }
        if (now - existing.created_at).num_seconds() > STALE_AFTER_SECONDS {
            return Ok(Begin::Proceed { record_pk: existing.pk, resource_id: existing.resource_id });
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::conflict("idempotency_key_in_progress", "a request with this Idempotency-Key is still being processed; retry shortly"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        match store.idempotency(&existing.pk).await? {
            Some(r) => existing = r,
            // The first request failed and released the key: let this one take it.
            None => {
                return Box::pin(begin(store, merchant_id, route, key, body, new_resource_id, now)).await;
            }
        }
    }
}
