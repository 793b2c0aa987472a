//! E-mail in the local stack: the sender identity verified in moto's SES at start (as the
//! deploy creates it), the notifier built like its Lambda, and `GET /_local/mail`: the mails
//! SES (moto) accepted for this stack's notifications.
//!
//! The list is kept as the mails go out, never rebuilt from moto's whole state: the notifier's
//! mailer is SES (moto) with a recorder in front that keeps what SES accepted (recipients,
//! subject, both parts, message id), and the table's stream (which the stack reads anyway)
//! brings each send record the notifier marks `sent` (`MAIL#{event_id}`: template, event id,
//! merchant, message id, time). `text` is the HTML part with its markup removed (what moto
//! kept, and what the list has always shown). A mail is listed once its send record says sent, as before,
//! indexed by recipient and merchant, so `?to=` and `?merchant_id=` answer from the index
//! however long the stack has run. The newest [`MAILS_KEPT`] mails are kept.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use chrono::{DateTime, Utc};
use einvoice_adapters::mail::{MailError, Mailer, OutgoingMail, SesMailer};
use einvoice_adapters::stream::{StreamRecord, StreamSettled};
use serde::{Deserialize, Serialize};

use crate::LocalQuery;
use crate::stream::{StreamObserver, StreamPoller};

/// Mails kept for `GET /_local/mail` (the oldest go first); a test sends a handful, a day-long
/// soak with a notice per invoice tens of thousands.
pub const MAILS_KEPT: usize = 50_000;
/// Accepted mails whose send record has not come through the stream yet (a record the notifier
/// failed to write never comes): the oldest are forgotten past this many.
const UNRECORDED_KEPT: usize = 1_000;

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

/// SES with the mailbox behind it: what SES accepted is kept under its message id.
pub(crate) struct Recorded {
    pub(crate) ses: SesMailer,
    pub(crate) mailbox: Arc<Mailbox>,
}

#[async_trait]
impl Mailer for Recorded {
    async fn send(&self, mail: &OutgoingMail) -> Result<String, MailError> {
        let message_id = self.ses.send(mail).await?;
        self.mailbox.accepted(&message_id, mail);
        Ok(message_id)
    }
}

/// One listed mail: `{"to", "subject", "text", "html", "template", "event_id", "merchant_id",
/// "message_id", "sent_at"}`.
#[derive(Debug, Clone, Serialize)]
pub struct Mail {
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub template: String,
    pub event_id: String,
    pub merchant_id: String,
    pub message_id: String,
    pub sent_at: Option<DateTime<Utc>>,
}

/// `GET /_local/mail` filters: `to` (one recipient, any case), `merchant_id`, and `limit` (the
/// newest that many).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailFilter {
    pub to: Option<String>,
    pub merchant_id: Option<String>,
    pub limit: Option<usize>,
}

/// The mails this stack's notifier sent, by position, with indexes by recipient and merchant.
pub struct Mailbox {
    state: Mutex<Kept>,
    capacity: usize,
}

impl Default for Mailbox {
    fn default() -> Self {
        Self::with_capacity(MAILS_KEPT)
    }
}

#[derive(Default)]
struct Kept {
    /// Accepted by SES, send record not seen yet (message id → mail).
    unrecorded: HashMap<String, OutgoingMail>,
    unrecorded_order: VecDeque<String>,
    mails: BTreeMap<u64, Mail>,
    next: u64,
    by_event: HashMap<String, u64>,
    by_recipient: HashMap<String, VecDeque<u64>>,
    by_merchant: HashMap<String, VecDeque<u64>>,
}

impl Mailbox {
    /// A mailbox that keeps the newest `capacity` mails.
    pub fn with_capacity(capacity: usize) -> Self {
        Self { state: Mutex::default(), capacity }
    }

    fn accepted(&self, message_id: &str, mail: &OutgoingMail) {
        let mut kept = self.state.lock().unwrap_or_else(|e| e.into_inner());
        kept.unrecorded.insert(message_id.to_owned(), mail.clone());
        kept.unrecorded_order.push_back(message_id.to_owned());
        while kept.unrecorded_order.len() > UNRECORDED_KEPT {
            if let Some(old) = kept.unrecorded_order.pop_front() {
                kept.unrecorded.remove(&old);
            }
        }
    }

    /// A send record from the stream: listed once it is `sent` and SES's mail is known.
    fn record(&self, record: &StreamRecord) {
        if record.string("entity") != Some("mail") || record.string("status") != Some("sent") {
            return;
        }
        let (Some(message_id), Some(event_id)) = (record.string("message_id"), record.string("event_id")) else { return };
        let mut kept = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if kept.by_event.contains_key(event_id) {
            return;
        }
        let Some(sent) = kept.unrecorded.remove(message_id) else { return };
        kept.unrecorded_order.retain(|id| id != message_id);
        let mail = Mail {
            to: sent.to,
            subject: sent.subject,
            // The HTML part read as text, as the list has always shown it (the tests read it).
            text: html_to_text(&sent.html),
            html: sent.html,
            template: record.string("template").unwrap_or_default().to_owned(),
            event_id: event_id.to_owned(),
            merchant_id: record.string("merchant_id").unwrap_or_default().to_owned(),
            message_id: message_id.to_owned(),
            sent_at: record.string("sent_at").and_then(|t| t.parse().ok()),
        };
        let position = kept.next;
        kept.next += 1;
        kept.by_event.insert(mail.event_id.clone(), position);
        for to in &mail.to {
            kept.by_recipient.entry(to.to_lowercase()).or_default().push_back(position);
        }
        kept.by_merchant.entry(mail.merchant_id.clone()).or_default().push_back(position);
        kept.mails.insert(position, mail);
        while kept.mails.len() > self.capacity {
            let Some((_, old)) = kept.mails.pop_first() else { break };
            kept.by_event.remove(&old.event_id);
            for to in &old.to {
                drop_position(&mut kept.by_recipient, &to.to_lowercase());
            }
            drop_position(&mut kept.by_merchant, &old.merchant_id);
        }
    }

    /// The mails that pass `filter`, oldest first (by `sent_at`, then as they came).
    pub fn list(&self, filter: &MailFilter) -> Vec<Mail> {
        let kept = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let positions: Vec<u64> = match (&filter.to, &filter.merchant_id) {
            (Some(to), _) => kept.by_recipient.get(&to.trim().to_lowercase()).map(|p| p.iter().copied().collect()).unwrap_or_default(),
            (None, Some(merchant)) => kept.by_merchant.get(merchant).map(|p| p.iter().copied().collect()).unwrap_or_default(),
            (None, None) => kept.mails.keys().copied().collect(),
        };
        let mut mails: Vec<Mail> =
            positions.iter().filter_map(|p| kept.mails.get(p)).filter(|m| filter.merchant_id.as_ref().is_none_or(|id| &m.merchant_id == id)).cloned().collect();
        drop(kept);
        mails.sort_by_key(|m| m.sent_at);
        crate::events::newest(mails, filter.limit)
    }
}

/// Forgets the oldest position listed under `key` (positions are dropped oldest first).
fn drop_position(index: &mut HashMap<String, VecDeque<u64>>, key: &str) {
    if let Some(positions) = index.get_mut(key) {
        positions.pop_front();
        if positions.is_empty() {
            index.remove(key);
        }
    }
}

impl StreamObserver for Mailbox {
    fn observe(&self, records: &[StreamRecord]) {
        for record in records {
            self.record(record);
        }
    }
}

#[derive(Clone)]
struct Listing {
    mailbox: Arc<Mailbox>,
    stream: Option<Arc<StreamPoller>>,
}

/// `GET /_local/mail`.
pub fn router(mailbox: Arc<Mailbox>, stream: Option<Arc<StreamPoller>>) -> Router {
    Router::new().route("/_local/mail", get(list)).with_state(Listing { mailbox, stream })
}

async fn list(State(listing): State<Listing>, LocalQuery(filter): LocalQuery<MailFilter>) -> impl IntoResponse {
    // The send records written so far come through the stream first (a mail a handler sent
    // before this request is listed).
    if let Some(stream) = &listing.stream {
        stream.settled().await;
    }
    axum::Json(listing.mailbox.list(&filter))
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

    fn outgoing(to: &[&str], subject: &str) -> OutgoingMail {
        OutgoingMail {
            to: to.iter().map(|a| (*a).to_owned()).collect(),
            subject: subject.into(),
            text: String::new(),
            html: format!("<p>{subject} &amp; text</p>"),
        }
    }

    /// A send record as the stream brings it.
    fn record(event_id: &str, merchant: &str, status: &str, message_id: &str, sent_at: &str) -> StreamRecord {
        let s = |v: &str| serde_json::json!({"S": v});
        serde_json::from_value(serde_json::json!({
            "eventName": "MODIFY",
            "dynamodb": {"SequenceNumber": "1", "NewImage": {
                "entity": s("mail"), "event_id": s(event_id), "merchant_id": s(merchant), "template": s("auto_renew_locked"),
                "status": s(status), "message_id": s(message_id), "sent_at": s(sent_at)}}
        }))
        .unwrap()
    }

    fn sent(mailbox: &Mailbox, event_id: &str, merchant: &str, to: &[&str], sent_at: &str) {
        let message_id = format!("msg-{event_id}");
        mailbox.accepted(&message_id, &outgoing(to, event_id));
        mailbox.observe(&[record(event_id, merchant, "sent", &message_id, sent_at)]);
    }

    fn events(mails: Vec<Mail>) -> Vec<String> {
        mails.into_iter().map(|m| m.event_id).collect()
    }

    #[test]
    fn mails_are_listed_by_recipient_and_merchant_once_their_record_says_sent() {
        let mailbox = Mailbox::default();
        // Accepted by SES, its record still `sending`: not listed yet.
        mailbox.accepted("msg-a", &outgoing(&["Ming@Example.com"], "a"));
        mailbox.observe(&[record("a", "m1", "sending", "msg-a", "2026-01-01T00:00:01Z")]);
        assert!(mailbox.list(&MailFilter::default()).is_empty());
        mailbox.observe(&[record("a", "m1", "sent", "msg-a", "2026-01-01T00:00:01Z")]);
        sent(&mailbox, "b", "m2", &["ap@example.com", "ming@example.com"], "2026-01-01T00:00:03Z");
        sent(&mailbox, "c", "m1", &["ap@example.com"], "2026-01-01T00:00:02Z");
        // A record read again (the stream is read from its start after an error): listed once.
        mailbox.observe(&[record("a", "m1", "sent", "msg-a", "2026-01-01T00:00:01Z")]);

        let filter = |to: Option<&str>, merchant: Option<&str>, limit: Option<usize>| MailFilter {
            to: to.map(str::to_owned),
            merchant_id: merchant.map(str::to_owned),
            limit,
        };
        assert_eq!(events(mailbox.list(&filter(None, None, None))), ["a", "c", "b"], "oldest first by sent_at");
        assert_eq!(events(mailbox.list(&filter(Some(" MING@example.com"), None, None))), ["a", "b"]);
        assert_eq!(events(mailbox.list(&filter(Some("ap@example.com"), Some("m1"), None))), ["c"]);
        assert_eq!(events(mailbox.list(&filter(None, Some("m1"), None))), ["a", "c"]);
        assert_eq!(events(mailbox.list(&filter(None, Some("m1"), Some(1)))), ["c"]);
        assert!(mailbox.list(&filter(Some("nobody@example.com"), None, None)).is_empty());
        let a = mailbox.list(&filter(None, None, Some(3))).remove(0);
        assert_eq!(
            (a.to, a.subject, a.text, a.template),
            (vec!["Ming@Example.com".to_owned()], "a".to_owned(), "a & text".to_owned(), "auto_renew_locked".to_owned())
        );
        // A record whose mail SES never accepted here (another stack's, another process's).
        mailbox.observe(&[record("d", "m1", "sent", "msg-unknown", "2026-01-01T00:00:04Z")]);
        assert_eq!(mailbox.list(&MailFilter::default()).len(), 3);
    }

    #[test]
    fn the_oldest_mails_go_first_past_the_capacity() {
        let mailbox = Mailbox::with_capacity(2);
        for (i, event) in ["a", "b", "c"].iter().enumerate() {
            sent(&mailbox, event, "m1", &["ming@example.com"], &format!("2026-01-01T00:00:0{i}Z"));
        }
        assert_eq!(events(mailbox.list(&MailFilter::default())), ["b", "c"]);
        let to = MailFilter { to: Some("ming@example.com".into()), ..MailFilter::default() };
        assert_eq!(events(mailbox.list(&to)), ["b", "c"]);
        let kept = mailbox.state.lock().unwrap();
        assert_eq!((kept.by_event.len(), kept.by_recipient["ming@example.com"].len(), kept.by_merchant["m1"].len()), (2, 2, 2));
    }

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
