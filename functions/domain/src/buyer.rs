//! 買受人: the buyer on the invoice — a consumer (B2C, 二聯式) who may keep the invoice in a
//! 載具 (carrier) or donate it (捐贈, by 愛心碼), or a company (B2B, 三聯式) with a 統一編號 —
//! and the print rule for the paper proof (電子發票證明聯).
//!
//! Rules (DESIGN.md §2, ECPay's B2C rules where the design is silent):
//! - a buyer UBN makes the invoice B2B: company name required, no love code
//!   (`donation_with_ubn`), no carrier (`carrier_with_ubn`), always printed;
//! - donation ⇒ no print; carrier ⇒ no print; a B2C invoice with neither is printed;
//! - a B2C buyer may give a carrier **and** a love code: the invoice is issued into the
//!   carrier and donated (ECPay: "CarrierType 不為空且 Donation=1 … 最終狀態是捐贈成功"); not printed.
//!
//! The wire buyer is kept as sent on the order ([`BuyerWire`]) and checked only when an invoice
//! is about to be issued, so that a bad carrier makes that one order `not_issuable` (naming the
//! field) instead of making the whole order webhook a 422.

use serde::{Deserialize, Serialize};

use crate::rule::RuleViolation;
use crate::ubn::Ubn;

/// 買受人識別碼 of a B2C invoice (no buyer UBN).
pub const B2C_BUYER_IDENTIFIER: &str = "0000000000";
/// 手機條碼 carrier type code.
pub const MOBILE_BARCODE_TYPE: &str = "3J0002";
/// 自然人憑證 carrier type code.
pub const CITIZEN_CERTIFICATE_TYPE: &str = "CQ0001";
/// 會員載具: the carrier type code MOF assigned to the platform's own member carrier.
/// ASSUMPTION to confirm with the platform/Wixtar before production: `EJ0113`.
pub const MEMBER_CARRIER_TYPE: &str = "EJ0113";

/// Longest buyer name an invoice carries (MIG `BuyerName`, 60 characters).
pub const BUYER_NAME_MAX: usize = 60;

const CARRIER_FIELD: &str = "order.buyer.carrier";
const CARRIER_TYPE_FIELD: &str = "order.buyer.carrier.type";
const CARRIER_ID_FIELD: &str = "order.buyer.carrier.id";
const LOVE_CODE_FIELD: &str = "order.buyer.love_code";
const UBN_FIELD: &str = "order.buyer.ubn";
const COMPANY_NAME_FIELD: &str = "order.buyer.company_name";
const EMAIL_FIELD: &str = "order.buyer.email";

/// 載具類別: the kinds of carrier a buyer can give at checkout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CarrierKind {
    /// 手機條碼 (`3J0002`): `/` + 7 of `0-9 A-Z . + -`.
    Mobile,
    /// 自然人憑證條碼 (`CQ0001`): 2 uppercase letters + 14 digits.
    Certificate,
    /// 會員載具 ([`MEMBER_CARRIER_TYPE`]): the platform's member id, 1–64 printable ASCII, no spaces.
    Member,
}

impl CarrierKind {
    pub fn parse(s: &str) -> Result<Self, RuleViolation> {
        match s {
            "mobile" => Ok(Self::Mobile),
            "certificate" => Ok(Self::Certificate),
            "member" => Ok(Self::Member),
            other => Err(RuleViolation::on_field(
                "invalid_carrier",
                CARRIER_TYPE_FIELD,
                format!("{CARRIER_TYPE_FIELD} must be mobile, certificate or member (got {other:?})"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mobile => "mobile",
            Self::Certificate => "certificate",
            Self::Member => "member",
        }
    }

    /// The MOF carrier type code (載具類別號碼).
    pub fn type_code(self) -> &'static str {
        match self {
            Self::Mobile => MOBILE_BARCODE_TYPE,
            Self::Certificate => CITIZEN_CERTIFICATE_TYPE,
            Self::Member => MEMBER_CARRIER_TYPE,
        }
    }

    /// The kind of a MOF carrier type code ([`Self::type_code`]); `None` for a code we never issue to.
    pub fn from_type_code(code: &str) -> Option<Self> {
        [Self::Mobile, Self::Certificate, Self::Member].into_iter().find(|k| k.type_code() == code)
    }

    /// Whether `id` has the shape of a carrier number of this kind.
    fn accepts(self, id: &str) -> bool {
        let b = id.as_bytes();
        match self {
            Self::Mobile => {
                b.len() == 8 && b[0] == b'/' && b[1..].iter().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase() || matches!(c, b'.' | b'+' | b'-'))
            }
            Self::Certificate => b.len() == 16 && b[..2].iter().all(u8::is_ascii_uppercase) && b[2..].iter().all(u8::is_ascii_digit),
            Self::Member => (1..=64).contains(&b.len()) && b.iter().all(|c| (b'!'..=b'~').contains(c)),
        }
    }
}

/// A 載具 whose number has the shape its kind requires.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Carrier {
    kind: CarrierKind,
    id: String,
}

impl Carrier {
    /// Checks the carrier number (載具號碼) against its kind; violations name `order.buyer.carrier.id`.
    pub fn parse(kind: CarrierKind, id: &str) -> Result<Self, RuleViolation> {
        check_carrier_id(kind, id)?;
        Ok(Self { kind, id: id.to_owned() })
    }

    pub fn kind(&self) -> CarrierKind {
        self.kind
    }

    /// 載具號碼 (carrier id 1 and 2 are the same for these kinds).
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn type_code(&self) -> &'static str {
        self.kind.type_code()
    }
}

fn check_carrier_id(kind: CarrierKind, id: &str) -> Result<(), RuleViolation> {
    if kind.accepts(id) {
        return Ok(());
    }
    let shape = match kind {
        CarrierKind::Mobile => "a mobile barcode is / followed by 7 of 0-9 A-Z . + -",
        CarrierKind::Certificate => "a citizen certificate carrier is 2 uppercase letters and 14 digits",
        CarrierKind::Member => "a member carrier is 1-64 printable ASCII characters without spaces",
    };
    Err(RuleViolation::on_field("invalid_carrier", CARRIER_ID_FIELD, format!("{CARRIER_ID_FIELD} is not valid: {shape}")))
}

/// A carrier id (載具號碼) as a notice may show it: same length, every character `*` but the
/// last third (at most 4), e.g. `/AB+-.12` → `******12`, `AB12345678901234` → `************1234`.
/// Masking a masked id changes nothing, so whatever a notice is handed, it never shows more.
pub fn mask_carrier_id(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    let shown = (chars.len() / 3).min(4);
    let hidden = chars.len() - shown;
    std::iter::repeat_n('*', hidden).chain(chars[hidden..].iter().copied()).collect()
}

impl Carrier {
    /// [`mask_carrier_id`] of this carrier's id.
    pub fn masked_id(&self) -> String {
        mask_carrier_id(&self.id)
    }
}

/// 愛心碼: the 3–7 digit code of the charity an invoice is donated to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LoveCode(String);

impl LoveCode {
    pub fn parse(s: &str) -> Result<Self, RuleViolation> {
        check_love_code(s)?;
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_love_code(s: &str) -> Result<(), RuleViolation> {
    if (3..=7).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(RuleViolation::on_field("invalid_love_code", LOVE_CODE_FIELD, format!("{LOVE_CODE_FIELD} must be 3 to 7 digits")))
    }
}

/// The carrier as it arrives on the order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarrierWire {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// The buyer as it arrives on the order: every field optional; blank strings count as absent
/// and surrounding whitespace is ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuyerWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ubn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<CarrierWire>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub love_code: Option<String>,
}

/// A checked buyer, the invoice's 買受人.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Buyer {
    /// 個人 (二聯式): identifier `0000000000`.
    B2c {
        /// Trimmed, control characters dropped, cut to [`BUYER_NAME_MAX`] characters; may be empty.
        name: String,
        /// Kept only when well-formed: the invoice does not need it.
        email: Option<String>,
        carrier: Option<Carrier>,
        love_code: Option<LoveCode>,
    },
    /// 公司 (三聯式): the buyer's 統一編號 and company name (買受人名稱).
    B2b { ubn: Ubn, company_name: String, email: Option<String> },
}

/// The buyer's shape, checked without copying anything (what `decide` needs).
enum Checked<'a> {
    B2c { carrier: Option<(CarrierKind, &'a str)>, love_code: Option<&'a str> },
    B2b { ubn: Ubn, company_name: &'a str },
}

fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

impl CarrierWire {
    /// `None` when neither type nor id is given.
    fn check(&self) -> Result<Option<(CarrierKind, &str)>, RuleViolation> {
        match (present(&self.kind), present(&self.id)) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(RuleViolation::on_field("missing_field", CARRIER_TYPE_FIELD, format!("{CARRIER_TYPE_FIELD} is required with a carrier id"))),
            (Some(_), None) => Err(RuleViolation::on_field("missing_field", CARRIER_ID_FIELD, format!("{CARRIER_ID_FIELD} is required with a carrier type"))),
            (Some(kind), Some(id)) => {
                let kind = CarrierKind::parse(kind)?;
                check_carrier_id(kind, id)?;
                Ok(Some((kind, id)))
            }
        }
    }

    fn is_given(&self) -> bool {
        present(&self.kind).is_some() || present(&self.id).is_some()
    }
}

fn check_company_name(value: &Option<String>) -> Result<&str, RuleViolation> {
    let Some(name) = present(value) else {
        return Err(RuleViolation::on_field("missing_field", COMPANY_NAME_FIELD, format!("{COMPANY_NAME_FIELD} is required with a buyer UBN")));
    };
    if name.chars().count() > BUYER_NAME_MAX {
        return Err(RuleViolation::on_field("field_too_long", COMPANY_NAME_FIELD, format!("{COMPANY_NAME_FIELD} is longer than {BUYER_NAME_MAX} characters")));
    }
    crate::text::check(name, COMPANY_NAME_FIELD)?;
    Ok(name)
}

impl BuyerWire {
    /// The buyer's e-mail address, when given (where the buyer notices go).
    pub fn email_address(&self) -> Option<&str> {
        present(&self.email)
    }

    /// The buyer's name, when given.
    pub fn given_name(&self) -> Option<&str> {
        present(&self.name)
    }

    fn check(&self) -> Result<Checked<'_>, RuleViolation> {
        if let Some(name) = present(&self.name) {
            crate::text::refuse_noncharacters(name, "order.buyer.name")?;
        }
        if let Some(ubn) = present(&self.ubn) {
            let ubn = Ubn::parse(ubn).map_err(|e| e.at(UBN_FIELD))?;
            if present(&self.love_code).is_some() {
                return Err(RuleViolation::on_field(
                    "donation_with_ubn",
                    LOVE_CODE_FIELD,
                    "an invoice with a buyer UBN cannot be donated: remove order.buyer.love_code or order.buyer.ubn",
                ));
            }
            if self.carrier.as_ref().is_some_and(CarrierWire::is_given) {
                return Err(RuleViolation::on_field(
                    "carrier_with_ubn",
                    CARRIER_FIELD,
                    "an invoice with a buyer UBN is printed, not kept in a carrier: remove order.buyer.carrier or order.buyer.ubn",
                ));
            }
            let company_name = check_company_name(&self.company_name)?;
            return Ok(Checked::B2b { ubn, company_name });
        }
        let carrier = match &self.carrier {
            Some(c) => c.check()?,
            None => None,
        };
        let love_code = present(&self.love_code);
        if let Some(code) = love_code {
            check_love_code(code)?;
        }
        Ok(Checked::B2c { carrier, love_code })
    }

    /// Checks the buyer without building it (no allocation unless it is invalid).
    pub fn validate(&self) -> Result<(), RuleViolation> {
        self.check().map(drop)
    }

    /// Checks the buyer and says whether it is a business (B2B, a UBN given), without building it.
    pub fn check_is_b2b(&self) -> Result<bool, RuleViolation> {
        self.check().map(|c| matches!(c, Checked::B2b { .. }))
    }

    /// The checked buyer; violations name their field (`order.buyer.carrier.id`, …).
    pub fn parse(&self) -> Result<Buyer, RuleViolation> {
        let email = crate::checkout::email(&self.email, EMAIL_FIELD).ok();
        Ok(match self.check()? {
            Checked::B2b { ubn, company_name } => Buyer::B2b { ubn, company_name: company_name.to_owned(), email },
            Checked::B2c { carrier, love_code } => Buyer::B2c {
                name: present(&self.name).unwrap_or_default().chars().filter(|c| !c.is_control()).take(BUYER_NAME_MAX).collect(),
                email,
                carrier: carrier.map(|(kind, id)| Carrier { kind, id: id.to_owned() }),
                love_code: love_code.map(|c| LoveCode(c.to_owned())),
            },
        })
    }
}

impl Buyer {
    pub fn is_b2b(&self) -> bool {
        matches!(self, Self::B2b { .. })
    }

    /// Whether a paper proof (證明聯) is printed: always for B2B; for B2C only without a
    /// carrier and without a donation.
    pub fn print_required(&self) -> bool {
        match self {
            Self::B2b { .. } => true,
            Self::B2c { carrier, love_code, .. } => carrier.is_none() && love_code.is_none(),
        }
    }

    /// 買受人識別碼: the UBN for B2B, `0000000000` for B2C.
    pub fn buyer_identifier(&self) -> String {
        match self {
            Self::B2b { ubn, .. } => ubn.as_string(),
            Self::B2c { .. } => B2C_BUYER_IDENTIFIER.to_owned(),
        }
    }

    pub fn ubn(&self) -> Option<Ubn> {
        match self {
            Self::B2b { ubn, .. } => Some(*ubn),
            Self::B2c { .. } => None,
        }
    }

    /// 買受人名稱: the company name for B2B, the buyer's name (possibly empty) for B2C.
    pub fn name(&self) -> &str {
        match self {
            Self::B2b { company_name, .. } => company_name,
            Self::B2c { name, .. } => name,
        }
    }

    pub fn email(&self) -> Option<&str> {
        match self {
            Self::B2b { email, .. } | Self::B2c { email, .. } => email.as_deref(),
        }
    }

    pub fn carrier(&self) -> Option<&Carrier> {
        match self {
            Self::B2c { carrier, .. } => carrier.as_ref(),
            Self::B2b { .. } => None,
        }
    }

    /// 載具類別號碼 (`3J0002`, `CQ0001`, [`MEMBER_CARRIER_TYPE`]), if the invoice goes to a carrier.
    pub fn carrier_type_code(&self) -> Option<&'static str> {
        self.carrier().map(Carrier::type_code)
    }

    /// 捐贈: the love code when the invoice is donated.
    pub fn love_code(&self) -> Option<&LoveCode> {
        match self {
            Self::B2c { love_code, .. } => love_code.as_ref(),
            Self::B2b { .. } => None,
        }
    }

    pub fn is_donation(&self) -> bool {
        self.love_code().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn wire(v: serde_json::Value) -> BuyerWire {
        serde_json::from_value(v).unwrap()
    }

    fn err(v: serde_json::Value) -> (&'static str, Option<String>) {
        let w = wire(v);
        let e = w.parse().unwrap_err();
        assert_eq!(w.validate().unwrap_err(), e, "validate and parse agree");
        (e.code, e.field)
    }

    fn violation(code: &'static str, field: &str) -> (&'static str, Option<String>) {
        (code, Some(field.to_owned()))
    }

    #[test]
    fn b2c_without_carrier_or_donation_is_printed() {
        let b = wire(serde_json::json!({"name": "  王小明\u{7}  ", "email": "ming@example.com"})).parse().unwrap();
        assert!(b.print_required() && !b.is_b2b() && !b.is_donation());
        assert_eq!((b.name(), b.email(), b.carrier_type_code()), ("王小明", Some("ming@example.com"), None));
        assert_eq!(b.buyer_identifier(), "0000000000");
        assert_eq!(b.ubn(), None);
    }

    #[test]
    fn each_carrier_kind_has_its_type_code_and_is_not_printed() {
        for (kind, id, code) in
            [("mobile", "/AB+-.12", "3J0002"), ("certificate", "AB12345678901234", "CQ0001"), ("member", "member#42@shop", MEMBER_CARRIER_TYPE)]
        {
            let b = wire(serde_json::json!({"name": "x", "carrier": {"type": kind, "id": id}})).parse().unwrap();
            assert_eq!(b.carrier_type_code(), Some(code), "{kind}");
            assert_eq!(b.carrier().unwrap().id(), id);
            assert_eq!(b.carrier().unwrap().kind().as_str(), kind);
            assert!(!b.print_required(), "{kind}");
            assert_eq!(CarrierKind::from_type_code(code), Some(b.carrier().unwrap().kind()));
        }
    }

    #[test]
    fn carrier_ids_are_masked_to_their_last_third() {
        assert_eq!(mask_carrier_id("/AB+-.12"), "******12");
        assert_eq!(mask_carrier_id("AB12345678901234"), "************1234");
        assert_eq!(mask_carrier_id("member#42@shop"), "**********shop");
        assert_eq!(mask_carrier_id("ab"), "**");
        assert_eq!(mask_carrier_id(""), "");
        assert_eq!(Carrier::parse(CarrierKind::Mobile, "/ABC1234").unwrap().masked_id(), "******34");
    }

    #[test]
    fn unknown_type_codes_are_no_kind() {
        assert_eq!(CarrierKind::from_type_code("1K0001"), None);
        assert_eq!(CarrierKind::from_type_code(""), None);
    }

    #[test]
    fn bad_carriers_name_their_field() {
        let bad_ids = [
            ("mobile", "AB+-.12"),
            ("mobile", "/ab+-.12"),
            ("mobile", "/ABC123"),
            ("mobile", "/ABC12345"),
            ("mobile", "/ABC_123"),
            ("certificate", "A123456789012345"),
            ("certificate", "ab12345678901234"),
            ("certificate", "AB1234567890123"),
            ("member", &"x".repeat(65)),
            ("member", "has space"),
            ("member", "會員"),
        ];
        for (kind, id) in bad_ids {
            let got = err(serde_json::json!({"carrier": {"type": kind, "id": id}}));
            assert_eq!(got, violation("invalid_carrier", "order.buyer.carrier.id"), "{kind} {id}");
        }
        assert_eq!(err(serde_json::json!({"carrier": {"type": "easycard", "id": "1"}})), violation("invalid_carrier", "order.buyer.carrier.type"));
        assert_eq!(err(serde_json::json!({"carrier": {"type": "mobile"}})), violation("missing_field", "order.buyer.carrier.id"));
        assert_eq!(err(serde_json::json!({"carrier": {"id": "/ABC1234"}})), violation("missing_field", "order.buyer.carrier.type"));
        // An empty carrier object is no carrier.
        let b = wire(serde_json::json!({"carrier": {"type": "", "id": " "}})).parse().unwrap();
        assert!(b.carrier().is_none() && b.print_required());
    }

    #[test]
    fn donation_is_not_printed_and_may_keep_a_carrier() {
        let b = wire(serde_json::json!({"love_code": "168"})).parse().unwrap();
        assert!(b.is_donation() && !b.print_required());
        assert_eq!(b.love_code().unwrap().as_str(), "168");
        let b = wire(serde_json::json!({"love_code": "8585", "carrier": {"type": "mobile", "id": "/ABC1234"}})).parse().unwrap();
        assert!(b.is_donation() && !b.print_required());
        assert_eq!(b.carrier_type_code(), Some("3J0002"));
        for bad in ["12", "12345678", "12a", "１２３"] {
            assert_eq!(err(serde_json::json!({"love_code": bad})), violation("invalid_love_code", "order.buyer.love_code"), "{bad}");
        }
    }

    #[test]
    fn b2b_rules() {
        let b = wire(serde_json::json!({"name": "王小明", "ubn": "04595257", "company_name": "小明商行", "email": "bad"})).parse().unwrap();
        assert!(b.is_b2b() && b.print_required() && !b.is_donation());
        assert_eq!((b.buyer_identifier(), b.name(), b.email(), b.carrier_type_code()), ("04595257".into(), "小明商行", None, None));
        assert_eq!(b.ubn().unwrap().to_string(), "04595257");

        let base = serde_json::json!({"ubn": "04595257", "company_name": "小明商行"});
        let with = |k: &str, v: serde_json::Value| {
            let mut w = base.clone();
            w[k] = v;
            w
        };
        assert_eq!(err(with("ubn", "04595258".into())), violation("invalid_ubn", "order.buyer.ubn"));
        assert_eq!(err(with("love_code", "168".into())), violation("donation_with_ubn", "order.buyer.love_code"));
        assert_eq!(err(with("carrier", serde_json::json!({"type": "mobile", "id": "/ABC1234"}))), violation("carrier_with_ubn", "order.buyer.carrier"));
        // With a UBN even a malformed carrier is reported as the combination that is not allowed.
        assert_eq!(err(with("carrier", serde_json::json!({"type": "mobile", "id": "x"}))), violation("carrier_with_ubn", "order.buyer.carrier"));
        assert_eq!(err(with("company_name", " ".into())), violation("missing_field", "order.buyer.company_name"));
        assert_eq!(err(with("company_name", "公".repeat(61).into())), violation("field_too_long", "order.buyer.company_name"));
        assert_eq!(err(with("company_name", "a\nb".into())), violation("invalid_field", "order.buyer.company_name"));
        // A blank UBN is no UBN.
        assert!(!wire(with("ubn", "".into())).parse().unwrap().is_b2b());
    }

    #[test]
    fn long_b2c_names_are_cut() {
        let b = wire(serde_json::json!({"name": "名".repeat(80)})).parse().unwrap();
        assert_eq!(b.name().chars().count(), BUYER_NAME_MAX);
    }

    #[test]
    fn wire_round_trips_and_omits_absent_fields() {
        let v = serde_json::json!({"name": "a", "carrier": {"type": "mobile", "id": "/ABC1234"}});
        assert_eq!(serde_json::to_value(wire(v.clone())).unwrap(), v);
    }

    proptest! {
        #[test]
        fn masking_hides_at_least_two_thirds_and_is_idempotent(id in "[!-~]{0,64}") {
            let masked = mask_carrier_id(&id);
            prop_assert_eq!(masked.chars().count(), id.chars().count());
            prop_assert_eq!(mask_carrier_id(&masked), masked.clone());
            // Only the last third (at most 4) is shown; everything before it is `*`.
            let shown = (id.len() / 3).min(4);
            prop_assert!(masked[..id.len() - shown].chars().all(|c| c == '*'));
            prop_assert_eq!(&masked[id.len() - shown..], &id[id.len() - shown..]);
        }

        #[test]
        fn mobile_barcodes_match_their_pattern(id in "[/A-Za-z0-9.+_ -]{0,9}") {
            let expect = id.len() == 8
                && id.starts_with('/')
                && id[1..].chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase() || ".+-".contains(c));
            prop_assert_eq!(Carrier::parse(CarrierKind::Mobile, &id).is_ok(), expect);
        }

        #[test]
        fn print_is_required_exactly_without_carrier_and_donation(
            carrier in proptest::option::of("/[0-9A-Z]{7}"),
            love in proptest::option::of("[0-9]{3,7}"),
        ) {
            let w = BuyerWire {
                carrier: carrier.clone().map(|id| CarrierWire { kind: Some("mobile".into()), id: Some(id) }),
                love_code: love.clone(),
                ..Default::default()
            };
            let b = w.parse().unwrap();
            prop_assert_eq!(b.print_required(), carrier.is_none() && love.is_none());
        }
    }
}
