//! 訂單: the platform's order as its webhooks describe it, merged monotonically however the
//! webhooks arrive, and the decision whether (and at which trigger) to issue its one invoice.
//! One room per concern, each using only the rooms listed before it:
//!
//! - [`model`]: the checked [`Order`] and its value types (訂單編號, 付款狀態, 配送狀態, 物流);
//! - [`wire`]: the order as sent ([`OrderWire`]), checked into an [`Order`], stored as sent;
//! - [`state`]: events merged into an [`OrderState`] (statuses forward, content from the latest
//!   `occurred_at`) and the bound on `occurred_at` ([`check_occurred_at`]);
//! - [`content`]: the invoice the content makes: total, 商品明細 and 銷售額 by 課稅別 ([`taxed_sale`]);
//! - [`decision`]: [`decide`]: issue now (at which trigger), `waiting`, `disabled` or `not_issuable`.
//!
//! They build on [`crate::tax`] (課稅別), [`crate::sale`] (invoice lines and amounts),
//! [`crate::buyer`] and [`crate::settings`], none of which uses this module.

pub mod content;
pub mod decision;
pub mod model;
pub mod state;
pub mod wire;

#[cfg(test)]
mod tests;

pub use content::{MIXED_TAX_B2B, MIXED_TAX_NOT_APPROVED, TaxPlan, TaxedSale, ZERO_TAX_DETAILS_MISSING, invoice_lines, invoice_total, tax_plan, taxed_sale};
pub use decision::{CUSTOM_LOGISTICS_NEVER_RECEIVED, Decision, DisabledReason, IssueSettings, ORDER_CANCELLED, decide};
pub use model::{CURRENCY, DeliveryStatus, Logistics, Order, OrderId, OrderLine, PaymentStatus};
pub use state::{EVENT_TIME_AHEAD, OrderState, check_occurred_at, earliest_event_time};
pub use wire::{OrderLineWire, OrderWire};
