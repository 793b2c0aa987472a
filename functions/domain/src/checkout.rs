//! 結帳: the plan checkout request, parsed from its wire shape into types that hold.

use serde::{Deserialize, Serialize};

use crate::plan::PlanMonths;
use crate::rule::RuleViolation;
use crate::ubn::Ubn;

/// How the merchant pays for a plan: 虛擬 ATM transfer or credit card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    Atm,
    Card,
}

impl PaymentMethod {
    pub fn parse(s: &str) -> Result<Self, RuleViolation> {
        match s {
            "atm" => Ok(Self::Atm),
            "card" => Ok(Self::Card),
            other => {
                Err(RuleViolation::on_field("invalid_payment_method", "payment_method", format!("payment_method must be \"atm\" or \"card\" (got {other:?})")))
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Atm => "atm",
            Self::Card => "card",
        }
    }
}

/// 購買聯絡人: who Wixtar's sales team calls after payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub name: String,
    pub email: String,
    pub phone: String,
}

/// 公司發票資訊: the company Wixtar invoices for the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Company {
    pub name: String,
    pub ubn: Ubn,
    pub address: String,
    pub invoice_email: String,
}

/// A checkout whose every field has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutRequest {
    pub ubn: Ubn,
    pub months: PlanMonths,
    pub payment_method: PaymentMethod,
    pub auto_renew: bool,
    pub contact: Contact,
    pub company: Company,
}

/// The checkout body as it arrives: everything optional, so that a missing field is a
/// 422 naming it, while a wrong JSON type is a 400 from the decoder.
#[derive(Debug, Default, Deserialize)]
pub struct CheckoutWire {
    pub ubn: Option<String>,
    pub months: Option<u32>,
    pub payment_method: Option<String>,
    pub auto_renew: Option<bool>,
    pub contact: Option<ContactWire>,
    pub company: Option<CompanyWire>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ContactWire {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct CompanyWire {
    pub name: Option<String>,
    pub ubn: Option<String>,
    pub address: Option<String>,
    pub invoice_email: Option<String>,
}

fn required<'a>(value: &'a Option<String>, field: &str) -> Result<&'a str, RuleViolation> {
    match value.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(RuleViolation::on_field("missing_field", field, format!("{field} is required"))),
    }
}

/// A required free-text field: trimmed, non-empty, at most `max` characters, no control
/// characters and no noncharacters ([`crate::text::check`]).
pub fn text(value: &Option<String>, field: &str, max: usize) -> Result<String, RuleViolation> {
    let v = required(value, field)?;
    if v.chars().count() > max {
        return Err(RuleViolation::on_field("field_too_long", field, format!("{field} is longer than {max} characters")));
    }
    crate::text::check(v, field)?;
    Ok(v.to_owned())
}

/// An e-mail address: one `@`, a non-empty local part, a dotted domain, no spaces, ≤ 254 chars.
pub fn email(value: &Option<String>, field: &str) -> Result<String, RuleViolation> {
    let v = required(value, field)?;
    let bad = || RuleViolation::on_field("invalid_email", field, format!("{field} is not an e-mail address"));
    if v.len() > 254 || v.chars().any(|c| c.is_whitespace() || c.is_control() || crate::text::is_noncharacter(c)) {
        return Err(bad());
    }
    let (local, domain) = v.split_once('@').ok_or_else(bad)?;
    let labels_ok = domain.split('.').all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
    if local.is_empty() || local.len() > 64 || domain.contains('@') || !domain.contains('.') || !labels_ok {
        return Err(bad());
    }
    Ok(v.to_owned())
}

/// A Taiwan phone number: digits with optional `+`, spaces, hyphens, parentheses and a
/// `#` extension (e.g. `02-2711-9528 #240`, `0912-345-678`, `+886 912 345 678`); 8–15 digits.
pub fn phone(value: &Option<String>, field: &str) -> Result<String, RuleViolation> {
    let v = required(value, field)?;
    let bad = || RuleViolation::on_field("invalid_phone", field, format!("{field} is not a phone number"));
    let (main, ext) = match v.split_once('#') {
        Some((main, ext)) => (main, Some(ext.trim())),
        None => (v, None),
    };
    if let Some(ext) = ext {
        if ext.is_empty() || ext.len() > 6 || !ext.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
    }
    let main = main.trim();
    let allowed = |(i, c): (usize, char)| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')') || (c == '+' && i == 0);
    if !main.chars().enumerate().all(allowed) {
        return Err(bad());
    }
    let digits = main.chars().filter(char::is_ascii_digit).count();
    if !(8..=15).contains(&digits) || v.len() > 32 {
        return Err(bad());
    }
    Ok(v.to_owned())
}

impl CheckoutWire {
    /// Checks every field, in contract order; the first broken rule is reported.
    pub fn parse(self) -> Result<CheckoutRequest, RuleViolation> {
        let ubn = Ubn::parse(required(&self.ubn, "ubn")?)?;
        let months = match self.months {
            Some(m) => PlanMonths::new(m)?,
            None => {
                return Err(RuleViolation::on_field("missing_field", "months", "months is required"));
            }
        };
        let payment_method = PaymentMethod::parse(required(&self.payment_method, "payment_method")?)?;
        let auto_renew = self.auto_renew.unwrap_or(false);
        if auto_renew && payment_method != PaymentMethod::Card {
            return Err(RuleViolation::on_field(
                "auto_renew_requires_card",
                "auto_renew",
                "auto_renew needs payment_method \"card\": a bound credit card is charged on renewal",
            ));
        }
        let c = self.contact.unwrap_or_default();
        let contact = Contact { name: text(&c.name, "contact.name", 50)?, email: email(&c.email, "contact.email")?, phone: phone(&c.phone, "contact.phone")? };
        let co = self.company.unwrap_or_default();
        let company = Company {
            name: text(&co.name, "company.name", 100)?,
            ubn: Ubn::parse(required(&co.ubn, "company.ubn")?).map_err(|e| e.at("company.ubn"))?,
            address: text(&co.address, "company.address", 200)?,
            invoice_email: email(&co.invoice_email, "company.invoice_email")?,
        };
        Ok(CheckoutRequest { ubn, months, payment_method, auto_renew, contact, company })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> serde_json::Value {
        serde_json::json!({
            "ubn": "04595257", "months": 12, "payment_method": "card", "auto_renew": true,
            "contact": {"name": "王小明", "email": "ming@example.com.tw", "phone": "0912-345-678"},
            "company": {"name": "小明商行", "ubn": "04595257", "address": "台北市中山區南京東路一段1號", "invoice_email": "ap@example.com"}
        })
    }

    fn parse(v: serde_json::Value) -> Result<CheckoutRequest, RuleViolation> {
        serde_json::from_value::<CheckoutWire>(v).unwrap().parse()
    }

    fn code_and_field(v: serde_json::Value) -> (&'static str, Option<String>) {
        let e = parse(v).unwrap_err();
        (e.code, e.field)
    }

    #[test]
    fn parses_a_valid_checkout() {
        let r = parse(valid()).unwrap();
        assert_eq!(r.months.get(), 12);
        assert_eq!(r.payment_method, PaymentMethod::Card);
        assert!(r.auto_renew);
        assert_eq!(r.company.ubn.to_string(), "04595257");
    }

    #[test]
    fn each_rule_has_its_code_and_field() {
        let cases: Vec<(&str, serde_json::Value, &str)> = vec![
            ("/ubn", "12345678".into(), "invalid_ubn"),
            ("/months", 5.into(), "invalid_plan"),
            ("/payment_method", "cash".into(), "invalid_payment_method"),
            ("/contact/email", "not-an-email".into(), "invalid_email"),
            ("/contact/email", "a@b".into(), "invalid_email"),
            ("/contact/phone", "call me".into(), "invalid_phone"),
            ("/contact/phone", "123".into(), "invalid_phone"),
            ("/contact/name", "  ".into(), "missing_field"),
            ("/company/name", "x".repeat(101).into(), "field_too_long"),
            ("/company/ubn", "04595258".into(), "invalid_ubn"),
            ("/company/address", "".into(), "missing_field"),
            ("/company/invoice_email", "ap@@example.com".into(), "invalid_email"),
        ];
        for (pointer, value, code) in cases {
            let mut v = valid();
            *v.pointer_mut(pointer).unwrap() = value;
            let (got, field) = code_and_field(v);
            assert_eq!(got, code, "{pointer}");
            assert_eq!(field.unwrap(), pointer.trim_start_matches('/').replace('/', "."));
        }
    }

    #[test]
    fn auto_renew_needs_card() {
        let mut v = valid();
        v["payment_method"] = "atm".into();
        assert_eq!(code_and_field(v.clone()).0, "auto_renew_requires_card");
        v["auto_renew"] = false.into();
        assert_eq!(parse(v).unwrap().payment_method, PaymentMethod::Atm);
    }

    #[test]
    fn missing_fields_are_named() {
        for field in ["ubn", "months", "payment_method"] {
            let mut v = valid();
            v.as_object_mut().unwrap().remove(field);
            assert_eq!(code_and_field(v), ("missing_field", Some(field.to_string())));
        }
        let mut v = valid();
        v.as_object_mut().unwrap().remove("contact");
        assert_eq!(code_and_field(v), ("missing_field", Some("contact.name".to_string())));
    }

    #[test]
    fn phone_shapes() {
        for ok in ["02-2711-9528 #240", "0912345678", "+886 912 345 678", "(02) 2711-9528", "02-27119528#1"] {
            assert!(phone(&Some(ok.into()), "p").is_ok(), "{ok}");
        }
        for bad in ["09-12+345678", "0912345678#", "0912345678#abc", "1234567", "1234567890123456", "0912‐345678"] {
            assert!(phone(&Some(bad.into()), "p").is_err(), "{bad}");
        }
    }
}
