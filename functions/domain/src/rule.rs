//! A broken business rule: what the HTTP layer turns into a 422.

use std::fmt;

/// A rule the input or the request breaks, with a stable snake_case code and the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleViolation {
    pub code: &'static str,
    pub field: Option<String>,
    pub message: String,
}

impl RuleViolation {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self { code, field: None, message: message.into() }
    }

    pub fn on_field(code: &'static str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { code, field: Some(field.into()), message: message.into() }
    }

    /// The same violation reported against another field name (e.g. `ubn` → `company.ubn`).
    pub fn at(mut self, field: impl Into<String>) -> Self {
        let field = field.into();
        self.message = match &self.field {
            Some(old) => self.message.replacen(old.as_str(), &field, 1),
            None => self.message,
        };
        self.field = Some(field);
        self
    }
}

impl fmt::Display for RuleViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for RuleViolation {}
