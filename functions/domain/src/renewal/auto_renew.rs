//! 自動續約 (auto-renew): the setting stored on the plan item, and `PUT …/plan/auto-renew`,
//! which parses the request and changes the setting or says why not ([`RefusalKind`]).

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::day_after;
use crate::period::AutoRenewDates;
use crate::plan::PlanMonths;
use crate::rule::RuleViolation;

/// Why auto-renew stopped charging (暫停自動續約); the plan simply runs to its expiry.
/// Cleared by the merchant: binding a card ([`AutoRenew::bind_card`]) or turning auto-renew
/// on again ([`change_auto_renew`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuspendReason {
    /// The last scheduled attempt was declined (soft declines on every attempt day).
    Declined,
    /// The gateway said the card is expired or stolen: no retry.
    DeclinedHard,
    /// A charge was due and no card is bound.
    CardNotBound,
}

impl SuspendReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Declined => "declined",
            Self::DeclinedHard => "declined_hard",
            Self::CardNotBound => "card_not_bound",
        }
    }
}

impl fmt::Display for SuspendReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A cycle change made on or after a charge day: it applies to the renewals of periods ending
/// after `after_expiry` (the coming charge keeps the old cycle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextCycle {
    pub months: PlanMonths,
    pub after_expiry: NaiveDate,
}

/// 自動續約 setting of a merchant, stored on the plan item.
///
/// Invariant kept by every function here: `enabled` ⇒ `months` is set. `next` is settled
/// lazily: whenever the plan's expiry has moved past `next.after_expiry` (by an auto-renewal or
/// a manual 續購), [`AutoRenew::settled`] makes it the cycle.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoRenew {
    pub enabled: bool,
    /// The cycle of the coming renewal (also remembered while disabled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub months: Option<PlanMonths>,
    /// A cycle change that waits for the coming charge to be done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<NextCycle>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspended: Option<SuspendReason>,
    /// Last 4 digits of the bound card; `Some` exactly when a card (token) is bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_last4: Option<String>,
}

impl AutoRenew {
    pub fn card_bound(&self) -> bool {
        self.card_last4.is_some()
    }

    /// The state for a plan expiring on `expires_on`: a queued cycle change whose charge has
    /// passed (the expiry moved beyond `after_expiry`) becomes the cycle.
    pub fn settled(&self, expires_on: NaiveDate) -> Self {
        let mut settled = self.clone();
        if let Some(next) = settled.next.filter(|n| n.after_expiry < expires_on) {
            settled.months = Some(next.months);
            settled.next = None;
        }
        settled
    }

    /// [`AutoRenew::settled`] for a plan that may have nothing paid yet (`None`: as stored).
    pub fn settled_if_paid(&self, expires_on: Option<NaiveDate>) -> Self {
        expires_on.map_or_else(|| self.clone(), |e| self.settled(e))
    }

    /// The merchant's latest cycle choice: the queued one if any, else the current one.
    pub fn latest_months(&self) -> Option<PlanMonths> {
        self.next.map(|n| n.months).or(self.months)
    }

    /// 綁定信用卡 (payment settings, or a card checkout's callback): a new card also lifts a
    /// suspension, so the next charge run tries again (see [`charge_due`](super::charge_due)).
    pub fn bind_card(mut self, last4: impl Into<String>) -> Self {
        self.card_last4 = Some(last4.into());
        self.suspended = None;
        self
    }

    /// A paid card checkout with `auto_renew: true`: card bound, auto-renew on with its cycle.
    pub fn turned_on_by_checkout(self, months: PlanMonths, last4: impl Into<String>) -> Self {
        Self { enabled: true, months: Some(months), next: None, ..self.bind_card(last4) }
    }

    /// What [`ChargeDecision::Suspend`](super::ChargeDecision::Suspend) asks the job to store.
    pub fn suspend(mut self, reason: SuspendReason) -> Self {
        self.suspended = Some(reason);
        self
    }

    /// The coming renewal can no longer be cancelled: auto-renew is on and not suspended, and
    /// today is after the cancel deadline (T-15) but not after expiry.
    pub fn is_locked(&self, expires_on: NaiveDate, today: NaiveDate) -> bool {
        self.enabled && self.suspended.is_none() && AutoRenewDates::for_expiry(expires_on).is_locked(today) && today <= expires_on
    }
}

/// The `PUT …/plan/auto-renew` body as it arrives: a missing field is refused by
/// [`AutoRenewWire::parse`] naming it, a wrong JSON type by the decoder.
#[derive(Debug, Default, Deserialize)]
pub struct AutoRenewWire {
    pub enabled: Option<bool>,
    pub months: Option<u32>,
}

/// A checked `PUT auto-renew` request. `months: None` keeps the current cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoRenewRequest {
    pub enabled: bool,
    pub months: Option<PlanMonths>,
}

impl AutoRenewWire {
    /// `missing_field` (enabled) or `invalid_plan` (months): rules broken.
    pub fn parse(self) -> Result<AutoRenewRequest, RuleViolation> {
        let enabled = self.enabled.ok_or_else(|| RuleViolation::on_field("missing_field", "enabled", "enabled is required"))?;
        let months = self.months.map(PlanMonths::new).transpose()?;
        Ok(AutoRenewRequest { enabled, months })
    }
}

/// What kind of refusal an [`AutoRenewRefusal`] is (the HTTP layer maps it to a status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The request breaks a rule, whatever the plan's state (`missing_field`, `invalid_plan`,
    /// `card_not_bound`).
    Rule,
    /// The request is well formed but the plan's state forbids it now (`no_plan`,
    /// `plan_expired`, `cancel_deadline_passed`).
    Conflict,
}

/// Why `PUT auto-renew` was refused: a [`RuleViolation`] (code, field, message) and its
/// [`RefusalKind`]. `available_from` is set for `cancel_deadline_passed`: the first day turning
/// auto-renew off is sure to be accepted again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoRenewRefusal {
    pub kind: RefusalKind,
    pub violation: RuleViolation,
    pub available_from: Option<NaiveDate>,
}

impl AutoRenewRefusal {
    fn conflict(code: &'static str, message: String) -> Self {
        Self { kind: RefusalKind::Conflict, violation: RuleViolation::new(code, message), available_from: None }
    }

    pub fn code(&self) -> &'static str {
        self.violation.code
    }
}

impl From<RuleViolation> for AutoRenewRefusal {
    fn from(violation: RuleViolation) -> Self {
        Self { kind: RefusalKind::Rule, violation, available_from: None }
    }
}

impl fmt::Display for AutoRenewRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:?})", self.violation, self.kind)
    }
}

impl std::error::Error for AutoRenewRefusal {}

/// 設定自動續約: the new setting, or why not. `expires_on` is the plan's current expiry
/// (`None`: nothing paid yet).
///
/// Turning off (`enabled: false`, `months` ignored):
/// - already off → the same state (no-op success);
/// - accepted unless the coming renewal is locked ([`AutoRenew::is_locked`]: after T-15 and up
///   to expiry, auto-renew on and not suspended) → conflict `cancel_deadline_passed`. Once locked,
///   the renewal is charged from T-10; its success moves the expiry, and with it the deadline,
///   so turning off is accepted again from `charge_on` (message and `available_from` say so).
///   From `charge_on` on (charge not yet succeeded), `available_from` is expiry + 1 day.
/// - turning off keeps the latest cycle choice in `months` and lifts a suspension.
///
/// Turning on or changing the cycle (`enabled: true`), checked in this order:
/// `months` missing and no cycle chosen before → rule `missing_field`; no card → rule
/// `card_not_bound`; nothing paid → conflict `no_plan`; a request that changes nothing → the
/// same state; plan expired → conflict `plan_expired` (renew by a card checkout with
/// `auto_renew`).
/// - was on: a different cycle made before `charge_on` applies to the coming charge; made on
///   or after `charge_on` it is queued in `next` (the coming charge keeps its cycle). Accepted
///   after the cancel deadline too: a cycle change is not a cancellation.
/// - was off: the cycle applies to the coming charge whatever the day; turned on after the
///   deadline the renewal is locked at once and charged by the next charge run on or after
///   `charge_on` (still up to expiry).
/// - either way a suspension is lifted (the next charge run tries again).
pub fn change_auto_renew(
    state: &AutoRenew,
    expires_on: Option<NaiveDate>,
    today: NaiveDate,
    request: &AutoRenewRequest,
) -> Result<AutoRenew, AutoRenewRefusal> {
    let current = state.settled_if_paid(expires_on);
    if !request.enabled {
        return turn_off(current, expires_on, today);
    }
    let months = request
        .months
        .or_else(|| current.latest_months())
        .ok_or_else(|| RuleViolation::on_field("missing_field", "months", "months is required to turn auto-renew on (no cycle chosen yet)"))?;
    if !current.card_bound() {
        return Err(RuleViolation::new("card_not_bound", "auto-renew needs a bound credit card: bind one in the payment settings first").into());
    }
    let Some(expires_on) = expires_on else {
        return Err(AutoRenewRefusal::conflict("no_plan", "there is no paid plan to renew yet: buy a plan first".into()));
    };
    let mut next = current.clone();
    next.enabled = true;
    next.suspended = None;
    let charge_on = AutoRenewDates::for_expiry(expires_on).charge_on;
    if current.enabled && current.months.is_some() && today >= charge_on {
        next.next = (current.months != Some(months)).then_some(NextCycle { months, after_expiry: expires_on });
    } else {
        next.months = Some(months);
        next.next = None;
    }
    if next == current {
        return Ok(current);
    }
    if today > expires_on {
        return Err(AutoRenewRefusal::conflict(
            "plan_expired",
            format!("the plan expired on {expires_on}: buy a renewal (續購) by card with auto_renew to turn auto-renew on again"),
        ));
    }
    Ok(next)
}

fn turn_off(current: AutoRenew, expires_on: Option<NaiveDate>, today: NaiveDate) -> Result<AutoRenew, AutoRenewRefusal> {
    if !current.enabled {
        return Ok(current);
    }
    if let Some(e) = expires_on.filter(|&e| current.is_locked(e, today)) {
        return Err(cancel_deadline_passed(e, today));
    }
    let months = current.latest_months();
    Ok(AutoRenew { enabled: false, months, next: None, suspended: None, ..current })
}

fn cancel_deadline_passed(expires_on: NaiveDate, today: NaiveDate) -> AutoRenewRefusal {
    let AutoRenewDates { cancel_deadline, charge_on } = AutoRenewDates::for_expiry(expires_on);
    let head = format!(
        "auto-renew can no longer be turned off for the renewal of the period ending {expires_on}: \
         the last day to cancel was {cancel_deadline}"
    );
    let (message, from) = if today < charge_on {
        (
            format!(
                "{head}. The card is charged on {charge_on}; once that renewal is charged, auto-renew \
                 can be turned off for the following one, from {charge_on}"
            ),
            charge_on,
        )
    } else {
        let after = day_after(expires_on);
        (
            format!(
                "{head}. The renewal charge (due since {charge_on}) is in progress; auto-renew can be \
                 turned off once it is charged, or from {after} if it is not"
            ),
            after,
        )
    };
    AutoRenewRefusal { available_from: Some(from), ..AutoRenewRefusal::conflict("cancel_deadline_passed", message) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::period::last_day_covered;
    use crate::renewal::tests::{E, d, m, on, req};
    use crate::renewal::{ChargeAttempts, ChargeDecision, ChargeOrder, RetryPolicy, auto_renew_view, charge_due};

    fn change(state: &AutoRenew, today: &str, r: AutoRenewRequest) -> Result<AutoRenew, AutoRenewRefusal> {
        change_auto_renew(state, Some(d(E)), d(today), &r)
    }

    #[test]
    fn wire_is_checked() {
        let parse = |v: serde_json::Value| serde_json::from_value::<AutoRenewWire>(v).unwrap().parse();
        assert_eq!(parse(serde_json::json!({"enabled": true, "months": 6})).unwrap(), req(true, Some(6)));
        assert_eq!(parse(serde_json::json!({"enabled": false})).unwrap(), req(false, None));
        assert_eq!(parse(serde_json::json!({"enabled": true, "months": null})).unwrap(), req(true, None));
        let e = parse(serde_json::json!({"months": 3})).unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), ("missing_field", Some("enabled")));
        let e = parse(serde_json::json!({"enabled": true, "months": 5})).unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), ("invalid_plan", Some("months")));
        assert_eq!(AutoRenewRefusal::from(e).kind, RefusalKind::Rule);
    }

    #[test]
    fn cancel_is_accepted_on_t15_and_refused_from_t14() {
        let off = change(&on(3), "2026-12-16", req(false, None)).unwrap();
        assert_eq!(off, AutoRenew { enabled: false, ..on(3) });
        let e = change(&on(3), "2026-12-17", req(false, None)).unwrap_err();
        assert_eq!((e.code(), e.kind), ("cancel_deadline_passed", RefusalKind::Conflict));
        assert_eq!(e.available_from, Some(d("2026-12-21")));
        assert!(e.violation.message.contains("from 2026-12-21"), "{}", e.violation.message);
        assert!(e.violation.message.contains("2026-12-16"));
        // On T-11 still the charge day; from the charge day the charge is "in progress".
        assert_eq!(change(&on(3), "2026-12-20", req(false, None)).unwrap_err().available_from, Some(d("2026-12-21")));
        let e = change(&on(3), "2026-12-21", req(false, None)).unwrap_err();
        assert_eq!(e.available_from, Some(d("2027-01-01")));
        assert!(e.violation.message.contains("from 2027-01-01"));
        let e = change(&on(3), "2026-12-31", req(false, None)).unwrap_err();
        assert_eq!(e.code(), "cancel_deadline_passed");
        // After expiry nothing is locked any more.
        assert!(!change(&on(3), "2027-01-01", req(false, None)).unwrap().enabled);
    }

    #[test]
    fn once_renewed_the_deadline_moves_and_cancel_is_accepted_again() {
        let renewed = last_day_covered(d("2027-01-01"), 3); // 2027-03-31
        let r = change_auto_renew(&on(3), Some(renewed), d("2026-12-21"), &req(false, None)).unwrap();
        assert!(!r.enabled);
    }

    #[test]
    fn turning_off_is_idempotent_and_lifts_a_suspension() {
        let off = AutoRenew { enabled: false, ..on(6) };
        assert_eq!(change(&off, "2026-12-30", req(false, Some(12))).unwrap(), off);
        // Suspended: nothing is coming, so it can be turned off after the deadline.
        let s = on(6).suspend(SuspendReason::Declined);
        let r = change(&s, "2026-12-30", req(false, None)).unwrap();
        assert_eq!((r.enabled, r.suspended, r.months), (false, None, Some(m(6))));
        // With no plan at all there is nothing to lock.
        assert!(!change_auto_renew(&on(3), None, d("2026-12-30"), &req(false, None)).unwrap().enabled);
    }

    #[test]
    fn turning_on_needs_a_card_a_cycle_and_a_plan() {
        let no_card = AutoRenew::default();
        let e = change(&no_card, "2026-11-01", req(true, Some(3))).unwrap_err();
        assert_eq!((e.code(), e.kind), ("card_not_bound", RefusalKind::Rule));
        let card = AutoRenew::default().bind_card("4242");
        let e = change(&card, "2026-11-01", req(true, None)).unwrap_err();
        assert_eq!((e.code(), e.kind, e.violation.field.as_deref()), ("missing_field", RefusalKind::Rule, Some("months")));
        let e = change_auto_renew(&card, None, d("2026-11-01"), &req(true, Some(3))).unwrap_err();
        assert_eq!((e.code(), e.kind), ("no_plan", RefusalKind::Conflict));
        let e = change(&card, "2027-01-01", req(true, Some(3))).unwrap_err();
        assert_eq!((e.code(), e.kind), ("plan_expired", RefusalKind::Conflict));
        // A request that changes nothing is fine even then.
        assert_eq!(change(&on(3), "2027-01-01", req(true, Some(3))).unwrap(), on(3));
        let r = change(&card, "2026-11-01", req(true, Some(12))).unwrap();
        assert_eq!((r.enabled, r.months, r.next), (true, Some(m(12)), None));
        // Without months, the remembered cycle is kept.
        let off = AutoRenew { enabled: false, ..on(6) };
        assert_eq!(change(&off, "2026-11-01", req(true, None)).unwrap(), on(6));
    }

    #[test]
    fn cycle_change_before_the_charge_day_applies_to_the_coming_charge() {
        let r = change(&on(3), "2026-12-20", req(true, Some(12))).unwrap(); // T-11, after the deadline
        assert_eq!((r.months, r.next), (Some(m(12)), None));
        let r = change(&on(3), "2026-12-21", req(true, Some(12))).unwrap(); // T-10
        assert_eq!((r.months, r.next), (Some(m(3)), Some(NextCycle { months: m(12), after_expiry: d(E) })));
        let v = auto_renew_view(&r, Some(d(E)), d("2026-12-21"));
        assert_eq!((v.months, v.next_months, v.locked), (Some(m(3)), Some(m(12)), true));
        // Changing back to the coming cycle drops the queued change; `months: None` keeps it.
        assert_eq!(change(&r, "2026-12-22", req(true, None)).unwrap(), r);
        assert_eq!(change(&r, "2026-12-22", req(true, Some(3))).unwrap(), on(3));
        // Turning off later (after expiry) remembers the latest choice.
        let off = change(&r, "2027-01-01", req(false, None)).unwrap();
        assert_eq!((off.months, off.next), (Some(m(12)), None));
    }

    #[test]
    fn turning_on_again_after_the_deadline_locks_and_charges_the_coming_renewal() {
        let off = AutoRenew { enabled: false, ..on(3) };
        let r = change(&off, "2026-12-23", req(true, Some(6))).unwrap(); // after T-10 even
        assert_eq!((r.enabled, r.months, r.next), (true, Some(m(6)), None));
        assert!(auto_renew_view(&r, Some(d(E)), d("2026-12-23")).locked);
        let c = charge_due("s", &r, d(E), d("2026-12-23"), &ChargeAttempts::for_cycle(d(E)), &RetryPolicy::default());
        assert!(matches!(c, ChargeDecision::Charge(ChargeOrder { attempt: 1, months, .. }) if months == m(6)));
    }

    #[test]
    fn queued_cycle_takes_over_once_the_expiry_moves() {
        let s = AutoRenew { next: Some(NextCycle { months: m(24), after_expiry: d(E) }), ..on(3) };
        assert_eq!(s.settled(d(E)), s);
        let later = d("2027-03-31"); // e.g. a manual 續購 while the charge was declined
        assert_eq!(s.settled(later), on(24));
        assert_eq!(auto_renew_view(&s, Some(later), d("2027-01-05")).months, Some(m(24)));
    }

    #[test]
    fn stored_state_is_plain_json() {
        let s = AutoRenew { next: Some(NextCycle { months: m(12), after_expiry: d(E) }), ..on(3) };
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json, serde_json::json!({"enabled": true, "months": 3, "next": {"months": 12, "after_expiry": "2026-12-31"}, "card_last4": "4242"}));
        assert_eq!(serde_json::from_value::<AutoRenew>(json).unwrap(), s);
        assert_eq!(serde_json::from_value::<AutoRenew>(serde_json::json!({"enabled": false})).unwrap(), AutoRenew::default());
        assert!(serde_json::from_value::<AutoRenew>(serde_json::json!({"enabled": true, "months": 5})).is_err());
    }
}
