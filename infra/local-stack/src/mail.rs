//! Merchant e-mail in the local stack: the sender identity verified in moto's SES at start (as
//! the deploy creates it), the notifier built like its Lambda, and `GET /_local/mail`: the mails
//! SES (moto) accepted for this stack's notifications.
//!
//! The list joins moto's sent messages (`/moto-api/data.json`, `ses` → `Message`: recipients,
//! subject, body) with this stack's send records (`MAIL#{event_id}`: template, event id, SES
//! message id), so stacks sharing one moto each see their own mails. moto keeps one body of a
//! two-part mail, the HTML part; `text` is that part with its markup removed.

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use einvoice_adapters::mail::SesMailer;
use einvoice_adapters::store::Store;
use einvoice_domain::Clock;
use serde_json::{Value, json};

/// The sender address and SES identity template.yaml deploys with (its parameters' defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    pub address: String,
    pub identity: String,
}

impl Sender {
    pub fn from_template(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| format!("template.yaml: {e}"))?;
        let default =
            |name: &str| doc.get("Parameters").and_then(|p| p.get(name)).and_then(|p| p.get("Default")).and_then(serde_yaml::Value::as_str).map(str::to_owned);
        Ok(Self {
            address: default("MailFromAddress").ok_or("template.yaml has no MailFromAddress default")?,
            identity: default("MailIdentity").ok_or("template.yaml has no MailIdentity default")?,
        })
    }

    /// Creates the identity in SES (moto refuses mail from an unverified sender, as SES does).
    pub async fn verify(&self, sdk: &aws_types::SdkConfig) -> Result<(), String> {
        let ses = aws_sdk_sesv2::Client::new(sdk);
        match ses.create_email_identity().email_identity(&self.identity).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_already_exists_exception()) => Ok(()),
            Err(e) => Err(format!("cannot create the SES identity {}: {}", self.identity, einvoice_adapters::aws::describe(&e))),
        }
    }
}

/// The notifier as its Lambda's `main.rs` builds it, with short retry pauses.
pub fn notifier(sdk: &aws_types::SdkConfig, store: Store, clock: Arc<dyn Clock>, sender: &Sender) -> notifier::Notifier {
    let config = notifier::Config {
        table_name: store.table().to_owned(),
        mail_from: sender.address.clone(),
        send: notifier::SendPolicy { max_attempts: 5, base_delay: std::time::Duration::from_millis(20) },
    };
    notifier::Notifier::new(&config, notifier::Dependencies { store: Arc::new(store), mailer: Arc::new(SesMailer::new(SesMailer::client(sdk), &sender.address)), clock })
}

/// `GET /_local/mail`.
pub fn router(store: Store) -> Router {
    Router::new().route("/_local/mail", get(list)).with_state(store)
}

async fn list(State(store): State<Store>) -> Response {
    match sent(&store).await {
        Ok(mails) => axum::Json(mails).into_response(),
        Err(e) => (http::StatusCode::BAD_GATEWAY, axum::Json(json!({"error": {"code": "mail_unavailable", "message": e}}))).into_response(),
    }
}

/// `[{"to", "subject", "text", "html", "template", "event_id", "message_id", "sent_at"}]`, in
/// the order they were sent.
pub async fn sent(store: &Store) -> Result<Vec<Value>, String> {
    let mut records: Vec<_> = store.mail_records().await.map_err(|e| e.to_string())?.into_iter().filter(|r| r.message_id.is_some()).collect();
    records.sort_by_key(|r| r.sent_at);
    let endpoint = std::env::var("AWS_ENDPOINT_URL").map_err(|_| "AWS_ENDPOINT_URL is not set".to_owned())?;
    let data: Value = reqwest::get(format!("{}/moto-api/data.json", endpoint.trim_end_matches('/')))
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let messages = data["ses"]["Message"].as_array().cloned().unwrap_or_default();
    Ok(records
        .iter()
        .filter_map(|r| {
            let m = messages.iter().find(|m| m["id"].as_str() == r.message_id.as_deref())?;
            let html = m["body"].as_str().unwrap_or_default();
            Some(json!({
                "to": m["destinations"]["ToAddresses"],
                "subject": m["subject"],
                "text": html_to_text(html),
                "html": html,
                "template": r.template,
                "event_id": r.event_id,
                "merchant_id": r.merchant_id,
                "message_id": r.message_id,
                "sent_at": r.sent_at,
            }))
        })
        .collect())
}

/// The text of an HTML mail body: `<head>` dropped, line breaks at block ends, tags removed,
/// entities decoded, blank lines collapsed.
pub fn html_to_text(html: &str) -> String {
    let body = match (html.find("<head>"), html.find("</head>")) {
        (Some(a), Some(b)) if a < b => format!("{}{}", &html[..a], &html[b + "</head>".len()..]),
        _ => html.to_owned(),
    };
    let mut out = String::new();
    let mut rest = body.as_str();
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('>') else { break };
        let tag = rest[open + 1..open + close].trim_start_matches('/').split([' ', '>']).next().unwrap_or_default().to_ascii_lowercase();
        let ends_blank = out.ends_with(char::is_whitespace) || out.is_empty();
        if matches!(tag.as_str(), "br" | "p" | "tr" | "h1" | "h2" | "h3" | "hr" | "table") {
            out.push('\n');
        } else if tag == "td" && !ends_blank {
            out.push(' ');
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    let decoded = decode_entities(&out);
    let lines: Vec<&str> = decoded.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines.join("\n")
}

fn decode_entities(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp..];
        let end = after.find(';').filter(|&e| e <= 10);
        let decoded = end.and_then(|e| match &after[1..e] {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some(' '),
            n if n.starts_with("#x") => u32::from_str_radix(&n[2..], 16).ok().and_then(char::from_u32),
            n if n.starts_with('#') => n[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        });
        match (decoded, end) {
            (Some(c), Some(e)) => {
                out.push(c);
                rest = &after[e + 1..];
            }
            _ => {
                out.push('&');
                rest = &after[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_becomes_readable_text() {
        let html = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>T</title></head><body>\n<p>王小明 您好：</p>\n\
                    <table><tr><td>電話</td><td>02-2711-9528 #240</td></tr></table><p>A &amp; B &#60;x&#62; &#x41;</p>\n</body></html>";
        assert_eq!(html_to_text(html), "王小明 您好：\n電話 02-2711-9528 #240\nA & B <x> A");
    }

    #[test]
    fn sender_from_the_template() {
        let sender = Sender::from_template(&crate::default_template_path()).unwrap();
        assert!(sender.address.contains('@'));
        assert!(sender.address.ends_with(&sender.identity) || sender.address == sender.identity, "{sender:?}");
    }
}
