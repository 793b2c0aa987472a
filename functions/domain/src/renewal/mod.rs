//! 續購 / 自動續約: the auto-renew setting and the rules of its cycle, as pure functions of the
//! stored state and `today`. One room per rule:
//!
//! - [`auto_renew`] (自動續約): the state stored on the plan item and `PUT …/plan/auto-renew`
//!   ([`AutoRenewWire::parse`], then [`change_auto_renew`]);
//! - [`view`]: the plan view's `auto_renew` object ([`auto_renew_view`]);
//! - [`cutoff`] (取消期限, T-15): the renewal-cutoff job (00:05 Taipei) queries the `by-expiry`
//!   days of [`cutoff_window`], then [`cutoff_due`] per plan; after notifying, it stores
//!   `renewal_locked_for = notice.cycle`;
//! - [`charge`] (扣款日 T-10, retries): the renewal-charge job (00:10 Taipei) queries the days
//!   of [`charge_window`], then per plan [`charge_due`] → [`start_charge`] (write it) → gateway
//!   `POST /v1/charges` with the order's idempotency key → [`apply_charge_outcome`] (write it).
//!
//! Every write of [`AutoRenew`], [`ChargeAttempts`] and `expires_on` is one conditional write
//! of the plan item (its `version`): a run that read an older version drops its result.
//! That and the idempotency key [`renewal_charge_key`] are what keep a cycle to one charge.

pub mod auto_renew;
pub mod charge;
pub mod cutoff;
pub mod view;

#[cfg(test)]
mod tests;

use chrono::{Days, NaiveDate};

pub use auto_renew::{AutoRenew, AutoRenewRefusal, AutoRenewRequest, AutoRenewWire, NextCycle, RefusalKind, SuspendReason, change_auto_renew};
pub use charge::{
    AttemptOutcome, ChargeApplied, ChargeAttempt, ChargeAttempts, ChargeDecision, ChargeEffect, ChargeOrder, ChargeOutcome, NotDue, RetryPolicy,
    apply_charge_outcome, charge_due, charge_window, renewal_charge_key, start_charge,
};
pub use cutoff::{CUTOFF_LOOK_BACK_DAYS, CutoffNotice, cutoff_due, cutoff_window};
pub use view::{AutoRenewView, auto_renew_view};

/// The day after `d` (a renewal starts the day after the expiry it renews, a lock the day after
/// the cancel deadline).
fn day_after(d: NaiveDate) -> NaiveDate {
    d + Days::new(1)
}
