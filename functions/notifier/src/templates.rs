//! The merchant e-mails (通知信), in Traditional Chinese: each `MerchantNotification` template
//! parsed from its event into a typed notification, then rendered into a subject, a plain-text
//! part and an HTML part by askama templates (`templates/*.txt`, `templates/*.html`), which are
//! compiled with the crate: a field a template names that the view lacks is a build error.
//! The buyer notices (電子發票開立、作廢、折讓、中獎通知) are written to the shop's buyer, with
//! the seller's name in the subject; a carrier id only ever appears masked. Pure: no I/O.

use askama::Template;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use einvoice_adapters::config::WixtarContact;
use einvoice_adapters::contracts::{
    AllowanceIssuedNotice, Audience, InvoiceDestination, InvoiceIssuedNotice, InvoiceVoidedNotice, InvoiceWonNotice, MerchantNotification, NoticeInvoice,
    PlanPaid, PrizesToPrint, Template as Kind,
};
use einvoice_domain::proof_sheet;
use einvoice_domain::{CarrierKind, InvoiceNumber, PrizeKind, SuspendReason, taipei_date};
use serde::Deserialize;

/// A rendered mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

const SUBJECT_PREFIX: &str = "【美麗科技電子發票】";

/// Parses a `MerchantNotification` event's detail (the contract every publisher writes).
pub fn parse(detail: &serde_json::Value) -> Result<MerchantNotification, serde_json::Error> {
    MerchantNotification::deserialize(detail)
}

/// Mails about invoices also go to the company's invoice e-mail.
pub fn concerns_invoices(n: &MerchantNotification) -> bool {
    matches!(n.template, Kind::NoInvoiceNumbers(_))
}

/// Subject, text and HTML; `name` is the contact's (or the buyer's) name for the greeting.
pub fn render(n: &MerchantNotification, name: Option<&str>) -> askama::Result<Rendered> {
    let greeting = match (name.map(str::trim).filter(|n| !n.is_empty()), n.template.audience()) {
        (Some(n), _) => format!("{n} 您好："),
        (None, Audience::Merchant) => "商家您好：".to_owned(),
        (None, Audience::Buyer) => "親愛的顧客您好：".to_owned(),
    };
    match &n.template {
        Kind::WixtarPurchaseConfirmation(p) => {
            plan_paid(greeting, p, true).finish(format!("方案購買完成，美麗科技將與您聯繫開通（使用期限至 {}）", date_or(p.expires_on)))
        }
        Kind::WixtarRenewalConfirmation(p) => plan_paid(greeting, p, false).finish(format!("方案續購完成，使用期限延長至 {}", date_or(p.expires_on))),
        Kind::AutoRenewLocked(l) => LockedMail {
            greeting,
            charge_on: date(l.charge_on),
            amount: twd(l.amount),
            months: l.months,
            card: card(l.card_last4.as_deref()),
            expires_on: date(l.cycle),
            cancel_deadline: date(l.locked_from.pred_opt().unwrap_or(l.locked_from)),
        }
        .finish(format!("自動續約將於 {} 扣款 {}", date(l.charge_on), twd(l.amount))),
        Kind::AutoRenewSucceeded(s) => {
            SucceededMail { greeting, months: s.months, amount: twd(s.amount), expires_on: date(s.expires_on), card: card(s.card_last4.as_deref()) }
                .finish(format!("自動續約扣款成功，使用期限延長至 {}", date(s.expires_on)))
        }
        Kind::AutoRenewDeclined(d) => DeclinedMail {
            greeting,
            attempt: d.attempt,
            next_attempt_on: date(d.next_attempt_on),
            amount: d.amount.map(twd).unwrap_or_default(),
            card: card(d.card_last4.as_deref()),
            expires_on: date(d.cycle),
        }
        .finish(format!("自動續約扣款失敗，將於 {} 再次扣款", date(d.next_attempt_on))),
        Kind::AutoRenewSuspended(s) => SuspendedMail {
            greeting,
            reason: suspend_reason(s.reason).to_owned(),
            expires_on: date(s.expires_on.unwrap_or(s.cycle)),
            card: card(s.card_last4.as_deref()),
        }
        .finish("自動續約已暫停".to_owned()),
        Kind::NoInvoiceNumbers(n) => NoNumbersMail { greeting, period: period_label(&n.period), order_id: n.order_id.clone().unwrap_or_default() }
            .finish("電子發票字軌已用完，請儘速新增".to_owned()),
        Kind::InvoiceIssued(i) => issued(greeting, i),
        Kind::InvoiceVoided(v) => voided(greeting, v),
        Kind::AllowanceIssued(a) => allowance(greeting, a),
        Kind::InvoiceWon(w) => won(greeting, w),
        Kind::PrizesToPrint(p) => prizes_to_print(greeting, p),
    }
}

/// The facts every buyer notice states about the invoice and its seller.
struct InvoiceFacts {
    order_id: String,
    seller_name: String,
    seller_ubn: String,
    /// `UA-00000057`, as printed on the proof.
    number: String,
    /// The Taipei issue date.
    date: String,
}

impl InvoiceFacts {
    fn of(i: &NoticeInvoice) -> Self {
        Self {
            order_id: i.order_id.clone(),
            seller_name: i.seller_name.clone(),
            seller_ubn: i.seller_ubn.clone(),
            number: number_label(&i.number),
            date: taipei_day(i.issued_at),
        }
    }

    /// `【小明商行】{what} UA-00000057`: the buyer knows the shop, not the e-invoice service.
    fn subject(&self, what: &str) -> (String, String) {
        (format!("【{}】", self.seller_name), format!("{what} {}", self.number))
    }
}

/// `UA00000057` → `UA-00000057`; anything else as it is.
fn number_label(number: &str) -> String {
    InvoiceNumber::parse(number).map(|n| proof_sheet::number_label(&n)).unwrap_or_else(|_| number.to_owned())
}

fn taipei_day(at: DateTime<Utc>) -> String {
    date(taipei_date(at))
}

/// Where the invoice went, in words, and what the buyer should know about it.
fn destination(d: &InvoiceDestination) -> (String, &'static str) {
    match d {
        InvoiceDestination::Carrier { carrier, id } => {
            let kind = match carrier {
                CarrierKind::Mobile => "手機條碼載具",
                CarrierKind::Certificate => "自然人憑證載具",
                CarrierKind::Member => "會員載具",
            };
            (format!("{kind}（{}）", id.as_str()), "發票已存入您的載具，不另列印紙本。中獎時將依規定通知您。")
        }
        InvoiceDestination::Donated { love_code } => (format!("捐贈（愛心碼 {love_code}）"), "感謝您的愛心，發票已捐贈給受捐贈機構。"),
        InvoiceDestination::Paper => ("紙本電子發票證明聯".to_owned(), "電子發票證明聯將隨商品交付，請妥善保管以便對獎。"),
    }
}

fn issued(greeting: String, i: &InvoiceIssuedNotice) -> askama::Result<Rendered> {
    let facts = InvoiceFacts::of(&i.invoice);
    let (prefix, subject) = facts.subject("電子發票開立通知");
    let (destination, destination_note) = destination(&i.destination);
    IssuedMail { greeting, facts, random_code: i.random_code.clone(), total: twd(i.total), destination, destination_note }.finish_as(&prefix, subject)
}

fn voided(greeting: String, v: &InvoiceVoidedNotice) -> askama::Result<Rendered> {
    let facts = InvoiceFacts::of(&v.invoice);
    let (prefix, subject) = facts.subject("電子發票作廢通知");
    VoidedMail { greeting, facts, total: twd(v.total), voided_on: taipei_day(v.voided_at) }.finish_as(&prefix, subject)
}

fn allowance(greeting: String, a: &AllowanceIssuedNotice) -> askama::Result<Rendered> {
    let facts = InvoiceFacts::of(&a.invoice);
    let (prefix, subject) = facts.subject("折讓通知");
    AllowanceMail { greeting, facts, allowance_number: a.allowance_number.clone(), amount: twd(a.amount), allowance_date: taipei_day(a.allowance_issued_at) }
        .finish_as(&prefix, subject)
}

/// 獎別 with its amount when MOF names the prize by it (雲端發票專屬 500 元獎).
fn prize_name(kind: PrizeKind, amount: u64) -> String {
    match kind {
        PrizeKind::Cloud => format!("雲端發票專屬 {} 元獎", with_commas(amount)),
        other => other.label().to_owned(),
    }
}

fn won(greeting: String, w: &InvoiceWonNotice) -> askama::Result<Rendered> {
    let facts = InvoiceFacts::of(&w.invoice);
    let window = w.period.claim_window();
    let prize = prize_name(w.kind, w.amount);
    let (prefix, subject) = facts.subject(&format!("發票中獎通知（{prize}）"));
    WonMail {
        greeting,
        facts,
        period: proof_sheet::period_label(w.period),
        prize,
        amount: twd(w.amount),
        claim_from: date(window.first_day),
        claim_to: date(window.last_day),
    }
    .finish_as(&prefix, subject)
}

fn prizes_to_print(greeting: String, p: &PrizesToPrint) -> askama::Result<Rendered> {
    let window = p.period.claim_window();
    let prizes: Vec<PrizeLine> = p
        .prizes
        .iter()
        .map(|x| PrizeLine { number: number_label(&x.number), order_id: x.order_id.clone(), prize: prize_name(x.kind, x.amount), amount: twd(x.amount) })
        .collect();
    let period = proof_sheet::period_label(p.period);
    let subject = format!("{period} 中獎發票 {} 張，請列印中獎證明聯並寄送", prizes.len());
    PrizesMail { greeting, period, count: prizes.len(), prizes, claim_from: date(window.first_day), claim_to: date(window.last_day) }.finish(subject)
}

fn plan_paid(greeting: String, p: &PlanPaid, purchase: bool) -> PlanPaidMail {
    let plan = match (p.months, p.bonus_months) {
        (Some(m), Some(b)) if b > 0 => format!("{m} 個月（首購加贈 {b} 個月，共 {} 個月）", m + b),
        (Some(m), _) => format!("{m} 個月"),
        (None, _) => String::new(),
    };
    let period = match (p.starts_on, p.expires_on) {
        (Some(from), Some(to)) => format!("{} 至 {}", date(from), date(to)),
        (None, Some(to)) => format!("至 {}", date(to)),
        _ => String::new(),
    };
    PlanPaidMail {
        greeting,
        purchase,
        plan,
        amount: p.amount.map(twd).unwrap_or_default(),
        period,
        order_id: p.order_id.clone(),
        wixtar: p.wixtar_contact.clone(),
    }
}

/// `2027年3月30日`.
pub fn date(d: NaiveDate) -> String {
    format!("{}年{}月{}日", d.year(), d.month(), d.day())
}

fn date_or(d: Option<NaiveDate>) -> String {
    d.map(date).unwrap_or_else(|| "—".to_owned())
}

/// `NT$6,000`.
pub fn twd(amount: u64) -> String {
    format!("NT${}", with_commas(amount))
}

/// `6,000`.
fn with_commas(amount: u64) -> String {
    let digits = amount.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The bound card by its last 4 digits only (never more).
fn card(last4: Option<&str>) -> String {
    match last4.filter(|l| l.len() == 4 && l.chars().all(|c| c.is_ascii_digit())) {
        Some(l) => format!("信用卡（末四碼 {l}）"),
        None => "您綁定的信用卡".to_owned(),
    }
}

/// `11512` → `115年11-12月` (the bimonthly invoice period as printed on invoices).
pub fn period_label(period: &str) -> String {
    match einvoice_domain::InvoicePeriod::parse(period) {
        Ok(p) => format!("{}年{}-{}月", p.roc_year(), p.end_month() - 1, p.end_month()),
        Err(_) => period.to_owned(),
    }
}

fn suspend_reason(reason: SuspendReason) -> &'static str {
    match reason {
        SuspendReason::Declined => "信用卡多次扣款失敗",
        SuspendReason::DeclinedHard => "信用卡已失效或遭停用",
        SuspendReason::CardNotBound => "尚未綁定信用卡",
    }
}

/// A mail's view: its two askama templates and how it becomes a [`Rendered`].
trait MailView: Sized {
    fn text(&self) -> askama::Result<String>;
    fn html(&self) -> askama::Result<String>;

    fn finish(self, subject: String) -> askama::Result<Rendered> {
        self.finish_as(SUBJECT_PREFIX, subject)
    }

    fn finish_as(self, prefix: &str, subject: String) -> askama::Result<Rendered> {
        Ok(Rendered { subject: format!("{prefix}{subject}"), text: self.text()?, html: self.html()? })
    }
}

/// Declares a view's text and HTML templates (`templates/{name}.txt`, `templates/{name}.html`).
macro_rules! mail_view {
    ($view:ident, $text:ident = $text_path:literal, $html:ident = $html_path:literal) => {
        #[derive(Template)]
        #[template(path = $text_path)]
        struct $text<'a> {
            m: &'a $view,
        }

        #[derive(Template)]
        #[template(path = $html_path)]
        struct $html<'a> {
            m: &'a $view,
        }

        impl MailView for $view {
            fn text(&self) -> askama::Result<String> {
                $text { m: self }.render()
            }
            fn html(&self) -> askama::Result<String> {
                $html { m: self }.render()
            }
        }
    };
}

struct PlanPaidMail {
    greeting: String,
    purchase: bool,
    plan: String,
    amount: String,
    period: String,
    order_id: String,
    wixtar: WixtarContact,
}
mail_view!(PlanPaidMail, PlanPaidText = "plan_paid.txt", PlanPaidHtml = "plan_paid.html");

struct LockedMail {
    greeting: String,
    charge_on: String,
    amount: String,
    months: u32,
    card: String,
    expires_on: String,
    cancel_deadline: String,
}
mail_view!(LockedMail, LockedText = "auto_renew_locked.txt", LockedHtml = "auto_renew_locked.html");

struct SucceededMail {
    greeting: String,
    months: u32,
    amount: String,
    expires_on: String,
    card: String,
}
mail_view!(SucceededMail, SucceededText = "auto_renew_succeeded.txt", SucceededHtml = "auto_renew_succeeded.html");

struct DeclinedMail {
    greeting: String,
    attempt: u32,
    next_attempt_on: String,
    amount: String,
    card: String,
    expires_on: String,
}
mail_view!(DeclinedMail, DeclinedText = "auto_renew_declined.txt", DeclinedHtml = "auto_renew_declined.html");

struct SuspendedMail {
    greeting: String,
    reason: String,
    expires_on: String,
    card: String,
}
mail_view!(SuspendedMail, SuspendedText = "auto_renew_suspended.txt", SuspendedHtml = "auto_renew_suspended.html");

struct NoNumbersMail {
    greeting: String,
    period: String,
    order_id: String,
}
mail_view!(NoNumbersMail, NoNumbersText = "no_invoice_numbers.txt", NoNumbersHtml = "no_invoice_numbers.html");

/// The invoice facts, read by the templates as `m.number`, `m.seller_name`, …
macro_rules! invoice_facts {
    ($view:ident) => {
        impl std::ops::Deref for $view {
            type Target = InvoiceFacts;
            fn deref(&self) -> &InvoiceFacts {
                &self.facts
            }
        }
    };
}

struct IssuedMail {
    greeting: String,
    facts: InvoiceFacts,
    random_code: String,
    total: String,
    destination: String,
    destination_note: &'static str,
}
invoice_facts!(IssuedMail);
mail_view!(IssuedMail, IssuedText = "invoice_issued.txt", IssuedHtml = "invoice_issued.html");

struct VoidedMail {
    greeting: String,
    facts: InvoiceFacts,
    total: String,
    voided_on: String,
}
invoice_facts!(VoidedMail);
mail_view!(VoidedMail, VoidedText = "invoice_voided.txt", VoidedHtml = "invoice_voided.html");

struct AllowanceMail {
    greeting: String,
    facts: InvoiceFacts,
    allowance_number: String,
    amount: String,
    allowance_date: String,
}
invoice_facts!(AllowanceMail);
mail_view!(AllowanceMail, AllowanceText = "allowance_issued.txt", AllowanceHtml = "allowance_issued.html");

struct WonMail {
    greeting: String,
    facts: InvoiceFacts,
    period: String,
    prize: String,
    amount: String,
    claim_from: String,
    claim_to: String,
}
invoice_facts!(WonMail);
mail_view!(WonMail, WonText = "invoice_won.txt", WonHtml = "invoice_won.html");

struct PrizeLine {
    number: String,
    order_id: String,
    prize: String,
    amount: String,
}

struct PrizesMail {
    greeting: String,
    period: String,
    count: usize,
    prizes: Vec<PrizeLine>,
    claim_from: String,
    claim_to: String,
}
mail_view!(PrizesMail, PrizesText = "prizes_to_print.txt", PrizesHtml = "prizes_to_print.html");

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    /// Renders a detail as its publisher writes it (plus a card token that must never show).
    fn render(mut detail: Value, name: Option<&str>) -> Rendered {
        detail["event_id"] = "evt-1".into();
        detail["merchant_id"] = "m-1".into();
        detail["channel"] = "email".into();
        detail["card_token"] = "tok-SECRET-4111111111111111".into();
        let n = parse(&detail).expect("parses");
        let r = super::render(&n, name).expect("renders");
        for (part, text) in [("subject", &r.subject), ("text", &r.text), ("html", &r.html)] {
            assert!(!text.contains('{') && !text.contains('}'), "placeholder left in the {part}: {text}");
            assert!(!text.contains("SECRET") && !text.contains("4111111111111111"), "card token in the {part}");
            assert!(!text.contains("None") && !text.contains("—"), "missing value in the {part}: {text}");
        }
        match n.template.audience() {
            Audience::Merchant => assert!(r.subject.starts_with(SUBJECT_PREFIX)),
            // The buyer knows the shop: its name leads the subject.
            Audience::Buyer => assert!(r.subject.starts_with('【') && !r.subject.starts_with(SUBJECT_PREFIX), "{}", r.subject),
        }
        assert!(r.html.starts_with("<!DOCTYPE html>") && r.html.trim_end().ends_with("</html>"));
        r
    }

    fn both(r: &Rendered, needle: &str) {
        assert!(r.text.contains(needle), "text lacks {needle:?}:\n{}", r.text);
        assert!(r.html.contains(needle), "html lacks {needle:?}:\n{}", r.html);
    }

    fn purchase(template: &str) -> Value {
        json!({"template": template, "order_id": "po_1", "to": "ming@example.com.tw", "contact_name": "王小明",
               "wixtar_contact": WixtarContact::default(), "starts_on": "2026-01-31", "expires_on": "2027-03-30",
               "months": 12, "bonus_months": 2, "amount": 6000, "currency": "TWD"})
    }

    #[test]
    fn purchase_confirmation_names_wixtar_and_the_usage_period() {
        let r = render(purchase("wixtar_purchase_confirmation"), Some("王小明"));
        assert_eq!(r.subject, "【美麗科技電子發票】方案購買完成，美麗科技將與您聯繫開通（使用期限至 2027年3月30日）");
        for fact in ["王小明 您好", "2026年1月31日 至 2027年3月30日", "12 個月（首購加贈 2 個月，共 14 個月）", "NT$6,000", "po_1", "美麗科技專員將與您聯繫"]
        {
            both(&r, fact);
        }
        let c = WixtarContact::default();
        for fact in [&c.name, &c.phone, &c.email, &c.website] {
            both(&r, fact);
        }
        both(&r, "02-2711-9528 #240");
        assert!(r.text.starts_with("王小明 您好：\n\n感謝您購買"), "{}", r.text);
    }

    #[test]
    fn renewal_confirmation_says_extended() {
        let mut detail = purchase("wixtar_renewal_confirmation");
        detail["bonus_months"] = 0.into();
        detail["months"] = 3.into();
        let r = render(detail, None);
        assert_eq!(r.subject, "【美麗科技電子發票】方案續購完成，使用期限延長至 2027年3月30日");
        both(&r, "商家您好");
        both(&r, "使用期限已延長");
        both(&r, "3 個月");
        assert!(!r.text.contains("加贈") && !r.text.contains("專員"));
        both(&r, "02-2711-9528 #240");
    }

    #[test]
    fn an_older_purchase_event_without_period_start_still_renders() {
        let detail = json!({"template": "wixtar_purchase_confirmation", "order_id": "po_1", "to": "a@b.tw",
                            "wixtar_contact": WixtarContact::default(), "expires_on": "2027-03-30"});
        let r = render(detail, None);
        both(&r, "使用期限：至 2027年3月30日".split('：').next_back().unwrap());
        assert!(!r.text.contains("方案：") && !r.text.contains("金額："));
    }

    #[test]
    fn lock_notice_states_charge_day_amount_cycle_and_card() {
        let detail = json!({"template": "auto_renew_locked", "cycle": "2027-06-29", "locked_from": "2027-06-15", "charge_on": "2027-06-19",
                            "months": 3, "amount": 1800, "currency": "TWD", "card_last4": "4242"});
        let r = render(detail, Some("王小明"));
        assert_eq!(r.subject, "【美麗科技電子發票】自動續約將於 2027年6月19日 扣款 NT$1,800");
        for fact in ["扣款日：2027年6月19日", "扣款金額：NT$1,800", "續約週期：3 個月", "末四碼 4242", "至 2027年6月29日", "取消期限（2027年6月14日）"]
        {
            assert!(r.text.contains(fact), "{fact}: {}", r.text);
        }
        for fact in ["2027年6月19日", "NT$1,800", "3 個月", "末四碼 4242"] {
            both(&r, fact);
        }
    }

    #[test]
    fn success_states_new_expiry() {
        let detail =
            json!({"template": "auto_renew_succeeded", "months": 3, "amount": 1800, "currency": "TWD", "expires_on": "2027-09-29", "card_last4": "4242"});
        let r = render(detail, None);
        assert_eq!(r.subject, "【美麗科技電子發票】自動續約扣款成功，使用期限延長至 2027年9月29日");
        for fact in ["至 2027年9月29日", "NT$1,800", "3 個月", "末四碼 4242"] {
            both(&r, fact);
        }
    }

    #[test]
    fn decline_says_when_the_next_try_is_and_what_to_do() {
        let detail = json!({"template": "auto_renew_declined", "cycle": "2027-06-29", "attempt": 1, "next_attempt_on": "2027-06-22",
                            "amount": 1800, "card_last4": "4242"});
        let r = render(detail, None);
        assert_eq!(r.subject, "【美麗科技電子發票】自動續約扣款失敗，將於 2027年6月22日 再次扣款");
        for fact in ["第 1 次", "下次扣款日：2027年6月22日", "請於 2027年6月22日 前至「付款設定」更換信用卡", "末四碼 4242", "NT$1,800"]
        {
            assert!(r.text.contains(fact), "{fact}: {}", r.text);
        }
        both(&r, "「付款設定」更換信用卡");
        // Without the amount (published before it was added), the line is left out.
        let older = json!({"template": "auto_renew_declined", "cycle": "2027-06-29", "attempt": 2, "next_attempt_on": "2027-06-25", "card_last4": null});
        let r = render(older, None);
        assert!(!r.text.contains("扣款金額") && r.text.contains("您綁定的信用卡"), "{}", r.text);
    }

    #[test]
    fn suspension_gives_the_reason_and_the_expiry() {
        for (reason, says) in [("declined", "信用卡多次扣款失敗"), ("declined_hard", "信用卡已失效或遭停用"), ("card_not_bound", "尚未綁定信用卡")]
        {
            let detail = json!({"template": "auto_renew_suspended", "cycle": "2027-06-29", "attempt": 3, "reason": reason,
                                "expires_on": "2027-06-29", "card_last4": "4242"});
            let r = render(detail, None);
            assert_eq!(r.subject, "【美麗科技電子發票】自動續約已暫停");
            both(&r, says);
            both(&r, "2027年6月29日");
        }
    }

    #[test]
    fn no_invoice_numbers_names_the_period_and_what_to_do() {
        let detail = json!({"template": "no_invoice_numbers", "order_id": "A1001", "period": "11512",
                            "message": "美麗科技字軌已用完：請至美麗科技加值中心新增字軌。"});
        let n = parse(&json!({"event_id": "e", "merchant_id": "m", "template": "no_invoice_numbers", "period": "11512"})).unwrap();
        assert!(concerns_invoices(&n));
        let r = render(detail, None);
        for fact in ["115年11-12月", "A1001", "美麗科技加值中心新增字軌"] {
            both(&r, fact);
        }
    }

    fn buyer(template: &str, more: Value) -> Value {
        let mut v = json!({"template": template, "to": "buyer.chen@example.com", "order_id": "A1001", "seller_name": "小明商行",
                           "seller_ubn": "04595257", "number": "UA00000057", "issued_at": "2026-11-30T17:30:00Z"});
        v.as_object_mut().unwrap().extend(more.as_object().unwrap().clone());
        v
    }

    #[test]
    fn invoice_issued_states_the_invoice_and_where_it_went() {
        let carrier = json!({"random_code": "0122", "total": 1050, "destination": {"kind": "carrier", "carrier": "mobile", "id": "/ABC1234"}});
        let r = render(buyer("invoice_issued", carrier), None);
        assert_eq!(r.subject, "【小明商行】電子發票開立通知 UA-00000057");
        // Issued at 17:30 UTC: already December 1st in Taipei.
        for fact in ["親愛的顧客您好", "小明商行", "04595257", "UA-00000057", "2026年12月1日", "0122", "NT$1,050", "手機條碼載具（******34）", "A1001"]
        {
            both(&r, fact);
        }
        for part in [&r.subject, &r.text, &r.html] {
            assert!(!part.contains("/ABC1234") && !part.contains("ABC1234"), "the full carrier id: {part}");
        }
        let member = json!({"random_code": "0122", "total": 1050, "destination": {"kind": "carrier", "carrier": "member", "id": "member#42@shop"}});
        let r = render(buyer("invoice_issued", member), Some("陳小華"));
        both(&r, "會員載具（**********shop）");
        assert!(r.text.starts_with("陳小華 您好："));
        assert!(!r.text.contains("member#42"));
        let r = render(buyer("invoice_issued", json!({"random_code": "0122", "total": 1050, "destination": {"kind": "donated", "love_code": "8585"}})), None);
        both(&r, "捐贈（愛心碼 8585）");
        let r = render(buyer("invoice_issued", json!({"random_code": "0122", "total": 1050, "destination": {"kind": "paper"}})), None);
        both(&r, "紙本電子發票證明聯");
    }

    #[test]
    fn invoice_voided_and_allowance_issued_state_what_changed() {
        let r = render(buyer("invoice_voided", json!({"total": 1050, "voided_at": "2026-12-03T02:00:00Z"})), None);
        assert_eq!(r.subject, "【小明商行】電子發票作廢通知 UA-00000057");
        for fact in ["已作廢", "UA-00000057", "NT$1,050", "作廢日期：2026年12月3日"] {
            assert!(r.text.contains(fact), "{fact}: {}", r.text);
        }
        both(&r, "不能兌獎");
        let r =
            render(buyer("allowance_issued", json!({"allowance_number": "UA00000057-1", "amount": 300, "allowance_issued_at": "2026-12-10T02:00:00Z"})), None);
        assert_eq!(r.subject, "【小明商行】折讓通知 UA-00000057");
        for fact in ["折讓金額：NT$300", "折讓單號碼：UA00000057-1", "折讓日期：2026年12月10日", "原發票號碼：UA-00000057"] {
            assert!(r.text.contains(fact), "{fact}: {}", r.text);
        }
        both(&r, "NT$300");
    }

    #[test]
    fn invoice_won_states_the_prize_the_claim_window_and_the_printed_proof() {
        let r = render(buyer("invoice_won", json!({"period": "11510", "kind": "first", "amount": 200000})), None);
        assert_eq!(r.subject, "【小明商行】發票中獎通知（頭獎） UA-00000057");
        for fact in ["115年09-10月", "頭獎", "NT$200,000", "2026年12月6日 至 2027年3月5日", "列印中獎的電子發票證明聯並寄送給您", "UA-00000057", "A1001"]
        {
            both(&r, fact);
        }
        // Nov–Dec is drawn in January: claims from February to May.
        let r = render(buyer("invoice_won", json!({"period": "11512", "kind": "cloud", "amount": 500})), None);
        for fact in ["115年11-12月", "雲端發票專屬 500 元獎", "NT$500", "2027年2月6日 至 2027年5月5日"] {
            both(&r, fact);
        }
        assert!(r.subject.contains("雲端發票專屬 500 元獎"));
    }

    #[test]
    fn prizes_to_print_lists_each_winner_for_the_merchant() {
        let detail = json!({"template": "prizes_to_print", "period": "11510", "prizes": [
            {"order_id": "A1001", "number": "UA00000057", "kind": "sixth", "amount": 200},
            {"order_id": "A1002", "number": "UA00000058", "kind": "cloud", "amount": 1000000}]});
        let r = render(detail, None);
        assert_eq!(r.subject, "【美麗科技電子發票】115年09-10月 中獎發票 2 張，請列印中獎證明聯並寄送");
        assert!(r.text.starts_with("商家您好："));
        for fact in
            ["UA-00000057", "A1001", "六獎", "NT$200", "UA-00000058", "A1002", "雲端發票專屬 1,000,000 元獎", "NT$1,000,000", "2027年3月5日", "只能列印一次"]
        {
            both(&r, fact);
        }
        assert!(r.text.contains("- 發票號碼 UA-00000057｜訂單 A1001｜六獎 NT$200\n- 發票號碼 UA-00000058"), "{}", r.text);
    }

    #[test]
    fn html_escapes_what_merchants_typed() {
        let r = render(purchase("wixtar_purchase_confirmation"), Some("<script>x</script>"));
        assert!(r.html.contains("&#60;script&#62;") || r.html.contains("&lt;script&gt;"), "{}", r.html);
        assert!(!r.html.contains("<script>"));
        assert!(r.text.contains("<script>x</script> 您好"), "the text part is not HTML");
    }

    #[test]
    fn recipients_in_any_shape() {
        let base = |to: Value| {
            json!({"event_id": "e", "merchant_id": "m", "template": "auto_renew_succeeded", "to": to,
                                      "months": 3, "amount": 1, "expires_on": "2027-01-01"})
        };
        assert_eq!(parse(&base(json!("a@b.tw"))).unwrap().to, ["a@b.tw"]);
        assert_eq!(parse(&base(json!(["a@b.tw", "c@d.tw"]))).unwrap().to, ["a@b.tw", "c@d.tw"]);
        assert!(parse(&base(Value::Null)).unwrap().to.is_empty());
    }

    #[test]
    fn unknown_or_incomplete_notifications_are_refused() {
        assert!(parse(&json!({"event_id": "e", "merchant_id": "m", "template": "birthday"})).is_err());
        assert!(parse(&json!({"event_id": "e", "merchant_id": "m", "template": "auto_renew_locked", "months": 3})).is_err());
        assert!(parse(&json!({"merchant_id": "m", "template": "no_invoice_numbers", "period": "11512"})).is_err());
    }

    #[test]
    fn formats() {
        assert_eq!([twd(0), twd(999), twd(1000), twd(6000), twd(1_234_567)], ["NT$0", "NT$999", "NT$1,000", "NT$6,000", "NT$1,234,567"]);
        assert_eq!(date(NaiveDate::from_ymd_opt(2027, 3, 30).unwrap()), "2027年3月30日");
        assert_eq!([period_label("11512"), period_label("11502"), period_label("bad")], ["115年11-12月", "115年1-2月", "bad"]);
        assert_eq!([card(Some("4242")), card(Some("4111111111111111")), card(None)], ["信用卡（末四碼 4242）", "您綁定的信用卡", "您綁定的信用卡"]);
    }
}
