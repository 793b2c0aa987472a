//! 續購 / 自動續約: the auto-renew setting, the renewal-cutoff rule (T-15) and the
//! renewal-charge rule (T-10, retries), as pure functions of the stored state and `today`.
//!
//! Who calls what:
//! - `PUT …/plan/auto-renew`: [`AutoRenewWire::parse`], then [`change_auto_renew`].
//! - the plan view: [`auto_renew_view`].
//! - renewal-cutoff job (00:05 Taipei): query the `by-expiry` days of [`cutoff_window`], then
//!   [`cutoff_due`] per plan; after notifying, store `renewal_locked_for = notice.cycle`.
//! - renewal-charge job (00:10 Taipei): query the days of [`charge_window`], then per plan
//!   [`charge_due`] → [`start_charge`] (write it) → gateway `POST /v1/charges` with the
//!   order's idempotency key → [`apply_charge_outcome`] (write it).
//!
//! Every write of [`AutoRenew`], [`ChargeAttempts`] and `expires_on` is one conditional write
//! of the plan item (its `version`): a run that read an older version drops its result.
//! That and the idempotency key [`renewal_charge_key`] are what keep a cycle to one charge.

use std::fmt;
use std::ops::RangeInclusive;

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::period::{AutoRenewDates, CANCEL_DAYS_BEFORE_EXPIRY, CHARGE_DAYS_BEFORE_EXPIRY, last_day_covered};
use crate::plan::PlanMonths;
use crate::rule::RuleViolation;

fn day_after(d: NaiveDate) -> NaiveDate {
    d + Days::new(1)
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

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
        let mut s = self.clone();
        if let Some(next) = s.next.filter(|n| n.after_expiry < expires_on) {
            s.months = Some(next.months);
            s.next = None;
        }
        s
    }

    /// The merchant's latest cycle choice: the queued one if any, else the current one.
    pub fn latest_months(&self) -> Option<PlanMonths> {
        self.next.map(|n| n.months).or(self.months)
    }

    /// 綁定信用卡 (payment settings, or a card checkout's callback): a new card also lifts a
    /// suspension, so the next charge run tries again (see [`charge_due`]).
    pub fn bind_card(mut self, last4: impl Into<String>) -> Self {
        self.card_last4 = Some(last4.into());
        self.suspended = None;
        self
    }

    /// A paid card checkout with `auto_renew: true`: card bound, auto-renew on with its cycle.
    pub fn turned_on_by_checkout(self, months: PlanMonths, last4: impl Into<String>) -> Self {
        Self { enabled: true, months: Some(months), next: None, ..self.bind_card(last4) }
    }

    /// What [`ChargeDecision::Suspend`] asks the job to store.
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

// ---------------------------------------------------------------------------------------------
// PUT auto-renew
// ---------------------------------------------------------------------------------------------

/// The `PUT …/plan/auto-renew` body as it arrives: a missing field is a 422 naming it, a wrong
/// JSON type a 400 from the decoder.
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
    /// `missing_field` (enabled) or `invalid_plan` (months), both 422.
    pub fn parse(self) -> Result<AutoRenewRequest, RuleViolation> {
        let enabled = self.enabled.ok_or_else(|| RuleViolation::on_field("missing_field", "enabled", "enabled is required"))?;
        let months = self.months.map(PlanMonths::new).transpose()?;
        Ok(AutoRenewRequest { enabled, months })
    }
}

/// HTTP class of an [`AutoRenewRefusal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// 422: the request breaks a rule (`missing_field`, `invalid_plan`, `card_not_bound`).
    Rule,
    /// 409: the plan's state forbids it now (`no_plan`, `plan_expired`, `cancel_deadline_passed`).
    Conflict,
}

impl RefusalKind {
    pub fn http_status(self) -> u16 {
        match self {
            Self::Rule => 422,
            Self::Conflict => 409,
        }
    }
}

/// Why `PUT auto-renew` was refused: a [`RuleViolation`] (code, field, message) and its HTTP
/// class. `available_from` is set for `cancel_deadline_passed`: the first day turning
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

    pub fn http_status(&self) -> u16 {
        self.kind.http_status()
    }
}

impl From<RuleViolation> for AutoRenewRefusal {
    fn from(violation: RuleViolation) -> Self {
        Self { kind: RefusalKind::Rule, violation, available_from: None }
    }
}

impl fmt::Display for AutoRenewRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.violation, self.http_status())
    }
}

impl std::error::Error for AutoRenewRefusal {}

/// 設定自動續約: the new setting, or why not. `expires_on` is the plan's current expiry
/// (`None`: nothing paid yet).
///
/// Turning off (`enabled: false`, `months` ignored):
/// - already off → the same state (no-op success);
/// - accepted unless the coming renewal is locked ([`AutoRenew::is_locked`]: after T-15 and up
///   to expiry, auto-renew on and not suspended) → 409 `cancel_deadline_passed`. Once locked,
///   the renewal is charged from T-10; its success moves the expiry, and with it the deadline,
///   so turning off is accepted again from `charge_on` (message and `available_from` say so).
///   From `charge_on` on (charge not yet succeeded), `available_from` is expiry + 1 day.
/// - turning off keeps the latest cycle choice in `months` and lifts a suspension.
///
/// Turning on or changing the cycle (`enabled: true`), checked in this order:
/// `months` missing and no cycle chosen before → 422 `missing_field`; no card → 422
/// `card_not_bound`; nothing paid → 409 `no_plan`; a request that changes nothing → the same
/// state; plan expired → 409 `plan_expired` (renew by a card checkout with `auto_renew`).
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
    let current = match expires_on {
        Some(e) => state.settled(e),
        None => state.clone(),
    };
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

// ---------------------------------------------------------------------------------------------
// Plan view
// ---------------------------------------------------------------------------------------------

/// The plan view's `auto_renew` object. Dates are `None` only when nothing is paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AutoRenewView {
    pub enabled: bool,
    /// Cycle of the coming renewal.
    pub months: Option<PlanMonths>,
    /// Cycle chosen on or after the charge day: applies from the renewal after the coming one.
    pub next_months: Option<PlanMonths>,
    pub cancel_deadline: Option<NaiveDate>,
    pub charge_on: Option<NaiveDate>,
    /// [`AutoRenew::is_locked`]: exactly when turning auto-renew off is refused.
    pub locked: bool,
    pub suspended: Option<SuspendReason>,
}

pub fn auto_renew_view(state: &AutoRenew, expires_on: Option<NaiveDate>, today: NaiveDate) -> AutoRenewView {
    let s = match expires_on {
        Some(e) => state.settled(e),
        None => state.clone(),
    };
    let dates = expires_on.map(AutoRenewDates::for_expiry);
    AutoRenewView {
        enabled: s.enabled,
        months: s.months,
        next_months: s.next.map(|n| n.months),
        cancel_deadline: dates.map(|d| d.cancel_deadline),
        charge_on: dates.map(|d| d.charge_on),
        locked: expires_on.is_some_and(|e| s.is_locked(e, today)),
        suspended: s.suspended,
    }
}

// ---------------------------------------------------------------------------------------------
// renewal-cutoff job (T-15)
// ---------------------------------------------------------------------------------------------

/// Default look-back of [`cutoff_window`]: every expiry whose renewal is locked and not yet
/// expired (a lock notice is still worth sending up to the expiry day).
pub const CUTOFF_LOOK_BACK_DAYS: u64 = CANCEL_DAYS_BEFORE_EXPIRY - 1;

/// Expiry days (`by-expiry` GSI keys) the cutoff job reads: a renewal locks on expiry − 14
/// (the day after T-15), so today's new locks expire on today + 14; `look_back_days` more
/// days back catch up missed runs (never before today: expired plans are not locked).
pub fn cutoff_window(today: NaiveDate, look_back_days: u64) -> RangeInclusive<NaiveDate> {
    let newest = today + Days::new(CANCEL_DAYS_BEFORE_EXPIRY - 1);
    let oldest = newest.checked_sub_days(Days::new(look_back_days)).map_or(today, |d| d.max(today));
    oldest..=newest
}

/// 續約鎖定通知: the coming renewal can no longer be cancelled. The integrator prices it with
/// the catalogue (`price(months)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CutoffNotice {
    /// The expiry being renewed; store it as `renewal_locked_for`.
    pub cycle: NaiveDate,
    pub locked_from: NaiveDate,
    pub charge_on: NaiveDate,
    pub months: PlanMonths,
    pub card_last4: String,
}

/// Whether the cutoff job must notify now: auto-renew on, not suspended, card bound, the
/// renewal locked (cancel deadline < today ≤ expiry) and not yet notified for this expiry
/// (`already_locked_for` = the `cycle` of the last notice sent). Catches up: any run from
/// T-14 to the expiry day sends it once.
pub fn cutoff_due(state: &AutoRenew, expires_on: NaiveDate, today: NaiveDate, already_locked_for: Option<NaiveDate>) -> Option<CutoffNotice> {
    let s = state.settled(expires_on);
    if !s.is_locked(expires_on, today) || already_locked_for == Some(expires_on) {
        return None;
    }
    let dates = AutoRenewDates::for_expiry(expires_on);
    Some(CutoffNotice {
        cycle: expires_on,
        locked_from: day_after(dates.cancel_deadline),
        charge_on: dates.charge_on,
        months: s.months?,
        card_last4: s.card_last4?,
    })
}

// ---------------------------------------------------------------------------------------------
// renewal-charge job (T-10 and retries)
// ---------------------------------------------------------------------------------------------

/// Expiry days the charge job reads: charges are due from T-10 up to the expiry day.
pub fn charge_window(today: NaiveDate) -> RangeInclusive<NaiveDate> {
    today..=today + Days::new(CHARGE_DAYS_BEFORE_EXPIRY)
}

/// Days before expiry on which a softly declined renewal is tried again (after T-10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    retry_days_before_expiry: Vec<u64>,
}

impl Default for RetryPolicy {
    /// T-7, T-4, T-1.
    fn default() -> Self {
        Self { retry_days_before_expiry: vec![7, 4, 1] }
    }
}

impl RetryPolicy {
    /// Distinct days, each after the charge day (0–9 days before expiry); any order.
    pub fn new(days: impl IntoIterator<Item = u64>) -> Result<Self, String> {
        let mut days: Vec<u64> = days.into_iter().collect();
        if let Some(bad) = days.iter().find(|&&d| d >= CHARGE_DAYS_BEFORE_EXPIRY) {
            return Err(format!("retry day {bad} is not after the charge day: retry days must be 0 to {} days before expiry", CHARGE_DAYS_BEFORE_EXPIRY - 1));
        }
        days.sort_unstable_by(|a, b| b.cmp(a));
        let before = days.len();
        days.dedup();
        if days.len() != before {
            return Err("retry days must be distinct".into());
        }
        Ok(Self { retry_days_before_expiry: days })
    }

    pub fn retry_days_before_expiry(&self) -> &[u64] {
        &self.retry_days_before_expiry
    }

    /// The scheduled attempt days of a cycle, in order: charge_on, then each retry day.
    pub fn attempt_days(&self, expires_on: NaiveDate) -> Vec<NaiveDate> {
        let charge_on = AutoRenewDates::for_expiry(expires_on).charge_on;
        std::iter::once(charge_on).chain(self.retry_days_before_expiry.iter().map(|&d| expires_on - Days::new(d))).collect()
    }

    /// The first scheduled day after a declined attempt, `None` when that decline is final
    /// (hard, or no scheduled day left after the day it was made).
    pub fn next_attempt_day(&self, expires_on: NaiveDate, declined: &ChargeAttempt) -> Option<NaiveDate> {
        if declined.outcome == AttemptOutcome::DeclinedHard {
            return None;
        }
        self.attempt_days(expires_on).into_iter().find(|&d| d > declined.on)
    }
}

/// What became of one charge attempt. `pending`: recorded before calling the gateway, outcome
/// not known yet (a crash, a timeout): the same attempt is sent again with the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Pending,
    Succeeded,
    Declined,
    DeclinedHard,
}

/// One charge attempt of a cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeAttempt {
    /// 1, 2, …: part of the idempotency key.
    pub attempt: u32,
    /// The (Taipei) day of the run that started it.
    pub on: NaiveDate,
    /// The cycle charged; a resumed attempt charges the same.
    pub months: PlanMonths,
    pub outcome: AttemptOutcome,
}

/// The renewal charge attempts of one cycle, stored on the plan item, e.g.
/// `{"cycle_expires_on":"2026-12-31","attempts":[{"attempt":1,"on":"2026-12-21","months":3,"outcome":"declined"}]}`.
/// A record of another cycle than the plan's expiry counts as no attempt (except a pending
/// one, which is always resumed first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeAttempts {
    pub cycle_expires_on: NaiveDate,
    #[serde(default)]
    pub attempts: Vec<ChargeAttempt>,
}

impl ChargeAttempts {
    /// No attempt yet: what to pass when the plan item has none stored.
    pub fn for_cycle(expires_on: NaiveDate) -> Self {
        Self { cycle_expires_on: expires_on, attempts: Vec::new() }
    }

    pub fn pending(&self) -> Option<&ChargeAttempt> {
        self.attempts.iter().find(|a| a.outcome == AttemptOutcome::Pending)
    }

    fn of_cycle(&self, expires_on: NaiveDate) -> &[ChargeAttempt] {
        if self.cycle_expires_on == expires_on { &self.attempts } else { &[] }
    }
}

/// The gateway's answer to `POST /v1/charges` (`result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargeOutcome {
    Succeeded,
    /// Soft decline: may succeed later.
    Declined,
    /// Expired or stolen card: not worth retrying.
    DeclinedHard,
}

impl ChargeOutcome {
    /// `succeeded`, `declined`, `declined_hard`.
    pub fn parse(result: &str) -> Option<Self> {
        match result {
            "succeeded" => Some(Self::Succeeded),
            "declined" => Some(Self::Declined),
            "declined_hard" => Some(Self::DeclinedHard),
            _ => None,
        }
    }
}

impl From<ChargeOutcome> for AttemptOutcome {
    fn from(o: ChargeOutcome) -> Self {
        match o {
            ChargeOutcome::Succeeded => Self::Succeeded,
            ChargeOutcome::Declined => Self::Declined,
            ChargeOutcome::DeclinedHard => Self::DeclinedHard,
        }
    }
}

/// The gateway idempotency key of a renewal charge: `renew:{merchant_id}:{cycle}:{attempt}`,
/// e.g. `renew:demo-shop:2026-12-31:1`. Only these three go in, so any re-run of a decision
/// sends the same key, and the gateway charges it at most once.
pub fn renewal_charge_key(merchant_id: &str, cycle: NaiveDate, attempt: u32) -> String {
    format!("renew:{merchant_id}:{cycle}:{attempt}")
}

/// A charge the job must send: `amount = catalogue.price(months)`, the bound card's token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChargeOrder {
    /// The expiry being renewed.
    pub cycle: NaiveDate,
    pub attempt: u32,
    pub months: PlanMonths,
    pub idempotency_key: String,
    /// The attempt was already started (pending): this is a re-send, not a new charge.
    pub resumed: bool,
}

/// Why nothing is charged for a plan today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum NotDue {
    Disabled,
    Suspended {
        suspended: SuspendReason,
    },
    BeforeChargeDay {
        charge_on: NaiveDate,
    },
    /// Past the expiry day: nothing new is charged (the plan simply expires).
    Expired,
    /// Declined; the next attempt is on this day (or the first run after it).
    WaitingForRetry {
        next_attempt_on: NaiveDate,
    },
}

/// What the renewal-charge job does for one plan today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum ChargeDecision {
    Charge(ChargeOrder),
    NotDue(NotDue),
    /// This cycle's charge succeeded already (a stale read or a re-run).
    AlreadyCharged {
        cycle: NaiveDate,
    },
    /// Store `state.suspend(reason)` and notify the merchant; nothing is charged.
    Suspend {
        reason: SuspendReason,
    },
}

/// 續約扣款: what to do for a plan expiring on `expires_on`, in this order:
/// 1. an attempt still `pending` (of any cycle) is re-sent with its key and months, whatever
///    the day or the setting: its charge may have gone through;
/// 2. this cycle already succeeded → `AlreadyCharged`;
/// 3. today outside [charge_on, expires_on] → `NotDue` (`Expired` after expiry);
/// 4. auto-renew off → `Disabled`; suspended → `Suspended`; no card → `Suspend(card_not_bound)`;
/// 5. no attempt yet → attempt 1 (from T-10, caught up on any later day up to expiry);
///    after a soft decline → the next attempt once the first scheduled day after that decline
///    has come (a missed day is caught up on the next run, and one run consumes every
///    scheduled day up to its date); after a final decline that the merchant has lifted
///    (new card, turned on again) → one more attempt.
pub fn charge_due(
    merchant_id: &str,
    state: &AutoRenew,
    expires_on: NaiveDate,
    today: NaiveDate,
    attempts: &ChargeAttempts,
    retry: &RetryPolicy,
) -> ChargeDecision {
    let order = |cycle, attempt, months, resumed| {
        ChargeDecision::Charge(ChargeOrder { cycle, attempt, months, idempotency_key: renewal_charge_key(merchant_id, cycle, attempt), resumed })
    };
    if let Some(p) = attempts.pending() {
        return order(attempts.cycle_expires_on, p.attempt, p.months, true);
    }
    let history = attempts.of_cycle(expires_on);
    if history.iter().any(|a| a.outcome == AttemptOutcome::Succeeded) {
        return ChargeDecision::AlreadyCharged { cycle: expires_on };
    }
    let charge_on = AutoRenewDates::for_expiry(expires_on).charge_on;
    if today > expires_on {
        return ChargeDecision::NotDue(NotDue::Expired);
    }
    if today < charge_on {
        return ChargeDecision::NotDue(NotDue::BeforeChargeDay { charge_on });
    }
    let s = state.settled(expires_on);
    let Some(months) = s.months.filter(|_| s.enabled) else {
        return ChargeDecision::NotDue(NotDue::Disabled);
    };
    if let Some(suspended) = s.suspended {
        return ChargeDecision::NotDue(NotDue::Suspended { suspended });
    }
    if !s.card_bound() {
        return ChargeDecision::Suspend { reason: SuspendReason::CardNotBound };
    }
    let Some(last) = history.iter().max_by_key(|a| a.attempt) else {
        return order(expires_on, 1, months, false);
    };
    match retry.next_attempt_day(expires_on, last) {
        Some(day) if day > today => ChargeDecision::NotDue(NotDue::WaitingForRetry { next_attempt_on: day }),
        _ => order(expires_on, last.attempt + 1, months, false),
    }
}

/// The attempts to store (conditionally) before calling the gateway: the order's attempt as
/// `pending`, started today. Unchanged when already recorded (a resumed attempt).
pub fn start_charge(attempts: &ChargeAttempts, order: &ChargeOrder, today: NaiveDate) -> ChargeAttempts {
    let mut a = if attempts.cycle_expires_on == order.cycle { attempts.clone() } else { ChargeAttempts::for_cycle(order.cycle) };
    if !a.attempts.iter().any(|x| x.attempt == order.attempt) {
        a.attempts.push(ChargeAttempt { attempt: order.attempt, on: today, months: order.months, outcome: AttemptOutcome::Pending });
    }
    a
}

/// What the merchant is told after a charge (each decline is notified).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChargeEffect {
    /// 續約成功: the period now ends on `expires_on`.
    Renewed { cycle: NaiveDate, attempt: u32, months: PlanMonths, expires_on: NaiveDate },
    /// 扣款失敗: tried again on `next_attempt_on`.
    Declined { cycle: NaiveDate, attempt: u32, next_attempt_on: NaiveDate },
    /// 扣款失敗, auto-renew suspended: the plan runs to its expiry.
    Suspended { cycle: NaiveDate, attempt: u32, reason: SuspendReason },
}

/// The plan item after a charge outcome; write it conditionally (the version read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeApplied {
    pub state: AutoRenew,
    pub expires_on: NaiveDate,
    pub attempts: ChargeAttempts,
    /// `None`: nothing changed (the attempt's outcome was recorded already) or a superseded
    /// cycle was declined.
    pub effect: Option<ChargeEffect>,
}

/// Records the gateway's answer to `order` (started with [`start_charge`] or not).
/// - already recorded → nothing changes (`effect: None`): applying twice is harmless;
/// - succeeded → expiry = `last_day_covered(expires_on + 1, months)` (contiguous, even when
///   the answer is learnt after expiry: the charge was started before it), and a queued cycle
///   change becomes the cycle;
/// - declined → retried on the next scheduled day, or, when none is left, suspended
///   (`declined`); declined hard → suspended (`declined_hard`) at once;
/// - a decline of a superseded cycle (the expiry moved since, by a manual 續購) is only
///   recorded.
pub fn apply_charge_outcome(
    state: &AutoRenew,
    expires_on: NaiveDate,
    attempts: &ChargeAttempts,
    order: &ChargeOrder,
    outcome: ChargeOutcome,
    today: NaiveDate,
    retry: &RetryPolicy,
) -> ChargeApplied {
    let mut attempts = start_charge(attempts, order, today);
    let unchanged = |attempts| ChargeApplied { state: state.clone(), expires_on, attempts, effect: None };
    let Some(record) = attempts.attempts.iter_mut().find(|x| x.attempt == order.attempt) else { unreachable!("start_charge records the order's attempt") };
    if record.outcome != AttemptOutcome::Pending {
        return unchanged(attempts);
    }
    record.outcome = outcome.into();
    let record = *record;
    let (cycle, attempt) = (order.cycle, order.attempt);
    let suspended = |reason| ChargeApplied {
        state: state.clone().suspend(reason),
        expires_on,
        attempts: attempts.clone(),
        effect: Some(ChargeEffect::Suspended { cycle, attempt, reason }),
    };
    match outcome {
        ChargeOutcome::Succeeded => {
            let renewed = last_day_covered(day_after(expires_on), record.months.get());
            ChargeApplied {
                state: state.settled(renewed),
                expires_on: renewed,
                effect: Some(ChargeEffect::Renewed { cycle, attempt, months: record.months, expires_on: renewed }),
                attempts,
            }
        }
        _ if cycle != expires_on => unchanged(attempts),
        ChargeOutcome::DeclinedHard => suspended(SuspendReason::DeclinedHard),
        ChargeOutcome::Declined => match retry.next_attempt_day(cycle, &record) {
            None => suspended(SuspendReason::Declined),
            Some(next_attempt_on) => {
                ChargeApplied { state: state.clone(), expires_on, effect: Some(ChargeEffect::Declined { cycle, attempt, next_attempt_on }), attempts }
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn m(n: u32) -> PlanMonths {
        PlanMonths::new(n).unwrap()
    }

    fn on(months: u32) -> AutoRenew {
        AutoRenew::default().turned_on_by_checkout(m(months), "4242")
    }

    fn req(enabled: bool, months: Option<u32>) -> AutoRenewRequest {
        AutoRenewRequest { enabled, months: months.map(m) }
    }

    const E: &str = "2026-12-31"; // cancel deadline 12-16, charge on 12-21

    fn change(state: &AutoRenew, today: &str, r: AutoRenewRequest) -> Result<AutoRenew, AutoRenewRefusal> {
        change_auto_renew(state, Some(d(E)), d(today), &r)
    }

    // --- PUT auto-renew -----------------------------------------------------------------------

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
        assert_eq!(AutoRenewRefusal::from(e).http_status(), 422);
    }

    #[test]
    fn cancel_is_accepted_on_t15_and_refused_from_t14() {
        let off = change(&on(3), "2026-12-16", req(false, None)).unwrap();
        assert_eq!(off, AutoRenew { enabled: false, ..on(3) });
        let e = change(&on(3), "2026-12-17", req(false, None)).unwrap_err();
        assert_eq!((e.code(), e.http_status()), ("cancel_deadline_passed", 409));
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
        assert_eq!((e.code(), e.http_status()), ("card_not_bound", 422));
        let card = AutoRenew::default().bind_card("4242");
        let e = change(&card, "2026-11-01", req(true, None)).unwrap_err();
        assert_eq!((e.code(), e.http_status(), e.violation.field.as_deref()), ("missing_field", 422, Some("months")));
        let e = change_auto_renew(&card, None, d("2026-11-01"), &req(true, Some(3))).unwrap_err();
        assert_eq!((e.code(), e.http_status()), ("no_plan", 409));
        let e = change(&card, "2027-01-01", req(true, Some(3))).unwrap_err();
        assert_eq!((e.code(), e.http_status()), ("plan_expired", 409));
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
    fn view_boundaries() {
        let v = |s: &AutoRenew, today| auto_renew_view(s, Some(d(E)), d(today));
        assert!(!v(&on(3), "2026-12-16").locked);
        assert!(v(&on(3), "2026-12-17").locked);
        assert!(v(&on(3), "2026-12-31").locked);
        assert!(!v(&on(3), "2027-01-01").locked);
        assert!(!v(&AutoRenew { enabled: false, ..on(3) }, "2026-12-20").locked);
        assert!(!v(&on(3).suspend(SuspendReason::DeclinedHard), "2026-12-20").locked);
        let full = v(&on(3), "2026-12-01");
        assert_eq!((full.cancel_deadline, full.charge_on), (Some(d("2026-12-16")), Some(d("2026-12-21"))));
        let none = auto_renew_view(&AutoRenew::default(), None, d("2026-12-01"));
        assert_eq!((none.enabled, none.cancel_deadline, none.charge_on, none.locked), (false, None, None, false));
        let json = serde_json::to_value(&full).unwrap();
        assert_eq!(json["cancel_deadline"], "2026-12-16");
        assert_eq!(json["months"], 3);
    }

    // --- renewal-cutoff -----------------------------------------------------------------------

    #[test]
    fn cutoff_locks_from_the_day_after_the_deadline_once_per_cycle() {
        let due = |s: &AutoRenew, today, sent| cutoff_due(s, d(E), d(today), sent);
        assert_eq!(due(&on(3), "2026-12-16", None), None);
        let n = due(&on(3), "2026-12-17", None).unwrap();
        assert_eq!(n, CutoffNotice { cycle: d(E), locked_from: d("2026-12-17"), charge_on: d("2026-12-21"), months: m(3), card_last4: "4242".into() });
        // Catch-up: still due later, up to the expiry day; once sent, never again.
        assert_eq!(due(&on(3), "2026-12-21", None), Some(n.clone()));
        assert_eq!(due(&on(3), "2026-12-31", None), Some(n));
        assert_eq!(due(&on(3), "2027-01-01", None), None);
        assert_eq!(due(&on(3), "2026-12-18", Some(d(E))), None);
        // A notice of an older cycle does not count.
        assert!(due(&on(3), "2026-12-18", Some(d("2026-09-30"))).is_some());
        assert_eq!(due(&AutoRenew { enabled: false, ..on(3) }, "2026-12-18", None), None);
        assert_eq!(due(&on(3).suspend(SuspendReason::Declined), "2026-12-18", None), None);
        assert_eq!(due(&AutoRenew { card_last4: None, ..on(3) }, "2026-12-18", None), None);
    }

    #[test]
    fn cutoff_window_covers_todays_locks_and_the_missed_ones() {
        let today = d("2026-12-01");
        assert_eq!(cutoff_window(today, CUTOFF_LOOK_BACK_DAYS), d("2026-12-01")..=d("2026-12-15"));
        assert_eq!(cutoff_window(today, 0), d("2026-12-15")..=d("2026-12-15"));
        assert_eq!(cutoff_window(today, 3), d("2026-12-12")..=d("2026-12-15"));
        assert_eq!(cutoff_window(today, 400), d("2026-12-01")..=d("2026-12-15"));
        // The newest day of the window is exactly the one whose renewal locks today.
        let newest = *cutoff_window(today, 0).start();
        assert!(cutoff_due(&on(3), newest, today, None).is_some());
        assert!(cutoff_due(&on(3), newest + Days::new(1), today, None).is_none());
        assert_eq!(charge_window(today), d("2026-12-01")..=d("2026-12-11"));
    }

    // --- renewal-charge -----------------------------------------------------------------------

    fn due(state: &AutoRenew, expires: &str, today: &str, attempts: &ChargeAttempts) -> ChargeDecision {
        charge_due("shop-1", state, d(expires), d(today), attempts, &RetryPolicy::default())
    }

    fn order(decision: ChargeDecision) -> ChargeOrder {
        match decision {
            ChargeDecision::Charge(o) => o,
            other => panic!("expected a charge, got {other:?}"),
        }
    }

    /// Runs the job once for expiry `E`-like plans: start, gateway answer, apply.
    fn run(state: &AutoRenew, expires: NaiveDate, attempts: &ChargeAttempts, today: &str, outcome: ChargeOutcome) -> ChargeApplied {
        let o = order(charge_due("shop-1", state, expires, d(today), attempts, &RetryPolicy::default()));
        let started = start_charge(attempts, &o, d(today));
        apply_charge_outcome(state, expires, &started, &o, outcome, d(today), &RetryPolicy::default())
    }

    #[test]
    fn charged_on_t10_not_t11_and_caught_up_until_expiry() {
        let none = ChargeAttempts::for_cycle(d(E));
        assert_eq!(due(&on(3), E, "2026-12-20", &none), ChargeDecision::NotDue(NotDue::BeforeChargeDay { charge_on: d("2026-12-21") }));
        let o = order(due(&on(3), E, "2026-12-21", &none));
        assert_eq!(o, ChargeOrder { cycle: d(E), attempt: 1, months: m(3), idempotency_key: "renew:shop-1:2026-12-31:1".into(), resumed: false });
        assert_eq!(order(due(&on(3), E, "2026-12-31", &none)), o);
        assert_eq!(due(&on(3), E, "2027-01-01", &none), ChargeDecision::NotDue(NotDue::Expired));
        assert_eq!(due(&AutoRenew { enabled: false, ..on(3) }, E, "2026-12-21", &none), ChargeDecision::NotDue(NotDue::Disabled));
        assert_eq!(due(&AutoRenew { card_last4: None, ..on(3) }, E, "2026-12-21", &none), ChargeDecision::Suspend { reason: SuspendReason::CardNotBound });
        assert_eq!(
            due(&on(3).suspend(SuspendReason::CardNotBound), E, "2026-12-21", &none),
            ChargeDecision::NotDue(NotDue::Suspended { suspended: SuspendReason::CardNotBound })
        );
    }

    #[test]
    fn success_extends_from_the_day_after_expiry_and_promotes_the_queued_cycle() {
        let s = AutoRenew { next: Some(NextCycle { months: m(12), after_expiry: d(E) }), ..on(3) };
        let a = run(&s, d(E), &ChargeAttempts::for_cycle(d(E)), "2026-12-21", ChargeOutcome::Succeeded);
        assert_eq!(a.expires_on, d("2027-03-31"));
        assert_eq!(a.state, on(12));
        assert_eq!(a.effect, Some(ChargeEffect::Renewed { cycle: d(E), attempt: 1, months: m(3), expires_on: d("2027-03-31") }));
        // A re-run (stale read or not) finds the cycle paid; the new cycle is not due for months.
        assert_eq!(due(&s, E, "2026-12-22", &a.attempts), ChargeDecision::AlreadyCharged { cycle: d(E) });
        assert!(matches!(due(&a.state, "2027-03-31", "2026-12-22", &a.attempts), ChargeDecision::NotDue(NotDue::BeforeChargeDay { .. })));
        // Applying the same answer again changes nothing.
        let o = order(due(&s, E, "2026-12-21", &ChargeAttempts::for_cycle(d(E))));
        let again = apply_charge_outcome(&s, d(E), &a.attempts, &o, ChargeOutcome::Succeeded, d("2026-12-21"), &RetryPolicy::default());
        assert_eq!((again.expires_on, again.effect, &again.attempts), (d(E), None, &a.attempts));
    }

    #[test]
    fn month_end_and_leap_year_expiries() {
        // Expiring Jan 31: deadline Jan 16, charge Jan 21; 3 months from Feb 1 → Apr 30.
        let jan = "2027-01-31";
        assert!(change_auto_renew(&on(3), Some(d(jan)), d("2027-01-16"), &req(false, None)).is_ok());
        assert!(change_auto_renew(&on(3), Some(d(jan)), d("2027-01-17"), &req(false, None)).is_err());
        assert!(matches!(due(&on(3), jan, "2027-01-20", &ChargeAttempts::for_cycle(d(jan))), ChargeDecision::NotDue(_)));
        let a = run(&on(3), d(jan), &ChargeAttempts::for_cycle(d(jan)), "2027-01-21", ChargeOutcome::Succeeded);
        assert_eq!(a.expires_on, d("2027-04-30"));
        // Expiring Feb 29 2028: deadline Feb 14, charge Feb 19; 12 months from Mar 1 → Feb 28 2029.
        let leap = "2028-02-29";
        assert_eq!(cutoff_due(&on(12), d(leap), d("2028-02-14"), None), None);
        assert_eq!(cutoff_due(&on(12), d(leap), d("2028-02-15"), None).unwrap().charge_on, d("2028-02-19"));
        assert!(matches!(due(&on(12), leap, "2028-02-18", &ChargeAttempts::for_cycle(d(leap))), ChargeDecision::NotDue(_)));
        let a = run(&on(12), d(leap), &ChargeAttempts::for_cycle(d(leap)), "2028-02-19", ChargeOutcome::Succeeded);
        assert_eq!(a.expires_on, d("2029-02-28"));
        // Expiring Feb 28 2028: the renewal starts on Feb 29; 12 months → Feb 28 2029 (clamped) − 1.
        let a = run(&on(12), d("2028-02-28"), &ChargeAttempts::for_cycle(d("2028-02-28")), "2028-02-18", ChargeOutcome::Succeeded);
        assert_eq!(a.expires_on, d("2029-02-27"));
        // Expiring Mar 10 2028: the charge day is the leap day.
        assert_eq!(order(due(&on(3), "2028-03-10", "2028-02-29", &ChargeAttempts::for_cycle(d("2028-03-10")))).attempt, 1);
    }

    #[test]
    fn soft_declines_are_retried_on_t7_t4_t1_then_suspend() {
        let s = on(3);
        let a = run(&s, d(E), &ChargeAttempts::for_cycle(d(E)), "2026-12-21", ChargeOutcome::Declined);
        assert_eq!(a.effect, Some(ChargeEffect::Declined { cycle: d(E), attempt: 1, next_attempt_on: d("2026-12-24") }));
        assert_eq!(a.state, s);
        let wait = ChargeDecision::NotDue(NotDue::WaitingForRetry { next_attempt_on: d("2026-12-24") });
        assert_eq!(due(&s, E, "2026-12-21", &a.attempts), wait);
        assert_eq!(due(&s, E, "2026-12-23", &a.attempts), wait);
        let a = run(&s, d(E), &a.attempts, "2026-12-24", ChargeOutcome::Declined);
        assert_eq!(a.attempts.attempts[1].attempt, 2);
        assert_eq!(a.effect, Some(ChargeEffect::Declined { cycle: d(E), attempt: 2, next_attempt_on: d("2026-12-27") }));
        let a = run(&s, d(E), &a.attempts, "2026-12-27", ChargeOutcome::Declined);
        assert_eq!(due(&s, E, "2026-12-29", &a.attempts), ChargeDecision::NotDue(NotDue::WaitingForRetry { next_attempt_on: d("2026-12-30") }));
        let a = run(&s, d(E), &a.attempts, "2026-12-30", ChargeOutcome::Declined);
        assert_eq!(a.effect, Some(ChargeEffect::Suspended { cycle: d(E), attempt: 4, reason: SuspendReason::Declined }));
        assert_eq!(a.state.suspended, Some(SuspendReason::Declined));
        assert_eq!(a.expires_on, d(E));
        assert_eq!(due(&a.state, E, "2026-12-31", &a.attempts), ChargeDecision::NotDue(NotDue::Suspended { suspended: SuspendReason::Declined }));
        // A new card lifts the suspension: one more attempt, up to expiry.
        let rebound = a.state.clone().bind_card("1881");
        let o = order(due(&rebound, E, "2026-12-31", &a.attempts));
        assert_eq!((o.attempt, o.idempotency_key.as_str()), (5, "renew:shop-1:2026-12-31:5"));
        assert_eq!(due(&rebound, E, "2027-01-01", &a.attempts), ChargeDecision::NotDue(NotDue::Expired));
    }

    #[test]
    fn a_missed_retry_day_is_caught_up_and_consumes_the_days_before_it() {
        let s = on(3);
        let a = run(&s, d(E), &ChargeAttempts::for_cycle(d(E)), "2026-12-21", ChargeOutcome::Declined);
        // T-7 missed: attempt 2 on T-6 (caught up), next retry still T-4.
        let a = run(&s, d(E), &a.attempts, "2026-12-25", ChargeOutcome::Declined);
        assert_eq!(a.effect, Some(ChargeEffect::Declined { cycle: d(E), attempt: 2, next_attempt_on: d("2026-12-27") }));
        // T-4 and T-1 both missed: one attempt on the expiry day, which is the last.
        let a = run(&s, d(E), &a.attempts, "2026-12-31", ChargeOutcome::Declined);
        assert_eq!(a.effect, Some(ChargeEffect::Suspended { cycle: d(E), attempt: 3, reason: SuspendReason::Declined }));
        // Only the first attempt made late (e.g. the job was down from T-10 to T-2): one retry left.
        let a = run(&s, d(E), &ChargeAttempts::for_cycle(d(E)), "2026-12-29", ChargeOutcome::Declined);
        assert_eq!(a.effect, Some(ChargeEffect::Declined { cycle: d(E), attempt: 1, next_attempt_on: d("2026-12-30") }));
    }

    #[test]
    fn a_hard_decline_suspends_at_once() {
        let a = run(&on(3), d(E), &ChargeAttempts::for_cycle(d(E)), "2026-12-21", ChargeOutcome::DeclinedHard);
        assert_eq!(a.effect, Some(ChargeEffect::Suspended { cycle: d(E), attempt: 1, reason: SuspendReason::DeclinedHard }));
        assert_eq!(a.state.suspended, Some(SuspendReason::DeclinedHard));
        assert!(matches!(due(&a.state, E, "2026-12-24", &a.attempts), ChargeDecision::NotDue(NotDue::Suspended { .. })));
    }

    #[test]
    fn a_pending_attempt_is_resent_with_the_same_key_whatever_happens_meanwhile() {
        let none = ChargeAttempts::for_cycle(d(E));
        let first = order(due(&on(3), E, "2026-12-21", &none));
        let started = start_charge(&none, &first, d("2026-12-21"));
        assert_eq!(start_charge(&started, &first, d("2026-12-22")), started);
        // Crash after calling the gateway: every later run re-sends attempt 1 with its months,
        // even past expiry, with the card replaced or after a cycle change.
        for (state, today) in [
            (on(3), "2026-12-21"),
            (on(3), "2026-12-25"),
            (on(3), "2027-01-03"),
            (on(12), "2026-12-22"),
            (AutoRenew { card_last4: None, ..on(3) }, "2026-12-22"),
        ] {
            let o = order(due(&state, E, today, &started));
            assert_eq!((o.idempotency_key.as_str(), o.months, o.resumed), ("renew:shop-1:2026-12-31:1", m(3), true));
        }
        // The answer learnt after expiry still renews contiguously.
        let resumed = order(due(&on(3), E, "2027-01-03", &started));
        let a = apply_charge_outcome(&on(3), d(E), &started, &resumed, ChargeOutcome::Succeeded, d("2027-01-03"), &RetryPolicy::default());
        assert_eq!(a.expires_on, d("2027-03-31"));
    }

    #[test]
    fn a_superseded_cycle_is_resumed_and_extends_the_current_period() {
        // Attempt pending for 2026-12-31 when a manual 續購 moved the expiry to 2027-03-31.
        let none = ChargeAttempts::for_cycle(d(E));
        let o = order(due(&on(3), E, "2026-12-21", &none));
        let started = start_charge(&none, &o, d("2026-12-21"));
        let moved = d("2027-03-31");
        let again = order(due(&on(3), "2027-03-31", "2026-12-22", &started));
        assert_eq!(again.idempotency_key, o.idempotency_key);
        let declined = apply_charge_outcome(&on(3), moved, &started, &again, ChargeOutcome::DeclinedHard, d("2026-12-22"), &RetryPolicy::default());
        assert_eq!((declined.state, declined.expires_on, declined.effect), (on(3), moved, None));
        let paid = apply_charge_outcome(&on(3), moved, &started, &again, ChargeOutcome::Succeeded, d("2026-12-22"), &RetryPolicy::default());
        assert_eq!(paid.expires_on, d("2027-06-30"));
    }

    #[test]
    fn retry_policy_is_validated() {
        assert_eq!(RetryPolicy::default().retry_days_before_expiry(), &[7, 4, 1]);
        assert_eq!(RetryPolicy::new([1, 7, 4]).unwrap(), RetryPolicy::default());
        assert!(RetryPolicy::new([10]).is_err());
        assert!(RetryPolicy::new([3, 3]).is_err());
        assert_eq!(RetryPolicy::new([]).unwrap().attempt_days(d(E)), vec![d("2026-12-21")]);
        assert_eq!(RetryPolicy::default().attempt_days(d(E)), vec![d("2026-12-21"), d("2026-12-24"), d("2026-12-27"), d("2026-12-30")]);
        // No retry days: the first soft decline is final.
        let none = ChargeAttempts::for_cycle(d(E));
        let o = order(due(&on(3), E, "2026-12-21", &none));
        let a = apply_charge_outcome(&on(3), d(E), &none, &o, ChargeOutcome::Declined, d("2026-12-21"), &RetryPolicy::new([]).unwrap());
        assert_eq!(a.state.suspended, Some(SuspendReason::Declined));
    }

    #[test]
    fn stored_state_is_plain_json() {
        let s = AutoRenew { next: Some(NextCycle { months: m(12), after_expiry: d(E) }), ..on(3) };
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json, serde_json::json!({"enabled": true, "months": 3, "next": {"months": 12, "after_expiry": "2026-12-31"}, "card_last4": "4242"}));
        assert_eq!(serde_json::from_value::<AutoRenew>(json).unwrap(), s);
        assert_eq!(serde_json::from_value::<AutoRenew>(serde_json::json!({"enabled": false})).unwrap(), AutoRenew::default());
        let a = start_charge(&ChargeAttempts::for_cycle(d(E)), &order(due(&on(3), E, "2026-12-21", &ChargeAttempts::for_cycle(d(E)))), d("2026-12-21"));
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"cycle_expires_on": "2026-12-31", "attempts": [{"attempt": 1, "on": "2026-12-21", "months": 3, "outcome": "pending"}]})
        );
        assert_eq!(serde_json::from_value::<ChargeAttempts>(json).unwrap(), a);
        assert!(serde_json::from_value::<AutoRenew>(serde_json::json!({"enabled": true, "months": 5})).is_err());
        assert_eq!(ChargeOutcome::parse("declined_hard"), Some(ChargeOutcome::DeclinedHard));
        assert_eq!(ChargeOutcome::parse("ok"), None);
    }

    // --- properties ---------------------------------------------------------------------------

    /// The plan item as the store holds it, with its optimistic-concurrency version.
    #[derive(Debug, Clone)]
    struct Item {
        state: AutoRenew,
        expires_on: NaiveDate,
        attempts: ChargeAttempts,
        version: u64,
    }

    #[derive(Debug, Clone, Copy)]
    enum Step {
        /// A job run on `E + day` reading the item fresh, or the snapshot the previous run
        /// read (an overlapping run); `crash` 0: none, 1: after start, 2: after the gateway.
        Run { day: i64, overlapping: bool, crash: u8 },
        /// The merchant binds a card again (lifts a suspension).
        Rebind,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            8 => (-16i64..=2, any::<bool>(), 0u8..3).prop_map(|(day, overlapping, crash)| Step::Run { day, overlapping, crash }),
            1 => Just(Step::Rebind),
        ]
    }

    fn outcome() -> impl Strategy<Value = ChargeOutcome> {
        prop_oneof![
            1 => Just(ChargeOutcome::Succeeded),
            3 => Just(ChargeOutcome::Declined),
            1 => Just(ChargeOutcome::DeclinedHard),
        ]
    }

    proptest! {
        #[test]
        fn at_most_one_successful_charge_per_cycle(
            steps in prop::collection::vec(step(), 1..40),
            answers in prop::collection::vec(outcome(), 1..12),
            months in prop::sample::select(vec![3u32, 6, 12, 24]),
        ) {
            let e = d(E);
            let policy = RetryPolicy::default();
            let mut item = Item { state: on(months), expires_on: e, attempts: ChargeAttempts::for_cycle(e), version: 1 };
            let mut previous = item.clone();
            // The gateway: one answer per idempotency key, the first one it gave.
            let mut gateway: HashMap<String, ChargeOutcome> = HashMap::new();
            let mut next_answer = answers.iter().cycle();
            for s in steps {
                let (day, overlapping, crash) = match s {
                    Step::Rebind => {
                        item.state = item.state.clone().bind_card("1881");
                        item.version += 1;
                        continue;
                    }
                    Step::Run { day, overlapping, crash } => (day, overlapping, crash),
                };
                let today = e + chrono::Duration::days(day);
                let snap = if overlapping { previous.clone() } else { item.clone() };
                previous = snap.clone();
                match charge_due("shop-1", &snap.state, snap.expires_on, today, &snap.attempts, &policy) {
                    ChargeDecision::Charge(o) => {
                        prop_assert_eq!(&o.idempotency_key, &renewal_charge_key("shop-1", o.cycle, o.attempt));
                        let started = start_charge(&snap.attempts, &o, today);
                        let mut version = snap.version;
                        if started != snap.attempts {
                            if item.version != version { continue; }
                            item.attempts = started.clone();
                            item.version += 1;
                            version = item.version;
                        }
                        if crash == 1 { continue; }
                        let answer = *gateway.entry(o.idempotency_key.clone()).or_insert_with(|| *next_answer.next().unwrap());
                        if crash == 2 { continue; }
                        let applied = apply_charge_outcome(&snap.state, snap.expires_on, &started, &o, answer, today, &policy);
                        if item.version != version { continue; }
                        item = Item { state: applied.state, expires_on: applied.expires_on, attempts: applied.attempts, version: version + 1 };
                    }
                    ChargeDecision::Suspend { reason } => {
                        if item.version == snap.version {
                            item.state = item.state.clone().suspend(reason);
                            item.version += 1;
                        }
                    }
                    ChargeDecision::NotDue(_) | ChargeDecision::AlreadyCharged { .. } => {}
                }
            }
            let successes: Vec<_> = gateway.iter().filter(|(_, a)| **a == ChargeOutcome::Succeeded).map(|(k, _)| k).collect();
            prop_assert!(successes.len() <= 1, "charged twice: {:?}", successes);
            prop_assert!(gateway.keys().all(|k| k.starts_with("renew:shop-1:2026-12-31:")));
            let renewed = last_day_covered(e + Days::new(1), months);
            prop_assert!(item.expires_on == e || item.expires_on == renewed);
            if item.expires_on == renewed {
                prop_assert_eq!(successes.len(), 1);
            }
        }

        #[test]
        fn turning_off_is_refused_exactly_when_the_view_says_locked(
            months in prop::sample::select(vec![3u32, 6, 12, 24]),
            enabled in any::<bool>(), suspended in any::<bool>(), offset in -40i64..10,
        ) {
            let mut s = AutoRenew { enabled, ..on(months) };
            if suspended { s = s.suspend(SuspendReason::Declined); }
            let today = d(E) + chrono::Duration::days(offset);
            let view = auto_renew_view(&s, Some(d(E)), today);
            let r = change_auto_renew(&s, Some(d(E)), today, &req(false, None));
            prop_assert_eq!(r.is_err(), view.locked);
            prop_assert_eq!(view.locked, enabled && !suspended && (-14..=0).contains(&offset));
            // A cycle change is never refused for the deadline.
            if enabled && offset <= 0 {
                prop_assert!(change_auto_renew(&s, Some(d(E)), today, &req(true, Some(24))).is_ok());
            }
        }
    }
}
