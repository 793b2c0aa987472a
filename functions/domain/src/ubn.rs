//! 統一編號 (UBN): the 8-digit Taiwan business identifier and its check-digit rule.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::rule::RuleViolation;

/// A 統一編號 whose checksum holds (mod-5 rule in force since 2023-04-01).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ubn([u8; 8]);

const WEIGHTS: [u32; 8] = [1, 2, 1, 2, 1, 2, 4, 1];

impl Ubn {
    /// Parses 8 ASCII digits and checks the weighted digit-sum rule:
    /// valid when the sum is divisible by 5, or, when the 7th digit is 7, when sum + 1 is.
    pub fn parse(input: &str) -> Result<Self, RuleViolation> {
        let bytes = input.as_bytes();
        if bytes.len() != 8 || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(RuleViolation::on_field("invalid_ubn", "ubn", "ubn must be exactly 8 digits"));
        }
        let mut digits = [0u8; 8];
        for (d, b) in digits.iter_mut().zip(bytes) {
            *d = b - b'0';
        }
        let sum: u32 = digits
            .iter()
            .zip(WEIGHTS)
            .map(|(&d, w)| {
                let p = u32::from(d) * w;
                p / 10 + p % 10
            })
            .sum();
        let valid = sum % 5 == 0 || (digits[6] == 7 && (sum + 1) % 5 == 0);
        if valid { Ok(Self(digits)) } else { Err(RuleViolation::on_field("invalid_ubn", "ubn", "ubn fails the 統一編號 checksum")) }
    }

    pub fn as_string(&self) -> String {
        self.0.iter().map(|d| char::from(b'0' + d)).collect()
    }
}

impl fmt::Display for Ubn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_string())
    }
}

impl FromStr for Ubn {
    type Err = RuleViolation;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Ubn {
    type Error = RuleViolation;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Ubn> for String {
    fn from(u: Ubn) -> Self {
        u.as_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_published_valid_numbers() {
        // Examples from the MOF announcement and well-known companies.
        for ok in ["04595257", "10458575", "22099131", "12345675", "04595252", "00000000"] {
            assert!(Ubn::parse(ok).is_ok(), "{ok} should be valid");
        }
    }

    #[test]
    fn seventh_digit_seven_allows_sum_plus_one() {
        // 12345675: 7th digit 7, digit sum 39; 39 + 1 is divisible by 5.
        assert!(Ubn::parse("12345675").is_ok());
        // 10000073: 7th digit 7, digit sum 14.
        assert!(Ubn::parse("10000073").is_ok());
        // 10000062: digit sum 9 (sum + 1 divisible by 5), but the 7th digit is 6: no escape.
        assert!(Ubn::parse("10000062").is_err());
    }

    #[test]
    fn rejects_wrong_checksum_and_shape() {
        for bad in ["12345678", "04595253", "1234567", "123456789", "1234567a", "", " 4595257", "０４５９５２５７"] {
            let err = Ubn::parse(bad).unwrap_err();
            assert_eq!(err.code, "invalid_ubn", "{bad}");
        }
    }

    #[test]
    fn renames_field_in_message() {
        let err = Ubn::parse("1").unwrap_err().at("company.ubn");
        assert_eq!(err.field.as_deref(), Some("company.ubn"));
        assert!(err.message.starts_with("company.ubn"));
    }

    fn reference_sum(s: &str) -> u32 {
        s.chars()
            .zip([1, 2, 1, 2, 1, 2, 4, 1])
            .map(|(c, w)| {
                let p = c.to_digit(10).unwrap() * w;
                p.to_string().chars().map(|c| c.to_digit(10).unwrap()).sum::<u32>()
            })
            .sum()
    }

    proptest! {
        #[test]
        fn agrees_with_a_reference_implementation(n in 0u32..100_000_000) {
            let s = format!("{n:08}");
            let sum = reference_sum(&s);
            let expect = sum % 5 == 0 || (s.as_bytes()[6] == b'7' && (sum + 1) % 5 == 0);
            prop_assert_eq!(Ubn::parse(&s).is_ok(), expect);
            if let Ok(u) = Ubn::parse(&s) { prop_assert_eq!(u.to_string(), s); }
        }
    }
}
