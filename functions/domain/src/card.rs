//! A bound credit card (綁定信用卡) as we may keep it: the payment gateway's opaque token and the
//! last four digits, never the card number (PAN) itself.

use crate::RuleViolation;

/// The gateway's token for a card: 1–128 printable ASCII characters, and not a card number.
#[derive(Clone, PartialEq, Eq)]
pub struct CardToken(String);

/// Never shows the token (logs, panics, test failures).
impl std::fmt::Debug for CardToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CardToken(****)")
    }
}

impl CardToken {
    /// Errors (on `field`): `invalid_card_token` (empty, too long, not printable ASCII),
    /// `card_number_not_allowed` (a Luhn-valid 13–19 digit number, with or without spaces or
    /// hyphens: a card number, which must never be stored). The messages never echo the value.
    pub fn parse(raw: &str, field: &str) -> Result<Self, RuleViolation> {
        if looks_like_card_number(raw) {
            return Err(RuleViolation::on_field(
                "card_number_not_allowed",
                field,
                format!(
                    "{field} looks like a card number (13 to 19 digits passing the Luhn check); send the payment gateway's token for the card, never the number"
                ),
            ));
        }
        if raw.is_empty() || raw.len() > 128 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(RuleViolation::on_field("invalid_card_token", field, format!("{field} must be 1 to 128 printable ASCII characters")));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The card's last 4 digits (卡號末四碼), the only part of the number shown.
pub fn last4(raw: &str, field: &str) -> Result<String, RuleViolation> {
    if raw.len() != 4 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RuleViolation::on_field("invalid_card_last4", field, format!("{field} must be 4 digits")));
    }
    Ok(raw.to_owned())
}

/// A primary account number: 13–19 digits (ISO/IEC 7812), spaces and hyphens between groups
/// allowed, whose Luhn checksum holds.
pub fn looks_like_card_number(raw: &str) -> bool {
    if !raw.bytes().all(|b| b.is_ascii_digit() || b == b' ' || b == b'-') {
        return false;
    }
    let digits: Vec<u32> = raw.bytes().filter(u8::is_ascii_digit).map(|b| u32::from(b - b'0')).collect();
    (13..=19).contains(&digits.len()) && luhn_valid(&digits)
}

/// The Luhn (mod 10) check: from the right, every second digit doubled (minus 9 above 9).
fn luhn_valid(digits: &[u32]) -> bool {
    let sum: u32 = digits.iter().rev().enumerate().map(|(i, &d)| if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { d }).sum();
    sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn test_card_numbers_are_refused_without_echoing_them() {
        // Published test PANs of the card schemes (Visa, Mastercard, Amex, JCB, Diners 14, Visa 13, 19 digits).
        for pan in [
            "4111111111111111",
            "5555555555554444",
            "378282246310005",
            "3530111333300000",
            "30569309025904",
            "4222222222222",
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "6011000990139424",
            "6250941006528599",
        ] {
            let v = CardToken::parse(pan, "card_token").unwrap_err();
            assert_eq!((v.code, v.field.as_deref()), ("card_number_not_allowed", Some("card_token")), "{pan}");
            assert!(!v.message.contains(&pan[..6]), "the message echoes the number");
        }
    }

    #[test]
    fn tokens_are_kept_and_numbers_that_fail_luhn_or_length_are_tokens() {
        for token in ["tok_visa_4242", "4111111111111112", "411111111111", "41111111111111111111", "card-0001", "00000000000000000000"] {
            assert_eq!(CardToken::parse(token, "card_token").map(|t| t.into_string()).as_deref(), Ok(token), "{token}");
        }
        assert_eq!(CardToken::parse("", "card_token").unwrap_err().code, "invalid_card_token");
        assert_eq!(CardToken::parse("a b", "card_token").unwrap_err().code, "invalid_card_token");
        assert_eq!(format!("{:?}", CardToken::parse("tok_secret", "x").unwrap()), "CardToken(****)");
    }

    #[test]
    fn last4_is_four_digits() {
        assert_eq!(last4("1111", "last4").as_deref(), Ok("1111"));
        for bad in ["111", "11111", "11a1", ""] {
            assert_eq!(last4(bad, "last4").unwrap_err().code, "invalid_card_last4");
        }
    }

    proptest! {
        /// Any 13–19 digit number with its Luhn check digit appended is refused; changing the
        /// check digit makes it a token.
        #[test]
        fn every_luhn_valid_number_is_refused(body in proptest::collection::vec(0u32..10, 12..=18)) {
            let check = (0..10).find(|c| luhn_valid(&[body.clone(), vec![*c]].concat())).unwrap();
            let pan: String = body.iter().chain([check].iter()).map(|d| char::from_digit(*d, 10).unwrap()).collect();
            prop_assert_eq!(CardToken::parse(&pan, "card_token").unwrap_err().code, "card_number_not_allowed");
            let wrong: String = body.iter().chain([(check + 1) % 10].iter()).map(|d| char::from_digit(*d, 10).unwrap()).collect();
            prop_assert!(CardToken::parse(&wrong, "card_token").is_ok());
        }
    }
}
