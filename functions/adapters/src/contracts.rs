//! Every event the functions publish on the bus, typed: the producers build these structs and
//! the consumers (the notifier, the bus's rules, whoever subscribes) read the same structs, so
//! a field one side renames is a build error on the other. The JSON they serialize to is the
//! events' documented shape (docs/renewal.md §5, docs/invoices.md).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use einvoice_domain::buyer::mask_carrier_id;
use einvoice_domain::{CarrierKind, InvoicePeriod, PrizeKind, SuspendReason};

use crate::config::WixtarContact;
use crate::events::DomainEvent;
use crate::store::{PlanOrderItem, PlanOrderStatus};

/// The `detail-type` of each event (the bus's rules match on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DetailType {
    /// A plan order was paid (購買 / 續購).
    PlanPurchased,
    /// The renewal-charge job renewed a plan (自動續約).
    PlanRenewed,
    /// Wixtar accepted an invoice's upload (開立上傳).
    InvoiceIssued,
    /// An e-mail to the merchant (通知信); the notifier's rule.
    MerchantNotification,
}

impl DetailType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PlanPurchased => "PlanPurchased",
            Self::PlanRenewed => "PlanRenewed",
            Self::InvoiceIssued => "InvoiceIssued",
            Self::MerchantNotification => "MerchantNotification",
        }
    }
}

/// One event of the contract: its detail type and a stable `event_id` consumers dedupe by.
pub trait Contract: Serialize {
    const DETAIL_TYPE: DetailType;

    /// The event as published.
    fn to_event(&self) -> DomainEvent {
        DomainEvent::new(Self::DETAIL_TYPE.as_str(), serde_json::to_value(self).expect("contract events serialize"))
    }
}

/// A plan order as events and views show it (never its contact's or card's secrets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanOrderSummary {
    pub order_id: String,
    /// `purchase` or `renewal`.
    pub kind: String,
    pub months: u32,
    pub bonus_months: u32,
    pub amount: u64,
    pub currency: String,
    pub status: PlanOrderStatus,
    /// `atm` or `card`.
    pub payment_method: String,
    pub auto_renew: bool,
    /// The gateway's payment instructions (virtual account, or the card page).
    pub payment: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
}

impl From<&PlanOrderItem> for PlanOrderSummary {
    fn from(o: &PlanOrderItem) -> Self {
        Self {
            order_id: o.order_id.clone(),
            kind: o.kind.clone(),
            months: o.months,
            bonus_months: o.bonus_months,
            amount: o.amount,
            currency: o.currency.clone(),
            status: o.status,
            payment_method: o.payment_method.clone(),
            auto_renew: o.auto_renew,
            payment: o.payment.clone(),
            created_at: o.created_at,
            paid_at: o.paid_at,
        }
    }
}

/// `PlanPurchased`: a plan order was paid and the usage period (使用期限) set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanPurchased {
    pub event_id: String,
    pub merchant_id: String,
    #[serde(flatten)]
    pub order: PlanOrderSummary,
    pub starts_on: Option<NaiveDate>,
    pub expires_on: Option<NaiveDate>,
}

impl Contract for PlanPurchased {
    const DETAIL_TYPE: DetailType = DetailType::PlanPurchased;
}

/// `PlanRenewed`: the renewal-charge job charged the card and extended the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanRenewed {
    pub event_id: String,
    pub merchant_id: String,
    /// The expiry the renewal extended.
    pub cycle: NaiveDate,
    pub attempt: u32,
    pub months: u32,
    pub amount: u64,
    pub currency: String,
    pub expires_on: NaiveDate,
}

impl Contract for PlanRenewed {
    const DETAIL_TYPE: DetailType = DetailType::PlanRenewed;
}

/// `InvoiceIssued`: Wixtar accepted the upload of an order's invoice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvoiceIssued {
    pub event_id: String,
    pub merchant_id: String,
    pub order_id: String,
    pub number: String,
    pub total: u64,
    pub issued_at: DateTime<Utc>,
}

impl Contract for InvoiceIssued {
    const DETAIL_TYPE: DetailType = DetailType::InvoiceIssued;
}

/// How a notification reaches the merchant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    #[default]
    Email,
}

/// `MerchantNotification`: one e-mail (通知信), sent once per `event_id`: to the merchant, or
/// for the buyer notices ([`Template::audience`] = [`Audience::Buyer`]) to the buyer, whose
/// address the publisher puts in `to`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MerchantNotification {
    pub event_id: String,
    pub merchant_id: String,
    #[serde(default)]
    pub channel: Channel,
    /// Recipients the publisher knew (plan-checkout: the order's contact; a buyer notice: the
    /// buyer's `order.buyer.email`, required); empty: the notifier finds the merchant's contact.
    #[serde(default, deserialize_with = "one_or_many", serialize_with = "one_or_many_out", skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_name: Option<String>,
    #[serde(flatten)]
    pub template: Template,
}

impl Contract for MerchantNotification {
    const DETAIL_TYPE: DetailType = DetailType::MerchantNotification;
}

/// The mails, by `template`, with the facts each states.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "template", rename_all = "snake_case")]
pub enum Template {
    /// 購買完成 (plan-checkout, first purchase).
    WixtarPurchaseConfirmation(PlanPaid),
    /// 續購完成 (plan-checkout, a renewal bought at checkout).
    WixtarRenewalConfirmation(PlanPaid),
    /// 自動續約鎖定 at T-15 (renewal-cutoff).
    AutoRenewLocked(RenewalLocked),
    /// 自動續約扣款成功 (renewal-charge).
    AutoRenewSucceeded(RenewalSucceeded),
    /// 自動續約扣款失敗, tried again later (renewal-charge).
    AutoRenewDeclined(RenewalDeclined),
    /// 自動續約暫停 (renewal-charge).
    AutoRenewSuspended(RenewalSuspended),
    /// 字軌用完 (invoice-issuer).
    NoInvoiceNumbers(NoInvoiceNumbers),
    /// 電子發票開立通知, to the buyer, once Wixtar accepted the upload.
    InvoiceIssued(InvoiceIssuedNotice),
    /// 電子發票作廢通知, to the buyer, once the void is accepted.
    InvoiceVoided(InvoiceVoidedNotice),
    /// 折讓通知, to the buyer, once the allowance is accepted.
    AllowanceIssued(AllowanceIssuedNotice),
    /// 中獎通知, to a member-carrier winner: the shop prints and sends the winning proof.
    InvoiceWon(InvoiceWonNotice),
    /// 中獎發票待列印, to the merchant's contact: the winning proofs to print and send.
    PrizesToPrint(PrizesToPrint),
}

/// Who a template is written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The merchant's contact (found by the notifier when `to` is empty).
    Merchant,
    /// The shop's buyer: `to` is the buyer's address, set by the publisher; no merchant data is read.
    Buyer,
}

impl Template {
    /// The `template` name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::WixtarPurchaseConfirmation(_) => "wixtar_purchase_confirmation",
            Self::WixtarRenewalConfirmation(_) => "wixtar_renewal_confirmation",
            Self::AutoRenewLocked(_) => "auto_renew_locked",
            Self::AutoRenewSucceeded(_) => "auto_renew_succeeded",
            Self::AutoRenewDeclined(_) => "auto_renew_declined",
            Self::AutoRenewSuspended(_) => "auto_renew_suspended",
            Self::NoInvoiceNumbers(_) => "no_invoice_numbers",
            Self::InvoiceIssued(_) => "invoice_issued",
            Self::InvoiceVoided(_) => "invoice_voided",
            Self::AllowanceIssued(_) => "allowance_issued",
            Self::InvoiceWon(_) => "invoice_won",
            Self::PrizesToPrint(_) => "prizes_to_print",
        }
    }

    /// Who the mail is written to.
    pub fn audience(&self) -> Audience {
        match self {
            Self::InvoiceIssued(_) | Self::InvoiceVoided(_) | Self::AllowanceIssued(_) | Self::InvoiceWon(_) => Audience::Buyer,
            Self::WixtarPurchaseConfirmation(_)
            | Self::WixtarRenewalConfirmation(_)
            | Self::AutoRenewLocked(_)
            | Self::AutoRenewSucceeded(_)
            | Self::AutoRenewDeclined(_)
            | Self::AutoRenewSuspended(_)
            | Self::NoInvoiceNumbers(_)
            | Self::PrizesToPrint(_) => Audience::Merchant,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanPaid {
    pub order_id: String,
    pub wixtar_contact: WixtarContact,
    #[serde(default)]
    pub starts_on: Option<NaiveDate>,
    #[serde(default)]
    pub expires_on: Option<NaiveDate>,
    #[serde(default)]
    pub months: Option<u32>,
    #[serde(default)]
    pub bonus_months: Option<u32>,
    #[serde(default)]
    pub amount: Option<u64>,
    #[serde(default = "twd")]
    pub currency: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenewalLocked {
    /// The expiry the coming renewal extends.
    pub cycle: NaiveDate,
    pub locked_from: NaiveDate,
    pub charge_on: NaiveDate,
    pub months: u32,
    pub amount: u64,
    #[serde(default = "twd")]
    pub currency: String,
    #[serde(default)]
    pub card_last4: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenewalSucceeded {
    pub months: u32,
    pub amount: u64,
    #[serde(default = "twd")]
    pub currency: String,
    pub expires_on: NaiveDate,
    #[serde(default)]
    pub card_last4: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenewalDeclined {
    pub cycle: NaiveDate,
    pub attempt: u32,
    pub next_attempt_on: NaiveDate,
    #[serde(default)]
    pub amount: Option<u64>,
    #[serde(default = "twd")]
    pub currency: String,
    #[serde(default)]
    pub card_last4: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenewalSuspended {
    pub cycle: NaiveDate,
    #[serde(default)]
    pub attempt: Option<u32>,
    pub reason: SuspendReason,
    #[serde(default)]
    pub expires_on: Option<NaiveDate>,
    #[serde(default)]
    pub card_last4: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoInvoiceNumbers {
    pub period: String,
    #[serde(default)]
    pub order_id: Option<String>,
    /// What the merchant should do, in Chinese and English.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The seller (賣方) and the invoice a buyer notice is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoticeInvoice {
    pub order_id: String,
    /// 賣方名稱 (the company name of the merchant's settings).
    pub seller_name: String,
    /// 賣方統一編號.
    pub seller_ubn: String,
    /// 發票號碼, e.g. `UA00000057`.
    pub number: String,
    pub issued_at: DateTime<Utc>,
}

/// A carrier id that only ever holds its masked form ([`mask_carrier_id`]): masked when built
/// and again when read from an event, so a full id can never reach a mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub struct MaskedCarrierId(String);

impl MaskedCarrierId {
    pub fn new(id: &str) -> Self {
        Self(mask_carrier_id(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for MaskedCarrierId {
    fn from(id: String) -> Self {
        Self::new(&id)
    }
}

impl From<MaskedCarrierId> for String {
    fn from(id: MaskedCarrierId) -> Self {
        id.0
    }
}

/// Where an invoice went (發票去向), as the buyer is told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum InvoiceDestination {
    /// 存入載具 (the id masked).
    Carrier { carrier: CarrierKind, id: MaskedCarrierId },
    /// 捐贈 to the charity of `love_code`.
    Donated { love_code: String },
    /// 紙本電子發票證明聯, printed by the shop.
    Paper,
}

/// `invoice_issued` (電子發票開立通知).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvoiceIssuedNotice {
    #[serde(flatten)]
    pub invoice: NoticeInvoice,
    /// 隨機碼 (4 digits).
    pub random_code: String,
    /// 總計 (NT$).
    pub total: u64,
    pub destination: InvoiceDestination,
}

/// `invoice_voided` (電子發票作廢通知).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvoiceVoidedNotice {
    #[serde(flatten)]
    pub invoice: NoticeInvoice,
    pub total: u64,
    pub voided_at: DateTime<Utc>,
}

/// `allowance_issued` (折讓通知).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllowanceIssuedNotice {
    #[serde(flatten)]
    pub invoice: NoticeInvoice,
    /// 折讓單號碼.
    pub allowance_number: String,
    /// 折讓金額 (NT$, tax included).
    pub amount: u64,
    pub allowance_issued_at: DateTime<Utc>,
}

/// `invoice_won` (中獎通知). The claim window follows from `period` (`einvoice_domain::prize`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvoiceWonNotice {
    #[serde(flatten)]
    pub invoice: NoticeInvoice,
    pub period: InvoicePeriod,
    pub kind: PrizeKind,
    /// NT$, from MOF's list.
    pub amount: u64,
}

/// One winning proof the merchant prints and sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrizeToPrint {
    pub order_id: String,
    pub number: String,
    pub kind: PrizeKind,
    pub amount: u64,
}

/// `prizes_to_print` (中獎發票待列印): the merchant's member-carrier winners of a period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrizesToPrint {
    pub period: InvoicePeriod,
    pub prizes: Vec<PrizeToPrint>,
}

fn twd() -> String {
    "TWD".into()
}

/// One recipient as a string (the shape the publishers have always written), several as a list.
fn one_or_many_out<S: serde::Serializer>(to: &[String], s: S) -> Result<S::Ok, S::Error> {
    match to {
        [one] => s.serialize_str(one),
        many => many.serialize(s),
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(a)) => vec![a],
        Some(OneOrMany::Many(v)) => v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(n: &MerchantNotification) {
        let event = n.to_event();
        assert_eq!(event.detail_type, "MerchantNotification");
        assert_eq!(event.detail["template"], n.template.name());
        assert_eq!(event.detail["channel"], "email");
        let back: MerchantNotification = serde_json::from_value(event.detail).unwrap();
        assert_eq!(&back, n);
    }

    #[test]
    fn every_template_round_trips_with_its_name() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let templates = [
            Template::WixtarPurchaseConfirmation(PlanPaid {
                order_id: "po_1".into(),
                wixtar_contact: WixtarContact::default(),
                starts_on: Some(d("2026-01-31")),
                expires_on: Some(d("2027-03-30")),
                months: Some(12),
                bonus_months: Some(2),
                amount: Some(12000),
                currency: "TWD".into(),
            }),
            Template::AutoRenewLocked(RenewalLocked {
                cycle: d("2027-06-29"),
                locked_from: d("2027-06-15"),
                charge_on: d("2027-06-19"),
                months: 3,
                amount: 1800,
                currency: "TWD".into(),
                card_last4: Some("4242".into()),
            }),
            Template::AutoRenewSuspended(RenewalSuspended {
                cycle: d("2027-06-29"),
                attempt: Some(3),
                reason: SuspendReason::DeclinedHard,
                expires_on: None,
                card_last4: None,
            }),
            Template::NoInvoiceNumbers(NoInvoiceNumbers { period: "11512".into(), order_id: Some("A1".into()), message: None }),
            Template::InvoiceIssued(InvoiceIssuedNotice {
                invoice: notice_invoice(),
                random_code: "0122".into(),
                total: 1050,
                destination: InvoiceDestination::Carrier { carrier: CarrierKind::Member, id: MaskedCarrierId::new("member#42@shop") },
            }),
            Template::InvoiceVoided(InvoiceVoidedNotice { invoice: notice_invoice(), total: 1050, voided_at: notice_invoice().issued_at }),
            Template::AllowanceIssued(AllowanceIssuedNotice {
                invoice: notice_invoice(),
                allowance_number: "UA00000057-1".into(),
                amount: 300,
                allowance_issued_at: notice_invoice().issued_at,
            }),
            Template::InvoiceWon(InvoiceWonNotice { invoice: notice_invoice(), period: "11510".parse().unwrap(), kind: PrizeKind::Sixth, amount: 200 }),
            Template::PrizesToPrint(PrizesToPrint {
                period: "11510".parse().unwrap(),
                prizes: vec![PrizeToPrint { order_id: "A1".into(), number: "UA00000057".into(), kind: PrizeKind::Cloud, amount: 500 }],
            }),
        ];
        for template in templates {
            round_trip(&MerchantNotification {
                event_id: "e1".into(),
                merchant_id: "m1".into(),
                channel: Channel::Email,
                to: vec!["ap@example.com.tw".into()],
                contact_name: Some("王小明".into()),
                template,
            });
        }
    }

    fn notice_invoice() -> NoticeInvoice {
        NoticeInvoice {
            order_id: "A1".into(),
            seller_name: "小明商行".into(),
            seller_ubn: "04595257".into(),
            number: "UA00000057".into(),
            issued_at: DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
        }
    }

    #[test]
    fn buyer_notices_are_for_the_buyer_and_carry_only_a_masked_carrier_id() {
        let issued = Template::InvoiceIssued(InvoiceIssuedNotice {
            invoice: notice_invoice(),
            random_code: "0122".into(),
            total: 1050,
            destination: InvoiceDestination::Carrier { carrier: CarrierKind::Mobile, id: MaskedCarrierId::new("/ABC1234") },
        });
        assert_eq!(issued.audience(), Audience::Buyer);
        let detail = serde_json::to_value(&issued).unwrap();
        assert_eq!(detail["destination"], serde_json::json!({"kind": "carrier", "carrier": "mobile", "id": "******34"}));
        assert_eq!((detail["number"].as_str(), detail["seller_ubn"].as_str()), (Some("UA00000057"), Some("04595257")));
        // A publisher that put the full id in the event still has it masked when it is read.
        let mut leaked = detail.clone();
        leaked["destination"]["id"] = "/ABC1234".into();
        let read: Template = serde_json::from_value(leaked).unwrap();
        assert_eq!(read, issued);
        let prizes = Template::PrizesToPrint(PrizesToPrint { period: "11510".parse().unwrap(), prizes: vec![] });
        assert_eq!(prizes.audience(), Audience::Merchant);
        assert!(serde_json::from_value::<Template>(serde_json::json!({"template": "prizes_to_print", "period": "11511", "prizes": []})).is_err());
    }

    #[test]
    fn a_single_recipient_and_defaults_are_read() {
        let n: MerchantNotification = serde_json::from_value(serde_json::json!({
            "event_id": "e", "merchant_id": "m", "template": "no_invoice_numbers", "period": "11512", "to": "a@b.tw"
        }))
        .unwrap();
        assert_eq!((n.to, n.channel), (vec!["a@b.tw".to_owned()], Channel::Email));
        assert!(serde_json::from_value::<MerchantNotification>(serde_json::json!({"event_id": "e", "merchant_id": "m", "template": "birthday"})).is_err());
    }

    #[test]
    fn other_events_carry_their_detail_type() {
        let issued = InvoiceIssued {
            event_id: "m:o:invoice-issued".into(),
            merchant_id: "m".into(),
            order_id: "o".into(),
            number: "UA00000057".into(),
            total: 1050,
            issued_at: DateTime::from_timestamp(1_790_000_000, 0).unwrap(),
        };
        let event = issued.to_event();
        assert_eq!((event.detail_type.as_str(), event.detail["number"].as_str()), ("InvoiceIssued", Some("UA00000057")));
        assert_eq!(serde_json::from_value::<InvoiceIssued>(event.detail).unwrap(), issued);
    }
}
