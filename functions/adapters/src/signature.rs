//! Request signatures (DESIGN §4):
//! `X-Signature: t=<unix seconds>,v2=<hex HMAC-SHA256(secret, "<t>.<METHOD>.<target>." + body)>`,
//! where `<METHOD>` is in capitals and `<target>` is the request target exactly as sent (path
//! and `?query`, percent-encoding kept). A signature is good for its own method, path and query
//! only. The earlier `v1` (timestamp and body only) is refused; other `vN` entries are ignored.

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
    #[error("the X-Signature header is not of the form t=<unix seconds>,v2=<hex>")]
    Malformed,
    #[error("the X-Signature header has no v2 entry; v1 signatures are no longer accepted (sign \"<t>.<METHOD>.<target>.<body>\" as v2)")]
    NoV2,
    #[error("the signature timestamp is more than 300 seconds from now")]
    Expired,
    #[error("the signature does not match the request's method, target and body")]
    Mismatch,
}

impl SignatureError {
    pub fn code(self) -> &'static str {
        match self {
            Self::Missing => "missing_signature",
            Self::Malformed => "malformed_signature",
            Self::NoV2 => "unsupported_signature_version",
            Self::Expired => "signature_expired",
            Self::Mismatch => "invalid_signature",
        }
    }
}

/// What a signature covers: the request line (method and target as sent) and the raw body.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    /// `GET`, `POST`, … (compared in capitals).
    pub method: &'a str,
    /// Path and `?query` exactly as sent, percent-encoding kept: `/v1/merchants/m1/plan`.
    pub target: &'a str,
    pub body: &'a [u8],
}

impl<'a> SignedRequest<'a> {
    pub fn new(method: &'a str, target: &'a str, body: &'a [u8]) -> Self {
        Self { method, target, body }
    }
}

fn mac(secret: &Secret, t: i64, req: &SignedRequest<'_>) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes keys of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(req.method.to_ascii_uppercase().as_bytes());
    mac.update(b".");
    mac.update(req.target.as_bytes());
    mac.update(b".");
    mac.update(req.body);
    mac
}

/// The header value a sender puts on `req` at time `t`.
pub fn sign(secret: &Secret, t: i64, req: &SignedRequest<'_>) -> String {
    format!("t={t},v2={}", hex::encode(mac(secret, t, req).finalize().into_bytes()))
}

/// Checks a header against the request, in constant time. Several `v2=` entries are allowed
/// (a sender rotating its secret signs with both); one match is enough.
pub fn verify(secret: &Secret, header: Option<&str>, req: &SignedRequest<'_>, now: DateTime<Utc>) -> Result<(), SignatureError> {
    let header = header.map(str::trim).filter(|h| !h.is_empty()).ok_or(SignatureError::Missing)?;
    let mut t = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = Some(v.parse::<i64>().map_err(|_| SignatureError::Malformed)?),
            Some(("v2", v)) => candidates.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            Some(_) => {}
            None => return Err(SignatureError::Malformed),
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::NoV2);
    }
    if (now.timestamp() - t).abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::Expired);
    }
    let expected = mac(secret, t, req);
    if candidates.iter().any(|c| expected.clone().verify_slice(c).is_ok()) { Ok(()) } else { Err(SignatureError::Mismatch) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000, 0).unwrap()
    }

    const PUT_SETTINGS: SignedRequest<'static> = SignedRequest { method: "PUT", target: "/v1/merchants/m-a/invoice-settings", body: br#"{"a":1}"# };

    #[test]
    fn known_answer() {
        // printf '1790000000.PUT./v1/merchants/m-a/invoice-settings.{"a":1}' | openssl dgst -sha256 -hmac local-signing-secret
        // (the worked example in docs/signing.md)
        let header = sign(&Secret::new("local-signing-secret"), 1_790_000_000, &PUT_SETTINGS);
        assert_eq!(header, "t=1790000000,v2=aa7b45657c247ef86c88b578cf234b7a64ea8bc1d65848132b0714efa8895472");
    }

    /// The worked examples of docs/signing.md.
    #[test]
    fn documented_examples() {
        let (platform, payment) = (Secret::new("local-signing-secret"), Secret::new("local-payment-secret"));
        let notify = br#"{"order_id":"po_01a20ac87930719eaf6dd7cd8f1545d9","status":"paid","paid_at":"2026-01-31T10:00:00+08:00"}"#;
        for (secret, method, target, body, v2) in [
            (&platform, "GET", "/v1/merchants/m1/plan", &b""[..], "292d078fdf4e4107900e7c0b4a2c28508d2a021f13a12fd14c7609b0965e7f5b"),
            (&platform, "POST", "/v1/webhooks/orders", br#"{"event_id":"evt-1"}"#, "900ad47ff8b85cccd977b89ff09cf53e433d27d5170973f2ed165a13d0cba275"),
            (
                &platform,
                "GET",
                "/v1/merchants/m1/orders/o-1/invoice/proof?reprint=true",
                b"",
                "fefddbccad48ecbff66b5b4ec06d122ed358abcbc304f62e729c76c01611a093",
            ),
            (&payment, "POST", "/v1/payments/notify", notify, "8e930c9c1ea7017e17d730a9f95a9c93ce10da18ee94408d59b2dfde9cab8b96"),
        ] {
            assert_eq!(sign(secret, 1_790_000_000, &SignedRequest::new(method, target, body)), format!("t=1790000000,v2={v2}"), "{method} {target}");
        }
    }

    #[test]
    fn accepts_its_own_signature_within_the_window() {
        let s = Secret::new("k");
        for skew in [-300, 0, 300] {
            let h = sign(&s, now().timestamp() + skew, &PUT_SETTINGS);
            assert_eq!(verify(&s, Some(&h), &PUT_SETTINGS, now()), Ok(()));
        }
    }

    #[test]
    fn method_case_does_not_matter() {
        let s = Secret::new("k");
        let h = sign(&s, now().timestamp(), &SignedRequest::new("put", PUT_SETTINGS.target, PUT_SETTINGS.body));
        assert_eq!(verify(&s, Some(&h), &PUT_SETTINGS, now()), Ok(()));
    }

    #[test]
    fn a_signature_is_good_for_its_own_method_path_and_query_only() {
        let s = Secret::new("k");
        let h = sign(&s, now().timestamp(), &PUT_SETTINGS);
        let body = PUT_SETTINGS.body;
        for other in [
            SignedRequest::new("PUT", "/v1/merchants/m-b/invoice-settings", body),
            SignedRequest::new("POST", PUT_SETTINGS.target, body),
            SignedRequest::new("PUT", "/v1/merchants/m-a/invoice-settings?x=1", body),
            SignedRequest::new("PUT", "/v1/merchants/m%2Da/invoice-settings", body),
            SignedRequest::new("PUT", PUT_SETTINGS.target, b"{\"a\":2}"),
        ] {
            assert_eq!(verify(&s, Some(&h), &other, now()), Err(SignatureError::Mismatch), "{other:?}");
        }
    }

    #[test]
    fn refuses_each_kind_of_bad_signature() {
        let s = Secret::new("k");
        let req = PUT_SETTINGS;
        let good = sign(&s, now().timestamp(), &req);
        assert_eq!(verify(&s, None, &req, now()), Err(SignatureError::Missing));
        assert_eq!(verify(&s, Some(""), &req, now()), Err(SignatureError::Missing));
        assert_eq!(verify(&s, Some("garbage"), &req, now()), Err(SignatureError::Malformed));
        assert_eq!(verify(&s, Some("t=1"), &req, now()), Err(SignatureError::NoV2));
        assert_eq!(verify(&s, Some("t=x,v2=00"), &req, now()), Err(SignatureError::Malformed));
        assert_eq!(verify(&s, Some("v2=00"), &req, now()), Err(SignatureError::Malformed));
        assert_eq!(verify(&Secret::new("other"), Some(&good), &req, now()), Err(SignatureError::Mismatch));
        let old = sign(&s, now().timestamp() - 301, &req);
        assert_eq!(verify(&s, Some(&old), &req, now()), Err(SignatureError::Expired));
        let future = sign(&s, now().timestamp() + 301, &req);
        assert_eq!(verify(&s, Some(&future), &req, now()), Err(SignatureError::Expired));
    }

    #[test]
    fn a_v1_signature_is_refused_even_when_it_matches_the_old_scheme() {
        let s = Secret::new("k");
        let t = now().timestamp();
        let mut old = HmacSha256::new_from_slice(b"k").unwrap();
        old.update(format!("{t}.").as_bytes());
        old.update(PUT_SETTINGS.body);
        let v1 = format!("t={t},v1={}", hex::encode(old.finalize().into_bytes()));
        assert_eq!(verify(&s, Some(&v1), &PUT_SETTINGS, now()), Err(SignatureError::NoV2));
    }

    #[test]
    fn any_of_several_v2_entries_may_match_and_other_versions_are_ignored() {
        let s = Secret::new("k");
        let good = sign(&s, now().timestamp(), &PUT_SETTINGS);
        let v2 = good.split("v2=").nth(1).unwrap();
        let header = format!("t={},v1={},v2={},v3=zz,v2={v2}", now().timestamp(), "00".repeat(32), "00".repeat(32));
        assert_eq!(verify(&s, Some(&header), &PUT_SETTINGS, now()), Ok(()));
    }
}
