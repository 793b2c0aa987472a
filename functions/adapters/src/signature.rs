//! Request signatures: `X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>`.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secret::Secret;

/// How far `t` may be from now, either way.
pub const TOLERANCE_SECONDS: i64 = 300;
pub const HEADER: &str = "x-signature";

type HmacSha256 = Hmac<Sha256>;

/// Why a signature was refused; all of them answer 401 and write nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Signature header is missing")]
    Missing,
    #[error("the X-Signature header is not of the form t=<unix seconds>,v1=<hex>")]
    Malformed,
    #[error("the signature timestamp is more than 300 seconds from now")]
    Expired,
    #[error("the signature does not match the request body")]
    Mismatch,
}

impl SignatureError {
    pub fn code(self) -> &'static str {
        match self {
            Self::Missing => "missing_signature",
            Self::Malformed => "malformed_signature",
            Self::Expired => "signature_expired",
            Self::Mismatch => "invalid_signature",
        }
    }
}

fn mac(secret: &Secret, t: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes keys of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value a sender puts on `body` at time `t`.
pub fn sign(secret: &Secret, t: i64, body: &[u8]) -> String {
    format!("t={t},v1={}", hex::encode(mac(secret, t, body).finalize().into_bytes()))
}

/// Checks a header against the raw body, in constant time. Several `v1=` entries are allowed
/// (a sender rotating its secret signs with both); one match is enough.
pub fn verify(secret: &Secret, header: Option<&str>, body: &[u8], now: DateTime<Utc>) -> Result<(), SignatureError> {
    let header = header.map(str::trim).filter(|h| !h.is_empty()).ok_or(SignatureError::Missing)?;
    let mut t = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            Some(("v1", v)) => candidates.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            Some(_) => {}
            None => return Err(SignatureError::Malformed),
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now.timestamp() - t).abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::Expired);
    }
    let expected = mac(secret, t, body);
    if candidates.iter().any(|c| expected.clone().verify_slice(c).is_ok()) { Ok(()) } else { Err(SignatureError::Mismatch) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000, 0).unwrap()
    }

    #[test]
    fn known_answer() {
        // printf '1790000000.{"a":1}' | openssl dgst -sha256 -hmac local-signing-secret
        let header = sign(&Secret::new("local-signing-secret"), 1_790_000_000, br#"{"a":1}"#);
        assert_eq!(header, "t=1790000000,v1=f346b806c964e845ae098f84c005d598c6166694dceef1311691734c14c0e92e");
    }

    #[test]
    fn accepts_its_own_signature_within_the_window() {
        let s = Secret::new("k");
        for skew in [-300, 0, 300] {
            let h = sign(&s, now().timestamp() + skew, b"body");
            assert_eq!(verify(&s, Some(&h), b"body", now()), Ok(()));
        }
    }

    #[test]
    fn refuses_each_kind_of_bad_signature() {
        let s = Secret::new("k");
        let good = sign(&s, now().timestamp(), b"body");
        assert_eq!(verify(&s, None, b"body", now()), Err(SignatureError::Missing));
        assert_eq!(verify(&s, Some(""), b"body", now()), Err(SignatureError::Missing));
        assert_eq!(verify(&s, Some("garbage"), b"body", now()), Err(SignatureError::Malformed));
        assert_eq!(verify(&s, Some("t=1"), b"body", now()), Err(SignatureError::Malformed));
        assert_eq!(verify(&s, Some("t=x,v1=00"), b"body", now()), Err(SignatureError::Malformed));
        assert_eq!(verify(&s, Some(&good), b"bodY", now()), Err(SignatureError::Mismatch));
        assert_eq!(verify(&Secret::new("other"), Some(&good), b"body", now()), Err(SignatureError::Mismatch));
        let old = sign(&s, now().timestamp() - 301, b"body");
        assert_eq!(verify(&s, Some(&old), b"body", now()), Err(SignatureError::Expired));
        let future = sign(&s, now().timestamp() + 301, b"body");
        assert_eq!(verify(&s, Some(&future), b"body", now()), Err(SignatureError::Expired));
    }

    #[test]
    fn any_of_several_v1_entries_may_match() {
        let s = Secret::new("k");
        let good = sign(&s, now().timestamp(), b"body");
        let v1 = good.split("v1=").nth(1).unwrap();
        let header = format!("t={},v1={},v1={v1}", now().timestamp(), "00".repeat(32));
        assert_eq!(verify(&s, Some(&header), b"body", now()), Ok(()));
    }
}
