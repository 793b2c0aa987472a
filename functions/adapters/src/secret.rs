//! A value that must never reach a log line, an error or a response.

use std::fmt;

/// Holds a secret string; `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The plaintext, for the one place that needs it (an HMAC key, a cipher key).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Last four characters, the only part a response may show (遮罩).
    pub fn masked(&self) -> String {
        mask_last4(&self.0)
    }
}

pub use einvoice_domain::settings::mask_last4;

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::new("super-secret-value");
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
        assert_eq!(s.masked(), "**************alue");
        assert_eq!(mask_last4("ab"), "**");
    }
}
