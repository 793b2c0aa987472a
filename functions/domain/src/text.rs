//! Free text (自由文字) as the contract takes it: names, addresses, item names. What is refused
//! at the door can never reach a document that must stay well-formed (the proof's SVG, the
//! e-mails, the upload to Wixtar).

use crate::RuleViolation;

/// A Unicode noncharacter: U+FDD0–U+FDEF and the last two code points of every plane
/// (U+FFFE, U+FFFF, U+1FFFE, …). They are for a program's internal use, never for interchange,
/// and U+FFFE / U+FFFF are not characters XML 1.0 allows.
pub fn is_noncharacter(c: char) -> bool {
    let u = u32::from(c);
    (0xFDD0..=0xFDEF).contains(&u) || u & 0xFFFE == 0xFFFE
}

/// Characters XML 1.0 allows in a document (`Char`): tab, line feed, carriage return,
/// U+0020–U+D7FF, U+E000–U+FFFD, U+10000–U+10FFFF.
pub fn is_xml_char(c: char) -> bool {
    matches!(u32::from(c), 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

/// An e-mail address as logs may show it: the first character of the local part, `***`, and
/// the domain (`alice@example.com` → `a***@example.com`); anything without an `@` → `***`.
pub fn mask_email(address: &str) -> String {
    match address.trim().rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() => {
            let first = local.chars().next().expect("non-empty");
            format!("{first}***@{domain}")
        }
        Some((_, domain)) => format!("***@{domain}"),
        None => "***".to_owned(),
    }
}

/// Refuses control characters and noncharacters in a free-text field: 422 `invalid_field`.
pub fn check(value: &str, field: &str) -> Result<(), RuleViolation> {
    if value.chars().any(char::is_control) {
        return Err(RuleViolation::on_field("invalid_field", field, format!("{field} contains control characters")));
    }
    refuse_noncharacters(value, field)
}

/// Refuses noncharacters only (fields where control characters are mapped, not refused).
pub fn refuse_noncharacters(value: &str, field: &str) -> Result<(), RuleViolation> {
    match value.chars().find(|&c| is_noncharacter(c)) {
        Some(c) => Err(RuleViolation::on_field("invalid_field", field, format!("{field} contains the Unicode noncharacter U+{:04X}", u32::from(c)))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e_mail_addresses_are_masked_for_logs() {
        assert_eq!(mask_email("alice@example.com"), "a***@example.com");
        assert_eq!(mask_email(" 王小明@example.com.tw "), "王***@example.com.tw");
        assert_eq!(mask_email("@example.com"), "***@example.com");
        assert_eq!(mask_email("not-an-address"), "***");
        assert!(!mask_email("alice.secret@example.com").contains("secret"));
    }

    #[test]
    fn the_noncharacters_are_exactly_the_66() {
        let all: Vec<u32> = (0..=0x10FFFFu32).filter_map(char::from_u32).filter(|&c| is_noncharacter(c)).map(u32::from).collect();
        assert_eq!(all.len(), 66);
        for u in [0xFDD0, 0xFDEF, 0xFFFE, 0xFFFF, 0x1FFFE, 0x10FFFF] {
            assert!(all.contains(&u), "{u:X}");
        }
        for c in ['\u{FDCF}', '\u{FDF0}', '\u{FFFD}', '\u{1FFFD}', 'a', '公'] {
            assert!(!is_noncharacter(c), "{c:?}");
        }
    }

    #[test]
    fn xml_chars_at_their_boundaries() {
        for c in ['\t', '\n', '\r', ' ', '\u{D7FF}', '\u{E000}', '\u{FFFD}', '\u{10000}', '\u{10FFFF}'] {
            assert!(is_xml_char(c), "{c:?}");
        }
        for c in ['\0', '\u{8}', '\u{B}', '\u{1F}', '\u{FFFE}', '\u{FFFF}'] {
            assert!(!is_xml_char(c), "{c:?}");
        }
    }

    #[test]
    fn check_refuses_controls_and_noncharacters_with_the_field() {
        assert!(check("小明商行 A&B <1>", "company.name").is_ok());
        for bad in ["a\u{FFFE}", "\u{FFFF}", "x\u{FDD0}y", "a\u{7}b", "a\nb"] {
            let v = check(bad, "company.name").unwrap_err();
            assert_eq!((v.code, v.field.as_deref()), ("invalid_field", Some("company.name")), "{bad:?}");
        }
        assert!(refuse_noncharacters("a\tb", "x").is_ok());
        assert!(refuse_noncharacters("a\u{10FFFF}", "x").is_err());
    }
}
